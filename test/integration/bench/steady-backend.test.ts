// The gateway benchmark's in-repo server (benchmarks/steady-backend, Rust) built and run as the
// benchmark runs it: it answers the gateway's own health probe as a Spark Connect server does,
// streams every ExecutePlan its batches under flow control, refuses other methods, and answers
// calls from many streams of one connection at once.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CARGO_INSTALL_HINT,
  buildSteadyBackend,
  findCargo,
  startSteadyBackend,
  type Listener,
} from '../../../benchmarks/support/proxy-processes.ts';
import { probeBackend } from '../../../src/gateway/health/probe.ts';
import { grpcCall } from '../../../src/gateway/proxy/grpc-call.ts';
import {
  decodeConfigResponse,
  decodeExecutePlanResponse,
  encodeConfigRequest,
  encodeConfigResponse,
  encodeExecutePlanRequest,
  encodeExecutePlanResponse,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { prerequisiteOptions } from '../../support/prerequisite.ts';

const SERVICE = '/spark.connect.SparkConnectService';
const BATCH_BYTES = 3 * 1024 * 1024;
const BATCHES = 5;

const cargoMissing = findCargo() === undefined ? CARGO_INSTALL_HINT : undefined;

describe("the gateway benchmark's steady backend", prerequisiteOptions(cargoMissing), () => {
  let dir = '';
  let server: Listener | undefined;
  let session: http2.ClientHttp2Session | undefined;

  before(async () => {
    const binary = buildSteadyBackend();
    assert.ok(binary !== undefined, CARGO_INSTALL_HINT);
    dir = mkdtempSync(join(tmpdir(), 'sparkplane-steady-'));
    server = await startSteadyBackend(binary, dir, {
      config: encodeConfigResponse({
        sessionId: '',
        serverSideSessionId: 'a1b2c3d4-0000-4000-8000-000000000001',
        pairs: [
          { key: 'spark.app.id', value: 'local-steady-test' },
          { key: 'spark.app.startTime', value: '1700000000000' },
        ],
      }),
      executePlan: encodeExecutePlanResponse({
        sessionId: '',
        operationId: 'op',
        responseId: '0',
        serverSideSessionId: '',
        arrowBatch: { rowCount: 1n, data: Buffer.alloc(BATCH_BYTES, 7) },
      }),
      batches: BATCHES,
    });
    session = http2.connect(`http://127.0.0.1:${String(server.port)}`);
  });

  after(async () => {
    session?.destroy();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes the gateway's health probe, which reads the application id from Config", async () => {
    assert.ok(session !== undefined);
    const probe = await probeBackend(session, { timeoutMs: 5000 });
    assert.equal(probe.appId, 'local-steady-test');
    assert.equal(probe.incarnation, 'local-steady-test@1700000000000');
  });

  it('answers 200 Config calls on one connection at once', async () => {
    assert.ok(session !== undefined);
    const open = session;
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        grpcCall(
          open,
          `${SERVICE}/Config`,
          encodeConfigRequest({
            sessionId: `s-${String(index)}`,
            userId: 'u',
            operation: { get: ['a'] },
          }),
          { timeoutMs: 5000 },
        ),
      ),
    );
    for (const reply of replies) {
      assert.equal(reply.status, 0);
      const [body] = reply.messages;
      assert.ok(body !== undefined);
      assert.equal(
        decodeConfigResponse(body).serverSideSessionId,
        'a1b2c3d4-0000-4000-8000-000000000001',
      );
    }
  });

  it('streams every ExecutePlan its batches, then status 0', async () => {
    assert.ok(session !== undefined);
    const reply = await grpcCall(
      session,
      `${SERVICE}/ExecutePlan`,
      encodeExecutePlanRequest({ sessionId: 's', userId: 'u', sql: 'SELECT 1' }),
      { timeoutMs: 30_000, maxReplyBytes: 2 * BATCHES * BATCH_BYTES },
    );
    assert.equal(reply.status, 0);
    assert.equal(reply.messages.length, BATCHES);
    for (const message of reply.messages)
      assert.equal(decodeExecutePlanResponse(message).arrowBatch?.data.length, BATCH_BYTES);
  });

  it('refuses a method it has no reply for with UNIMPLEMENTED', async () => {
    assert.ok(session !== undefined);
    const reply = await grpcCall(session, `${SERVICE}/AnalyzePlan`, Buffer.alloc(0), {
      timeoutMs: 5000,
    });
    assert.equal(reply.status, 12);
  });
});
