import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacketDecoder } from '../../../src/decode/packet.js';
import type { CaptureFrame } from '../../../src/model/packet.js';
import { BufferList } from '../../support/buffer-list.js';
import { LT, ipPacket, tcpIpFrame, type TcpPacketSpec } from '../../support/capture-builder.js';

const A: TcpPacketSpec = { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1234, dstPort: 80, flags: 'A' };

function frame(linkType: number, data: Uint8Array, originalLength = data.length): CaptureFrame {
  return { ts: 1, linkType, interfaceId: 0, data, originalLength };
}

test('packet: every frame lands in one bucket of the stats', () => {
  const udp = ipPacket(A);
  udp[9] = 17;
  const whole = tcpIpFrame(LT.ETHERNET, { ...A, payload: 'xyz' });
  const frames: CaptureFrame[] = [
    frame(LT.ETHERNET, whole), // tcp
    frame(LT.ETHERNET, whole.subarray(0, whole.length - 1), whole.length), // tcp, payload truncated
    frame(LT.ETHERNET, whole.subarray(0, 20), whole.length), // truncated in the IP header
    frame(LT.ETHERNET, new BufferList().zeros(12).uint16(0x0806).zeros(28).join()), // nonIp
    frame(LT.RAW, udp), // nonTcp
    frame(LT.RAW, ipPacket({ ...A, fragment: { offset: 1, more: false } })), // fragment
    frame(LT.RAW, Uint8Array.of(0x44, ...new Uint8Array(39))), // malformed: IHL 4 is below the minimum 5
    frame(300, whole), // unsupported
  ];
  const decoder = new PacketDecoder();
  const results = frames.map((f) => decoder.decode(f));
  assert.equal(results.filter((r) => r !== null).length, 2);
  assert.deepEqual(decoder.stats, {
    frames: 8,
    tcp: 2,
    truncated: 2, // one returned with a short payload, one dropped
    nonIp: 1,
    nonTcp: 1,
    fragments: 1,
    malformed: 1,
    unsupportedLinkTypes: { 300: 1 },
    tunnelled: 0,
    datagramsReassembled: 0,
    datagramsIncomplete: 0,
    datagramsDiscarded: 0,
  });
});

test('packet: fields of the returned TcpPacket', () => {
  const data = tcpIpFrame(LT.LINUX_SLL2, { ...A, seq: 5, ack: 6, flags: 'FA', window: 512, payload: 'bye' });
  const packet = new PacketDecoder().decode({
    ts: 1_700_000_000_123_456.5,
    linkType: LT.LINUX_SLL2,
    interfaceId: 3,
    data,
    originalLength: data.length,
  });
  assert.ok(packet);
  assert.deepEqual(
    { ...packet, payload: Array.from(packet.payload) },
    {
      ts: 1_700_000_000_123_456.5,
      ipVersion: 4,
      src: '10.0.0.1',
      dst: '10.0.0.2',
      srcPort: 1234,
      dstPort: 80,
      seq: 5,
      ack: 6,
      flags: 0x11,
      window: 512,
      payloadLength: 3,
      payload: [0x62, 0x79, 0x65],
      tunnel: null,
    },
  );
});

test('packet: one decoder keeps decoding after garbage (no state leaks between frames)', () => {
  const decoder = new PacketDecoder();
  const good = tcpIpFrame(LT.RAW, { ...A, payload: 'ok' });
  for (let i = 0; i < 100; i++) {
    const junk = Uint8Array.from({ length: i }, (_, j) => (i * 31 + j * 17) & 255);
    decoder.decode(frame(LT.RAW, junk));
    const p = decoder.decode(frame(LT.RAW, good));
    assert.equal(p?.payload.length, 2);
  }
  assert.equal(decoder.stats.tcp >= 100, true);
});
