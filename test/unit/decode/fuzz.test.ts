/**
 * Fuzzing the capture reader and the packet decoder with fast-check: mutated and truncated captures,
 * random bytes after a magic number, random frames on any link type. Nothing may be thrown but the
 * capture errors; each property says how many cases it tried (t.diagnostic), and the last test the
 * total, at least MIN_CASES every run (issue 8: a fuzz run in the suite that prints its count).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MalformedCaptureError, NotACaptureError } from '../../../src/errors.js';
import { CaptureReader } from '../../../src/decode/capture.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { LT, buildPcap, buildPcapng, ipPacket, linkFrame, type TcpPacketSpec } from '../../support/capture-builder.js';
import { withoutTshark } from '../../support/tshark-check.js';
import { encapsulate, fragmentIp, type TunnelSpec } from '../../support/tunnel-builder.js';

/** A fixed seed: a failure is reproducible as is (fast-check prints the path to shrink from). */
const SEED = 20240902;
/** Cases every run of this file tries at least, in all. */
const MIN_CASES = 1000;
/** Cases tried so far, over the properties of this file. */
let cases = 0;

const LINK_TYPES = [LT.ETHERNET, LT.LINUX_SLL, LT.LINUX_SLL2, LT.NULL, LT.LOOP, LT.RAW, 228, 229] as const;
/** The link types off the fast path (decode/link-other.ts, link-wlan.ts). */
const OTHER_LINK_TYPES = Object.values(LT).filter((t) => !(LINK_TYPES as readonly number[]).includes(t));

const packetArb: fc.Arbitrary<TcpPacketSpec> = fc
  .record({
    v6: fc.boolean(),
    a: fc.integer({ min: 0, max: 0xffff }),
    b: fc.integer({ min: 0, max: 0xffff }),
    srcPort: fc.integer({ min: 0, max: 0xffff }),
    dstPort: fc.integer({ min: 0, max: 0xffff }),
    seq: fc.nat({ max: 0xffffffff }),
    flags: fc.integer({ min: 0, max: 255 }),
    payload: fc.uint8Array({ maxLength: 40 }),
    vlans: fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 2 }),
    ext: fc.array(fc.constantFrom(0 as const, 43 as const, 60 as const, 51 as const), { maxLength: 2 }),
  })
  .map(({ v6, a, b, ext, ...rest }) => ({
    ...rest,
    src: v6 ? `2001:db8::${a.toString(16)}` : `10.${a >> 8}.${a & 255}.1`,
    dst: v6 ? `::ffff:10.0.${b >> 8}.${b & 255}` : `192.168.${b >> 8}.${b & 255}`,
    ipv6Extensions: v6 ? ext.map((type) => ({ type })) : undefined,
  }));

/** A valid capture: pcap or pcapng, any byte order, a link type that fits the packets. */
const captureArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    pcapng: fc.boolean(),
    le: fc.boolean(),
    nanos: fc.boolean(),
    linkType: fc.constantFrom(...LINK_TYPES),
    snaplen: fc.constantFrom(0, 40, 64, 262144),
    packets: fc.array(packetArb, { maxLength: 6 }),
    kinds: fc.array(fc.constantFrom('epb' as const, 'spb' as const, 'pb' as const), { minLength: 6, maxLength: 6 }),
  })
  .map(({ pcapng, le, nanos, linkType, snaplen, packets, kinds }) => {
    // The single-version raw link types need packets of that version.
    const fitting = packets.filter((p) =>
      linkType === 228 ? !p.src.includes(':') : linkType === 229 ? p.src.includes(':') : true,
    );
    const byteOrder = le ? 'le' : 'be';
    if (!pcapng) return buildPcap({ linkType, byteOrder, nanos, snaplen: snaplen || 262144, packets: fitting });
    return buildPcapng({
      byteOrder,
      interfaces: [{ linkType, snaplen, tsresol: nanos ? 9 : undefined }],
      blocks: fitting.map((p, i) => {
        const kind = kinds[i] ?? 'epb';
        return kind === 'spb' ? { ...p, kind } : { ...p, kind };
      }),
    });
  });

type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = bytes.slice();
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    if (m.kind === 'set' && at < out.length) out[at] = m.value;
    else if (m.kind === 'truncate') out = out.slice(0, at);
    else if (m.kind === 'insert') out = Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
    else if (m.kind === 'delete') out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + m.count)]);
  }
  return out;
}

/** Reads and decodes everything; returns the number of frames. Throws only what the reader throws. */
function readAndDecode(bytes: Uint8Array, chunkSize: number): number {
  const decoder = new PacketDecoder();
  let frames = 0;
  const reader = new CaptureReader(
    {
      frame: (f) => {
        frames++;
        assert.ok(f.data.length <= bytes.length);
        const p = decoder.decode(f);
        if (p) {
          assert.ok(p.srcPort >= 0 && p.srcPort <= 0xffff && p.dstPort >= 0 && p.dstPort <= 0xffff);
          assert.ok(p.seq >= 0 && p.seq <= 0xffffffff && p.ack >= 0 && p.ack <= 0xffffffff);
          assert.ok(p.payload.length <= p.payloadLength);
          assert.ok(p.payload.length <= f.data.length);
          assert.equal(typeof p.src, 'string');
        }
      },
    },
    { maxRecordLength: 1 << 20 },
  );
  for (let i = 0; i < bytes.length; i += chunkSize) reader.push(bytes.subarray(i, i + chunkSize));
  reader.end();
  const s = decoder.stats;
  const unsupported = Object.values(s.unsupportedLinkTypes).reduce((a, b) => a + b, 0);
  // Each frame is counted once (a returned packet with a cut payload also counts as truncated).
  assert.ok(s.tcp + s.nonIp + s.nonTcp + s.fragments + s.malformed + unsupported <= s.frames);
  assert.ok(s.tcp + s.nonIp + s.nonTcp + s.fragments + s.malformed + unsupported + s.truncated >= s.frames);
  return frames;
}

function expectedFailure(error: unknown): boolean {
  return error instanceof NotACaptureError || error instanceof MalformedCaptureError;
}

test('fuzz: mutated and truncated captures never throw anything but NotACaptureError / MalformedCaptureError', (t) => {
  let runs = 0;
  let failed = 0;
  // Random segments (any flags, ports, payload bytes) as the seeds of mutations: nothing to agree on with tshark.
  withoutTshark('fuzzed: random TCP segments', () =>
    fc.assert(
      fc.property(
        captureArb,
        fc.array(mutationArb, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 200 }),
        (capture, mutations, chunkSize) => {
          runs++;
          const bytes = mutate(capture, mutations);
          try {
            const frames = readAndDecode(bytes, chunkSize);
            // Every pcap record needs 16 bytes, every pcapng block 12.
            assert.ok(frames <= bytes.length / 12);
          } catch (error) {
            if (!expectedFailure(error)) throw error;
            failed++;
          }
        },
      ),
      { numRuns: 1000, seed: SEED },
    ),
  );
  t.diagnostic(`${runs} runs, ${failed} of them a capture error`);
  assert.equal(runs, 1000);
  cases += runs;
});

test('fuzz: random bytes after a valid magic number never crash or hang', (t) => {
  let runs = 0;
  const magics = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0x0a, 0x0d, 0x0d, 0x0a],
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...magics),
      fc.uint8Array({ maxLength: 600 }),
      fc.integer({ min: 1, max: 64 }),
      (magic, rest, chunkSize) => {
        runs++;
        const bytes = Uint8Array.from([...magic, ...rest]);
        try {
          readAndDecode(bytes, chunkSize);
        } catch (error) {
          if (!expectedFailure(error)) throw error;
        }
      },
    ),
    { numRuns: 400, seed: SEED },
  );
  t.diagnostic(`${runs} runs`);
  assert.equal(runs, 400);
  cases += runs;
});

test('fuzz: the packet decoder takes any bytes on any link type', (t) => {
  const decoder = new PacketDecoder();
  fc.assert(
    fc.property(
      fc.constantFrom(...LINK_TYPES, ...OTHER_LINK_TYPES, 999),
      fc.uint8Array({ maxLength: 120 }),
      (linkType, data) => {
        const p = decoder.decode({ ts: 0, linkType, interfaceId: 0, data, originalLength: data.length });
        if (p) assert.ok(p.payload.length <= p.payloadLength);
      },
    ),
    { numRuns: 2000, seed: SEED },
  );
  assert.equal(decoder.stats.frames, 2000);
  t.diagnostic(`${decoder.stats.frames} runs, ${decoder.stats.tcp} frames decoded as TCP`);
  cases += decoder.stats.frames;
});

const tunnelArb: fc.Arbitrary<TunnelSpec> = fc.oneof(
  fc.constant({ kind: 'ipip', src: '192.0.2.1', dst: '192.0.2.2' } as const),
  fc.constant({ kind: 'ipip', src: '2001:db8::1', dst: '2001:db8::2' } as const),
  fc
    .record({
      key: fc.nat({ max: 0xffffffff }),
      seq: fc.nat({ max: 9 }),
      checksum: fc.boolean(),
      ethernet: fc.boolean(),
    })
    .map((g) => ({ kind: 'gre', src: '192.0.2.1', dst: '192.0.2.2', ...g }) as const),
  fc.nat({ max: 0xffffff }).map((vni) => ({ kind: 'vxlan', src: '192.0.2.1', dst: '192.0.2.2', vni }) as const),
  fc.nat({ max: 0xffffff }).map((vni) => ({ kind: 'vxlan-gpe', src: '2001:db8::1', dst: '2001:db8::2', vni }) as const),
  fc
    .record({ vni: fc.nat({ max: 0xffffff }), words: fc.nat({ max: 4 }), ethernet: fc.boolean() })
    .map(
      ({ vni, words, ethernet }) =>
        ({ kind: 'geneve', src: '192.0.2.1', dst: '192.0.2.2', vni, ethernet, optionBytes: words * 4 }) as const,
    ),
  fc.constant({ kind: 'pptp', src: '192.0.2.1', dst: '192.0.2.2', callId: 3 } as const),
  fc.constant({ kind: 'erspan', src: '192.0.2.1', dst: '192.0.2.2', session: 3 } as const),
);

test('fuzz: other link types, tunnels and fragments, mutated: never a throw, every frame counted once', (t) => {
  let runs = 0;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          packet: packetArb,
          linkType: fc.constantFrom(...LINK_TYPES.filter((t) => t !== 228 && t !== 229), ...OTHER_LINK_TYPES),
          tunnels: fc.array(tunnelArb, { maxLength: 3 }),
          fragmentSize: fc.constantFrom(0, 8, 16, 64),
          mutations: fc.array(mutationArb, { maxLength: 3 }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      (frames) => {
        runs++;
        const decoder = new PacketDecoder();
        for (const f of frames) {
          const ip = encapsulate(ipPacket(f.packet), f.tunnels);
          const ips = f.fragmentSize > 0 ? fragmentIp(ip, { size: f.fragmentSize }) : [ip];
          for (const one of ips) {
            const data = mutate(linkFrame(f.linkType, one, f.packet), f.mutations);
            const p = decoder.decode({
              ts: 0,
              linkType: f.linkType,
              interfaceId: 0,
              data,
              originalLength: data.length,
            });
            if (p) assert.ok(p.payload.length <= p.payloadLength);
          }
        }
        decoder.end();
        const s = decoder.stats;
        const unsupported = Object.values(s.unsupportedLinkTypes).reduce((a, b) => a + b, 0);
        assert.ok(s.tcp + s.nonIp + s.nonTcp + s.fragments + s.malformed + unsupported <= s.frames);
        assert.ok(s.tcp + s.nonIp + s.nonTcp + s.fragments + s.malformed + unsupported + s.truncated >= s.frames);
        assert.ok(s.tunnelled <= s.tcp);
      },
    ),
    { numRuns: 300, seed: SEED },
  );
  t.diagnostic(`${runs} runs`);
  assert.equal(runs, 300);
  cases += runs;
});

test(`fuzz: the capture reader, the packet decoder, link types and tunnels, at least ${MIN_CASES} cases in all`, (t) => {
  t.diagnostic(`${cases} fuzz cases tried in all`);
  assert.ok(cases >= MIN_CASES, `${cases} cases`);
});
