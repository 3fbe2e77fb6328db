/**
 * TLS record protection with known secrets: key derivation from a key log's secrets, and opening (or
 * sealing, for tests and synthetic captures) one record at a time. node:crypto only (HMAC and the
 * AEAD ciphers); pure, no I/O.
 *
 * Specs:
 *  - RFC 8446 "TLS 1.3": 5.2 record payload protection (TLSInnerPlaintext: content, type, zero
 *    padding; the AAD is the record header), 5.3 per-record nonce (the write IV XOR the 64-bit sequence
 *    number, left-padded), 7.1 HKDF-Expand-Label, 7.2 KeyUpdate ("traffic upd"), 7.3 traffic keys
 *    ("key", "iv").
 *  - RFC 5869 HKDF: 2.3 HKDF-Expand (written here on HMAC: TLS 1.3 expands secrets that are already
 *    pseudorandom keys; crypto.hkdfSync would extract first).
 *  - RFC 5246 "TLS 1.2": 5 the PRF (P_SHA256, or P_SHA384 for the *_SHA384 suites, RFC 5288 3), 6.3
 *    the key block (client/server write keys, then client/server write IVs; AEAD suites have no MAC
 *    key), 6.2.3.3 AEAD ciphers (AAD = seq_num + type + version + length of the plaintext).
 *  - RFC 5288 AES-GCM for TLS 1.2: a 4-byte implicit salt from the key block, an 8-byte explicit nonce
 *    at the start of each record's fragment.
 *  - RFC 7905 ChaCha20-Poly1305 for TLS 1.2: a 12-byte IV from the key block XOR the padded sequence
 *    number, as TLS 1.3 does; no explicit nonce.
 *
 * Speed: keys and IVs are derived once per direction (and per KeyUpdate); a record costs one
 * createDecipheriv (its only allocations: the cipher and the plaintext), with the nonce and the TLS 1.2
 * AAD written into buffers kept per direction. No hex on this path.
 */
import { createCipheriv, createDecipheriv, createHmac, type CipherGCMTypes, type DecipherGCM } from 'node:crypto';
import { RECORD_HEADER_BYTES, TlsContentType, TlsVersion, cipherSuiteName } from './tls.js';

export type TlsAead = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

export interface DecryptableSuite {
  suite: number;
  name: string;
  aead: TlsAead;
  hash: 'sha256' | 'sha384';
  tls13: boolean;
}

/** Every AEAD here has a 16-byte tag (RFC 5116 5.1, RFC 8439 2.8; RFC 8446 5.2). */
export const AEAD_TAG_LENGTH = 16;
/** TLS 1.3 and RFC 7905 nonces are 12 bytes (RFC 8446 5.3: iv_length = max(8, N_MIN) = 12). */
export const AEAD_NONCE_LENGTH = 12;
/** RFC 5288 3: the explicit part of a TLS 1.2 GCM nonce, sent at the start of each record. */
export const GCM_EXPLICIT_NONCE_LENGTH = 8;
/** RFC 5288 3: the implicit part (salt) of a TLS 1.2 GCM nonce, from the key block. */
export const GCM_SALT_LENGTH = 4;
/** TLSPlaintext.length is at most 2^14 (RFC 8446 5.1). */
export const MAX_PLAINTEXT_LENGTH = 16384;
/** RFC 8446 5.1: ContentType invalid(0): what `open` returns for a TLS 1.3 record that is all padding. */
export const CONTENT_TYPE_INVALID = 0;

const KEY_LENGTH: Record<TlsAead, number> = { 'aes-128-gcm': 16, 'aes-256-gcm': 32, 'chacha20-poly1305': 32 };
const HASH_LENGTH = { sha256: 32, sha384: 48 } as const;

function suite(suiteId: number, aead: TlsAead, hash: 'sha256' | 'sha384', tls13: boolean): DecryptableSuite {
  return { suite: suiteId, name: cipherSuiteName(suiteId), aead, hash, tls13 };
}

/** IANA TLS Cipher Suites registry; RFC 8446 B.4, RFC 5289 3.2, RFC 7905 2. */
const SUITES: ReadonlyMap<number, DecryptableSuite> = new Map(
  [
    suite(0x1301, 'aes-128-gcm', 'sha256', true), // TLS_AES_128_GCM_SHA256
    suite(0x1302, 'aes-256-gcm', 'sha384', true), // TLS_AES_256_GCM_SHA384
    suite(0x1303, 'chacha20-poly1305', 'sha256', true), // TLS_CHACHA20_POLY1305_SHA256
    suite(0xc02b, 'aes-128-gcm', 'sha256', false), // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    suite(0xc02c, 'aes-256-gcm', 'sha384', false), // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    suite(0xc02f, 'aes-128-gcm', 'sha256', false), // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    suite(0xc030, 'aes-256-gcm', 'sha384', false), // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    suite(0xcca8, 'chacha20-poly1305', 'sha256', false), // TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    suite(0xcca9, 'chacha20-poly1305', 'sha256', false), // TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
  ].map((s) => [s.suite, s]),
);

/**
 * The cipher suites this tool decrypts (TLS 1.3: 0x1301, 0x1302, 0x1303; TLS 1.2 ECDHE(RSA|ECDSA) with
 * AES-128/256-GCM and CHACHA20-POLY1305), or null.
 */
export function decryptableSuite(suite: number): DecryptableSuite | null {
  return SUITES.get(suite) ?? null;
}

/** Every suite decryptableSuite knows, in IANA order. */
export function decryptableSuites(): DecryptableSuite[] {
  return [...SUITES.values()];
}

const EMPTY = new Uint8Array(0);

/** RFC 5869 2.3 HKDF-Expand(PRK, info, L): T(i) = HMAC-Hash(PRK, T(i-1) | info | i), the first L bytes. */
export function hkdfExpand(hash: 'sha256' | 'sha384', prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const hashLength = HASH_LENGTH[hash];
  if (length < 0 || length > 255 * hashLength) throw new RangeError(`HKDF-Expand: length ${length} out of range`);
  const out = new Uint8Array(length);
  let t: Uint8Array = EMPTY;
  for (let i = 1, at = 0; at < length; i++) {
    t = createHmac(hash, prk).update(t).update(info).update(Uint8Array.of(i)).digest();
    out.set(t.subarray(0, Math.min(t.length, length - at)), at);
    at += t.length;
  }
  return out;
}

/** RFC 8446 7.1: the prefix of every HkdfLabel.label. */
const TLS13_LABEL_PREFIX = 'tls13 ';

/** RFC 8446 7.1 HKDF-Expand-Label. */
export function hkdfExpandLabel(
  hash: 'sha256' | 'sha384',
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  // struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; } HkdfLabel;
  const fullLabel = Buffer.from(TLS13_LABEL_PREFIX + label, 'latin1');
  if (fullLabel.length > 255 || context.length > 255)
    throw new RangeError('HKDF-Expand-Label: label or context too long');
  const info = new Uint8Array(2 + 1 + fullLabel.length + 1 + context.length);
  info[0] = length >>> 8;
  info[1] = length & 0xff;
  info[2] = fullLabel.length;
  info.set(fullLabel, 3);
  info[3 + fullLabel.length] = context.length;
  info.set(context, 4 + fullLabel.length);
  return hkdfExpand(hash, secret, info, length);
}

/** RFC 5246 5: PRF(secret, label, seed) = P_<hash>(secret, label + seed). */
export function tls12Prf(
  hash: 'sha256' | 'sha384',
  secret: Uint8Array,
  label: string,
  seed: Uint8Array,
  length: number,
): Uint8Array {
  const labelSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const out = new Uint8Array(length);
  // P_hash: A(0) = seed, A(i) = HMAC(secret, A(i-1)); output HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) ...
  let a: Uint8Array = labelSeed;
  for (let at = 0; at < length;) {
    a = createHmac(hash, secret).update(a).digest();
    const block = createHmac(hash, secret).update(a).update(labelSeed).digest();
    out.set(block.subarray(0, Math.min(block.length, length - at)), at);
    at += block.length;
  }
  return out;
}

/** RFC 5246 6.3: the key block's label. */
const KEY_EXPANSION_LABEL = 'key expansion';
/** RFC 8446 7.3 and 7.2: the labels of a traffic key, its IV, and the next traffic secret. */
const TLS13_KEY_LABEL = 'key';
const TLS13_IV_LABEL = 'iv';
const TLS13_UPDATE_LABEL = 'traffic upd';

/** The options of every cipher here: made once, not per record. */
const AEAD_OPTIONS = { authTagLength: AEAD_TAG_LENGTH } as const;

/** A cipher of one of the three AEADs; the GCM and ChaCha20-Poly1305 deciphers have the same calls. */
function decipherFor(aead: TlsAead, key: Uint8Array, nonce: Uint8Array): DecipherGCM {
  return createDecipheriv(aead as CipherGCMTypes, key, nonce, AEAD_OPTIONS);
}

function cipherFor(aead: TlsAead, key: Uint8Array, nonce: Uint8Array) {
  return createCipheriv(aead as CipherGCMTypes, key, nonce, AEAD_OPTIONS);
}

/** Writes a 64-bit big-endian sequence number (below 2^53) at `at`. */
function writeSequence(into: Uint8Array, at: number, sequence: number): void {
  const high = Math.floor(sequence / 0x1_0000_0000);
  const low = sequence >>> 0;
  into[at] = high >>> 24;
  into[at + 1] = (high >>> 16) & 0xff;
  into[at + 2] = (high >>> 8) & 0xff;
  into[at + 3] = high & 0xff;
  into[at + 4] = low >>> 24;
  into[at + 5] = (low >>> 16) & 0xff;
  into[at + 6] = (low >>> 8) & 0xff;
  into[at + 7] = low & 0xff;
}

/** One direction's record protection (RFC 8446 5.2-5.3; RFC 5288 for TLS 1.2 GCM, RFC 7905 for TLS 1.2 ChaCha20). */
export class TlsRecordCipher {
  readonly #suite: DecryptableSuite;
  /**
   * How the nonce of a record is made: RFC 5288 3 (TLS 1.2 GCM), a 4-byte salt then the record's own
   * 8-byte explicit nonce; otherwise RFC 8446 5.3 and RFC 7905, the 12-byte IV XOR the padded sequence.
   */
  readonly #explicitNonce: boolean;
  /** TLS 1.3: the current traffic secret (KeyUpdate derives the next from it). */
  #secret: Uint8Array | null;
  #key: Uint8Array;
  /** XorSequence: the 12-byte write IV; SaltAndExplicit: the 4-byte salt. */
  #iv: Uint8Array;
  /** The nonce of the record at hand, rewritten for each (createDecipheriv copies it). */
  readonly #nonce = new Uint8Array(AEAD_NONCE_LENGTH);
  /** TLS 1.2's AAD: seq_num(8) + type(1) + version(2) + length(2), rewritten for each record. */
  readonly #aad = new Uint8Array(13);
  #sequence = 0;

  private constructor(suite: DecryptableSuite, key: Uint8Array, iv: Uint8Array, secret: Uint8Array | null) {
    this.#suite = suite;
    this.#explicitNonce = !suite.tls13 && suite.aead !== 'chacha20-poly1305';
    this.#key = key;
    this.#iv = iv;
    this.#secret = secret;
  }

  /** TLS 1.3, from a traffic secret (handshake or application). Null when the suite is not decryptable. */
  static tls13(suite: number, trafficSecret: Uint8Array): TlsRecordCipher | null {
    const s = decryptableSuite(suite);
    if (s === null || !s.tls13 || trafficSecret.length !== HASH_LENGTH[s.hash]) return null;
    const { key, iv } = tls13TrafficKeys(s, trafficSecret);
    return new TlsRecordCipher(s, key, iv, Uint8Array.from(trafficSecret));
  }

  /**
   * TLS 1.2, from the master secret and both randoms (key_block by the suite's PRF, RFC 5246 6.3).
   * `side` is the sender of the records: 'client' uses client_write_key and client_write_IV.
   */
  static tls12(
    suite: number,
    masterSecret: Uint8Array,
    clientRandom: Uint8Array,
    serverRandom: Uint8Array,
    side: 'client' | 'server',
  ): TlsRecordCipher | null {
    const s = decryptableSuite(suite);
    if (s === null || s.tls13) return null;
    const keyLength = KEY_LENGTH[s.aead];
    // RFC 5288 3 (GCM: fixed_iv_length 4), RFC 7905 2 (ChaCha20-Poly1305: 12).
    const ivLength = s.aead === 'chacha20-poly1305' ? AEAD_NONCE_LENGTH : GCM_SALT_LENGTH;
    const seed = Buffer.concat([serverRandom, clientRandom]);
    const block = tls12Prf(s.hash, masterSecret, KEY_EXPANSION_LABEL, seed, 2 * keyLength + 2 * ivLength);
    // client_write_key, server_write_key, client_write_IV, server_write_IV (no MAC keys for AEAD suites).
    const k = side === 'client' ? 0 : keyLength;
    const i = 2 * keyLength + (side === 'client' ? 0 : ivLength);
    return new TlsRecordCipher(s, block.slice(k, k + keyLength), block.slice(i, i + ivLength), null);
  }

  /** The suite this cipher protects records with. */
  get suite(): DecryptableSuite {
    return this.#suite;
  }

  /** Records opened (or sealed) so far: the next sequence number. */
  get sequence(): number {
    return this.#sequence;
  }

  /**
   * Opens one record: `header` its 5 bytes as sent, `body` its fragment. Returns the inner content type
   * (TLS 1.3: from TLSInnerPlaintext, padding removed; TLS 1.2: the header's) and the plaintext, or null
   * when authentication fails; then the sequence number does not advance (a trial with the wrong key costs nothing).
   * A TLS 1.3 record that authenticates but holds only zeros (no content type: a peer's error, RFC 8446
   * 5.4) counts in the sequence and gives CONTENT_TYPE_INVALID with no plaintext.
   */
  open(header: Uint8Array, body: Uint8Array): { type: number; plaintext: Uint8Array } | null {
    const explicit = this.#explicitNonce;
    const overhead = AEAD_TAG_LENGTH + (explicit ? GCM_EXPLICIT_NONCE_LENGTH : 0);
    if (body.length < overhead || header.length < RECORD_HEADER_BYTES) return null;
    const ciphertextEnd = body.length - AEAD_TAG_LENGTH;
    const ciphertextStart = explicit ? GCM_EXPLICIT_NONCE_LENGTH : 0;
    const nonce = this.#nonce;
    if (explicit) {
      nonce.set(this.#iv, 0);
      for (let i = 0; i < GCM_EXPLICIT_NONCE_LENGTH; i++) nonce[GCM_SALT_LENGTH + i] = body[i]!;
    } else {
      this.#xorNonce();
    }
    const decipher = decipherFor(this.#suite.aead, this.#key, nonce);
    if (this.#suite.tls13) {
      decipher.setAAD(header.length === RECORD_HEADER_BYTES ? header : header.subarray(0, RECORD_HEADER_BYTES));
    } else {
      decipher.setAAD(this.#tls12Aad(header[0]!, header[1]!, header[2]!, ciphertextEnd - ciphertextStart));
    }
    decipher.setAuthTag(body.subarray(ciphertextEnd));
    const out = decipher.update(body.subarray(ciphertextStart, ciphertextEnd));
    try {
      decipher.final();
    } catch {
      return null;
    }
    this.#sequence++;
    if (!this.#suite.tls13) return { type: header[0]!, plaintext: out };
    // TLSInnerPlaintext: content, then the type (non-zero), then zeros (RFC 8446 5.2, 5.4).
    let end = out.length;
    while (end > 0 && out[end - 1] === 0) end--;
    if (end === 0) return { type: CONTENT_TYPE_INVALID, plaintext: out.subarray(0, 0) };
    return { type: out[end - 1]!, plaintext: out.subarray(0, end - 1) };
  }

  /**
   * Protects a plaintext into a whole record (header + fragment): for tests and the bench's synthetic captures.
   * `padding` zeros are added to a TLS 1.3 record (TLS 1.2 has none). The version on the wire is TLS 1.2's
   * (RFC 8446 5.1: legacy_record_version); the TLS 1.2 GCM explicit nonce is the sequence number, as
   * most implementations send.
   */
  seal(type: number, plaintext: Uint8Array, padding = 0): Uint8Array {
    if (plaintext.length > MAX_PLAINTEXT_LENGTH)
      throw new RangeError(`a record holds at most ${MAX_PLAINTEXT_LENGTH} bytes`);
    const tls13 = this.#suite.tls13;
    const explicit = this.#explicitNonce;
    let inner = plaintext;
    if (tls13) {
      inner = new Uint8Array(plaintext.length + 1 + padding);
      inner.set(plaintext, 0);
      inner[plaintext.length] = type;
    }
    const prefix = explicit ? GCM_EXPLICIT_NONCE_LENGTH : 0;
    const fragmentLength = prefix + inner.length + AEAD_TAG_LENGTH;
    const record = new Uint8Array(RECORD_HEADER_BYTES + fragmentLength);
    const [major, minor] = [TlsVersion.TLS_1_2 >>> 8, TlsVersion.TLS_1_2 & 0xff];
    record[0] = tls13 ? TlsContentType.APPLICATION_DATA : type;
    record[1] = major;
    record[2] = minor;
    record[3] = fragmentLength >>> 8;
    record[4] = fragmentLength & 0xff;
    const nonce = this.#nonce;
    if (explicit) {
      nonce.set(this.#iv, 0);
      writeSequence(nonce, GCM_SALT_LENGTH, this.#sequence);
      record.set(nonce.subarray(GCM_SALT_LENGTH), RECORD_HEADER_BYTES);
    } else {
      this.#xorNonce();
    }
    const cipher = cipherFor(this.#suite.aead, this.#key, nonce);
    cipher.setAAD(tls13 ? record.subarray(0, RECORD_HEADER_BYTES) : this.#tls12Aad(type, major, minor, inner.length));
    const ciphertext = cipher.update(inner);
    cipher.final();
    record.set(ciphertext, RECORD_HEADER_BYTES + prefix);
    record.set(cipher.getAuthTag(), RECORD_HEADER_BYTES + prefix + ciphertext.length);
    this.#sequence++;
    return record;
  }

  /** TLS 1.3 KeyUpdate: the next traffic secret (RFC 8446 7.2), sequence back to 0. */
  update(): void {
    if (this.#secret === null) throw new TypeError('KeyUpdate is TLS 1.3 only');
    const hash = this.#suite.hash;
    this.#secret = hkdfExpandLabel(hash, this.#secret, TLS13_UPDATE_LABEL, EMPTY, HASH_LENGTH[hash]);
    const { key, iv } = tls13TrafficKeys(this.#suite, this.#secret);
    this.#key = key;
    this.#iv = iv;
    this.#sequence = 0;
  }

  /** RFC 8446 5.3 (and RFC 7905): the nonce is the IV with the padded sequence number XORed into its end. */
  #xorNonce(): void {
    const nonce = this.#nonce;
    const iv = this.#iv;
    const high = Math.floor(this.#sequence / 0x1_0000_0000);
    const low = this.#sequence >>> 0;
    for (let i = 0; i < 4; i++) nonce[i] = iv[i]!;
    nonce[4] = iv[4]! ^ (high >>> 24);
    nonce[5] = iv[5]! ^ ((high >>> 16) & 0xff);
    nonce[6] = iv[6]! ^ ((high >>> 8) & 0xff);
    nonce[7] = iv[7]! ^ (high & 0xff);
    nonce[8] = iv[8]! ^ (low >>> 24);
    nonce[9] = iv[9]! ^ ((low >>> 16) & 0xff);
    nonce[10] = iv[10]! ^ ((low >>> 8) & 0xff);
    nonce[11] = iv[11]! ^ (low & 0xff);
  }

  /** RFC 5246 6.2.3.3: additional_data = seq_num + TLSCompressed.type + version + length (of the plaintext). */
  #tls12Aad(type: number, major: number, minor: number, plaintextLength: number): Uint8Array {
    const aad = this.#aad;
    writeSequence(aad, 0, this.#sequence);
    aad[8] = type;
    aad[9] = major;
    aad[10] = minor;
    aad[11] = plaintextLength >>> 8;
    aad[12] = plaintextLength & 0xff;
    return aad;
  }
}

/** RFC 8446 7.3: [sender]_write_key and [sender]_write_iv from a traffic secret. */
function tls13TrafficKeys(suite: DecryptableSuite, secret: Uint8Array): { key: Uint8Array; iv: Uint8Array } {
  return {
    key: hkdfExpandLabel(suite.hash, secret, TLS13_KEY_LABEL, EMPTY, KEY_LENGTH[suite.aead]),
    iv: hkdfExpandLabel(suite.hash, secret, TLS13_IV_LABEL, EMPTY, AEAD_NONCE_LENGTH),
  };
}
