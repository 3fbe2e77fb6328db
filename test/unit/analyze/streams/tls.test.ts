/**
 * The TLS stream (src/analyze/streams/tls.ts) on its own, fed as a connection feeds it: the `tls`
 * facts of each handshake the builder makes (full, resumed three ways, HelloRetryRequest), the ALPN
 * chosen or why it is unknown, handshake time, application data and the estimate of exchanges.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REQUESTS_UNKNOWN_NOTE, tls } from '../../../../src/analyze/streams/tls.js';
import { BUILT_IN_STREAMS, sniffStream } from '../../../../src/analyze/streams/index.js';
import { newConnectionRecord } from '../../../../src/analyze/record.js';
import type { ConnectionRecord } from '../../../../src/model/report.js';
import { concat } from '../../../support/buffer-list.js';
import {
  alert,
  appData,
  clientHello,
  handshakeRecord,
  serverHello,
  tls12Full,
  tls12Resumed,
  tls13Full,
  tls13HelloRetry,
  tls13Resumed,
  type Segment,
} from '../../../support/tls-builder.js';

/** Feeds the segments 1 ms apart (the first at 1 ms) and describes the record. */
function described(segments: readonly Segment[], step = 1000): ConnectionRecord {
  const s = tls.create({ http: { serverClose: 0, clientClose: 0 } });
  segments.forEach((seg, i) => assert.equal(s.data(seg.side, seg.bytes, (i + 1) * step), true));
  const r = newConnectionRecord(1, { address: 'a', port: 1 }, { address: 'b', port: 443 }, 0);
  r.notes = s.notes.slice();
  s.describe(r);
  return r;
}

test('tls stream: picked by its ClientHello, after http1, on any port', () => {
  const found = sniffStream(BUILT_IN_STREAMS, handshakeRecord(clientHello()));
  assert.equal(found?.kind, tls);
  assert.equal(found?.sender, 'client');
  assert.equal(sniffStream(BUILT_IN_STREAMS, new TextEncoder().encode('GET / HTTP/1.1\r\n'))?.kind.label, 'HTTP/1.x');
});

test('tls stream: TLS 1.3 full handshake, ALPN chosen unknown (encrypted), exchanges estimated, requests not', () => {
  const r = described(tls13Full(3));
  assert.equal(r.requests, 0, 'requests are never estimated');
  assert.deepEqual(r.tls, {
    version: 'TLS 1.3',
    cipherSuite: 'TLS_AES_128_GCM_SHA256',
    sni: 'example.com',
    alpnOffered: ['h2', 'http/1.1'],
    alpnChosen: null,
    alpnChosenWhyNull: 'encrypted',
    handshake: 'full',
    resumptionOffered: null,
    // ClientHello at 1 ms, the client's Finished at 3 ms.
    handshakeMs: 2,
    // The server's two NewSessionTickets after the client's Finished are counted in (they look the same).
    applicationData: { client: { records: 3, bytes: 300 }, server: { records: 8, bytes: 1450 } },
    estimatedExchanges: 3,
  });
  assert.deepEqual(r.notes, [REQUESTS_UNKNOWN_NOTE]);
});

test('tls stream: TLS 1.3 resumed with a PSK', () => {
  const t = described(tls13Resumed(1)).tls!;
  assert.equal(t.handshake, 'resumed');
  assert.equal(t.resumedWith, 'psk');
  assert.equal(t.resumptionOffered, 'psk');
  assert.equal(t.estimatedExchanges, 1);
});

test('tls stream: a HelloRetryRequest is noted, the handshake runs from the first ClientHello', () => {
  const t = described(tls13HelloRetry(1)).tls!;
  assert.equal(t.helloRetry, true);
  assert.equal(t.version, 'TLS 1.3');
  assert.equal(t.handshake, 'full');
  // First ClientHello at 1 ms, the client's Finished (5th segment) at 5 ms.
  assert.equal(t.handshakeMs, 4);
});

test('tls stream: TLS 1.2 full handshake, ALPN chosen in the clear, handshake ends with the later Finished', () => {
  const t = described(tls12Full(2)).tls!;
  assert.equal(t.version, 'TLS 1.2');
  assert.equal(t.cipherSuite, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
  assert.equal(t.alpnChosen, 'http/1.1');
  assert.equal(t.alpnChosenWhyNull, undefined);
  assert.equal(t.handshake, 'full');
  assert.equal(t.resumptionOffered, null, 'an empty ticket extension offers nothing');
  // ClientHello at 1 ms; the client's Finished at 3 ms, the server's at 4 ms.
  assert.equal(t.handshakeMs, 3);
  assert.equal(t.estimatedExchanges, 2);
});

test('tls stream: TLS 1.2 resumed by session id and by ticket: no Certificate, how it says', () => {
  const byId = described(tls12Resumed('session-id')).tls!;
  assert.deepEqual([byId.handshake, byId.resumedWith, byId.resumptionOffered], ['resumed', 'session-id', 'session-id']);
  const byTicket = described(tls12Resumed('ticket')).tls!;
  assert.deepEqual(
    [byTicket.handshake, byTicket.resumedWith, byTicket.resumptionOffered],
    ['resumed', 'ticket', 'ticket'],
  );
  // The abbreviated handshake: the server's Finished (2 ms) comes before the client's (3 ms).
  assert.equal(byId.handshakeMs, 2);
});

test('tls stream: a TLS 1.2 session id offered but not echoed: full', () => {
  const conversation = tls12Resumed('session-id');
  const server = conversation[1]!;
  // The server picks a new session id and sends its Certificate: a full handshake.
  const full = tls12Full(1);
  const t = described([conversation[0]!, full[1]!, ...full.slice(2)]).tls!;
  assert.equal(server.side, 'server');
  assert.equal(t.handshake, 'full');
  assert.equal(t.resumptionOffered, 'session-id');
});

test('tls stream: only a ClientHello: no version, handshake unknown, ALPN unknown for want of a ServerHello', () => {
  const t = described([{ side: 'client', bytes: handshakeRecord(clientHello({ alpn: ['h2'] })) }]).tls!;
  assert.equal(t.version, null);
  assert.equal(t.cipherSuite, null);
  assert.equal(t.handshake, null);
  assert.equal(t.alpnChosenWhyNull, 'no-server-hello');
  assert.equal(t.handshakeMs, null);
});

test('tls stream: the server refuses with an alert in the clear', () => {
  const r = described([
    { side: 'client', bytes: handshakeRecord(clientHello({ alpn: ['h2'] })) },
    { side: 'server', bytes: alert(2, 120) },
  ]);
  assert.deepEqual(r.tls!.alerts, [{ from: 'server', at: 2, level: 'fatal', description: 'no_application_protocol' }]);
});

test('tls stream: the estimate counts a client burst followed by a server burst, not server pushes', () => {
  const [ch, sh] = [handshakeRecord(clientHello()), handshakeRecord(serverHello({ cipherSuite: 0xc02f }))];
  const t = described([
    { side: 'client', bytes: ch },
    { side: 'server', bytes: sh },
    { side: 'server', bytes: appData(10) }, // nothing asked yet
    { side: 'client', bytes: concat(appData(10), appData(10)) },
    { side: 'client', bytes: appData(10) },
    { side: 'server', bytes: appData(10) },
    { side: 'server', bytes: appData(10) },
    { side: 'client', bytes: appData(10) }, // not answered
  ]).tls!;
  assert.equal(t.estimatedExchanges, 1);
  assert.deepEqual(t.applicationData, { client: { records: 4, bytes: 40 }, server: { records: 3, bytes: 30 } });
});

test('tls stream: bytes that turn out not to be TLS: data() says so, the record too', () => {
  const s = tls.create({ http: { serverClose: 0, clientClose: 0 } });
  assert.equal(s.data('client', appData(5), 1), false);
  const r = newConnectionRecord(1, { address: 'a', port: 1 }, { address: 'b', port: 2 }, 0);
  s.describe(r);
  assert.equal(r.tls, undefined);
  assert.deepEqual(r.notes, ['not TLS']);
});

test('tls stream: framing lost and picked up again is noted', () => {
  const segments = tls13Full(1);
  const s = tls.create({ http: { serverClose: 0, clientClose: 0 } });
  segments.forEach((seg, i) => s.data(seg.side, seg.bytes, i));
  s.gap('server', 7, 9); // between records: lost
  s.data('server', appData(10), 10);
  const r = newConnectionRecord(1, { address: 'a', port: 1 }, { address: 'b', port: 2 }, 0);
  r.notes = s.notes.slice();
  s.describe(r);
  assert.match(r.notes[0]!, /^TLS record framing of the server's bytes lost at byte \d+: 7 bytes not captured/);
  assert.deepEqual(r.notes.slice(1), ['TLS record framing picked up again 1 time', REQUESTS_UNKNOWN_NOTE]);
});
