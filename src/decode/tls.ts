/**
 * TLS on ONE TCP connection, without its keys: the record layer of both directions, and what is sent
 * in the clear (the hellos, TLS 1.2's Certificate and NewSessionTicket, ChangeCipherSpec, alerts before
 * encryption). Pure (no I/O), streaming (a record may span TCP segments, a handshake message may span
 * records; chunks are split anywhere), bounded in memory, and it never throws on any input.
 *
 * Specs:
 *  - RFC 8446 "TLS 1.3", https://www.rfc-editor.org/rfc/rfc8446
 *    4.1.2 ClientHello, 4.1.3 ServerHello (and the HelloRetryRequest's special random), 4.1.4
 *    HelloRetryRequest, 4.2 extensions (4.2.1 supported_versions, 4.2.8 key_share, 4.2.9
 *    psk_key_exchange_modes, 4.2.10 early_data, 4.2.11 pre_shared_key), 5.1 record layer, 5.2 record
 *    payload protection (every record after the ServerHello is application_data on the outside),
 *    6 alerts, D.4 middlebox compatibility mode (a ChangeCipherSpec that changes nothing).
 *  - RFC 5246 "TLS 1.2", https://www.rfc-editor.org/rfc/rfc5246: 6.2 records (length at most 2^14 + 2048
 *    protected), 7.1 ChangeCipherSpec (what follows it from that side is encrypted, Finished first),
 *    7.3 the abbreviated handshake of a resumed session, 7.4.1.3 the session id echo.
 *  - RFC 5077 session tickets (extension 35), RFC 6066 3 server_name, RFC 7301 ALPN.
 *  - IANA TLS parameters (names of cipher suites, groups, alerts):
 *    https://www.iana.org/assignments/tls-parameters/tls-parameters.xhtml
 *
 * What cannot be seen without keys, and how it is told by position instead:
 *  - TLS 1.2: after a side's ChangeCipherSpec, its handshake records are encrypted; the first one is
 *    its Finished. Its alerts are encrypted too (level and description unknown).
 *  - TLS 1.3: every record after the ServerHello is application_data on the outside. The server's
 *    records before the client's Finished are its encrypted flight (EncryptedExtensions, which holds
 *    the chosen ALPN, Certificate, CertificateVerify, Finished); the client's first record after the
 *    ServerHello is its Finished (with a client certificate, its Certificate is taken for it: they
 *    are sent together); every record after that is application data, including post-handshake
 *    messages (NewSessionTicket, KeyUpdate) and alerts, which look the same. A client record before
 *    the ServerHello is early data (0-RTT).
 *
 * Memory: a record header and a handshake header are assembled in a few bytes; only the two hellos
 * are kept whole to be decoded, up to `maxHelloBytes` (64 KiB; a larger one is skipped with a
 * `malformed` event). Every other record's body is counted, never copied, unless the listener has
 * the keys (`records`): then each encrypted record is handed over whole (`encryptedRecord`): a view of
 * the chunk when it lies in one, else assembled in one buffer per side; what the listener opens, it
 * interprets from the plaintext.
 *
 * Bytes a capture did not hold (`gap`): inside an application-data record they are counted through
 * its body; anywhere else the record framing of that side is lost, and picks up again at the next
 * chunk (a capture hands one segment per chunk) that begins with a plausible record header.
 */
import type { Side } from '../model/report.js';
import type { Micros } from '../model/time.js';
import { u16be } from './cursor.js';

/** TLS ContentType (RFC 8446 5.1, RFC 6520 for heartbeat). */
export const TlsContentType = {
  CHANGE_CIPHER_SPEC: 20,
  ALERT: 21,
  HANDSHAKE: 22,
  APPLICATION_DATA: 23,
  HEARTBEAT: 24,
} as const;

/** HandshakeType (RFC 8446 4, RFC 5246 7.4). */
export const TlsHandshakeType = {
  HELLO_REQUEST: 0,
  CLIENT_HELLO: 1,
  SERVER_HELLO: 2,
  NEW_SESSION_TICKET: 4,
  END_OF_EARLY_DATA: 5,
  ENCRYPTED_EXTENSIONS: 8,
  CERTIFICATE: 11,
  SERVER_KEY_EXCHANGE: 12,
  CERTIFICATE_REQUEST: 13,
  SERVER_HELLO_DONE: 14,
  CERTIFICATE_VERIFY: 15,
  CLIENT_KEY_EXCHANGE: 16,
  FINISHED: 20,
  CERTIFICATE_STATUS: 22,
  KEY_UPDATE: 24,
  MESSAGE_HASH: 254,
} as const;

/** ProtocolVersion values (RFC 8446 4.1.2, 4.2.1; SSL 3.0 is RFC 6101). */
export const TlsVersion = {
  SSL_3_0: 0x0300,
  TLS_1_0: 0x0301,
  TLS_1_1: 0x0302,
  TLS_1_2: 0x0303,
  TLS_1_3: 0x0304,
} as const;

/** ExtensionType values this decoder reads (IANA "TLS ExtensionType Values"). */
export const TlsExtension = {
  SERVER_NAME: 0,
  SUPPORTED_GROUPS: 10,
  ALPN: 16,
  SESSION_TICKET: 35,
  PRE_SHARED_KEY: 41,
  EARLY_DATA: 42,
  SUPPORTED_VERSIONS: 43,
  PSK_KEY_EXCHANGE_MODES: 45,
  KEY_SHARE: 51,
} as const;

/** server_name's NameType host_name (RFC 6066 3). */
const HOST_NAME = 0;

/** TLSPlaintext header: type (1), legacy_record_version (2), length (2) (RFC 8446 5.1). */
export const RECORD_HEADER_BYTES = 5;
/** Handshake header: msg_type (1), length (3) (RFC 8446 4). */
const HANDSHAKE_HEADER_BYTES = 4;
/**
 * The longest record body: TLSCiphertext may be 2^14 + 2048 bytes in TLS 1.2 (RFC 5246 6.2.3); TLS
 * 1.3 allows 2^14 + 256 (RFC 8446 5.2). Anything longer is not a TLS record.
 */
export const MAX_RECORD_LENGTH = 16384 + 2048;
/**
 * The hellos are kept whole to be decoded up to this size (real ones are a few KiB, even with
 * post-quantum key shares).
 */
export const DEFAULT_MAX_HELLO_BYTES = 64 * 1024;
/** The random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 4.1.3). */
export const HELLO_RETRY_REQUEST_RANDOM = Uint8Array.from([
  0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
  0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
]);
const RANDOM_BYTES = 32;

export interface TlsClientHello {
  /** legacy_version: 0x0303 for TLS 1.2 and 1.3 clients (the real offer is `supportedVersions`). */
  legacyVersion: number;
  random: Uint8Array;
  /** legacy_session_id: a TLS 1.2 session to resume, or 32 random bytes (TLS 1.3 compatibility mode). */
  sessionId: Uint8Array;
  cipherSuites: number[];
  /** Extension types in the order sent. */
  extensions: number[];
  /** server_name (SNI) host_name, or null. Non-printable bytes are written \xNN. */
  serverName: string | null;
  /** ALPN protocol names offered, in order of preference. */
  alpn: string[];
  /** supported_versions, or [] when absent (then `legacyVersion` is the highest offered). */
  supportedVersions: number[];
  /** supported_groups. */
  supportedGroups: number[];
  /** The groups of the key_share entries (TLS 1.3). */
  keyShareGroups: number[];
  /** pre_shared_key: how many PSK identities were offered (TLS 1.3 resumption); 0 when absent. */
  pskIdentities: number;
  /** psk_key_exchange_modes (0 psk_ke, 1 psk_dhe_ke). */
  pskKeyExchangeModes: number[];
  /**
   * session_ticket (RFC 5077): null when absent, 0 when empty (the client supports tickets and has
   * none), else the length of the ticket offered (a TLS 1.2 session to resume).
   */
  sessionTicketLength: number | null;
  /** early_data (0-RTT) offered. */
  earlyData: boolean;
}

export interface TlsServerHello {
  legacyVersion: number;
  random: Uint8Array;
  /** legacy_session_id_echo. */
  sessionId: Uint8Array;
  cipherSuite: number;
  /** Extension types in the order sent. */
  extensions: number[];
  /** The version chosen: supported_versions' selected_version when present, else legacy_version. */
  version: number;
  /** A HelloRetryRequest (its random is HELLO_RETRY_REQUEST_RANDOM): another ClientHello follows. */
  helloRetryRequest: boolean;
  /** The ALPN protocol chosen (TLS 1.2 and below; TLS 1.3 sends it encrypted), or null. */
  alpn: string | null;
  /** pre_shared_key's selected_identity: the server resumes that PSK (TLS 1.3); null when absent. */
  pskSelected: number | null;
  /** An empty session_ticket extension: the server will send a NewSessionTicket (TLS 1.2). */
  sessionTicket: boolean;
  /** key_share's group (a HelloRetryRequest's selected_group); null when absent. */
  keyShareGroup: number | null;
}

export interface TlsAlert {
  /** 1 warning, 2 fatal. */
  level: number;
  description: number;
}

export interface TlsEvents {
  clientHello?(hello: TlsClientHello, ts: Micros): void;
  serverHello?(hello: TlsServerHello, ts: Micros): void;
  /**
   * Any other handshake message in the clear (`type`: Certificate, NewSessionTicket, ...), or an
   * encrypted handshake record (`type` null: after a TLS 1.2 ChangeCipherSpec, or a TLS 1.3 server's
   * flight), other than the side's Finished; `length` is the message's (or the record's).
   */
  handshake?(side: Side, type: number | null, length: number, ts: Micros): void;
  /** The side's Finished, recognised by its position (see the header); encrypted. */
  finished?(side: Side, ts: Micros): void;
  changeCipherSpec?(side: Side, ts: Micros): void;
  /** An alert; null when it is encrypted (its level and description unknown). */
  alert?(side: Side, alert: TlsAlert | null, ts: Micros): void;
  /**
   * A record of application data (see the header for TLS 1.3), `length` its body's bytes as sent
   * (encrypted: with the cipher's overhead). `early`: 0-RTT data sent before the ServerHello.
   */
  applicationData?(side: Side, length: number, ts: Micros, early: boolean): void;
  /**
   * Record framing given up on that side (not a record header where one was due, or bytes missing
   * across a record boundary); `atByte`: its offset in that side's stream, gaps included.
   */
  lost?(side: Side, reason: string, atByte: number): void;
  /** Record framing picked up again on that side, at a chunk that begins with a record header. */
  resynced?(side: Side, atByte: number): void;
  /** A handshake message in the clear could not be decoded (malformed, too large, bytes missing). */
  malformed?(side: Side, what: string): void;
  /**
   * With `records` on: an encrypted record (handshake, alert or application_data after the side's
   * ChangeCipherSpec in TLS 1.2, after the ServerHello in TLS 1.3), whole: `record` is its header
   * and body (a view: read it during the call, copy what is kept). Called only for records captured
   * whole. Returns true when the listener takes the record (it opened it, or holds it for keys to
   * come): then the decoder does not interpret it by position; false: it does, as without keys.
   */
  encryptedRecord?(side: Side, record: Uint8Array, ts: Micros): boolean;
}

export interface TlsOptions {
  /** Largest ClientHello or ServerHello decoded (default 64 KiB). */
  maxHelloBytes?: number;
  /**
   * Hand encrypted records over whole (`TlsEvents.encryptedRecord`), for a listener with the keys.
   * Off by default: without keys no record body is ever copied.
   */
  records?: boolean;
}

// ------------------------------------------------------------------------------------------------
// Names

const VERSION_NAMES: Record<number, string> = {
  [TlsVersion.SSL_3_0]: 'SSL 3.0',
  [TlsVersion.TLS_1_0]: 'TLS 1.0',
  [TlsVersion.TLS_1_1]: 'TLS 1.1',
  [TlsVersion.TLS_1_2]: 'TLS 1.2',
  [TlsVersion.TLS_1_3]: 'TLS 1.3',
};

/** TLS 1.3, or one of its drafts (0x7F00 + n), whose records after the ServerHello are all encrypted. */
export function isTls13(version: number | null): boolean {
  return version === TlsVersion.TLS_1_3 || (version !== null && version >> 8 === 0x7f);
}

/** 0x00ab -> "0x00AB". */
export function hex16(value: number): string {
  return `0x${value.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** GREASE values (RFC 8701): 0x0A0A, 0x1A1A, ... 0xFAFA, sent to keep peers tolerant of unknown values. */
export function isGrease(value: number): boolean {
  return (value & 0x0f0f) === 0x0a0a && value >> 8 === (value & 0xff);
}

/** "TLS 1.3", "TLS 1.3 (draft 28)" (0x7F1C: the drafts before RFC 8446), "GREASE", or "0xNNNN". */
export function tlsVersionName(version: number): string {
  const name = VERSION_NAMES[version];
  if (name !== undefined) return name;
  if (version >> 8 === 0x7f) return `TLS 1.3 (draft ${version & 0xff})`;
  if (isGrease(version)) return 'GREASE';
  return hex16(version);
}

/** The common cipher suites' IANA names (https://www.iana.org/assignments/tls-parameters, "Cipher Suites"). */
const CIPHER_SUITES: Record<number, string> = {
  // TLS 1.3 (RFC 8446 B.4).
  0x1301: 'TLS_AES_128_GCM_SHA256',
  0x1302: 'TLS_AES_256_GCM_SHA384',
  0x1303: 'TLS_CHACHA20_POLY1305_SHA256',
  0x1304: 'TLS_AES_128_CCM_SHA256',
  0x1305: 'TLS_AES_128_CCM_8_SHA256',
  // TLS 1.2 ECDHE with AEAD (RFC 5289, RFC 7905).
  0xc02b: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  0xc02c: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  0xc02f: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  0xc030: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  0xcca8: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  0xcca9: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  0xccaa: 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  0xc0ac: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM',
  0xc0ad: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM',
  // TLS 1.2 ECDHE with CBC (RFC 4492, RFC 5289).
  0xc009: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
  0xc00a: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  0xc013: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  0xc014: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  0xc023: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
  0xc024: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384',
  0xc027: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
  0xc028: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
  // DHE and plain RSA key exchange (RFC 5246, RFC 5288).
  0x009e: 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256',
  0x009f: 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384',
  0x0033: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA',
  0x0039: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA',
  0x0067: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256',
  0x006b: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256',
  0x009c: 'TLS_RSA_WITH_AES_128_GCM_SHA256',
  0x009d: 'TLS_RSA_WITH_AES_256_GCM_SHA384',
  0x002f: 'TLS_RSA_WITH_AES_128_CBC_SHA',
  0x0035: 'TLS_RSA_WITH_AES_256_CBC_SHA',
  0x003c: 'TLS_RSA_WITH_AES_128_CBC_SHA256',
  0x003d: 'TLS_RSA_WITH_AES_256_CBC_SHA256',
  0x000a: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
  // Signalling values (RFC 5746, RFC 7507).
  0x00ff: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  0x5600: 'TLS_FALLBACK_SCSV',
};

/** The IANA name of a cipher suite ("TLS_AES_128_GCM_SHA256"), "GREASE", or "0xNNNN". */
export function cipherSuiteName(suite: number): string {
  return CIPHER_SUITES[suite] ?? (isGrease(suite) ? 'GREASE' : hex16(suite));
}

/** NamedGroup names (RFC 8446 4.2.7, RFC 8422, IANA "TLS Supported Groups"). */
const GROUPS: Record<number, string> = {
  23: 'secp256r1',
  24: 'secp384r1',
  25: 'secp521r1',
  29: 'x25519',
  30: 'x448',
  256: 'ffdhe2048',
  257: 'ffdhe3072',
  258: 'ffdhe4096',
  259: 'ffdhe6144',
  260: 'ffdhe8192',
  0x11ec: 'X25519MLKEM768',
  0x6399: 'X25519Kyber768Draft00',
};

export function namedGroupName(group: number): string {
  return GROUPS[group] ?? (isGrease(group) ? 'GREASE' : hex16(group));
}

/** AlertDescription names (RFC 8446 6, RFC 5246 7.2, RFC 7301 3.2). */
const ALERTS: Record<number, string> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  21: 'decryption_failed',
  22: 'record_overflow',
  30: 'decompression_failure',
  40: 'handshake_failure',
  41: 'no_certificate',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  44: 'certificate_revoked',
  45: 'certificate_expired',
  46: 'certificate_unknown',
  47: 'illegal_parameter',
  48: 'unknown_ca',
  49: 'access_denied',
  50: 'decode_error',
  51: 'decrypt_error',
  60: 'export_restriction',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  90: 'user_canceled',
  100: 'no_renegotiation',
  109: 'missing_extension',
  110: 'unsupported_extension',
  111: 'certificate_unobtainable',
  112: 'unrecognized_name',
  113: 'bad_certificate_status_response',
  114: 'bad_certificate_hash_value',
  115: 'unknown_psk_identity',
  116: 'certificate_required',
  120: 'no_application_protocol',
};

export function alertDescriptionName(description: number): string {
  return ALERTS[description] ?? `alert ${description}`;
}

/** AlertLevel (RFC 5246 7.2): 1 warning, 2 fatal. */
export function alertLevelName(level: number): string {
  return level === 1 ? 'warning' : level === 2 ? 'fatal' : `level ${level}`;
}

/** The protocols of the IANA "TLS Application-Layer Protocol Negotiation (ALPN) Protocol IDs" most seen. */
const ALPN_PROTOCOLS: Record<string, string> = {
  'http/0.9': 'HTTP/0.9',
  'http/1.0': 'HTTP/1.0',
  'http/1.1': 'HTTP/1.1',
  h2: 'HTTP/2 over TLS',
  h2c: 'HTTP/2 over TCP',
  h3: 'HTTP/3',
  'spdy/3.1': 'SPDY/3.1',
  'acme-tls/1': 'ACME TLS-ALPN',
  dot: 'DNS over TLS',
  imap: 'IMAP',
  pop3: 'POP3',
  smtp: 'SMTP',
  mqtt: 'MQTT',
  'grpc-exp': 'gRPC (experimental id)',
};

/** The protocol an ALPN id names ("h2" -> "HTTP/2 over TLS"), or the id itself. */
export function alpnProtocolName(id: string): string {
  return ALPN_PROTOCOLS[id] ?? id;
}

// ------------------------------------------------------------------------------------------------
// Sniffing

/** A TLS record header at `o`: a known content type, version 3.x (x <= 4), a length a record can have. */
export function isRecordHeader(b: Uint8Array, o: number): boolean {
  if (b.length - o < RECORD_HEADER_BYTES) return false;
  const type = b[o]!;
  return (
    type >= TlsContentType.CHANGE_CIPHER_SPEC &&
    type <= TlsContentType.HEARTBEAT &&
    b[o + 1] === 3 &&
    b[o + 2]! <= 4 &&
    u16be(b, o + 3) <= MAX_RECORD_LENGTH
  );
}

/**
 * Does a connection's first payload look like TLS? A handshake record that begins with a
 * ClientHello ('client' sends it) or a ServerHello ('server'); null otherwise. Looks at the first
 * 6 bytes only, so anything else is turned away at once.
 */
export function sniffTls(payload: Uint8Array): Side | null {
  if (payload.length < RECORD_HEADER_BYTES + 1 || payload[0] !== TlsContentType.HANDSHAKE) return null;
  if (!isRecordHeader(payload, 0) || u16be(payload, 3) < HANDSHAKE_HEADER_BYTES) return null;
  const type = payload[RECORD_HEADER_BYTES];
  return type === TlsHandshakeType.CLIENT_HELLO ? 'client' : type === TlsHandshakeType.SERVER_HELLO ? 'server' : null;
}

// ------------------------------------------------------------------------------------------------
// The hellos

/** A bounds-checked reader over part of a message: reading past its end clears `ok` and yields zeros. */
class Reader {
  ok = true;
  constructor(
    private readonly b: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  get left(): number {
    return this.end - this.pos;
  }

  private need(n: number): boolean {
    if (this.pos + n <= this.end) return true;
    this.ok = false;
    this.pos = this.end;
    return false;
  }

  u8(): number {
    return this.need(1) ? this.b[this.pos++]! : 0;
  }

  u16(): number {
    if (!this.need(2)) return 0;
    const v = u16be(this.b, this.pos);
    this.pos += 2;
    return v;
  }

  /** A copy of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    if (!this.need(n)) return new Uint8Array(0);
    const out = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The next `n` bytes as text, one character per byte, non-printable ones as \xNN. */
  text(n: number): string {
    if (!this.need(n)) return '';
    let s = '';
    for (let k = this.pos; k < this.pos + n; k++) {
      const c = this.b[k]!;
      s += c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
    }
    this.pos += n;
    return s;
  }

  /** A reader over a vector whose length is given in `lengthBytes` (1 or 2) bytes; this one skips it. */
  vector(lengthBytes: 1 | 2): Reader {
    const n = lengthBytes === 1 ? this.u8() : this.u16();
    const start = this.pos;
    if (!this.need(n)) return new Reader(this.b, this.end, this.end);
    this.pos += n;
    return new Reader(this.b, start, start + n);
  }

  /** u16 values until the end. */
  u16List(): number[] {
    const out: number[] = [];
    while (this.left >= 2) out.push(this.u16());
    if (this.left !== 0) this.ok = false;
    return out;
  }
}

/** Calls `each(type, reader)` for each extension of the (optional) extensions block; false when malformed. */
function readExtensions(r: Reader, each: (type: number, data: Reader) => boolean): boolean {
  // Extensions are optional before TLS 1.3 (RFC 5246 7.4.1.2): the message may end here.
  if (r.left === 0) return true;
  const block = r.vector(2);
  if (!r.ok || r.left !== 0) return false;
  while (block.left > 0) {
    const type = block.u16();
    const data = block.vector(2);
    if (!block.ok || !each(type, data)) return false;
  }
  return true;
}

/** A ClientHello's body (after the 4-byte handshake header), or null when malformed. */
export function parseClientHello(body: Uint8Array): TlsClientHello | null {
  const r = new Reader(body, 0, body.length);
  const legacyVersion = r.u16();
  const random = r.bytes(RANDOM_BYTES);
  const sid = r.vector(1);
  const sessionId = sid.bytes(sid.left);
  const suites = r.vector(2);
  const cipherSuites = suites.u16List();
  r.vector(1); // legacy_compression_methods
  if (!r.ok || !suites.ok) return null;
  const hello: TlsClientHello = {
    legacyVersion,
    random,
    sessionId,
    cipherSuites,
    extensions: [],
    serverName: null,
    alpn: [],
    supportedVersions: [],
    supportedGroups: [],
    keyShareGroups: [],
    pskIdentities: 0,
    pskKeyExchangeModes: [],
    sessionTicketLength: null,
    earlyData: false,
  };
  const ok = readExtensions(r, (type, data) => {
    hello.extensions.push(type);
    switch (type) {
      case TlsExtension.SERVER_NAME: {
        const list = data.vector(2);
        while (list.ok && list.left > 0) {
          const nameType = list.u8();
          const name = list.vector(2);
          if (nameType === HOST_NAME && hello.serverName === null) hello.serverName = name.text(name.left);
        }
        return list.ok && data.ok;
      }
      case TlsExtension.ALPN: {
        const list = data.vector(2);
        while (list.ok && list.left > 0) {
          const name = list.vector(1);
          hello.alpn.push(name.text(name.left));
        }
        return list.ok && data.ok;
      }
      case TlsExtension.SUPPORTED_VERSIONS: {
        const list = data.vector(1);
        hello.supportedVersions = list.u16List();
        return list.ok && data.ok;
      }
      case TlsExtension.SUPPORTED_GROUPS: {
        const list = data.vector(2);
        hello.supportedGroups = list.u16List();
        return list.ok && data.ok;
      }
      case TlsExtension.KEY_SHARE: {
        const list = data.vector(2);
        while (list.ok && list.left > 0) {
          hello.keyShareGroups.push(list.u16());
          list.vector(2);
        }
        return list.ok && data.ok;
      }
      case TlsExtension.PRE_SHARED_KEY: {
        const identities = data.vector(2);
        while (identities.ok && identities.left > 0) {
          identities.vector(2);
          identities.u16();
          identities.u16(); // obfuscated_ticket_age (u32)
          hello.pskIdentities++;
        }
        return identities.ok && data.ok;
      }
      case TlsExtension.PSK_KEY_EXCHANGE_MODES: {
        const list = data.vector(1);
        while (list.left > 0) hello.pskKeyExchangeModes.push(list.u8());
        return list.ok && data.ok;
      }
      case TlsExtension.SESSION_TICKET:
        hello.sessionTicketLength = data.left;
        return true;
      case TlsExtension.EARLY_DATA:
        hello.earlyData = true;
        return true;
      default:
        return true;
    }
  });
  return ok ? hello : null;
}

/** The same bytes in both. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A ServerHello's body (after the 4-byte handshake header), or null when malformed. */
export function parseServerHello(body: Uint8Array): TlsServerHello | null {
  const r = new Reader(body, 0, body.length);
  const legacyVersion = r.u16();
  const random = r.bytes(RANDOM_BYTES);
  const sid = r.vector(1);
  const sessionId = sid.bytes(sid.left);
  const cipherSuite = r.u16();
  r.u8(); // legacy_compression_method
  if (!r.ok) return null;
  const helloRetryRequest = sameBytes(random, HELLO_RETRY_REQUEST_RANDOM);
  const hello: TlsServerHello = {
    legacyVersion,
    random,
    sessionId,
    cipherSuite,
    extensions: [],
    version: legacyVersion,
    helloRetryRequest,
    alpn: null,
    pskSelected: null,
    sessionTicket: false,
    keyShareGroup: null,
  };
  const ok = readExtensions(r, (type, data) => {
    hello.extensions.push(type);
    switch (type) {
      case TlsExtension.SUPPORTED_VERSIONS:
        hello.version = data.u16();
        return data.ok && data.left === 0;
      case TlsExtension.ALPN: {
        const list = data.vector(2);
        const name = list.vector(1);
        hello.alpn = name.text(name.left);
        return list.ok && data.ok;
      }
      case TlsExtension.PRE_SHARED_KEY:
        hello.pskSelected = data.u16();
        return data.ok;
      case TlsExtension.SESSION_TICKET:
        hello.sessionTicket = true;
        return true;
      case TlsExtension.KEY_SHARE:
        // A ServerHello's KeyShareEntry, or a HelloRetryRequest's selected_group: the group first.
        hello.keyShareGroup = data.u16();
        return data.ok;
      default:
        return true;
    }
  });
  return ok ? hello : null;
}

/**
 * The ALPN protocol an EncryptedExtensions body (RFC 8446 4.3.1, after its 4-byte handshake header)
 * names, null when it names none; undefined when the message is malformed.
 */
export function encryptedExtensionsAlpn(body: Uint8Array): string | null | undefined {
  const r = new Reader(body, 0, body.length);
  let alpn: string | null = null;
  const ok = readExtensions(r, (type, data) => {
    if (type !== TlsExtension.ALPN) return true;
    const list = data.vector(2);
    const name = list.vector(1);
    alpn = name.text(name.left);
    return list.ok && data.ok;
  });
  return ok && body.length >= 2 ? alpn : undefined;
}

// ------------------------------------------------------------------------------------------------
// The connection

/**
 * Handshake messages (RFC 8446 4: msg_type, uint24 length, body) out of the bytes of handshake
 * records, which may split and coalesce them (RFC 8446 5.1). `keep(type, length)` says whether a
 * message's body is wanted: it is assembled, else counted through and handed over as null. Serves the
 * plaintext handshake here and the decrypted one (analyze/streams/tls-decryption.ts).
 */
export class HandshakeFramer {
  private readonly header = new Uint8Array(HANDSHAKE_HEADER_BYTES);
  private headerFill = 0;
  private type = 0;
  private length = 0;
  private remaining = 0;
  private body: Uint8Array | null = null;
  private fill = 0;

  constructor(
    private readonly keep: (type: number, length: number) => boolean,
    private readonly message: (type: number, length: number, body: Uint8Array | null) => void,
  ) {}

  /** A message is begun and not ended: bytes missing now cut it. */
  get midMessage(): boolean {
    return this.headerFill > 0;
  }

  /** The bytes of the body being assembled. */
  get heldBytes(): number {
    return this.body?.length ?? 0;
  }

  /** Lets go of the body being assembled (the framing is lost: nothing more is pushed). */
  drop(): void {
    this.body = null;
  }

  /** Bytes `from`..`to` of `b`, in order (read during the call). */
  push(b: Uint8Array, from: number, to: number): void {
    let i = from;
    while (i < to) {
      if (this.headerFill < HANDSHAKE_HEADER_BYTES) {
        const take = Math.min(HANDSHAKE_HEADER_BYTES - this.headerFill, to - i);
        this.header.set(b.subarray(i, i + take), this.headerFill);
        this.headerFill += take;
        i += take;
        if (this.headerFill < HANDSHAKE_HEADER_BYTES) return;
        const h = this.header;
        this.type = h[0]!;
        this.length = (h[1]! << 16) | (h[2]! << 8) | h[3]!;
        this.remaining = this.length;
        this.fill = 0;
        this.body = this.keep(this.type, this.length) ? new Uint8Array(this.length) : null;
        if (this.remaining === 0) this.end();
        continue;
      }
      const take = Math.min(this.remaining, to - i);
      this.body?.set(b.subarray(i, i + take), this.fill);
      this.fill += take;
      this.remaining -= take;
      i += take;
      if (this.remaining === 0) this.end();
    }
  }

  private end(): void {
    const body = this.body;
    this.body = null;
    this.headerFill = 0;
    this.message(this.type, this.length, body);
  }
}

/** One direction's record and handshake framing. */
class Direction {
  /** Bytes of this direction so far, gaps included. */
  offset = 0;
  /** Records whose header was read. */
  records = 0;
  readonly header = new Uint8Array(RECORD_HEADER_BYTES);
  headerFill = 0;
  /** The current record (its header read): its type, length and the body bytes still to come. */
  inRecord = false;
  type = 0;
  length = 0;
  remaining = 0;
  /** The current record's body is encrypted (TLS 1.2 after this side's ChangeCipherSpec). */
  recordEncrypted = false;
  /**
   * With `records` on: the current encrypted record, header and body, assembled to be handed over
   * when it spans chunks (one buffer per side, made for the first such record, reused, MAX_RECORD_LENGTH
   * + 5 bytes); `wholeKept` false once bytes went missing.
   */
  whole: Uint8Array | null = null;
  wholeFill = 0;
  wholeKept = false;
  /** Bytes of an alert's or ChangeCipherSpec's body (the first two), -1 when some went missing. */
  readonly small = new Uint8Array(2);
  smallFill = 0;
  /** Record framing lost: waiting for a chunk that begins with a record header. */
  lost = false;
  /** What this side sends from now on is encrypted (TLS 1.2: after its ChangeCipherSpec). */
  encrypted = false;
  /** Its Finished was seen (by position). */
  finished = false;
  /** Handshake framing lost (bytes missing inside a plaintext handshake record): nothing more decoded. */
  hsLost = false;

  constructor(
    readonly side: Side,
    /** The handshake layer (plaintext handshake records): hellos assembled, other messages counted through. */
    readonly hs: HandshakeFramer,
  ) {}
}

export class TlsConnection {
  private readonly c = this.direction('client');
  private readonly s = this.direction('server');
  private readonly maxHello: number;
  private readonly keepRecords: boolean;
  /** The version the server chose (its real ServerHello), or null before it. */
  private chosen: number | null = null;
  /** A HelloRetryRequest came: another ClientHello follows. */
  private retried = false;
  /** The client's first record was not a TLS record: nothing is decoded at all. */
  private rejected = false;
  /** The ClientHello offered early_data (0-RTT). */
  private earlyOffered = false;
  /** TLS 1.3: when the server's last encrypted handshake record came (its Finished, once the client's is seen). */
  private lastServerFlightTs: Micros | null = null;
  /** The timestamp of the chunk being read (handshake messages end inside feed()). */
  private recordTs: Micros = 0;

  constructor(
    private readonly events: TlsEvents,
    options: TlsOptions = {},
  ) {
    this.maxHello = options.maxHelloBytes ?? DEFAULT_MAX_HELLO_BYTES;
    this.keepRecords = options.records === true && events.encryptedRecord !== undefined;
  }

  /** The version the server chose, once its ServerHello (not a HelloRetryRequest) was decoded. */
  get version(): number | null {
    return this.chosen;
  }

  /**
   * Bytes held between calls: the hellos being assembled (at most `maxHelloBytes` each), and with
   * `records` on the buffers encrypted records are assembled in; headers aside.
   */
  get heldBytes(): number {
    const c = this.c;
    const s = this.s;
    return c.hs.heldBytes + s.hs.heldBytes + (c.whole?.length ?? 0) + (s.whole?.length ?? 0);
  }

  /** The bytes are not TLS: the first ones were not a record header. Nothing more is decoded. */
  get notTls(): boolean {
    return this.rejected;
  }

  client(bytes: Uint8Array, ts: Micros): void {
    this.feed(this.c, bytes, ts);
  }

  server(bytes: Uint8Array, ts: Micros): void {
    this.feed(this.s, bytes, ts);
  }

  /** Bytes from `side`, in order (read during the call, no reference kept). */
  push(side: Side, bytes: Uint8Array, ts: Micros): void {
    this.feed(side === 'client' ? this.c : this.s, bytes, ts);
  }

  private feed(dir: Direction, bytes: Uint8Array, ts: Micros): void {
    if (this.rejected) return;
    this.recordTs = ts;
    const n = bytes.length;
    let i = 0;
    if (dir.lost) {
      if (!isRecordHeader(bytes, 0)) {
        dir.offset += n;
        return;
      }
      dir.lost = false;
      this.events.resynced?.(dir.side, dir.offset);
    }
    while (i < n) {
      if (!dir.inRecord) {
        // Where the header starts in this chunk (-1: it began in an earlier one).
        const headerAt = dir.headerFill === 0 ? i : -1;
        const take = Math.min(RECORD_HEADER_BYTES - dir.headerFill, n - i);
        dir.header.set(bytes.subarray(i, i + take), dir.headerFill);
        dir.headerFill += take;
        i += take;
        if (dir.headerFill < RECORD_HEADER_BYTES) break;
        dir.headerFill = 0;
        // A connection's first record is a handshake record (its ClientHello, or a ServerHello).
        const first = this.c.records === 0 && this.s.records === 0;
        if (!isRecordHeader(dir.header, 0) || (first && dir.header[0] !== TlsContentType.HANDSHAKE)) {
          if (first) this.reject();
          else this.loseRecords(dir, 'not a TLS record header', dir.offset + i - RECORD_HEADER_BYTES);
          dir.offset += n;
          return;
        }
        this.startRecord(dir);
        if (dir.wholeKept && headerAt >= 0 && n - i >= dir.remaining) {
          // The whole record is in this chunk (the common case: a segment holds whole records):
          // handed over as a view of it, not copied.
          dir.wholeKept = false;
          const end = i + dir.remaining;
          this.body(dir, bytes, i, end);
          dir.remaining = 0;
          i = end;
          this.endRecord(dir, ts, bytes.subarray(headerAt, end));
          continue;
        }
        if (dir.wholeKept) this.assembleWhole(dir);
        if (dir.remaining === 0) this.endRecord(dir, ts);
        continue;
      }
      const take = Math.min(dir.remaining, n - i);
      this.body(dir, bytes, i, i + take);
      dir.remaining -= take;
      i += take;
      if (dir.remaining === 0) this.endRecord(dir, ts);
    }
    dir.offset += n;
  }

  /** `missing` bytes of `side` were not captured. */
  gap(side: Side, missing: number, ts: Micros): void {
    const d = side === 'client' ? this.c : this.s;
    if (this.rejected || missing <= 0) return;
    if (!d.lost) {
      if (d.inRecord && missing <= d.remaining) {
        // Inside one record's body: counted through; only a record whose body is read suffers.
        if (d.type === TlsContentType.HANDSHAKE && !d.recordEncrypted && !d.hsLost) {
          d.hsLost = true;
          d.hs.drop();
          this.events.malformed?.(
            side,
            `${missing} bytes of a handshake record not captured: handshake decoding stops`,
          );
        }
        if (d.type === TlsContentType.ALERT || d.type === TlsContentType.CHANGE_CIPHER_SPEC) d.smallFill = -1;
        d.wholeKept = false;
        d.remaining -= missing;
        d.offset += missing;
        if (d.remaining === 0) this.endRecord(d, ts);
        return;
      }
      this.loseRecords(d, `${missing} bytes not captured across a record boundary`, d.offset);
    }
    d.offset += missing;
  }

  /** The first bytes are not TLS: the connection is something else. */
  private reject(): void {
    this.rejected = true;
    this.c.hs.drop();
    this.s.hs.drop();
  }

  private loseRecords(d: Direction, reason: string, atByte: number): void {
    d.lost = true;
    d.inRecord = false;
    d.wholeKept = false;
    d.headerFill = 0;
    d.hs.drop();
    // Where a handshake message was cut, nothing more of the handshake layer can be trusted.
    if (d.hs.midMessage) d.hsLost = true;
    this.events.lost?.(d.side, reason, atByte);
  }

  private startRecord(d: Direction): void {
    const h = d.header;
    d.records++;
    d.inRecord = true;
    d.type = h[0]!;
    d.length = u16be(h, 3);
    d.remaining = d.length;
    d.recordEncrypted = d.encrypted;
    d.smallFill = 0;
    d.wholeKept = this.keepRecords && d.encrypted && d.type !== TlsContentType.CHANGE_CIPHER_SPEC;
  }

  /**
   * A record to hand over that does not lie whole in one chunk: assembled in the side's buffer, made
   * the first time one is needed (a side whose records each come in one chunk never has one).
   */
  private assembleWhole(d: Direction): void {
    d.whole ??= new Uint8Array(RECORD_HEADER_BYTES + MAX_RECORD_LENGTH);
    d.whole.set(d.header, 0);
    d.wholeFill = RECORD_HEADER_BYTES;
  }

  private body(d: Direction, b: Uint8Array, from: number, to: number): void {
    if (d.wholeKept) {
      d.whole!.set(b.subarray(from, to), d.wholeFill);
      d.wholeFill += to - from;
    }
    switch (d.type) {
      case TlsContentType.HANDSHAKE:
        if (!d.recordEncrypted && !d.hsLost) d.hs.push(b, from, to);
        return;
      case TlsContentType.ALERT:
      case TlsContentType.CHANGE_CIPHER_SPEC:
        for (let k = from; k < to && d.smallFill >= 0 && d.smallFill < 2; k++) d.small[d.smallFill++] = b[k]!;
        return;
      default:
      // Application data and heartbeats: counted, never read.
    }
  }

  /** `inChunk`: an encrypted record to hand over that lies whole in the chunk being read (a view of it). */
  private endRecord(d: Direction, ts: Micros, inChunk: Uint8Array | null = null): void {
    d.inRecord = false;
    let record = inChunk;
    if (d.wholeKept) {
      d.wholeKept = false;
      record = d.whole!.subarray(0, d.wholeFill);
    }
    if (record !== null && this.events.encryptedRecord!(d.side, record, ts)) return;
    this.interpret(d, ts);
  }

  /**
   * An encrypted record the listener took (encryptedRecord returned true) and hands back after all
   * (its keys never came): interpreted by position, as if it had just ended.
   */
  guessRecord(side: Side, type: number, length: number, ts: Micros): void {
    const d = side === 'client' ? this.c : this.s;
    const saved = { type: d.type, length: d.length, recordEncrypted: d.recordEncrypted, smallFill: d.smallFill };
    d.type = type;
    d.length = length;
    d.recordEncrypted = true;
    d.smallFill = -1;
    this.interpret(d, ts);
    Object.assign(d, saved);
  }

  /** What an ended record was. */
  private interpret(d: Direction, ts: Micros): void {
    const side = d.side;
    const ev = this.events;
    switch (d.type) {
      case TlsContentType.CHANGE_CIPHER_SPEC:
        ev.changeCipherSpec?.(side, ts);
        // TLS 1.2 and below: what this side sends next is encrypted. TLS 1.3's is a compatibility
        // record (RFC 8446 D.4) that changes nothing: its records are told apart by their type.
        if (!isTls13(this.chosen) && !this.retried) d.encrypted = true;
        return;
      case TlsContentType.ALERT:
        // An alert in the clear is 2 bytes; an encrypted one is longer (its cipher's overhead).
        ev.alert?.(
          side,
          d.length === 2 && d.smallFill === 2 ? { level: d.small[0]!, description: d.small[1]! } : null,
          ts,
        );
        return;
      case TlsContentType.HANDSHAKE:
        if (!d.recordEncrypted) return;
        // TLS 1.3 sends none (its encrypted records are application_data): a handshake record there is opaque.
        if (!d.finished && !isTls13(this.chosen)) {
          d.finished = true;
          ev.finished?.(side, ts);
        } else ev.handshake?.(side, null, d.length, ts);
        return;
      case TlsContentType.APPLICATION_DATA:
        this.applicationRecord(d, ts);
        return;
      default:
    }
  }

  /** An application_data record: application data, or (TLS 1.3) part of the handshake by position. */
  private applicationRecord(d: Direction, ts: Micros): void {
    const ev = this.events;
    if (isTls13(this.chosen) && !this.c.finished) {
      if (d.side === 'server') {
        this.lastServerFlightTs = ts;
        ev.handshake?.('server', null, d.length, ts);
        return;
      }
      this.c.finished = true;
      ev.finished?.('client', ts);
      if (this.lastServerFlightTs !== null && !this.s.finished) {
        this.s.finished = true;
        ev.finished?.('server', this.lastServerFlightTs);
      }
      return;
    }
    // Before the ServerHello, a client that offered early_data sends its 0-RTT data.
    ev.applicationData?.(d.side, d.length, ts, d.side === 'client' && this.chosen === null && this.earlyOffered);
  }

  /** A side's state, its handshake framer reporting to this connection. */
  private direction(side: Side): Direction {
    const d: Direction = new Direction(
      side,
      new HandshakeFramer(
        (type, length) => this.keepMessage(d, type, length),
        (type, length, body) => this.endMessage(d, type, length, body),
      ),
    );
    return d;
  }

  /** Hellos are assembled (up to `maxHelloBytes`); other handshake messages are counted through. */
  private keepMessage(d: Direction, type: number, length: number): boolean {
    if (type !== TlsHandshakeType.CLIENT_HELLO && type !== TlsHandshakeType.SERVER_HELLO) return false;
    if (length <= this.maxHello) return true;
    this.events.malformed?.(
      d.side,
      `a ${type === TlsHandshakeType.CLIENT_HELLO ? 'ClientHello' : 'ServerHello'} of ` +
        `${length} bytes, more than ${this.maxHello}: not decoded`,
    );
    return false;
  }

  private endMessage(d: Direction, type: number, length: number, body: Uint8Array | null): void {
    const ev = this.events;
    const ts = this.recordTs;
    if (type === TlsHandshakeType.CLIENT_HELLO && body !== null) {
      const hello = parseClientHello(body);
      if (hello === null) ev.malformed?.(d.side, 'a malformed ClientHello');
      else {
        this.earlyOffered ||= hello.earlyData;
        ev.clientHello?.(hello, ts);
      }
      return;
    }
    if (type === TlsHandshakeType.SERVER_HELLO && body !== null) {
      const hello = parseServerHello(body);
      if (hello === null) {
        ev.malformed?.(d.side, 'a malformed ServerHello');
        return;
      }
      if (hello.helloRetryRequest) this.retried = true;
      else {
        this.chosen = hello.version;
        this.retried = false;
        // TLS 1.3: nothing after the ServerHello is in the clear, either way (RFC 8446 5.2).
        if (isTls13(hello.version)) {
          this.c.encrypted = true;
          this.s.encrypted = true;
        }
      }
      ev.serverHello?.(hello, ts);
      return;
    }
    if (type === TlsHandshakeType.CLIENT_HELLO || type === TlsHandshakeType.SERVER_HELLO) return;
    ev.handshake?.(d.side, type, length, ts);
  }
}
