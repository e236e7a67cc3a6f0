// A pinned client connection run by the native core (`--relay pinned` when the addon is built):
// the same relay as pinned-connection.ts, with the per-frame and per-call work — frames both
// ways, both HPACK tables, the first-message scan, stream ids, held frames, flow-control refunds,
// the backend token's masking — done in Rust, one call per socket read. A cleartext connection's
// sockets are handed to the engine once Node has accepted or connected them: it then reads and
// writes them itself and reports only what the gateway decides or records. A TLS connection's
// stay Node's, which reads them into the engine and writes what it returns. This module keeps the
// timers (first messages, idle connections), the server's connection, and the gateway's decisions
// and records, which native-calls.ts makes from the engine's events.
import net from 'node:net';
import { gatewayChannels } from '../../observability-channels.ts';
import type { Backend } from '../../backends/backend-pool.ts';
import {
  PinnedNotice,
  type NativeCore,
  type NativePinnedEngine,
} from '../../native/native-core.ts';
import type { ClientConnection } from '../front-server.ts';
import { holdBackWhileBacklogged } from './back-pressure.ts';
import { createFrameOutput } from './frame-output.ts';
import { createNativeCalls } from './native-calls.ts';
import { runEngine, stepHandled, type EngineStep } from './native-output.ts';
import type { PinnedConnection } from './pinned-connection.ts';
import { WHOLE_FIRST_MESSAGE_BYTES, type PinnedRelayDependencies } from './pinned-calls.ts';
import { connectReadingSlabs } from './slab-reads.ts';

/** Of the connections whose engines own their sockets: each hands over its held summaries. */
const summaryHolders = new Set<() => void>();
let countsWatched = false;

/** `flush` runs whenever the gateway's counts are read, until the returned function is called. */
function flushWhenCountsWanted(flush: () => void): () => void {
  if (!countsWatched) {
    countsWatched = true;
    gatewayChannels.countsWanted.subscribe(() => {
      for (const holder of summaryHolders) holder();
    });
  }
  summaryHolders.add(flush);
  return () => {
    summaryHolders.delete(flush);
  };
}

export function relayPinnedNative(
  core: NativeCore,
  client: net.Socket,
  deps: PinnedRelayDependencies,
  connection: ClientConnection,
  onClosed: () => void,
): PinnedConnection {
  const engine: NativePinnedEngine = new core.PinnedEngine(
    {
      maxConcurrentStreams: deps.maxConcurrentStreams,
      maxMessageBytes: deps.maxMessageBytes,
      wholeFirstMessageBytes: WHOLE_FIRST_MESSAGE_BYTES,
      backendToken: deps.backendToken,
      authenticating: deps.authenticating,
      rewriteUserId: deps.rewriteUserId,
      summarizePlainCalls: deps.summarizeOkCalls,
    },
    performance.now(),
  );
  const toClient = createFrameOutput(() => client, deps.slabs);
  const toUpstream = createFrameOutput(() => upstream, deps.slabs);
  const outputs = { toClient, toUpstream };
  let upstream: net.Socket | undefined;
  let backend: Backend | undefined;
  let upstreamSpoke = false;
  let closed = false;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  /** The engine reads and writes the sockets itself. */
  let owned = false;
  /** With `owned`: the server's socket is open (connecting, or the engine's). */
  let serverOpen = false;
  /** From the engine's last output: when its oldest call still reading a first message opened. */
  let oldestPeeking = -1;
  /** With `owned`: stops handing over held summaries when counts are read. */
  let stopFlushing: (() => void) | undefined;

  const calls = createNativeCalls({
    core,
    engine,
    deps,
    connection,
    address: client.remoteAddress ?? '',
    run,
    backend: () => backend,
    pin,
    upstreamSpoke: () => spoke(),
  });

  /** Whether the server has sent anything (the engine knows when it reads the socket itself). */
  function spoke(): boolean {
    return owned ? engine.serverSpoke : upstreamSpoke;
  }

  /** One engine call: its bytes to the sockets, then its events handled. */
  function run(call: (io: Float64Array, scratch: Buffer) => number, chunk?: Buffer): void {
    if (closed) return;
    let step: EngineStep;
    try {
      step = runEngine(engine, call, owned ? undefined : outputs, deps.slabs, chunk);
    } catch (error) {
      // The engine caught a fault of its own (a Rust panic): nothing more can be relayed.
      gatewayChannels.relayFailed.publish({ method: '', backend: backend?.id ?? '', error });
      flush();
      shutdown();
      destroy();
      return;
    }
    if (step.oldestPeeking !== -2) oldestPeeking = step.oldestPeeking;
    let failure: Error | undefined;
    try {
      flush();
      calls.handle(step.events);
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    } finally {
      stepHandled();
    }
    if (failure !== undefined) {
      gatewayChannels.relayFailed.publish({
        method: '',
        backend: backend?.id ?? '',
        error: failure,
      });
      const detail = failure.message;
      run((io, scratch) => engine.fail(detail, io, scratch));
    }
    if (step.closed) shutdown();
  }

  function flush(): void {
    if (owned) return;
    toUpstream.flush();
    toClient.flush();
    holdBackWhileBacklogged(client, upstream);
    if (upstream !== undefined) holdBackWhileBacklogged(upstream, client);
  }

  function shutdown(): void {
    if (closed) return;
    flush();
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    if (owned) engine.endSockets();
    else client.end();
    upstream?.destroy();
    setTimeout(destroy, 1000).unref();
  }

  function destroy(): void {
    if (owned) {
      clientGone();
      return;
    }
    client.destroy();
    upstream?.destroy();
  }

  /** The client's connection is over: the last of its calls are recorded. */
  function clientGone(): void {
    if (ended) return;
    ended = true;
    run((io, scratch) => engine.clientClosed(performance.now(), io, scratch));
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    upstream?.destroy();
    if (owned) engine.release();
    stopFlushing?.();
    onClosed();
  }

  /** Calls still reading their first message are answered once they have waited too long. */
  function armTimer(): void {
    if (timer !== undefined || closed || oldestPeeking < 0) return;
    const wait = Math.max(0, oldestPeeking + deps.firstMessageTimeoutMs - performance.now());
    timer = setTimeout(() => {
      timer = undefined;
      run((io, scratch) =>
        engine.expire(deps.firstMessageTimeoutMs, performance.now(), io, scratch),
      );
      armTimer();
    }, wait + 1);
  }

  function pin(target: Backend): Backend {
    if (backend !== undefined) return backend;
    backend = target;
    if (owned) {
      connectOwned(target);
      run((io, scratch) => engine.pin(target.id, io, scratch));
      return target;
    }
    const socket = connectReadingSlabs(target, deps.slabs, toClient, (chunk) => {
      upstreamSpoke = true;
      run((io, scratch) => engine.serverBytes(chunk, performance.now(), io, scratch), chunk);
    });
    upstream = socket;
    socket.on('error', (error: Error) => {
      onUpstreamGone(error);
    });
    socket.on('close', () => {
      onUpstreamGone(undefined);
    });
    run((io, scratch) => engine.pin(target.id, io, scratch));
    return target;
  }

  /** Node connects to the server; the engine takes the socket over once connected. */
  function connectOwned(target: Backend): void {
    serverOpen = true;
    const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
    socket.pause();
    upstream = socket;
    socket.on('error', (error: Error) => {
      onUpstreamGone(error);
    });
    socket.on('close', () => {
      onUpstreamGone(undefined);
    });
    socket.once('connect', () => {
      upstream = undefined;
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      const fd = descriptorOf(socket);
      try {
        if (fd === undefined) throw new Error('its socket has no descriptor');
        if (!closed) engine.adoptServer(fd);
      } catch (error) {
        onUpstreamGone(error instanceof Error ? error : new Error(String(error)));
      } finally {
        socket.destroy();
      }
    });
  }

  function onUpstreamGone(error: Error | undefined): void {
    const gone = backend;
    if (owned) {
      if (!serverOpen || gone === undefined || closed) return;
      serverOpen = false;
      upstream = undefined;
    } else {
      if (upstream === undefined || gone === undefined || closed) return;
      upstream = undefined;
    }
    if (!spoke() && error !== undefined) deps.pool.connectFailed(gone.id, error);
    const reason = spoke()
      ? `the Spark Connect server ${gone.id} closed the connection during the call`
      : `cannot open a call to the Spark Connect server ${gone.id}: ${error?.message ?? 'connection closed'}`;
    run((io, scratch) => engine.serverGone(reason, performance.now(), io, scratch));
  }

  client.setNoDelay(true);
  const early = adoptClient(client, engine, deps.routeEpoch, (notice, detail) => {
    switch (notice) {
      case PinnedNotice.STEP:
        run((io, scratch) => engine.output(io, scratch));
        armTimer();
        break;
      case PinnedNotice.SERVER_GONE:
        onUpstreamGone(detail === '' ? undefined : new Error(detail));
        break;
      case PinnedNotice.FAULT:
        gatewayChannels.relayFailed.publish({
          method: '',
          backend: backend?.id ?? '',
          error: new Error(detail),
        });
        clientGone();
        break;
      default:
        clientGone();
    }
  });
  const clientBytes = (chunk: Buffer): void => {
    const epoch = deps.routeEpoch[0] ?? 0;
    run((io, scratch) => engine.clientBytes(chunk, performance.now(), epoch, io, scratch), chunk);
    armTimer();
  };
  owned = early !== undefined;
  // The client hears from "the server" at once; the real one's SETTINGS follow when it is known.
  run((io, scratch) => engine.output(io, scratch));
  if (early !== undefined) {
    stopFlushing = flushWhenCountsWanted(() => {
      if (engine.holdsSummaries) run((io, scratch) => engine.flushSummaries(io, scratch));
    });
    if (early.length > 0) clientBytes(early);
    watchIdle();
  } else {
    client.on('data', clientBytes);
    client.on('error', () => undefined);
    client.once('close', clientGone);
    client.resume();
  }

  /** With `owned` (Node no longer sees the traffic): a connection idle too long is closed. */
  function watchIdle(): void {
    const idleFor = performance.now() - engine.clientActiveAt;
    if (idleFor >= deps.idleTimeoutMs) {
      connectionApi.close();
      return;
    }
    idleTimer = setTimeout(watchIdle, deps.idleTimeoutMs - idleFor + 1);
    idleTimer.unref();
  }

  const connectionApi: PinnedConnection = {
    get closed() {
      return closed;
    },
    close() {
      run((io, scratch) => engine.close('the gateway is shutting down', io, scratch));
    },
    destroy,
  };
  return connectionApi;
}

/** The descriptor of a plain TCP socket of Node's; undefined for a TLS socket or none known. */
function descriptorOf(socket: net.Socket): number | undefined {
  if ((socket as Partial<{ encrypted: boolean }>).encrypted === true) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Hands a cleartext client's socket to the engine, which reads and writes a duplicate of it,
 * while Node's is closed. Returns what Node had read and not yet handed on (the preface the front
 * server sniffed, at least), or undefined when the socket stays Node's: a TLS socket, or one whose
 * descriptor is not known.
 */
function adoptClient(
  client: net.Socket,
  engine: NativePinnedEngine,
  routeEpoch: Uint32Array,
  onNotice: (notice: number, detail: string) => void,
): Buffer | undefined {
  const fd = descriptorOf(client);
  if (fd === undefined) return undefined;
  // Node reads only on its event loop, never during this function: nothing is read twice.
  const early = (client.read() as Buffer | null) ?? Buffer.alloc(0);
  try {
    engine.adopt(fd, routeEpoch, performance.now(), (notice, detail) => {
      // Called from the event loop: nothing the gateway throws may escape into the engine.
      try {
        onNotice(notice, detail);
      } catch (error) {
        process.nextTick(() => {
          throw error;
        });
      }
    });
  } catch (error) {
    // The socket stays Node's (no descriptor to spare, say), and the relay works as for TLS.
    gatewayChannels.relayFailed.publish({ method: '', backend: '', error });
    if (early.length > 0) client.unshift(early);
    return undefined;
  }
  client.destroy();
  return early;
}
