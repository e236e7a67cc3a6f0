// The native first-message peek (FirstMessagePeek of the addon) held to the TypeScript it
// replaces: createFirstMessagePeek with requestScanSpec(method), read with readRoutingFields. The
// same request bytes, cut the same way, must become routable after the same push with the same
// fields, or fail at the same push with the same error code and text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GatewayError } from '../../../../src/gateway/errors.ts';
import { loadNativeCore, type NativeCore } from '../../../../src/gateway/native/native-core.ts';
import { createFirstMessagePeek } from '../../../../src/gateway/proxy/first-message-peek.ts';
import { GENERIC_ROUTING } from '../../../../src/gateway/proxy/stream-proxy.ts';
import { encodeGrpcMessage } from '../../../../src/gateway/wire/grpc-frame.ts';
import {
  isSparkConnectMethod,
  readRoutingFields,
  requestScanSpec,
} from '../../../../src/gateway/wire/spark-connect.ts';
import {
  encodeAnalyzeSparkVersionRequest,
  encodeConfigRequest,
  encodeExecutePlanRequest,
  encodeReleaseSessionRequest,
} from '../../../../src/gateway/wire/spark-connect-codecs.ts';
import { cutAt, mutated } from '../../../support/cut-bytes.ts';
import { prerequisiteOptions } from '../../../support/prerequisite.ts';
import { prng } from '../../../support/prng.ts';

const LEN = WireType.LengthDelimited;
/** The gateway's own limits (gateway-server.ts, pinned-calls.ts). */
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
const WHOLE_MESSAGE_BYTES = 256 * 1024;

interface Limits {
  readonly maxMessageBytes: number;
  readonly wholeMessageBytes: number;
}

/** What one push led to, as text, so that a difference shows where the two sides parted. */
type Step = string;

/** How a stream ended: routable, refused, compressed (left to the TypeScript) or still waiting. */
type Ending = 'routable' | 'refused' | 'compressed' | 'waiting';

function nativeCore(): NativeCore {
  const loaded = loadNativeCore();
  assert.ok(loaded.core, loaded.missing);
  return loaded.core;
}

function failure(error: unknown): Step {
  assert.ok(error instanceof Error, String(error));
  const code = (error as Error & { code?: unknown }).code;
  if (error instanceof GatewayError) return `error ${error.code}: ${error.message}`;
  return `error ${String(code)}: ${error.message}`;
}

/** Pushes `chunks` into the TypeScript peek, one step per push, stopping at the first error. */
function typescriptSteps(method: string, chunks: Buffer[], limits: Limits): Step[] {
  const known = isSparkConnectMethod(method) ? method : GENERIC_ROUTING;
  const peek = createFirstMessagePeek({
    spec: requestScanSpec(known),
    ...limits,
    encoding: 'gzip',
  });
  const steps: Step[] = [];
  for (const chunk of chunks) {
    try {
      peek.push(chunk);
    } catch (error) {
      steps.push(failure(error));
      return steps;
    }
    let step = `routable ${String(peek.routable())} done ${String(peek.firstMessageDone)}`;
    if (peek.routable() && peek.scanner !== undefined) {
      try {
        step += ` ${JSON.stringify(readRoutingFields(peek.scanner, known))}`;
      } catch (error) {
        step += ` ${failure(error)}`;
      }
    }
    steps.push(step);
  }
  return steps;
}

/** The same for the native peek, which stops at a compressed first message too. */
function nativeSteps(core: NativeCore, method: string, chunks: Buffer[], limits: Limits): Step[] {
  const peek = new core.FirstMessagePeek(method, limits.maxMessageBytes, limits.wholeMessageBytes);
  const steps: Step[] = [];
  for (const chunk of chunks) {
    try {
      peek.push(chunk);
    } catch (error) {
      steps.push(failure(error));
      return steps;
    }
    if (peek.compressed) {
      steps.push('compressed');
      return steps;
    }
    let step = `routable ${String(peek.routable())} done ${String(peek.firstMessageDone)}`;
    if (peek.routable()) {
      try {
        step += ` ${JSON.stringify({ ...peek.routingFields() })}`;
      } catch (error) {
        step += ` ${failure(error)}`;
      }
    }
    steps.push(step);
  }
  return steps;
}

/** Both peeks over the same chunks; returns how the stream ended. */
function assertSame(
  core: NativeCore,
  method: string,
  chunks: Buffer[],
  limits: Limits,
  label: string,
): Ending {
  const actual = nativeSteps(core, method, chunks, limits);
  const expected = typescriptSteps(method, chunks, limits);
  const last = actual.at(-1) ?? '';
  if (last === 'compressed') {
    // The TypeScript inflates it; the native peek stopped when its header was whole, and the
    // pushes before were the same on both sides.
    const header = Buffer.concat(chunks.slice(0, actual.length)).length;
    const before = Buffer.concat(chunks.slice(0, actual.length - 1)).length;
    assert.ok(header >= 5 && before < 5, `${label}: compressed at byte ${header}`);
    assert.deepStrictEqual(actual.slice(0, -1), expected.slice(0, actual.length - 1), label);
    return 'compressed';
  }
  assert.deepStrictEqual(actual, expected, label);
  if (last.startsWith('error')) return 'refused';
  return last.startsWith('routable true') ? 'routable' : 'waiting';
}

const finish = (writer: BinaryWriter): Buffer => Buffer.from(writer.finish());
const identity = { sessionId: 'c0ffee00-0000-4000-8000-000000000001', userId: 'alice' };

/** An ExecutePlanRequest of every routing field, with a plan of `planBytes` between them. */
function executePlan(planBytes: number, tag = 'x'): Buffer {
  const user = finish(
    new BinaryWriter().tag(1, LEN).string(`user-${tag}`).tag(2, LEN).string('U ✓'),
  );
  return finish(
    new BinaryWriter()
      .tag(1, LEN)
      .string(`session-${tag}`)
      .tag(2, LEN)
      .bytes(user)
      .tag(3, LEN)
      .bytes(Buffer.alloc(planBytes, 7))
      .tag(4, LEN)
      .string('_SPARK_CONNECT_PYTHON')
      .tag(6, LEN)
      .string(`op-${tag}`)
      .tag(8, LEN)
      .string(`server-${tag}`),
  );
}

/** Requests as Spark's clients and the gateway's own codecs write them. */
const REQUESTS: [string, Buffer][] = [
  ['ExecutePlan', executePlan(40)],
  ['ExecutePlan', encodeExecutePlanRequest({ ...identity, operationId: 'op-1', sql: 'SELECT 1' })],
  ['Config', encodeConfigRequest({ ...identity, operation: { set: { 'spark.a': 'b' } } })],
  ['ReleaseSession', encodeReleaseSessionRequest({ ...identity, clientType: 'scala' })],
  ['AnalyzePlan', encodeAnalyzeSparkVersionRequest(identity)],
  ['NotAMethod', executePlan(3)],
];

const GATEWAY: Limits = {
  maxMessageBytes: MAX_MESSAGE_BYTES,
  wholeMessageBytes: WHOLE_MESSAGE_BYTES,
};

describe('native first-message peek parity', prerequisiteOptions(loadNativeCore().missing), () => {
  it('reads real requests cut at every position as the TypeScript does', () => {
    const core = nativeCore();
    const counts: Record<Ending, number> = { routable: 0, refused: 0, compressed: 0, waiting: 0 };
    for (const [method, body] of REQUESTS) {
      // A second message follows, as on a client stream.
      const stream = Buffer.concat([encodeGrpcMessage(body), encodeGrpcMessage(body)]);
      for (let at = 0; at <= stream.length; at++) {
        counts[assertSame(core, method, cutAt(stream, [at]), GATEWAY, `${method} cut at ${at}`)]++;
        const prefix = [stream.subarray(0, at)];
        counts[assertSame(core, method, prefix, GATEWAY, `${method} prefix ${at}`)]++;
      }
      const whole = nativeSteps(core, method, [stream], GATEWAY)[0] ?? '';
      assert.match(whole, /^routable true done true .*"userId":"(alice|user-x)"/);
      const bytes = Array.from({ length: stream.length - 1 }, (_, index) => index + 1);
      assertSame(core, method, cutAt(stream, bytes), GATEWAY, `${method} byte by byte`);
    }
    // A prefix shorter than the first message waits; nothing here is refused.
    assert.ok(counts.routable > 1000 && counts.waiting > 400, JSON.stringify(counts));
    assert.equal(counts.refused + counts.compressed, 0);
  });

  it('routes a large first message once its encoder is past field 2', () => {
    const core = nativeCore();
    const body = executePlan(300_000);
    const stream = encodeGrpcMessage(body);
    const steps = { early: 0, late: 0 };
    for (const whole of [1024, WHOLE_MESSAGE_BYTES, body.length, body.length - 1]) {
      const limits = { maxMessageBytes: MAX_MESSAGE_BYTES, wholeMessageBytes: whole };
      for (let at = 0; at < 120; at++) {
        const chunks = cutAt(stream, [at, at + 1, 150_000]);
        assertSame(core, 'ExecutePlan', chunks, limits, `whole ${whole} cut at ${at}`);
        const trace = nativeSteps(core, 'ExecutePlan', chunks, limits);
        if (trace[1]?.startsWith('routable true')) steps.early++;
        else steps.late++;
      }
    }
    assert.ok(steps.early > 100 && steps.late > 100, JSON.stringify(steps));
  });

  it('refuses oversize messages and streams that are not gRPC with the same error', () => {
    const core = nativeCore();
    const body = executePlan(100);
    const small = encodeGrpcMessage(Buffer.from('0a0173', 'hex'));
    const streams = [
      encodeGrpcMessage(body),
      Buffer.concat([small, encodeGrpcMessage(body)]),
      Buffer.concat([encodeGrpcMessage(Buffer.from('80', 'hex')), Buffer.from('GET / HTTP/1.1')]),
      Buffer.concat([small, Buffer.from('PRI * HTTP/2.0\r\n')]),
      Buffer.concat([small, Buffer.from('16030100c8', 'hex')]),
      Buffer.from('0700000000', 'hex'),
    ];
    let refused = 0;
    for (const [index, stream] of streams.entries()) {
      for (const maxMessageBytes of [0, 3, body.length - 1, body.length, 4 * 1024 * 1024 - 1]) {
        const limits = { maxMessageBytes, wholeMessageBytes: WHOLE_MESSAGE_BYTES };
        for (let at = 0; at <= stream.length; at++) {
          const label = `stream ${index} max ${maxMessageBytes} cut at ${at}`;
          if (assertSame(core, 'Config', cutAt(stream, [at]), limits, label) === 'refused')
            refused++;
        }
      }
    }
    assert.ok(refused > 1000, `refused ${refused}`);
  });

  it('leaves a compressed first message to the TypeScript peek', () => {
    const core = nativeCore();
    const body = zlib.gzipSync(executePlan(10));
    const stream = Buffer.concat([encodeGrpcMessage(body, true), encodeGrpcMessage(body)]);
    for (let at = 0; at <= stream.length; at++) {
      const chunks = cutAt(stream, [at]);
      assert.equal(assertSame(core, 'ExecutePlan', chunks, GATEWAY, `cut at ${at}`), 'compressed');
      // The TypeScript peek, which the caller then hands the call to, reads it.
      assert.equal(
        typescriptSteps('ExecutePlan', chunks, GATEWAY).at(-1)?.startsWith('routable true'),
        true,
      );
    }
    // The native peek goes on checking the framing of what follows.
    const peek = new core.FirstMessagePeek('ExecutePlan', 20, WHOLE_MESSAGE_BYTES);
    peek.push(encodeGrpcMessage(Buffer.alloc(10), true));
    assert.equal(peek.compressed && !peek.routable() && !peek.firstMessageDone, true);
    assert.throws(
      () => {
        peek.push(encodeGrpcMessage(Buffer.alloc(21)));
      },
      {
        code: 'GW_MESSAGE_TOO_LARGE',
      },
    );
  });

  it('reads seeded random cuts and mutations as the TypeScript does', () => {
    const core = nativeCore();
    const random = prng(20_260_611);
    const counts: Record<Ending, number> = { routable: 0, refused: 0, compressed: 0, waiting: 0 };
    const problems = new Set<string>();
    for (let round = 0; round < 3000; round++) {
      const [method, base] = REQUESTS[random(REQUESTS.length)] ?? ['Config', Buffer.alloc(0)];
      const body = random(8) === 0 ? executePlan(500 + random(3000), String(round)) : base;
      let stream = Buffer.concat([encodeGrpcMessage(body), encodeGrpcMessage(base)]);
      const kind = random(10);
      if (kind === 0) {
        // Cut short: the rest never comes.
        stream = stream.subarray(0, random(stream.length + 1));
      } else if (kind === 1) {
        // Flagged compressed, which the native peek leaves to the TypeScript one.
        stream[0] = 1;
      } else {
        // A few bytes changed, inserted or removed, anywhere: in a header, a field, a length.
        stream = mutated(stream, random(4), random);
      }
      const cuts = Array.from({ length: random(6) }, () => random(stream.length + 1)).sort(
        (a, b) => a - b,
      );
      const limits = {
        maxMessageBytes: random(3) === 0 ? random(body.length + 8) : MAX_MESSAGE_BYTES,
        wholeMessageBytes: random(2) === 0 ? random(body.length + 8) : WHOLE_MESSAGE_BYTES,
      };
      const names = [method, 'ExecutePlan', 'Config', 'CloneSession', 'Unknown'];
      const name = names[random(names.length)] ?? method;
      const label = `round ${round}: ${name} ${stream.toString('hex')} cut at ${cuts.join(',')}`;
      const ending = assertSame(core, name, cutAt(stream, cuts), limits, label);
      counts[ending]++;
      // The errors met, from a push or from reading the fields, numbers left out: each is a
      // different rule both sides had to agree on.
      const last = nativeSteps(core, name, cutAt(stream, cuts), limits).at(-1) ?? '';
      const problem = /error .*/.exec(last)?.[0];
      if (problem !== undefined)
        problems.add(
          problem
            .replace(/[0-9a-f]{2}( [0-9a-f]{2}){4}|[0-9]+/g, 'N')
            .replace(/the \w+ request/, 'the request'),
        );
    }
    // Every kind of ending in numbers, so that the comparison cannot pass by never meeting one.
    assert.ok(counts.routable > 1000 && counts.refused > 500, JSON.stringify(counts));
    assert.ok(counts.compressed > 100 && counts.waiting > 80, JSON.stringify(counts));
    assert.ok(problems.size >= 14, [...problems].join('\n'));
  });
});
