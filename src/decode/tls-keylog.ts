/**
 * An NSS key log (the `SSLKEYLOGFILE` format written by NSS, OpenSSL, BoringSSL, GnuTLS, Go's
 * `tls.Config.KeyLogWriter`, Node's `keylog` event and `--tls-keylog`), parsed as its text arrives.
 * Pure: text in, secrets out; reading the file is `observe/keylog-file.ts`'s job.
 *
 * Specs:
 *  - https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/
 *  - draft-ietf-tls-keylogfile (the same format, with the labels of ECH)
 *
 * One line per secret: `<label> <client random, 64 hex> <secret, hex>`, fields separated by one space
 * (runs of spaces or tabs are accepted too). `#` starts a comment line; blank lines are skipped; CRLF
 * line ends are accepted. Hex may be upper or lower case.
 *
 * What is kept, per client random (the ClientHello's 32-byte random that names the session):
 *  - `CLIENT_RANDOM`: the TLS 1.2 (and below) master secret, 48 bytes;
 *  - `CLIENT_EARLY_TRAFFIC_SECRET`, `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
 *    `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`: TLS 1.3 traffic secrets (RFC 8446 7.1),
 *    32 bytes (SHA-256 suites) or 48 (SHA-384).
 *
 * Decisions (the format says readers should ignore lines they do not understand; a user should still
 * learn that a file is not a key log at all):
 *  - a known label this tool has no use for (`EXPORTER_SECRET`, `EARLY_EXPORTER_SECRET`,
 *    `EARLY_EXPORTER_MASTER_SECRET`, `ECH_SECRET`, `ECH_CONFIG`, and NSS's `RSA` lines, whose
 *    pre-master secret is of no use without the RSA ClientKeyExchange decryption this tool does not
 *    do) is skipped and counted in `ignoredLines`, not as malformed;
 *  - an unknown label, a wrong number of fields, a random that is not 32 bytes of hex, a secret of a
 *    length its label cannot have: counted in `malformedLines` (the first one kept with its line number
 *    and why), and skipped. A file with lines but no session at all (`sessions === 0`,
 *    `malformedLines > 0`) is not a key log: the caller warns;
 *  - the same label logged again for the same random (a program that logs twice, or two logs
 *    concatenated): the later line wins; the session is counted once.
 *  - a line longer than MAX_LINE_LENGTH is malformed (the text is not a key log): its characters are
 *    not kept past that, so memory stays bounded whatever is pushed.
 */

/** The secrets an NSS key log gives for one ClientHello (keyed by its 32-byte random). */
export interface TlsSessionSecrets {
  /** TLS 1.2 and below: the CLIENT_RANDOM line's 48-byte master secret. */
  masterSecret: Uint8Array | null;
  /**
   * TLS 1.3 (RFC 8446 7.1): CLIENT_/SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_/SERVER_TRAFFIC_SECRET_0,
   * CLIENT_EARLY_TRAFFIC_SECRET.
   */
  clientHandshake: Uint8Array | null;
  serverHandshake: Uint8Array | null;
  clientTraffic0: Uint8Array | null;
  serverTraffic0: Uint8Array | null;
  clientEarly: Uint8Array | null;
}

/** Where TLS secrets come from: a key log read whole, or one that grows while a program runs. */
export interface TlsKeySource {
  /** The secrets logged for the ClientHello with this random, or null (none, or not yet). */
  secretsFor(clientRandom: Uint8Array): TlsSessionSecrets | null;
  /**
   * A source that grows (a key log file a program is writing): reads what was added since, now. True
   * when anything new was parsed. Asked when a session's secrets are there only in part.
   */
  refresh?(): boolean;
}

/** ClientHello.random is 32 bytes (RFC 8446 4.1.2, RFC 5246 7.4.1.2). */
export const CLIENT_RANDOM_LENGTH = 32;
/** The TLS 1.2 master secret is 48 bytes (RFC 5246 8.1). */
export const MASTER_SECRET_LENGTH = 48;
/** A key log line is about 200 characters (label, 64 + 96 hex); anything much longer is not one. */
export const MAX_LINE_LENGTH = 1024;

/** The field of TlsSessionSecrets each label that carries a secret fills, and the lengths its secret may have. */
const SECRET_LABELS: Record<string, { field: keyof TlsSessionSecrets; lengths: readonly number[] }> = {
  CLIENT_RANDOM: { field: 'masterSecret', lengths: [MASTER_SECRET_LENGTH] },
  // TLS 1.3 traffic secrets are Hash.length long: 32 (SHA-256) or 48 (SHA-384) (RFC 8446 7.1).
  CLIENT_EARLY_TRAFFIC_SECRET: { field: 'clientEarly', lengths: [32, 48] },
  CLIENT_HANDSHAKE_TRAFFIC_SECRET: { field: 'clientHandshake', lengths: [32, 48] },
  SERVER_HANDSHAKE_TRAFFIC_SECRET: { field: 'serverHandshake', lengths: [32, 48] },
  CLIENT_TRAFFIC_SECRET_0: { field: 'clientTraffic0', lengths: [32, 48] },
  SERVER_TRAFFIC_SECRET_0: { field: 'serverTraffic0', lengths: [32, 48] },
};

/** Labels of the format this tool understands and has no use for (see the top of this file). */
const IGNORED_LABELS: ReadonlySet<string> = new Set([
  'RSA',
  'EXPORTER_SECRET',
  'EARLY_EXPORTER_SECRET',
  'EARLY_EXPORTER_MASTER_SECRET',
  'ECH_SECRET',
  'ECH_CONFIG',
]);

const HEX = /^[0-9a-fA-F]*$/;
const FIELD_SEPARATOR = /[ \t]+/;

/** The lower-case hex of bytes: the key of a session in a KeyLog (once per lookup, never per record). */
export function clientRandomKey(clientRandom: Uint8Array): string {
  return Buffer.from(clientRandom.buffer, clientRandom.byteOffset, clientRandom.byteLength).toString('hex');
}

function emptySecrets(): TlsSessionSecrets {
  return {
    masterSecret: null,
    clientHandshake: null,
    serverHandshake: null,
    clientTraffic0: null,
    serverTraffic0: null,
    clientEarly: null,
  };
}

/** An NSS key log (https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/) parsed as text arrives. */
export class KeyLog implements TlsKeySource {
  readonly #sessions = new Map<string, TlsSessionSecrets>();
  /** The current line's text so far (a chunk may end mid-line). */
  #pending = '';
  /** The current line is past MAX_LINE_LENGTH: the rest of it is dropped up to its newline. */
  #overlong = false;
  #line = 0;
  #malformed = 0;
  #ignored = 0;
  #firstMalformed: { line: number; reason: string } | null = null;

  /** Text of the key log; a chunk may end mid-line (that line waits for the next chunk or end()). */
  push(text: string): void {
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      if (newline < 0) break;
      this.#take(text, start, newline);
      this.#endLine();
      start = newline + 1;
    }
    if (start < text.length) this.#take(text, start, text.length);
  }

  /** No more text: a last line without its newline is parsed. */
  end(): void {
    if (this.#pending !== '' || this.#overlong) this.#endLine();
  }

  /**
   * The secrets of this ClientHello random, or null. The object is the log's own: a line for the same
   * random pushed later fills it in (a TLS 1.3 program logs the application secrets after the handshake ones).
   */
  secretsFor(clientRandom: Uint8Array): TlsSessionSecrets | null {
    if (clientRandom.length !== CLIENT_RANDOM_LENGTH) return null;
    return this.#sessions.get(clientRandomKey(clientRandom)) ?? null;
  }

  /** Client randoms with at least one secret. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** Lines not understood (comments `#` and blank lines are not counted) and the first of them (1-based line, why). */
  get malformedLines(): number {
    return this.#malformed;
  }

  get firstMalformed(): { line: number; reason: string } | null {
    return this.#firstMalformed;
  }

  /** Lines with a label of the format that carries nothing this tool uses (EXPORTER_SECRET, RSA, ECH...). */
  get ignoredLines(): number {
    return this.#ignored;
  }

  /** Lines ended so far (every line: secrets, comments, blank, malformed). */
  get lines(): number {
    return this.#line;
  }

  #take(text: string, from: number, to: number): void {
    if (this.#overlong) return;
    if (to - from + this.#pending.length > MAX_LINE_LENGTH) {
      this.#overlong = true;
      this.#pending = '';
      return;
    }
    this.#pending += text.slice(from, to);
  }

  #endLine(): void {
    this.#line++;
    const overlong = this.#overlong;
    let line = this.#pending;
    this.#pending = '';
    this.#overlong = false;
    if (overlong) {
      this.#malform(`line longer than ${MAX_LINE_LENGTH} characters`);
      return;
    }
    if (line.endsWith('\r')) line = line.slice(0, -1);
    line = line.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(FIELD_SEPARATOR);
    const label = fields[0]!;
    const known = SECRET_LABELS[label];
    if (known === undefined) {
      if (IGNORED_LABELS.has(label)) this.#ignored++;
      else this.#malform(`unknown label ${JSON.stringify(label.slice(0, 40))}`);
      return;
    }
    if (fields.length !== 3) {
      this.#malform(`${label}: ${fields.length} fields, expected 3 (label, client random, secret)`);
      return;
    }
    const random = fields[1]!;
    const secret = fields[2]!;
    if (random.length !== CLIENT_RANDOM_LENGTH * 2 || !HEX.test(random)) {
      this.#malform(`${label}: the client random is not ${CLIENT_RANDOM_LENGTH} bytes of hex`);
      return;
    }
    if (secret.length % 2 !== 0 || !known.lengths.includes(secret.length / 2) || !HEX.test(secret)) {
      this.#malform(`${label}: the secret is not ${known.lengths.join(' or ')} bytes of hex`);
      return;
    }
    const key = random.toLowerCase();
    let session = this.#sessions.get(key);
    if (session === undefined) {
      session = emptySecrets();
      this.#sessions.set(key, session);
    }
    session[known.field] = Uint8Array.from(Buffer.from(secret, 'hex'));
  }

  #malform(reason: string): void {
    this.#malformed++;
    this.#firstMalformed ??= { line: this.#line, reason };
  }
}
