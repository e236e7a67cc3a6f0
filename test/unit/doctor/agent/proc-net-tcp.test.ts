// Reading /proc/net/tcp{,6}: lines captured on this kernel with a SYN-ACK dropped on loopback (a
// real SYN_RECV beside the client's SYN_SENT), IPv4 and IPv6, and the address forms the return-path
// proof compares.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import {
  decodeEndpoint,
  parseTcpTable,
  plainAddress,
  sameEndpoint,
} from '../../../../src/doctor/agent/proc-net-tcp.ts';

const FIXTURES = resolve(import.meta.dirname, '../../../fixtures/doctor/agent');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

describe('parseTcpTable', () => {
  it('reads the captured IPv4 table: listener, SYN_SENT client and SYN_RECV server of one 4-tuple', () => {
    const entries = parseTcpTable(fixture('proc-net-tcp-syn-recv.txt'));
    assert.deepEqual(entries, [
      {
        local: { address: '127.0.0.1', port: 7337 },
        remote: { address: '0.0.0.0', port: 0 },
        state: 'LISTEN',
      },
      {
        local: { address: '127.0.0.1', port: 44528 },
        remote: { address: '127.0.0.1', port: 7337 },
        state: 'SYN_SENT',
      },
      {
        local: { address: '127.0.0.1', port: 7337 },
        remote: { address: '127.0.0.1', port: 44528 },
        state: 'SYN_RECV',
      },
    ]);
  });

  it('reads the captured IPv6 table', () => {
    const entries = parseTcpTable(fixture('proc-net-tcp6-syn-recv.txt'));
    assert.deepEqual(
      entries.map((entry) => [entry.state, entry.local, entry.remote]),
      [
        ['LISTEN', { address: '::1', port: 7337 }, { address: '::', port: 0 }],
        ['SYN_RECV', { address: '::1', port: 7337 }, { address: '::1', port: 50350 }],
        ['SYN_SENT', { address: '::1', port: 50350 }, { address: '::1', port: 7337 }],
      ],
    );
  });

  it('passes over headers, blank lines and lines of another shape, and names unknown states OTHER', () => {
    const text = [
      '  sl  local_address rem_address   st',
      '',
      '   0: nonsense',
      '   1: 0100007F:1CA9 0100007F:ADF0',
      '   2: 0100007F:1CA9 0100007F:ADF0 06 00000000:00000000',
      '   3: 0100007F:1CA9 0100007F:XYZW 03',
    ].join('\n');
    assert.deepEqual(parseTcpTable(text), [
      {
        local: { address: '127.0.0.1', port: 7337 },
        remote: { address: '127.0.0.1', port: 44528 },
        state: 'OTHER',
      },
    ]);
  });
});

describe('decodeEndpoint', () => {
  it('turns each little-endian word around: a private IPv4 address and port 7008', () => {
    // 10.231.2.2 is 0A E7 02 02 on the wire; the kernel prints the 32-bit word in host order.
    assert.deepEqual(decodeEndpoint('0202E70A:1B60'), { address: '10.231.2.2', port: 7008 });
  });

  it('writes IPv4-mapped IPv6 the way Node does, and compresses IPv6 zeros', () => {
    assert.deepEqual(decodeEndpoint('0000000000000000FFFF00000100007F:1CA9'), {
      address: '::ffff:127.0.0.1',
      port: 7337,
    });
    // 2001:db8::1 — words 20010db8, 0, 0, 00000001, each little-endian.
    assert.deepEqual(decodeEndpoint('B80D0120000000000000000001000000:0050'), {
      address: '2001:db8::1',
      port: 80,
    });
    // fe80::1:2 with no zero run long enough to keep.
    assert.equal(decodeEndpoint('000080FE000000000000000002000100:0016')?.address, 'fe80::1:2');
  });

  it('refuses what is not an address', () => {
    assert.equal(decodeEndpoint('0100007F'), undefined);
    assert.equal(decodeEndpoint('0100007:1CA9'), undefined);
    assert.equal(decodeEndpoint(''), undefined);
  });
});

describe('address comparison', () => {
  it('treats ::ffff:a.b.c.d and a.b.c.d as one address', () => {
    assert.equal(plainAddress('::FFFF:10.0.0.1'), '10.0.0.1');
    assert.equal(plainAddress('fe80::1'), 'fe80::1');
    assert.ok(
      sameEndpoint({ address: '::ffff:10.0.0.1', port: 1 }, { address: '10.0.0.1', port: 1 }),
    );
    assert.ok(!sameEndpoint({ address: '10.0.0.1', port: 1 }, { address: '10.0.0.1', port: 2 }));
  });
});
