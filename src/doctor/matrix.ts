// `doctor matrix`: every node's agent probes every node's agent on one port (cilium and
// goldpinger style), with bounded concurrency and a timeout per probe. A probe that times out
// is followed by asking the destination agent whether it holds that very 4-tuple half-open,
// which tells a forward-path drop (T) from a return-path drop (R).
import { openAgentSession, type AgentSession } from './agent/agent-client.ts';
import type { AddressPort, HalfOpenEntry, Hello, ProbeResult } from './agent/messages.ts';
import type { Check } from './model.ts';
import { hostPort, makeCheck } from './probes/check.ts';
import { buildGrid, cellOf, sawHalfOpen, type MatrixNode } from './matrix-grid.ts';
import type { MatrixGrid } from './model.ts';

export interface MatrixOptions {
  readonly hosts: readonly string[];
  /** The port probed between nodes. */
  readonly port: number;
  /** Where the doctor reaches each node's agent. */
  readonly agentPort: number;
  readonly probeTimeoutMs: number;
  readonly concurrency: number;
  readonly progress?: (done: number, total: number) => void;
}

export interface MatrixResult {
  readonly grid: MatrixGrid;
  readonly checks: Check[];
  /** Agents the doctor could talk to. */
  readonly reachable: number;
}

/** Slack on top of the agent's own probe timeout for its answer to travel back. */
const ANSWER_SLACK_MS = 2000;

export async function runMatrix(options: MatrixOptions): Promise<MatrixResult> {
  const { hosts, port } = options;
  const idle = new Map<number, AgentSession[]>();
  const hellos: (Hello | undefined)[] = [];
  const checks: Check[] = [];

  const borrow = async (index: number): Promise<AgentSession | undefined> => {
    const ready = idle.get(index)?.pop();
    if (ready !== undefined) return ready;
    const opened = await openAgentSession(agentAddress(index), {
      timeoutMs: options.probeTimeoutMs,
    });
    return opened.kind === 'open' ? opened.session : undefined;
  };
  const giveBack = (index: number, session: AgentSession): void => {
    const list = idle.get(index) ?? [];
    list.push(session);
    idle.set(index, list);
  };
  const agentAddress = (index: number): AddressPort => ({
    address: hosts[index] ?? '',
    port: options.agentPort,
  });

  try {
    // First, which agents the doctor can reach at all: a row of '?' needs its own explanation.
    await Promise.all(
      hosts.map(async (host, index) => {
        const opened = await openAgentSession(agentAddress(index), {
          timeoutMs: options.probeTimeoutMs,
        });
        const target = { host, port: options.agentPort, service: 'agent' as const };
        if (opened.kind === 'failed') {
          checks.push(
            makeCheck(target, {
              id: 'matrix.agent',
              layer: 'transport',
              status: 'fail',
              reason:
                opened.outcome === 'refused'
                  ? 'refused'
                  : opened.outcome === 'timeout'
                    ? 'filtered'
                    : 'unreachable',
              summary: `the doctor cannot reach the agent on ${hostPort(host, options.agentPort)} (${opened.outcome}${opened.errno === null ? '' : ` ${opened.errno}`}): its row of the matrix is unknown`,
              evidence: {
                outcome: opened.outcome,
                errno: opened.errno,
                elapsedMs: Math.round(opened.elapsedMs),
              },
              fix: {
                summary: `Start the agent on ${host} (sparkplane doctor agent --listen ${String(options.agentPort)}) and allow this machine to reach TCP ${String(options.agentPort)} there.`,
              },
            }),
          );
          return;
        }
        const answer = await opened.session.request({ op: 'hello' }, options.probeTimeoutMs);
        hellos[index] =
          answer.kind === 'answer' ? (answer.body.hello as Hello | undefined) : undefined;
        if (hellos[index] === undefined) opened.session.close();
        else giveBack(index, opened.session);
      }),
    );
    const nodes: MatrixNode[] = hosts.map((host, index) => ({
      host,
      agent: hellos[index]?.name ?? null,
    }));
    const pairs = hosts.flatMap((_, from) => hosts.map((__, to) => [from, to] as const));
    const letters = hosts.map(() => hosts.map(() => '?'));
    const cells: Check[] = [];
    let done = 0;
    const next = pairs[Symbol.iterator]();
    const worker = async (): Promise<void> => {
      for (let pair = next.next(); pair.done !== true; pair = next.next()) {
        const [from, to] = pair.value;
        const cell = await probePair(from, to);
        (letters[from] ?? [])[to] = cell.letter;
        // Kept in grid order, whichever probe finished first.
        cells[from * hosts.length + to] = cell.check;
        done += 1;
        options.progress?.(done, pairs.length);
      }
    };
    const probePair = async (from: number, to: number) => {
      const source = nodes[from] ?? { host: '', agent: null };
      const destination = nodes[to] ?? { host: '', agent: null };
      const result = hellos[from] === undefined ? undefined : await askProbe(from, to);
      const halfOpen =
        result?.outcome === 'timeout' ? sawHalfOpen(result, await askHalfOpen(to), port) : false;
      return cellOf(source, destination, port, result, halfOpen);
    };
    const askProbe = async (from: number, to: number): Promise<ProbeResult | undefined> => {
      const session = await borrow(from);
      if (session === undefined) return undefined;
      const answer = await session.request(
        { op: 'probe', host: hosts[to] ?? '', port, timeoutMs: options.probeTimeoutMs },
        options.probeTimeoutMs + ANSWER_SLACK_MS,
      );
      if (answer.kind === 'answer') giveBack(from, session);
      else session.close();
      return answer.kind === 'answer' ? (answer.body.result as ProbeResult | undefined) : undefined;
    };
    const askHalfOpen = async (index: number): Promise<HalfOpenEntry[]> => {
      if (hellos[index] === undefined) return [];
      const session = await borrow(index);
      if (session === undefined) return [];
      const answer = await session.request({ op: 'half-open' }, options.probeTimeoutMs);
      if (answer.kind === 'answer') giveBack(index, session);
      else session.close();
      const entries = answer.kind === 'answer' ? answer.body.entries : undefined;
      return Array.isArray(entries) ? (entries as HalfOpenEntry[]) : [];
    };
    await Promise.all(
      Array.from({ length: Math.max(1, Math.min(options.concurrency, pairs.length)) }, worker),
    );
    return {
      grid: buildGrid(nodes, port, letters),
      checks: [...checks, ...Object.values(cells)],
      reachable: hellos.filter((hello) => hello !== undefined).length,
    };
  } finally {
    for (const sessions of idle.values()) for (const session of sessions) session.close();
  }
}
