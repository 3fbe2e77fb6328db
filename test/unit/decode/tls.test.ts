/**
 * The TLS decoder (src/decode/tls.ts) on bytes built field by field (test/support/tls-builder.ts)
 * and on real hellos (test/support/tls-fixtures.ts): the hellos' fields, the record layer split at
 * every offset, handshake messages that span records, what is told by position, gaps and resyncs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAX_RECORD_LENGTH,
  TlsConnection,
  TlsContentType,
  TlsExtension,
  TlsHandshakeType,
  TlsVersion,
  alertDescriptionName,
  alpnProtocolName,
  isTls13,
  cipherSuiteName,
  namedGroupName,
  parseClientHello,
  parseServerHello,
  sniffTls,
  tlsVersionName,
  type TlsEvents,
} from '../../../src/decode/tls.js';
import { concat } from '../../support/buffer-list.js';
import {
  alert,
  appData,
  clientHello,
  clientHelloBody,
  handshakeRecord,
  record,
  serverHelloBody,
  tls12Full,
  tls12Resumed,
  tls13Full,
  tls13HelloRetry,
  type Segment,
} from '../../support/tls-builder.js';
import { CURL_CLIENT_HELLO_HEX, NGINX_SERVER_FLIGHT_HEX, hexBytes } from '../../support/tls-fixtures.js';

/** Every event as one line of text, in order. */
function recorder(): { events: TlsEvents; log: string[] } {
  const log: string[] = [];
  const events: TlsEvents = {
    clientHello: (h) => log.push(`clientHello ${h.serverName} ${h.alpn.join(',')}`),
    serverHello: (h) => log.push(`serverHello ${tlsVersionName(h.version)} ${h.helloRetryRequest ? 'HRR' : ''}`),
    handshake: (side, type, length) => log.push(`handshake ${side} ${type ?? 'encrypted'} ${length}`),
    finished: (side) => log.push(`finished ${side}`),
    changeCipherSpec: (side) => log.push(`ccs ${side}`),
    alert: (side, a) => log.push(`alert ${side} ${a === null ? 'encrypted' : `${a.level}/${a.description}`}`),
    applicationData: (side, length, _ts, early) => log.push(`data ${side} ${length}${early ? ' early' : ''}`),
    lost: (side, reason, at) => log.push(`lost ${side} ${at} ${reason}`),
    resynced: (side, at) => log.push(`resynced ${side} ${at}`),
    malformed: (side, what) => log.push(`malformed ${side} ${what}`),
  };
  return { events, log };
}

/** The events of a conversation fed segment by segment. */
function run(segments: readonly Segment[], split?: (bytes: Uint8Array) => Uint8Array[]): string[] {
  const { events, log } = recorder();
  const c = new TlsConnection(events);
  segments.forEach((s, i) => {
    for (const part of split ? split(s.bytes) : [s.bytes]) c.push(s.side, part, i);
  });
  return log;
}

test('ClientHello: every field this decoder reads, from built bytes', () => {
  const h = parseClientHello(
    clientHelloBody({
      sessionId: new Uint8Array(32).fill(3),
      cipherSuites: [0x1301, 0xc02f],
      sni: 'example.com',
      alpn: ['h2', 'http/1.1'],
      versions: [0x0a0a, TlsVersion.TLS_1_3, TlsVersion.TLS_1_2],
      groups: [29, 23],
      keyShares: [29, 23],
      pskModes: [1],
      ticket: 0,
      earlyData: true,
      psk: 2,
    }),
  );
  assert.ok(h);
  assert.equal(h.legacyVersion, TlsVersion.TLS_1_2);
  assert.equal(h.random.length, 32);
  assert.deepEqual([...h.sessionId], new Array(32).fill(3));
  assert.deepEqual(h.cipherSuites, [0x1301, 0xc02f]);
  assert.equal(h.serverName, 'example.com');
  assert.deepEqual(h.alpn, ['h2', 'http/1.1']);
  assert.deepEqual(h.supportedVersions, [0x0a0a, 0x0304, 0x0303]);
  assert.deepEqual(h.supportedGroups, [29, 23]);
  assert.deepEqual(h.keyShareGroups, [29, 23]);
  assert.deepEqual(h.pskKeyExchangeModes, [1]);
  assert.equal(h.sessionTicketLength, 0);
  assert.equal(h.earlyData, true);
  assert.equal(h.pskIdentities, 2);
  assert.equal(h.extensions.at(-1), TlsExtension.PRE_SHARED_KEY);
});

test('ClientHello: a ticket offered, no extensions at all (allowed before TLS 1.3), odd SNI bytes', () => {
  assert.equal(parseClientHello(clientHelloBody({ ticket: 160 }))!.sessionTicketLength, 160);
  // The extensions block may be absent altogether (RFC 5246 7.4.1.2).
  const bare = clientHelloBody({}).subarray(0, 2 + 32 + 1 + 2 + 6 + 2);
  const h = parseClientHello(bare);
  assert.ok(h);
  assert.deepEqual(h.extensions, []);
  assert.equal(h.serverName, null);
  assert.equal(parseClientHello(clientHelloBody({ sni: 'a\u0001b\\' }))!.serverName, 'a\\x01b\\x5c');
});

test('ServerHello: the version from supported_versions, PSK, ALPN, HelloRetryRequest', () => {
  const h13 = parseServerHello(serverHelloBody({ version: TlsVersion.TLS_1_3, pskSelected: 0, keyShare: 29 }));
  assert.ok(h13);
  assert.equal(h13.legacyVersion, TlsVersion.TLS_1_2);
  assert.equal(h13.version, TlsVersion.TLS_1_3);
  assert.equal(h13.pskSelected, 0);
  assert.equal(h13.keyShareGroup, 29);
  assert.equal(h13.helloRetryRequest, false);
  const h12 = parseServerHello(serverHelloBody({ cipherSuite: 0xc02f, alpn: 'h2', ticket: true }));
  assert.ok(h12);
  assert.equal(h12.version, TlsVersion.TLS_1_2);
  assert.equal(h12.alpn, 'h2');
  assert.equal(h12.sessionTicket, true);
  assert.equal(h12.cipherSuite, 0xc02f);
  assert.equal(parseServerHello(serverHelloBody({ noExtensions: true }))!.extensions.length, 0);
});

test('the hellos: malformed bodies are null, never a throw', () => {
  const body = clientHelloBody({ sni: 'example.com', alpn: ['h2'] });
  for (let n = 0; n < body.length; n++) {
    const h = parseClientHello(body.subarray(0, n));
    // A cut inside the extensions (or before them) is malformed; a cut right before them is not.
    if (h !== null) assert.ok(n === 2 + 32 + 1 + 2 + 6 + 2, `cut at ${n} parsed`);
  }
  const sh = serverHelloBody({ version: TlsVersion.TLS_1_3 });
  for (let n = 0; n < sh.length; n++)
    if (n !== 38) assert.equal(parseServerHello(sh.subarray(0, n)), null, `cut at ${n}`);
  // A supported_versions with a trailing byte.
  const bad = serverHelloBody({ version: TlsVersion.TLS_1_3 });
  const grown = concat(
    bad.subarray(0, 40),
    Uint8Array.of(0, 7),
    bad.subarray(42, 44),
    Uint8Array.of(0, 3),
    bad.subarray(46),
    Uint8Array.of(0),
  );
  assert.equal(parseServerHello(grown), null);
});

test('real hellos: curl offers h2 and TLS 1.3, nginx chooses TLS 1.3 and TLS_AES_256_GCM_SHA384', () => {
  const ch = hexBytes(CURL_CLIENT_HELLO_HEX);
  assert.equal(sniffTls(ch), 'client');
  const h = parseClientHello(ch.subarray(9));
  assert.ok(h);
  assert.deepEqual(h.alpn, ['h2', 'http/1.1']);
  assert.deepEqual(h.supportedVersions.map(tlsVersionName), ['TLS 1.3', 'TLS 1.2', 'TLS 1.1', 'TLS 1.0']);
  assert.equal(cipherSuiteName(h.cipherSuites[0]!), 'TLS_AES_256_GCM_SHA384');
  assert.deepEqual(h.keyShareGroups.map(namedGroupName), ['x25519']);
  const flight = hexBytes(NGINX_SERVER_FLIGHT_HEX);
  assert.equal(sniffTls(flight), 'server');
  const log = run([
    { side: 'client', bytes: ch },
    { side: 'server', bytes: flight },
  ]);
  assert.deepEqual(log.slice(0, 3), ['clientHello null h2,http/1.1', 'serverHello TLS 1.3 ', 'ccs server']);
  assert.ok(
    log.slice(3).every((line) => /^handshake server encrypted \d+$/.test(line)),
    log.join('\n'),
  );
});

test('sniffing: a ClientHello or ServerHello record, anything else turned away', () => {
  const ch = handshakeRecord(clientHello());
  assert.equal(sniffTls(ch), 'client');
  assert.equal(sniffTls(ch.subarray(0, 6)), 'client');
  assert.equal(sniffTls(ch.subarray(0, 5)), null, 'the handshake type is needed');
  assert.equal(sniffTls(new TextEncoder().encode('GET / HTTP/1.1\r\n')), null);
  assert.equal(sniffTls(appData(10)), null, 'application data is not a first record');
  assert.equal(sniffTls(Uint8Array.of(22, 3, 1, 0xff, 0xff, 1)), null, 'longer than a record can be');
  assert.equal(sniffTls(Uint8Array.of(22, 2, 0, 0, 10, 1)), null, 'SSL 2 and others');
  assert.equal(sniffTls(Uint8Array.of(22, 3, 3, 0, 10, 11)), null, 'a Certificate first');
});

test('names: versions, suites, groups, alerts, ALPN; unknown ones as numbers', () => {
  assert.equal(tlsVersionName(0x0303), 'TLS 1.2');
  assert.equal(tlsVersionName(0x7f1c), 'TLS 1.3 (draft 28)');
  assert.deepEqual([isTls13(0x7f1c), isTls13(0x0304), isTls13(0x0303), isTls13(null)], [true, true, false, false]);
  assert.equal(tlsVersionName(0x1a1a), 'GREASE');
  assert.equal(tlsVersionName(0x0305), '0x0305');
  assert.equal(cipherSuiteName(0x1301), 'TLS_AES_128_GCM_SHA256');
  assert.equal(cipherSuiteName(0xcca8), 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256');
  assert.equal(cipherSuiteName(0x00ab), '0x00AB');
  assert.equal(namedGroupName(0x11ec), 'X25519MLKEM768');
  assert.equal(alertDescriptionName(40), 'handshake_failure');
  assert.equal(alertDescriptionName(200), 'alert 200');
  assert.equal(alpnProtocolName('h2'), 'HTTP/2 over TLS');
  assert.equal(alpnProtocolName('x-custom'), 'x-custom');
});

const TLS13_EVENTS = [
  'clientHello example.com h2,http/1.1',
  'serverHello TLS 1.3 ',
  'ccs server',
  'handshake server encrypted 40',
  'handshake server encrypted 800',
  'handshake server encrypted 90',
  'handshake server encrypted 53',
  'ccs client',
  'finished client',
  'finished server',
  'data server 200',
  'data server 200',
  'data client 100',
  'data server 300',
  'data server 50',
  'data client 100',
  'data server 300',
  'data server 50',
];

test('TLS 1.3: the encrypted flight, the Finished of each side by position, then application data', () => {
  assert.deepEqual(run(tls13Full(2)), TLS13_EVENTS);
});

test('TLS 1.2: Certificate in the clear, Finished after each ChangeCipherSpec, tickets', () => {
  assert.deepEqual(run(tls12Full(1)), [
    'clientHello example.com h2,http/1.1',
    'serverHello TLS 1.2 ',
    `handshake server ${TlsHandshakeType.CERTIFICATE} 900`,
    `handshake server ${TlsHandshakeType.SERVER_KEY_EXCHANGE} 100`,
    `handshake server ${TlsHandshakeType.SERVER_HELLO_DONE} 0`,
    `handshake client ${TlsHandshakeType.CLIENT_KEY_EXCHANGE} 33`,
    'ccs client',
    'finished client',
    `handshake server ${TlsHandshakeType.NEW_SESSION_TICKET} 180`,
    'ccs server',
    'finished server',
    'data client 100',
    'data server 300',
    'data server 50',
  ]);
  assert.deepEqual(run(tls12Resumed('session-id', 0)), [
    'clientHello example.com h2,http/1.1',
    'serverHello TLS 1.2 ',
    'ccs server',
    'finished server',
    'ccs client',
    'finished client',
  ]);
});

test('TLS 1.3 HelloRetryRequest: the second ClientHello is read in the clear after the client CCS', () => {
  const log = run(tls13HelloRetry(0));
  assert.deepEqual(log.slice(0, 6), [
    'clientHello example.com h2,http/1.1',
    'serverHello TLS 1.3 HRR',
    'ccs server',
    'ccs client',
    'clientHello example.com h2,http/1.1',
    'serverHello TLS 1.3 ',
  ]);
  assert.deepEqual(log.slice(-2), ['finished client', 'finished server']);
});

/** Every segment cut in two at every offset, the others whole, in conversation order: the same events. */
test('record and handshake framing: each segment split at every offset, and byte by byte', () => {
  const cases = [
    ['TLS 1.3', tls13Full(2)],
    ['TLS 1.3 HelloRetryRequest', tls13HelloRetry(1)],
    ['TLS 1.2', tls12Full(1)],
    ['TLS 1.2 resumed by ticket', tls12Resumed('ticket', 1)],
  ] as const;
  let splits = 0;
  for (const [name, conversation] of cases) {
    const expected = run(conversation);
    for (let k = 0; k < conversation.length; k++) {
      const bytes = conversation[k]!.bytes;
      for (let at = 0; at <= bytes.length; at++) {
        const { events, log } = recorder();
        const c = new TlsConnection(events);
        conversation.forEach((s, i) => {
          if (i !== k) c.push(s.side, s.bytes, i);
          else {
            c.push(s.side, bytes.subarray(0, at), i);
            c.push(s.side, bytes.subarray(at), i);
          }
        });
        assert.deepEqual(log, expected, `${name}: segment ${k} cut at ${at}`);
        splits++;
      }
    }
    assert.deepEqual(
      run(conversation, (b) => Array.from(b, (x) => Uint8Array.of(x))),
      expected,
      `${name}: byte by byte`,
    );
  }
  assert.ok(splits > 5000, `${splits} splits`);
  assert.deepEqual(run(tls13Full(2)), TLS13_EVENTS);
});

test('a ClientHello fragmented over several records (RFC 8446 5.1) is reassembled', () => {
  const message = clientHello({ sni: 'frag.example', alpn: ['http/1.1'] });
  const records = concat(
    record(TlsContentType.HANDSHAKE, message.subarray(0, 3)),
    record(TlsContentType.HANDSHAKE, message.subarray(3, 50)),
    record(TlsContentType.HANDSHAKE, message.subarray(50)),
  );
  for (let at = 0; at <= records.length; at++) {
    const { events, log } = recorder();
    const c = new TlsConnection(events);
    c.client(records.subarray(0, at), 0);
    c.client(records.subarray(at), 1);
    assert.deepEqual(log, ['clientHello frag.example http/1.1'], `cut at ${at}`);
  }
});

test('alerts: in the clear (2 bytes) with level and description, encrypted ones without', () => {
  const log = run([
    { side: 'client', bytes: handshakeRecord(clientHello()) },
    { side: 'server', bytes: alert(2, 40) },
    { side: 'client', bytes: record(TlsContentType.ALERT, new Uint8Array(26)) },
  ]);
  assert.deepEqual(log.slice(1), ['alert server 2/40', 'alert client encrypted']);
});

test('early data: a client record before the ServerHello, when 0-RTT was offered', () => {
  const log = run([
    { side: 'client', bytes: concat(handshakeRecord(clientHello({ earlyData: true, psk: 1 })), appData(70)) },
  ]);
  assert.deepEqual(log.slice(1), ['data client 70 early']);
});

test('not TLS: a first record that is not a handshake record, or not a record, rejects the connection', () => {
  for (const first of [
    appData(10),
    new TextEncoder().encode('SSH-2.0-OpenSSH_9.2\r\n'),
    Uint8Array.of(22, 3, 3, 0xff, 0xff),
  ]) {
    const { events, log } = recorder();
    const c = new TlsConnection(events);
    c.client(first, 0);
    assert.equal(c.notTls, true);
    c.server(handshakeRecord(clientHello()), 1);
    assert.deepEqual(log, [], 'nothing decoded after');
  }
  assert.ok(MAX_RECORD_LENGTH > 16384);
});

test('gaps: inside an application-data record counted through; across a boundary framing is lost, then resumes', () => {
  const { events, log } = recorder();
  const c = new TlsConnection(events);
  c.client(handshakeRecord(clientHello()), 0);
  const data = appData(1000);
  c.server(data.subarray(0, 100), 1);
  c.gap('server', 800, 2); // inside the record's body
  c.server(data.subarray(900), 3);
  assert.deepEqual(log.slice(1), ['data server 1000']);
  c.server(appData(50).subarray(0, 20), 4);
  c.gap('server', 500, 5); // past the record's end: where the next one starts is unknown
  c.server(Uint8Array.of(1, 2, 3), 6); // not a record header: still lost
  c.server(concat(appData(10), appData(20)), 7);
  assert.deepEqual(log.slice(2), [
    'lost server 1025 500 bytes not captured across a record boundary',
    'resynced server 1528',
    'data server 10',
    'data server 20',
  ]);
});

test('a gap inside a handshake record stops handshake decoding on that side, records go on', () => {
  const { events, log } = recorder();
  const c = new TlsConnection(events);
  const rec = handshakeRecord(clientHello({ sni: `gap.${'g'.repeat(200)}` }));
  assert.ok(rec.length > 150);
  c.client(rec.subarray(0, 60), 0);
  c.gap('client', 40, 1);
  c.client(rec.subarray(100), 2);
  c.client(appData(30), 3);
  assert.deepEqual(log, [
    'malformed client 40 bytes of a handshake record not captured: handshake decoding stops',
    'data client 30',
  ]);
});

test('memory: a hello longer than maxHelloBytes is skipped, never buffered', () => {
  const { events, log } = recorder();
  const c = new TlsConnection(events, { maxHelloBytes: 100 });
  const big = clientHello({ sni: 'x'.repeat(300) });
  c.client(handshakeRecord(big), 0);
  assert.equal(c.heldBytes, 0);
  assert.match(log[0]!, /^malformed client a ClientHello of \d+ bytes, more than 100: not decoded$/);
  // A declared 16 MB ClientHello over many records holds nothing either.
  const d = new TlsConnection(events);
  d.client(record(TlsContentType.HANDSHAKE, Uint8Array.of(1, 0xff, 0xff, 0xff, 0, 0)), 0);
  for (let i = 0; i < 100; i++) d.client(record(TlsContentType.HANDSHAKE, new Uint8Array(16384)), 1);
  assert.equal(d.heldBytes, 0);
});

test('the hello being assembled is the only thing held, and it is let go once decoded', () => {
  const message = clientHello({ sni: `hold.${'h'.repeat(200)}` });
  const c = new TlsConnection({});
  c.client(record(TlsContentType.HANDSHAKE, message.subarray(0, 100)), 0);
  assert.equal(c.heldBytes, message.length - 4);
  c.client(record(TlsContentType.HANDSHAKE, message.subarray(100)), 1);
  assert.equal(c.heldBytes, 0);
});
