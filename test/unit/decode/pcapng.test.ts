import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MalformedCaptureError } from '../../../src/errors.js';
import { CaptureWarning } from '../../../src/decode/capture.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { BufferList } from '../../support/buffer-list.js';
import {
  LT,
  buildPcapng,
  pcapngBlock,
  readCapture,
  type PcapngBlockSpec,
  type TcpPacketSpec,
} from '../../support/capture-builder.js';
import { withoutTshark } from '../../support/tshark-check.js';

const SYN: TcpPacketSpec = {
  ts: 1_700_000_000_000_000,
  src: '10.0.0.1',
  dst: '10.0.0.2',
  srcPort: 50000,
  dstPort: 80,
  flags: 'S',
};
const SYNACK: TcpPacketSpec = {
  ts: 1_700_000_000_000_500,
  src: '10.0.0.2',
  dst: '10.0.0.1',
  srcPort: 80,
  dstPort: 50000,
  flags: 'SA',
};
const V6: TcpPacketSpec = {
  ts: 1_700_000_000_001_000,
  src: '::1',
  dst: '::1',
  srcPort: 50001,
  dstPort: 8080,
  flags: 'PA',
  payload: 'GET /',
};

function codes(warnings: { code: string }[]): string[] {
  return warnings.map((w) => w.code);
}

for (const byteOrder of ['le', 'be'] as const) {
  test(`pcapng: ${byteOrder === 'le' ? 'little' : 'big'}-endian section with SHB, IDB and EPBs`, () => {
    const bytes = buildPcapng({
      byteOrder,
      interfaces: [{ linkType: LT.ETHERNET, snaplen: 262144, name: 'eth0' }],
      blocks: [SYN, SYNACK, V6],
    });
    const { frames, infos, warnings } = readCapture(bytes);
    assert.deepEqual(warnings, []);
    assert.deepEqual(infos.at(-1), {
      format: 'pcapng',
      byteOrder,
      version: '1.0',
      linkTypes: [LT.ETHERNET],
      snaplen: 262144,
      tsUnitsPerSecond: 1e6,
      sections: 1,
      interfaces: [{ id: 0, linkType: LT.ETHERNET, snaplen: 262144, tsUnitsPerSecond: 1e6, name: 'eth0' }],
    });
    assert.deepEqual(
      frames.map((f) => [f.ts, f.linkType, f.interfaceId]),
      [
        [SYN.ts, 1, 0],
        [SYNACK.ts, 1, 0],
        [V6.ts, 1, 0],
      ],
    );
    const decoder = new PacketDecoder();
    assert.deepEqual(
      frames.map((f) => decoder.decode(f)?.dst),
      ['10.0.0.2', '10.0.0.1', '::1'],
    );
  });
}

test('pcapng: if_tsresol in powers of 10 and of 2, and if_tsoffset', () => {
  const ts = 1_700_000_000_123_456;
  const cases: [number | undefined, number, number][] = [
    // [if_tsresol byte, units per second, tolerance in microseconds]
    [undefined, 1e6, 0],
    [6, 1e6, 0],
    [9, 1e9, 0],
    [3, 1e3, 456],
    [0, 1, 123456],
    [0x80 | 20, 2 ** 20, 1],
    [0x80 | 10, 2 ** 10, 1000],
    [0x80 | 30, 2 ** 30, 1],
  ];
  for (const [tsresol, units, tolerance] of cases) {
    const bytes = buildPcapng({ interfaces: [{ linkType: LT.RAW, tsresol }], blocks: [{ ...SYN, ts }] });
    const { frames, infos } = readCapture(bytes);
    assert.equal(infos.at(-1)?.interfaces[0]?.tsUnitsPerSecond, units, `tsresol ${tsresol}`);
    assert.ok(Math.abs(frames[0]!.ts - ts) <= tolerance, `tsresol ${tsresol}: ${frames[0]!.ts} vs ${ts}`);
  }
  const withOffset = buildPcapng({
    interfaces: [{ linkType: LT.RAW, tsoffset: 1_600_000_000 }],
    blocks: [{ ...SYN, ts }],
  });
  assert.equal(readCapture(withOffset).frames[0]?.ts, ts);
  for (const byteOrder of ['le', 'be'] as const) {
    // A raw count of 1_600_000_000 s after an offset of 100_000_000 s.
    const raw = buildPcapng({
      byteOrder,
      interfaces: [{ linkType: LT.RAW, tsoffset: 100_000_000 }],
      blocks: [{ ...SYN, tsUnits: 1_600_000_000_000_000n }],
    });
    assert.equal(readCapture(raw).frames[0]?.ts, 1_700_000_000_000_000);
  }
});

test('pcapng: nanosecond timestamps are exact to the microsecond (no 2^53 rounding)', () => {
  for (const nanos of [1_700_000_000_123_456_789n, 1_999_999_999_999_999_500n, 4_294_967_296_000n, 999n]) {
    const bytes = buildPcapng({ interfaces: [{ linkType: LT.RAW, tsresol: 9 }], blocks: [{ ...SYN, tsUnits: nanos }] });
    const ts = readCapture(bytes).frames[0]!.ts;
    const expected = Number(nanos / 1000n) + Number(nanos % 1000n) / 1000;
    assert.ok(Math.abs(ts - expected) <= 0.5, `${nanos}: ${ts} vs ${expected}`);
    assert.equal(Math.floor(ts), Number(nanos / 1000n), `${nanos}`);
  }
});

test('pcapng: several interfaces, each with its own link type and resolution', () => {
  const blocks: PcapngBlockSpec[] = [
    { ...SYN, interfaceId: 0 },
    { ...SYNACK, interfaceId: 1 },
    { ...V6, interfaceId: 2 },
    { ...SYN, interfaceId: 1 },
  ];
  const bytes = buildPcapng({
    interfaces: [{ linkType: LT.ETHERNET }, { linkType: LT.LINUX_SLL2, tsresol: 9 }, { linkType: LT.NULL, tsresol: 3 }],
    blocks,
  });
  const { frames, infos } = readCapture(bytes);
  assert.deepEqual(infos.at(-1)?.linkTypes, [LT.ETHERNET, LT.LINUX_SLL2, LT.NULL]);
  assert.deepEqual(
    frames.map((f) => [f.interfaceId, f.linkType, f.ts]),
    [
      [0, LT.ETHERNET, SYN.ts],
      [1, LT.LINUX_SLL2, SYNACK.ts],
      [2, LT.NULL, V6.ts],
      [1, LT.LINUX_SLL2, SYN.ts],
    ],
  );
  const decoder = new PacketDecoder();
  assert.equal(frames.map((f) => decoder.decode(f)).filter(Boolean).length, 4);
});

test('pcapng: an interface declared in the middle of a section', () => {
  const bytes = buildPcapng({
    interfaces: [{ linkType: LT.ETHERNET }],
    blocks: [SYN, { kind: 'idb', iface: { linkType: LT.RAW } }, { ...SYNACK, interfaceId: 1 }],
  });
  const { frames, infos } = readCapture(bytes);
  assert.equal(infos.length, 3); // SHB, first IDB, second IDB
  assert.deepEqual(
    frames.map((f) => f.linkType),
    [LT.ETHERNET, LT.RAW],
  );
});

test('pcapng: several sections, each with its own byte order and interfaces', () => {
  const bytes = buildPcapng({
    sections: [
      {
        byteOrder: 'le',
        interfaces: [{ linkType: LT.ETHERNET }, { linkType: LT.RAW }],
        blocks: [SYN, { ...SYNACK, interfaceId: 1 }],
      },
      { byteOrder: 'be', interfaces: [{ linkType: LT.LINUX_SLL }], blocks: [V6] },
      { byteOrder: 'le', interfaces: [{ linkType: LT.RAW, tsresol: 9 }], blocks: [SYN] },
    ],
  });
  const { frames, infos, warnings } = readCapture(bytes);
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    frames.map((f) => [f.interfaceId, f.linkType, f.ts]),
    [
      [0, LT.ETHERNET, SYN.ts],
      [1, LT.RAW, SYNACK.ts],
      [0, LT.LINUX_SLL, V6.ts],
      [0, LT.RAW, SYN.ts],
    ],
  );
  const last = infos.at(-1)!;
  assert.equal(last.sections, 3);
  assert.deepEqual(last.linkTypes, [LT.ETHERNET, LT.RAW, LT.LINUX_SLL]);
  assert.equal(last.interfaces.length, 1);
  assert.deepEqual(
    infos.map((i) => i.byteOrder),
    ['le', 'le', 'le', 'be', 'be', 'le', 'le'],
  );
});

test('pcapng: an interface of an earlier section is gone after a new section header', () => {
  const bytes = buildPcapng({
    sections: [
      { interfaces: [{ linkType: LT.RAW }, { linkType: LT.RAW }], blocks: [{ ...SYN, interfaceId: 1 }] },
      {
        interfaces: [{ linkType: LT.RAW }],
        blocks: [{ kind: 'raw', type: 6, body: new BufferList('le').uint32(1).zeros(16).join() }],
      },
    ],
  });
  const { frames, warnings } = readCapture(bytes);
  assert.equal(frames.length, 1);
  assert.deepEqual(codes(warnings), [CaptureWarning.MALFORMED_BLOCK]);
  assert.match(warnings[0]!.message, /interface 1/);
});

test('pcapng: Simple Packet Blocks use interface 0, its snap length, and the last timestamp', () => {
  const bytes = buildPcapng({
    interfaces: [{ linkType: LT.RAW, snaplen: 50 }],
    blocks: [{ ...SYN, kind: 'spb' }, SYNACK, { ...V6, kind: 'spb' }],
  });
  const { frames } = readCapture(bytes);
  assert.deepEqual(
    frames.map((f) => [f.ts, f.data.length, f.originalLength]),
    [
      [0, 40, 40],
      [SYNACK.ts, 40, 40],
      [SYNACK.ts, 50, 40 + 20 + 5],
    ],
  );
  // The snap length cut the last one inside its TCP header.
  const decoder = new PacketDecoder();
  assert.equal(decoder.decode(frames[2]!), null);
  assert.equal(decoder.stats.truncated, 1);
});

test('pcapng: the obsolete Packet Block (type 2) is read', () => {
  const bytes = buildPcapng({
    byteOrder: 'be',
    interfaces: [{ linkType: LT.ETHERNET }, { linkType: LT.LOOP }],
    blocks: [
      { ...SYN, kind: 'pb', interfaceId: 1 },
      { ...V6, kind: 'pb', interfaceId: 0 },
    ],
  });
  const { frames } = readCapture(bytes);
  assert.deepEqual(
    frames.map((f) => [f.interfaceId, f.linkType, f.ts]),
    [
      [1, LT.LOOP, SYN.ts],
      [0, LT.ETHERNET, V6.ts],
    ],
  );
});

test('pcapng: other blocks (name resolution, statistics, custom, unknown) are skipped by their length', () => {
  const bytes = buildPcapng({
    interfaces: [{ linkType: LT.RAW }],
    blocks: [
      {
        kind: 'raw',
        type: 4,
        body: new BufferList('le').uint16(1).uint16(8).bytes([10, 0, 0, 1]).bytes('x\0').pad(4).uint32(0).join(),
      },
      SYN,
      { kind: 'raw', type: 5, body: new Uint8Array(12) },
      { kind: 'raw', type: 0x00000bad, body: new Uint8Array(13) },
      { kind: 'raw', type: 0x40000bad, body: new Uint8Array(0) },
      { kind: 'raw', type: 0x12345678, body: Uint8Array.of(6, 0, 0, 0) }, // looks like an EPB inside: not one
      SYNACK,
    ],
  });
  const { frames, warnings } = readCapture(bytes);
  assert.deepEqual(warnings, []);
  assert.equal(frames.length, 2);
});

test('pcapng: a damaged block is skipped with a warning; reading goes on', () => {
  const good = buildPcapng({ interfaces: [{ linkType: LT.RAW }], blocks: [SYN] });
  const le = (type: number, body: Uint8Array) => pcapngBlock('le', type, body);
  const bad = [
    // EPB whose captured length runs past the block.
    le(6, new BufferList('le').uint32(0).uint32(0).uint32(0).uint32(100).uint32(100).zeros(8).join()),
    // EPB too short for its fixed fields.
    le(6, new Uint8Array(8)),
    // EPB on an interface nobody declared.
    le(6, new BufferList('le').uint32(5).uint32(0).uint32(0).uint32(0).uint32(0).join()),
    // IDB too short.
    le(1, new Uint8Array(4)),
    // Trailing length different from the leading one.
    (() => {
      const b = le(3, new Uint8Array(8));
      b[b.length - 4] = 99;
      return b;
    })(),
  ];
  // The EPB of the good file: 28 bytes of fixed fields, a 40-byte frame, the trailing length.
  const epb = good.subarray(good.length - 72);
  assert.deepEqual(Array.from(epb.subarray(0, 8)), [6, 0, 0, 0, 72, 0, 0, 0]);
  const bytes = new BufferList()
    .bytes(good)
    .bytes(bad[0]!)
    .bytes(bad[1]!)
    .bytes(bad[2]!)
    .bytes(bad[3]!)
    .bytes(bad[4]!)
    .bytes(epb)
    .join();
  const { frames, warnings } = readCapture(bytes);
  assert.equal(frames.length, 2);
  assert.deepEqual(codes(warnings), Array(5).fill(CaptureWarning.MALFORMED_BLOCK));
});

test('pcapng: a block length that cannot be skipped stops the reading with a warning', () => {
  const good = buildPcapng({ interfaces: [{ linkType: LT.RAW }], blocks: [SYN, SYNACK] });
  for (const length of [8, 13, 0x7ffffff0]) {
    const bytes = new BufferList('le')
      .bytes(good)
      .uint32(6)
      .uint32(length)
      .zeros(64)
      .bytes(good.subarray(good.length - 72))
      .join();
    const { frames, warnings } = readCapture(bytes);
    assert.equal(frames.length, 2, `length ${length}`);
    assert.deepEqual(codes(warnings), [CaptureWarning.BAD_RECORD_LENGTH]);
  }
  // A later section header without its byte-order magic, likewise.
  const bytes = new BufferList('le')
    .bytes(good)
    .uint32(0x0a0d0d0a)
    .uint32(28)
    .uint32(0x11223344)
    .zeros(16)
    .bytes(good)
    .join();
  const { frames, warnings } = readCapture(bytes);
  assert.equal(frames.length, 2);
  assert.deepEqual(codes(warnings), [CaptureWarning.BAD_RECORD_LENGTH]);
});

test('pcapng: a first section header that makes no sense is MalformedCaptureError', () => {
  const shb = (magic: number, length: number, trailer = length) =>
    new BufferList('le')
      .uint32(0x0a0d0d0a)
      .uint32(length)
      .uint32(magic)
      .uint16(1)
      .uint16(0)
      .uint64(-1n)
      .uint32(trailer)
      .join();
  assert.throws(() => readCapture(shb(0xdeadbeef, 28)), MalformedCaptureError);
  assert.throws(() => readCapture(shb(0x1a2b3c4d, 4)), MalformedCaptureError);
  assert.throws(() => readCapture(shb(0x1a2b3c4d, 30)), MalformedCaptureError);
  assert.throws(() => readCapture(shb(0x1a2b3c4d, 28, 32)), MalformedCaptureError);
  assert.throws(
    () => readCapture(new BufferList('le').uint32(0x0a0d0d0a).uint32(16).uint32(0x1a2b3c4d).uint32(16).join()),
    MalformedCaptureError,
  );
  // ... and has the stable code.
  try {
    readCapture(shb(0xdeadbeef, 28));
  } catch (error) {
    assert.equal((error as MalformedCaptureError).code, 'KAL_ERR_MALFORMED_CAPTURE');
  }
});

test('pcapng: an unknown major version is a warning', () => {
  // tshark refuses such a section ("unsupported version"), where we read on with a warning: nothing to compare.
  const bytes = withoutTshark('pcapng major version 2 (tshark refuses it)', () =>
    buildPcapng({ version: [2, 0], interfaces: [{ linkType: LT.RAW }], blocks: [SYN] }),
  );
  const { frames, warnings, infos } = readCapture(bytes);
  assert.equal(frames.length, 1);
  assert.deepEqual(codes(warnings), [CaptureWarning.UNKNOWN_VERSION]);
  assert.equal(infos[0]?.version, '2.0');
});
