// The native request scan (scanRequest of the addon) held to the TypeScript it replaces:
// readRoutingFields(scanMessage(message, requestScanSpec(method)), method), with GENERIC_ROUTING
// for a method the table does not know. Same fields, or the same error code and text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GatewayError } from '../../../../src/gateway/errors.ts';
import { loadNativeCore, type NativeCore } from '../../../../src/gateway/native/native-core.ts';
import { GENERIC_ROUTING } from '../../../../src/gateway/proxy/stream-proxy.ts';
import { scanMessage } from '../../../../src/gateway/wire/proto-scanner.ts';
import {
  SPARK_CONNECT_METHODS,
  isSparkConnectMethod,
  readRoutingFields,
  requestScanSpec,
  type SparkConnectMethodName,
} from '../../../../src/gateway/wire/spark-connect.ts';
import {
  encodeAnalyzeSparkVersionRequest,
  encodeConfigRequest,
  encodeExecutePlanRequest,
  encodeReleaseSessionRequest,
} from '../../../../src/gateway/wire/spark-connect-codecs.ts';
import { prerequisiteOptions } from '../../../support/prerequisite.ts';
import { prng } from '../../../support/prng.ts';

type Outcome = { fields: Record<string, string> } | { error: string; code: string };

const LEN = WireType.LengthDelimited;
const METHODS = Object.keys(SPARK_CONNECT_METHODS) as SparkConnectMethodName[];
/** Names the table does not know, read as GENERIC_ROUTING. */
const UNKNOWN_METHODS = ['', 'Nope', 'toString', 'executePlan', 'ExecutePlan '];

function nativeCore(): NativeCore {
  const loaded = loadNativeCore();
  assert.ok(loaded.core, loaded.missing);
  return loaded.core;
}

function typescriptScan(method: string, message: Buffer): Outcome {
  const known = isSparkConnectMethod(method) ? method : GENERIC_ROUTING;
  try {
    const fields = readRoutingFields(scanMessage(message, requestScanSpec(known)), known);
    return { fields: { ...fields } };
  } catch (error) {
    assert.ok(error instanceof GatewayError, String(error));
    return { error: error.message, code: error.code };
  }
}

function nativeScan(core: NativeCore, method: string, message: Buffer): Outcome {
  try {
    const fields = core.scanRequest(method, message);
    for (const value of Object.values(fields)) assert.equal(typeof value, 'string');
    return { fields: { ...fields } };
  } catch (error) {
    assert.ok(error instanceof Error, String(error));
    return { error: error.message, code: String((error as Error & { code?: unknown }).code) };
  }
}

/** Both scans of the same message; returns the (shared) outcome. */
function assertSame(core: NativeCore, method: string, message: Buffer, label = ''): Outcome {
  const expected = typescriptScan(method, message);
  const actual = nativeScan(core, method, message);
  assert.deepStrictEqual(actual, expected, `${method} ${label} ${message.toString('hex')}`);
  return expected;
}

const finish = (writer: BinaryWriter): Buffer => Buffer.from(writer.finish());

function userContext(userId: string, userName?: string): Uint8Array {
  const writer = new BinaryWriter().tag(1, LEN).string(userId);
  if (userName !== undefined) writer.tag(2, LEN).string(userName);
  // extensions = 999: a google.protobuf.Any { type_url = 1; value = 2 }, skipped by the gateway.
  writer.tag(999, LEN).fork().tag(1, LEN).string('type.googleapis.com/x.Ext').tag(2, LEN);
  writer.bytes(Buffer.from('0801', 'hex')).join();
  return writer.finish();
}

/** A request of `method` with every routing field it carries and fields the gateway skips. */
function fullRequest(method: SparkConnectMethodName, tag: string): Buffer {
  const { request } = SPARK_CONNECT_METHODS[method];
  const routed = new Set([1, 2, request.operationId, request.observedServerSideSessionId]);
  routed.add(request.newSessionId);
  const writer = new BinaryWriter()
    .tag(1, LEN)
    .string(`00112233-4455-6677-8899-${tag}`)
    .tag(2, LEN)
    .bytes(userContext(`user-${tag}`, `User ${tag} ✓`));
  // Fields of other kinds at numbers this method does not route by: a nested plan, a varint,
  // the fixed widths.
  const free = [3, 4, 5, 9, 10, 17, 20].filter((field) => !routed.has(field));
  writer.tag(free[0] ?? 30, LEN).bytes(finish(new BinaryWriter().tag(1, LEN).string('SELECT 1')));
  writer.tag(free[1] ?? 31, WireType.Varint).uint64(2n ** 63n + 5n);
  writer.tag(free[2] ?? 32, WireType.Bit64).fixed64(7n);
  writer.tag(1000, WireType.Bit32).fixed32(9);
  if (request.operationId !== undefined) writer.tag(request.operationId, LEN).string(`op-${tag}`);
  if (request.observedServerSideSessionId !== undefined)
    writer.tag(request.observedServerSideSessionId, LEN).string(`server-${tag}`);
  if (request.newSessionId !== undefined)
    writer.tag(request.newSessionId, LEN).string(`new-${tag}`);
  return finish(writer);
}

const identity = { sessionId: 'c0ffee00-0000-4000-8000-000000000001', userId: 'alice' };
/** Requests as the gateway's own codecs write them, with the method they belong to. */
const CODEC_REQUESTS: [SparkConnectMethodName, Buffer][] = [
  ['Config', encodeConfigRequest({ ...identity, operation: { set: { 'spark.a': 'b' } } })],
  ['Config', encodeConfigRequest({ ...identity, clientType: 'py', operation: { get: ['k'] } })],
  ['ExecutePlan', encodeExecutePlanRequest({ ...identity, operationId: 'op-1', sql: 'SELECT 1' })],
  ['ExecutePlan', encodeExecutePlanRequest({ ...identity, planBytes: Buffer.alloc(300, 1) })],
  ['ReleaseSession', encodeReleaseSessionRequest({ ...identity, clientType: 'scala' })],
  ['AnalyzePlan', encodeAnalyzeSparkVersionRequest(identity)],
];

function lenField(field: number, value: Uint8Array): Buffer {
  return finish(new BinaryWriter().tag(field, LEN).bytes(value));
}

function randomBytes(random: (bound: number) => number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let at = 0; at < length; at++) bytes[at] = random(256);
  return bytes;
}

describe('native request scan parity', prerequisiteOptions(loadNativeCore().missing), () => {
  it('reads every method’s full request as the TypeScript does', () => {
    const core = nativeCore();
    for (const method of METHODS) {
      const message = fullRequest(method, method.toLowerCase());
      const outcome = assertSame(core, method, message);
      assert.ok('fields' in outcome);
      const { request } = SPARK_CONNECT_METHODS[method];
      assert.equal(outcome.fields.userId, `user-${method.toLowerCase()}`);
      assert.equal(outcome.fields.userName, `User ${method.toLowerCase()} ✓`);
      assert.equal(outcome.fields.operationId !== undefined, request.operationId !== undefined);
      const observed = request.observedServerSideSessionId !== undefined;
      assert.equal(outcome.fields.observedServerSideSessionId !== undefined, observed);
      assert.equal(outcome.fields.newSessionId !== undefined, request.newSessionId !== undefined);
      // The same bytes read as every other method, and as names the table does not know.
      for (const other of [...METHODS, ...UNKNOWN_METHODS]) assertSame(core, other, message);
    }
    for (const [method, message] of CODEC_REQUESTS) {
      const outcome = assertSame(core, method, message);
      assert.ok('fields' in outcome && outcome.fields.userId === 'alice');
      for (const other of UNKNOWN_METHODS) assertSame(core, other, message);
    }
  });

  it('keeps the last string and merges repeated user_contexts', () => {
    const core = nativeCore();
    const messages = [
      Buffer.concat([lenField(1, Buffer.from('first')), lenField(1, Buffer.from('last'))]),
      Buffer.concat([lenField(1, Buffer.from('only')), lenField(1, Buffer.alloc(0))]),
      Buffer.concat([lenField(2, userContext('alice', 'Alice')), lenField(2, userContext('bob'))]),
      Buffer.concat([
        lenField(2, userContext('alice')),
        lenField(2, lenField(2, Buffer.from('B'))),
      ]),
      // user_id cut at the end of one occurrence goes on in the next, as merged bytes do.
      Buffer.concat([lenField(2, Buffer.from('0a0361', 'hex')), lenField(2, Buffer.from('bc'))]),
      Buffer.concat([
        lenField(2, Buffer.from('0a', 'hex')),
        lenField(2, Buffer.from('0178', 'hex')),
      ]),
      Buffer.concat(
        Array.from({ length: 16 }, (_, index) => lenField(2, userContext(`u${index}`))),
      ),
      Buffer.concat(
        Array.from({ length: 17 }, (_, index) => lenField(2, userContext(`u${index}`))),
      ),
      Buffer.concat(Array.from({ length: 17 }, () => lenField(1, Buffer.from('s')))),
      lenField(2, Buffer.alloc(0)),
      Buffer.concat([lenField(2, Buffer.alloc(0)), lenField(2, userContext(''))]),
      lenField(1, Buffer.from('efbbbf73', 'hex')),
      lenField(2, lenField(1, Buffer.from('efbbbfefbbbf75', 'hex'))),
    ];
    let merged = 0;
    for (const message of messages) {
      for (const method of [...METHODS, 'Unknown']) {
        const outcome = assertSame(core, method, message);
        if ('fields' in outcome && outcome.fields.userId !== undefined) merged++;
      }
    }
    assert.ok(merged > 50, `user ids read ${merged}`);
  });

  it('skips routing fields sent with another wire type, and refuses groups and bad tags', () => {
    const core = nativeCore();
    const writer = (): BinaryWriter => new BinaryWriter();
    const messages = [
      finish(writer().tag(1, WireType.Varint).uint32(5)),
      finish(writer().tag(1, WireType.Bit32).fixed32(5).tag(1, LEN).string('kept')),
      finish(writer().tag(2, WireType.Varint).uint32(1)),
      finish(writer().tag(2, WireType.Bit64).fixed64(1n).tag(2, LEN).bytes(userContext('u'))),
      finish(writer().tag(6, WireType.Bit64).fixed64(1n).tag(8, WireType.Varint).uint32(3)),
      finish(writer().tag(3, WireType.Bit32).fixed32(1).tag(6, LEN).string('op')),
      // user_context holding fields of every wire type, groups included.
      lenField(2, Buffer.from('0801110102030405060708250102030413081214', 'hex')),
      lenField(2, Buffer.from('0a0161', 'hex')),
      Buffer.from('0b0c', 'hex'),
      Buffer.from('1c', 'hex'),
      Buffer.from('0e', 'hex'),
      Buffer.from('0f', 'hex'),
      Buffer.from('0200', 'hex'),
      Buffer.from('8080808010', 'hex'),
      Buffer.from('ffffffff0f', 'hex'),
      Buffer.from('ffffffffffffffffff01', 'hex'),
      Buffer.from('ffffffffffffffffffff01', 'hex'),
      // Tags and lengths written in more bytes than they need.
      Buffer.from('8a80808000' + '0173', 'hex'),
      Buffer.from('8d8080808080808000' + '01', 'hex'),
      Buffer.from('8d80808080808000' + '01', 'hex'),
      Buffer.from('0a8180808080808080' + '0078', 'hex'),
      Buffer.from('0affffffffffffffffff01', 'hex'),
    ];
    for (const message of messages)
      for (const method of [...METHODS, 'Unknown']) assertSame(core, method, message);
  });

  it('reads every truncation of every method’s request as the TypeScript does', () => {
    const core = nativeCore();
    let refused = 0;
    let read = 0;
    for (const method of METHODS) {
      const message = fullRequest(method, 'cut');
      for (let end = 0; end <= message.length; end++) {
        const outcome = assertSame(core, method, message.subarray(0, end), `cut at ${end}`);
        if ('error' in outcome) refused++;
        else read++;
      }
    }
    assert.ok(refused > 500 && read > 50, `refused ${refused}, read ${read}`);
  });

  it('refuses ids too long and strings that are not UTF-8 with the same error', () => {
    const core = nativeCore();
    const long = Buffer.alloc(64 * 1024 + 1, 0x61);
    const invalid = [
      Buffer.from('ff', 'hex'),
      Buffer.from('c080', 'hex'),
      Buffer.from('eda080', 'hex'),
    ];
    for (const method of [...METHODS, 'Unknown']) {
      for (const field of [1, 2, 3, 4, 5, 6, 7, 8, 17]) {
        assertSame(core, method, lenField(field, long));
        assertSame(core, method, lenField(field, long.subarray(1)));
        assertSame(
          core,
          method,
          Buffer.concat([lenField(field, long), lenField(field, Buffer.from('x'))]),
        );
        for (const bytes of invalid) {
          assertSame(
            core,
            method,
            Buffer.concat([lenField(field, bytes), fullRequest('Config', 'x')]),
          );
          assertSame(
            core,
            method,
            Buffer.concat([fullRequest('Config', 'x'), lenField(field, bytes)]),
          );
        }
      }
      for (const bytes of invalid) {
        assertSame(core, method, lenField(2, lenField(1, bytes)));
        assertSame(core, method, lenField(2, lenField(2, bytes)));
        assertSame(core, method, lenField(2, lenField(3, bytes)));
      }
      assertSame(core, method, lenField(2, lenField(1, long)));
    }
  });

  it('nests groups in user_context as deep as the TypeScript reader does', () => {
    const core = nativeCore();
    for (const depth of [1, 99, 100, 101, 150]) {
      const groups = Buffer.concat([Buffer.alloc(depth, 0x1b), Buffer.alloc(depth, 0x1c)]);
      const outcome = assertSame(core, 'Config', lenField(2, groups), `depth ${depth}`);
      assert.equal('error' in outcome, depth > 100);
    }
  });

  it('reads seeded random and mutated messages as the TypeScript does', () => {
    const core = nativeCore();
    const random = prng(7_031_999);
    const names = [...METHODS, ...UNKNOWN_METHODS];
    const bases = [
      ...METHODS.map((method) => fullRequest(method, 'r')),
      ...CODEC_REQUESTS.map(([, m]) => m),
    ];
    const counts = { read: 0, refused: 0, userRead: 0, userRefused: 0 };
    // The errors met, numbers left out: each is a different rule both sides had to agree on.
    const problems = new Set<string>();
    for (let round = 0; round < 6000; round++) {
      const base = bases[random(bases.length)] ?? Buffer.alloc(0);
      let message: Buffer;
      const kind = random(4);
      if (kind === 0) {
        // Random bytes, mostly small field numbers and short lengths.
        message = randomBytes(random, random(40));
        for (let at = 0; at < message.length; at += 1 + random(4))
          message[at] = (message[at] ?? 0) & 0x3f;
      } else if (kind === 1) {
        // A user_context of random bytes: the reader of forEachField, not the scanner, decides.
        const inner = randomBytes(random, random(24));
        for (let at = 0; at < inner.length; at += 1 + random(3))
          inner[at] = (inner[at] ?? 0) & 0x1f;
        message = Buffer.concat([lenField(1, Buffer.from('s')), lenField(2, inner)]);
      } else {
        // A real request with a few bytes changed, inserted or removed.
        message = Buffer.from(base);
        for (let edits = 1 + random(3); edits > 0; edits--) {
          const at = random(message.length + 1);
          const edit = random(3);
          if (edit === 0 && at < message.length) message[at] = random(256);
          else if (edit === 1)
            message = Buffer.concat([
              message.subarray(0, at),
              Buffer.from([random(256)]),
              message.subarray(at),
            ]);
          else message = Buffer.concat([message.subarray(0, at), message.subarray(at + 1)]);
        }
      }
      const outcome = assertSame(
        core,
        names[random(names.length)] ?? '',
        message,
        `round ${round}`,
      );
      if ('error' in outcome) {
        counts.refused++;
        problems.add(
          outcome.error.replace(/[0-9]+/g, 'N').replace(/ the \w+ request/, ' the request'),
        );
        if (outcome.error.includes('user_context of')) counts.userRefused++;
      } else {
        counts.read++;
        if (outcome.fields.userId !== undefined) counts.userRead++;
      }
    }
    // Every kind of outcome in numbers, so that the comparison cannot pass by never meeting one.
    assert.ok(counts.read > 400 && counts.refused > 2000, JSON.stringify(counts));
    assert.ok(counts.userRead > 200 && counts.userRefused > 500, JSON.stringify(counts));
    assert.ok(problems.size >= 15, [...problems].join('\n'));
  });
});
