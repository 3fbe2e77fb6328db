import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4ToString } from '../../../src/decode/ipv4.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { BufferList } from '../../support/buffer-list.js';
import { LT, ipPacket, linkFrame, tcpIpFrame, type TcpPacketSpec } from '../../support/capture-builder.js';

const SPEC: TcpPacketSpec = {
  src: '172.16.0.1',
  dst: '172.16.0.2',
  srcPort: 40000,
  dstPort: 80,
  flags: 'PA',
  payload: 'GET / HTTP/1.1\r\n\r\n',
};

function decodeRaw(data: Uint8Array, decoder = new PacketDecoder(), originalLength = data.length) {
  return {
    packet: decoder.decode({ ts: 0, linkType: LT.RAW, interfaceId: 0, data, originalLength }),
    stats: decoder.stats,
  };
}

test('ipv4: options (IHL > 5) are skipped, from 4 bytes up to the maximum 40', () => {
  for (const size of [4, 8, 20, 40]) {
    const ipOptions = new Uint8Array(size).fill(1); // NOP
    const data = ipPacket({ ...SPEC, ipOptions });
    assert.equal(data[0]! & 0x0f, 5 + size / 4);
    const { packet } = decodeRaw(data);
    assert.equal(packet?.payloadLength, 18, `options ${size}`);
    assert.equal(new TextDecoder().decode(packet?.payload), 'GET / HTTP/1.1\r\n\r\n');
  }
});

test('ipv4: the total length bounds the packet, so Ethernet padding is not payload', () => {
  const frame = tcpIpFrame(LT.ETHERNET, { ...SPEC, payload: undefined, flags: 'A', ethernetPadding: true });
  assert.equal(frame.length, 60);
  const decoder = new PacketDecoder();
  const packet = decoder.decode({ ts: 0, linkType: LT.ETHERNET, interfaceId: 0, data: frame, originalLength: 60 });
  assert.equal(packet?.payloadLength, 0);
  assert.equal(packet?.payload.length, 0);
  assert.equal(decoder.stats.truncated, 0);
  // Trailing bytes after a packet with payload, e.g. an Ethernet FCS, are not payload either.
  const withFcs = new BufferList().bytes(tcpIpFrame(LT.ETHERNET, SPEC)).uint32(0xdeadbeef).join();
  const p2 = new PacketDecoder().decode({
    ts: 0,
    linkType: LT.ETHERNET,
    interfaceId: 0,
    data: withFcs,
    originalLength: withFcs.length,
  });
  assert.equal(p2?.payload.length, 18);
});

test('ipv4: fragments (MF set, or a non-zero offset) are held for reassembly, not decoded alone', () => {
  const decoder = new PacketDecoder();
  // A 32-byte TCP segment: every fragment but the last must be a multiple of 8 bytes (RFC 791).
  const payload = 'GET / HTTP/1';
  for (const fragment of [
    { offset: 0, more: true },
    { offset: 185, more: true },
    { offset: 370, more: false },
  ]) {
    assert.equal(decodeRaw(ipPacket({ ...SPEC, payload, fragment }), decoder).packet, null);
  }
  assert.equal(decoder.stats.fragments, 3);
  // DF with offset 0 is a whole packet.
  assert.ok(decodeRaw(ipPacket({ ...SPEC, fragment: { offset: 0, more: false } })).packet);
});

test('ipv4: other protocols are nonTcp', () => {
  const data = ipPacket(SPEC);
  data[9] = 17; // UDP
  const { packet, stats } = decodeRaw(data);
  assert.equal(packet, null);
  assert.equal(stats.nonTcp, 1);
});

test('ipv4: a header cut by the snap length is truncated; contradictory lengths are malformed', () => {
  const data = ipPacket({ ...SPEC, ipOptions: new Uint8Array(8) });
  const decoder = new PacketDecoder();
  for (const cut of [1, 19, 20, 27]) decodeRaw(data.subarray(0, cut), decoder, data.length);
  assert.equal(decoder.stats.truncated, 4);

  const ihlTooSmall = data.slice();
  ihlTooSmall[0] = 0x44;
  const totalBelowHeader = data.slice();
  totalBelowHeader[2] = 0;
  totalBelowHeader[3] = 27;
  const tcpBeyondTotal = data.slice();
  tcpBeyondTotal[2] = 0;
  tcpBeyondTotal[3] = 28 + 10; // room for 10 bytes of TCP: less than its 20-byte header
  for (const bad of [ihlTooSmall, totalBelowHeader, tcpBeyondTotal]) decodeRaw(bad, decoder);
  assert.equal(decoder.stats.malformed, 3);
});

test('ipv4: a total length of 0 (segmentation offload) falls back to the captured length', () => {
  const data = ipPacket(SPEC);
  data[2] = 0;
  data[3] = 0;
  const { packet } = decodeRaw(data);
  assert.equal(packet?.payloadLength, 18);
});

test('ipv4: addresses are dotted quads, also for values that share a cache slot', () => {
  const seen = new Map<string, string>();
  for (let i = 0; i < 5000; i++) {
    const bytes = Uint8Array.of((i * 7) & 255, (i * 13) & 255, i >> 8, i & 255);
    const text = ipv4ToString(bytes, 0);
    assert.equal(text, Array.from(bytes).join('.'));
    seen.set(text, text);
  }
  assert.equal(ipv4ToString(Uint8Array.of(0, 0, 0, 0), 0), '0.0.0.0');
  assert.equal(ipv4ToString(Uint8Array.of(255, 255, 255, 255), 0), '255.255.255.255');
  assert.equal(ipv4ToString(Uint8Array.of(9, 127, 0, 0, 1), 1), '127.0.0.1');
});

test('ipv4: the payload is a view of the frame, not a copy', () => {
  const frame = linkFrame(LT.NULL, ipPacket(SPEC));
  const packet = new PacketDecoder().decode({
    ts: 0,
    linkType: LT.NULL,
    interfaceId: 0,
    data: frame,
    originalLength: frame.length,
  });
  assert.equal(packet?.payload.buffer, frame.buffer);
  assert.equal(packet?.payload.byteOffset, frame.byteOffset + 4 + 20 + 20);
});
