import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeepaliveLabError, MalformedCaptureError, NotACaptureError } from '../../../src/errors.js';
import { CaptureReader, CaptureWarning } from '../../../src/decode/capture.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import type { CaptureFrame } from '../../../src/model/packet.js';
import type { Warning } from '../../../src/model/report.js';
import { BufferList } from '../../support/buffer-list.js';
import {
  LT,
  buildPcap,
  buildPcapng,
  pcapngBlock,
  readCapture,
  type TcpPacketSpec,
} from '../../support/capture-builder.js';
import { CUT_HEADS, withoutTshark } from '../../support/tshark-check.js';

const CONVERSATION: TcpPacketSpec[] = [
  { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 50000, dstPort: 80, seq: 1000, flags: 'S' },
  { src: '10.0.0.2', dst: '10.0.0.1', srcPort: 80, dstPort: 50000, seq: 5000, ack: 1001, flags: 'SA' },
  {
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 50000,
    dstPort: 80,
    seq: 1001,
    ack: 5001,
    flags: 'PA',
    payload: 'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  },
  {
    src: '10.0.0.2',
    dst: '10.0.0.1',
    srcPort: 80,
    dstPort: 50000,
    seq: 5001,
    ack: 1028,
    flags: 'PA',
    payload: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  },
  { src: 'fe80::1', dst: 'fe80::2', srcPort: 1, dstPort: 2, flags: 'R', ipv6Extensions: [{ type: 0 }] },
];

const PCAP = buildPcap({ linkType: LT.ETHERNET, byteOrder: 'be', nanos: true, packets: CONVERSATION });
const PCAPNG = buildPcapng({
  sections: [
    {
      byteOrder: 'le',
      interfaces: [{ linkType: LT.LINUX_SLL2, tsresol: 9, name: 'any' }, { linkType: LT.RAW }],
      blocks: [
        CONVERSATION[0]!,
        { ...CONVERSATION[1]!, interfaceId: 1 },
        { kind: 'raw', type: 5, body: new Uint8Array(20) },
        { ...CONVERSATION[2]!, kind: 'spb' },
      ],
    },
    {
      byteOrder: 'be',
      interfaces: [{ linkType: LT.NULL, snaplen: 70 }],
      blocks: [{ ...CONVERSATION[3]!, kind: 'pb' }, CONVERSATION[4]!],
    },
  ],
});

/** Reading split anywhere must give what reading the whole gives. */
function assertSameAtEverySplit(bytes: Uint8Array, label: string): void {
  const whole = readCapture(bytes);
  assert.ok(whole.frames.length > 0, label);
  for (let at = 0; at <= bytes.length; at++) {
    const split = readCapture(bytes, { splits: [at] });
    assert.deepEqual(split.frames, whole.frames, `${label}: split at ${at}`);
    assert.deepEqual(split.warnings, whole.warnings, `${label}: split at ${at}`);
    assert.deepEqual(split.infos, whole.infos, `${label}: split at ${at}`);
  }
  for (const chunkSize of [1, 2, 3, 7, 16, 17, 64]) {
    const chunked = readCapture(bytes, { chunkSize });
    assert.deepEqual(chunked.frames, whole.frames, `${label}: ${chunkSize}-byte chunks`);
    assert.deepEqual(chunked.warnings, whole.warnings, `${label}: ${chunkSize}-byte chunks`);
    assert.deepEqual(chunked.infos, whole.infos, `${label}: ${chunkSize}-byte chunks`);
  }
}

test('capture: a pcap split at every offset, or pushed in small chunks, gives the same frames', () => {
  assert.equal(readCapture(PCAP).frames.length, 5);
  assertSameAtEverySplit(PCAP, 'pcap');
  assertSameAtEverySplit(
    withoutTshark(CUT_HEADS, () =>
      buildPcap({ linkType: LT.NULL, byteOrder: 'le', snaplen: 50, packets: CONVERSATION }),
    ),
    'pcap, snaplen 50',
  );
});

test('capture: a two-section pcapng split at every offset, or pushed in small chunks, gives the same frames', () => {
  assert.equal(readCapture(PCAPNG).frames.length, 5);
  assertSameAtEverySplit(PCAPNG, 'pcapng');
});

test('capture: splitting twice, at every pair of offsets near record boundaries, changes nothing', () => {
  const whole = readCapture(PCAPNG);
  for (let a = 0; a < 80; a++) {
    for (let b = a; b < PCAPNG.length; b += 13) {
      assert.deepEqual(readCapture(PCAPNG, { splits: [a, b] }).frames, whole.frames, `splits ${a}, ${b}`);
    }
  }
});

test('capture: warnings come out the same at every split: truncated tail, damaged block, absurd length', () => {
  assertSameAtEverySplit(PCAP.subarray(0, PCAP.length - 5), 'pcap cut short');
  const damaged = new BufferList()
    .bytes(PCAPNG)
    .bytes(pcapngBlock('be', 6, new Uint8Array(8)))
    .bytes(PCAPNG.subarray(PCAPNG.length - 100))
    .join();
  assertSameAtEverySplit(damaged, 'pcapng with a short EPB and a garbage tail');
  const absurd = new BufferList('be').bytes(PCAP).uint32(0).uint32(0).uint32(0x7fffffff).uint32(0).zeros(40).join();
  assertSameAtEverySplit(absurd, 'pcap with an absurd record length');
  assert.deepEqual(
    readCapture(absurd).warnings.map((w) => w.code),
    [CaptureWarning.BAD_RECORD_LENGTH],
  );
});

test('capture: the frames decode identically, whether they lay in one chunk or across two', () => {
  const decode = (frames: CaptureFrame[]) => {
    const decoder = new PacketDecoder();
    return frames.map((f) => {
      const p = decoder.decode(f);
      return p && { ...p, payload: Array.from(p.payload) };
    });
  };
  const whole = decode(readCapture(PCAP).frames);
  assert.equal(whole.filter(Boolean).length, 5);
  for (let at = 0; at <= PCAP.length; at += 5)
    assert.deepEqual(decode(readCapture(PCAP, { splits: [at] }).frames), whole);
});

test('capture: frame views stay valid after later pushes (a split record gets a buffer of its own)', () => {
  const kept: CaptureFrame[] = [];
  const reader = new CaptureReader({ frame: (f) => kept.push(f) });
  for (let i = 0; i < PCAPNG.length; i += 9) reader.push(PCAPNG.slice(i, i + 9));
  reader.end();
  assert.deepEqual(
    kept.map((f) => Array.from(f.data)),
    readCapture(PCAPNG).frames.map((f) => Array.from(f.data)),
  );
});

test('capture: frames and bytes are counted', () => {
  const reader = new CaptureReader({ frame: () => undefined });
  reader.push(PCAP.subarray(0, 30));
  assert.equal(reader.frames, 0);
  reader.push(PCAP.subarray(30));
  reader.end();
  assert.equal(reader.frames, 5);
  assert.equal(reader.bytes, PCAP.length);
  assert.equal(reader.info?.format, 'pcap');
});

test('capture: bytes that are neither pcap nor pcapng are NotACaptureError', () => {
  const samples = [
    new TextEncoder().encode('<!doctype html><html>'),
    new TextEncoder().encode('GET / HTTP/1.1\r\n'),
    Uint8Array.of(0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0), // gzip
    Uint8Array.of(0xa1, 0xb2, 0xcd, 0x34), // the "modified" pcap of old Red Hat patches
    new Uint8Array(64),
  ];
  for (const bytes of samples) {
    assert.throws(
      () => new CaptureReader({ frame: () => undefined }).push(bytes),
      (error: unknown) => error instanceof NotACaptureError && error.code === 'KAL_ERR_NOT_A_CAPTURE',
    );
  }
  // Found as soon as four bytes are in, however they arrive.
  const reader = new CaptureReader({ frame: () => undefined });
  reader.push(Uint8Array.of(0x3c));
  reader.push(Uint8Array.of(0x21, 0x64));
  assert.throws(() => reader.push(Uint8Array.of(0x6f)), NotACaptureError);
  // After the error the reader ignores what follows.
  reader.push(PCAP);
  assert.equal(reader.frames, 0);
});

test('capture: an empty or tiny input is NotACaptureError at end()', () => {
  for (const bytes of [new Uint8Array(0), Uint8Array.of(0xd4), Uint8Array.of(0xd4, 0xc3, 0xb2)]) {
    const reader = new CaptureReader({ frame: () => undefined });
    reader.push(bytes);
    assert.throws(() => reader.end(), NotACaptureError);
  }
});

test('capture: a pcap header cut short is truncated, not an error', () => {
  const { warnings, frames } = readCapture(PCAP.subarray(0, 10));
  assert.equal(frames.length, 0);
  assert.deepEqual(
    warnings.map((w) => w.code),
    [CaptureWarning.TRUNCATED],
  );
});

test('capture: a record claiming more than maxRecordLength stops at its header, before its bytes arrive', () => {
  const warnings: Warning[] = [];
  const reader = new CaptureReader(
    { frame: () => undefined, warning: (w) => warnings.push(w) },
    { maxRecordLength: 1000 },
  );
  reader.push(buildPcap({ packets: [] }));
  reader.push(new BufferList('le').uint32(0).uint32(0).join());
  reader.push(new BufferList('le').uint32(1001).uint32(1001).join());
  assert.deepEqual(
    warnings.map((w) => w.code),
    [CaptureWarning.BAD_RECORD_LENGTH],
  );
  reader.push(new Uint8Array(5000));
  reader.end();
  assert.equal(warnings.length, 1);
  assert.equal(reader.bytes, 24 + 16 + 5000);
});

test('capture: a flood of identical warnings is capped, with a count of the rest', () => {
  const bad = pcapngBlock('le', 6, new Uint8Array(8));
  const list = new BufferList().bytes(buildPcapng({ interfaces: [{ linkType: LT.RAW }], blocks: [] }));
  for (let i = 0; i < 500; i++) list.bytes(bad);
  const { warnings } = readCapture(list.join());
  assert.equal(warnings.length, 11);
  assert.ok(warnings.every((w) => w.code === CaptureWarning.MALFORMED_BLOCK));
  assert.match(warnings[10]!.message, /490 more/);
});

test('capture: every error thrown is a KeepaliveLabError with a KAL_ERR_ code', () => {
  for (const bytes of [
    new TextEncoder().encode('nope'),
    new BufferList('le').uint32(0x0a0d0d0a).uint32(28).uint32(1).zeros(16).join(),
  ]) {
    try {
      readCapture(bytes);
      assert.fail('expected a throw');
    } catch (error) {
      assert.ok(error instanceof KeepaliveLabError);
      assert.ok(error instanceof NotACaptureError || error instanceof MalformedCaptureError);
      assert.match(error.code, /^KAL_ERR_/);
    }
  }
});
