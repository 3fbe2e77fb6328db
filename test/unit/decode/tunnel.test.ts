/**
 * Tunnels (src/decode/tunnel.ts, decapsulate.ts): the inner TCP segment of GRE, VXLAN, VXLAN-GPE,
 * Geneve, ERSPAN, PPTP and IP-in-IP packets, each built in code from its specification
 * (test/support/tunnel-builder.ts), over IPv4 and IPv6, nested, bounded, cut short.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_NESTING } from '../../../src/decode/decapsulate.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { LT, ipPacket, linkFrame, type TcpPacketSpec } from '../../support/capture-builder.js';
import { encapsulate, udpDatagram, type TunnelSpec } from '../../support/tunnel-builder.js';

const V4: TcpPacketSpec = {
  src: '10.0.0.1',
  dst: '10.0.0.2',
  srcPort: 50000,
  dstPort: 80,
  seq: 7,
  flags: 'PA',
  payload: 'GET / HTTP/1.1\r\n\r\n',
};
const V6: TcpPacketSpec = { ...V4, src: 'fd00::1', dst: 'fd00::2' };
const OUTER4 = { src: '192.0.2.1', dst: '192.0.2.2' };
const OUTER6 = { src: '2001:db8::a', dst: '2001:db8::b' };

function decode(frame: Uint8Array, decoder = new PacketDecoder(), linkType: number = LT.ETHERNET) {
  const packet = decoder.decode({ ts: 5, linkType, interfaceId: 0, data: frame, originalLength: frame.length });
  return { packet, stats: decoder.stats };
}

const TUNNELS: [TunnelSpec[], string][] = [
  [[{ kind: 'vxlan', ...OUTER4, vni: 42 }], 'VXLAN vni 42'],
  [[{ kind: 'vxlan', ...OUTER6, vni: 16777215 }], 'VXLAN vni 16777215'],
  [[{ kind: 'vxlan', ...OUTER4, vni: 7, port: 8472 }], 'VXLAN vni 7'],
  [[{ kind: 'vxlan-gpe', ...OUTER4, vni: 9 }], 'VXLAN-GPE vni 9'],
  [[{ kind: 'geneve', ...OUTER4, vni: 5 }], 'Geneve vni 5'],
  [[{ kind: 'geneve', ...OUTER6, vni: 5, optionBytes: 12 }], 'Geneve vni 5'],
  [[{ kind: 'geneve', ...OUTER4, vni: 6, ethernet: false }], 'Geneve vni 6'],
  [[{ kind: 'gre', ...OUTER4 }], 'GRE'],
  [[{ kind: 'gre', ...OUTER4, key: 1234 }], 'GRE key 1234'],
  [[{ kind: 'gre', ...OUTER4, key: 0xffffffff, seq: 9, checksum: true }], 'GRE key 4294967295'],
  [[{ kind: 'gre', ...OUTER6, seq: 1, checksum: true, ethernet: true }], 'GRE'],
  [[{ kind: 'gre', ...OUTER4, key: 3, routing: true }], 'GRE key 3'],
  [[{ kind: 'pptp', ...OUTER4, callId: 77 }], 'GRE (PPTP call 77)'],
  [[{ kind: 'erspan', ...OUTER4, session: 12 }], 'ERSPAN session 12'],
];

for (const [tunnels, label] of TUNNELS) {
  const t = tunnels[0]!;
  test(`tunnel: ${t.kind} over IPv${t.src.includes(':') ? 6 : 4} carries TCP over IPv4 and IPv6 (${label})`, () => {
    for (const spec of [V4, V6]) {
      const { packet, stats } = decode(linkFrame(LT.ETHERNET, encapsulate(ipPacket(spec), tunnels)));
      assert.ok(packet, `${label}: ${JSON.stringify(stats)}`);
      assert.equal(packet.src, spec.src);
      assert.equal(packet.dst, spec.dst);
      assert.equal(packet.srcPort, spec.srcPort);
      assert.equal(packet.seq, spec.seq);
      assert.equal(new TextDecoder().decode(packet.payload), spec.payload);
      assert.equal(packet.tunnel, label);
      assert.deepEqual(
        { frames: stats.frames, tcp: stats.tcp, tunnelled: stats.tunnelled, nonTcp: stats.nonTcp },
        { frames: 1, tcp: 1, tunnelled: 1, nonTcp: 0 },
      );
    }
  });
}

test('tunnel: IP in IP, 6in4, IPv6 in IPv6, 4in6 are named by both versions', () => {
  const cases: [TcpPacketSpec, typeof OUTER4, string][] = [
    [V4, OUTER4, 'IP in IP'],
    [V6, OUTER4, '6in4'],
    [V6, OUTER6, 'IPv6 in IPv6'],
    [V4, OUTER6, '4in6'],
  ];
  for (const [spec, outer, label] of cases) {
    for (const linkType of [LT.ETHERNET, LT.RAW, LT.LINUX_SLL2]) {
      const { packet } = decode(
        linkFrame(linkType, encapsulate(ipPacket(spec), [{ kind: 'ipip', ...outer }])),
        undefined,
        linkType,
      );
      assert.equal(packet?.tunnel, label);
      assert.equal(packet?.src, spec.src);
    }
  }
});

test('tunnel: nested tunnels give the inner segment, named by the innermost tunnel', () => {
  const tunnels: TunnelSpec[] = [
    { kind: 'gre', ...OUTER4, key: 1 },
    { kind: 'vxlan', src: '172.16.0.1', dst: '172.16.0.2', vni: 100 },
    { kind: 'ipip', src: '2001:db8::1', dst: '2001:db8::2' },
  ];
  const { packet, stats } = decode(linkFrame(LT.ETHERNET, encapsulate(ipPacket(V4), tunnels)));
  assert.equal(packet?.tunnel, '4in6');
  assert.equal(packet?.dst, V4.dst);
  assert.equal(stats.tunnelled, 1);
  assert.equal(stats.frames, 1);
});

test('tunnel: nesting beyond the bound is counted as not TCP, without recursing further', () => {
  const deep = (n: number) =>
    encapsulate(
      ipPacket(V4),
      Array.from(
        { length: n },
        (_, i) => ({ kind: 'ipip', src: `192.0.${i >> 8}.${i & 255}`, dst: '192.0.2.200' }) as const,
      ),
    );
  assert.equal(decode(deep(MAX_NESTING), undefined, LT.RAW).packet?.tunnel, 'IP in IP');
  const { packet, stats } = decode(deep(MAX_NESTING + 1), undefined, LT.RAW);
  assert.equal(packet, null);
  assert.deepEqual({ frames: stats.frames, nonTcp: stats.nonTcp, tcp: stats.tcp }, { frames: 1, nonTcp: 1, tcp: 0 });
  // Thousands of layers: still one count, no stack overflow.
  assert.equal(decode(deep(3000), undefined, LT.RAW).stats.nonTcp, 1);
});

test('tunnel: plain UDP, VXLAN without its I flag, unknown GRE payloads are not TCP', () => {
  const decoder = new PacketDecoder();
  decode(linkFrame(LT.RAW, udpDatagram('10.0.0.1', '10.0.0.2', 5353, 53, new Uint8Array(20))), decoder, LT.RAW);
  // Port 8472 without the VXLAN I flag: some other service.
  decode(linkFrame(LT.RAW, udpDatagram('10.0.0.1', '10.0.0.2', 5353, 8472, new Uint8Array(40))), decoder, LT.RAW);
  // Geneve with an unknown protocol type, GRE with WCCP (0x883E).
  const geneve = Uint8Array.of(0, 0, 0x88, 0x3e, 0, 0, 1, 0, ...ipPacket(V4));
  decode(linkFrame(LT.RAW, udpDatagram('10.0.0.1', '10.0.0.2', 1, 6081, geneve)), decoder, LT.RAW);
  const gre = encapsulate(ipPacket(V4), [{ kind: 'gre', ...OUTER4 }]);
  gre[22] = 0x88;
  gre[23] = 0x3e;
  decode(gre, decoder, LT.RAW);
  assert.deepEqual({ nonTcp: decoder.stats.nonTcp, tcp: decoder.stats.tcp }, { nonTcp: 4, tcp: 0 });
});

test('tunnel: a frame cut inside the tunnel headers is truncated; a bad version is malformed', () => {
  const frame = linkFrame(LT.RAW, encapsulate(ipPacket(V4), [{ kind: 'vxlan', ...OUTER4, vni: 1 }]));
  const decoder = new PacketDecoder();
  // 20 (IP) + 8 (UDP) + 8 (VXLAN) + 14 (Ethernet) + 20 (inner IP) + 20 (TCP) bytes of headers; from
  // the inner TCP's flags on (84 bytes) the segment is known, without its payload (decode/tcp.ts).
  for (let cut = 20; cut < 90; cut++) decode(frame.subarray(0, cut), decoder, LT.RAW);
  assert.equal(decoder.stats.truncated, 70);
  assert.equal(decoder.stats.tcp, 6);
  const gre = encapsulate(ipPacket(V4), [{ kind: 'gre', ...OUTER4 }]);
  gre[21] = 2; // version 2
  assert.equal(decode(gre, undefined, LT.RAW).stats.malformed, 1);
  const geneve = encapsulate(ipPacket(V4), [{ kind: 'geneve', ...OUTER4, vni: 1 }]);
  geneve[28] = 0x40; // version 1
  assert.equal(decode(geneve, undefined, LT.RAW).stats.malformed, 1);
});

test('tunnel: the UDP length ends the inner frame before trailing bytes', () => {
  const ip = encapsulate(ipPacket(V4), [{ kind: 'vxlan', ...OUTER4, vni: 3 }]);
  const padded = linkFrame(LT.ETHERNET, ip, { ethernetPadding: true });
  const withTrailer = Uint8Array.of(...padded, 1, 2, 3, 4);
  const { packet } = decode(withTrailer);
  assert.equal(new TextDecoder().decode(packet?.payload), V4.payload);
});

test('tunnel: decoding plain frames after tunnelled ones gives untunnelled packets', () => {
  const decoder = new PacketDecoder();
  const tunnelled = linkFrame(LT.ETHERNET, encapsulate(ipPacket(V4), [{ kind: 'vxlan', ...OUTER4, vni: 1 }]));
  assert.equal(decode(tunnelled, decoder).packet?.tunnel, 'VXLAN vni 1');
  assert.equal(decode(linkFrame(LT.ETHERNET, ipPacket(V6)), decoder).packet?.tunnel, null);
  assert.equal(decode(tunnelled, decoder).packet?.tunnel, 'VXLAN vni 1');
  assert.deepEqual({ frames: decoder.stats.frames, tunnelled: decoder.stats.tunnelled }, { frames: 3, tunnelled: 2 });
});
