/**
 * CaptureAnalysis: capture bytes (built in code by test/support/capture-builder.ts) in, the wire
 * observer's report out. The same scripted exchanges as tracker.test.ts, written as pcap and
 * pcapng files of several link types and fed in chunks split anywhere, must give the same
 * connection records as the TcpPacket objects fed to the tracker directly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CaptureAnalysis } from '../../../src/analyze/capture-analysis.js';
import type { CaptureAnalysisOptions, CaptureAnalysisResult } from '../../../src/analyze/capture-analysis.js';
import { ConnectionTracker } from '../../../src/analyze/tracker.js';
import { KeepaliveLabError, NotACaptureError, UnsupportedLinkTypeError } from '../../../src/errors.js';
import type { ConnectionRecord } from '../../../src/model/report.js';
import { BufferList } from '../../support/buffer-list.js';
import { LT, buildPcap, buildPcapng, ipPacket, linkFrame } from '../../support/capture-builder.js';
import type { TcpPacketSpec } from '../../support/capture-builder.js';
import { CUT_HEADS, withoutTshark } from '../../support/tshark-check.js';
import { Conversation, httpGet, httpResponse, toTcpPacket } from '../../support/tcp-conversation.js';

const CLIENT = { address: '192.0.2.10', port: 51000 };
const SERVER = { address: '192.0.2.80', port: 8080 };

function analyze(
  bytes: Uint8Array,
  options?: CaptureAnalysisOptions,
  chunk = bytes.length || 1,
): CaptureAnalysisResult {
  const a = new CaptureAnalysis(options);
  for (let at = 0; at < bytes.length; at += chunk) a.push(bytes.subarray(at, at + chunk));
  a.end();
  return a.result();
}

function direct(packets: readonly TcpPacketSpec[]): ConnectionRecord[] {
  const tracker = new ConnectionTracker();
  for (const p of packets) tracker.packet(toTcpPacket(p));
  return tracker.result().connections;
}

/** Exchanges worth seeing through every format. */
function scenarios(): { name: string; packets: TcpPacketSpec[]; expect: Partial<ConnectionRecord>[] }[] {
  const keep = new Conversation(CLIENT, SERVER).handshake(0.3);
  for (let i = 0; i < 3; i++) {
    keep.send('client', httpGet(`/${i}`), { ack: true });
    keep.send('server', httpResponse(i === 1 ? 404 : 200, 'x'.repeat(100 * i)), { ack: true });
    keep.wait(50);
  }
  keep.close('client');

  const closing = new Conversation({ ...CLIENT, port: 51001 }, SERVER).handshake();
  closing.send('client', httpGet('/', { Connection: 'close' }), { ack: true });
  closing.send('server', httpResponse(200, 'bye', { Connection: 'close' }));
  closing.close('server');

  const v6 = new Conversation(
    { address: '2001:db8::a', port: 40000 },
    { address: '2001:db8::1', port: 80 },
  ).handshake();
  v6.send('client', httpGet() + httpGet('/2'), { ack: true });
  v6.send('server', httpResponse() + httpResponse(200, 'two'), { ack: true });
  v6.rst('client');

  const wrap = new Conversation({ ...CLIENT, port: 51002 }, SERVER, {
    clientIsn: 2 ** 32 - 20,
    serverIsn: 2 ** 32 - 3,
  }).handshake();
  const req = httpGet('/wrap');
  wrap.send('client', req.slice(0, 25));
  const second = wrap.send('client', req.slice(25));
  wrap.packets.push({ ...second, ts: second.ts! + 5 }); // retransmitted
  wrap.send('server', httpResponse(200, 'w'.repeat(40)), { ack: true });
  const [a, b, ...after] = wrap.packets.splice(3);
  wrap.packets.push(b!, a!, ...after); // and out of order

  return [
    {
      name: 'keep-alive, 3 requests, client closes',
      packets: keep.packets,
      expect: [
        {
          requests: 3,
          responses: 3,
          statusCodes: [200, 404, 200],
          handshakeRttMs: 0.3,
          closedFirstBy: 'client',
          timeWait: 'client',
          idleGapsMs: [50.2, 50.2],
        },
      ],
    },
    {
      name: 'Connection: close, server closes',
      packets: closing.packets,
      expect: [{ requests: 1, responses: 1, closedFirstBy: 'server', timeWait: 'server' }],
    },
    {
      name: 'IPv6, pipelined, reset',
      packets: v6.packets,
      expect: [{ requests: 2, responses: 2, resetBy: 'client', openAtEnd: false }],
    },
    {
      name: 'sequence wrap, retransmitted and reordered',
      packets: wrap.packets,
      expect: [{ requests: 1, responses: 1, notes: ['1 retransmitted segment', '1 out-of-order segment'] }],
    },
  ];
}

function pick(record: ConnectionRecord, keys: Partial<ConnectionRecord>): Partial<ConnectionRecord> {
  return Object.fromEntries(Object.keys(keys).map((k) => [k, record[k as keyof ConnectionRecord]]));
}

test('capture analysis: each exchange gives the same records from TcpPackets, pcap and pcapng of any link type', () => {
  for (const s of scenarios()) {
    const expected = direct(s.packets);
    assert.deepEqual(
      expected.map((c, i) => pick(c, s.expect[i]!)),
      s.expect,
      s.name,
    );
    const v4 = !s.packets[0]!.src.includes(':');
    const files: [string, Uint8Array][] = [
      ['pcap ethernet le', buildPcap({ linkType: LT.ETHERNET, packets: s.packets })],
      ['pcap ethernet be, ns', buildPcap({ linkType: LT.ETHERNET, byteOrder: 'be', nanos: true, packets: s.packets })],
      ['pcap linux sll', buildPcap({ linkType: LT.LINUX_SLL, packets: s.packets })],
      ['pcap null (macOS lo0)', buildPcap({ linkType: LT.NULL, packets: s.packets })],
      ['pcap raw', buildPcap({ linkType: LT.RAW, packets: s.packets })],
      [v4 ? 'pcap ipv4' : 'pcap ipv6', buildPcap({ linkType: v4 ? LT.IPV4 : LT.IPV6, packets: s.packets })],
      ['pcapng sll2', buildPcapng({ interfaces: [{ linkType: LT.LINUX_SLL2 }], blocks: s.packets })],
      [
        'pcapng be, ns, loop',
        buildPcapng({ byteOrder: 'be', interfaces: [{ linkType: LT.LOOP, tsresol: 9 }], blocks: s.packets }),
      ],
      [
        'pcapng, two interfaces',
        buildPcapng({
          interfaces: [{ linkType: LT.ETHERNET }, { linkType: LT.RAW }],
          blocks: s.packets.map((p, i) => ({ ...p, interfaceId: i % 2 })),
        }),
      ],
    ];
    for (const [format, bytes] of files) {
      for (const chunk of [bytes.length, 1000, 7]) {
        const r = analyze(bytes, {}, chunk);
        assert.deepEqual(r.report.connections, expected, `${s.name}: ${format}, chunks of ${chunk}`);
        assert.equal(r.summary.frames, s.packets.length, `${s.name}: ${format}`);
        assert.equal(r.summary.tcpPackets, s.packets.length);
        assert.equal(r.summary.analyzedPackets, s.packets.length);
        assert.deepEqual(r.report.warnings, []);
      }
    }
  }
});

test('capture analysis: a capture split at every offset gives the same report', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', httpGet('/a'), { ack: true });
  c.send('server', httpResponse(200, 'aaaa'), { ack: true });
  c.close('server');
  const bytes = buildPcap({ packets: c.packets });
  const whole = analyze(bytes).report;
  assert.equal(whole.connections[0]!.requests, 1);
  for (let at = 0; at <= bytes.length; at++) {
    const a = new CaptureAnalysis();
    a.push(bytes.subarray(0, at));
    a.push(bytes.subarray(at));
    a.end();
    assert.deepEqual(a.result().report, whole, `split at ${at}`);
  }
});

test('capture analysis: the report of a keep-alive capture', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  for (let i = 0; i < 4; i++) {
    c.send('client', httpGet(`/${i}`), { ack: true });
    c.send('server', httpResponse(), { ack: true });
  }
  c.close('client');
  const r = analyze(buildPcap({ packets: c.packets }));
  assert.equal(r.report.observer, 'wire');
  assert.equal(r.report.available, true);
  assert.equal(r.report.seesRequests, true);
  assert.deepEqual(r.report.totals, {
    connections: 1,
    syns: 1,
    requests: 4,
    responses: 4,
    requestsPerConnection: { min: 4, median: 4, max: 4, mean: 4 },
    reusedRequests: 3,
    handshakeShare: 0.25,
    closedFirstBy: { client: 1, server: 0, unknown: 0 },
    resets: 0,
    resetsBy: { client: 0, server: 0 },
    timeWait: { client: 1, server: 0 },
  });
  assert.deepEqual(r.report.http, { serverClose: 0, clientClose: 0 });
  assert.deepEqual(r.summary, {
    format: 'pcap',
    linkTypes: [1],
    bytes: r.summary.bytes,
    frames: c.packets.length,
    tcpPackets: c.packets.length,
    analyzedPackets: c.packets.length,
    nonIp: 0,
    nonTcp: 0,
    fragments: 0,
    truncated: 0,
    malformed: 0,
  });
  assert.equal(r.info?.format, 'pcap');
});

test('capture analysis: a snap length that cuts the bodies: requests counted, bytes said missing', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  for (let i = 0; i < 3; i++) {
    c.send('client', httpGet(`/${i}`), { ack: true });
    c.send('server', httpResponse(200, 2000), { ack: true });
  }
  c.close('client');
  const headers = 14 + 20 + 20; // Ethernet, IPv4, TCP without options
  const r = analyze(buildPcap({ snaplen: headers + 300, packets: c.packets }));
  const conn = r.report.connections[0]!;
  assert.equal(conn.requests, 3);
  assert.equal(conn.responses, 3);
  const cut = httpResponse(200, 2000).length - 300;
  assert.ok(conn.notes.includes(`${3 * cut} payload bytes not captured`), conn.notes.join('; '));
  assert.equal(r.summary.truncated, 3);
  assert.deepEqual(
    r.report.warnings.map((w) => w.code),
    ['KAL_WARN_MISSING_BYTES'],
  );

  // Cut inside the request heads: the client's framing is lost, said in the notes, no crash.
  const r2 = analyze(withoutTshark(CUT_HEADS, () => buildPcap({ snaplen: headers + 10, packets: c.packets })));
  const conn2 = r2.report.connections[0]!;
  assert.equal(conn2.requests, 0);
  assert.ok(
    conn2.notes.some((n) => /HTTP framing of the client's bytes lost/.test(n)),
    conn2.notes.join('; '),
  );
  assert.equal(conn2.closedFirstBy, 'client');
  // Headers only (tcpdump -s 54): nothing to frame, the connection is still followed.
  const r3 = analyze(buildPcap({ snaplen: headers, packets: c.packets }));
  assert.equal(r3.report.totals.connections, 1);
  assert.equal(r3.report.connections[0]!.timeWait, 'client');
  assert.equal(r3.report.connections[0]!.bytesFromClient, 3 * httpGet('/0').length);
});

test('capture analysis: accept() keeps only the packets in focus', () => {
  const packets: TcpPacketSpec[] = [];
  for (const port of [8080, 9090, 8080]) {
    const c = new Conversation(
      { address: '10.9.9.9', port: 30000 + packets.length },
      { address: '10.9.9.1', port },
    ).handshake();
    c.send('client', httpGet(), { ack: true });
    c.send('server', httpResponse(), { ack: true });
    packets.push(...c.packets);
  }
  const r = analyze(buildPcap({ packets }), { accept: (p) => p.srcPort === 9090 || p.dstPort === 9090 });
  assert.equal(r.report.totals.connections, 1);
  assert.equal(r.report.connections[0]!.server.port, 9090);
  assert.equal(r.summary.tcpPackets, packets.length);
  assert.equal(r.summary.analyzedPackets, packets.length / 3);
});

test('capture analysis: a capture of only an unknown link type is an error; mixed, a warning', () => {
  const ip = ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 });
  const onlyUnknown = buildPcap({ linkType: 147, packets: [{ frame: ip }, { frame: ip }] });
  assert.throws(
    () => analyze(onlyUnknown),
    (e: unknown) =>
      e instanceof UnsupportedLinkTypeError && e.code === 'KAL_ERR_UNSUPPORTED_LINK_TYPE' && e.linkType === 147,
  );
  const mixed = buildPcapng({
    interfaces: [{ linkType: 147 }, { linkType: LT.RAW }],
    blocks: [
      { frame: ip, interfaceId: 0 },
      { frame: linkFrame(LT.RAW, ip), interfaceId: 1 },
    ],
  });
  const r = analyze(mixed);
  assert.equal(r.report.totals.connections, 1);
  assert.deepEqual(
    r.report.warnings.map((w) => w.code),
    ['KAL_WARN_LINK_TYPE'],
  );
  assert.match(r.report.warnings[0]!.message, /1 frames with unsupported link type 147/);
});

test('capture analysis: no TCP, fragments, garbage frames: warnings, not errors', () => {
  const udp = ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 53, dstPort: 53 });
  udp[9] = 17;
  const arp = new BufferList().zeros(12).uint16(0x0806).zeros(28).join();
  const r = analyze(buildPcap({ linkType: LT.RAW, packets: [{ frame: udp }] }));
  assert.equal(r.report.totals.connections, 0);
  assert.deepEqual(
    r.report.warnings.map((w) => w.code),
    ['KAL_WARN_NO_TCP'],
  );

  const frag = ipPacket({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 1,
    dstPort: 2,
    fragment: { offset: 0, more: true },
  });
  const r2 = analyze(
    buildPcap({
      linkType: LT.ETHERNET,
      packets: [
        { frame: arp },
        { frame: linkFrame(LT.ETHERNET, frag) },
        { frame: Uint8Array.of(1, 2, 3) },
        { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, flags: 'S' },
      ],
    }),
  );
  assert.equal(r2.report.totals.connections, 1);
  assert.equal(r2.summary.nonIp, 1);
  assert.equal(r2.summary.fragments, 1);
  assert.equal(r2.summary.truncated + r2.summary.malformed, 1);
  assert.ok(r2.report.warnings.some((w) => w.code === 'KAL_WARN_FRAGMENTS'));
});

test('capture analysis: bytes that are not a capture throw NotACaptureError; an empty input too', () => {
  const text = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.throws(
    () => analyze(text),
    (e: unknown) => e instanceof NotACaptureError && e.code === 'KAL_ERR_NOT_A_CAPTURE',
  );
  assert.throws(
    () => analyze(new Uint8Array(0)),
    (e: unknown) => e instanceof KeepaliveLabError && e.code === 'KAL_ERR_NOT_A_CAPTURE',
  );
  assert.throws(
    () => analyze(Uint8Array.of(0xd4, 0xc3)),
    (e: unknown) => e instanceof KeepaliveLabError && e.code === 'KAL_ERR_NOT_A_CAPTURE',
  );
});

test('capture analysis: a capture cut short keeps what it had and says so', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(200, 500), { ack: true });
  const bytes = buildPcap({ packets: c.packets });
  const r = analyze(bytes.subarray(0, bytes.length - 30));
  assert.equal(r.report.totals.connections, 1);
  assert.equal(r.report.connections[0]!.requests, 1);
  assert.equal(r.summary.frames, c.packets.length - 1);
  assert.ok(r.report.warnings.some((w) => w.code === 'KAL_WARN_TRUNCATED'));
});

test('capture analysis: a capture cut inside its file header is not a capture (not an empty report)', () => {
  const pcap = buildPcap({ packets: [] });
  const pcapng = buildPcapng({ interfaces: [{ linkType: LT.ETHERNET }], blocks: [] });
  for (const [name, bytes, headerLength] of [
    ['pcap', pcap, 24],
    ['pcapng', pcapng, 28],
  ] as const) {
    for (let length = 0; length < headerLength; length++) {
      assert.throws(
        () => analyze(bytes.subarray(0, length), {}, 3),
        (e: unknown) => e instanceof NotACaptureError && e.code === 'KAL_ERR_NOT_A_CAPTURE',
        `${name} cut at ${length}`,
      );
    }
    assert.equal(analyze(bytes.subarray(0, headerLength)).summary.format, name);
  }
});
