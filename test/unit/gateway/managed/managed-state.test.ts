import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  freePortInRange,
  parsePortRange,
  readManagedState,
  writeManagedState,
} from '../../../../src/gateway/managed/managed-state.ts';

const dir = mkdtempSync(join(tmpdir(), 'sparkplane-managed-state-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('port ranges', () => {
  it('parses FIRST-LAST and a single port', () => {
    assert.deepEqual(parsePortRange('15100-15199'), { first: 15100, last: 15199 });
    assert.deepEqual(parsePortRange(' 7000 '), { first: 7000, last: 7000 });
  });

  it('refuses reversed, out-of-range and malformed ranges', () => {
    for (const text of ['200-100', '0-10', '65000-70000', 'a-b', '1-2-3', ''])
      assert.equal(parsePortRange(text), undefined, text);
  });

  it('skips ports taken by its servers and ports something else holds', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    assert.ok(typeof address === 'object' && address !== null);
    const held = address.port;
    try {
      const range = { first: held, last: held + 2 };
      const port = await freePortInRange('127.0.0.1', range, new Set([held + 1]));
      assert.ok(port === undefined || port === held + 2, String(port));
      assert.equal(
        await freePortInRange('127.0.0.1', { first: held, last: held }, new Set()),
        undefined,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('the state file', () => {
  it('round-trips the servers it writes', () => {
    const file = join(dir, 'servers.json');
    const servers = [
      {
        name: 'sparkplane-connect-1',
        key: null,
        host: '127.0.0.1',
        port: 15100,
        pid: 4242,
        logFile: '/var/log/x.log',
        startedAt: 1,
      },
      {
        name: 'sparkplane-connect-user-alice-2',
        key: 'user:alice',
        host: '127.0.0.1',
        port: 15101,
        pid: 4243,
        logFile: '/var/log/y.log',
        startedAt: 2,
      },
    ];
    writeManagedState(file, servers);
    assert.deepEqual(readManagedState(file), servers);
  });

  it('reads nothing from a missing, corrupt or foreign file', () => {
    assert.deepEqual(readManagedState(join(dir, 'missing.json')), []);
    writeFileSync(join(dir, 'corrupt.json'), '{"version": 1, "servers": [');
    assert.deepEqual(readManagedState(join(dir, 'corrupt.json')), []);
    writeFileSync(join(dir, 'other.json'), '{"version": 2, "servers": []}');
    assert.deepEqual(readManagedState(join(dir, 'other.json')), []);
    assert.deepEqual(readManagedState(undefined), []);
  });
});
