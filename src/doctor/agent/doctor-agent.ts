// The doctor agent: listens on the ports a node should have open (7337 where the shuffle service
// will run, a block-manager port…), tells each client what it sees of it, moves bytes for the MTU
// ladder, probes other agents for the matrix, and watches its ports for half-open connections,
// which it logs and reports back to the client's doctor.
import { readFile } from 'node:fs/promises';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { listenOn } from '../../core/listen.ts';
import { VERSION } from '../../core/version.ts';
import { openAgentSession } from './agent-client.ts';
import { serveAgentConnection } from './agent-connection.ts';
import { sendHalfOpenReport } from './callback.ts';
import { startHalfOpenDetector, type HalfOpenDetector } from './half-open-detector.ts';
import {
  PROTOCOL_VERSION,
  type AddressPort,
  type HalfOpenEntry,
  type Hello,
  type InterfaceAddress,
  type ProbeResult,
} from './messages.ts';
import { agentChannels } from './observability.ts';
import { readProcTcpTables, type ReadTcpTables } from './proc-net-tcp.ts';

export interface DoctorAgentOptions {
  readonly host: string;
  /** Ports to listen on; 0 picks a free one (tests). */
  readonly ports: readonly number[];
  readonly name: string;
  /** Where half-open reports go on the SYN's source address; undefined turns them off. */
  readonly callbackPort: number | undefined;
  readonly readTables?: ReadTcpTables;
  readonly halfOpenThresholdMs?: number;
  readonly pollMs?: number;
  readonly maxConnections?: number;
}

export interface DoctorAgent {
  readonly name: string;
  /** Starts every listener and the half-open watch; resolves with the bound ports. */
  listen(): Promise<number[]>;
  readonly ports: readonly number[];
  halfOpen(): HalfOpenEntry[];
  /** One look at the TCP tables now, for tests that feed them. */
  pollHalfOpen(): Promise<void>;
  close(deadlineMs: number): Promise<boolean>;
}

const MAX_CONNECTIONS = 512;
/** Reports in flight at once; a SYN flood must not become a connect flood. */
const MAX_CALLBACKS = 8;

export function createDoctorAgent(options: DoctorAgentOptions): DoctorAgent {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const bound: number[] = [];
  let detector: HalfOpenDetector | undefined;
  let callbacks = 0;
  // Probes leave from the address the agent listens on, so the matrix shows node addresses.
  const probeFrom =
    isIP(options.host) !== 0 && !['0.0.0.0', '::'].includes(options.host)
      ? options.host
      : undefined;

  const hello = async (socket: Socket): Promise<Hello> => ({
    name: options.name,
    version: VERSION,
    protocol: PROTOCOL_VERSION,
    ports: bound,
    interfaces: await localInterfaces(),
    seen: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    local: { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
  });

  const probe = async (host: string, port: number, timeoutMs: number): Promise<ProbeResult> => {
    const began = performance.now();
    const opened = await openAgentSession(
      { address: host, port },
      { timeoutMs, ...(probeFrom === undefined ? {} : { localAddress: probeFrom }) },
    );
    if (opened.kind === 'failed') {
      return {
        outcome: opened.outcome,
        errno: opened.errno,
        elapsedMs: Math.round(opened.elapsedMs),
        local: opened.local,
        peer: null,
        ...(opened.answerHex === undefined ? {} : { answerHex: opened.answerHex }),
      };
    }
    const { session } = opened;
    const left = Math.max(100, timeoutMs - (performance.now() - began));
    const answer = await session.request({ op: 'hello' }, left);
    session.close();
    const peer = answer.kind === 'answer' ? (answer.body.hello as Hello | undefined) : undefined;
    return {
      outcome: peer === undefined ? 'not-an-agent' : 'connected',
      errno: answer.kind === 'closed' ? answer.errno : null,
      elapsedMs: Math.round(session.connectMs),
      local: session.local,
      peer: peer ?? null,
    };
  };

  const report = (entry: HalfOpenEntry): void => {
    agentChannels.halfOpen.publish({ agent: options.name, entry });
    if (options.callbackPort === undefined || callbacks >= MAX_CALLBACKS) return;
    const to: AddressPort = { address: entry.remote.address, port: options.callbackPort };
    callbacks += 1;
    void sendHalfOpenReport(to, { op: 'half-open-report', agent: options.name, entry })
      .then((errno) => {
        agentChannels.callback.publish({
          to: `${to.address}:${String(to.port)}`,
          ok: errno === null,
          errno,
        });
      })
      .finally(() => {
        callbacks -= 1;
      });
  };

  return {
    name: options.name,
    ports: bound,
    async listen() {
      for (const port of options.ports) {
        const server = createServer((socket) => {
          sockets.add(socket);
          socket.once('close', () => sockets.delete(socket));
          serveAgentConnection(socket, {
            hello,
            probe,
            halfOpen: () => detector?.entries() ?? [],
          });
        });
        server.maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
        servers.push(server);
        const address = await listenOn(
          server,
          'doctor-agent',
          'the doctor agent',
          options.host,
          port,
        );
        bound.push(address.port);
      }
      detector = startHalfOpenDetector({
        ports: bound,
        read: options.readTables ?? readProcTcpTables,
        ...(options.halfOpenThresholdMs === undefined
          ? {}
          : { thresholdMs: options.halfOpenThresholdMs }),
        ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
        onHalfOpen: report,
        onReadError: (error) => {
          agentChannels.readError.publish({ message: String(error) });
        },
      });
      return [...bound];
    },
    halfOpen: () => detector?.entries() ?? [],
    pollHalfOpen: () => detector?.poll() ?? Promise.resolve(),
    async close(deadlineMs) {
      detector?.stop();
      const closed = servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => {
              resolve();
            });
          }),
      );
      // Clients of an agent hold nothing worth finishing: end them, then cut off stragglers.
      for (const socket of sockets) socket.end();
      const cutoff = setTimeout(
        () => {
          for (const socket of sockets) socket.destroy();
        },
        Math.min(deadlineMs, 1000),
      );
      await Promise.all(closed);
      clearTimeout(cutoff);
      return true;
    },
  };
}

/** Every address of this machine, with the MTU of its interface where Linux tells it. */
export async function localInterfaces(): Promise<InterfaceAddress[]> {
  const result: InterfaceAddress[] = [];
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    const mtu = await interfaceMtu(name);
    for (const entry of addresses ?? [])
      result.push({ name, address: entry.address, family: entry.family, mtu });
  }
  return result;
}

export async function interfaceMtu(name: string): Promise<number | null> {
  if (!/^[A-Za-z0-9._@-]+$/.test(name)) return null;
  try {
    const value = Number.parseInt(await readFile(`/sys/class/net/${name}/mtu`, 'utf8'), 10);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}
