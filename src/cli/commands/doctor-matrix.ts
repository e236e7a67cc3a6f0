// `sparkplane doctor matrix`: asks the agent on every node to probe every node's agent on one
// port and prints who reaches whom as an N×N grid, with a check per pair.
import { z } from 'zod';
import { duration, path, port, positiveInt } from '../../core/config/fields.ts';
import { UsageError } from '../../core/errors.ts';
import { runMatrix } from '../../doctor/matrix.ts';
import { DOCTOR_EXIT } from '../../doctor/report.ts';
import { terminalProgress } from '../../doctor/run-doctor.ts';
import { defineCommand, option } from '../command.ts';
import { isBareHost, listFileLines } from './doctor-inputs.ts';
import { report, reportOptions } from './doctor-report.ts';

/** More nodes than this make a grid nobody reads and N² probes nobody waits for. */
const MAX_NODES = 256;

export const doctorMatrixCommand = defineCommand({
  name: 'doctor matrix',
  summary: "have every node's agent probe every other node's agent",
  description:
    'With `sparkplane doctor agent` running on each node, ask every agent to connect to every ' +
    "node's agent on --port and print an N×N grid (rows: from, columns: to): . ok, T timeout, " +
    'R return path, X refused, N NAT, M mesh/TLS, ? agent unreachable; plus a check per pair with ' +
    "its fix. A probe that times out is checked against the destination's half-open connections " +
    'to tell a forward drop (T) from a return-path drop (R).',
  configFile: true,
  options: {
    nodes: option.list('HOST', z.array(z.string()).default([]), 'node addresses (comma list)'),
    nodesFile: option.string('FILE', path().optional(), 'file with one node per line (# comments)'),
    port: option.integer('PORT', port().optional(), 'port probed between nodes (e.g. 7337)'),
    agentPort: option.integer(
      'PORT',
      port().optional(),
      "port where the doctor reaches each node's agent (default: --port)",
    ),
    probeTimeout: {
      ...option.string(
        'DURATION',
        duration().default(3000),
        'limit per probe; keep it at 2s or more so a half-open SYN is seen',
      ),
      defaultHelp: '3s',
    },
    concurrency: option.integer('N', positiveInt().default(8), 'probes at once'),
    ...reportOptions,
  },
  async run(config, io) {
    const hosts = [
      ...splitHosts(config.nodes),
      ...(config.nodesFile === undefined ? [] : await hostsFromFile(config.nodesFile)),
    ];
    if (hosts.length === 0)
      throw new UsageError('no nodes: give --nodes HOST[,HOST...] or --nodes-file FILE');
    if (config.port === undefined)
      throw new UsageError('give the port to probe between nodes: --port PORT (e.g. 7337)');
    if (hosts.length > MAX_NODES)
      throw new UsageError(
        `${String(hosts.length)} nodes is more than ${String(MAX_NODES)}: run the matrix on a sample (one node per subnet or zone)`,
      );
    const started = new Date();
    const progress = io.isTty && !config.json ? terminalProgress(io.stderr) : undefined;
    const result = await runMatrix({
      hosts,
      port: config.port,
      agentPort: config.agentPort ?? config.port,
      probeTimeoutMs: config.probeTimeout,
      concurrency: config.concurrency,
      ...(progress === undefined ? {} : { progress: progress.update }),
    });
    progress?.clear();
    const code = await report(result.checks, started, config, io, result.grid);
    return result.reachable === 0 ? DOCTOR_EXIT.couldNotRun : code;
  },
});

function splitHosts(items: readonly string[]): string[] {
  const hosts = items.flatMap((item) => item.split(/[\s,]+/)).filter((item) => item !== '');
  for (const hostName of hosts)
    if (!isBareHost(hostName))
      throw new UsageError(`node "${hostName}" must be a host name or IP address, without a port`);
  return [...new Set(hosts)];
}

async function hostsFromFile(file: string): Promise<string[]> {
  return splitHosts(await listFileLines(file, 'nodes file'));
}
