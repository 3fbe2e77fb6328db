import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { TcpFlag } from '../../../src/model/packet.js';
import { LT, ipPacket, type TcpPacketSpec } from '../../support/capture-builder.js';

const SPEC: TcpPacketSpec = {
  src: '10.0.0.1',
  dst: '10.0.0.2',
  srcPort: 65535,
  dstPort: 1,
  flags: 'PA',
  payload: 'abcdefghij',
};

function decodeRaw(data: Uint8Array, decoder = new PacketDecoder(), originalLength = data.length) {
  return {
    packet: decoder.decode({ ts: 0, linkType: LT.RAW, interfaceId: 0, data, originalLength }),
    stats: decoder.stats,
  };
}

test('tcp: header fields; seq and ack stay unsigned at the top of the range', () => {
  const { packet } = decodeRaw(ipPacket({ ...SPEC, seq: 0xffffffff, ack: 0x80000000, window: 0xfedc }));
  assert.ok(packet);
  assert.equal(packet.srcPort, 65535);
  assert.equal(packet.dstPort, 1);
  assert.equal(packet.seq, 4294967295);
  assert.equal(packet.ack, 2147483648);
  assert.equal(packet.window, 0xfedc);
  assert.equal(packet.flags, TcpFlag.PSH | TcpFlag.ACK);
});

test('tcp: every flag bit comes through', () => {
  for (const flag of Object.values(TcpFlag)) {
    assert.equal(decodeRaw(ipPacket({ ...SPEC, flags: flag })).packet?.flags, flag);
  }
  assert.equal(decodeRaw(ipPacket({ ...SPEC, flags: 'FSRPAUEC' })).packet?.flags, 0xff);
});

test('tcp: options (data offset > 5) are skipped, up to the maximum 40 bytes', () => {
  for (const size of [4, 12, 20, 40]) {
    const tcpOptions = new Uint8Array(size).fill(1);
    const { packet } = decodeRaw(ipPacket({ ...SPEC, tcpOptions }));
    assert.equal(packet?.payloadLength, 10);
    assert.equal(new TextDecoder().decode(packet?.payload), 'abcdefghij');
  }
});

test('tcp: a payload cut by the snap length is returned, shorter, and counted as truncated', () => {
  const data = ipPacket(SPEC);
  const decoder = new PacketDecoder();
  const cut = decodeRaw(data.subarray(0, data.length - 4), decoder, data.length).packet;
  assert.ok(cut);
  assert.equal(cut.payloadLength, 10);
  assert.equal(new TextDecoder().decode(cut.payload), 'abcdef');
  const headersOnly = decodeRaw(data.subarray(0, 40), decoder, data.length).packet;
  assert.equal(headersOnly?.payloadLength, 10);
  assert.equal(headersOnly?.payload.length, 0);
  assert.equal(decoder.stats.truncated, 2);
  assert.equal(decoder.stats.tcp, 2);
});

test('tcp: a header cut before its flags is truncated and dropped', () => {
  const data = ipPacket({ ...SPEC, tcpOptions: new Uint8Array(12) });
  const decoder = new PacketDecoder();
  for (const cut of [20, 21, 33]) assert.equal(decodeRaw(data.subarray(0, cut), decoder, data.length).packet, null);
  assert.equal(decoder.stats.truncated, 3);
  assert.equal(decoder.stats.tcp, 0);
});

test('tcp: a header cut after its flags (tcpdump -s 54, options cut) is a segment without captured payload', () => {
  // As tshark reads it: ports, sequence numbers and flags are there; the window only if captured.
  const data = ipPacket({ ...SPEC, seq: 7, ack: 9, window: 0x1234, tcpOptions: new Uint8Array(12) });
  const decoder = new PacketDecoder();
  for (const cut of [34, 35, 36, 39, 40, 51]) {
    const p = decodeRaw(data.subarray(0, cut), decoder, data.length).packet;
    assert.ok(p, `cut at ${cut}`);
    assert.deepEqual([p.srcPort, p.dstPort, p.seq, p.ack, p.flags], [65535, 1, 7, 9, TcpFlag.PSH | TcpFlag.ACK]);
    assert.equal(p.window, cut >= 36 ? 0x1234 : 0);
    assert.equal(p.payloadLength, 10);
    assert.equal(p.payload.length, 0);
  }
  assert.equal(decoder.stats.truncated, 6);
  assert.equal(decoder.stats.tcp, 6);
});

test('tcp: a data offset below 5 or beyond the segment is malformed', () => {
  const decoder = new PacketDecoder();
  const low = ipPacket(SPEC);
  low[20 + 12] = 0x40;
  const high = ipPacket(SPEC);
  high[20 + 12] = 0xf0; // 60 bytes of header in a 30-byte segment
  for (const bad of [low, high]) assert.equal(decodeRaw(bad, decoder).packet, null);
  assert.equal(decoder.stats.malformed, 2);
});
