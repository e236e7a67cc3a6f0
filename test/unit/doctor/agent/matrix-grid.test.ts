// The matrix letters and grid, pure: each probe outcome's letter and check, the half-open match,
// and the text grid.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProbeResult } from '../../../../src/doctor/agent/messages.ts';
import { cellOf, renderGrid, buildGrid, sawHalfOpen } from '../../../../src/doctor/matrix-grid.ts';

const probe = (outcome: ProbeResult['outcome'], seen = '10.0.0.1'): ProbeResult => ({
  outcome,
  errno: outcome === 'refused' ? 'ECONNREFUSED' : null,
  elapsedMs: 3,
  local: { address: '10.0.0.1', port: 40000 },
  peer:
    outcome === 'connected'
      ? {
          name: 'b',
          version: '0.1.0',
          protocol: 1,
          ports: [7337],
          interfaces: [],
          seen: { address: seen, port: 40000 },
          local: { address: '10.0.0.2', port: 7337 },
        }
      : null,
});
const a = { host: '10.0.0.1', agent: 'a' };
const b = { host: '10.0.0.2', agent: 'b' };

describe('matrix letters', () => {
  it('gives each outcome its letter and check', () => {
    const letter = (
      result: ProbeResult | undefined,
      halfOpen = false,
    ): [string, string, string] => {
      const cell = cellOf(a, b, 7337, result, halfOpen);
      return [cell.letter, cell.check.status, cell.check.reason];
    };
    assert.deepEqual(letter(probe('connected')), ['.', 'pass', 'open']);
    assert.deepEqual(letter(probe('connected', '10.9.9.9')), ['N', 'warn', 'nat-detected']);
    assert.deepEqual(letter(probe('timeout')), ['T', 'fail', 'filtered']);
    assert.deepEqual(letter(probe('timeout'), true), ['R', 'fail', 'return-path-blocked']);
    assert.deepEqual(letter(probe('refused')), ['X', 'fail', 'refused']);
    assert.deepEqual(letter(probe('reset-after-connect')), ['M', 'fail', 'reset-after-connect']);
    assert.deepEqual(letter(probe('not-an-agent')), ['M', 'fail', 'wrong-protocol']);
    assert.deepEqual(letter(undefined), ['?', 'skip', 'not-checked']);
  });

  it('sets the source on each check and names both ends', () => {
    const cell = cellOf(a, b, 7337, probe('timeout'), true);
    assert.deepEqual(cell.check.source, { file: '10.0.0.1' });
    assert.deepEqual(cell.check.target, { host: '10.0.0.2', port: 7337, service: 'agent' });
    assert.match(cell.check.summary, /^10\.0\.0\.1 → 10\.0\.0\.2:7337: /);
  });

  it('sees our probe half-open at the destination only for its own 4-tuple and port', () => {
    const entry = (port: number, remotePort: number) => ({
      local: { address: '10.0.0.2', port },
      remote: { address: '10.0.0.1', port: remotePort },
      firstSeen: '',
      ageMs: 1500,
      current: true,
    });
    assert.ok(sawHalfOpen(probe('timeout'), [entry(7337, 40000)], 7337));
    assert.ok(!sawHalfOpen(probe('timeout'), [entry(7337, 40001)], 7337));
    assert.ok(!sawHalfOpen(probe('timeout'), [entry(7338, 40000)], 7337));
  });

  it('renders rows as sources and columns as destinations, with the legend', () => {
    const text = renderGrid(
      buildGrid([a, b], 7337, [
        ['.', 'R'],
        ['T', '.'],
      ]),
    );
    const lines = text.split('\n');
    assert.equal(lines[0], 'reachability on port 7337 (rows: from, columns: to)');
    assert.match(lines[2] ?? '', /^ {2}1 10\.0\.0\.1 +\. +R$/);
    assert.match(lines[3] ?? '', /^ {2}2 10\.0\.0\.2 +T +\.$/);
    assert.match(text, /R {2}return path/);
  });
});
