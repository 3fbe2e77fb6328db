/**
 * The link types off the fast path (src/decode/link-other.ts, link-wlan.ts): each frame built in
 * code from its LINKTYPE_ page or standard (test/support/capture-builder.ts), IPv4 and IPv6, then
 * the variants each header allows, cut at every length, and nested past the bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LINK_NESTING } from '../../../src/decode/link-other.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { BufferList, concat } from '../../support/buffer-list.js';
import { LT, ipPacket, linkFrame, tcpIpFrame, type TcpPacketSpec } from '../../support/capture-builder.js';

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
const V6: TcpPacketSpec = { ...V4, src: '2001:db8::10', dst: '2001:db8::1' };

function decode(linkType: number, data: Uint8Array, decoder = new PacketDecoder()) {
  const packet = decoder.decode({ ts: 42, linkType, interfaceId: 0, data, originalLength: data.length });
  return { packet, stats: decoder.stats };
}

function assertCarries(linkType: number, frame: Uint8Array, spec: TcpPacketSpec, what: string): void {
  const { packet, stats } = decode(linkType, frame);
  assert.ok(packet, `${what}: a TCP segment (stats ${JSON.stringify(stats)})`);
  assert.equal(packet.ipVersion, spec.src.includes(':') ? 6 : 4, what);
  assert.equal(packet.src, spec.src, what);
  assert.equal(packet.dst, spec.dst, what);
  assert.equal(packet.srcPort, spec.srcPort, what);
  assert.equal(packet.dstPort, spec.dstPort, what);
  assert.equal(packet.seq, spec.seq, what);
  assert.equal(new TextDecoder().decode(packet.payload), 'hello', what);
  assert.equal(packet.tunnel, null, what);
  assert.deepEqual(
    { frames: stats.frames, tcp: stats.tcp, truncated: stats.truncated },
    { frames: 1, tcp: 1, truncated: 0 },
  );
}

const LINK_TYPES: [string, number][] = [
  ['PPP (RFC 1661/1662)', LT.PPP],
  ['PPP with direction', LT.PPP_WITH_DIR],
  ['PPP in HDLC-like framing', LT.PPP_HDLC],
  ['PPP from pppd (direction for address)', LT.PPP_PPPD],
  ['PPPoE without Ethernet', LT.PPP_ETHER],
  ['Cisco HDLC', LT.C_HDLC],
  ['Cisco HDLC with direction', LT.C_HDLC_WITH_DIR],
  ['Frame Relay (RFC 2427)', LT.FRELAY],
  ['Frame Relay with direction', LT.FRELAY_WITH_DIR],
  ['MPLS', LT.MPLS],
  ['IEEE 802.11', LT.IEEE802_11],
  ['802.11 with radiotap', LT.IEEE802_11_RADIOTAP],
  ['802.11 with PPI', LT.PPI],
  ['802.11 with Prism', LT.IEEE802_11_PRISM],
  ['802.11 with AVS', LT.IEEE802_11_AVS],
  ['OpenBSD pflog', LT.PFLOG],
  ['OpenBSD enc', LT.ENC],
  ['Solaris ipnet', LT.IPNET],
  ['Linux NFLOG', LT.NFLOG],
  ['Apple PKTAP', LT.PKTAP],
  ['ARCNET (Linux)', LT.ARCNET_LINUX],
  ['ARCNET (BSD)', LT.ARCNET_BSD],
  ['SLIP', LT.SLIP],
  ['IP over InfiniBand', LT.IPOIB],
  ['IP over Fibre Channel', LT.IP_OVER_FC],
  ['Apple IP over IEEE 1394', LT.APPLE_IP_OVER_IEEE1394],
  ['netANALYZER', LT.NETANALYZER],
  ['netANALYZER transparent', LT.NETANALYZER_TRANSPARENT],
  ['EPON', LT.EPON],
  ['FDDI', LT.FDDI],
  ['token ring', LT.IEEE802_5],
  ['SunATM', LT.SUNATM],
  ['RFC 1483 ATM', LT.ATM_RFC1483],
  ['Endace ERF', LT.ERF],
  ['Broadcom switch tag', LT.DSA_TAG_BRCM],
  ['Broadcom switch tag, prepended', LT.DSA_TAG_BRCM_PREPEND],
  ['Marvell DSA switch tag', LT.DSA_TAG_DSA],
  ['Marvell EDSA switch tag', LT.DSA_TAG_EDSA],
];

for (const [name, linkType] of LINK_TYPES) {
  test(`link: ${name} (${linkType}) carries TCP over IPv4 and IPv6`, () => {
    for (const spec of [V4, V6]) assertCarries(linkType, tcpIpFrame(linkType, spec), spec, `${name} ${spec.src}`);
  });
}

test('link: PPP protocol field with and without HDLC-like framing, compressed to one byte', () => {
  for (const pppFraming of ['hdlc', 'bare', 'compressed'] as const) {
    for (const linkType of [LT.PPP, LT.PPP_WITH_DIR]) {
      for (const spec of [V4, V6])
        assertCarries(linkType, tcpIpFrame(linkType, { ...spec, pppFraming }), spec, `${pppFraming} ${linkType}`);
    }
  }
});

test('link: PPP_HDLC whose first byte is 0x0F or 0x8F is Cisco HDLC', () => {
  const ip = ipPacket(V4);
  for (const address of [0x0f, 0x8f]) {
    const frame = new BufferList().uint8(address).uint8(0).uint16(0x0800).bytes(ip).join();
    assertCarries(LT.PPP_HDLC, frame, V4, `address ${address}`);
  }
});

test('link: Ethernet carries PPPoE sessions and MPLS label stacks, under VLAN tags too', () => {
  for (const spec of [V4, V6]) {
    assertCarries(LT.ETHERNET, tcpIpFrame(LT.ETHERNET, { ...spec, pppoe: true }), spec, 'PPPoE');
    assertCarries(LT.ETHERNET, tcpIpFrame(LT.ETHERNET, { ...spec, pppoe: true, vlans: [7] }), spec, 'VLAN PPPoE');
    for (const mpls of [[16], [16, 17, 18]]) {
      assertCarries(LT.ETHERNET, tcpIpFrame(LT.ETHERNET, { ...spec, mpls }), spec, `MPLS ${mpls.join('/')}`);
      assertCarries(LT.MPLS, tcpIpFrame(LT.MPLS, { ...spec, mpls }), spec, `LINKTYPE_MPLS ${mpls.join('/')}`);
    }
  }
  // PPPoE discovery (code 0x09, PADI) and PPP control protocols (LCP 0xC021) are not IP.
  const padi = new BufferList().zeros(12).uint16(0x8864).uint8(0x11).uint8(0x09).uint16(0).uint16(0).join();
  const lcp = new BufferList().zeros(12).uint16(0x8864).bytes([0x11, 0, 0, 1, 0, 6]).uint16(0xc021).zeros(4).join();
  const decoder = new PacketDecoder();
  decode(LT.ETHERNET, padi, decoder);
  decode(LT.ETHERNET, lcp, decoder);
  assert.equal(decoder.stats.nonIp, 2);
});

test('link: MPLS explicit null labels name the payload; a pseudowire control word precedes Ethernet', () => {
  // Label 0 (IPv4 explicit null) and 2 (IPv6 explicit null), RFC 3032 section 2.1.
  assertCarries(LT.MPLS, tcpIpFrame(LT.MPLS, { ...V4, mpls: [0] }), V4, 'label 0');
  assertCarries(LT.MPLS, tcpIpFrame(LT.MPLS, { ...V6, mpls: [2] }), V6, 'label 2');
  // An Ethernet pseudowire: bottom label, control word (first nibble 0, RFC 4385), Ethernet frame.
  for (const spec of [V4, V6]) {
    const frame = new BufferList()
      .uint32((100 << 12) | 0x100 | 64)
      .uint32(0)
      .bytes(tcpIpFrame(LT.ETHERNET, spec))
      .join();
    assertCarries(LT.MPLS, frame, spec, 'pseudowire');
  }
  // Anything else after the stack (an OAM channel, nibble 1) is not taken for IP.
  const oam = new BufferList()
    .uint32((100 << 12) | 0x100 | 64)
    .uint32(0x10000000)
    .join();
  assert.equal(decode(LT.MPLS, oam).stats.nonIp, 1);
});

test('link: 802.3 frames (a length for an ethertype) and SLL protocol 4 read their 802.2 LLC/SNAP header', () => {
  for (const spec of [V4, V6]) {
    const ip = ipPacket(spec);
    const llc = new BufferList()
      .bytes([0xaa, 0xaa, 0x03, 0, 0, 0])
      .uint16(spec === V4 ? 0x0800 : 0x86dd)
      .bytes(ip)
      .join();
    const ieee8023 = new BufferList().zeros(12).uint16(llc.length).bytes(llc).join();
    assertCarries(LT.ETHERNET, ieee8023, spec, '802.3');
    const sll = new BufferList().uint16(0).uint16(1).uint16(6).zeros(8).uint16(0x0004).bytes(llc).join();
    assertCarries(LT.LINUX_SLL, sll, spec, 'SLL LLC');
  }
});

test('link: Frame Relay with an ethertype right after the address (as Cisco routers send it)', () => {
  const frame = new BufferList().uint8(0x18).uint8(0x41).uint16(0x86dd).bytes(ipPacket(V6)).join();
  assertCarries(LT.FRELAY, frame, V6, 'Cisco frame relay');
  // SNAP after the NLPID 0x80 (RFC 2427 section 5.1): pad, OUI 0, ethertype.
  const snap = new BufferList()
    .uint8(0x18)
    .uint8(0x41)
    .uint8(0x03)
    .uint8(0x00)
    .uint8(0x80)
    .bytes([0, 0, 0])
    .uint16(0x0800)
    .bytes(ipPacket(V4))
    .join();
  assertCarries(LT.FRELAY, snap, V4, 'RFC 2427 SNAP');
});

test('link: 802.11 data frames: QoS, four addresses, HT control, radiotap data pad and TSFT', () => {
  const shapes = [
    { qos: true },
    { qos: true, htc: true },
    { fourAddresses: true },
    { qos: true, fourAddresses: true },
    { qos: true, dataPad: true },
    { qos: true, dataPad: true, tsft: true },
    { tsft: true },
  ];
  for (const wlan of shapes) {
    for (const linkType of [LT.IEEE802_11, LT.IEEE802_11_RADIOTAP, LT.PPI, LT.IEEE802_11_PRISM, LT.IEEE802_11_AVS]) {
      // The data pad is radiotap's: other headers cannot say it.
      if (wlan.dataPad && linkType !== LT.IEEE802_11_RADIOTAP) continue;
      for (const spec of [V4, V6])
        assertCarries(
          linkType,
          tcpIpFrame(linkType, { ...spec, wlan }),
          spec,
          `${JSON.stringify(wlan)} on ${linkType}`,
        );
    }
  }
});

test('link: 802.11 frames that carry no readable IP: encrypted, null data, management, fragments', () => {
  const decoder = new PacketDecoder();
  decode(LT.IEEE802_11, tcpIpFrame(LT.IEEE802_11, { ...V4, wlan: { protected: true } }), decoder);
  decode(LT.IEEE802_11, tcpIpFrame(LT.IEEE802_11, { ...V4, wlan: { nullData: true } }), decoder);
  decode(LT.IEEE802_11, tcpIpFrame(LT.IEEE802_11, { ...V4, wlan: { qos: true, nullData: true } }), decoder);
  // A beacon (type 0, subtype 8).
  decode(LT.IEEE802_11, Uint8Array.of(0x80, 0, ...new Uint8Array(40)), decoder);
  // The second fragment of an MSDU (fragment number 1), and a first one with More Fragments set.
  const second = tcpIpFrame(LT.IEEE802_11, V4);
  second[22] = 0x11;
  decode(LT.IEEE802_11, second, decoder);
  const first = tcpIpFrame(LT.IEEE802_11, V4);
  first[1] = first[1]! | 0x04;
  decode(LT.IEEE802_11, first, decoder);
  // An A-MSDU (QoS control bit 7): several packets in one frame, where one frame gives one packet.
  const amsdu = tcpIpFrame(LT.IEEE802_11, { ...V4, wlan: { qos: true } });
  amsdu[24] = 0x80;
  decode(LT.IEEE802_11, amsdu, decoder);
  assert.equal(decoder.stats.nonIp, 7);
  assert.equal(decoder.stats.tcp, 0);
  // A protocol version other than 0 is not 802.11 as we know it.
  const v1 = tcpIpFrame(LT.IEEE802_11, V4);
  v1[0] = v1[0]! | 1;
  assert.equal(decode(LT.IEEE802_11, v1).stats.malformed, 1);
});

test('link: pseudo-headers in the capturing host byte order, little- or big-endian (NFLOG, Prism, ENC)', () => {
  for (const linkType of [LT.NFLOG, LT.IEEE802_11_PRISM, LT.ENC]) {
    for (const spec of [V4, V6]) {
      for (const hostByteOrder of ['le', 'be'] as const)
        assertCarries(linkType, tcpIpFrame(linkType, { ...spec, hostByteOrder }), spec, `${linkType} ${hostByteOrder}`);
    }
  }
});

test('link: NFLOG without a payload TLV, or with a zero TLV length', () => {
  const noPayload = new BufferList('le').uint8(2).uint8(0).uint16(1, 'be').uint16(8).uint16(1).uint32(0).join();
  assert.equal(decode(LT.NFLOG, noPayload).stats.truncated, 1);
  const zero = new BufferList('le').uint8(2).uint8(0).uint16(1, 'be').uint16(0).uint16(1).uint32(0).join();
  assert.equal(decode(LT.NFLOG, zero).stats.malformed, 1);
  const arp = new BufferList('le').uint8(3).uint8(0).uint16(1, 'be').join();
  assert.equal(decode(LT.NFLOG, arp).stats.nonIp, 1);
});

test('link: ERF records of other types: with extension headers, PoS HDLC, raw IPv4 and IPv6', () => {
  const record = (type: number, body: Uint8Array, extensions = 0) => {
    const b = new BufferList()
      .uint64(0n, 'le')
      .uint8(type | (extensions > 0 ? 0x80 : 0))
      .uint8(0x04);
    b.uint16(16 + extensions * 8 + body.length)
      .uint16(0)
      .uint16(body.length);
    for (let i = 0; i < extensions; i++) b.uint8(i < extensions - 1 ? 0x80 : 0x01).zeros(7);
    return b.bytes(body).join();
  };
  for (const spec of [V4, V6]) {
    const ip = ipPacket(spec);
    assertCarries(LT.ERF, record(spec === V4 ? 22 : 23, ip), spec, 'ERF raw IP');
    assertCarries(LT.ERF, record(1, linkFrame(LT.PPP_HDLC, ip)), spec, 'ERF PoS PPP');
    assertCarries(LT.ERF, record(10, linkFrame(LT.C_HDLC, ip)), spec, 'ERF colored PoS Cisco HDLC');
    const ethernet = Uint8Array.of(0, 0, ...linkFrame(LT.ETHERNET, ip));
    assertCarries(LT.ERF, record(16, ethernet, 3), spec, 'ERF DSM colored Ethernet, 3 extension headers');
  }
  assert.equal(decode(LT.ERF, record(3, new Uint8Array(48))).stats.nonIp, 1); // an ATM cell
});

test('link: PKTAP version 2 headers, and PPI around Ethernet', () => {
  // Version 2: length (1), offsets (5), DLT (2), ..., flags with 0x80000 at offset 36; 40 bytes here.
  const header = new BufferList('le').uint8(40).zeros(5).uint16(LT.ETHERNET).zeros(28).uint32(0x00080002).join();
  for (const spec of [V4, V6]) {
    assertCarries(LT.PKTAP, concat(header, tcpIpFrame(LT.ETHERNET, spec)), spec, 'PKTAP v2');
    const ppi = new BufferList('le').uint8(0).uint8(0).uint16(8).uint32(LT.ETHERNET).join();
    assertCarries(LT.PPI, concat(ppi, tcpIpFrame(LT.ETHERNET, spec)), spec, 'PPI Ethernet');
  }
});

test('link: every cut of every frame lands in one bucket and never throws', () => {
  for (const [name, linkType] of LINK_TYPES) {
    for (const spec of [V4, V6]) {
      const frame = tcpIpFrame(linkType, spec);
      const decoder = new PacketDecoder();
      for (let cut = 0; cut <= frame.length; cut++) {
        decoder.decode({ ts: 0, linkType, interfaceId: 0, data: frame.subarray(0, cut), originalLength: frame.length });
      }
      const s = decoder.stats;
      const dropped = s.nonIp + s.nonTcp + s.fragments + s.malformed;
      // Each cut is a TCP segment (maybe with a cut payload) or dropped; the last few return the whole segment.
      assert.ok(s.tcp >= 6, `${name}: the cuts inside the payload still give the segment`);
      assert.ok(s.tcp + dropped + s.truncated >= frame.length + 1, name);
      assert.ok(s.tcp + dropped <= frame.length + 1, name);
    }
  }
});

test('link: headers nested deeper than the bound are malformed, not a stack overflow', () => {
  // PPI headers each naming PPI again, then an Ethernet frame.
  const ppi = new BufferList('le').uint8(0).uint8(0).uint16(8).uint32(LT.PPI).join();
  const deep = concat(...new Array<Uint8Array>(10_000).fill(ppi), tcpIpFrame(LT.ETHERNET, V4));
  assert.equal(decode(LT.PPI, deep).stats.malformed, 1);
  // Within the bound it decodes.
  const last = new BufferList('le').uint8(0).uint8(0).uint16(8).uint32(LT.ETHERNET).join();
  const fine = concat(...new Array<Uint8Array>(MAX_LINK_NESTING - 1).fill(ppi), last, tcpIpFrame(LT.ETHERNET, V4));
  assertCarries(LT.PPI, fine, V4, `${MAX_LINK_NESTING} PPI headers`);
  // MPLS pseudowires carrying Ethernet carrying MPLS...: the same bound.
  let frame = tcpIpFrame(LT.ETHERNET, V4);
  for (let i = 0; i < 5000; i++) {
    frame = new BufferList()
      .zeros(12)
      .uint16(0x8847)
      .uint32((100 << 12) | 0x100 | 64)
      .uint32(0)
      .bytes(frame)
      .join();
  }
  assert.equal(decode(LT.ETHERNET, frame).stats.malformed, 1);
});

test('link: link types with nothing IP in them stay unsupported; the linkFrame round trip holds', () => {
  const { stats } = decode(189, ipPacket(V4));
  assert.deepEqual(stats.unsupportedLinkTypes, { 189: 1 });
  assert.equal(linkFrame(LT.SLIP, ipPacket(V4)).length, 16 + ipPacket(V4).length);
});
