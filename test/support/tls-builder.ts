/**
 * TLS bytes for tests, built field by field so a test reads as the structures of the spec:
 *   records       RFC 8446 5.1 (type, legacy_record_version, length, fragment)
 *   handshake     RFC 8446 4 (msg_type, uint24 length, body)
 *   ClientHello   RFC 8446 4.1.2; ServerHello 4.1.3; extensions 4.2; RFC 6066 3 (SNI), RFC 7301 (ALPN),
 *                 RFC 5077 (session_ticket)
 * and whole conversations (a list of segments, each from one side) for the handshakes the tests
 * need: TLS 1.3 full, resumed and with a HelloRetryRequest; TLS 1.2 full, resumed by session id and
 * by ticket. Encrypted records are filled with a pattern: without keys, only their type, length and
 * position count. `tls13Encrypted` and `tls12Encrypted` seal real records (decode/tls-crypto.ts) and
 * give the key log that opens them.
 */
import type { Endpoint, Side } from '../../src/model/report.js';
import {
  HELLO_RETRY_REQUEST_RANDOM,
  TlsContentType,
  TlsExtension,
  TlsHandshakeType,
  TlsVersion,
} from '../../src/decode/tls.js';
import { TlsRecordCipher } from '../../src/decode/tls-crypto.js';
import { BufferList, concat } from './buffer-list.js';
import type { TcpPacketSpec } from './capture-builder.js';
import { Conversation } from './tcp-conversation.js';

const enc = new TextEncoder();

/** A vector: its length in `lengthBytes` bytes, then the bytes. */
export function vector(lengthBytes: 1 | 2 | 3, body: Uint8Array): Uint8Array {
  const b = new BufferList();
  if (lengthBytes === 1) b.uint8(body.length);
  else if (lengthBytes === 2) b.uint16(body.length);
  else b.uint8(body.length >> 16).uint16(body.length & 0xffff);
  return b.bytes(body).join();
}

export function extension(type: number, data: Uint8Array): Uint8Array {
  return new BufferList().uint16(type).bytes(vector(2, data)).join();
}

const u16s = (values: readonly number[]): Uint8Array => {
  const b = new BufferList();
  for (const v of values) b.uint16(v);
  return b.join();
};

export function sniExtension(host: string): Uint8Array {
  return extension(TlsExtension.SERVER_NAME, vector(2, concat(Uint8Array.of(0), vector(2, enc.encode(host)))));
}

export function alpnExtension(protocols: readonly string[]): Uint8Array {
  return extension(TlsExtension.ALPN, vector(2, concat(...protocols.map((p) => vector(1, enc.encode(p))))));
}

export function handshake(type: number, body: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(type), vector(3, body));
}

export function record(type: number, fragment: Uint8Array, version: number = TlsVersion.TLS_1_2): Uint8Array {
  return new BufferList().uint8(type).uint16(version).bytes(vector(2, fragment)).join();
}

/** A record of `length` opaque bytes (encrypted, as far as a capture can tell). */
export function opaque(type: number, length: number): Uint8Array {
  return record(
    type,
    Uint8Array.from({ length }, (_, i) => (i * 37 + 11) & 0xff),
  );
}

export const appData = (length: number): Uint8Array => opaque(TlsContentType.APPLICATION_DATA, length);
export const ccs = (): Uint8Array => record(TlsContentType.CHANGE_CIPHER_SPEC, Uint8Array.of(1));
export const alert = (level: number, description: number): Uint8Array =>
  record(TlsContentType.ALERT, Uint8Array.of(level, description));

export interface ClientHelloSpec {
  legacyVersion?: number;
  random?: Uint8Array;
  sessionId?: Uint8Array;
  cipherSuites?: number[];
  sni?: string;
  alpn?: string[];
  /** supported_versions; omitted when undefined. */
  versions?: number[];
  groups?: number[];
  keyShares?: number[];
  pskModes?: number[];
  /** PSK identities offered (pre_shared_key, which must be last). */
  psk?: number;
  /** session_ticket: omitted when undefined, else a ticket of this many bytes (0: empty). */
  ticket?: number;
  earlyData?: boolean;
  /** Extension bytes to add as they are (after the others, before pre_shared_key). */
  extra?: Uint8Array[];
}

export function clientHelloBody(spec: ClientHelloSpec = {}): Uint8Array {
  const exts: Uint8Array[] = [];
  if (spec.sni !== undefined) exts.push(sniExtension(spec.sni));
  if (spec.groups) exts.push(extension(TlsExtension.SUPPORTED_GROUPS, vector(2, u16s(spec.groups))));
  if (spec.alpn) exts.push(alpnExtension(spec.alpn));
  if (spec.ticket !== undefined) exts.push(extension(TlsExtension.SESSION_TICKET, new Uint8Array(spec.ticket).fill(7)));
  if (spec.versions) exts.push(extension(TlsExtension.SUPPORTED_VERSIONS, vector(1, u16s(spec.versions))));
  if (spec.pskModes)
    exts.push(extension(TlsExtension.PSK_KEY_EXCHANGE_MODES, vector(1, Uint8Array.from(spec.pskModes))));
  if (spec.keyShares) {
    const shares = spec.keyShares.map((g) => concat(u16s([g]), vector(2, new Uint8Array(32).fill(g & 0xff))));
    exts.push(extension(TlsExtension.KEY_SHARE, vector(2, concat(...shares))));
  }
  if (spec.earlyData) exts.push(extension(TlsExtension.EARLY_DATA, new Uint8Array(0)));
  exts.push(...(spec.extra ?? []));
  if (spec.psk !== undefined && spec.psk > 0) {
    const identities = Array.from({ length: spec.psk }, (_, i) =>
      concat(vector(2, new Uint8Array(48).fill(i + 1)), new BufferList().uint32(1234).join()),
    );
    const binders = concat(...Array.from({ length: spec.psk }, () => vector(1, new Uint8Array(32).fill(9))));
    exts.push(extension(TlsExtension.PRE_SHARED_KEY, concat(vector(2, concat(...identities)), vector(2, binders))));
  }
  return new BufferList()
    .uint16(spec.legacyVersion ?? TlsVersion.TLS_1_2)
    .bytes(spec.random ?? new Uint8Array(32).fill(0xaa))
    .bytes(vector(1, spec.sessionId ?? new Uint8Array(0)))
    .bytes(vector(2, u16s(spec.cipherSuites ?? [0x1301, 0x1302, 0xc02f])))
    .bytes(vector(1, Uint8Array.of(0)))
    .bytes(vector(2, concat(...exts)))
    .join();
}

export const clientHello = (spec: ClientHelloSpec = {}): Uint8Array =>
  handshake(TlsHandshakeType.CLIENT_HELLO, clientHelloBody(spec));

export interface ServerHelloSpec {
  legacyVersion?: number;
  random?: Uint8Array;
  sessionId?: Uint8Array;
  cipherSuite?: number;
  /** supported_versions' selected_version; omitted when undefined. */
  version?: number;
  alpn?: string;
  pskSelected?: number;
  /** An empty session_ticket extension (TLS 1.2: a NewSessionTicket will follow). */
  ticket?: boolean;
  keyShare?: number;
  /** Leave the extensions block out entirely (allowed before TLS 1.3). */
  noExtensions?: boolean;
}

export function serverHelloBody(spec: ServerHelloSpec = {}): Uint8Array {
  const exts: Uint8Array[] = [];
  if (spec.version !== undefined) exts.push(extension(TlsExtension.SUPPORTED_VERSIONS, u16s([spec.version])));
  if (spec.alpn !== undefined) exts.push(alpnExtension([spec.alpn]));
  if (spec.ticket) exts.push(extension(TlsExtension.SESSION_TICKET, new Uint8Array(0)));
  if (spec.keyShare !== undefined)
    exts.push(extension(TlsExtension.KEY_SHARE, concat(u16s([spec.keyShare]), vector(2, new Uint8Array(32).fill(5)))));
  if (spec.pskSelected !== undefined) exts.push(extension(TlsExtension.PRE_SHARED_KEY, u16s([spec.pskSelected])));
  const b = new BufferList()
    .uint16(spec.legacyVersion ?? TlsVersion.TLS_1_2)
    .bytes(spec.random ?? new Uint8Array(32).fill(0xbb))
    .bytes(vector(1, spec.sessionId ?? new Uint8Array(0)))
    .uint16(spec.cipherSuite ?? 0x1301)
    .uint8(0);
  if (!spec.noExtensions) b.bytes(vector(2, concat(...exts)));
  return b.join();
}

export const serverHello = (spec: ServerHelloSpec = {}): Uint8Array =>
  handshake(TlsHandshakeType.SERVER_HELLO, serverHelloBody(spec));

/** A handshake message of `length` opaque bytes (Certificate, ServerHelloDone, ...). */
export const message = (type: number, length: number): Uint8Array => handshake(type, new Uint8Array(length).fill(0x42));

export const handshakeRecord = (...messages: Uint8Array[]): Uint8Array =>
  record(TlsContentType.HANDSHAKE, concat(...messages));

/** One side's bytes, as one TCP segment carries them. */
/**
 * One TCP connection from 10.0.0.1:`port` to `server` carrying `segments` cut into TCP segments of
 * `mss` bytes (a record spans segments), opened and closed by the client, starting at `startMs`.
 */
export function segmentsOverTcp(
  port: number,
  segments: readonly Segment[],
  startMs: number,
  server: Endpoint,
  mss = 100,
): TcpPacketSpec[] {
  const c = new Conversation({ address: '10.0.0.1', port }, server, { start: startMs * 1000 });
  c.handshake();
  for (const s of segments)
    for (let at = 0; at < s.bytes.length; at += mss) c.send(s.side, s.bytes.subarray(at, at + mss), { ack: true });
  c.close('client');
  return c.packets;
}

export interface Segment {
  side: Side;
  bytes: Uint8Array;
}

const seg = (side: Side, ...parts: Uint8Array[]): Segment => ({ side, bytes: concat(...parts) });

const SESSION = new Uint8Array(32).fill(0x5e);
const TLS13_HELLO: ClientHelloSpec = {
  sni: 'example.com',
  alpn: ['h2', 'http/1.1'],
  versions: [TlsVersion.TLS_1_3, TlsVersion.TLS_1_2],
  groups: [29, 23],
  keyShares: [29],
  pskModes: [1],
  sessionId: new Uint8Array(32).fill(0x11),
  ticket: 0,
};

/** Application data both ways: `exchanges` requests (client) each answered (server, in two records). */
function exchanges(n: number): Segment[] {
  const out: Segment[] = [];
  for (let i = 0; i < n; i++) out.push(seg('client', appData(100)), seg('server', appData(300), appData(50)));
  return out;
}

/**
 * TLS 1.3, full handshake (RFC 8446 2, figure 1), middlebox compatibility mode, then `n` exchanges:
 * the server's NewSessionTickets (encrypted) come after the client's Finished.
 */
export function tls13Full(n = 2, hello: ClientHelloSpec = TLS13_HELLO): Segment[] {
  return [
    seg('client', handshakeRecord(clientHello(hello))),
    seg(
      'server',
      handshakeRecord(serverHello({ sessionId: hello.sessionId, version: TlsVersion.TLS_1_3, keyShare: 29 })),
      ccs(),
      appData(40), // EncryptedExtensions
      appData(800), // Certificate
      appData(90), // CertificateVerify
      appData(53), // Finished
    ),
    seg('client', ccs(), appData(53)), // Finished
    seg('server', appData(200), appData(200)), // two NewSessionTickets
    ...exchanges(n),
  ];
}

/** TLS 1.3 resumed with a PSK (RFC 8446 2.2): no Certificate in the server's encrypted flight. */
export function tls13Resumed(n = 1): Segment[] {
  const hello = { ...TLS13_HELLO, psk: 1 };
  return [
    seg('client', handshakeRecord(clientHello(hello))),
    seg(
      'server',
      handshakeRecord(
        serverHello({ sessionId: hello.sessionId, version: TlsVersion.TLS_1_3, keyShare: 29, pskSelected: 0 }),
      ),
      ccs(),
      appData(40),
      appData(53),
    ),
    seg('client', ccs(), appData(53)),
    ...exchanges(n),
  ];
}

/** TLS 1.3 with a HelloRetryRequest (RFC 8446 4.1.4): the client offers another key share. */
export function tls13HelloRetry(n = 1): Segment[] {
  return [
    seg('client', handshakeRecord(clientHello({ ...TLS13_HELLO, keyShares: [0x11ec] }))),
    seg(
      'server',
      handshakeRecord(
        serverHello({
          sessionId: TLS13_HELLO.sessionId,
          random: HELLO_RETRY_REQUEST_RANDOM,
          version: TlsVersion.TLS_1_3,
          keyShare: 29,
        }),
      ),
      ccs(),
    ),
    seg('client', ccs(), handshakeRecord(clientHello({ ...TLS13_HELLO, keyShares: [29] }))),
    seg(
      'server',
      handshakeRecord(serverHello({ sessionId: TLS13_HELLO.sessionId, version: TlsVersion.TLS_1_3, keyShare: 29 })),
      appData(40),
      appData(800),
      appData(90),
      appData(53),
    ),
    seg('client', appData(53)),
    ...exchanges(n),
  ];
}

const TLS12_HELLO: ClientHelloSpec = {
  sni: 'example.com',
  alpn: ['h2', 'http/1.1'],
  cipherSuites: [0xc02f, 0xc030],
  groups: [29],
  ticket: 0,
};

/** TLS 1.2 full handshake (RFC 5246 7.3, figure 1) with a ticket issued (RFC 5077 3.1). */
export function tls12Full(n = 1): Segment[] {
  return [
    seg('client', handshakeRecord(clientHello(TLS12_HELLO))),
    seg(
      'server',
      handshakeRecord(
        serverHello({ sessionId: SESSION, cipherSuite: 0xc02f, alpn: 'http/1.1', ticket: true }),
        message(TlsHandshakeType.CERTIFICATE, 900),
        message(TlsHandshakeType.SERVER_KEY_EXCHANGE, 100),
        message(TlsHandshakeType.SERVER_HELLO_DONE, 0),
      ),
    ),
    seg('client', handshakeRecord(message(TlsHandshakeType.CLIENT_KEY_EXCHANGE, 33)), ccs(), opaque(22, 40)),
    seg('server', handshakeRecord(message(TlsHandshakeType.NEW_SESSION_TICKET, 180)), ccs(), opaque(22, 40)),
    ...exchanges(n),
  ];
}

/** TLS 1.2 resumed (the abbreviated handshake, RFC 5246 7.3 figure 2) by session id, or by ticket. */
export function tls12Resumed(by: 'session-id' | 'ticket', n = 1): Segment[] {
  const hello =
    by === 'ticket' ? { ...TLS12_HELLO, ticket: 160, sessionId: SESSION } : { ...TLS12_HELLO, sessionId: SESSION };
  const server =
    by === 'ticket'
      ? [
          handshakeRecord(
            serverHello({ sessionId: SESSION, cipherSuite: 0xc02f, alpn: 'http/1.1', ticket: true }),
            message(TlsHandshakeType.NEW_SESSION_TICKET, 180),
          ),
        ]
      : [handshakeRecord(serverHello({ sessionId: SESSION, cipherSuite: 0xc02f, alpn: 'http/1.1' }))];
  return [
    seg('client', handshakeRecord(clientHello(hello))),
    seg('server', ...server, ccs(), opaque(22, 40)),
    seg('client', ccs(), opaque(22, 40)),
    ...exchanges(n),
  ];
}

// ------------------------------------------------------------------------------------------------
// Encrypted conversations, with the key log that opens them

/** An encrypted conversation and the NSS key log lines of its secrets. */
export interface EncryptedConversation {
  segments: Segment[];
  /** The key log (NSS format, one line per secret). */
  keyLog: string;
  clientRandom: Uint8Array;
}

export interface EncryptedSpec {
  /** The cipher suite (default TLS_AES_128_GCM_SHA256 for TLS 1.3, ECDHE_RSA_WITH_AES_128_GCM_SHA256 for 1.2). */
  suite?: number;
  /** The ALPN protocol the server chooses (in EncryptedExtensions for TLS 1.3); null: none. */
  alpn?: string | null;
  /** Exchanges: the client's plaintext, then the server's (each sent as one record). */
  exchanges: [Uint8Array, Uint8Array][];
  /** A seed for the randoms and secrets (each conversation gets its own keys). */
  seed?: number;
  /** TLS 1.3: the client sends a KeyUpdate after this many exchanges. */
  keyUpdateAfter?: number;
  /** TLS 1.3: the key log has only the traffic secrets (no handshake secrets). */
  noHandshakeSecrets?: boolean;
  /** Both sides end with an encrypted close_notify alert. */
  closeNotify?: boolean;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** Bytes from a seed (a linear congruential sequence: reproducible, not secret). */
function seeded(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function sealer(cipher: TlsRecordCipher | null): TlsRecordCipher {
  if (cipher === null) throw new Error('suite not decryptable');
  return cipher;
}

/** EncryptedExtensions (RFC 8446 4.3.1) with the ALPN chosen, if any. */
export function encryptedExtensions(alpn: string | null): Uint8Array {
  const exts = alpn === null ? new Uint8Array(0) : alpnExtension([alpn]);
  return handshake(TlsHandshakeType.ENCRYPTED_EXTENSIONS, vector(2, exts));
}

/**
 * TLS 1.3, full handshake, every record after the ServerHello encrypted with TlsRecordCipher.seal:
 * the server's flight under its handshake traffic secret, the client's Finished under its own, then
 * two NewSessionTickets and the exchanges under the traffic secrets 0 (RFC 8446 2, 7.1); a KeyUpdate
 * (4.6.3) moves the client to its next secret.
 */
export function tls13Encrypted(spec: EncryptedSpec): EncryptedConversation {
  const seed = spec.seed ?? 1;
  const suite = spec.suite ?? 0x1301;
  const hashLength = suite === 0x1302 ? 48 : 32;
  const clientRandom = seeded(seed, 32);
  const serverRandom = seeded(seed + 1000, 32);
  const secret = (n: number): Uint8Array => seeded(seed * 10 + n, hashLength);
  const [cHs, sHs, cApp, sApp] = [secret(1), secret(2), secret(3), secret(4)];
  const c1 = sealer(TlsRecordCipher.tls13(suite, cHs));
  const s1 = sealer(TlsRecordCipher.tls13(suite, sHs));
  const c2 = sealer(TlsRecordCipher.tls13(suite, cApp));
  const s2 = sealer(TlsRecordCipher.tls13(suite, sApp));
  const hs = TlsContentType.HANDSHAKE;
  const hello = { ...TLS13_HELLO, random: clientRandom, cipherSuites: [suite] };
  const out: Segment[] = [
    seg('client', handshakeRecord(clientHello(hello))),
    seg(
      'server',
      handshakeRecord(
        serverHello({
          random: serverRandom,
          sessionId: hello.sessionId,
          cipherSuite: suite,
          version: TlsVersion.TLS_1_3,
          keyShare: 29,
        }),
      ),
      ccs(),
      // EncryptedExtensions and Certificate coalesced in one record, then CertificateVerify and Finished.
      s1.seal(hs, concat(encryptedExtensions(spec.alpn ?? null), message(TlsHandshakeType.CERTIFICATE, 700))),
      s1.seal(hs, message(TlsHandshakeType.CERTIFICATE_VERIFY, 80)),
      s1.seal(hs, message(TlsHandshakeType.FINISHED, hashLength)),
    ),
    seg('client', ccs(), c1.seal(hs, message(TlsHandshakeType.FINISHED, hashLength))),
    seg(
      'server',
      s2.seal(hs, message(TlsHandshakeType.NEW_SESSION_TICKET, 180)),
      s2.seal(hs, message(TlsHandshakeType.NEW_SESSION_TICKET, 180), 7),
    ),
  ];
  spec.exchanges.forEach(([request, response], i) => {
    if (spec.keyUpdateAfter === i) {
      out.push(seg('client', c2.seal(hs, handshake(TlsHandshakeType.KEY_UPDATE, Uint8Array.of(0)))));
      c2.update();
    }
    out.push(seg('client', c2.seal(TlsContentType.APPLICATION_DATA, request)));
    out.push(seg('server', s2.seal(TlsContentType.APPLICATION_DATA, response)));
  });
  if (spec.closeNotify) {
    out.push(seg('client', c2.seal(TlsContentType.ALERT, Uint8Array.of(1, 0))));
    out.push(seg('server', s2.seal(TlsContentType.ALERT, Uint8Array.of(1, 0))));
  }
  const r = hex(clientRandom);
  const lines = [
    ...(spec.noHandshakeSecrets
      ? []
      : [`CLIENT_HANDSHAKE_TRAFFIC_SECRET ${r} ${hex(cHs)}`, `SERVER_HANDSHAKE_TRAFFIC_SECRET ${r} ${hex(sHs)}`]),
    `CLIENT_TRAFFIC_SECRET_0 ${r} ${hex(cApp)}`,
    `SERVER_TRAFFIC_SECRET_0 ${r} ${hex(sApp)}`,
  ];
  return { segments: out, keyLog: lines.join('\n') + '\n', clientRandom };
}

/**
 * TLS 1.2 full handshake (RFC 5246 7.3) with an AEAD suite (GCM, RFC 5288; ChaCha20-Poly1305, RFC
 * 7905): each side's Finished and what follows sealed with the key block of the master secret.
 */
export function tls12Encrypted(spec: EncryptedSpec): EncryptedConversation {
  const seed = spec.seed ?? 1;
  const suite = spec.suite ?? 0xc02f;
  const clientRandom = seeded(seed, 32);
  const serverRandom = seeded(seed + 1000, 32);
  const master = seeded(seed * 10 + 5, 48);
  const c = sealer(TlsRecordCipher.tls12(suite, master, clientRandom, serverRandom, 'client'));
  const s = sealer(TlsRecordCipher.tls12(suite, master, clientRandom, serverRandom, 'server'));
  const hs = TlsContentType.HANDSHAKE;
  const hello = { ...TLS12_HELLO, random: clientRandom, cipherSuites: [suite] };
  const out: Segment[] = [
    seg('client', handshakeRecord(clientHello(hello))),
    seg(
      'server',
      handshakeRecord(
        serverHello({
          random: serverRandom,
          sessionId: SESSION,
          cipherSuite: suite,
          ...(spec.alpn ? { alpn: spec.alpn } : {}),
        }),
        message(TlsHandshakeType.CERTIFICATE, 900),
        message(TlsHandshakeType.SERVER_KEY_EXCHANGE, 100),
        message(TlsHandshakeType.SERVER_HELLO_DONE, 0),
      ),
    ),
    seg(
      'client',
      handshakeRecord(message(TlsHandshakeType.CLIENT_KEY_EXCHANGE, 33)),
      ccs(),
      c.seal(hs, message(TlsHandshakeType.FINISHED, 12)),
    ),
    seg('server', ccs(), s.seal(hs, message(TlsHandshakeType.FINISHED, 12))),
  ];
  for (const [request, response] of spec.exchanges) {
    out.push(seg('client', c.seal(TlsContentType.APPLICATION_DATA, request)));
    out.push(seg('server', s.seal(TlsContentType.APPLICATION_DATA, response)));
  }
  if (spec.closeNotify) {
    out.push(seg('client', c.seal(TlsContentType.ALERT, Uint8Array.of(1, 0))));
    out.push(seg('server', s.seal(TlsContentType.ALERT, Uint8Array.of(1, 0))));
  }
  return { segments: out, keyLog: `CLIENT_RANDOM ${hex(clientRandom)} ${hex(master)}\n`, clientRandom };
}
