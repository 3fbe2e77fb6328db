/**
 * The TLS stream with keys (src/analyze/streams/tls.ts, tls-decryption.ts): conversations whose
 * records are really encrypted (test/support/tls-builder.ts seals them with TlsRecordCipher), opened
 * with the key log the builder writes, their plaintext counted by the HTTP/1.x and HTTP/2 streams.
 * Wrong, missing and late keys, KeyUpdate, a conversation split at every offset, and mutated
 * conversations (no crash, no hang).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REQUESTS_UNKNOWN_NOTE, tls } from '../../../../src/analyze/streams/tls.js';
import { newConnectionRecord } from '../../../../src/analyze/record.js';
import { TlsContentType, TlsHandshakeType } from '../../../../src/decode/tls.js';
import { TlsRecordCipher } from '../../../../src/decode/tls-crypto.js';
import { KeyLog } from '../../../../src/decode/tls-keylog.js';
import type { TlsKeySource } from '../../../../src/decode/tls-keylog.js';
import type { ConnectionRecord } from '../../../../src/model/report.js';
import { concat } from '../../../support/buffer-list.js';
import {
  HTTP2_CLIENT_PREFACE,
  headers,
  requestBlock,
  responseBlock,
  settings,
  settingsAck,
} from '../../../support/h2-frames.js';
import { httpGet, httpResponse } from '../../../support/tcp-conversation.js';
import {
  tls12Encrypted,
  tls13Encrypted,
  type EncryptedConversation,
  type Segment,
} from '../../../support/tls-builder.js';

const enc = new TextEncoder();

function keyLog(text: string): KeyLog {
  const log = new KeyLog();
  log.push(text);
  log.end();
  return log;
}

/** Feeds the segments 1 ms apart, ends both sides and describes the record (`keys` undefined: no keys at all). */
function described(segments: readonly Segment[], keys: TlsKeySource | undefined): ConnectionRecord {
  const s = tls.create(
    keys === undefined
      ? { http: { serverClose: 0, clientClose: 0 } }
      : { http: { serverClose: 0, clientClose: 0 }, keys },
  );
  segments.forEach((seg, i) => s.data(seg.side, seg.bytes, (i + 1) * 1000));
  // Both ends, as a connection that closed: records held for keys are settled.
  s.end('client', segments.length * 1000);
  s.end('server', segments.length * 1000);
  return describe(s);
}

function describe(s: ReturnType<typeof tls.create>): ConnectionRecord {
  const r = newConnectionRecord(1, { address: 'a', port: 1 }, { address: 'b', port: 443 }, 0);
  r.notes = s.notes.slice();
  s.describe(r);
  return r;
}

/** `n` HTTP/1.1 exchanges, one request and its response each. */
function http1Exchanges(n: number): [Uint8Array, Uint8Array][] {
  return Array.from({ length: n }, (_, i) => [
    enc.encode(httpGet(`/${i}`)),
    enc.encode(httpResponse(200, 'x'.repeat(10 + i))),
  ]);
}

/** `n` HTTP/2 streams, one after the other: the preface and SETTINGS with the first. */
function h2Exchanges(n: number): [Uint8Array, Uint8Array][] {
  return Array.from({ length: n }, (_, i) => {
    const id = 2 * i + 1;
    const request = headers(id, requestBlock('GET', `/${i}`), { endStream: true });
    const response = headers(id, responseBlock(200), { endStream: true });
    return i === 0
      ? [concat(HTTP2_CLIENT_PREFACE, settings([]), request), concat(settings([[3, 100]]), settingsAck(), response)]
      : [request, response];
  });
}

function conversationCounts(conv: EncryptedConversation, keys: TlsKeySource = keyLog(conv.keyLog)) {
  const r = described(conv.segments, keys);
  return { r, counts: [r.requests, r.responses, r.tls?.decryption?.status, r.tls?.decryption?.recordsFailed] };
}

test('tls decrypt: TLS 1.3 with HTTP/1.1, every suite: requests and responses counted, ALPN from EncryptedExtensions', () => {
  for (const suite of [0x1301, 0x1302, 0x1303]) {
    const conv = tls13Encrypted({ suite, alpn: 'http/1.1', exchanges: http1Exchanges(3), closeNotify: true });
    const { r, counts } = conversationCounts(conv);
    assert.deepEqual(counts, [3, 3, 'decrypted', 0], `suite ${suite.toString(16)}: ${r.notes.join('; ')}`);
    assert.deepEqual(r.statusCodes, [200, 200, 200]);
    assert.equal(r.tls?.alpnChosen, 'http/1.1');
    assert.equal(r.tls?.alpnChosenWhyNull, undefined);
    // Server flight (3), client Finished, 2 tickets, 3 exchanges each way, 2 close_notify.
    assert.equal(r.tls?.decryption?.recordsOpened, 3 + 1 + 2 + 6 + 2);
    // The tickets are handshake, not application data.
    assert.equal(r.tls?.applicationData.server.records, 3);
    assert.equal(r.tls?.applicationData.client.records, 3);
    assert.deepEqual(
      r.tls?.alerts?.map((a) => [a.from, a.level, a.description]),
      [
        ['client', 'warning', 'close_notify'],
        ['server', 'warning', 'close_notify'],
      ],
    );
    assert.ok(!r.notes.some((n) => n.startsWith(REQUESTS_UNKNOWN_NOTE)), r.notes.join('; '));
    assert.equal(r.tls?.handshake, 'full');
  }
});

test('tls decrypt: TLS 1.3 with h2: the streams counted by the HTTP/2 stream, started by ALPN', () => {
  const conv = tls13Encrypted({ alpn: 'h2', exchanges: h2Exchanges(4), seed: 7 });
  const { r, counts } = conversationCounts(conv);
  assert.deepEqual(counts, [4, 4, 'decrypted', 0], r.notes.join('; '));
  assert.equal(r.http2?.start, 'alpn');
  assert.deepEqual(r.http2?.maxConcurrentStreams, { client: null, server: 100 });
  assert.equal(r.tls?.alpnChosen, 'h2');
});

test('tls decrypt: TLS 1.2 with AES-GCM and ChaCha20-Poly1305, ALPN in the ServerHello', () => {
  for (const suite of [0xc02f, 0xc030, 0xcca8]) {
    const conv = tls12Encrypted({
      suite,
      alpn: 'http/1.1',
      exchanges: http1Exchanges(2),
      seed: suite,
      closeNotify: true,
    });
    const { r, counts } = conversationCounts(conv);
    assert.deepEqual(counts, [2, 2, 'decrypted', 0], `suite ${suite.toString(16)}: ${r.notes.join('; ')}`);
    // Both Finished, two exchanges, two alerts.
    assert.equal(r.tls?.decryption?.recordsOpened, 2 + 4 + 2);
    assert.equal(r.tls?.alerts?.[0]?.description, 'close_notify');
  }
  // Without ALPN: the plaintext is sniffed.
  const { counts } = conversationCounts(tls12Encrypted({ alpn: null, exchanges: h2Exchanges(2), seed: 3 }));
  assert.deepEqual(counts, [2, 2, 'decrypted', 0]);
});

test('tls decrypt: no keys given: as before, no decryption facts', () => {
  const conv = tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(2) });
  const r = described(conv.segments, undefined);
  assert.equal(r.requests, 0);
  assert.equal(r.tls?.decryption, undefined);
  assert.ok(r.notes.includes(REQUESTS_UNKNOWN_NOTE));
});

test('tls decrypt: a key log without this connection: no-keys, said once, requests unknown', () => {
  const conv = tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(2) });
  const other = tls13Encrypted({ alpn: 'http/1.1', exchanges: [], seed: 99 });
  const { r, counts } = conversationCounts(conv, keyLog(other.keyLog));
  assert.deepEqual(counts, [0, 0, 'no-keys', 0]);
  assert.deepEqual(
    r.notes.filter((n) => n.startsWith(REQUESTS_UNKNOWN_NOTE)),
    [`${REQUESTS_UNKNOWN_NOTE}: no key for this connection in the key log`],
  );
  // Still described by position: the estimate and the records as without keys.
  assert.equal(r.tls?.estimatedExchanges, 2);
  assert.equal(r.tls?.handshakeMs, 2);
});

test('tls decrypt: wrong keys for this connection: a note, never a crash; facts by position', () => {
  for (const conv of [
    tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(2) }),
    tls12Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(2) }),
  ]) {
    // Same client random, other secrets.
    const wrong = conv.keyLog.replace(/ ([0-9a-f]+)$/gm, (_, secret: string) => ` ${'ab'.repeat(secret.length / 2)}`);
    const { r, counts } = conversationCounts(conv, keyLog(wrong));
    assert.equal(counts[2], 'wrong-keys', r.notes.join('; '));
    assert.equal(r.requests, 0);
    assert.ok(
      r.notes.includes(`${REQUESTS_UNKNOWN_NOTE}: the key log's keys for this connection do not open its records`),
    );
    assert.equal(r.tls?.estimatedExchanges, 2);
  }
});

test('tls decrypt: a cipher suite not decryptable (CBC) is said so', () => {
  // TLS 1.2 with a CBC suite: the builder cannot seal it, so the records are opaque ones by position.
  const conv = tls12Encrypted({ alpn: 'http/1.1', exchanges: [] });
  const segments = conv.segments.map((s, i) =>
    i === 1
      ? {
          ...s,
          bytes: s.bytes.map((b, k) =>
            k === 5 + 4 + 2 + 32 + 1 + 32 ? 0xc0 : k === 5 + 4 + 2 + 32 + 1 + 32 + 1 ? 0x13 : b,
          ),
        }
      : s,
  );
  const r = described(segments, keyLog(conv.keyLog));
  assert.equal(r.tls?.cipherSuite, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA');
  assert.equal(r.tls?.decryption?.status, 'unsupported-suite');
  assert.ok(
    r.notes.includes(`${REQUESTS_UNKNOWN_NOTE}: cipher suite TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not decryptable`),
  );
});

test('tls decrypt: keys that come after the records: held, then opened (at a later record, or at describe)', () => {
  const conv = tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(4), seed: 5 });
  // At a later record.
  const log = new KeyLog();
  const s = tls.create({ http: { serverClose: 0, clientClose: 0 }, keys: log });
  const half = Math.floor(conv.segments.length / 2);
  conv.segments.forEach((seg, i) => {
    if (i === half) log.push(conv.keyLog);
    s.data(seg.side, seg.bytes, (i + 1) * 1000);
  });
  let r = describe(s);
  assert.deepEqual([r.requests, r.tls?.decryption?.status], [4, 'decrypted'], r.notes.join('; '));
  // Only at describe(): a snapshot before says the records are held.
  const late = new KeyLog();
  const s2 = tls.create({ http: { serverClose: 0, clientClose: 0 }, keys: late });
  conv.segments.forEach((seg, i) => s2.data(seg.side, seg.bytes, (i + 1) * 1000));
  r = describe(s2);
  assert.equal(r.tls?.decryption?.status, 'no-keys');
  assert.ok(
    r.notes.some((n) => /records held for keys not in the key log yet/.test(n)),
    r.notes.join('; '),
  );
  late.push(conv.keyLog);
  r = describe(s2);
  assert.deepEqual([r.requests, r.responses, r.tls?.decryption?.status], [4, 4, 'decrypted'], r.notes.join('; '));
  // Never: at the end the held records are interpreted by position, as without keys.
  const never = tls.create({ http: { serverClose: 0, clientClose: 0 }, keys: new KeyLog() });
  conv.segments.forEach((seg, i) => never.data(seg.side, seg.bytes, (i + 1) * 1000));
  never.end('client', 1e6);
  never.end('server', 1e6);
  r = describe(never);
  assert.equal(r.tls?.decryption?.status, 'no-keys');
  assert.equal(r.tls?.estimatedExchanges, 4);
  assert.equal(r.tls?.handshakeMs, 2);
  assert.ok(r.notes.includes(`${REQUESTS_UNKNOWN_NOTE}: no key for this connection in the key log`));
});

test('tls decrypt: KeyUpdate moves the client to its next secret; only traffic secrets: tried on each record', () => {
  let { r, counts } = conversationCounts(
    tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(4), keyUpdateAfter: 2 }),
  );
  assert.deepEqual(counts, [4, 4, 'decrypted', 0], r.notes.join('; '));
  ({ r, counts } = conversationCounts(
    tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(3), noHandshakeSecrets: true }),
  ));
  assert.deepEqual(counts, [3, 3, 'decrypted', 0], r.notes.join('; '));
  // EncryptedExtensions stays encrypted: the ALPN is unknown, the plaintext was sniffed.
  assert.equal(r.tls?.alpnChosenWhyNull, 'encrypted');
});

test('tls decrypt: a small conversation split at every offset of every segment counts the same', () => {
  const conv = tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(1), seed: 11 });
  const keys = keyLog(conv.keyLog);
  const whole = described(conv.segments, keys);
  assert.equal(whole.requests, 1);
  conv.segments.forEach((seg, i) => {
    for (let at = 1; at < seg.bytes.length; at++) {
      const parts: Segment[] = [
        ...conv.segments.slice(0, i),
        { side: seg.side, bytes: seg.bytes.subarray(0, at) },
        { side: seg.side, bytes: seg.bytes.subarray(at) },
        ...conv.segments.slice(i + 1),
      ];
      const r = described(parts, keys);
      assert.deepEqual(
        [r.requests, r.responses, r.tls?.decryption?.recordsOpened],
        [1, 1, whole.tls?.decryption?.recordsOpened],
        `segment ${i} cut at ${at}`,
      );
    }
  });
});

test('tls decrypt: mutated encrypted conversations: no crash, no hang, failures counted', () => {
  const convs = [
    tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(2), seed: 21 }),
    tls13Encrypted({ alpn: 'h2', exchanges: h2Exchanges(2), seed: 22, keyUpdateAfter: 1 }),
    tls12Encrypted({ suite: 0xcca8, alpn: 'http/1.1', exchanges: http1Exchanges(2), seed: 23 }),
  ];
  let seed = 12345;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  let failedSome = 0;
  for (let round = 0; round < 300; round++) {
    const conv = convs[round % convs.length]!;
    const segments = conv.segments.map((s) => ({ side: s.side, bytes: s.bytes.slice() }));
    for (let flips = 1 + next(4); flips > 0; flips--) {
      const s = segments[next(segments.length)]!;
      if (s.bytes.length > 0) {
        const at = next(s.bytes.length);
        s.bytes[at] = s.bytes[at]! ^ (1 << next(8));
      }
    }
    const r = described(segments, keyLog(conv.keyLog));
    const d = r.tls?.decryption;
    if (d !== undefined && d.recordsFailed > 0) failedSome++;
    assert.ok(r.requests <= 2, `round ${round}: ${r.requests} requests`);
  }
  assert.ok(failedSome > 0, 'some mutation hit an encrypted record');
});

test('tls decrypt: a key log written line by line (handshake secrets first): held until the traffic secrets come', () => {
  const conv = tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(3), seed: 31 });
  const [handshakeLines, trafficLines] = [
    conv.keyLog.split('\n').filter((l) => l.includes('HANDSHAKE')),
    conv.keyLog.split('\n').filter((l) => l.includes('TRAFFIC_SECRET_0')),
  ];
  const log = new KeyLog();
  log.push(handshakeLines.join('\n') + '\n');
  const s = tls.create({ http: { serverClose: 0, clientClose: 0 }, keys: log });
  conv.segments.forEach((seg, i) => {
    if (i === 5) log.push(trafficLines.join('\n') + '\n');
    s.data(seg.side, seg.bytes, (i + 1) * 1000);
  });
  s.end('client', 1e5);
  s.end('server', 1e5);
  let r = describe(s);
  assert.deepEqual([r.requests, r.tls?.decryption?.status, r.tls?.decryption?.recordsFailed], [3, 'decrypted', 0]);
  // The traffic secrets never come: at the end the handshake opens, the data does not.
  const only = tls.create({ http: { serverClose: 0, clientClose: 0 }, keys: keyLog(handshakeLines.join('\n')) });
  conv.segments.forEach((seg, i) => only.data(seg.side, seg.bytes, (i + 1) * 1000));
  only.end('client', 1e5);
  only.end('server', 1e5);
  r = describe(only);
  assert.deepEqual([r.requests, r.tls?.decryption?.status], [0, 'partial'], r.notes.join('; '));
  assert.equal(r.tls?.decryption?.recordsOpened, 4, 'the server flight and the client Finished');
});

test('tls decrypt: a TLS 1.3 record under another key before the client Finished (0-RTT EndOfEarlyData) is passed over', () => {
  const conv = tls13Encrypted({ alpn: 'http/1.1', exchanges: http1Exchanges(2), seed: 41 });
  const early = TlsRecordCipher.tls13(0x1301, new Uint8Array(32).fill(9))!;
  const endOfEarlyData = early.seal(
    TlsContentType.HANDSHAKE,
    Uint8Array.of(TlsHandshakeType.END_OF_EARLY_DATA, 0, 0, 0),
  );
  // Segment 2 is the client's ChangeCipherSpec (6 bytes) and Finished.
  const finished = conv.segments[2]!;
  const segments = conv.segments.map((s, i) =>
    i === 2
      ? { side: s.side, bytes: concat(finished.bytes.subarray(0, 6), endOfEarlyData, finished.bytes.subarray(6)) }
      : s,
  );
  const r = described(segments, keyLog(conv.keyLog));
  assert.deepEqual([r.requests, r.tls?.decryption?.status, r.tls?.decryption?.recordsFailed], [2, 'decrypted', 0]);
});
