// DNS, the first layer: every address the system resolver gives for the target's host, in its
// order, so each can be probed on its own (Node's Happy Eyeballs would blur which one failed).
import type { LookupAddress } from 'node:dns';
import { lookup as systemLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { systemErrorCode } from '../../core/system-errors.ts';
import type { Check } from '../model.ts';
import type { Target } from '../targets.ts';
import { waitFor, type Budget } from './budget.ts';
import { makeCheck } from './check.ts';
import { describeDnsError, ms } from './connect-errors.ts';
import { fixDnsFailure } from './fixes.ts';

export const DNS_CHECK_ID = 'dns.lookup';

export type Lookup = (host: string) => Promise<readonly LookupAddress[]>;

export interface DnsResult {
  readonly check: Check;
  readonly addresses: readonly LookupAddress[];
}

const lookupAll: Lookup = (host) => systemLookup(host, { all: true, order: 'verbatim' });

/** Each address once (a hosts file may list one twice), in the resolver's order. */
function distinct(addresses: readonly LookupAddress[]): LookupAddress[] {
  const seen = new Set<string>();
  return addresses.filter((entry) => !seen.has(entry.address) && seen.add(entry.address));
}

/** A host name has no brackets in a target; strip them if an IPv6 literal kept them. */
function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

export async function probeDns(
  target: Target,
  budget: Budget,
  lookup: Lookup = lookupAll,
): Promise<DnsResult> {
  const host = bareHost(target.host);
  const family = isIP(host);
  if (family !== 0) {
    return {
      check: makeCheck(target, {
        id: DNS_CHECK_ID,
        layer: 'dns',
        status: 'pass',
        reason: 'resolved',
        summary: `${host} is an IP address: nothing to resolve`,
        evidence: { addresses: host },
      }),
      addresses: [{ address: host, family }],
    };
  }
  const began = performance.now();
  type Outcome =
    | { readonly ok: true; readonly addresses: readonly LookupAddress[] }
    | { readonly ok: false; readonly errno: string };
  // getaddrinfo cannot be cancelled; past the deadline its late answer is ignored.
  const outcome = await waitFor<Outcome>(
    budget,
    Number.POSITIVE_INFINITY,
    (finish) => {
      lookup(host).then(
        (addresses) => {
          finish(
            addresses.length === 0
              ? { ok: false, errno: 'ENODATA' }
              : { ok: true, addresses: distinct(addresses) },
          );
        },
        (error: unknown) => {
          finish({ ok: false, errno: systemErrorCode(error) });
        },
      );
      return () => undefined;
    },
    () => ({ ok: false, errno: 'ETIMEOUT' }),
  );
  const elapsedMs = Math.round(performance.now() - began);
  if (outcome.ok) {
    const list = outcome.addresses.map((entry) => entry.address).join(', ');
    return {
      check: makeCheck(target, {
        id: DNS_CHECK_ID,
        layer: 'dns',
        status: 'pass',
        reason: 'resolved',
        summary: `${host} resolves to ${list} (${ms(elapsedMs)})`,
        evidence: { addresses: list, count: outcome.addresses.length, elapsedMs },
      }),
      addresses: outcome.addresses,
    };
  }
  return {
    check: makeCheck(target, {
      id: DNS_CHECK_ID,
      layer: 'dns',
      status: 'fail',
      reason: 'dns-failure',
      summary: `${host} does not resolve: ${describeDnsError(outcome.errno)}`,
      evidence: { errno: outcome.errno, elapsedMs },
      fix: fixDnsFailure(target),
    }),
    addresses: [],
  };
}
