// The Thrift shapes the probes send and read, byte for byte as apache/thrift writes them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeSaslStart,
  encodeThriftCall,
  frameThrift,
  readSaslFrame,
  readThriftMessage,
} from '../../../../src/doctor/probes/wire/thrift.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('Thrift wire', () => {
  it('writes a strict binary CALL with empty arguments', () => {
    assert.deepEqual(
      encodeThriftCall('ab', 7),
      hex('80 01 00 01  00 00 00 02  61 62  00 00 00 07  00'),
    );
    assert.deepEqual(frameThrift(hex('aa bb')), hex('00 00 00 02 aa bb'));
  });

  it('writes a SASL START with the mechanism name', () => {
    assert.deepEqual(encodeSaslStart('X-1'), hex('01 00 00 00 03 58 2d 31'));
  });

  it('reads SASL frames and waits for whole ones', () => {
    const bad = hex('03 00 00 00 03 6e 6f 21');
    const read = readSaslFrame(bad);
    assert.equal(read.kind, 'yes');
    assert.deepEqual(read.value, { status: 3, statusName: 'BAD', payload: 'no!' });
    for (let cut = 0; cut < bad.length; cut++)
      assert.equal(readSaslFrame(bad.subarray(0, cut)).kind, 'partial', `cut at ${String(cut)}`);
    assert.equal(readSaslFrame(hex('07 00 00 00 00')).kind, 'no', 'status 7 does not exist');
    assert.equal(readSaslFrame(hex('04 7f ff ff ff')).kind, 'no', 'absurd length');
  });

  it('reads a TApplicationException reply, plain and framed', () => {
    const reply = Buffer.concat([
      hex('80 01 00 03 00 00 00 01 6d 00 00 00 09'),
      hex('0b 00 01 00 00 00 03 62 61 64'),
      hex('08 00 02 00 00 00 01'),
      hex('00'),
    ]);
    const read = readThriftMessage(reply);
    assert.equal(read.kind, 'yes');
    assert.deepEqual(read.value, {
      type: 3,
      name: 'm',
      seqid: 9,
      exception: { message: 'bad', type: 1 },
    });
    assert.equal(read.bytes, reply.length);
    const framed = readThriftMessage(frameThrift(reply), true);
    assert.equal(framed.kind, 'yes');
    for (let cut = 0; cut < reply.length; cut++)
      assert.equal(
        readThriftMessage(reply.subarray(0, cut)).kind,
        'partial',
        `cut at ${String(cut)}`,
      );
  });

  it('refuses what is not a strict message', () => {
    assert.equal(readThriftMessage(hex('81 01 00 03 00 00 00 00')).kind, 'no');
    assert.equal(readThriftMessage(hex('80 01 00 09 00 00 00 00')).kind, 'no', 'type 9');
    assert.equal(readThriftMessage(hex('80 01 00 02 7f 00 00 00')).kind, 'no', 'huge name');
    assert.equal(readThriftMessage(hex('48 54 54 50')).kind, 'no', 'HTTP');
    // An exception struct with a field type the reader does not skip.
    assert.equal(
      readThriftMessage(hex('80 01 00 03 00 00 00 00 00 00 00 01 0f 00 03 00')).kind,
      'no',
    );
  });
});
