// Half-open reports, both ends. An agent that sees a client's connection stuck half-open cannot
// answer that client on the connection (that is the problem), so it connects back to the SYN's
// source address on the callback port and says so; the doctor listens there for the length of
// its run and matches what arrives against the connects it made.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { systemErrorCode } from '../../core/system-errors.ts';
import { listenOn } from '../../core/listen.ts';
import { createLineDecoder } from './line-decoder.ts';
import {
  REPORT_MAGIC,
  type AddressPort,
  type HalfOpenEntry,
  type HalfOpenReport,
} from './messages.ts';

const REPORT_LINE_BYTES = 4096;
const SEND_LIMIT_MS = 2000;

/** Sends one report; resolves with the errno when it could not be delivered, else null. */
export function sendHalfOpenReport(
  to: AddressPort,
  report: HalfOpenReport,
  limitMs = SEND_LIMIT_MS,
): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: to.address, port: to.port, autoSelectFamily: false });
    const done = (errno: string | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(errno);
    };
    const timer = setTimeout(() => {
      done('ETIMEDOUT');
    }, limitMs);
    socket.once('connect', () => {
      socket.end(`${REPORT_MAGIC}\n${JSON.stringify(report)}\n`, () => {
        done(null);
      });
    });
    socket.on('error', (error) => {
      done(systemErrorCode(error));
    });
  });
}

export interface ReceivedReport {
  readonly agent: string;
  readonly entry: HalfOpenEntry;
  /** Where the report connection came from: the agent's address as this side sees it. */
  readonly from: AddressPort;
  readonly receivedAt: number;
}

export interface CallbackListener {
  readonly port: number;
  reports(): readonly ReceivedReport[];
  /** Resolves with the first report (already here or arriving) that `match` accepts, or undefined at `untilMs`. */
  waitFor(
    match: (report: ReceivedReport) => boolean,
    untilMs: number,
    signal?: AbortSignal,
  ): Promise<ReceivedReport | undefined>;
  close(): Promise<void>;
}

const MAX_REPORTS = 1024;

export async function startCallbackListener(host: string, port: number): Promise<CallbackListener> {
  const received: ReceivedReport[] = [];
  const listeners = new Set<() => void>();
  const open = new Set<Socket>();
  const server: Server = createServer((socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.setTimeout(SEND_LIMIT_MS, () => socket.destroy());
    socket.on('error', () => undefined);
    let greeted = false;
    const from = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const decoder = createLineDecoder(REPORT_LINE_BYTES, {
      line(text) {
        if (!greeted) {
          greeted = text === REPORT_MAGIC;
          if (!greeted) socket.destroy();
          return;
        }
        const report = parseReport(text);
        if (report === undefined || received.length >= MAX_REPORTS) return;
        received.push({ ...report, from, receivedAt: Date.now() });
        for (const listener of listeners) listener();
      },
      raw: () => undefined,
      rawDone: () => undefined,
      tooLong: () => socket.destroy(),
    });
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
    });
  });
  const bound = await listenOn(
    server,
    'doctor-callback',
    'the doctor callback listener',
    host,
    port,
  );
  return {
    port: bound.port,
    reports: () => received,
    waitFor(match, untilMs, signal) {
      const found = received.find(match);
      if (found !== undefined || Date.now() >= untilMs || signal?.aborted === true)
        return Promise.resolve(found);
      return new Promise((resolve) => {
        const finish = (value: ReceivedReport | undefined): void => {
          clearTimeout(timer);
          listeners.delete(check);
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        };
        const check = (): void => {
          const hit = received.find(match);
          if (hit !== undefined) finish(hit);
        };
        const onAbort = (): void => {
          finish(undefined);
        };
        const timer = setTimeout(onAbort, untilMs - Date.now());
        listeners.add(check);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
        for (const socket of open) socket.destroy();
      }),
  };
}

function parseReport(text: string): Omit<ReceivedReport, 'from' | 'receivedAt'> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const report = value as Partial<HalfOpenReport>;
  const entry = report.entry;
  if (report.op !== 'half-open-report' || typeof report.agent !== 'string' || entry === undefined)
    return undefined;
  if (
    !isAddressPort(entry.local) ||
    !isAddressPort(entry.remote) ||
    typeof entry.ageMs !== 'number'
  )
    return undefined;
  return { agent: report.agent, entry };
}

function isAddressPort(value: unknown): value is AddressPort {
  if (typeof value !== 'object' || value === null) return false;
  const { address, port } = value as Record<string, unknown>;
  return typeof address === 'string' && typeof port === 'number';
}
