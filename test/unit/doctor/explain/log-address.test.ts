// Addresses as Spark's logs print them, and the look-alikes (timestamps, stack frames, gRPC's
// `ipv4:` prefix) that must not be taken for one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressesIn,
  blockManagerIn,
  firstAddress,
} from '../../../../src/doctor/explain/log-address.ts';

describe('addressesIn', () => {
  for (const [line, host, port, name] of [
    ['Failed to connect to /10.0.1.23:7337', '10.0.1.23', 7337, undefined],
    [
      'Failed to connect to spark-exec-4.spark.svc/10.0.4.4:35431',
      '10.0.4.4',
      35431,
      'spark-exec-4.spark.svc',
    ],
    [
      'Failed to connect to spark-exec-4.spark.svc/<unresolved>:35431',
      'spark-exec-4.spark.svc',
      35431,
      undefined,
    ],
    ['Connection refused: localhost/[0:0:0:0:0:0:0:1]:7337', '0:0:0:0:0:0:0:1', 7337, 'localhost'],
    [
      'Resolved authority: hs2.analytics.internal:10000',
      'hs2.analytics.internal',
      10000,
      undefined,
    ],
    [
      'last error: UNKNOWN: ipv4:127.0.0.1:43359: Failed to connect to remote host',
      '127.0.0.1',
      43359,
      undefined,
    ],
    ['"host_port":"/127.0.0.1:53914"', '127.0.0.1', 53914, undefined],
  ] as const) {
    it(`finds ${host}:${port} in ${JSON.stringify(line)}`, () => {
      const found = firstAddress(line);
      assert.equal(found?.host, host);
      assert.equal(found.port, port);
      assert.equal(found.name, name);
    });
  }

  for (const line of [
    '24/06/03 14:05:40 ERROR RetryingBlockTransferor: Exception',
    '{"ts":"2026-11-21T05:24:27.104Z","level":"WARN"}',
    '\tat org.apache.spark.network.util.TransportFrameDecoder.decodeNext(TransportFrameDecoder.java:148)',
    'Caused by: something at Foo.scala:42',
    'took 25.815367 s on port 99999 of host:0',
  ]) {
    it(`finds nothing in ${JSON.stringify(line)}`, () => {
      assert.deepEqual(addressesIn(line), []);
    });
  }
});

describe('blockManagerIn', () => {
  it('reads executor, host and port of a BlockManagerId', () => {
    assert.deepEqual(
      blockManagerIn('FetchFailed(BlockManagerId(3, 10.0.1.23, 7337, None), shuffleId=2'),
      {
        executorId: '3',
        address: { host: '10.0.1.23', port: 7337, text: 'BlockManagerId(3, 10.0.1.23, 7337,' },
      },
    );
    assert.equal(blockManagerIn('FetchFailed(null, shuffleId=6'), undefined);
  });
});
