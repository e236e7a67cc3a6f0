// A pinned client connection run by the native core (`--relay pinned` when the addon is built):
// the same relay as pinned-connection.ts, with the per-frame and per-call work — frames both
// ways, both HPACK tables, the first-message scan, stream ids, held frames, flow-control refunds,
// the backend token's masking — done in Rust, one call per socket read. This module keeps what
// the gateway owns: the sockets and their back-pressure, the timer for first messages, and the
// gateway's decisions and records, which native-calls.ts makes from the engine's events.
import type net from 'node:net';
import { gatewayChannels } from '../../observability-channels.ts';
import type { Backend } from '../../backends/backend-pool.ts';
import type { NativeCore, NativePinnedEngine } from '../../native/native-core.ts';
import type { ClientConnection } from '../front-server.ts';
import { holdBackWhileBacklogged } from './back-pressure.ts';
import { createFrameOutput } from './frame-output.ts';
import { createNativeCalls } from './native-calls.ts';
import { runEngine, stepHandled, type EngineStep } from './native-output.ts';
import type { PinnedConnection } from './pinned-connection.ts';
import { WHOLE_FIRST_MESSAGE_BYTES, type PinnedRelayDependencies } from './pinned-calls.ts';
import { connectReadingSlabs } from './slab-reads.ts';

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
  let timer: NodeJS.Timeout | undefined;
  /** From the engine's last output: when its oldest call still reading a first message opened. */
  let oldestPeeking = -1;

  const calls = createNativeCalls({
    core,
    engine,
    deps,
    connection,
    address: client.remoteAddress ?? '',
    run,
    backend: () => backend,
    pin,
    upstreamSpoke: () => upstreamSpoke,
  });

  /** One engine call: its bytes to the sockets, then its events handled. */
  function run(call: (io: Float64Array, scratch: Buffer) => number, chunk?: Buffer): void {
    if (closed) return;
    let step: EngineStep;
    try {
      step = runEngine(engine, call, outputs, deps.slabs, chunk);
    } catch (error) {
      // The engine caught a fault of its own (a Rust panic): nothing more can be relayed.
      gatewayChannels.relayFailed.publish({ method: '', backend: backend?.id ?? '', error });
      flush();
      shutdown();
      client.destroy();
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

  // The client hears from "the server" at once; the real one's SETTINGS follow when it is known.
  run((io, scratch) => engine.output(io, scratch));

  function flush(): void {
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
    client.end();
    upstream?.destroy();
    setTimeout(() => client.destroy(), 1000).unref();
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

  function onUpstreamGone(error: Error | undefined): void {
    const gone = backend;
    if (upstream === undefined || gone === undefined || closed) return;
    upstream = undefined;
    if (!upstreamSpoke && error !== undefined) deps.pool.connectFailed(gone.id, error);
    const reason = upstreamSpoke
      ? `the Spark Connect server ${gone.id} closed the connection during the call`
      : `cannot open a call to the Spark Connect server ${gone.id}: ${error?.message ?? 'connection closed'}`;
    run((io, scratch) => engine.serverGone(reason, performance.now(), io, scratch));
  }

  client.setNoDelay(true);
  client.on('data', (chunk: Buffer) => {
    const epoch = (deps.sessions.changes + deps.pool.changes) % 0x1_0000_0000;
    run((io, scratch) => engine.clientBytes(chunk, performance.now(), epoch, io, scratch), chunk);
    armTimer();
  });
  client.on('error', () => undefined);
  client.once('close', () => {
    run((io, scratch) => engine.clientClosed(performance.now(), io, scratch));
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    upstream?.destroy();
    onClosed();
  });
  client.resume();

  return {
    get closed() {
      return closed;
    },
    close() {
      run((io, scratch) => engine.close('the gateway is shutting down', io, scratch));
    },
    destroy() {
      client.destroy();
      upstream?.destroy();
    },
  };
}
