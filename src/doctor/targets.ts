// Doctor targets: `HOST:PORT[=SERVICE]` on the command line, or a profile of Spark's usual ports
// for one host. Parsing is strict so a typo is reported before any probe runs.
import { parseHostPort } from '../core/config/fields.ts';

export const SERVICES = [
  'spark-shuffle',
  'spark-connect',
  'hive-thrift',
  'hive-metastore',
  'spark-ui',
  'spark-master',
  'https',
  'http',
  'tcp',
  /** A sparkplane doctor agent (`sparkplane doctor agent`): NAT, MTU and return-path checks. */
  'agent',
] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly service: ServiceName;
}

/** The ports of the `spark` profile and what answers on each. */
export const SPARK_PROFILE: readonly { readonly port: number; readonly service: ServiceName }[] = [
  { port: 443, service: 'https' },
  { port: 8443, service: 'https' },
  { port: 10000, service: 'hive-thrift' },
  { port: 10001, service: 'spark-connect' },
  { port: 15002, service: 'spark-connect' },
  { port: 4040, service: 'spark-ui' },
  { port: 7337, service: 'spark-shuffle' },
  { port: 9083, service: 'hive-metastore' },
  { port: 7077, service: 'spark-master' },
];

const DEFAULT_SERVICE_BY_PORT = new Map<number, ServiceName>(
  SPARK_PROFILE.map(({ port, service }) => [port, service]),
);

export type TargetParse =
  { readonly ok: true; readonly target: Target } | { readonly ok: false; readonly problem: string };

/** Parses `HOST:PORT[=SERVICE]`; without a service, a well-known Spark port names its own, else `tcp`. */
export function parseTarget(text: string): TargetParse {
  const [address = '', service, ...extra] = text.split('=');
  if (extra.length > 0) return { ok: false, problem: 'has more than one "="' };
  const hostPort = parseHostPort(address);
  if (hostPort === undefined)
    return { ok: false, problem: 'must be HOST:PORT[=SERVICE] with a port 1–65535' };
  if (service !== undefined && !isService(service)) {
    return {
      ok: false,
      problem: `names unknown service "${service}" (known: ${SERVICES.join(', ')})`,
    };
  }
  return {
    ok: true,
    target: {
      ...hostPort,
      service: service ?? DEFAULT_SERVICE_BY_PORT.get(hostPort.port) ?? 'tcp',
    },
  };
}

export function profileTargets(host: string): Target[] {
  return SPARK_PROFILE.map(({ port, service }) => ({ host, port, service }));
}

function isService(name: string): name is ServiceName {
  return (SERVICES as readonly string[]).includes(name);
}
