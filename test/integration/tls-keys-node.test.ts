/**
 * The TLS decryption pieces against a real TLS stack: Node's (OpenSSL's) client and server on
 * loopback, through a relay that keeps the bytes of each direction; the client's `keylog` event
 * gives the key log. Every encrypted record of both directions must open with keys derived from that
 * log (decode/tls-keylog.ts, decode/tls-crypto.ts) and the application data must be what was sent,
 * for the three TLS 1.3 suites and the three TLS 1.2 AEADs (ECDHE-ECDSA: the certificate is EC P-256,
 * made at start by openssl in a temp dir, removed after).
 * Not the tool's pipeline (that is held to tshark on real captures elsewhere): the keys and records only.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createTcpServer, connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { TlsRecordCipher, decryptableSuite } from '../../src/decode/tls-crypto.js';
import { KeyLog } from '../../src/decode/tls-keylog.js';
import { TlsContentType, parseClientHello, parseServerHello } from '../../src/decode/tls.js';
import { makeCertificate, opensslSkip } from '../support/nginx.js';

const skip = opensslSkip();
const dir = mkdtempSync(join(tmpdir(), 'kal-tls-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const files = skip ? null : makeCertificate(dir);
const cert = files ? readFileSync(files.cert) : null;
const key = files ? readFileSync(files.key) : null;

const EXCHANGES = 3;
const request = (i: number) => `request ${i} `.repeat(40 * (i + 1));
const reply = (i: number) => `reply ${i} `.repeat(700 * (i + 1)); // the last one spans two records

interface Conversation {
  fromClient: Buffer;
  fromServer: Buffer;
  keylog: string;
}

/** One TLS connection with EXCHANGES request/reply pairs, through a relay that keeps the bytes. */
async function converse(version: 'TLSv1.2' | 'TLSv1.3', cipher: string): Promise<Conversation> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const server = createTlsServer({ cert: cert!, key: key!, minVersion: version, maxVersion: version, ciphers: cipher });
  server.on('secureConnection', (s) => {
    let got = '';
    let answered = 0;
    s.on('data', (d: Buffer) => {
      got += d.toString();
      while (answered < EXCHANGES && got.length >= request(answered).length) {
        got = got.slice(request(answered).length);
        s.write(reply(answered++));
      }
    });
    s.on('end', () => s.end());
  });
  const fromClient: Buffer[] = [];
  const fromServer: Buffer[] = [];
  const relay = createTcpServer((c) => {
    track(c);
    const up = tcpConnect((server.address() as AddressInfo).port, '127.0.0.1');
    track(up);
    c.on('data', (d: Buffer) => (fromClient.push(d), up.write(d)));
    up.on('data', (d: Buffer) => (fromServer.push(d), c.write(d)));
    c.on('end', () => up.end());
    up.on('end', () => c.end());
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  server.listen(0, '127.0.0.1');
  relay.listen(0, '127.0.0.1');
  await Promise.all([once(server, 'listening'), once(relay, 'listening')]);
  let keylog = '';
  try {
    const client = tlsConnect({
      host: '127.0.0.1',
      port: (relay.address() as AddressInfo).port,
      rejectUnauthorized: false,
      minVersion: version,
      maxVersion: version,
      ciphers: cipher,
    });
    client.on('keylog', (line: Buffer) => (keylog += line.toString('latin1')));
    await once(client, 'secureConnect');
    // One listener for the whole conversation: a 'once' per chunk would drop a chunk emitted in the
    // same tick as the one before it (two records decrypted from one read).
    let got = '';
    client.on('data', (d: Buffer) => (got += d.toString()));
    for (let i = 0; i < EXCHANGES; i++) {
      client.write(request(i));
      while (got.length < reply(i).length) await once(client, 'data');
      assert.equal(got, reply(i));
      got = '';
    }
    client.end();
    await once(client, 'close');
  } finally {
    for (const s of sockets) s.destroy();
    relay.close();
    server.close();
    await Promise.all([once(relay, 'close'), once(server, 'close')]);
  }
  return { fromClient: Buffer.concat(fromClient), fromServer: Buffer.concat(fromServer), keylog };
}

interface RawRecord {
  header: Buffer;
  body: Buffer;
}

function records(bytes: Buffer): RawRecord[] {
  const out: RawRecord[] = [];
  for (let at = 0; at + 5 <= bytes.length;) {
    const length = bytes.readUInt16BE(at + 3);
    out.push({ header: bytes.subarray(at, at + 5), body: bytes.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

/** The hello in a side's first record: the body of its handshake message (after type and length). */
function helloBody(r: RawRecord): Buffer {
  assert.equal(r.header[0], TlsContentType.HANDSHAKE);
  return r.body.subarray(4, 4 + r.body.readUIntBE(1, 3));
}

/** Opens every record after the hellos with the first cipher of `ciphers` that authenticates it. */
function openAll(side: string, recs: RawRecord[], ciphers: TlsRecordCipher[]): { types: number[]; data: string } {
  const types: number[] = [];
  let data = '';
  for (const [i, r] of recs.entries()) {
    if (r.header[0] === TlsContentType.CHANGE_CIPHER_SPEC) continue;
    // A wrong key's trial costs nothing: the sequence number of a cipher that fails stays.
    let opened: { type: number; plaintext: Uint8Array } | null = null;
    while (ciphers.length > 0 && (opened = ciphers[0]!.open(r.header, r.body)) === null) ciphers.shift();
    assert.ok(opened, `${side} record ${i} (of ${recs.length}) opens`);
    types.push(opened.type);
    if (opened.type === TlsContentType.APPLICATION_DATA) data += Buffer.from(opened.plaintext).toString();
  }
  return { types, data };
}

const CASES: [version: 'TLSv1.2' | 'TLSv1.3', openssl: string, suite: number][] = [
  ['TLSv1.3', 'TLS_AES_128_GCM_SHA256', 0x1301],
  ['TLSv1.3', 'TLS_AES_256_GCM_SHA384', 0x1302],
  ['TLSv1.3', 'TLS_CHACHA20_POLY1305_SHA256', 0x1303],
  ['TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256', 0xc02b],
  ['TLSv1.2', 'ECDHE-ECDSA-AES256-GCM-SHA384', 0xc02c],
  ['TLSv1.2', 'ECDHE-ECDSA-CHACHA20-POLY1305', 0xcca9],
];

for (const [version, openssl, suite] of CASES) {
  test(
    `Node's TLS on loopback, ${version} ${openssl}: every record opens with the keys of its key log`,
    { skip },
    async () => {
      const { fromClient, fromServer, keylog } = await converse(version, openssl);
      const log = new KeyLog();
      log.push(keylog);
      log.end();
      assert.equal(log.sessions, 1);
      assert.equal(log.malformedLines, 0);
      const clientRecords = records(fromClient);
      const serverRecords = records(fromServer);
      const ch = parseClientHello(helloBody(clientRecords[0]!));
      const sh = parseServerHello(helloBody(serverRecords[0]!));
      assert.ok(ch && sh);
      assert.equal(sh.cipherSuite, suite);
      assert.ok(decryptableSuite(suite));
      const secrets = log.secretsFor(ch.random);
      assert.ok(secrets, 'the key log names the ClientHello random');

      let client: ReturnType<typeof openAll>;
      let server: ReturnType<typeof openAll>;
      if (version === 'TLSv1.3') {
        const cipher = (secret: Uint8Array | null) => TlsRecordCipher.tls13(suite, secret!)!;
        client = openAll('client', clientRecords.slice(1), [
          cipher(secrets.clientHandshake),
          cipher(secrets.clientTraffic0),
        ]);
        server = openAll('server', serverRecords.slice(1), [
          cipher(secrets.serverHandshake),
          cipher(secrets.serverTraffic0),
        ]);
      } else {
        const cipher = (side: 'client' | 'server') =>
          TlsRecordCipher.tls12(suite, secrets.masterSecret!, ch.random, sh.random, side)!;
        // In the clear up to each side's ChangeCipherSpec; its Finished is the first encrypted record.
        const afterCcs = (recs: RawRecord[]) =>
          recs.slice(recs.findIndex((r) => r.header[0] === TlsContentType.CHANGE_CIPHER_SPEC) + 1);
        client = openAll('client', afterCcs(clientRecords), [cipher('client')]);
        server = openAll('server', afterCcs(serverRecords), [cipher('server')]);
        assert.equal(client.types[0], TlsContentType.HANDSHAKE, 'Finished');
        assert.equal(server.types[0], TlsContentType.HANDSHAKE, 'Finished');
      }
      assert.equal(client.data, Array.from({ length: EXCHANGES }, (_, i) => request(i)).join(''));
      assert.equal(server.data, Array.from({ length: EXCHANGES }, (_, i) => reply(i)).join(''));
      assert.equal(client.types.at(-1), TlsContentType.ALERT, "the client's close_notify");
    },
  );
}
