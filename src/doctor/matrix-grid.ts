// The matrix's verdicts (spec §3.2): one letter per (source, destination) pair from what the
// source agent's probe saw and what the destination agent saw of it, the check behind each
// letter, and the grid as text. Pure.
import { fixNat, fixReturnPath } from './agent-fixes.ts';
import type { HalfOpenEntry, ProbeResult } from './agent/messages.ts';
import { plainAddress, sameEndpoint } from './agent/proc-net-tcp.ts';
import type { Check, Layer, MatrixGrid, Reason, Status } from './model.ts';
import { hostPort } from './probes/check.ts';
import {
  fixFiltered,
  fixNoRoute,
  fixRefused,
  fixResetAfterConnect,
  fixUnreachable,
  fixWrongProtocol,
} from './probes/fixes.ts';
import type { Target } from './targets.ts';

export const MATRIX_LEGEND: Readonly<Record<string, string>> = {
  '.': 'ok: connected, the peer agent answered and saw the source address',
  T: 'timeout: no answer to the SYN (a forward-path drop: security group, firewall, route)',
  R: 'return path: the destination saw the SYN half-open, its answers never came back',
  X: 'refused or rejected: RST or ICMP unreachable (nothing listens, a REJECT rule, no route)',
  N: 'NAT: connected, but the destination saw another source address',
  M: 'mesh/TLS: the port accepted and then reset, or another service (a sidecar, TLS) answered',
  '?': 'not known: the source agent could not be reached or did not answer',
};

export const MATRIX_CHECK_ID = 'matrix.probe';

export interface MatrixNode {
  readonly host: string;
  readonly agent: string | null;
}

export interface Cell {
  readonly letter: string;
  readonly check: Check;
}

/** Whether the destination holds (or held) our probe's connection half-open. */
export function sawHalfOpen(
  result: ProbeResult,
  entries: readonly HalfOpenEntry[],
  port: number,
): boolean {
  const local = result.local;
  if (local === null) return false;
  return entries.some((entry) => entry.local.port === port && sameEndpoint(entry.remote, local));
}

export function cellOf(
  source: MatrixNode,
  destination: MatrixNode,
  port: number,
  result: ProbeResult | undefined,
  halfOpen: boolean,
): Cell {
  const target: Target = { host: destination.host, port, service: 'agent' };
  const to = hostPort(destination.host, port);
  const from = source.host;
  const check = (
    letter: string,
    layer: Layer,
    status: Status,
    reason: Reason,
    summary: string,
    fix?: Check['fix'],
  ): Cell => ({
    letter,
    check: {
      id: MATRIX_CHECK_ID,
      target,
      source: { file: from },
      layer,
      status,
      reason,
      summary: `${from} → ${to}: ${summary}`,
      evidence: {
        letter,
        outcome: result?.outcome ?? null,
        errno: result?.errno ?? null,
        elapsedMs: result?.elapsedMs ?? null,
        probeFrom:
          result?.local === null || result === undefined
            ? null
            : hostPort(result.local.address, result.local.port),
        peerSaw:
          result?.peer == null ? null : hostPort(result.peer.seen.address, result.peer.seen.port),
      },
      ...(fix === undefined || status === 'pass' || status === 'skip' ? {} : { fix }),
    },
  });
  if (result === undefined)
    return check(
      '?',
      'transport',
      'skip',
      'not-checked',
      `not checked: the agent on ${from} could not be asked`,
    );
  switch (result.outcome) {
    case 'connected': {
      const peer = result.peer;
      const local = result.local;
      if (peer === null || local === null)
        return check(
          'M',
          'protocol',
          'fail',
          'wrong-protocol',
          'answered, but not as an agent',
          fixWrongProtocol(target, 'another service', false),
        );
      if (plainAddress(peer.seen.address) !== plainAddress(local.address))
        return check(
          'N',
          'route',
          'warn',
          'nat-detected',
          `the destination saw ${peer.seen.address} where the source connected from ${local.address}: NAT in the path`,
          fixNat(local.address, peer.seen.address, to),
        );
      return check(
        '.',
        'transport',
        'pass',
        'open',
        `connected in ${String(result.elapsedMs)} ms; agent "${peer.name}" answered`,
      );
    }
    case 'timeout':
      return halfOpen
        ? check(
            'R',
            'return-path',
            'fail',
            'return-path-blocked',
            'the SYN arrived (the destination held it half-open in SYN_RECV) but the SYN-ACKs never came back: the return path drops them',
            fixReturnPath(to, result.local?.address ?? from),
          )
        : check(
            'T',
            'transport',
            'fail',
            'filtered',
            `no answer within ${String(result.elapsedMs)} ms and the destination saw no SYN: a forward-path drop`,
            fixFiltered(target),
          );
    case 'refused':
      return check(
        'X',
        'transport',
        'fail',
        'refused',
        'refused (RST): nothing listens there, or a REJECT rule answers',
        fixRefused(target),
      );
    case 'unreachable':
      return check(
        'X',
        'transport',
        'fail',
        'unreachable',
        `ICMP unreachable (${result.errno ?? ''})`,
        fixUnreachable(target),
      );
    case 'no-route':
      return check(
        'X',
        'transport',
        'fail',
        'no-route',
        `no route (${result.errno ?? ''})`,
        fixNoRoute(target),
      );
    case 'reset-after-connect':
      return check(
        'M',
        'tls',
        'fail',
        'reset-after-connect',
        'accepted, then closed before the agent greeting: a sidecar or proxy intercepts the port',
        fixResetAfterConnect(target),
      );
    case 'not-an-agent':
      return check(
        'M',
        'protocol',
        'fail',
        'wrong-protocol',
        `another service answered (${result.answerHex ?? 'no bytes'})`,
        fixWrongProtocol(target, 'another service', false),
      );
    case 'error':
      return check(
        'X',
        'transport',
        'fail',
        'unreachable',
        `the connect failed (${result.errno ?? 'unknown error'})`,
        fixUnreachable(target),
      );
  }
}

export function buildGrid(
  nodes: readonly MatrixNode[],
  port: number,
  letters: readonly (readonly string[])[],
): MatrixGrid {
  return { port, nodes, rows: letters.map((row) => row.join('')), legend: MATRIX_LEGEND };
}

/** The grid for people: numbered columns, one row per source with its address, then the legend. */
export function renderGrid(grid: MatrixGrid): string {
  const width = Math.max(...grid.nodes.map((node) => node.host.length), 4);
  const numbers = grid.nodes.map((_, index) => String(index + 1).padStart(3));
  const lines = [
    `reachability on port ${String(grid.port)} (rows: from, columns: to)`,
    `${' '.repeat(width + 4)}${numbers.join('')}`,
    ...grid.rows.map((row, index) => {
      const node = grid.nodes[index];
      return `${String(index + 1).padStart(3)} ${(node?.host ?? '').padEnd(width)}${row.replace(/./g, (letter) => letter.padStart(3))}`;
    }),
    '',
    ...Object.entries(grid.legend).map(([letter, meaning]) => `  ${letter}  ${meaning}`),
    '',
  ];
  return `${lines.join('\n')}\n`;
}
