/**
 * The whole pipeline on captures of every link type off the fast path, of tunnels and of IP
 * fragments, built in code (test/support/capture-builder.ts, tunnel-builder.ts): the same two HTTP
 * connections must come out of each, whatever wraps them, fed in chunks split at every offset
 * (chunks of 1 byte) and at a few sizes, and through analyzeCapture to the RunReport.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { CaptureAnalysis, type CaptureAnalysisResult } from '../../../src/analyze/capture-analysis.js';
import type { ConnectionRecord } from '../../../src/model/report.js';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import { LT, buildPcap, buildPcapng, ipPacket, linkFrame } from '../../support/capture-builder.js';
import type { FrameSpec, TcpPacketSpec } from '../../support/capture-builder.js';
import { encapsulate, fragmentIp, tunnelled, type TunnelSpec } from '../../support/tunnel-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';

/** Two connections: IPv4 keep-alive with two requests, the client closes; IPv6, one request, the server closes. */
function conversation(): TcpPacketSpec[] {
  const a = new Conversation({ address: '10.1.0.5', port: 51000 }, { address: '10.1.0.80', port: 8080 }).handshake(0.2);
  a.send('client', httpGet('/a'), { ack: true });
  a.send('server', httpResponse(200, 1500), { ack: true });
  a.send('client', httpGet('/b'), { ack: true });
  a.send('server', httpResponse(200, 'short'), { ack: true });
  a.close('client');
  const b = new Conversation(
    { address: 'fd00::5', port: 40000 },
    { address: 'fd00::80', port: 8080 },
    { start: a.time + 1000 },
  ).handshake();
  b.send('client', httpGet('/c', { Connection: 'close' }), { ack: true });
  b.send('server', httpResponse(200, 900, { Connection: 'close' }), { ack: true });
  b.close('server');
  return [...a.packets, ...b.packets];
}

const PACKETS = conversation();

function analyze(bytes: Uint8Array, chunk: number): CaptureAnalysisResult {
  const a = new CaptureAnalysis();
  for (let at = 0; at < bytes.length; at += chunk) a.push(bytes.subarray(at, at + chunk));
  a.end();
  return a.result();
}

/** The records, checked against the script, the same at every chunk size; returns the result of whole reads. */
function check(
  name: string,
  bytes: Uint8Array,
  notes: (c: ConnectionRecord) => void = () => {},
): CaptureAnalysisResult {
  const whole = analyze(bytes, bytes.length);
  const w = whole.report;
  assert.equal(w.totals.connections, 2, `${name}: connections (${JSON.stringify(whole.summary)})`);
  assert.equal(w.totals.requests, 3, `${name}: requests`);
  assert.equal(w.totals.responses, 3, `${name}: responses`);
  assert.deepEqual(
    w.connections.map((c) => [c.client.address, c.requests, c.closedFirstBy, c.bytesFromServer > 1500]),
    [
      ['10.1.0.5', 2, 'client', true],
      ['fd00::5', 1, 'server', false],
    ],
    name,
  );
  for (const c of w.connections) notes(c);
  for (const chunk of [1, 7, 1000]) {
    const r = analyze(bytes, chunk);
    assert.deepEqual(r.report, w, `${name}: chunks of ${chunk}`);
    assert.deepEqual(r.summary, whole.summary, `${name}: chunks of ${chunk}`);
  }
  return whole;
}

const ALL_LINK_TYPES = Object.entries(LT).filter(([, t]) => t !== LT.IPV4 && t !== LT.IPV6);

test('pipeline: every link type gives the same connections, split at every offset', () => {
  for (const [name, linkType] of ALL_LINK_TYPES) {
    const r = check(name, buildPcap({ linkType, packets: PACKETS }));
    assert.equal(r.summary.tcpPackets, PACKETS.length, name);
    assert.equal(r.summary.tunnelled, undefined, name);
  }
  // The variants that need options: PPPoE and MPLS inside Ethernet, 802.11 with QoS and data pad.
  const variants: [string, number, Partial<TcpPacketSpec>][] = [
    ['PPPoE', LT.ETHERNET, { pppoe: true }],
    ['MPLS', LT.ETHERNET, { mpls: [100, 200] }],
    ['VLAN MPLS', LT.ETHERNET, { vlans: [10, 20], mpls: [3000] }],
    ['QoS 802.11 with radiotap data pad', LT.IEEE802_11_RADIOTAP, { wlan: { qos: true, dataPad: true, tsft: true } }],
    ['PPP, compressed protocol', LT.PPP, { pppFraming: 'compressed' }],
  ];
  for (const [name, linkType, extra] of variants) {
    check(name, buildPcap({ linkType, packets: PACKETS.map((p) => ({ ...p, ...extra })) }));
  }
});

const TUNNELS: [TunnelSpec[], string][] = [
  [[{ kind: 'gre', src: '192.0.2.1', dst: '192.0.2.2', key: 7 }], 'GRE key 7'],
  [[{ kind: 'gre', src: '2001:db8::1', dst: '2001:db8::2', seq: 1, checksum: true, ethernet: true }], 'GRE'],
  [[{ kind: 'vxlan', src: '192.0.2.1', dst: '192.0.2.2', vni: 42 }], 'VXLAN vni 42'],
  [[{ kind: 'geneve', src: '192.0.2.1', dst: '192.0.2.2', vni: 77, optionBytes: 8 }], 'Geneve vni 77'],
  [[{ kind: 'ipip', src: '192.0.2.1', dst: '192.0.2.2' }], ''],
  [[{ kind: 'pptp', src: '192.0.2.1', dst: '192.0.2.2', callId: 4 }], 'GRE (PPTP call 4)'],
  [
    [
      { kind: 'gre', src: '198.51.100.1', dst: '198.51.100.2', key: 1 },
      { kind: 'vxlan', src: '192.0.2.1', dst: '192.0.2.2', vni: 5 },
    ],
    'VXLAN vni 5',
  ],
];

test('pipeline: tunnels give the inner connections, each saying which tunnel it was in', () => {
  for (const [tunnels, label] of TUNNELS) {
    const name = tunnels.map((t) => t.kind).join(' in ');
    const r = check(name, buildPcap({ packets: tunnelled(PACKETS, tunnels) }), (c) => {
      // IP in IP names the pair of versions: the IPv4 connection is "IP in IP", the IPv6 one "6in4".
      const expected = label || (c.client.address.includes(':') ? '6in4' : 'IP in IP');
      assert.ok(c.notes.includes(`tunnelled in ${expected}`), `${name}: ${c.notes.join('; ')}`);
    });
    assert.equal(r.summary.tunnelled, PACKETS.length, name);
    assert.equal(r.summary.nonTcp, 0, name);
  }
});

/** Each packet's IP datagram (wrapped in `tunnels`) cut into fragments of `size`, in `order`. */
function fragmentedFrames(size: number, reverse: boolean, tunnels: TunnelSpec[] = [], linkType: number = LT.ETHERNET) {
  return PACKETS.flatMap((p): FrameSpec[] => {
    const parts = fragmentIp(encapsulate(ipPacket(p), tunnels), { size, id: (p.seq ?? 0) & 0xffff });
    const ordered = reverse ? parts.reverse() : parts;
    return ordered.map((frame, i) => ({ ts: p.ts! + i, frame: linkFrame(linkType, frame, p) }));
  });
}

test('pipeline: IP fragments (IPv4 and IPv6), in order and reversed, are reassembled', () => {
  for (const reverse of [false, true]) {
    for (const size of [256, 1024]) {
      const frames = fragmentedFrames(size, reverse);
      const r = check(`fragments of ${size}${reverse ? ' reversed' : ''}`, buildPcap({ packets: frames }));
      const split = PACKETS.filter((p) => ipPacket(p).length - (p.src.includes(':') ? 40 : 20) > size).length;
      assert.equal(r.summary.datagramsReassembled, split);
      assert.equal(r.summary.fragments, frames.length - (PACKETS.length - split));
      assert.equal(r.summary.datagramsIncomplete, undefined);
      assert.ok(!r.report.warnings.some((w) => w.code === 'KAL_WARN_FRAGMENTS'));
    }
  }
});

test('pipeline: fragmented tunnels and tunnelled fragments, on other link types', () => {
  const vxlan: TunnelSpec[] = [{ kind: 'vxlan', src: '192.0.2.1', dst: '192.0.2.2', vni: 9 }];
  for (const linkType of [LT.ETHERNET, LT.LINUX_SLL2, LT.PPP, LT.IEEE802_11_RADIOTAP]) {
    const r = check(
      `fragmented VXLAN on ${linkType}`,
      buildPcap({ linkType, packets: fragmentedFrames(512, true, vxlan, linkType) }),
    );
    assert.equal(r.summary.tunnelled, PACKETS.length);
  }
  // The inner packets fragmented, each fragment in its own VXLAN packet.
  const frames = PACKETS.flatMap((p) =>
    fragmentIp(ipPacket(p), { size: 512 }).map((f) => ({
      ts: p.ts!,
      frame: linkFrame(LT.ETHERNET, encapsulate(f, vxlan)),
    })),
  );
  check('VXLAN of fragments', buildPcap({ packets: frames }));
});

test('pipeline: a fragment missing leaves its datagram incomplete, said by a warning', () => {
  const frames = fragmentedFrames(256, false);
  // Drop the second fragment of the big response (the first packet split in more than two).
  const big = frames.findIndex((f, i) => i > 0 && frames[i - 1]!.ts! + 1 === f.ts && frames[i + 1]?.ts === f.ts! + 1);
  const r = analyze(buildPcap({ packets: frames.filter((_, i) => i !== big) }), 1 << 20);
  assert.equal(r.summary.datagramsIncomplete, 1);
  const warning = r.report.warnings.find((w) => w.code === 'KAL_WARN_FRAGMENTS');
  assert.match(warning?.message ?? '', /^1 fragmented IP datagram was not reassembled/);
  // The segment never arrived, as for the receiver: its bytes are missing from the connection.
  assert.ok(r.report.warnings.some((w) => w.code === 'KAL_WARN_MISSING_BYTES'));
});

test('pipeline: pcapng with interfaces of different link types, tunnels among them', () => {
  const half = PACKETS.length / 2;
  const blocks = PACKETS.map((p, i) =>
    i < half
      ? { ...p, interfaceId: 0 }
      : { frame: linkFrame(LT.ETHERNET, encapsulate(ipPacket(p), TUNNELS[2]![0])), ts: p.ts!, interfaceId: 1 },
  );
  const bytes = buildPcapng({ interfaces: [{ linkType: LT.PPP }, { linkType: LT.ETHERNET }], blocks });
  const r = check('pcapng PPP + VXLAN', bytes);
  assert.deepEqual(r.summary.linkTypes, [LT.PPP, LT.ETHERNET]);
  assert.equal(r.summary.tunnelled, PACKETS.length - half);
});

test('pipeline: analyzeCapture reads each kind into a RunReport with the counts', async () => {
  const captures: [string, Uint8Array][] = [
    ['PPP', buildPcap({ linkType: LT.PPP, packets: PACKETS })],
    ['802.11 radiotap', buildPcap({ linkType: LT.IEEE802_11_RADIOTAP, packets: PACKETS })],
    ['NFLOG', buildPcap({ linkType: LT.NFLOG, packets: PACKETS })],
    ['VXLAN', buildPcap({ packets: tunnelled(PACKETS, TUNNELS[2]![0]) })],
    ['fragments', buildPcap({ packets: fragmentedFrames(256, true) })],
  ];
  for (const [name, bytes] of captures) {
    const run = await analyzeCapture(Readable.from([Buffer.from(bytes)]));
    const wire = run.observers[0]!;
    assert.equal(wire.totals.connections, 2, name);
    assert.equal(wire.totals.requests, 3, name);
    assert.deepEqual(wire.totals.closedFirstBy, { client: 1, server: 1, unknown: 0 }, name);
    assert.equal(run.verdict.code, 'reuse', name);
  }
});
