// One target, layer by layer (spec §2.11): DNS, the kernel's route and a TCP connect for every
// address it resolves to, a TLS ClientHello, then the service's own harmless protocol probe on the
// first open address. A layer that fails stops the ones after it, which are reported as skipped
// (the route does not stop the connect: it is evidence, and the connect is the judge). Everything
// ends by the deadline, and this never rejects: a probe that breaks becomes a skipped check.
import { probeAgent } from './agent-target.ts';
import type { CallbackListener } from './agent/callback.ts';
import { readProcTcpTables, type ReadTcpTables } from './agent/proc-net-tcp.ts';
import type { Check, Layer } from './model.ts';
import { MTU_CHECK_ID } from './mtu-ladder.ts';
import { NAT_CHECK_ID } from './nat-check.ts';
import { createBudget } from './probes/budget.ts';
import { makeCheck, skipped } from './probes/check.ts';
import { probeDns, DNS_CHECK_ID } from './probes/dns.ts';
import { probeHttp } from './probes/http.ts';
import { protocolCheckId, type ProtocolProbe } from './probes/protocol-probe.ts';
import { probeRoute, ROUTE_CHECK_ID } from './probes/route.ts';
import { probeSparkConnect } from './probes/spark-connect.ts';
import { probeSparkMaster } from './probes/spark-master.ts';
import { probeSparkShuffle } from './probes/spark-shuffle.ts';
import { CONNECT_CHECK_ID, probeConnect } from './probes/tcp.ts';
import { probeHiveMetastore, probeHiveThrift } from './probes/thrift.ts';
import { probeTls, TLS_CHECK_ID } from './probes/tls.ts';
import { startReturnPathWatch } from './return-path-watch.ts';
import type { ServiceName, Target } from './targets.ts';

export interface ProbeOptions {
  /** Epoch milliseconds: everything, DNS included, ends by then. */
  readonly deadline: number;
  readonly signal?: AbortSignal;
  /** For `agent` targets: where agents' half-open reports arrive, and this side's TCP tables. */
  readonly agents?: { readonly callback?: CallbackListener; readonly readTables?: ReadTcpTables };
}

const PROTOCOL_PROBES: Readonly<Record<ServiceName, ProtocolProbe | undefined>> = {
  'spark-shuffle': probeSparkShuffle,
  'spark-master': probeSparkMaster,
  'spark-connect': probeSparkConnect,
  'hive-thrift': probeHiveThrift,
  'hive-metastore': probeHiveMetastore,
  'spark-ui': probeHttp,
  http: probeHttp,
  https: probeHttp,
  tcp: undefined,
  // An agent target gets several checks on one connection: see probeAgent below.
  agent: undefined,
};

export async function probeTarget(target: Target, options: ProbeOptions): Promise<Check[]> {
  const budget = createBudget(options.deadline, options.signal);
  const checks: Check[] = [];
  const stopHere = (because: string): Check[] => {
    const done = new Set(checks.map((check) => check.layer));
    const doneIds = new Set(checks.map((check) => check.id));
    const agentLater: [string, Layer][] = [
      [NAT_CHECK_ID, 'route'],
      [MTU_CHECK_ID, 'path-mtu'],
    ];
    const later: [string, Layer][] = [
      [DNS_CHECK_ID, 'dns'],
      [ROUTE_CHECK_ID, 'route'],
      [CONNECT_CHECK_ID, 'transport'],
      [TLS_CHECK_ID, 'tls'],
      [protocolCheckId(target), 'protocol'],
    ];
    return [
      ...checks,
      ...later
        .filter(([, layer]) => !done.has(layer))
        .map(([id, layer]) => skipped(target, id, layer, because)),
      ...(target.service === 'agent' ? agentLater : [])
        .filter(([id]) => !doneIds.has(id))
        .map(([id, layer]) => skipped(target, id, layer, because)),
    ];
  };

  // A layer that cannot have any time is not started: it could only report the deadline.
  const outOfTime = (): string | undefined => {
    if (budget.remainingMs() > 0) return undefined;
    return options.signal?.aborted === true
      ? 'the doctor was stopped before this layer'
      : 'the time budget was used up before this layer';
  };

  const late = outOfTime();
  if (late !== undefined) return stopHere(late);
  const dns = await guarded(target, DNS_CHECK_ID, 'dns', () => probeDns(target, budget));
  checks.push(dns.ok ? dns.value.check : dns.check);
  if (!dns.ok) return stopHere('the DNS probe broke');
  if (dns.value.addresses.length === 0) return stopHere('the name does not resolve');

  const callback = target.service === 'agent' ? options.agents?.callback : undefined;
  const dialled = dns.value.addresses.map((entry) => ({
    address: entry.address,
    port: target.port,
  }));
  const returnPath =
    callback === undefined
      ? undefined
      : startReturnPathWatch(
          target,
          dialled,
          callback,
          options.agents?.readTables ?? readProcTcpTables,
          budget,
        );
  // The route is evidence beside the connect, not a gate: both run at once.
  const [routes, connects] = await Promise.all([
    Promise.all(
      dns.value.addresses.map((entry) =>
        guarded(target, ROUTE_CHECK_ID, 'route', () => probeRoute(target, entry.address, budget)),
      ),
    ),
    Promise.all(
      dns.value.addresses.map((entry) =>
        guarded(target, CONNECT_CHECK_ID, 'transport', () =>
          probeConnect(target, { address: entry.address, port: target.port }, budget),
        ),
      ),
    ),
  ]);
  checks.push(...routes.map((result) => (result.ok ? result.value : result.check)));
  checks.push(...connects.map((result) => (result.ok ? result.value.check : result.check)));
  const open = connects.find((result) => result.ok && result.value.open);
  const silent =
    open === undefined &&
    connects.some((result) => result.ok && result.value.check.reason === 'filtered');
  const returnPathCheck = await returnPath?.finish(silent);
  if (returnPathCheck !== undefined) checks.push(returnPathCheck);
  if (!open?.ok) return stopHere('no address accepts TCP connections');
  const { endpoint } = open.value;
  const lateForTls = outOfTime();
  if (lateForTls !== undefined) return stopHere(lateForTls);

  const tls = await guarded(target, TLS_CHECK_ID, 'tls', () => probeTls(target, endpoint, budget));
  checks.push(tls.ok ? tls.value.check : tls.check);
  if (!tls.ok) return stopHere('the TLS probe broke');
  if (!tls.value.proceed) return stopHere(`the TLS layer found "${tls.value.check.reason}"`);

  if (target.service === 'agent') {
    const lateForAgent = outOfTime();
    if (lateForAgent !== undefined) return stopHere(lateForAgent);
    const secure = tls.value.secure;
    const agent = await guarded(target, protocolCheckId(target), 'protocol', () =>
      probeAgent({ target, endpoint, secure, budget }),
    );
    checks.push(...(agent.ok ? agent.value : [agent.check]));
    return stopHere('the agent connection broke');
  }
  const protocol = PROTOCOL_PROBES[target.service];
  if (protocol === undefined) {
    return stopHere(
      'a plain TCP target has no protocol to probe; name its service (HOST:PORT=SERVICE) to probe one',
    );
  }
  const lateForProtocol = outOfTime();
  if (lateForProtocol !== undefined) return stopHere(lateForProtocol);
  const secure = tls.value.secure;
  const checked = await guarded(target, protocolCheckId(target), 'protocol', () =>
    protocol({ target, endpoint, secure, budget }),
  );
  checks.push(checked.ok ? checked.value : checked.check);
  return checks;
}

type Guarded<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly check: Check };

/** Runs one layer; a probe that throws (a bug, never the network) becomes a skipped check. */
async function guarded<T>(
  target: Target,
  id: string,
  layer: Layer,
  probe: () => Promise<T>,
): Promise<Guarded<T>> {
  try {
    return { ok: true, value: await probe() };
  } catch (error) {
    return {
      ok: false,
      check: makeCheck(target, {
        id,
        layer,
        status: 'skip',
        reason: 'not-checked',
        summary: `not checked: the probe itself failed (${error instanceof Error ? error.message : String(error)})`,
      }),
    };
  }
}
