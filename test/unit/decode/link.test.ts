import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { TcpFlag } from '../../../src/model/packet.js';
import { BufferList } from '../../support/buffer-list.js';
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
const V6: TcpPacketSpec = {
  src: '2001:db8::10',
  dst: 'fe80::1',
  srcPort: 51000,
  dstPort: 443,
  seq: 7,
  ack: 9,
  flags: 'S',
};

function decode(linkType: number, data: Uint8Array) {
  const decoder = new PacketDecoder();
  const packet = decoder.decode({ ts: 42, linkType, interfaceId: 0, data, originalLength: data.length });
  return { packet, stats: decoder.stats };
}

const ipLinkTypes: [string, number, TcpPacketSpec[]][] = [
  ['Ethernet', LT.ETHERNET, [V4, V6]],
  ['Linux SLL', LT.LINUX_SLL, [V4, V6]],
  ['Linux SLL2', LT.LINUX_SLL2, [V4, V6]],
  ['BSD NULL, little-endian family', LT.NULL, [V4, V6]],
  [
    'BSD NULL, big-endian family',
    LT.NULL,
    [
      { ...V4, nullByteOrder: 'be' },
      { ...V6, nullByteOrder: 'be' },
    ],
  ],
  ['OpenBSD LOOP', LT.LOOP, [V4, { ...V6, inet6Family: 24 }]],
  ['raw IP 101', LT.RAW, [V4, V6]],
  ['raw IP DLT 12', LT.RAW_DLT12, [V4, V6]],
  ['raw IP DLT 14', LT.RAW_DLT14, [V4, V6]],
  ['IPv4 228', LT.IPV4, [V4]],
  ['IPv6 229', LT.IPV6, [V6]],
];

for (const [name, linkType, specs] of ipLinkTypes) {
  const over = specs.map((s) => (s.src.includes(':') ? 'IPv6' : 'IPv4')).join(' and ');
  test(`link: ${name} (${linkType}) carries TCP over ${over}`, () => {
    for (const spec of specs) {
      const { packet, stats } = decode(linkType, tcpIpFrame(linkType, spec));
      assert.ok(packet, `${name}: ${spec.src}`);
      assert.equal(packet.ipVersion, spec.src.includes(':') ? 6 : 4);
      assert.equal(packet.src, spec.src);
      assert.equal(packet.dst, spec.dst);
      assert.equal(packet.srcPort, spec.srcPort);
      assert.equal(packet.dstPort, spec.dstPort);
      assert.equal(packet.seq, spec.seq);
      assert.equal(packet.ack, spec.ack);
      assert.equal(packet.ts, 42);
      assert.deepEqual(stats, { ...stats, frames: 1, tcp: 1, truncated: 0, malformed: 0, nonIp: 0 });
    }
  });
}

const bsdInet6Name =
  'link: every AF_INET6 value of the BSD family is IPv6 ' + '(24 NetBSD/OpenBSD, 28 FreeBSD, 30 Darwin, 10 Linux)';
test(bsdInet6Name, () => {
  for (const family of [24, 28, 30, 10]) {
    for (const linkType of [LT.NULL, LT.LOOP]) {
      const { packet } = decode(linkType, tcpIpFrame(linkType, { ...V6, inet6Family: family }));
      assert.equal(packet?.ipVersion, 6, `family ${family} on link type ${linkType}`);
    }
  }
});

test('link: VLAN tags, single, 802.1ad Q-in-Q and a stack of three, are skipped', () => {
  for (const vlans of [[100], [10, 20], [1, 2, 3]]) {
    for (const spec of [V4, V6]) {
      const { packet } = decode(LT.ETHERNET, tcpIpFrame(LT.ETHERNET, { ...spec, vlans }));
      assert.equal(packet?.src, spec.src, `vlans ${vlans.join(',')}`);
      assert.equal(packet?.flags, spec === V4 ? TcpFlag.PSH | TcpFlag.ACK : TcpFlag.SYN);
    }
  }
  // The legacy 0x9100 outer tag too.
  const ip = ipPacket(V4);
  const frame = new BufferList()
    .zeros(12)
    .uint16(0x9100)
    .uint16(5)
    .uint16(0x8100)
    .uint16(6)
    .uint16(0x0800)
    .bytes(ip)
    .join();
  assert.equal(decode(LT.ETHERNET, frame).packet?.dst, V4.dst);
});

test('link: non-IP frames are counted as nonIp', () => {
  const arp = new BufferList().zeros(12).uint16(0x0806).zeros(28).join();
  const ieee8023 = new BufferList().zeros(12).uint16(46).zeros(46).join(); // a length, not an ethertype
  const vlanArp = new BufferList().zeros(12).uint16(0x8100).uint16(7).uint16(0x0806).zeros(28).join();
  const sllArp = new BufferList().uint16(0).uint16(1).uint16(6).zeros(8).uint16(0x0806).zeros(28).join();
  const sll2Llc = new BufferList().uint16(0x0004).zeros(18).zeros(20).join();
  const nullUnknown = new BufferList().uint32(7, 'le').bytes(ipPacket(V4)).join();
  const loopUnknown = new BufferList().uint32(99, 'be').bytes(ipPacket(V4)).join();
  const cases: [number, Uint8Array][] = [
    [LT.ETHERNET, arp],
    [LT.ETHERNET, ieee8023],
    [LT.ETHERNET, vlanArp],
    [LT.LINUX_SLL, sllArp],
    [LT.LINUX_SLL2, sll2Llc],
    [LT.NULL, nullUnknown],
    [LT.LOOP, loopUnknown],
  ];
  const decoder = new PacketDecoder();
  for (const [linkType, data] of cases) {
    assert.equal(decoder.decode({ ts: 0, linkType, interfaceId: 0, data, originalLength: data.length }), null);
  }
  assert.equal(decoder.stats.nonIp, cases.length);
  assert.equal(decoder.stats.frames, cases.length);
});

test('link: unknown link types are counted per type, not thrown', () => {
  const decoder = new PacketDecoder();
  const data = ipPacket(V4);
  // USER0, USER15 (private use), LINKTYPE_USB_LINUX: nothing IP to find in them.
  for (const linkType of [147, 147, 162, 189]) {
    assert.equal(decoder.decode({ ts: 0, linkType, interfaceId: 0, data, originalLength: data.length }), null);
  }
  assert.deepEqual(decoder.stats.unsupportedLinkTypes, { 147: 2, 162: 1, 189: 1 });
  assert.equal(decoder.stats.tcp, 0);
});

test('link: headers cut short are truncated; raw IP with a wrong version is malformed', () => {
  const frame = tcpIpFrame(LT.ETHERNET, { ...V4, vlans: [1] });
  const decoder = new PacketDecoder();
  const cuts: [number, Uint8Array][] = [
    [LT.ETHERNET, frame.subarray(0, 13)],
    [LT.ETHERNET, frame.subarray(0, 16)], // inside the VLAN tag
    [LT.LINUX_SLL, new Uint8Array(15)],
    [LT.LINUX_SLL2, new Uint8Array(19)],
    [LT.NULL, new Uint8Array(3)],
    [LT.LOOP, new Uint8Array(2)],
    [LT.RAW, new Uint8Array(0)],
  ];
  for (const [linkType, data] of cuts) decoder.decode({ ts: 0, linkType, interfaceId: 0, data, originalLength: 1500 });
  assert.equal(decoder.stats.truncated, cuts.length);

  const v6 = ipPacket(V6);
  const v4 = ipPacket(V4);
  const bad = Uint8Array.of(0x50, ...v4.subarray(1));
  for (const [linkType, data] of [
    [LT.RAW, bad],
    [LT.IPV4, v6],
    [LT.IPV6, v4],
  ] as const) {
    decoder.decode({ ts: 0, linkType, interfaceId: 0, data, originalLength: data.length });
  }
  assert.equal(decoder.stats.malformed, 3);
});

test('link: the Ethernet payload starts right after the header (linkFrame round trip)', () => {
  const frame = linkFrame(LT.ETHERNET, ipPacket(V4), { ethernetPadding: true });
  const { packet } = decode(LT.ETHERNET, frame);
  assert.equal(new TextDecoder().decode(packet?.payload), 'hello');
});
