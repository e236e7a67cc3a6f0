// A client connection speaking Spark's transport protocol: RPCs matched by request id, chunks by
// (stream, index), streams in request order, as Spark's TransportResponseHandler does. Used by
// the shuffle client, the doctor's probes, the tests and the benchmark.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { ShuffleError } from '../errors.ts';
import { createFrameDecoder } from '../protocol/frame-decoder.ts';
import { encodeMessage, type TransportMessage } from '../protocol/messages.ts';

export interface TransportClientOptions {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs?: number;
  /** Largest frame accepted from the server; chunk bodies arrive in frame. */
  readonly maxFrameBytes?: number;
}

export interface TransportClient {
  sendRpc(body: Buffer, timeoutMs?: number): Promise<Buffer>;
  sendOneWay(body: Buffer): void;
  fetchChunk(streamId: bigint, chunkIndex: number): Promise<Buffer>;
  /** Requests a stream (e.g. `"<streamId>_<chunk>"`) and collects its bytes. */
  stream(streamId: string): Promise<Buffer>;
  /** Writes raw bytes (for tests that send malformed frames). */
  writeRaw(data: Buffer): void;
  close(): void;
  readonly closed: Promise<void>;
  readonly isOpen: boolean;
}

interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/** An IOException-like failure: the connection broke; Spark's client retries these. */
export class ConnectionError extends ShuffleError {
  readonly retryable = true;
}

export async function connectTransport(options: TransportClientOptions): Promise<TransportClient> {
  const socket = await openSocket(options);
  return createTransportClient(socket, options.maxFrameBytes ?? 512 * 1024 * 1024);
}

function openSocket(options: TransportClientOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: options.host, port: options.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ConnectionError(
          'ESS_CLIENT',
          `connecting to ${options.host}:${options.port} timed out`,
        ),
      );
    }, options.connectTimeoutMs ?? 10_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setKeepAlive(true);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(
        new ConnectionError(
          'ESS_CLIENT',
          `cannot connect to ${options.host}:${options.port}: ${error.message}`,
          { cause: error },
        ),
      );
    });
  });
}

export function createTransportClient(socket: Socket, maxFrameBytes: number): TransportClient {
  const rpcs = new Map<bigint, Pending<Buffer>>();
  const chunks = new Map<string, Pending<Buffer>>();
  const streams: { id: string; pending: Pending<Buffer>; parts: Buffer[] }[] = [];
  let receiving: { id: string; pending: Pending<Buffer>; parts: Buffer[] } | undefined;
  let failure: Error | undefined;

  const failAll = (error: Error): void => {
    failure ??= error;
    for (const pending of [
      ...rpcs.values(),
      ...chunks.values(),
      ...streams.map((entry) => entry.pending),
    ])
      pending.reject(failure);
    receiving?.pending.reject(failure);
    rpcs.clear();
    chunks.clear();
    streams.length = 0;
    receiving = undefined;
  };

  const decoder = createFrameDecoder(
    {
      message(message: TransportMessage) {
        switch (message.type) {
          case 'RpcResponse':
          case 'RpcFailure': {
            const pending = rpcs.get(message.requestId);
            rpcs.delete(message.requestId);
            if (message.type === 'RpcResponse') pending?.resolve(message.body);
            else pending?.reject(new ShuffleError('ESS_CLIENT', message.error));
            return;
          }
          case 'ChunkFetchSuccess':
          case 'ChunkFetchFailure': {
            const key = `${message.streamId}/${message.chunkIndex}`;
            const pending = chunks.get(key);
            chunks.delete(key);
            if (message.type === 'ChunkFetchSuccess') pending?.resolve(message.body);
            else
              pending?.reject(
                new ShuffleError(
                  'ESS_CLIENT',
                  `Failure while fetching StreamChunkId[streamId=${message.streamId},chunkIndex=${message.chunkIndex}]: ${message.error}`,
                ),
              );
            return;
          }
          case 'StreamResponse': {
            // Streams are answered in request order; the id in the reply is not used to match.
            const head = streams.shift();
            if (head === undefined)
              throw new ShuffleError('ESS_CLIENT', `unexpected StreamResponse ${message.streamId}`);
            receiving = head;
            return;
          }
          case 'StreamFailure': {
            const head = streams.shift();
            head?.pending.reject(
              new ShuffleError('ESS_CLIENT', `stream ${message.streamId} failed: ${message.error}`),
            );
            return;
          }
          default:
            return;
        }
      },
      rawBody(chunk) {
        receiving?.parts.push(chunk);
      },
      rawBodyEnd() {
        const done = receiving;
        receiving = undefined;
        done?.pending.resolve(Buffer.concat(done.parts));
      },
    },
    { maxFrameBytes },
  );

  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.push(chunk);
    } catch (error) {
      failAll(error instanceof Error ? error : new Error(String(error)));
      socket.destroy();
    }
  });
  socket.on('error', (error) => {
    failAll(
      new ConnectionError('ESS_CLIENT', `connection error: ${error.message}`, { cause: error }),
    );
  });
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      failAll(new ConnectionError('ESS_CLIENT', 'connection closed by the server'));
      resolve();
    });
  });

  const send = (message: TransportMessage): void => {
    if (failure !== undefined) throw failure;
    socket.write(encodeMessage(message));
  };

  return {
    closed,
    get isOpen() {
      return failure === undefined && !socket.destroyed;
    },
    sendRpc(body, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        // Spark uses |random 64-bit|; any unique non-negative id works.
        const requestId = randomBytes(8).readBigInt64BE() & 0x7fffffffffffffffn;
        const timer = setTimeout(() => {
          rpcs.delete(requestId);
          reject(
            new ConnectionError('ESS_CLIENT', `RPC ${requestId} timed out after ${timeoutMs} ms`),
          );
        }, timeoutMs);
        rpcs.set(requestId, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        try {
          send({ type: 'RpcRequest', requestId, body });
        } catch (error) {
          clearTimeout(timer);
          rpcs.delete(requestId);
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    },
    sendOneWay(body) {
      send({ type: 'OneWayMessage', body });
    },
    fetchChunk(streamId, chunkIndex) {
      return new Promise((resolve, reject) => {
        chunks.set(`${streamId}/${chunkIndex}`, { resolve, reject });
        try {
          send({ type: 'ChunkFetchRequest', streamId, chunkIndex });
        } catch (error) {
          chunks.delete(`${streamId}/${chunkIndex}`);
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    },
    stream(streamId) {
      return new Promise((resolve, reject) => {
        streams.push({ id: streamId, pending: { resolve, reject }, parts: [] });
        try {
          send({ type: 'StreamRequest', streamId });
        } catch (error) {
          streams.pop();
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    },
    writeRaw(data) {
      socket.write(data);
    },
    close() {
      socket.destroy();
    },
  };
}
