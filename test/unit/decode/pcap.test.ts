import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureWarning } from '../../../src/decode/capture.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { BufferList } from '../../support/buffer-list.js';
import { DEFAULT_TS, LT, buildPcap, readCapture, type TcpPacketSpec } from '../../support/capture-builder.js';

// Sequence numbers as a stack sends them (the request starts after the SYN's), so tshark reads the
// same request (test/support/tshark-check.ts).
const PACKETS: TcpPacketSpec[] = [
  { ts: 1_700_000_000_000_001, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 50000, dstPort: 80, seq: 1000, flags: 'S' },
  {
    ts: 1_700_000_000_250_000,
    src: '10.0.0.2',
    dst: '10.0.0.1',
    srcPort: 80,
    dstPort: 50000,
    seq: 5000,
    ack: 1001,
    flags: 'SA',
  },
  {
    ts: 1_700_000_001_999_999,
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 50000,
    dstPort: 80,
    seq: 1001,
    ack: 5001,
    flags: 'PA',
    payload: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
  },
];

for (const byteOrder of ['le', 'be'] as const) {
  for (const nanos of [false, true]) {
    const name =
      `pcap: ${byteOrder === 'le' ? 'little' : 'big'}-endian, ` + `${nanos ? 'nanosecond' : 'microsecond'} timestamps`;
    test(name, () => {
      const bytes = buildPcap({ byteOrder, nanos, linkType: LT.LINUX_SLL, snaplen: 65535, packets: PACKETS });
      const { frames, infos, warnings } = readCapture(bytes);
      assert.deepEqual(warnings, []);
      assert.deepEqual(infos, [
        {
          format: 'pcap',
          byteOrder,
          version: '2.4',
          linkTypes: [LT.LINUX_SLL],
          snaplen: 65535,
          tsUnitsPerSecond: nanos ? 1e9 : 1e6,
          sections: 1,
          interfaces: [{ id: 0, linkType: LT.LINUX_SLL, snaplen: 65535, tsUnitsPerSecond: nanos ? 1e9 : 1e6 }],
        },
      ]);
      assert.deepEqual(
        frames.map((f) => f.ts),
        PACKETS.map((p) => p.ts),
      );
      const decoder = new PacketDecoder();
      const decoded = frames.map((f) => decoder.decode(f));
      assert.deepEqual(
        decoded.map((p) => [p?.src, p?.srcPort, p?.flags, p?.payloadLength]),
        [
          ['10.0.0.1', 50000, 0x02, 0],
          ['10.0.0.2', 80, 0x12, 0],
          ['10.0.0.1', 50000, 0x18, 27],
        ],
      );
    });
  }
}

test('pcap: nanosecond timestamps keep their sub-microsecond part', () => {
  const bytes = buildPcap({ nanos: true, packets: [{ ...PACKETS[0]!, ts: 1_700_000_000_000_123.25 }] });
  const [frame] = readCapture(bytes).frames;
  assert.ok(Math.abs(frame!.ts - 1_700_000_000_000_123.25) < 0.001);
});

test('pcap: the FCS bits above the link type are masked off', () => {
  // F bit (0x04000000) set, FCS length 4 bytes (2 in 16-bit units at bits 28-31).
  const bytes = buildPcap({ linkType: LT.ETHERNET, linkTypeFlags: 0x24000000, packets: PACKETS });
  const { frames, infos } = readCapture(bytes);
  assert.deepEqual(infos[0]?.linkTypes, [LT.ETHERNET]);
  assert.ok(frames.every((f) => f.linkType === LT.ETHERNET));
});

test('pcap: frames cut by the snap length keep their original length', () => {
  const bytes = buildPcap({ snaplen: 60, packets: PACKETS });
  const { frames } = readCapture(bytes);
  assert.equal(frames[2]!.data.length, 60);
  assert.equal(frames[2]!.originalLength, 14 + 20 + 20 + 27);
  const decoder = new PacketDecoder();
  const packet = decoder.decode(frames[2]!);
  assert.equal(packet?.payloadLength, 27);
  assert.equal(packet?.payload.length, 6);
  assert.equal(decoder.stats.truncated, 1);
});

test('pcap: a header without packets is a valid, empty capture', () => {
  const { frames, infos, warnings, reader } = readCapture(buildPcap({ packets: [] }));
  assert.equal(frames.length, 0);
  assert.equal(infos.length, 1);
  assert.deepEqual(warnings, []);
  assert.equal(reader.bytes, 24);
});

test('pcap: an unknown major version is a warning, the records are still read', () => {
  const { frames, warnings } = readCapture(buildPcap({ version: [3, 0], packets: PACKETS }));
  assert.equal(frames.length, 3);
  assert.deepEqual(
    warnings.map((w) => w.code),
    [CaptureWarning.UNKNOWN_VERSION],
  );
});

test('pcap: an absurd record length stops the reading with a warning; earlier frames are kept', () => {
  const good = buildPcap({ byteOrder: 'be', packets: PACKETS });
  for (const included of [0xffffffff, 64 * 1024 * 1024 + 1]) {
    const bad = new BufferList('be')
      .bytes(good)
      .uint32(1)
      .uint32(0)
      .uint32(included)
      .uint32(included)
      .zeros(100)
      .join();
    const after = new BufferList()
      .bytes(bad)
      .bytes(buildPcap({ byteOrder: 'be', packets: PACKETS }).subarray(24))
      .join();
    const { frames, warnings } = readCapture(after);
    assert.equal(frames.length, 3);
    assert.deepEqual(
      warnings.map((w) => w.code),
      [CaptureWarning.BAD_RECORD_LENGTH],
    );
  }
  // The limit can be lowered.
  const { frames, warnings } = readCapture(good, { maxRecordLength: 60 });
  assert.equal(frames.length, 2);
  assert.equal(warnings[0]?.code, CaptureWarning.BAD_RECORD_LENGTH);
});

test('pcap: a file cut inside a record keeps the whole records and warns KAL_WARN_TRUNCATED', () => {
  const bytes = buildPcap({ packets: PACKETS });
  assert.equal(bytes.length, 261);
  // Records end at 24 + 16 + 54 = 94, 164 and 261 (the file length).
  for (const [cut, whole] of [
    [25, 0],
    [39, 0],
    [40, 0],
    [97, 1],
    [164, 2],
    [260, 2],
  ] as const) {
    const { frames, warnings } = readCapture(bytes.subarray(0, cut));
    assert.equal(frames.length, whole, `cut at ${cut}`);
    assert.deepEqual(
      warnings.map((w) => w.code),
      cut === 164 ? [] : ['KAL_WARN_TRUNCATED'],
    );
  }
  // A file header cut short is a truncated capture too.
  const { warnings } = readCapture(bytes.subarray(0, 10));
  assert.deepEqual(
    warnings.map((w) => w.code),
    ['KAL_WARN_TRUNCATED'],
  );
});

test('pcap: default timestamps of the builder are one millisecond apart', () => {
  const packets = PACKETS.map(({ ts: _ts, ...p }) => p);
  const { frames } = readCapture(buildPcap({ packets }));
  assert.deepEqual(
    frames.map((f) => f.ts),
    [DEFAULT_TS, DEFAULT_TS + 1000, DEFAULT_TS + 2000],
  );
});
