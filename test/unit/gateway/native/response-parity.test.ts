// The native response scan (ResponseScan of the addon) held to the TypeScript it replaces:
// createResponseScan, pushed as the relay pushes it (no more once done; a throw ends it). The
// same response bytes, cut the same way, must finish at the same push with the same ids, or
// with none on both sides.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { loadNativeCore, type NativeCore } from '../../../../src/gateway/native/native-core.ts';
import { createResponseScan } from '../../../../src/gateway/proxy/session-bookkeeping.ts';
import { encodeGrpcMessage } from '../../../../src/gateway/wire/grpc-frame.ts';
import {
  responseNamesOperations,
  SPARK_CONNECT_METHODS,
  type ResponseIds,
  type SparkConnectMethodName,
} from '../../../../src/gateway/wire/spark-connect.ts';
import {
  encodeConfigResponse,
  encodeExecutePlanResponse,
  encodeReleaseSessionResponse,
} from '../../../../src/gateway/wire/spark-connect-codecs.ts';
import { cutAt, mutated } from '../../../support/cut-bytes.ts';
import { prerequisiteOptions } from '../../../support/prerequisite.ts';
import { prng } from '../../../support/prng.ts';

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;
const METHODS = Object.keys(SPARK_CONNECT_METHODS) as SparkConnectMethodName[];

/** After one push: done or not, and the ids (entries sorted, so an undefined value would show). */
type Step = string;
/** How a stream ended: with ids, done without them, or still waiting for its first message. */
type Ending = 'ids' | 'none' | 'waiting';

function nativeCore(): NativeCore {
  const loaded = loadNativeCore();
  assert.ok(loaded.core, loaded.missing);
  return loaded.core;
}

function step(done: boolean, ids: ResponseIds | undefined): Step {
  const shown = ids === undefined ? 'no ids' : JSON.stringify(Object.entries(ids).sort());
  return `done ${String(done)} ${shown}`;
}

/** As the relay drives it (stream-proxy.ts, response-side.ts): not pushed once done. */
function typescriptSteps(method: SparkConnectMethodName, chunks: readonly Buffer[]): Step[] {
  const scan = createResponseScan(method);
  return chunks.map((chunk) => {
    if (!scan.done) {
      try {
        scan.push(chunk);
      } catch {
        scan.done = true;
      }
    }
    return step(scan.done, scan.ids);
  });
}

/** Pushed every chunk, even once done: it must not look at them, nor ever throw. */
function nativeSteps(core: NativeCore, method: string, chunks: readonly Buffer[]): Step[] {
  const scan = new core.ResponseScan(method);
  return chunks.map((chunk) => {
    scan.push(chunk);
    return step(scan.done, scan.ids);
  });
}

function assertSame(
  core: NativeCore,
  method: SparkConnectMethodName,
  chunks: readonly Buffer[],
  label: string,
): Ending {
  const actual = nativeSteps(core, method, chunks);
  assert.deepStrictEqual(actual, typescriptSteps(method, chunks), label);
  const last = actual.at(-1) ?? 'done false';
  if (last.startsWith('done false')) return 'waiting';
  return last.endsWith('no ids') ? 'none' : 'ids';
}

const finish = (writer: BinaryWriter): Buffer => Buffer.from(writer.finish());

/** A response of each method as Spark writes it, ids tagged with `tag`, in field-number order. */
function responses(tag: string, arrowBytes = 40): [SparkConnectMethodName, Buffer][] {
  const session = `c0ffee00-0000-4000-8000-00000000000${tag}`;
  const server = `sessão ✓ ${tag}`;
  const operation = `op-${tag}`;
  const execute = encodeExecutePlanResponse({
    sessionId: session,
    operationId: operation,
    responseId: `response-${tag}`,
    serverSideSessionId: server,
    arrowBatch: { rowCount: 3n, data: Buffer.alloc(arrowBytes, 7) },
  });
  const strings = (...fields: [number, string][]): BinaryWriter => {
    const writer = new BinaryWriter();
    for (const [field, text] of fields) writer.tag(field, LEN).string(text);
    return writer;
  };
  const nested = (writer: BinaryWriter): Buffer => finish(writer);
  return [
    ['ExecutePlan', execute],
    [
      'ExecutePlan',
      encodeExecutePlanResponse({
        sessionId: session,
        operationId: operation,
        serverSideSessionId: server,
        resultComplete: true,
      }),
    ],
    ['ReattachExecute', execute],
    [
      'AnalyzePlan',
      finish(
        strings([1, session])
          .tag(8, LEN)
          .bytes(nested(strings([1, '4.1.0'])))
          .tag(15, LEN)
          .string(server),
      ),
    ],
    [
      'Config',
      encodeConfigResponse({
        sessionId: session,
        serverSideSessionId: server,
        pairs: [{ key: 'spark.app.id', value: 'local-1' }, { key: 'spark.unset' }],
      }),
    ],
    [
      'AddArtifacts',
      finish(
        new BinaryWriter()
          .tag(1, LEN)
          .bytes(nested(strings([1, 'jars/a.jar']).tag(2, VARINT).bool(true)))
          .tag(2, LEN)
          .string(session)
          .tag(3, LEN)
          .string(server),
      ),
    ],
    [
      'ArtifactStatus',
      finish(
        new BinaryWriter()
          .tag(1, LEN)
          .bytes(nested(strings([1, 'jars/a.jar']).tag(2, LEN).bytes(Buffer.from('0801', 'hex'))))
          .tag(2, LEN)
          .string(session)
          .tag(3, LEN)
          .string(server),
      ),
    ],
    ['Interrupt', finish(strings([1, session], [2, operation], [2, 'op-other'], [3, server]))],
    ['ReleaseExecute', finish(strings([1, session], [2, operation], [3, server]))],
    ['ReleaseSession', encodeReleaseSessionResponse(session, `\uFEFF${server}`)],
    [
      'FetchErrorDetails',
      finish(
        new BinaryWriter()
          .tag(1, VARINT)
          .int32(0)
          .tag(2, LEN)
          .bytes(nested(strings([1, 'java.lang.ArithmeticException'], [3, 'divide by zero'])))
          .tag(3, LEN)
          .string(server)
          .tag(4, LEN)
          .string(session),
      ),
    ],
    [
      'CloneSession',
      finish(strings([1, session], [2, server], [3, `clone-${tag}`], [4, `clone-server-${tag}`])),
    ],
    [
      'GetStatus',
      finish(
        strings([1, session], [2, server])
          .tag(3, LEN)
          .bytes(nested(strings([1, operation]))),
      ),
    ],
  ];
}

const FIRST = responses('1');
const SECOND = new Map(responses('2'));

describe('native response scan parity', prerequisiteOptions(loadNativeCore().missing), () => {
  it('reads every method’s first response cut at every position as the TypeScript does', () => {
    const core = nativeCore();
    const counts: Record<Ending, number> = { ids: 0, none: 0, waiting: 0 };
    let prefixesShort = 0;
    for (const [method, body] of FIRST) {
      const first = encodeGrpcMessage(body);
      prefixesShort += first.length;
      const stream = Buffer.concat([first, encodeGrpcMessage(SECOND.get(method) ?? body)]);
      for (let at = 0; at <= stream.length; at++) {
        counts[assertSame(core, method, cutAt(stream, [at]), `${method} cut at ${at}`)]++;
        counts[assertSame(core, method, [stream.subarray(0, at)], `${method} prefix ${at}`)]++;
      }
      const bytes = Array.from({ length: stream.length - 1 }, (_, index) => index + 1);
      assertSame(core, method, cutAt(stream, bytes), `${method} byte by byte`);
      // The first message's ids, every one its method reads, none from the second.
      const ids = new core.ResponseScan(method);
      ids.push(stream);
      const expected = Object.keys(SPARK_CONNECT_METHODS[method].response).sort();
      assert.deepEqual(Object.keys(ids.ids ?? {}).sort(), expected, method);
      assert.match(ids.ids?.sessionId ?? '', /1$/);
    }
    // Done exactly once the first message is whole: only a prefix short of it waits.
    assert.deepEqual(
      { none: counts.none, waiting: counts.waiting },
      { none: 0, waiting: prefixesShort },
    );
    assert.ok(counts.ids > 3000, JSON.stringify(counts));
  });

  it('streams a large ExecutePlan response, ids before or after its Arrow batch', () => {
    const core = nativeCore();
    const random = prng(20_260_612);
    const [, before] = responses('b', 4 * 1024 * 1024)[0] ?? ['ExecutePlan', Buffer.alloc(0)];
    const batch = finish(new BinaryWriter().tag(2, LEN).bytes(Buffer.alloc(3 * 1024 * 1024, 9)));
    const after = Buffer.concat([batch, finish(new BinaryWriter().tag(1, LEN).string('s-after'))]);
    for (const body of [before, after]) {
      const stream = Buffer.concat([encodeGrpcMessage(body), encodeGrpcMessage(body)]);
      const pieces = Array.from(
        { length: Math.floor(stream.length / 16_384) },
        (_, i) => (i + 1) * 16_384,
      );
      assert.equal(assertSame(core, 'ExecutePlan', cutAt(stream, pieces), '16 KiB pieces'), 'ids');
      for (let round = 0; round < 40; round++) {
        const cuts = Array.from({ length: 1 + random(5) }, () => random(stream.length + 1));
        cuts.sort((a, b) => a - b);
        const label = `cut at ${cuts.join(',')}`;
        assert.equal(assertSame(core, 'ExecutePlan', cutAt(stream, cuts), label), 'ids');
      }
    }
  });

  it('passes over an id field sent as a number, as the TypeScript does', () => {
    const core = nativeCore();
    let read = 0;
    for (const method of METHODS) {
      for (const field of Object.values(SPARK_CONNECT_METHODS[method].response)) {
        const writer = new BinaryWriter().tag(field, LEN).string(`id ${field}`);
        writer.tag(field, VARINT).uint32(5).tag(field, WireType.Bit32).fixed32(6);
        const body = finish(writer.tag(field, WireType.Bit64).fixed64(7n));
        const stream = encodeGrpcMessage(body);
        for (let at = 0; at <= stream.length; at++)
          assertSame(core, method, cutAt(stream, [at]), `${method} field ${field} cut at ${at}`);
        const scan = new core.ResponseScan(method);
        scan.push(stream);
        if (Object.values(scan.ids ?? {}).includes(`id ${field}`)) read++;
      }
    }
    assert.equal(read, 29);
  });

  it('ends without ids where the TypeScript does', () => {
    const core = nativeCore();
    const [, config] = FIRST.find(([method]) => method === 'Config') ?? ['Config', Buffer.alloc(0)];
    const ok = encodeGrpcMessage(config);
    const long = 'x'.repeat(64 * 1024 + 1);
    const streams: [SparkConnectMethodName, Buffer][] = [
      ['Config', Buffer.concat([encodeGrpcMessage(config, true), ok])],
      ['Config', encodeGrpcMessage(Buffer.from('0a05616263', 'hex'))],
      ['Config', encodeGrpcMessage(Buffer.from('0b', 'hex'))],
      ['Config', Buffer.from('16030100c8', 'hex')],
      ['Config', Buffer.from('0080000000', 'hex')],
      // A bad header after the first message, in the same chunk only when not cut between.
      ['Config', Buffer.concat([ok, Buffer.from('0200000000', 'hex')])],
      [
        'Config',
        encodeGrpcMessage(finish(new BinaryWriter().tag(4, LEN).bytes(Buffer.from('c080', 'hex')))),
      ],
      [
        'CloneSession',
        encodeGrpcMessage(finish(new BinaryWriter().tag(4, LEN).bytes(Buffer.from('ff', 'hex')))),
      ],
      ['ExecutePlan', encodeGrpcMessage(finish(new BinaryWriter().tag(12, LEN).string(long)))],
      ['Config', encodeGrpcMessage(Buffer.from('0a0173'.repeat(17), 'hex'))],
      ['Config', encodeGrpcMessage(Buffer.alloc(0))],
    ];
    const counts: Record<Ending, number> = { ids: 0, none: 0, waiting: 0 };
    for (const [index, [method, stream]] of streams.entries()) {
      const step = stream.length > 1000 ? 997 : 1;
      for (let at = 0; at <= stream.length; at += step)
        counts[assertSame(core, method, cutAt(stream, [at]), `stream ${index} cut at ${at}`)]++;
    }
    // The empty message and the late bad header cut apart have ids; everything else has none.
    assert.ok(counts.none > 400 && counts.ids >= 10, JSON.stringify(counts));
  });

  it('agrees on seeded random cuts and mutations', () => {
    const core = nativeCore();
    const random = prng(20_260_613);
    const counts: Record<Ending, number> = { ids: 0, none: 0, waiting: 0 };
    for (let round = 0; round < 4000; round++) {
      const [method, body] = FIRST[random(FIRST.length)] ?? ['Config', Buffer.alloc(0)];
      let stream = Buffer.concat([encodeGrpcMessage(body), encodeGrpcMessage(body)]);
      const kind = random(10);
      if (kind === 0) stream = stream.subarray(0, random(stream.length + 1));
      else if (kind === 1) stream[0] = random(3);
      else {
        // A few bytes changed, inserted or removed anywhere: a header, a tag, a length, an id.
        stream = mutated(stream, 1 + random(3), random, { highBit: 0x80 });
      }
      const cuts = Array.from({ length: random(6) }, () => random(stream.length + 1));
      cuts.sort((a, b) => a - b);
      // Read as its own method's response mostly, sometimes as another's.
      const as = random(4) === 0 ? (METHODS[random(METHODS.length)] ?? method) : method;
      const label = `round ${round}: ${as} ${stream.toString('hex')} cut at ${cuts.join(',')}`;
      counts[assertSame(core, as, cutAt(stream, cuts), label)]++;
    }
    // Every kind of ending in numbers, so that the comparison cannot pass by never meeting one.
    assert.ok(
      counts.ids > 1000 && counts.none > 1000 && counts.waiting > 100,
      JSON.stringify(counts),
    );
  });

  it('says which responses name operations as the TypeScript does, and knows only its methods', () => {
    const core = nativeCore();
    for (const method of METHODS)
      assert.equal(core.responseNamesOperations(method), responseNamesOperations(method), method);
    assert.equal(METHODS.filter((method) => core.responseNamesOperations(method)).length, 4);
    assert.throws(() => new core.ResponseScan('executePlan'), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => core.responseNamesOperations('toString'), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  });
});
