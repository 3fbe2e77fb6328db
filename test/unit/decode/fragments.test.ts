/**
 * IP fragment reassembly (src/decode/fragments.ts, through PacketDecoder): IPv4 (RFC 791) and IPv6
 * (RFC 8200 section 4.5) fragments built in code (test/support/tunnel-builder.ts), in every order,
 * duplicated, overlapping (RFC 5722), cut by the snap length, timed out, over the memory budget.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Layer } from '../../../src/decode/cursor.js';
import { Decapsulator } from '../../../src/decode/decapsulate.js';
import { IPV4_FRAGMENT_TIMEOUT, IPV6_FRAGMENT_TIMEOUT } from '../../../src/decode/fragments.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { LT, ipPacket, linkFrame, type TcpPacketSpec } from '../../support/capture-builder.js';
import { encapsulate, fragmentIp } from '../../support/tunnel-builder.js';

const BODY = 'x'.repeat(1000);
const V4: TcpPacketSpec = { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 80, seq: 11, payload: BODY };
const V6: TcpPacketSpec = { ...V4, src: 'fd00::1', dst: 'fd00::2' };

/** Feeds IP packets (raw IP link type) at the given times; returns the TCP packets and the stats. */
function feed(packets: Uint8Array[], decoder = new PacketDecoder(), ts: (i: number) => number = (i) => i * 1000) {
  const out = packets.map((data, i) => {
    const p = decoder.decode({ ts: ts(i), linkType: LT.RAW, interfaceId: 0, data, originalLength: data.length });
    return p && { ...p, payload: new TextDecoder().decode(p.payload) };
  });
  return { out, stats: decoder.stats, decoder };
}

function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]),
  );
}

for (const spec of [V4, V6]) {
  const v = spec === V4 ? 'IPv4' : 'IPv6';

  test(`fragments: ${v} fragments in every order reassemble into the one TCP segment`, () => {
    const ip = ipPacket(spec);
    for (const order of permutations(4)) {
      const fragments = fragmentIp(ip, { size: 296, order });
      assert.equal(fragments.length, 4);
      const { out, stats } = feed(fragments);
      assert.deepEqual(
        out.map((p) => p !== null),
        [false, false, false, true],
        `order ${order.join(',')}`,
      );
      const p = out[3]!;
      assert.equal(p.payload, BODY);
      assert.equal(p.payloadLength, BODY.length);
      assert.equal(p.src, spec.src);
      assert.equal(p.seq, 11);
      assert.equal(p.ts, 3000, 'the time of the fragment that completed it');
      assert.deepEqual(
        {
          frames: stats.frames,
          tcp: stats.tcp,
          fragments: stats.fragments,
          reassembled: stats.datagramsReassembled,
          incomplete: stats.datagramsIncomplete,
        },
        { frames: 4, tcp: 1, fragments: 3, reassembled: 1, incomplete: 0 },
      );
    }
  });

  test(`fragments: ${v} duplicates are dropped; overlapping fragments discard the datagram (RFC 5722)`, () => {
    const ip = ipPacket(spec);
    const f = fragmentIp(ip, { size: 296 });
    // A fragment sent twice (a retransmission of the same bytes) changes nothing.
    const dup = feed([f[0]!, f[1]!, f[1]!, f[2]!, f[0]!, f[3]!]);
    assert.equal(dup.out.filter((p) => p !== null).length, 1);
    assert.equal(dup.stats.datagramsReassembled, 1);
    // A fragment that overlaps another (offset 8 into the first): the whole datagram is discarded,
    // and its other fragments make no new one.
    const other = fragmentIp(ip, { size: 296 });
    const overlapping = fragmentIp(ip.slice(), { size: 8 * 37 })[1]!;
    const shifted = shiftFragment(overlapping, -8, spec === V6);
    const o = feed([other[0]!, shifted, other[1]!, other[2]!, other[3]!]);
    assert.equal(o.out.filter((p) => p !== null).length, 0);
    assert.deepEqual(
      {
        fragments: o.stats.fragments,
        discarded: o.stats.datagramsDiscarded,
        reassembled: o.stats.datagramsReassembled,
      },
      { fragments: 5, discarded: 1, reassembled: 0 },
    );
    o.decoder.end();
    assert.equal(o.stats.datagramsIncomplete, 0, 'a discarded datagram is not also incomplete');
  });

  test(`fragments: ${v} a datagram whose fragments do not all come is incomplete at the end`, () => {
    const f = fragmentIp(ipPacket(spec), { size: 296 });
    const { out, stats, decoder } = feed([f[0]!, f[1]!, f[3]!]);
    assert.equal(out.filter((p) => p !== null).length, 0);
    assert.equal(stats.datagramsIncomplete, 0);
    decoder.end();
    assert.equal(stats.datagramsIncomplete, 1);
    assert.equal(stats.fragments, 3);
  });

  test(`fragments: ${v} the reassembly timeout is counted in capture time`, () => {
    const timeout = spec === V4 ? IPV4_FRAGMENT_TIMEOUT : IPV6_FRAGMENT_TIMEOUT;
    const f = fragmentIp(ipPacket(spec), { size: 296 });
    // Within the timeout: reassembled.
    const inTime = feed(f, undefined, (i) => (i === 3 ? timeout - 1 : i));
    assert.equal(inTime.stats.datagramsReassembled, 1);
    // The last fragment comes too late: the first three were given up, it starts a datagram of its own.
    const late = feed(f, undefined, (i) => (i === 3 ? timeout : i));
    assert.deepEqual(
      { reassembled: late.stats.datagramsReassembled, incomplete: late.stats.datagramsIncomplete },
      { reassembled: 0, incomplete: 1 },
    );
    late.decoder.end();
    assert.equal(late.stats.datagramsIncomplete, 2);
  });

  test(`fragments: ${v} a fragment cut by the snap length gives a segment with a cut payload`, () => {
    const f = fragmentIp(ipPacket(spec), { size: 296 });
    const decoder = new PacketDecoder();
    const results = f.map((data, i) => {
      const captured = i === 2 ? data.subarray(0, data.length - 100) : data;
      return decoder.decode({ ts: i, linkType: LT.RAW, interfaceId: 0, data: captured, originalLength: data.length });
    });
    const p = results[3];
    assert.ok(p);
    assert.equal(p.payloadLength, BODY.length);
    // Fragments 0 and 1 whole, fragment 2 short by 100 bytes: captured payload stops there.
    // The TCP header (20 bytes) is in the first fragment's 296.
    assert.equal(p.payload.length, 3 * 296 - 100 - 20);
    assert.equal(decoder.stats.truncated, 1);
  });
}

/** Moves an IPv4 or IPv6 fragment's offset by `delta` bytes (a multiple of 8). */
function shiftFragment(fragment: Uint8Array, delta: number, v6: boolean): Uint8Array {
  const f = fragment.slice();
  const at = v6 ? 42 : 6;
  const word = (f[at]! << 8) | f[at + 1]!;
  const shifted = v6 ? word + (delta / 8) * 8 : word + delta / 8;
  f[at] = shifted >> 8;
  f[at + 1] = shifted & 0xff;
  return f;
}

test('fragments: IPv4 datagrams are told apart by addresses, identification and protocol', () => {
  const a = fragmentIp(ipPacket(V4), { size: 512, id: 1 });
  const b = fragmentIp(ipPacket({ ...V4, srcPort: 40001 }), { size: 512, id: 2 });
  const { out, stats } = feed([a[0]!, b[0]!, b[1]!, a[1]!]);
  assert.deepEqual(
    out.map((p) => p?.srcPort ?? null),
    [null, null, 40001, 40000],
  );
  assert.equal(stats.datagramsReassembled, 2);
});

test('fragments: a last fragment that disagrees, or bytes past 65535, are not a datagram', () => {
  const f = fragmentIp(ipPacket(V4), { size: 512 });
  // The last fragment again, moved: two different ends.
  const moved = shiftFragment(f[1]!, 8, false);
  const { stats } = feed([f[1]!, moved, f[0]!]);
  assert.equal(stats.datagramsDiscarded, 1);
  assert.equal(stats.datagramsReassembled, 0);
  // An offset of 8190 * 8 with 1000 bytes runs past 65535: malformed.
  const far = f[1]!.slice();
  far[6] = 0x1f;
  far[7] = 0xfe;
  assert.equal(feed([far]).stats.malformed, 1);
});

test('fragments: an IPv6 fragment other than the last must be a multiple of 8 bytes; IPv4 ones are trimmed', () => {
  const v6 = fragmentIp(ipPacket(V6), { size: 296 });
  const odd = v6[0]!.slice(0, v6[0]!.length - 3);
  odd[5] = odd[5]! - 3; // payload length
  assert.equal(feed([odd]).stats.malformed, 1);
  // IPv4: Linux trims the length to a multiple of 8 (ip_frag_queue); so do we.
  const v4 = fragmentIp(ipPacket(V4), { size: 296 });
  const longer = Uint8Array.of(...v4[0]!, 0xee, 0xee, 0xee);
  longer[3] = longer[3]! + 3; // total length
  const { out } = feed([longer, v4[1]!, v4[2]!, v4[3]!]);
  assert.equal(out[3]?.payload, BODY);
});

test('fragments: the memory budget gives up the oldest datagrams', () => {
  const decoder = new PacketDecoder();
  // A reassembler of its own with a small budget, fed the first fragment of 50 datagrams.
  const small = new Decapsulator(decoder, { maxBytes: 10_000 });
  const ip = ipPacket(V4);
  for (let id = 0; id < 50; id++) {
    const first = fragmentIp(ip, { size: 296, id })[0]!;
    const ipResult = {
      transportOffset: 20,
      transportLength: 296,
      capturedEnd: first.length,
      srcOffset: 12,
      dstOffset: 16,
      protocol: 6,
    };
    small.open(Layer.FRAGMENT, first, 0, 4, ipResult, id, LT.RAW);
  }
  // Each holds ~296 + 256 bytes of overhead: about 18 fit in 10,000.
  assert.ok(decoder.stats.datagramsIncomplete >= 30, `${decoder.stats.datagramsIncomplete} given up`);
  assert.equal(decoder.stats.fragments, 50);
});

test('fragments: a fragmented tunnel packet, and fragments inside a tunnel', () => {
  const outer = { kind: 'vxlan', src: '192.0.2.1', dst: '192.0.2.2', vni: 8 } as const;
  // The outer UDP datagram is fragmented: reassembled, then opened.
  const whole = encapsulate(ipPacket(V4), [outer]);
  const { out, stats } = feed(fragmentIp(whole, { size: 400 }));
  assert.equal(out.at(-1)?.tunnel, 'VXLAN vni 8');
  assert.equal(out.at(-1)?.payload, BODY);
  assert.equal(stats.tunnelled, 1);
  // The inner packet is fragmented, each fragment tunnelled on its own.
  const inner = fragmentIp(ipPacket(V6), { size: 400 }).map((f) => encapsulate(f, [outer]));
  const r = feed(inner);
  assert.equal(r.out.at(-1)?.payload, BODY);
  assert.equal(r.stats.datagramsReassembled, 1);
  assert.equal(r.stats.frames, inner.length);
});

test('fragments: through an Ethernet link with VLAN tags and padding', () => {
  const decoder = new PacketDecoder();
  const frames = fragmentIp(ipPacket({ ...V4, payload: 'tiny payload here' }), { size: 16 }).map((f) =>
    linkFrame(LT.ETHERNET, f, { vlans: [5], ethernetPadding: true }),
  );
  const out = frames.map((data) =>
    decoder.decode({ ts: 0, linkType: LT.ETHERNET, interfaceId: 0, data, originalLength: data.length }),
  );
  assert.equal(new TextDecoder().decode(out.at(-1)?.payload), 'tiny payload here');
});
