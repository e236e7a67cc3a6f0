// Session-layer checks that need no peer: are the TCP keepalive timers short enough to keep idle
// connections (BI tools on HiveServer2, JDBC clients, Spark RPC) alive through a NAT gateway? The
// NAT numbers and the keepalive fix live here once; lint applies them to pod specs and URLs too.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SparkplaneError } from '../core/errors.ts';
import { describeSystemError } from '../core/system-errors.ts';
import type { Check, CheckTarget, Fix } from './model.ts';

/**
 * Idle timers of the NAT gateways Spark traffic most often crosses, in seconds: AWS NAT gateway
 * (fixed; RST on next use), Azure NAT gateway (default 4 min; silent drop), GCP Cloud NAT
 * (established TCP; silent drop).
 */
export const NAT_IDLE_TIMEOUTS_S = {
  awsNatGateway: 350,
  azureNatGateway: 240,
  gcpCloudNat: 1200,
} as const;

const NAT_NAMES: Readonly<Record<keyof typeof NAT_IDLE_TIMEOUTS_S, string>> = {
  awsNatGateway: 'AWS NAT gateway',
  azureNatGateway: 'Azure NAT gateway',
  gcpCloudNat: 'GCP Cloud NAT',
};

/** A keepalive idle time at or above this lets the smallest timer of interest expire first. */
export const SMALLEST_NAT_IDLE_S = Math.min(...Object.values(NAT_IDLE_TIMEOUTS_S));

/** What the fix sets: well below 240 s, and a dead peer noticed 150 s after the first probe. */
export const RECOMMENDED_KEEPALIVE = { time: 120, intvl: 30, probes: 5 } as const;

/** Linux's own defaults, which every new network namespace (so every pod) starts with. */
export const LINUX_DEFAULT_KEEPALIVE = { time: 7200, intvl: 75, probes: 9 } as const;

export interface KeepaliveSysctls {
  /** net.ipv4.tcp_keepalive_time: idle seconds before the first probe. */
  readonly time: number;
  /** net.ipv4.tcp_keepalive_intvl: seconds between unanswered probes. */
  readonly intvl: number;
  /** net.ipv4.tcp_keepalive_probes: unanswered probes before the connection is dropped. */
  readonly probes: number;
}

const NO_TARGET: CheckTarget = { host: '', port: 0, service: 'tcp' };

/** Only the idle time matters for a NAT: an answered probe restarts the gateway's idle timer. */
export function keepaliveTimeIsShortEnough(timeS: number): boolean {
  return timeS < SMALLEST_NAT_IDLE_S;
}

/** The gateways whose idle timer expires before a connection idle for `timeS` sends a probe. */
export function natTimersExpiringBefore(timeS: number): string[] {
  return (Object.keys(NAT_IDLE_TIMEOUTS_S) as (keyof typeof NAT_IDLE_TIMEOUTS_S)[])
    .filter((name) => NAT_IDLE_TIMEOUTS_S[name] <= timeS)
    .sort((a, b) => NAT_IDLE_TIMEOUTS_S[a] - NAT_IDLE_TIMEOUTS_S[b])
    .map((name) => `${NAT_NAMES[name]} (${NAT_IDLE_TIMEOUTS_S[name]} s)`);
}

/** The three cloud timers as evidence fields, so every keepalive finding names them. */
export function natIdleEvidence(): Record<string, number> {
  return {
    awsNatGatewayIdleS: NAT_IDLE_TIMEOUTS_S.awsNatGateway,
    azureNatGatewayIdleS: NAT_IDLE_TIMEOUTS_S.azureNatGateway,
    gcpCloudNatIdleS: NAT_IDLE_TIMEOUTS_S.gcpCloudNat,
  };
}

const { time, intvl, probes } = RECOMMENDED_KEEPALIVE;

export const KEEPALIVE_SYSCTL_SNIPPET =
  `sysctl -w net.ipv4.tcp_keepalive_time=${time} net.ipv4.tcp_keepalive_intvl=${intvl} ` +
  `net.ipv4.tcp_keepalive_probes=${probes}\n` +
  `printf 'net.ipv4.tcp_keepalive_time = ${time}\\nnet.ipv4.tcp_keepalive_intvl = ${intvl}\\n` +
  `net.ipv4.tcp_keepalive_probes = ${probes}\\n' > /etc/sysctl.d/90-nat-keepalive.conf`;

/** Pod-level sysctls: safe (allowed by default) from Kubernetes 1.29 on, kernel 4.5+. */
export const KEEPALIVE_POD_SNIPPET = [
  'spec:',
  '  securityContext:',
  '    sysctls:',
  '      - name: net.ipv4.tcp_keepalive_time',
  `        value: "${time}"`,
  '      - name: net.ipv4.tcp_keepalive_intvl',
  `        value: "${intvl}"`,
  '      - name: net.ipv4.tcp_keepalive_probes',
  `        value: "${probes}"`,
].join('\n');

/** The fix for a keepalive timer at or above the smallest NAT idle timer. */
export function keepaliveFix(subject: string): Fix {
  return {
    summary:
      `Set ${subject} below the smallest NAT idle timer on the path (Azure NAT gateway ` +
      `${NAT_IDLE_TIMEOUTS_S.azureNatGateway} s, AWS NAT gateway ${NAT_IDLE_TIMEOUTS_S.awsNatGateway} s, ` +
      `GCP Cloud NAT ${NAT_IDLE_TIMEOUTS_S.gcpCloudNat} s): tcp_keepalive_time ${time} s. ` +
      'It applies to sockets with SO_KEEPALIVE on (Spark RPC, Thrift/JDBC clients, Node setKeepAlive); ' +
      'a pod has its own network namespace and needs its own sysctls (Kubernetes 1.29+ allows them), ' +
      'or raise the idle timer where the cloud allows it.',
    snippets: [
      { platform: 'sysctl', text: KEEPALIVE_SYSCTL_SNIPPET },
      { platform: 'k8s-yaml', text: KEEPALIVE_POD_SNIPPET },
      {
        platform: 'azure-cli',
        text: 'az network nat gateway update --resource-group RG --name NAT --idle-timeout 30',
      },
      {
        platform: 'gcloud',
        text: 'gcloud compute routers nats update NAT --router ROUTER --region REGION --tcp-established-idle-timeout 3600s',
      },
    ],
  };
}

/** Pure: the verdict on one set of keepalive sysctls. */
export function checkKeepaliveSysctls(values: KeepaliveSysctls): Check {
  const expiring = natTimersExpiringBefore(values.time);
  const evidence = {
    tcpKeepaliveTimeS: values.time,
    tcpKeepaliveIntvlS: values.intvl,
    tcpKeepaliveProbes: values.probes,
    deadPeerNoticedAfterS: values.time + values.intvl * values.probes,
    smallestNatIdleS: SMALLEST_NAT_IDLE_S,
    ...natIdleEvidence(),
  };
  if (keepaliveTimeIsShortEnough(values.time)) {
    return {
      id: 'session.keepalive-sysctls',
      target: NO_TARGET,
      layer: 'session',
      status: 'pass',
      reason: 'keepalive-ok',
      summary:
        `tcp_keepalive_time ${values.time} s is below every NAT idle timer of interest ` +
        `(smallest: Azure NAT gateway, ${SMALLEST_NAT_IDLE_S} s)`,
      evidence,
    };
  }
  return {
    id: 'session.keepalive-sysctls',
    target: NO_TARGET,
    layer: 'session',
    status: 'warn',
    reason: 'keepalive-missing',
    summary:
      `tcp_keepalive_time is ${values.time} s: an idle connection through ${expiring.join(', ')} ` +
      'is dropped before the first keepalive probe is sent',
    evidence: { ...evidence, expiresFirst: expiring.join(', ') },
    fix: keepaliveFix('this host’s TCP keepalive'),
  };
}

/** Where Linux keeps the keepalive sysctls of the current network namespace. */
export const PROC_IPV4 = '/proc/sys/net/ipv4';

/**
 * Reads tcp_keepalive_time, _intvl and _probes (reading only). They are per network namespace, so
 * this is the view of the namespace the doctor runs in. Throws DOCTOR_SYSCTL_UNREADABLE.
 */
export async function readKeepaliveSysctls(dir: string = PROC_IPV4): Promise<KeepaliveSysctls> {
  const read = async (name: string): Promise<number> => {
    const path = join(dir, name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      const info = describeSystemError(error);
      throw new SparkplaneError(
        'DOCTOR_SYSCTL_UNREADABLE',
        `cannot read ${path}: ${info.summary} (${info.code}); the keepalive check needs Linux's /proc`,
        { cause: error },
      );
    }
    const value = Number(text.trim());
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new SparkplaneError(
        'DOCTOR_SYSCTL_UNREADABLE',
        `${path} holds ${JSON.stringify(text.trim())}, not a positive whole number`,
      );
    }
    return value;
  };
  const [time, intvl, probes] = await Promise.all([
    read('tcp_keepalive_time'),
    read('tcp_keepalive_intvl'),
    read('tcp_keepalive_probes'),
  ]);
  return { time, intvl, probes };
}

/** The keepalive check of this host: skipped, saying why, where /proc cannot be read. */
export async function checkLocalKeepalive(dir: string = PROC_IPV4): Promise<Check> {
  try {
    return checkKeepaliveSysctls(await readKeepaliveSysctls(dir));
  } catch (error) {
    return {
      id: 'session.keepalive-sysctls',
      target: NO_TARGET,
      layer: 'session',
      status: 'skip',
      reason: 'not-checked',
      summary: error instanceof Error ? error.message : String(error),
      evidence: { dir, ...natIdleEvidence() },
    };
  }
}
