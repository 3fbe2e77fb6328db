/**
 * The allocation-free path (CaptureSink.frameAt, PacketDecoder.decodeAt) must see exactly what the
 * convenient one (frame(), decode()) sees: a frame read where it lies inside a larger buffer may
 * not read a byte past its end, and the reused TcpPacket must carry the same fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureReader, type FrameMeta } from '../../../src/decode/capture.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import type { CaptureFrame, TcpPacket } from '../../../src/model/packet.js';
import { LT, buildPcap, buildPcapng, tcpIpFrame, type TcpPacketSpec } from '../../support/capture-builder.js';

const V4: TcpPacketSpec = {
  src: '192.168.1.10',
  dst: '10.1.2.3',
  srcPort: 51000,
  dstPort: 8080,
  seq: 100,
  ack: 200,
  flags: 'PA',
  payload: 'hello',
};
const V6: TcpPacketSpec = {
  src: '2001:db8::10',
  dst: 'fe80::1',
  srcPort: 51000,
  dstPort: 443,
  seq: 7,
  ack: 9,
  flags: 'PA',
  payload: 'hi',
  vlans: [5],
};
const LINK_TYPES = [LT.ETHERNET, LT.LINUX_SLL, LT.LINUX_SLL2, LT.NULL, LT.LOOP, LT.RAW, LT.IPV4];

const plain = (p: TcpPacket | null) => p && { ...p, payload: Array.from(p.payload) };

test('frameAt: frames cut anywhere and read inside a larger buffer decode as the frames themselves', () => {
  for (const linkType of LINK_TYPES) {
    for (const spec of linkType === LT.IPV4 ? [V4] : [V4, V6]) {
      const whole = tcpIpFrame(linkType, spec);
      for (let cut = 0; cut <= whole.length; cut++) {
        const frame = whole.subarray(0, cut);
        const expected = new PacketDecoder();
        const want = plain(
          expected.decode({ ts: 7, linkType, interfaceId: 0, data: frame, originalLength: whole.length }),
        );
        // The same bytes inside a buffer with more (well-formed) bytes after them.
        const buffer = new Uint8Array(3 + whole.length * 2);
        buffer.set(whole, 3 + cut);
        buffer.set(frame, 3);
        const fast = new PacketDecoder();
        const got = plain(fast.decodeAt(buffer, 3, 3 + cut, 7, linkType));
        assert.deepEqual(got, want, `link type ${linkType}, ${spec.src}, cut at ${cut}`);
        assert.deepEqual(fast.stats, expected.stats, `link type ${linkType}, ${spec.src}, cut at ${cut}: stats`);
      }
    }
  }
});

test('frameAt: the reader gives frameAt() the frames it gives frame(), pcap and pcapng, split anywhere', () => {
  const packets = [V4, { ...V4, flags: 'A', payload: '' }, { ...V4, payload: 'x'.repeat(300) }];
  const captures = [
    buildPcap({ linkType: LT.ETHERNET, packets }),
    buildPcap({ linkType: LT.RAW, packets, byteOrder: 'be', nanos: true }),
    buildPcapng({
      interfaces: [{ linkType: LT.LINUX_SLL2 }, { linkType: LT.NULL, tsresol: 9 }],
      blocks: packets.map((p, i) => ({ ...p, interfaceId: i % 2 })),
    }),
  ];
  for (const bytes of captures) {
    const slow: CaptureFrame[] = [];
    const slowReader = new CaptureReader({ frame: (f) => slow.push({ ...f, data: f.data.slice() }) });
    slowReader.push(bytes);
    slowReader.end();
    assert.equal(slow.length, packets.length);
    for (let split = 1; split < bytes.length; split += 7) {
      const fast: CaptureFrame[] = [];
      const reader = new CaptureReader({
        frame: () => assert.fail('frame() called although frameAt() is there'),
        frameAt: (b: Uint8Array, start: number, end: number, meta: FrameMeta) =>
          fast.push({ ...meta, data: b.slice(start, end) }),
      });
      reader.push(bytes.subarray(0, split));
      reader.push(bytes.subarray(split));
      reader.end();
      assert.deepEqual(fast, slow, `split at ${split}`);
    }
  }
});
