import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GatewayError } from '../../../../src/gateway/errors.ts';
import {
  createFieldScanner,
  forEachField,
  scanMessage,
} from '../../../../src/gateway/wire/proto-scanner.ts';
import {
  SPARK_CONNECT_METHODS,
  SPARK_CONNECT_SERVICE,
  assertSingleUserContext,
  isSparkConnectMethod,
  parseMethodPath,
  readResponseIds,
  readRoutingFields,
  replaceUserId,
  requestScanSpec,
  responseScanSpec,
  rewriteRequestPrefix,
  type SparkConnectMethodName,
} from '../../../../src/gateway/wire/spark-connect.ts';
import {
  decodeAnalyzeSparkVersionResponse,
  decodeConfigResponse,
  decodeExecutePlanResponse,
  encodeAnalyzeSparkVersionRequest,
  encodeConfigRequest,
  encodeExecutePlanRequest,
  encodeExecutePlanResponse,
  encodeReleaseSessionRequest,
} from '../../../../src/gateway/wire/spark-connect-codecs.ts';

const LEN = WireType.LengthDelimited;
const bytesOf = (writer: BinaryWriter): Buffer => Buffer.from(writer.finish());

/** A message's top-level fields as [number, value]: strings/bytes as Buffers, varints as bigints. */
function fieldsOf(bytes: Uint8Array): [number, Buffer | bigint][] {
  const out: [number, Buffer | bigint][] = [];
  forEachField(bytes, 'a test message', (field, wireType, reader) => {
    if (wireType === LEN) out.push([field, Buffer.from(reader.bytes())]);
    else if (wireType === WireType.Varint) out.push([field, BigInt(reader.uint64())]);
    else reader.skip(wireType, field);
  });
  return out;
}

/** The one LEN value of `field`, as text, or a nested message's bytes. */
function only(bytes: Uint8Array, field: number): Buffer {
  const values = fieldsOf(bytes).filter(([number]) => number === field);
  assert.equal(values.length, 1, `field ${field} once`);
  const value = values[0]?.[1];
  assert.ok(Buffer.isBuffer(value));
  return value;
}

function userContext(userId: string, userName?: string): BinaryWriter {
  const writer = new BinaryWriter().tag(1, LEN).string(userId);
  if (userName !== undefined) writer.tag(2, LEN).string(userName);
  return writer;
}

function gatewayError(code: string, message: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof GatewayError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  };
}

describe('Spark Connect methods', () => {
  it('lists the service and its twelve methods with Spark field numbers', () => {
    assert.equal(SPARK_CONNECT_SERVICE, 'spark.connect.SparkConnectService');
    const names = Object.keys(SPARK_CONNECT_METHODS);
    assert.equal(names.length, 12);
    assert.deepEqual(
      names.filter((name) => SPARK_CONNECT_METHODS[name as SparkConnectMethodName].createsSession),
      [
        'ExecutePlan',
        'AnalyzePlan',
        'Config',
        'AddArtifacts',
        'ArtifactStatus',
        'Interrupt',
        'FetchErrorDetails',
      ],
    );
    assert.deepEqual(
      names.filter(
        (name) => SPARK_CONNECT_METHODS[name as SparkConnectMethodName].streaming !== 'unary',
      ),
      ['ExecutePlan', 'AddArtifacts', 'ReattachExecute'],
    );
    assert.equal(SPARK_CONNECT_METHODS.AddArtifacts.streaming, 'client');
    assert.deepEqual(SPARK_CONNECT_METHODS.AnalyzePlan.request, {
      observedServerSideSessionId: 17,
    });
    assert.deepEqual(SPARK_CONNECT_METHODS.FetchErrorDetails.response, {
      sessionId: 4,
      serverSideSessionId: 3,
    });
    assert.deepEqual(SPARK_CONNECT_METHODS.ReattachExecute.response, {
      sessionId: 1,
      serverSideSessionId: 15,
      operationId: 12,
    });
    assert.deepEqual(SPARK_CONNECT_METHODS.ReleaseSession.request, {});
    assert.equal(SPARK_CONNECT_METHODS.GetStatus.since, '4.2');
    assert.equal(isSparkConnectMethod('CloneSession'), true);
    assert.equal(isSparkConnectMethod('toString'), false);
  });

  it('parses gRPC method paths', () => {
    assert.deepEqual(parseMethodPath('/spark.connect.SparkConnectService/ExecutePlan'), {
      service: 'spark.connect.SparkConnectService',
      method: 'ExecutePlan',
    });
    for (const path of ['', '/', '/a', 'a/b', '/a/b/c', '//b', '/a/', '/a/b?x=1/'])
      assert.equal(parseMethodPath(path), undefined, path);
  });

  it('captures the routing fields of each request and the ids of each response', () => {
    assert.deepEqual(requestScanSpec('ExecutePlan'), {
      capture: [1, 2, 6, 8],
      subject: 'the ExecutePlan request',
    });
    assert.deepEqual(requestScanSpec('CloneSession').capture, [1, 2, 5, 4]);
    assert.deepEqual(requestScanSpec('ReleaseSession').capture, [1, 2]);
    assert.deepEqual(responseScanSpec('CloneSession').capture, [1, 2, 3, 4]);
    assert.deepEqual(responseScanSpec('AddArtifacts').capture, [2, 3]);
    assert.deepEqual(responseScanSpec('ExecutePlan').capture, [1, 15, 12]);
  });
});

describe('routing fields', () => {
  const request = bytesOf(
    new BinaryWriter()
      .tag(1, LEN)
      .string('first-session')
      .tag(2, LEN)
      .fork()
      .tag(1, LEN)
      .string('alice')
      .join()
      .tag(3, LEN)
      .bytes(new Uint8Array(100))
      .tag(6, LEN)
      .string('op-1')
      .tag(8, LEN)
      .string('server-side-1')
      // Repeats: protobuf keeps the last string and merges the messages.
      .tag(1, LEN)
      .string('session-1')
      .tag(2, LEN)
      .fork()
      .tag(2, LEN)
      .string('Alice')
      .join(),
  );

  it('reads session, user, operation and observed server-side id as the server would', () => {
    const scanner = scanMessage(request, requestScanSpec('ExecutePlan'));
    assert.deepEqual(readRoutingFields(scanner, 'ExecutePlan'), {
      sessionId: 'session-1',
      userId: 'alice',
      userName: 'Alice',
      operationId: 'op-1',
      observedServerSideSessionId: 'server-side-1',
    });
    assert.throws(
      () => {
        assertSingleUserContext(scanner, 'ExecutePlan');
      },
      gatewayError(
        'GW_BAD_REQUEST',
        'the ExecutePlan request carries user_context 2 times; the gateway sets the user id and accepts one user_context per request',
      ),
    );
  });

  it('reads the new session id of CloneSession and nothing for fields a method lacks', () => {
    const clone = bytesOf(
      new BinaryWriter()
        .tag(1, LEN)
        .string('s')
        .tag(2, LEN)
        .bytes(bytesOf(userContext('u')))
        .tag(4, LEN)
        .string('new-s')
        .tag(6, LEN)
        .string('not an id of CloneSession'),
    );
    const fields = readRoutingFields(
      scanMessage(clone, requestScanSpec('CloneSession')),
      'CloneSession',
    );
    assert.deepEqual(fields, { sessionId: 's', userId: 'u', newSessionId: 'new-s' });
  });

  it('keeps a leading byte-order mark, as the server does', () => {
    const marked = bytesOf(
      new BinaryWriter()
        .tag(1, LEN)
        .string('\uFEFFs')
        .tag(2, LEN)
        .bytes(bytesOf(userContext('u'))),
    );
    const fields = readRoutingFields(scanMessage(marked, requestScanSpec('Config')), 'Config');
    assert.equal(fields.sessionId, '\uFEFFs', 'another session than "s"');
  });

  it('refuses an id that is not UTF-8 or too long to read', () => {
    const bad = bytesOf(new BinaryWriter().tag(1, LEN).bytes(Uint8Array.from([0x61, 0xff])));
    assert.throws(
      () => readRoutingFields(scanMessage(bad, requestScanSpec('Config')), 'Config'),
      gatewayError(
        'GW_MALFORMED_MESSAGE',
        'malformed protobuf in the Config request at byte 0: session_id (field 1) is not valid UTF-8',
      ),
    );
    const long = bytesOf(new BinaryWriter().tag(1, LEN).string('x'.repeat(70_000)));
    assert.throws(
      () => readRoutingFields(scanMessage(long, requestScanSpec('Config')), 'Config'),
      gatewayError(
        'GW_BAD_REQUEST',
        'the Config request has a session_id (field 1) too long for the gateway to read; Spark Connect sends ids of a few dozen bytes',
      ),
    );
  });

  it('reads the ids of a response', () => {
    const response = bytesOf(
      new BinaryWriter()
        .tag(1, LEN)
        .string('s')
        .tag(2, LEN)
        .string('ss')
        .tag(3, LEN)
        .string('new-s')
        .tag(4, LEN)
        .string('new-ss'),
    );
    const scanner = scanMessage(response, responseScanSpec('CloneSession'));
    assert.deepEqual(readResponseIds(scanner, 'CloneSession'), {
      sessionId: 's',
      serverSideSessionId: 'ss',
      newSessionId: 'new-s',
      newServerSideSessionId: 'new-ss',
    });
    const execute = encodeExecutePlanResponse({
      sessionId: 's',
      operationId: 'op',
      serverSideSessionId: 'ss',
    });
    assert.deepEqual(
      readResponseIds(scanMessage(execute, responseScanSpec('ReattachExecute')), 'ReattachExecute'),
      { sessionId: 's', serverSideSessionId: 'ss', operationId: 'op' },
    );
  });
});

describe('user id rewriting', () => {
  // user_name, an extension (field 999: Any { type_url = 1; value = 2 }) and an unknown varint.
  const rest = bytesOf(
    new BinaryWriter()
      .tag(2, LEN)
      .string('Alice A')
      .tag(999, LEN)
      .fork()
      .tag(1, LEN)
      .string('type.googleapis.com/x.Ext')
      .tag(2, LEN)
      .bytes(Uint8Array.from([1, 2, 3]))
      .join()
      .tag(7, WireType.Varint)
      .uint32(5),
  );
  const context = Buffer.concat([bytesOf(new BinaryWriter().tag(1, LEN).string('alice')), rest]);

  it('replaces user_id and keeps every other field byte for byte', () => {
    const replaced = replaceUserId(context, 'bob');
    assert.deepEqual(
      replaced,
      Buffer.concat([Buffer.from([0x0a, 3, ...Buffer.from('bob')]), rest]),
    );
    // Every user_id goes, wherever it stood; a context without one gains one.
    const twice = Buffer.concat([rest, bytesOf(new BinaryWriter().tag(1, LEN).string('mallory'))]);
    assert.deepEqual(
      replaceUserId(Buffer.concat([context, twice]), 'bob'),
      Buffer.concat([Buffer.from([0x0a, 3, ...Buffer.from('bob')]), rest, rest]),
    );
    assert.deepEqual(
      replaceUserId(Buffer.alloc(0), 'bob'),
      Buffer.from([0x0a, 3, 0x62, 0x6f, 0x62]),
    );
  });

  it('refuses a UserContext that is not protobuf', () => {
    assert.throws(
      () => replaceUserId(Buffer.from([0x0a, 0x09, 0x61]), 'bob'),
      gatewayError(
        'GW_MALFORMED_MESSAGE',
        'malformed protobuf in the user_context at byte 0: premature EOF',
      ),
    );
  });

  it('rewrites the prefix of a request so it decodes with the new user and the same session', () => {
    const request = encodeExecutePlanRequest({
      sessionId: 'session-1',
      userId: 'alice',
      sql: 'SELECT 1',
      operationId: 'op-1',
    });
    // Put the full user context (with user_name and the extension) into the request.
    const withContext = Buffer.concat([
      request.subarray(0, 11),
      bytesOf(new BinaryWriter().tag(2, LEN).bytes(context)),
      request.subarray(11 + 2 + 7),
    ]);
    const scanner = createFieldScanner(requestScanSpec('ExecutePlan'), withContext.length);
    scanner.push(withContext);
    scanner.end();
    const field2 = scanner.first(2);
    assert.ok(field2 !== undefined);
    assert.deepEqual([field2.start, field2.end], [11, 11 + 2 + context.length]);
    // The caller holds some bytes beyond field 2; the rest streams on untouched.
    const cut = field2.end + 4;
    const { bytes, delta } = rewriteRequestPrefix(withContext.subarray(0, cut), field2, 'robert');
    assert.equal(delta, 'robert'.length - 'alice'.length);
    const rewritten = Buffer.concat([bytes, withContext.subarray(cut)]);
    assert.equal(rewritten.length, withContext.length + delta);
    const routing = readRoutingFields(
      scanMessage(rewritten, requestScanSpec('ExecutePlan')),
      'ExecutePlan',
    );
    assert.deepEqual(routing, {
      sessionId: 'session-1',
      userId: 'robert',
      userName: 'Alice A',
      operationId: 'op-1',
    });
    // Decoded independently of the gateway's own readers.
    const reader = new BinaryReader(rewritten);
    const seen: [number, string][] = [];
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === 1) seen.push([1, reader.string()]);
      else if (field === 2) {
        const inner = new BinaryReader(reader.bytes());
        const [innerField] = inner.tag();
        seen.push([2, `${innerField}:${inner.string()}`]);
      } else reader.skip(wireType, field);
    }
    assert.deepEqual(seen, [
      [1, 'session-1'],
      [2, '1:robert'],
    ]);
    assert.deepEqual(only(rewritten, 3), only(withContext, 3));
  });

  it('inserts a user_context at byte 0 when a request has none', () => {
    const request = bytesOf(new BinaryWriter().tag(1, LEN).string('s').tag(6, LEN).string('op'));
    const { bytes, delta } = rewriteRequestPrefix(request, undefined, 'bob');
    assert.equal(delta, 7);
    assert.deepEqual(
      bytes,
      Buffer.concat([Buffer.from([0x12, 5, 0x0a, 3, 0x62, 0x6f, 0x62]), request]),
    );
    assert.deepEqual(
      readRoutingFields(scanMessage(bytes, requestScanSpec('ExecutePlan')), 'ExecutePlan'),
      { sessionId: 's', userId: 'bob', operationId: 'op' },
    );
    const scanner = scanMessage(request, requestScanSpec('ExecutePlan'));
    assertSingleUserContext(scanner, 'ExecutePlan', true);
    const late = Buffer.concat([
      request,
      bytesOf(new BinaryWriter().tag(2, LEN).bytes(bytesOf(userContext('eve')))),
    ]);
    assert.throws(
      () => {
        assertSingleUserContext(
          scanMessage(late, requestScanSpec('ExecutePlan')),
          'ExecutePlan',
          true,
        );
      },
      (error: unknown) => error instanceof GatewayError && error.code === 'GW_BAD_REQUEST',
    );
  });

  it('refuses a prefix that does not hold field 2', () => {
    const request = bytesOf(
      new BinaryWriter()
        .tag(1, LEN)
        .string('s')
        .tag(2, LEN)
        .bytes(bytesOf(userContext('u'))),
    );
    const field2 = scanMessage(request, requestScanSpec('Config')).first(2);
    assert.throws(
      () => rewriteRequestPrefix(request.subarray(0, 5), field2, 'bob'),
      (error: unknown) => error instanceof GatewayError && error.code === 'GW_INTERNAL',
    );
  });
});

describe('message codecs', () => {
  const identity = { sessionId: 's', userId: 'u' };
  const start = [0x0a, 1, 0x73, 0x12, 3, 0x0a, 1, 0x75];

  it('encodes ReleaseSession and AnalyzePlan(spark_version) requests to the exact bytes', () => {
    assert.deepEqual(
      [...encodeReleaseSessionRequest({ ...identity, clientType: 't' })],
      [...start, 0x1a, 1, 0x74],
    );
    assert.deepEqual([...encodeAnalyzeSparkVersionRequest(identity)], [...start, 0x52, 0]);
    assert.deepEqual(
      [...encodeAnalyzeSparkVersionRequest({ ...identity, clientType: 't' })],
      [...start, 0x1a, 1, 0x74, 0x52, 0],
    );
  });

  it('encodes Config requests for set, get and get_option', () => {
    const set = encodeConfigRequest({
      ...identity,
      clientType: 'probe',
      operation: { set: { a: '1', b: '' } },
    });
    assert.equal(only(set, 1).toString(), 's');
    assert.equal(only(only(set, 2), 1).toString(), 'u');
    assert.equal(only(set, 4).toString(), 'probe');
    const pairs = fieldsOf(only(only(set, 3), 1)).map(([, pair]) =>
      fieldsOf(pair as Buffer).map(([field, value]) => [field, String(value)]),
    );
    assert.deepEqual(pairs, [
      [
        [1, 'a'],
        [2, '1'],
      ],
      [
        [1, 'b'],
        [2, ''],
      ],
    ]);
    const get = encodeConfigRequest({ ...identity, operation: { get: ['k1', 'k2'] } });
    assert.deepEqual(
      fieldsOf(only(only(get, 3), 2)).map(([field, key]) => [field, String(key)]),
      [
        [1, 'k1'],
        [1, 'k2'],
      ],
    );
    assert.equal(
      fieldsOf(get).some(([field]) => field === 4),
      false,
    );
    const getOption = encodeConfigRequest({ ...identity, operation: { getOption: ['k'] } });
    assert.deepEqual([...only(getOption, 3)], [0x22, 3, 0x0a, 1, 0x6b]);
  });

  it('decodes a Config response', () => {
    const response = bytesOf(
      new BinaryWriter()
        .tag(1, LEN)
        .string('s')
        .tag(2, LEN)
        .fork()
        .tag(1, LEN)
        .string('k1')
        .tag(2, LEN)
        .string('v1')
        .join()
        .tag(2, LEN)
        .fork()
        .tag(1, LEN)
        .string('k2')
        .join()
        .tag(3, LEN)
        .string('deprecated')
        .tag(4, LEN)
        .string('ss')
        .tag(9, WireType.Varint)
        .uint32(1),
    );
    assert.deepEqual(decodeConfigResponse(response), {
      sessionId: 's',
      serverSideSessionId: 'ss',
      pairs: [{ key: 'k1', value: 'v1' }, { key: 'k2' }],
      warnings: ['deprecated'],
    });
  });

  it('decodes an AnalyzePlan spark_version response (field 8)', () => {
    const response = bytesOf(
      new BinaryWriter()
        .tag(1, LEN)
        .string('s')
        .tag(8, LEN)
        .fork()
        .tag(1, LEN)
        .string('4.1.0')
        .join()
        .tag(15, LEN)
        .string('ss'),
    );
    assert.deepEqual(decodeAnalyzeSparkVersionResponse(response), {
      sessionId: 's',
      serverSideSessionId: 'ss',
      version: '4.1.0',
    });
    assert.deepEqual(decodeAnalyzeSparkVersionResponse(Buffer.alloc(0)), { sessionId: '' });
  });

  it('round-trips ExecutePlan responses', () => {
    const batch = {
      sessionId: 's',
      operationId: 'op',
      responseId: 'r1',
      serverSideSessionId: 'ss',
      arrowBatch: { rowCount: 2n ** 40n, data: Buffer.from([1, 2, 3]) },
    };
    assert.deepEqual(decodeExecutePlanResponse(encodeExecutePlanResponse(batch)), batch);
    const complete = { sessionId: 's', operationId: 'op', resultComplete: true };
    assert.deepEqual(decodeExecutePlanResponse(encodeExecutePlanResponse(complete)), complete);
    assert.deepEqual(
      [...encodeExecutePlanResponse({ sessionId: '', resultComplete: true })],
      [0x0a, 0, 0x72, 0],
    );
    assert.throws(() => encodeExecutePlanResponse({ ...batch, resultComplete: true }), RangeError);
  });

  it('encodes ExecutePlan requests with SQL or opaque plan bytes', () => {
    const sql = encodeExecutePlanRequest({ ...identity, sql: 'SELECT 1', operationId: 'op' });
    // Plan { root = 1: Relation { sql = 10: SQL { query = 1 } } }
    assert.equal(only(only(only(only(sql, 3), 1), 10), 1).toString(), 'SELECT 1');
    assert.equal(only(sql, 6).toString(), 'op');
    const plan = Uint8Array.from([0x12, 0]);
    const opaque = encodeExecutePlanRequest({ ...identity, planBytes: plan, clientType: 't' });
    assert.deepEqual([...opaque], [...start, 0x1a, 2, 0x12, 0, 0x22, 1, 0x74]);
    assert.throws(() => encodeExecutePlanRequest(identity), RangeError);
  });

  it('decoders meet random bytes with a GatewayError or a result, never anything else', () => {
    let state = 99;
    const random = (bound: number): number => {
      state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
      return state % bound;
    };
    const decoders = [
      decodeConfigResponse,
      decodeAnalyzeSparkVersionResponse,
      decodeExecutePlanResponse,
      (bytes: Buffer) => replaceUserId(bytes, 'x'),
      (bytes: Buffer) =>
        readRoutingFields(scanMessage(bytes, requestScanSpec('ExecutePlan')), 'ExecutePlan'),
    ];
    let failures = 0;
    for (let round = 0; round < 3000; round++) {
      const bytes = Buffer.from(Array.from({ length: 1 + random(60) }, () => random(256)));
      // Often start with a valid tag, so decoding gets past the first byte.
      if (random(2) === 0) bytes[0] = [0x0a, 0x12, 0x42, 0x72, 0x7a][random(5)] ?? 0x0a;
      for (const decode of decoders) {
        try {
          decode(bytes);
        } catch (error) {
          assert.ok(error instanceof GatewayError, String(error));
          failures++;
        }
      }
    }
    assert.ok(failures > 0 && failures < 15000, `${failures} failures`);
  });
});
