// The agent's request parser: every op with its fields, and a clear, coded refusal for
// everything else, so garbage is answered rather than crashing or silently ignored.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_PROBE_TIMEOUT_MS,
  MAX_TRANSFER_BYTES,
  encodeAnswer,
  encodeError,
  parseRequest,
} from '../../../../src/doctor/agent/messages.ts';

describe('parseRequest', () => {
  it('reads each op', () => {
    assert.deepEqual(parseRequest('{"id":1,"op":"hello"}'), {
      ok: true,
      request: { id: 1, op: 'hello' },
    });
    assert.deepEqual(parseRequest('{"id":2,"op":"sink","bytes":1400}'), {
      ok: true,
      request: { id: 2, op: 'sink', bytes: 1400 },
    });
    assert.deepEqual(parseRequest('{"id":3,"op":"source","bytes":0}'), {
      ok: true,
      request: { id: 3, op: 'source', bytes: 0 },
    });
    assert.deepEqual(parseRequest('{"id":4,"op":"probe","host":"10.0.0.2","port":7337}'), {
      ok: true,
      request: { id: 4, op: 'probe', host: '10.0.0.2', port: 7337, timeoutMs: 3000 },
    });
    assert.deepEqual(parseRequest('{"id":5,"op":"half-open"}'), {
      ok: true,
      request: { id: 5, op: 'half-open' },
    });
    assert.deepEqual(parseRequest('{"id":6,"op":"ping"}'), {
      ok: true,
      request: { id: 6, op: 'ping' },
    });
  });

  it('caps a probe timeout at the agent limit', () => {
    const parsed = parseRequest('{"id":1,"op":"probe","host":"h","port":1,"timeoutMs":999999}');
    assert.ok(parsed.ok);
    assert.equal(parsed.request.op === 'probe' && parsed.request.timeoutMs, MAX_PROBE_TIMEOUT_MS);
  });

  const refusals: [string, number | null, string, RegExp][] = [
    ['GET / HTTP/1.1', null, 'AGENT_BAD_REQUEST', /not JSON/],
    ['[1,2]', null, 'AGENT_BAD_REQUEST', /not a JSON object/],
    ['{"op":"hello"}', null, 'AGENT_BAD_REQUEST', /"id"/],
    ['{"id":1.5,"op":"hello"}', null, 'AGENT_BAD_REQUEST', /"id"/],
    ['{"id":7,"op":"shutdown"}', 7, 'AGENT_UNKNOWN_OP', /knows hello, ping/],
    ['{"id":7,"op":"sink"}', 7, 'AGENT_BAD_REQUEST', /"bytes"/],
    ['{"id":7,"op":"sink","bytes":-1}', 7, 'AGENT_BAD_REQUEST', /"bytes"/],
    [
      `{"id":7,"op":"source","bytes":${String(MAX_TRANSFER_BYTES + 1)}}`,
      7,
      'AGENT_BAD_REQUEST',
      /over the limit/,
    ],
    ['{"id":7,"op":"probe","host":"a b","port":1}', 7, 'AGENT_BAD_REQUEST', /"host"/],
    ['{"id":7,"op":"probe","host":"h","port":70000}', 7, 'AGENT_BAD_REQUEST', /"port"/],
    [
      '{"id":7,"op":"probe","host":"h","port":1,"timeoutMs":0}',
      7,
      'AGENT_BAD_REQUEST',
      /timeoutMs/,
    ],
  ];
  for (const [line, id, code, message] of refusals) {
    it(`refuses ${line} with ${code}`, () => {
      const parsed = parseRequest(line);
      assert.ok(!parsed.ok);
      assert.equal(parsed.id, id);
      assert.equal(parsed.code, code);
      assert.match(parsed.message, message);
    });
  }
});

describe('answer lines', () => {
  it('are one JSON object per line, ok or with a coded error', () => {
    assert.equal(encodeAnswer(3, { op: 'pong' }), '{"id":3,"ok":true,"op":"pong"}\n');
    assert.deepEqual(JSON.parse(encodeError(null, 'AGENT_LINE_TOO_LONG', 'too long')), {
      id: null,
      ok: false,
      error: { code: 'AGENT_LINE_TOO_LONG', message: 'too long' },
    });
  });
});
