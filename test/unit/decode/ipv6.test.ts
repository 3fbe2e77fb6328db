import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, ipv6ToString } from '../../../src/decode/ipv6.js';
import { PacketDecoder } from '../../../src/decode/packet.js';
import { BufferList } from '../../support/buffer-list.js';
import { LT, ipPacket, parseIpv6, type Ipv6ExtensionSpec, type TcpPacketSpec } from '../../support/capture-builder.js';

const SPEC: TcpPacketSpec = {
  src: '2001:db8::1',
  dst: '2001:db8::2',
  srcPort: 40000,
  dstPort: 80,
  flags: 'PA',
  payload: 'HTTP/1.1 200 OK\r\n',
};

function decodeRaw(data: Uint8Array, decoder = new PacketDecoder(), originalLength = data.length) {
  return {
    packet: decoder.decode({ ts: 0, linkType: LT.RAW, interfaceId: 0, data, originalLength }),
    stats: decoder.stats,
  };
}

test('ipv6: extension headers are walked: hop-by-hop, routing, destination options, AH, atomic fragment', () => {
  const chains: Ipv6ExtensionSpec[][] = [
    [{ type: 0 }],
    [{ type: 43 }],
    [{ type: 60 }],
    [{ type: 51 }],
    [{ type: 44 }],
    [{ type: 0 }, { type: 60 }, { type: 43 }, { type: 44 }, { type: 51 }, { type: 60 }],
  ];
  for (const ipv6Extensions of chains) {
    const { packet, stats } = decodeRaw(ipPacket({ ...SPEC, ipv6Extensions }));
    assert.ok(packet, JSON.stringify(ipv6Extensions));
    assert.equal(packet.payloadLength, 17);
    assert.equal(new TextDecoder().decode(packet.payload), 'HTTP/1.1 200 OK\r\n');
    assert.equal(stats.fragments, 0);
  }
});

test('ipv6: real fragments (offset > 0 or M set) are held for reassembly, not decoded alone', () => {
  const decoder = new PacketDecoder();
  // A 32-byte TCP segment: every fragment but the last must be a multiple of 8 bytes (RFC 8200 section 4.5).
  const payload = 'HTTP/1.1 200';
  for (const ext of [
    { type: 44, offset: 0, more: true },
    { type: 44, offset: 100, more: true },
    { type: 44, offset: 200, more: false },
  ] as const) {
    assert.equal(decodeRaw(ipPacket({ ...SPEC, payload, ipv6Extensions: [{ type: 0 }, ext] }), decoder).packet, null);
  }
  assert.equal(decoder.stats.fragments, 3);
});

test('ipv6: other upper layers (UDP, ESP, no next header) are nonTcp', () => {
  const decoder = new PacketDecoder();
  for (const next of [17, 50, 59, 58]) {
    const data = ipPacket(SPEC);
    data[6] = next;
    decodeRaw(data, decoder);
  }
  assert.equal(decoder.stats.nonTcp, 4);
});

test('ipv6: the payload length bounds the packet; trailing bytes are ignored', () => {
  const data = new BufferList().bytes(ipPacket(SPEC)).zeros(6).join();
  const { packet } = decodeRaw(data);
  assert.equal(packet?.payload.length, 17);
});

test('ipv6: cut headers are truncated; headers that overrun the payload length are malformed', () => {
  const data = ipPacket({ ...SPEC, ipv6Extensions: [{ type: 0 }, { type: 44 }] });
  const decoder = new PacketDecoder();
  for (const cut of [1, 39, 40, 41, 47, 50, 55, 60]) decodeRaw(data.subarray(0, cut), decoder, data.length);
  assert.equal(decoder.stats.truncated, 8);

  const overrun = data.slice();
  overrun[41] = 200; // hop-by-hop claims (200 + 1) * 8 bytes
  const shortPayload = data.slice();
  shortPayload[4] = 0;
  shortPayload[5] = 12; // room for the 8-byte hop-by-hop, not the 8-byte fragment header after it
  const badVersion = data.slice();
  badVersion[0] = 0x70;
  for (const bad of [overrun, shortPayload, badVersion]) decodeRaw(bad, decoder);
  assert.equal(decoder.stats.malformed, 3);
});

test('ipv6: a payload length of 0 (jumbogram or offload) falls back to the captured length', () => {
  const data = ipPacket(SPEC);
  data[4] = 0;
  data[5] = 0;
  assert.equal(decodeRaw(data).packet?.payloadLength, 17);
});

test('ipv6: text form follows RFC 5952', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group is not compressed (4.2.2)
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run (4.2.3)
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of equal runs (4.2.3)
    ['2001:DB8:AAAA:BBBB:CCCC:DDDD:EEEE:0001', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1'], // lowercase, no leading zeros
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:1:0:0:0:0:0', '0:0:1::'],
    ['::ffff:192.0.2.128', '::ffff:192.0.2.128'], // IPv4-mapped in mixed notation (section 5)
    ['::ffff:0:0', '::ffff:0.0.0.0'],
    ['::1:ffff:192.0.2.1', '::1:ffff:c000:201'], // not mapped: the prefix is not all zeros
  ];
  for (const [input, expected] of cases) {
    const bytes = parseIpv6(input);
    assert.equal(formatIpv6(bytes, 0), expected, input);
    assert.equal(ipv6ToString(bytes, 0), expected, input);
    assert.equal(ipv6ToString(bytes, 0), expected, `${input} (cached)`);
  }
});

test("ipv6: the address cache never returns a neighbour's string", () => {
  for (let i = 0; i < 5000; i++) {
    const text = `2001:db8:${(i * 31) & 0xffff ? ((i * 31) & 0xffff).toString(16) : '0'}::${(i + 1).toString(16)}`;
    const bytes = new BufferList().zeros(3).bytes(parseIpv6(text)).join();
    assert.equal(ipv6ToString(bytes, 3), formatIpv6(bytes, 3));
  }
  // Addresses differing in one word only.
  const a = parseIpv6('2001:db8::1:2');
  const b = parseIpv6('2001:db8::1:3');
  assert.equal(ipv6ToString(a, 0), '2001:db8::1:2');
  assert.equal(ipv6ToString(b, 0), '2001:db8::1:3');
  assert.equal(ipv6ToString(a, 0), '2001:db8::1:2');
});
