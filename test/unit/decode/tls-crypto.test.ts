/**
 * TLS record protection (src/decode/tls-crypto.ts) against published vectors:
 *  - RFC 8448 section 3 "Simple 1-RTT Handshake": traffic secrets -> keys and IVs, and the trace's
 *    protected records opened (the server's encrypted flight, the client's Finished, the
 *    NewSessionTicket, application data both ways, the close_notify alerts);
 *  - RFC 5869 appendix A.1 (HKDF-Expand, SHA-256);
 *  - the TLS 1.2 PRF vectors of the IETF TLS list (P_SHA256, 100 bytes; P_SHA384, 148 bytes), which
 *    `openssl kdf -kdfopt digest:SHA256 ... TLS1-PRF` reproduces;
 * and on round trips: every suite, sequence numbers, a failed authentication (null, sequence kept),
 * TLS 1.3 padding and KeyUpdate, the TLS 1.2 nonce and AAD layouts.
 * Hex is typed as the documents print it (spaces are ignored).
 */
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { test } from 'node:test';
import {
  CONTENT_TYPE_INVALID,
  TlsRecordCipher,
  decryptableSuite,
  decryptableSuites,
  hkdfExpand,
  hkdfExpandLabel,
  tls12Prf,
} from '../../../src/decode/tls-crypto.js';

function h(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

const EMPTY = new Uint8Array(0);

/** A record split into the header and fragment `open` takes. */
function open(cipher: TlsRecordCipher, record: Uint8Array): { type: number; plaintext: Uint8Array } | null {
  return cipher.open(record.subarray(0, 5), record.subarray(5));
}

// RFC 8448 section 3: the traffic secrets ("derive secret tls13 s hs traffic" and so on).
const SERVER_HS_SECRET = h(
  'b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38',
);
const CLIENT_HS_SECRET = h(
  'b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21',
);
const SERVER_AP_SECRET = h(
  'a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43',
);
const CLIENT_AP_SECRET = h(
  '9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5',
);

// RFC 8448 section 3: "{server} send handshake record", complete record (679 octets): EncryptedExtensions,
// Certificate, CertificateVerify, Finished under the server's handshake keys.
const SERVER_FLIGHT = h(`
17 03 03 02 a2 d1 ff 33 4a 56 f5 bf f6 59 4a 07 cc 87 b5 80 23 3f 50 0f 45 e4 89 e7 f3 3a f3 5e df 78 69 fc
f4 0a a4 0a a2 b8 ea 73 f8 48 a7 ca 07 61 2e f9 f9 45 cb 96 0b 40 68 90 51 23 ea 78 b1 11 b4 29 ba 91 91 cd
05 d2 a3 89 28 0f 52 61 34 aa dc 7f c7 8c 4b 72 9d f8 28 b5 ec f7 b1 3b d9 ae fb 0e 57 f2 71 58 5b 8e a9 bb
35 5c 7c 79 02 07 16 cf b9 b1 18 3e f3 ab 20 e3 7d 57 a6 b9 d7 47 76 09 ae e6 e1 22 a4 cf 51 42 73 25 25 0c
7d 0e 50 92 89 44 4c 9b 3a 64 8f 1d 71 03 5d 2e d6 5b 0e 3c dd 0c ba e8 bf 2d 0b 22 78 12 cb b3 60 98 72 55
cc 74 41 10 c4 53 ba a4 fc d6 10 92 8d 80 98 10 e4 b7 ed 1a 8f d9 91 f0 6a a6 24 82 04 79 7e 36 a6 a7 3b 70
a2 55 9c 09 ea d6 86 94 5b a2 46 ab 66 e5 ed d8 04 4b 4c 6d e3 fc f2 a8 94 41 ac 66 27 2f d8 fb 33 0e f8 19
05 79 b3 68 45 96 c9 60 bd 59 6e ea 52 0a 56 a8 d6 50 f5 63 aa d2 74 09 96 0d ca 63 d3 e6 88 61 1e a5 e2 2f
44 15 cf 95 38 d5 1a 20 0c 27 03 42 72 96 8a 26 4e d6 54 0c 84 83 8d 89 f7 2c 24 46 1a ad 6d 26 f5 9e ca ba
9a cb bb 31 7b 66 d9 02 f4 f2 92 a3 6a c1 b6 39 c6 37 ce 34 31 17 b6 59 62 22 45 31 7b 49 ee da 0c 62 58 f1
00 d7 d9 61 ff b1 38 64 7e 92 ea 33 0f ae ea 6d fa 31 c7 a8 4d c3 bd 7e 1b 7a 6c 71 78 af 36 87 90 18 e3 f2
52 10 7f 24 3d 24 3d c7 33 9d 56 84 c8 b0 37 8b f3 02 44 da 8c 87 c8 43 f5 e5 6e b4 c5 e8 28 0a 2b 48 05 2c
f9 3b 16 49 9a 66 db 7c ca 71 e4 59 94 26 f7 d4 61 e6 6f 99 88 2b d8 9f c5 08 00 be cc a6 2d 6c 74 11 6d bd
29 72 fd a1 fa 80 f8 5d f8 81 ed be 5a 37 66 89 36 b3 35 58 3b 59 91 86 dc 5c 69 18 a3 96 fa 48 a1 81 d6 b6
fa 4f 9d 62 d5 13 af bb 99 2f 2b 99 2f 67 f8 af e6 7f 76 91 3f a3 88 cb 56 30 c8 ca 01 e0 c6 5d 11 c6 6a 1e
2a c4 c8 59 77 b7 c7 a6 99 9b bf 10 dc 35 ae 69 f5 51 56 14 63 6c 0b 9b 68 c1 9e d2 e3 1c 0b 3b 66 76 30 38
eb ba 42 f3 b3 8e dc 03 99 f3 a9 f2 3f aa 63 97 8c 31 7f c9 fa 66 a7 3f 60 f0 50 4d e9 3b 5b 84 5e 27 55 92
c1 23 35 ee 34 0b bc 4f dd d5 02 78 40 16 e4 b3 be 7e f0 4d da 49 f4 b4 40 a3 0c b5 d2 af 93 98 28 fd 4a e3
79 4e 44 f9 4d f5 a6 31 ed e4 2c 17 19 bf da bf 02 53 fe 51 75 be 89 8e 75 0e dc 53 37 0d 2b`);

// "{client} send handshake record" (58 octets): the client's Finished under its handshake keys.
const CLIENT_FINISHED = h(`
17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0 51 7f e9 b9 3c 7a 4b fc 44 d8 7f 38
f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 46`);

// "{server} send handshake record" (227 octets): the NewSessionTicket, the first record under the server's
// application keys.
const SERVER_TICKET = h(`
17 03 03 00 de 3a 6b 8f 90 41 4a 97 d6 95 9c 34 87 68 0d e5 13 4a 2b 24 0e 6c ff ac 11 6e 95 d4 1d 6a f8 f6
b5 80 dc f3 d1 1d 63 c7 58 db 28 9a 01 59 40 25 2f 55 71 3e 06 1d c1 3e 07 88 91 a3 8e fb cf 57 53 ad 8e f1
70 ad 3c 73 53 d1 6d 9d a7 73 b9 ca 7f 2b 9f a1 b6 c0 d4 a3 d0 3f 75 e0 9c 30 ba 1e 62 97 2a c4 6f 75 f7 b9
81 be 63 43 9b 29 99 ce 13 06 46 15 13 98 91 d5 e4 c5 b4 06 f1 6e 3f c1 81 a7 7c a4 75 84 00 25 db 2f 0a 77
f8 1b 5a b0 5b 94 c0 13 46 75 5f 69 23 2c 86 51 9d 86 cb ee ac 87 aa c3 47 d1 43 f9 60 5d 64 f6 50 db 4d 02
3e 70 e9 52 ca 49 fe 51 37 12 1c 74 bc 26 97 68 7e 24 87 46 d6 df 35 30 05 f3 bc e1 86 96 12 9c 81 53 55 6b
3b 6c 67 79 b3 7b f1 59 85 68 4f`);

// "{client} send application_data record" and "{server} send application_data record" (72 octets each):
// the payload is 00 01 02 ... 31 both ways.
const CLIENT_DATA = h(`
17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea 42 f9 14 aa 66 bc ab 3f 2b 98 19 a8
a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4`);
const SERVER_DATA = h(`
17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc 32 25 d0 5f 82 aa 1b 36 e3 0e fa f9
7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d`);
const DATA_PAYLOAD = Uint8Array.from({ length: 50 }, (_, i) => i);

// "{client} send alert record" and "{server} send alert record" (24 octets each): close_notify.
const CLIENT_ALERT = h('17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3');
const SERVER_ALERT = h('17 03 03 00 13 b5 8f d6 71 66 eb f5 99 d2 47 20 cf be 7e fa 7a 88 64 a9');

const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
const ALERT = 21;
const CLOSE_NOTIFY = h('01 00'); // level warning(1), close_notify(0)

test('RFC 8448 3: write keys and IVs from the traffic secrets (HKDF-Expand-Label "key", "iv")', () => {
  const cases: [secret: Uint8Array, key: string, iv: string][] = [
    // "{server} derive write traffic keys for handshake data"
    [SERVER_HS_SECRET, '3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc', '5d 31 3e b2 67 12 76 ee 13 00 0b 30'],
    // "{client} derive write traffic keys for handshake data"
    [CLIENT_HS_SECRET, 'db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01', '5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f'],
    // "{server} derive write traffic keys for application data"
    [SERVER_AP_SECRET, '9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56', 'cf 78 2b 88 dd 83 54 9a ad f1 e9 84'],
    // "{client} derive write traffic keys for application data"
    [CLIENT_AP_SECRET, '17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51', '5b 78 92 3d ee 08 57 90 33 e5 23 d9'],
  ];
  for (const [secret, key, iv] of cases) {
    assert.equal(hex(hkdfExpandLabel('sha256', secret, 'key', EMPTY, 16)), hex(h(key)));
    assert.equal(hex(hkdfExpandLabel('sha256', secret, 'iv', EMPTY, 12)), hex(h(iv)));
  }
  // "{server} calculate finished "tls13 finished"": the same function with another label and length.
  assert.equal(
    hex(hkdfExpandLabel('sha256', SERVER_HS_SECRET, 'finished', EMPTY, 32)),
    hex(h('00 8d 3b 66 f8 16 ea 55 9f 96 b5 37 e8 85 c3 1f c0 68 bf 49 2c 65 2f 01 f2 88 a1 d8 cd c1 9f c8')),
  );
});

test('RFC 8448 3: the server flight opens with the server handshake secret (EE, Certificate, CertificateVerify, Finished)', () => {
  const server = TlsRecordCipher.tls13(0x1301, SERVER_HS_SECRET);
  assert.ok(server);
  const r = open(server, SERVER_FLIGHT);
  assert.ok(r, 'authenticates');
  assert.equal(r.type, HANDSHAKE);
  assert.equal(r.plaintext.length, 657, 'the RFC\'s "payload (657 octets)"');
  // The handshake messages, walked by their headers: type(1) length(3).
  const types: number[] = [];
  for (let at = 0; at < r.plaintext.length;) {
    types.push(r.plaintext[at]!);
    at += 4 + ((r.plaintext[at + 1]! << 16) | (r.plaintext[at + 2]! << 8) | r.plaintext[at + 3]!);
  }
  assert.deepEqual(types, [8, 11, 15, 20], 'EncryptedExtensions, Certificate, CertificateVerify, Finished');
  assert.equal(server.sequence, 1);
});

test("RFC 8448 3: the client's Finished, the ticket, data both ways and the close_notify alerts", () => {
  const clientHs = TlsRecordCipher.tls13(0x1301, CLIENT_HS_SECRET)!;
  const finished = open(clientHs, CLIENT_FINISHED);
  assert.equal(finished?.type, HANDSHAKE);
  assert.equal(hex(finished.plaintext.subarray(0, 4)), '14000020', 'Finished, 32 bytes of verify_data');

  const server = TlsRecordCipher.tls13(0x1301, SERVER_AP_SECRET)!;
  const client = TlsRecordCipher.tls13(0x1301, CLIENT_AP_SECRET)!;
  const ticket = open(server, SERVER_TICKET);
  assert.equal(ticket?.type, HANDSHAKE);
  assert.equal(ticket.plaintext[0], 4, 'NewSessionTicket');
  assert.equal(ticket.plaintext.length, 227 - 5 - 16 - 1);

  const fromClient = open(client, CLIENT_DATA);
  assert.equal(fromClient?.type, APPLICATION_DATA);
  assert.equal(hex(fromClient.plaintext), hex(DATA_PAYLOAD));
  const fromServer = open(server, SERVER_DATA);
  assert.equal(fromServer?.type, APPLICATION_DATA, 'sequence 1 on the server side');
  assert.equal(hex(fromServer.plaintext), hex(DATA_PAYLOAD));

  const clientAlert = open(client, CLIENT_ALERT);
  assert.equal(clientAlert?.type, ALERT);
  assert.equal(hex(clientAlert.plaintext), hex(CLOSE_NOTIFY));
  const serverAlert = open(server, SERVER_ALERT);
  assert.equal(serverAlert?.type, ALERT);
  assert.equal(hex(serverAlert.plaintext), hex(CLOSE_NOTIFY));
  assert.equal(client.sequence, 2);
  assert.equal(server.sequence, 3);
});

test('RFC 8448 3: a record opened out of order, with the wrong key or altered fails, and the sequence stays', () => {
  const server = TlsRecordCipher.tls13(0x1301, SERVER_AP_SECRET)!;
  assert.equal(open(server, SERVER_DATA), null, 'SERVER_DATA is sequence 1, not 0');
  assert.equal(server.sequence, 0);
  const wrongKey = TlsRecordCipher.tls13(0x1301, CLIENT_AP_SECRET)!;
  assert.equal(open(wrongKey, SERVER_TICKET), null);
  assert.equal(wrongKey.sequence, 0);
  for (const at of [0, 3, 5, 100, SERVER_TICKET.length - 1]) {
    const altered = Uint8Array.from(SERVER_TICKET);
    altered[at]! ^= 0x01;
    assert.equal(open(server, altered), null, `byte ${at} altered (the header is the AAD)`);
  }
  assert.equal(open(server, SERVER_TICKET.subarray(0, 5 + 16)), null, 'too short to hold a type');
  assert.equal(server.open(SERVER_TICKET.subarray(0, 5), new Uint8Array(3)), null, 'shorter than the tag');
  assert.equal(server.sequence, 0);
  assert.equal(open(server, SERVER_TICKET)?.type, HANDSHAKE, 'the right record still opens');
  assert.equal(server.sequence, 1);
});

test('RFC 5869 A.1: HKDF-Expand (SHA-256) from the PRK', () => {
  const prk = h('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
  const okm = hkdfExpand('sha256', prk, h('f0f1f2f3f4f5f6f7f8f9'), 42);
  assert.equal(hex(okm), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  assert.throws(() => hkdfExpand('sha256', prk, EMPTY, 255 * 32 + 1), RangeError);
});

test('TLS 1.2 PRF: the published P_SHA256 and P_SHA384 vectors ("test label")', () => {
  const sha256 = tls12Prf(
    'sha256',
    h('9bbe436ba940f017b17652849a71db35'),
    'test label',
    h('a0ba9f936cda311827a6f796ffd5198c'),
    100,
  );
  assert.equal(
    hex(sha256),
    'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17' +
      'abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
  );
  const sha384 = tls12Prf(
    'sha384',
    h('b80b733d6ceefcdc71566ea48e5567df'),
    'test label',
    h('cd665cf6a8447dd6ff8b27555edb7465'),
    148,
  );
  assert.equal(
    hex(sha384),
    '7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700' +
      '884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1' +
      'a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e0990703d73e56f',
  );
  assert.deepEqual(
    tls12Prf('sha256', h('9bbe436ba940f017b17652849a71db35'), 'test label', h('a0ba9f936cda311827a6f796ffd5198c'), 12),
    sha256.subarray(0, 12),
    'a shorter output is a prefix',
  );
});

test('suites: the nine decryptable ones, by name, hash and AEAD; others are null', () => {
  assert.deepEqual(
    decryptableSuites().map((s) => `${s.name} ${s.aead} ${s.hash} ${s.tls13 ? '1.3' : '1.2'}`),
    [
      'TLS_AES_128_GCM_SHA256 aes-128-gcm sha256 1.3',
      'TLS_AES_256_GCM_SHA384 aes-256-gcm sha384 1.3',
      'TLS_CHACHA20_POLY1305_SHA256 chacha20-poly1305 sha256 1.3',
      'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 aes-128-gcm sha256 1.2',
      'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 aes-256-gcm sha384 1.2',
      'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 aes-128-gcm sha256 1.2',
      'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 aes-256-gcm sha384 1.2',
      'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 chacha20-poly1305 sha256 1.2',
      'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 chacha20-poly1305 sha256 1.2',
    ],
  );
  for (const other of [0x1304, 0x009c, 0xc013, 0xc027, 0x0a0a]) assert.equal(decryptableSuite(other), null);
  assert.equal(TlsRecordCipher.tls13(0xc02f, SERVER_HS_SECRET), null, 'a TLS 1.2 suite is not for tls13()');
  assert.equal(TlsRecordCipher.tls13(0x1302, SERVER_HS_SECRET), null, 'SHA-384 wants a 48-byte secret');
  assert.equal(
    TlsRecordCipher.tls12(0x1301, new Uint8Array(48), new Uint8Array(32), new Uint8Array(32), 'client'),
    null,
  );
  assert.equal(
    TlsRecordCipher.tls12(0x009c, new Uint8Array(48), new Uint8Array(32), new Uint8Array(32), 'client'),
    null,
  );
});

const MASTER = Uint8Array.from({ length: 48 }, (_, i) => i * 7);
const CLIENT_RANDOM = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
const SERVER_RANDOM = Uint8Array.from({ length: 32 }, (_, i) => 0x20 + i);

/** A sealer and an opener of one direction with the same keys. */
function pair(suite: number, side: 'client' | 'server' = 'client'): [TlsRecordCipher, TlsRecordCipher] {
  const s = decryptableSuite(suite)!;
  if (s.tls13) {
    const secret = Uint8Array.from({ length: s.hash === 'sha384' ? 48 : 32 }, (_, i) => i + suite);
    return [TlsRecordCipher.tls13(suite, secret)!, TlsRecordCipher.tls13(suite, secret)!];
  }
  return [
    TlsRecordCipher.tls12(suite, MASTER, CLIENT_RANDOM, SERVER_RANDOM, side)!,
    TlsRecordCipher.tls12(suite, MASTER, CLIENT_RANDOM, SERVER_RANDOM, side)!,
  ];
}

test('every suite: seal then open, records of 0 to 16384 bytes, in sequence; the record sizes of each layout', () => {
  for (const { suite, name, tls13, aead } of decryptableSuites()) {
    const [sealer, opener] = pair(suite);
    for (const [i, size] of [0, 1, 100, 16384, 7].entries()) {
      const plaintext = Uint8Array.from({ length: size }, (_, j) => (j * 31 + i) & 0xff);
      const record = sealer.seal(APPLICATION_DATA, plaintext);
      const overhead = 5 + 16 + (tls13 ? 1 : aead === 'chacha20-poly1305' ? 0 : 8);
      assert.equal(record.length, size + overhead, `${name}: header, explicit nonce, content type, tag`);
      assert.equal((record[3]! << 8) | record[4]!, record.length - 5, `${name}: the header's length`);
      assert.equal(record[0], APPLICATION_DATA);
      assert.deepEqual([record[1], record[2]], [3, 3], 'legacy_record_version 0x0303');
      const r = open(opener, record);
      assert.ok(r, `${name} record ${i}`);
      assert.equal(r.type, APPLICATION_DATA);
      assert.equal(hex(r.plaintext), hex(plaintext), `${name} record ${i}`);
      assert.equal(opener.sequence, i + 1);
      assert.equal(sealer.sequence, i + 1);
    }
  }
});

test('every suite: a record sealed for another sequence number, side or suite fails; the sequence stays', () => {
  for (const { suite, name, tls13 } of decryptableSuites()) {
    const [sealer, opener] = pair(suite);
    const first = sealer.seal(APPLICATION_DATA, Uint8Array.of(1, 2, 3));
    const second = sealer.seal(APPLICATION_DATA, Uint8Array.of(4, 5, 6));
    // TLS 1.2 GCM carries its nonce, but the sequence number is in the AAD all the same.
    assert.equal(open(opener, second), null, `${name}: record 1 opened as record 0`);
    assert.equal(opener.sequence, 0);
    assert.deepEqual([...(open(opener, first)?.plaintext ?? [])], [1, 2, 3]);
    assert.deepEqual([...(open(opener, second)?.plaintext ?? [])], [4, 5, 6]);
    if (!tls13) {
      const [serverSealer] = pair(suite, 'server');
      assert.equal(open(pair(suite, 'client')[1], serverSealer.seal(APPLICATION_DATA, Uint8Array.of(1))), null, name);
    }
    const altered = sealer.seal(APPLICATION_DATA, Uint8Array.of(7, 8, 9));
    altered[altered.length - 1]! ^= 0x80;
    assert.equal(open(opener, altered), null, `${name}: a tag altered`);
    assert.equal(opener.sequence, 2);
  }
  const [aes128] = pair(0xc02f);
  const [aes256] = pair(0xc030);
  assert.equal(open(aes256, aes128.seal(APPLICATION_DATA, Uint8Array.of(1))), null, 'another suite, another key');
});

test('TLS 1.2: the header type is the content type; the AAD covers it (a record relabelled fails)', () => {
  for (const suite of [0xc02b, 0xcca9]) {
    const [sealer, opener] = pair(suite, 'server');
    const record = sealer.seal(HANDSHAKE, Uint8Array.of(20, 0, 0, 12, ...new Uint8Array(12)));
    assert.equal(record[0], HANDSHAKE);
    const relabelled = Uint8Array.from(record);
    relabelled[0] = APPLICATION_DATA;
    assert.equal(open(opener, relabelled), null);
    const r = open(opener, record);
    assert.equal(r?.type, HANDSHAKE);
    assert.equal(r.plaintext.length, 16);
  }
});

test('TLS 1.2 GCM: nonce = salt + the explicit nonce sent, AAD = seq + type + version + length (RFC 5288, RFC 5246)', () => {
  // Opened here by hand with the key block's pieces: the layout, not only a round trip with itself.
  const suite = 0xc02f;
  const block = tls12Prf('sha256', MASTER, 'key expansion', Buffer.concat([SERVER_RANDOM, CLIENT_RANDOM]), 40);
  const serverKey = block.subarray(16, 32);
  const serverSalt = block.subarray(36, 40);
  const [sealer] = pair(suite, 'server');
  sealer.seal(APPLICATION_DATA, Uint8Array.of(0));
  const record = sealer.seal(APPLICATION_DATA, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  const explicit = record.subarray(5, 13);
  assert.equal(hex(explicit), '0000000000000001', 'the explicit nonce is the sequence number');
  const decipher = createDecipheriv('aes-128-gcm', serverKey, Buffer.concat([serverSalt, explicit]), {
    authTagLength: 16,
  });
  decipher.setAAD(h('0000000000000001 17 0303 0012'));
  decipher.setAuthTag(record.subarray(record.length - 16));
  const plaintext = Buffer.concat([decipher.update(record.subarray(13, record.length - 16)), decipher.final()]);
  assert.equal(plaintext.toString(), 'GET / HTTP/1.1\r\n\r\n');
});

test('TLS 1.2 ChaCha20-Poly1305: nonce = the 12-byte IV XOR the sequence number, no explicit nonce (RFC 7905)', () => {
  const suite = 0xcca8;
  const block = tls12Prf('sha256', MASTER, 'key expansion', Buffer.concat([SERVER_RANDOM, CLIENT_RANDOM]), 88);
  const clientKey = block.subarray(0, 32);
  const clientIv = Uint8Array.from(block.subarray(64, 76));
  const [sealer] = pair(suite, 'client');
  for (let i = 0; i < 258; i++) sealer.seal(APPLICATION_DATA, Uint8Array.of(i & 0xff));
  const record = sealer.seal(APPLICATION_DATA, Uint8Array.of(42)); // sequence 258 = 0x0102
  const nonce = Uint8Array.from(clientIv);
  nonce[10]! ^= 0x01;
  nonce[11]! ^= 0x02;
  const decipher = createDecipheriv('chacha20-poly1305', clientKey, nonce, { authTagLength: 16 });
  decipher.setAAD(h('0000000000000102 17 0303 0001'), { plaintextLength: 1 });
  decipher.setAuthTag(record.subarray(record.length - 16));
  const plaintext = Buffer.concat([decipher.update(record.subarray(5, record.length - 16)), decipher.final()]);
  assert.deepEqual([...plaintext], [42]);
});

test('TLS 1.3: padding is removed and the inner type kept; a record of only zeros is type invalid(0)', () => {
  const [sealer, opener] = pair(0x1303);
  const padded = sealer.seal(HANDSHAKE, Uint8Array.of(4, 0, 0, 0), 300);
  assert.equal(padded.length, 5 + 4 + 1 + 300 + 16);
  assert.equal(padded[0], APPLICATION_DATA, 'the outer type is always application_data');
  assert.deepEqual(open(opener, padded), { type: HANDSHAKE, plaintext: Buffer.from([4, 0, 0, 0]) });
  const zeros = sealer.seal(0, new Uint8Array(0), 10);
  assert.deepEqual(open(opener, zeros), { type: CONTENT_TYPE_INVALID, plaintext: Buffer.alloc(0) });
  assert.equal(opener.sequence, 2, 'it authenticated: it counts');
  const trailingZeros = sealer.seal(APPLICATION_DATA, Uint8Array.of(1, 0, 0));
  assert.deepEqual([...(open(opener, trailingZeros)?.plaintext ?? [])], [1, 0, 0], 'zeros before the type are data');
});

test('TLS 1.3 KeyUpdate: the next secret is HKDF-Expand-Label(secret, "traffic upd", "", Hash.length); sequence 0', () => {
  for (const suite of [0x1301, 0x1302, 0x1303]) {
    const [sealer, opener] = pair(suite);
    const hash = decryptableSuite(suite)!.hash;
    const secret = Uint8Array.from({ length: hash === 'sha384' ? 48 : 32 }, (_, i) => i + suite);
    for (let i = 0; i < 3; i++) assert.ok(open(opener, sealer.seal(APPLICATION_DATA, Uint8Array.of(i))));
    sealer.update();
    const afterUpdate = sealer.seal(APPLICATION_DATA, Uint8Array.of(9));
    assert.equal(sealer.sequence, 1);
    assert.equal(open(opener, afterUpdate), null, 'the old key fails');
    assert.equal(opener.sequence, 3);
    opener.update();
    assert.equal(opener.sequence, 0);
    assert.deepEqual([...(open(opener, afterUpdate)?.plaintext ?? [])], [9]);
    // Independently: a cipher made from the next secret computed here opens it too.
    const next = hkdfExpandLabel(hash, secret, 'traffic upd', EMPTY, secret.length);
    assert.deepEqual([...(open(TlsRecordCipher.tls13(suite, next)!, afterUpdate)?.plaintext ?? [])], [9]);
    sealer.update();
    opener.update();
    assert.deepEqual([...(open(opener, sealer.seal(APPLICATION_DATA, Uint8Array.of(8)))?.plaintext ?? [])], [8]);
  }
  const [tls12] = pair(0xc02f);
  assert.throws(() => tls12.update(), /TLS 1.3 only/);
});

test('every suite: random bytes as a record never throw and never open; the sequence stays 0', () => {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
  for (const { suite, name } of decryptableSuites()) {
    const [, opener] = pair(suite);
    for (let i = 0; i < 200; i++) {
      const header = Uint8Array.from({ length: 5 }, next);
      const body = Uint8Array.from({ length: next() % 64 }, next);
      assert.equal(opener.open(header, body), null, `${name} trial ${i}`);
    }
    assert.equal(opener.open(new Uint8Array(2), new Uint8Array(40)), null, 'a header cut short');
    assert.equal(opener.sequence, 0);
  }
});
