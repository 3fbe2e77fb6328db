/**
 * The lab's TLS certificate, made at run time: no key material is committed, and no openssl is
 * needed (a fresh machine runs `npx keepalive-lab` with Node alone). An ECDSA P-256 key from
 * node:crypto and a self-signed X.509 v3 certificate (RFC 5280) for the loopback names, encoded in
 * DER by the few lines below and signed with crypto.sign. It is its own trust anchor: the lab's
 * clients trust exactly it (its PEM as their `ca`), never the system's store.
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

export interface LabCertificate {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PEM (PKCS #8): kept in memory, never written anywhere. */
  key: string;
  /** The names it is valid for (subjectAltName), in its order: DNS names first. */
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
}

/** The names the lab's server answers on: loopback, by address and by name. */
const DNS_NAMES = ['localhost'];
const IP_ADDRESSES = ['127.0.0.1', '::1'];
/** Valid from a day before now (a clock a little behind still accepts it) to a week after. */
const VALID_BEFORE_MS = 24 * 3600_000;
const VALID_AFTER_MS = 7 * 24 * 3600_000;

// ASN.1 DER tags (X.690 8.1.2): universal types, and the context-specific ones of RFC 5280.
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OBJECT_IDENTIFIER = 0x06;
const UTF8_STRING = 0x0c;
const UTC_TIME = 0x17;
const BOOLEAN = 0x01;
const SEQUENCE = 0x30;
const SET = 0x31;
/** [0] EXPLICIT (version), [3] EXPLICIT (extensions): constructed, context-specific. */
const EXPLICIT_0 = 0xa0;
const EXPLICIT_3 = 0xa3;
/** GeneralName (RFC 5280 4.2.1.6): [2] dNSName IA5String, [7] iPAddress OCTET STRING, implicit. */
const GENERAL_NAME_DNS = 0x82;
const GENERAL_NAME_IP = 0x87;
/** AuthorityKeyIdentifier's [0] keyIdentifier, implicit. */
const KEY_IDENTIFIER = 0x80;

// Object identifiers.
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_KEY_ID = '2.5.29.14';
const OID_KEY_USAGE = '2.5.29.15';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/**
 * A new key and certificate (each call makes new ones) for 127.0.0.1, ::1 and localhost, and `host`
 * when it is another name or address (the lab's server on 127.0.0.2, say).
 */
export function createLabCertificate(host?: string, commonName = 'keepalive-lab'): LabCertificate {
  const dnsNames = [...DNS_NAMES];
  const ipAddresses = [...IP_ADDRESSES];
  if (host !== undefined && host !== '') {
    const list = isIP(host) === 0 ? dnsNames : ipAddresses;
    if (!list.includes(host)) list.push(host);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // RFC 5280 4.2.1.2, method (1): the SHA-1 of the subjectPublicKey BIT STRING's bits (for a P-256
  // SPKI, its last 65 bytes: the uncompressed point).
  const keyId = createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
  const now = Date.now();
  const algorithm = der(SEQUENCE, oid(OID_ECDSA_WITH_SHA256));
  const name = der(SEQUENCE, der(SET, der(SEQUENCE, oid(OID_COMMON_NAME), der(UTF8_STRING, Buffer.from(commonName)))));
  const altNames = [
    ...dnsNames.map((n) => der(GENERAL_NAME_DNS, Buffer.from(n, 'ascii'))),
    ...ipAddresses.map((ip) => der(GENERAL_NAME_IP, ipBytes(ip))),
  ];
  const extensions = der(
    EXPLICIT_3,
    der(
      SEQUENCE,
      // Its own anchor: a CA (that signed itself), for serving too (keyUsage 4.2.1.3, bits 0 and 5).
      extension(OID_BASIC_CONSTRAINTS, true, der(SEQUENCE, der(BOOLEAN, Buffer.from([0xff])))),
      extension(OID_KEY_USAGE, true, bitString(Buffer.from([0x84]), 2)),
      extension(OID_EXT_KEY_USAGE, false, der(SEQUENCE, oid(OID_SERVER_AUTH))),
      extension(OID_SUBJECT_ALT_NAME, false, der(SEQUENCE, ...altNames)),
      extension(OID_SUBJECT_KEY_ID, false, der(OCTET_STRING, keyId)),
      extension(OID_AUTHORITY_KEY_ID, false, der(SEQUENCE, der(KEY_IDENTIFIER, keyId))),
    ),
  );
  const tbs = der(
    SEQUENCE,
    der(EXPLICIT_0, integer(Buffer.from([2]))), // v3
    integer(randomBytes(16)),
    algorithm,
    name,
    der(SEQUENCE, utcTime(new Date(now - VALID_BEFORE_MS)), utcTime(new Date(now + VALID_AFTER_MS))),
    name,
    spki,
    extensions,
  );
  // ECDSA signatures come DER-encoded (Ecdsa-Sig-Value), as X.509 wants them.
  const signature = sign('sha256', tbs, privateKey);
  const certificate = der(SEQUENCE, tbs, algorithm, bitString(signature, 0));
  return {
    cert: pem('CERTIFICATE', certificate),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    dnsNames,
    ipAddresses,
  };
}

const shared = new Map<string, LabCertificate>();

/**
 * One certificate per host for the whole process, made on first use: every lab server on that host
 * and its clients share it (`host` as createLabCertificate takes it).
 */
export function labCertificate(host = '127.0.0.1'): LabCertificate {
  let certificate = shared.get(host);
  if (certificate === undefined) {
    certificate = createLabCertificate(host);
    shared.set(host, certificate);
  }
  return certificate;
}

/** One DER TLV (X.690 8.1): the tag, the length (short form below 128, else long form), the contents. */
function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>>= 8) bytes.unshift(v & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

/** A non-negative INTEGER from big-endian bytes: a leading 0 when the top bit is set (X.690 8.3). */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return der(INTEGER, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

/** An OBJECT IDENTIFIER (X.690 8.19): the first two arcs in one, then base 128, high bit = more. */
function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift((v % 128) | (groups.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...groups);
  }
  return der(OBJECT_IDENTIFIER, Buffer.from(out));
}

/** A BIT STRING: the count of unused bits in the last byte, then the bytes. */
function bitString(bytes: Buffer, unusedBits: number): Buffer {
  return der(BIT_STRING, Buffer.from([unusedBits]), bytes);
}

/** One Extension (RFC 5280 4.1): its id, critical when true, its DER value inside an OCTET STRING. */
function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return der(SEQUENCE, oid(id), ...(critical ? [der(BOOLEAN, Buffer.from([0xff]))] : []), der(OCTET_STRING, value));
}

/** UTCTime YYMMDDHHMMSSZ (RFC 5280 4.1.2.5.1: for years up to 2049). */
function utcTime(date: Date): Buffer {
  const two = (n: number) => String(n).padStart(2, '0');
  const text =
    two(date.getUTCFullYear() % 100) +
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  return der(UTC_TIME, Buffer.from(text, 'ascii'));
}

/** An IPv4 address in 4 bytes, or IPv6 in 16 (`::` expanded). */
function ipBytes(ip: string): Buffer {
  if (!ip.includes(':')) return Buffer.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const words = (s: string) => (s === '' ? [] : s.split(':').map((w) => Number.parseInt(w, 16)));
  const before = words(head);
  const after = ip.includes('::') ? words(tail) : [];
  const all = [...before, ...Array<number>(8 - before.length - after.length).fill(0), ...after];
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

function pem(label: string, bytes: Buffer): string {
  const lines = bytes.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
