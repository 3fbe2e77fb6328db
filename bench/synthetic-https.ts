/**
 * A synthetic HTTPS capture for bench/analyze.ts, and the NSS key log that decrypts it: TLS 1.3 on
 * loopback port 443, half the connections HTTP/1.1 keep-alive, half HTTP/2, written as a stream in
 * the pcap conventions of bench/synthetic-capture.ts (PcapWriter) and deterministic (seeded).
 *
 *   TLS 1.3   RFC 8446: 4.1.2 ClientHello, 4.1.3 ServerHello, 4.3.1 EncryptedExtensions, 4.4.2
 *             Certificate, 4.4.3 CertificateVerify, 4.4.4 Finished, 4.6.1 NewSessionTicket, 5.2 record
 *             protection (sealed by src/decode/tls-crypto.ts), 6.1 close_notify; D.4 middlebox
 *             compatibility mode (a session id echoed, a ChangeCipherSpec each way)
 *   HTTP/2    RFC 9113 (frames built by test/support/h2-frames.ts), HPACK RFC 7541 (static indexes and
 *             literals without indexing)
 *   key log   https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/
 *
 * The secrets are random values (seeded), not the outcome of a key exchange: decryption needs only the
 * traffic secrets, which the key log gives. tshark does not check Finished, CertificateVerify or the
 * certificate; it switches from the handshake keys to the application keys at each side's Finished,
 * and picks the protocol inside by the ALPN the server chose (in EncryptedExtensions): "h2" or
 * "http/1.1". Each connection: the TCP handshake; ClientHello; ServerHello, ChangeCipherSpec and the
 * encrypted flight (EncryptedExtensions, Certificate, CertificateVerify, Finished, a record each, as
 * OpenSSL sends them); the client's ChangeCipherSpec and Finished; a NewSessionTicket; the requests;
 * close_notify both ways and FINs, the client first.
 */
import { writeFileSync } from 'node:fs';
import { TlsRecordCipher } from '../src/decode/tls-crypto.js';
import { TlsContentType, TlsExtension, TlsHandshakeType, TlsVersion } from '../src/decode/tls.js';
import { FrameFlag, FrameType, HTTP2_CLIENT_PREFACE, frame, headerBlock, settings } from '../test/support/h2-frames.js';
import { alpnExtension, clientHelloBody, extension, handshake, record, vector } from '../test/support/tls-builder.js';
import {
  ACK,
  BASE_TS,
  BODY,
  FIN,
  GENERATOR_VERSION,
  PSH,
  PcapWriter,
  SYN,
  encode,
  prng,
  type CaptureMeta,
  type CaptureSpec,
} from './synthetic-capture.js';

export interface HttpsCaptureSpec extends CaptureSpec {
  /** Where the NSS key log is written (the four TLS 1.3 secrets of every connection). */
  keylog: string;
  /** Open at most this many connections (default: as many as the size takes). */
  connections?: number;
  /** Requests (HTTP/1.1) or streams (HTTP/2) per connection (default: 100-400, drawn per connection). */
  requestsPerConnection?: number;
}

export interface HttpsCaptureMeta extends CaptureMeta {
  keylog: string;
  http1: { connections: number; requests: number };
  http2: { connections: number; streams: number };
  /** Connections per cipher suite (by IANA name). */
  suites: Record<string, number>;
}

const SERVER_PORT = 443;
const CLIENT_PORT_FIRST = 40000;
const CONCURRENCY = 8;
const SNI = 'bench.example';
/** A TLS record's plaintext limit (RFC 8446 5.1), and what one segment carries at most here. */
const MAX_RECORD_PLAINTEXT = 16384;
const MAX_SEGMENT = 32 * 1024;

/** TLS 1.3 cipher suites (RFC 8446 B.4), and their hash's length (the secrets' length). */
const TLS_AES_128_GCM_SHA256 = 0x1301;
const TLS_AES_256_GCM_SHA384 = 0x1302;
const TLS_CHACHA20_POLY1305_SHA256 = 0x1303;
const SUITE_NAMES: Record<number, string> = {
  [TLS_AES_128_GCM_SHA256]: 'TLS_AES_128_GCM_SHA256',
  [TLS_AES_256_GCM_SHA384]: 'TLS_AES_256_GCM_SHA384',
  [TLS_CHACHA20_POLY1305_SHA256]: 'TLS_CHACHA20_POLY1305_SHA256',
};
/** What a client offers: the three TLS 1.3 suites, then TLS 1.2 ECDHE GCM and ChaCha20 ones. */
const OFFERED_SUITES = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8];
/** Named groups (RFC 8446 4.2.7): x25519, secp256r1, secp384r1. */
const X25519 = 0x001d;
const GROUPS = [X25519, 0x0017, 0x0018];
/** signature_algorithms (RFC 8446 4.2.3): ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256, ... */
const SIGNATURE_ALGORITHMS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
const SIGNATURE_ALGORITHMS_EXTENSION = 13;
const RSA_PSS_RSAE_SHA256 = 0x0804;
/** psk_key_exchange_modes: psk_dhe_ke (RFC 8446 4.2.9). */
const PSK_DHE_KE = 1;
/** close_notify, a warning (RFC 8446 6.1). */
const ALERT_WARNING = 1;
const CLOSE_NOTIFY = 0;

const u16 = (v: number): Uint8Array => Uint8Array.of(v >>> 8, v & 0xff);
const u16s = (values: readonly number[]): Uint8Array => Uint8Array.from(values.flatMap((v) => [v >>> 8, v & 0xff]));
const u32 = (v: number): Uint8Array => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
const join = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** `n` bytes from the seeded generator. */
function bytes(random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

type From = 'client' | 'server';

/** One TCP segment a connection sends next. */
interface Segment {
  from: From;
  flags: number;
  payload: Uint8Array;
}

const NONE = new Uint8Array(0);
const seg = (from: From, payload: Uint8Array, flags = PSH | ACK): Segment => ({ from, flags, payload });

/** The four secrets of one connection and its client random, as the key log gives them. */
interface Secrets {
  clientRandom: Uint8Array;
  clientHandshake: Uint8Array;
  serverHandshake: Uint8Array;
  clientTraffic0: Uint8Array;
  serverTraffic0: Uint8Array;
}

function keylogLines(s: Secrets): string {
  const r = hex(s.clientRandom);
  return (
    `CLIENT_HANDSHAKE_TRAFFIC_SECRET ${r} ${hex(s.clientHandshake)}\n` +
    `SERVER_HANDSHAKE_TRAFFIC_SECRET ${r} ${hex(s.serverHandshake)}\n` +
    `CLIENT_TRAFFIC_SECRET_0 ${r} ${hex(s.clientTraffic0)}\n` +
    `SERVER_TRAFFIC_SECRET_0 ${r} ${hex(s.serverTraffic0)}\n`
  );
}

function cipher(suite: number, secret: Uint8Array): TlsRecordCipher {
  const c = TlsRecordCipher.tls13(suite, secret);
  if (c === null) throw new Error(`cannot seal with suite 0x${suite.toString(16)}`);
  return c;
}

/** What the connection generators share: whether to wind up, the counts, the responses. */
interface Shared {
  /** The file is big enough: finish the exchange at hand and close. */
  closing: boolean;
  http1Requests: number;
  http2Streams: number;
}

/** The ClientHello record of a browser-like client offering h2 and http/1.1. */
function clientHelloRecord(random: () => number, clientRandom: Uint8Array, sessionId: Uint8Array): Uint8Array {
  const keyShare = join(u16(X25519), vector(2, bytes(random, 32)));
  const body = clientHelloBody({
    random: clientRandom,
    sessionId,
    cipherSuites: OFFERED_SUITES,
    sni: SNI,
    alpn: ['h2', 'http/1.1'],
    versions: [TlsVersion.TLS_1_3, TlsVersion.TLS_1_2],
    groups: GROUPS,
    pskModes: [PSK_DHE_KE],
    extra: [
      extension(SIGNATURE_ALGORITHMS_EXTENSION, vector(2, u16s(SIGNATURE_ALGORITHMS))),
      extension(TlsExtension.KEY_SHARE, vector(2, keyShare)),
    ],
  });
  // The first record's legacy_record_version is TLS 1.0, as OpenSSL, NSS and BoringSSL send it (RFC 8446 5.1).
  return record(TlsContentType.HANDSHAKE, handshake(TlsHandshakeType.CLIENT_HELLO, body), TlsVersion.TLS_1_0);
}

/** The ServerHello record (RFC 8446 4.1.3): TLS 1.3 chosen in supported_versions, an x25519 key share. */
function serverHelloRecord(
  random: () => number,
  serverRandom: Uint8Array,
  sessionId: Uint8Array,
  suite: number,
): Uint8Array {
  const extensions = join(
    extension(TlsExtension.SUPPORTED_VERSIONS, u16(TlsVersion.TLS_1_3)),
    extension(TlsExtension.KEY_SHARE, join(u16(X25519), vector(2, bytes(random, 32)))),
  );
  const body = join(u16(TlsVersion.TLS_1_2), serverRandom, vector(1, sessionId), u16(suite), Uint8Array.of(0));
  return record(TlsContentType.HANDSHAKE, handshake(TlsHandshakeType.SERVER_HELLO, join(body, vector(2, extensions))));
}

const CHANGE_CIPHER_SPEC = record(TlsContentType.CHANGE_CIPHER_SPEC, Uint8Array.of(1));

/** One TLS 1.3 connection, segment by segment; the requests by `http1` or `http2`. */
function* connection(
  index: number,
  random: () => number,
  suite: number,
  secrets: Secrets,
  alpn: 'h2' | 'http/1.1',
  requests: number,
  shared: Shared,
): Generator<Segment, void> {
  const hashLength = suite === TLS_AES_256_GCM_SHA384 ? 48 : 32;
  const sessionId = bytes(random, 32);
  yield seg('client', NONE, SYN);
  yield seg('server', NONE, SYN | ACK);
  yield seg('client', NONE, ACK);
  yield seg('client', clientHelloRecord(random, secrets.clientRandom, sessionId));
  const serverHs = cipher(suite, secrets.serverHandshake);
  const encryptedExtensions = handshake(
    TlsHandshakeType.ENCRYPTED_EXTENSIONS,
    vector(2, join(extension(TlsExtension.SERVER_NAME, NONE), alpnExtension([alpn]))),
  );
  // An empty certificate_request_context and certificate_list: no tool here checks a certificate, and
  // tshark stops dissecting a segment at one it cannot parse (the Finished after it, and with it the
  // switch to the application keys, would be lost).
  const certificate = join(vector(1, NONE), vector(3, NONE));
  yield seg(
    'server',
    join(
      serverHelloRecord(random, bytes(random, 32), sessionId, suite),
      CHANGE_CIPHER_SPEC,
      serverHs.seal(TlsContentType.HANDSHAKE, encryptedExtensions),
      serverHs.seal(TlsContentType.HANDSHAKE, handshake(TlsHandshakeType.CERTIFICATE, certificate)),
      serverHs.seal(
        TlsContentType.HANDSHAKE,
        handshake(TlsHandshakeType.CERTIFICATE_VERIFY, join(u16(RSA_PSS_RSAE_SHA256), vector(2, bytes(random, 256)))),
      ),
      serverHs.seal(TlsContentType.HANDSHAKE, handshake(TlsHandshakeType.FINISHED, bytes(random, hashLength))),
    ),
  );
  const clientHs = cipher(suite, secrets.clientHandshake);
  yield seg(
    'client',
    join(
      CHANGE_CIPHER_SPEC,
      clientHs.seal(TlsContentType.HANDSHAKE, handshake(TlsHandshakeType.FINISHED, bytes(random, hashLength))),
    ),
  );
  const client = cipher(suite, secrets.clientTraffic0);
  const server = cipher(suite, secrets.serverTraffic0);
  // A NewSessionTicket (RFC 8446 4.6.1): lifetime, age_add, nonce, ticket, no extensions.
  const ticket = join(
    u32(7200),
    bytes(random, 4),
    vector(1, u32(index)),
    vector(2, bytes(random, 192)),
    vector(2, NONE),
  );
  yield seg('server', server.seal(TlsContentType.HANDSHAKE, handshake(TlsHandshakeType.NEW_SESSION_TICKET, ticket)));
  const app = (from: From, plaintext: Uint8Array): Segment =>
    seg(from, (from === 'client' ? client : server).seal(TlsContentType.APPLICATION_DATA, plaintext));
  if (alpn === 'h2')
    yield* http2(random, requests, shared, app, (from, plaintext) =>
      sealAll(from === 'client' ? client : server, plaintext),
    );
  else yield* http1(random, requests, shared, app);
  const closeNotify = Uint8Array.of(ALERT_WARNING, CLOSE_NOTIFY);
  yield seg('client', client.seal(TlsContentType.ALERT, closeNotify));
  yield seg('server', server.seal(TlsContentType.ALERT, closeNotify));
  yield seg('client', NONE, FIN | ACK);
  yield seg('server', NONE, FIN | ACK);
  yield seg('client', NONE, ACK);
}

/** `plaintext` as application data records of at most MAX_RECORD_PLAINTEXT bytes each, one after the other. */
function sealAll(c: TlsRecordCipher, plaintext: Uint8Array): Uint8Array {
  const records: Uint8Array[] = [];
  for (let at = 0; at < plaintext.length; at += MAX_RECORD_PLAINTEXT)
    records.push(c.seal(TlsContentType.APPLICATION_DATA, plaintext.subarray(at, at + MAX_RECORD_PLAINTEXT)));
  return join(...records);
}

/** Bodies of 2-8 KiB (as writeKeepAliveCapture's), the length of response `n`. */
const bodyLength = (n: number): number => 2048 + ((n * 7919) % 32) * 192;

/** HTTP/1.1 keep-alive: a request, its response (1 in 16 chunked), about half acknowledged by a pure ACK. */
function* http1(
  random: () => number,
  requests: number,
  shared: Shared,
  app: (from: From, plaintext: Uint8Array) => Segment,
): Generator<Segment, void> {
  for (let i = 0; i < requests && !shared.closing; i++) {
    const n = Math.floor(random() * 100_000);
    yield app(
      'client',
      encode(
        `GET /items/${n}?fields=all HTTP/1.1\r\nHost: ${SNI}\r\n` +
          'User-Agent: wrk/4.2\r\nAccept: application/json\r\n\r\n',
      ),
    );
    shared.http1Requests++;
    const length = bodyLength(n);
    const chunked = n % 16 === 15;
    const head =
      'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n' +
      'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n' +
      (chunked ? `Transfer-Encoding: chunked\r\n\r\n${length.toString(16)}\r\n` : `Content-Length: ${length}\r\n\r\n`);
    yield app('server', join(encode(head), BODY.subarray(0, length), encode(chunked ? '\r\n0\r\n\r\n' : '')));
    if (random() < 0.5) yield seg('client', NONE, ACK);
  }
}

/**
 * HTTP/2: the preface and SETTINGS both ways, then batches of 1-8 streams opened at once (HEADERS
 * with END_STREAM, in one record), answered by HEADERS and DATA frames of the streams in turn (bodies
 * in frames of at most 4 KiB, the last with END_STREAM), and a GOAWAY from the client at the end.
 */
function* http2(
  random: () => number,
  streams: number,
  shared: Shared,
  app: (from: From, plaintext: Uint8Array) => Segment,
  sealed: (from: From, plaintext: Uint8Array) => Uint8Array,
): Generator<Segment, void> {
  // SETTINGS_ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 6 MiB; the connection window opened wide (as curl does).
  yield app(
    'client',
    join(
      HTTP2_CLIENT_PREFACE,
      settings([
        [0x2, 0],
        [0x4, 6 * 1024 * 1024],
      ]),
      frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0x7fff0000)),
    ),
  );
  // MAX_CONCURRENT_STREAMS 128, then the ACK of the client's SETTINGS.
  yield app('server', join(settings([[0x3, 128]]), frame(FrameType.SETTINGS, FrameFlag.ACK, 0)));
  yield app('client', frame(FrameType.SETTINGS, FrameFlag.ACK, 0));
  let nextStream = 1;
  let opened = 0;
  while (opened < streams && !shared.closing) {
    const batch = Math.min(streams - opened, 1 + Math.floor(random() * 8));
    const ids: number[] = [];
    const requests: Uint8Array[] = [];
    for (let k = 0; k < batch; k++) {
      const id = nextStream;
      nextStream += 2;
      ids.push(id);
      const n = Math.floor(random() * 100_000);
      requests.push(
        frame(
          FrameType.HEADERS,
          FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
          id,
          headerBlock([
            [':method', 'GET'],
            [':scheme', 'https'],
            [':path', `/items/${n}?fields=all`],
            [':authority', SNI],
            ['user-agent', 'h2load nghttp2/1.52.0'],
            ['accept', 'application/json'],
          ]),
        ),
      );
    }
    yield app('client', join(...requests));
    opened += batch;
    shared.http2Streams += batch;
    // The responses: every stream's HEADERS, then DATA frames of the streams in turn.
    const frames: Uint8Array[] = [];
    const left = new Map<number, number>();
    for (const id of ids) {
      const length = bodyLength(Math.floor(random() * 100_000));
      left.set(id, length);
      frames.push(
        frame(
          FrameType.HEADERS,
          FrameFlag.END_HEADERS,
          id,
          headerBlock([
            [':status', '200'],
            ['content-type', 'application/octet-stream'],
            ['content-length', String(length)],
            ['date', 'Tue, 14 Nov 2023 22:13:20 GMT'],
          ]),
        ),
      );
    }
    while (left.size > 0) {
      for (const [id, length] of left) {
        const chunk = Math.min(length, 4096);
        const end = chunk === length;
        frames.push(frame(FrameType.DATA, end ? FrameFlag.END_STREAM : 0, id, BODY.subarray(0, chunk)));
        if (end) left.delete(id);
        else left.set(id, length - chunk);
      }
    }
    // Sealed in records of up to 16 KiB, sent in segments of up to MAX_SEGMENT bytes of plaintext.
    const plaintext = join(...frames);
    for (let at = 0; at < plaintext.length; at += MAX_SEGMENT)
      yield seg('server', sealed('server', plaintext.subarray(at, at + MAX_SEGMENT)));
    if (random() < 0.5) yield seg('client', NONE, ACK);
  }
  // GOAWAY (RFC 9113 6.8): no stream the server opened, NO_ERROR.
  yield app('client', frame(FrameType.GOAWAY, 0, 0, join(u32(0), u32(0))));
}

/** A connection being written: its port, sequence numbers and segments to come. */
interface Live {
  port: number;
  cseq: number;
  sseq: number;
  segments: Generator<Segment, void>;
}

/**
 * Writes the capture and its key log: CONCURRENCY connections open at once (a new one as one closes),
 * alternately HTTP/1.1 and HTTP/2 (by ALPN), 3 in 4 with TLS_AES_128_GCM_SHA256, 1 in 8 each with
 * TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256; their segments interleaved at random.
 */
export function writeHttpsCapture(spec: HttpsCaptureSpec): HttpsCaptureMeta {
  const random = prng(0x7135);
  const w = new PcapWriter(spec.path);
  const shared: Shared = { closing: false, http1Requests: 0, http2Streams: 0 };
  const keylog: string[] = ['# NSS key log of bench/synthetic-https.ts (TLS 1.3 traffic secrets)\n'];
  const suites: Record<string, number> = {};
  const live: Live[] = [];
  let opened = 0;
  let http2Connections = 0;
  const maxConnections = spec.connections ?? Infinity;
  let ts = BASE_TS;
  for (;;) {
    if (!shared.closing && w.size >= spec.targetBytes) shared.closing = true;
    while (live.length < CONCURRENCY && !shared.closing && opened < maxConnections) {
      const index = opened++;
      const own = prng(0x7135 + index * 0x9e37);
      const suite =
        index % 8 === 6
          ? TLS_AES_256_GCM_SHA384
          : index % 8 === 7
            ? TLS_CHACHA20_POLY1305_SHA256
            : TLS_AES_128_GCM_SHA256;
      const secretLength = suite === TLS_AES_256_GCM_SHA384 ? 48 : 32;
      const secrets: Secrets = {
        clientRandom: bytes(own, 32),
        clientHandshake: bytes(own, secretLength),
        serverHandshake: bytes(own, secretLength),
        clientTraffic0: bytes(own, secretLength),
        serverTraffic0: bytes(own, secretLength),
      };
      keylog.push(keylogLines(secrets));
      const name = SUITE_NAMES[suite]!;
      suites[name] = (suites[name] ?? 0) + 1;
      const alpn = index % 2 === 0 ? 'http/1.1' : 'h2';
      if (alpn === 'h2') http2Connections++;
      const requests = spec.requestsPerConnection ?? 100 + Math.floor(own() * 301);
      live.push({
        port: CLIENT_PORT_FIRST + index,
        cseq: (own() * 2 ** 32) >>> 0,
        sseq: (own() * 2 ** 32) >>> 0,
        segments: connection(index, own, suite, secrets, alpn, requests, shared),
      });
    }
    if (live.length === 0) break;
    const i = Math.floor(random() * live.length);
    const c = live[i]!;
    const next = c.segments.next();
    if (next.done) {
      live.splice(i, 1);
      continue;
    }
    const s = next.value;
    ts += 2 + Math.floor(random() * 20);
    const tsval = Math.floor(ts / 1000);
    const advance = s.payload.length + ((s.flags & (SYN | FIN)) !== 0 ? 1 : 0);
    if (s.from === 'client') {
      w.tcp(ts, c.port, SERVER_PORT, c.cseq, c.sseq, s.flags, s.payload, tsval);
      c.cseq = (c.cseq + advance) >>> 0;
    } else {
      w.tcp(ts, SERVER_PORT, c.port, c.sseq, c.cseq, s.flags, s.payload, tsval);
      c.sseq = (c.sseq + advance) >>> 0;
    }
  }
  w.close();
  writeFileSync(spec.keylog, keylog.join(''));
  const http1Connections = opened - http2Connections;
  const requests = shared.http1Requests + shared.http2Streams;
  return {
    generator: GENERATOR_VERSION,
    kind: 'https',
    bytes: w.size,
    packets: w.packets,
    connections: opened,
    requests,
    keylog: spec.keylog,
    http1: { connections: http1Connections, requests: shared.http1Requests },
    http2: { connections: http2Connections, streams: shared.http2Streams },
    suites,
    description:
      'generated in code (bench/synthetic-https.ts), TLS 1.3 on port 443 with its key log: ' +
      `${opened} connections (${CONCURRENCY} at once), ${http1Connections} HTTP/1.1 keep-alive with ` +
      `${shared.http1Requests} requests, ${http2Connections} HTTP/2 with ${shared.http2Streams} streams ` +
      '(1-8 at once), 2-8 KiB bodies; ' +
      Object.entries(suites)
        .map(([n, k]) => `${k} ${n}`)
        .join(', '),
  };
}
