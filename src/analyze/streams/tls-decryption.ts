/**
 * The keys of one TLS connection and what they open: the record protection of each side as the key
 * schedule changes it, fed the encrypted records whole (decode/tls.ts `encryptedRecord`), and what
 * the plaintext holds told to a listener (the TLS stream, streams/tls.ts) as events: handshake
 * messages, alerts, application data.
 *
 * Keys come from a TlsKeySource (an NSS key log), looked up by the ClientHello's random:
 *  - TLS 1.3 (RFC 8446 7.1, 7.3): each side's records are protected by its handshake traffic secret
 *    until its Finished, then by its traffic secret 0; a KeyUpdate (4.6.3) moves the sender to the
 *    next secret. When the key log has no handshake secrets, the traffic secret is tried on each
 *    record: the handshake records do not open with it (a wrong key costs a failed tag check, the
 *    sequence number does not move), and the first that opens starts the application data.
 *  - TLS 1.2 (RFC 5246 6.3, 7.1): the key block from the master secret and both randoms; a side's
 *    records are protected from its ChangeCipherSpec on (its Finished first).
 *
 * Keys that come later than the records (a key log that grows while `watch` runs): the records are
 * held (up to MAX_HELD_BYTES per connection) and the lookup is tried again as more records come and
 * when the connection is described. A program logs a TLS 1.3 session's secrets one line at a time as
 * it derives them, so a lookup may find the handshake secrets and not yet the traffic secrets: the
 * records stay held until the traffic secrets are there too (the source is asked to re-read, when it
 * can: KeyLogFile.refresh), or the connection ends (then what there is opens what it can). Records
 * held when the keys never come are given back to the decoder, which interprets them by position as
 * it does without keys.
 *
 * A record that does not open with the key due stops that side (its sequence number is unknown from
 * then on): the side's later records are counted as failed and interpreted by position. Before a
 * TLS 1.3 side's first record opens, one that does not is passed over (0-RTT's EndOfEarlyData is
 * under the early secret, which is not tried) and the next tried with the same keys.
 */
import { decryptableSuite, TlsRecordCipher } from '../../decode/tls-crypto.js';
import type { TlsKeySource, TlsSessionSecrets } from '../../decode/tls-keylog.js';
import { HandshakeFramer, RECORD_HEADER_BYTES, TlsContentType, TlsHandshakeType, isTls13 } from '../../decode/tls.js';
import type { Side, TlsDecryptionStatus } from '../../model/report.js';
import type { Micros } from '../../model/time.js';

/** Encrypted records held per connection while its keys are not in the key log (yet). */
export const MAX_HELD_BYTES = 1024 * 1024;
/** The longest handshake message reassembled from decrypted records (a certificate chain is a few KiB). */
const MAX_HANDSHAKE_MESSAGE = 256 * 1024;

/** What the plaintext holds, told as it is opened. */
export interface DecryptedEvents {
  /** A whole handshake message: its type and body (after the 4-byte header). */
  handshakeMessage(side: Side, type: number, body: Uint8Array, ts: Micros): void;
  /** A handshake message too long to reassemble, or cut: its type only. */
  handshakeSkipped(side: Side, type: number, ts: Micros): void;
  decryptedAlert(side: Side, level: number, description: number, ts: Micros): void;
  /** Application data: `plaintext` (the caller's to keep), `recordLength` the record's body as sent. */
  decryptedData(side: Side, plaintext: Uint8Array, recordLength: number, ts: Micros): void;
}

/** The hellos: what the key schedule needs. */
export interface TlsHellos {
  clientRandom: Uint8Array;
  serverRandom: Uint8Array;
  version: number;
  cipherSuite: number;
}

type Phase =
  /** TLS 1.3: the handshake traffic secret, until this side's Finished. */
  | 'handshake'
  /** TLS 1.3 without handshake secrets: the traffic secret tried on each record until one opens. */
  | 'trial'
  /** Application data keys (TLS 1.3 traffic secret N; TLS 1.2 the key block). */
  | 'application'
  /** A record did not open with the key due: nothing more of this side is opened. */
  | 'stopped';

/** One side's keys, and its handshake messages as they span records. */
class SideKeys {
  phase: Phase = 'application';
  handshakeCipher: TlsRecordCipher | null = null;
  cipher: TlsRecordCipher | null = null;
  opened = 0;
  failed = 0;
  /**
   * TLS 1.3 records that did not open before this side's first that did: with only the traffic
   * secret, its encrypted handshake; with the handshake secret, 0-RTT's EndOfEarlyData (under the
   * early secret). Failures only if nothing of this side ever opens.
   */
  misses = 0;
  /** After a record: switch to the application keys (TLS 1.3 Finished) or the next ones (KeyUpdate). */
  switchAfter = false;
  updateAfter = false;

  constructor(
    readonly side: Side,
    /** Handshake messages across decrypted records (bodies up to MAX_HANDSHAKE_MESSAGE). */
    readonly hs: HandshakeFramer,
  ) {}

  /** Records that could not be opened, the trial's misses only when the trial never succeeded. */
  get failures(): number {
    return this.failed + (this.opened === 0 ? this.misses : 0);
  }
}

/** An encrypted record held while the keys are not known. */
export interface Held {
  side: Side;
  record: Uint8Array;
  ts: Micros;
}

export type RecordFate =
  /** Opened (or held for keys to come): the listener was told what it holds. */
  | 'taken'
  /** Not opened: the decoder interprets it by position. */
  | 'declined';

export class TlsDecryption {
  private secrets: TlsSessionSecrets | null = null;
  private readonly client = this.sideKeys('client');
  private readonly server = this.sideKeys('server');
  /** The time of the record being opened (its handshake messages end inside HandshakeFramer.push). */
  private ts: Micros = 0;
  private held: Held[] = [];
  private heldBytes = 0;
  /** The keys never came: records held beyond MAX_HELD_BYTES, or the connection ended without them. */
  private givenUp = false;
  private readonly unsupported: boolean;
  private readonly tls13: boolean;

  constructor(
    private readonly keys: TlsKeySource,
    private readonly hellos: TlsHellos,
    private readonly events: DecryptedEvents,
  ) {
    this.tls13 = isTls13(hellos.version);
    const suite = decryptableSuite(hellos.cipherSuite);
    this.unsupported = suite === null || suite.tls13 !== this.tls13;
    if (!this.unsupported) this.lookUp();
  }

  /** Where decryption stands (model/report.ts TlsDecryption). */
  get status(): TlsDecryptionStatus {
    if (this.unsupported) return 'unsupported-suite';
    if (this.secrets === null) return 'no-keys';
    const opened = this.recordsOpened;
    if (opened === 0 && this.recordsFailed > 0) return 'wrong-keys';
    return this.recordsFailed > 0 ? 'partial' : 'decrypted';
  }

  get recordsOpened(): number {
    return this.client.opened + this.server.opened;
  }

  get recordsFailed(): number {
    return this.client.failures + this.server.failures;
  }

  /** Records held for keys still to come. */
  get recordsHeld(): number {
    return this.held.length;
  }

  /** The keys were not there in time: records were held up to the limit, then given back. */
  get heldTooLong(): boolean {
    return this.givenUp && this.heldBytes > MAX_HELD_BYTES;
  }

  /**
   * An encrypted record whole (header and body, a view). `guess` gives records back to the decoder
   * (held ones whose keys never came) to be interpreted by position.
   */
  record(side: Side, record: Uint8Array, ts: Micros, guess: (held: Held) => void): RecordFate {
    if (this.unsupported || this.givenUp) return 'declined';
    if (this.secrets === null) {
      // Held in order (both sides) while the key log may still get the keys: tried again now and then.
      this.held.push({ side, record: record.slice(), ts });
      this.heldBytes += record.length;
      const n = this.held.length;
      if (n <= 16 || (n & (n - 1)) === 0) this.lookUp();
      if (this.secrets === null && this.heldBytes > MAX_HELD_BYTES) this.giveUp(guess);
      return 'taken';
    }
    return this.open(side, record, ts) ? 'taken' : 'declined';
  }

  /**
   * The connection is described: one more lookup; `final` (nothing more comes): secrets found only in
   * part are used as they are, and records still held without any go back to the decoder.
   */
  settle(final: boolean, guess: (held: Held) => void): void {
    if (this.unsupported || this.givenUp || this.held.length === 0) return;
    this.lookUp(final);
    if (this.secrets === null && final) this.giveUp(guess);
  }

  private giveUp(guess: (held: Held) => void): void {
    this.givenUp = true;
    const held = this.held;
    this.held = [];
    for (const h of held) guess(h);
  }

  /** Looks the secrets up; only whole ones are used (see the header) unless `partly`. */
  private lookUp(partly = false): void {
    const random = this.hellos.clientRandom;
    let secrets = this.keys.secretsFor(random);
    if (secrets !== null && !partly && !this.whole(secrets)) {
      // The program is still writing this session's lines: read what it added since.
      this.keys.refresh?.();
      secrets = this.keys.secretsFor(random);
      if (secrets !== null && !this.whole(secrets)) return;
    }
    if (secrets === null || !this.start(secrets)) return;
    this.secrets = secrets;
    const held = this.held;
    this.held = [];
    for (const h of held) {
      // Opened in the order they came; one that does not open is counted, and stays taken.
      this.open(h.side, h.record, h.ts);
    }
  }

  /** The secrets open the application data of both sides: TLS 1.2's master secret, TLS 1.3's traffic secrets. */
  private whole(s: TlsSessionSecrets): boolean {
    return this.tls13 ? s.clientTraffic0 !== null && s.serverTraffic0 !== null : s.masterSecret !== null;
  }

  /** The ciphers from the secrets; false when these secrets cannot open this connection at all. */
  private start(secrets: TlsSessionSecrets): boolean {
    const { cipherSuite: suite, clientRandom, serverRandom } = this.hellos;
    if (!this.tls13) {
      if (secrets.masterSecret === null) return false;
      this.client.cipher = TlsRecordCipher.tls12(suite, secrets.masterSecret, clientRandom, serverRandom, 'client');
      this.server.cipher = TlsRecordCipher.tls12(suite, secrets.masterSecret, clientRandom, serverRandom, 'server');
      return this.client.cipher !== null && this.server.cipher !== null;
    }
    const pairs: [SideKeys, Uint8Array | null, Uint8Array | null][] = [
      [this.client, secrets.clientHandshake, secrets.clientTraffic0],
      [this.server, secrets.serverHandshake, secrets.serverTraffic0],
    ];
    if (pairs.every(([, hs, app]) => hs === null && app === null)) return false;
    for (const [keys, hs, app] of pairs) {
      keys.handshakeCipher = hs === null ? null : TlsRecordCipher.tls13(suite, hs);
      keys.cipher = app === null ? null : TlsRecordCipher.tls13(suite, app);
      keys.phase = keys.handshakeCipher !== null ? 'handshake' : keys.cipher !== null ? 'trial' : 'stopped';
    }
    return true;
  }

  /** Opens one record with the key due; false when it does not open (counted). */
  private open(side: Side, record: Uint8Array, ts: Micros): boolean {
    const keys = side === 'client' ? this.client : this.server;
    const header = record.subarray(0, RECORD_HEADER_BYTES);
    const body = record.subarray(RECORD_HEADER_BYTES);
    let opened: { type: number; plaintext: Uint8Array } | null = null;
    switch (keys.phase) {
      case 'handshake':
        opened = keys.handshakeCipher!.open(header, body);
        // A key log with a wrong (or another connection's) handshake secret but a right traffic secret.
        if (opened === null && keys.cipher !== null) {
          opened = keys.cipher.open(header, body);
          if (opened !== null) keys.phase = 'application';
        }
        break;
      case 'trial':
        opened = keys.cipher!.open(header, body);
        if (opened !== null) keys.phase = 'application';
        break;
      case 'application':
        opened = keys.cipher === null ? null : keys.cipher.open(header, body);
        break;
      case 'stopped':
        keys.failed++;
        return false;
    }
    if (opened === null) {
      // Before the side's first record that opens, TLS 1.3 tries on (see SideKeys.misses).
      if (keys.opened === 0 && (keys.phase === 'handshake' || keys.phase === 'trial')) {
        keys.misses++;
        return false;
      }
      keys.failed++;
      keys.phase = 'stopped';
      return false;
    }
    keys.opened++;
    this.plaintext(keys, opened.type, opened.plaintext, body.length, ts);
    if (keys.switchAfter) {
      keys.switchAfter = false;
      if (keys.phase === 'handshake') keys.phase = keys.cipher !== null ? 'application' : 'stopped';
    }
    if (keys.updateAfter) {
      keys.updateAfter = false;
      if (keys.phase === 'application') keys.cipher?.update();
    }
    return true;
  }

  private plaintext(keys: SideKeys, type: number, plain: Uint8Array, recordLength: number, ts: Micros): void {
    const side = keys.side;
    switch (type) {
      case TlsContentType.HANDSHAKE:
        this.ts = ts;
        keys.hs.push(plain, 0, plain.length);
        return;
      case TlsContentType.ALERT:
        if (plain.length >= 2) this.events.decryptedAlert(side, plain[0]!, plain[1]!, ts);
        return;
      case TlsContentType.APPLICATION_DATA:
        this.events.decryptedData(side, plain, recordLength, ts);
        return;
      default:
      // Heartbeats and unknown inner types: nothing to tell.
    }
  }

  /** A side's keys, its handshake framer reporting to this connection. */
  private sideKeys(side: Side): SideKeys {
    const k: SideKeys = new SideKeys(
      side,
      new HandshakeFramer(
        (_type, length) => length <= MAX_HANDSHAKE_MESSAGE,
        (type, _length, body) => this.message(k, type, body, this.ts),
      ),
    );
    return k;
  }

  private message(k: SideKeys, type: number, body: Uint8Array | null, ts: Micros): void {
    if (type === TlsHandshakeType.FINISHED && this.tls13) k.switchAfter = true;
    if (type === TlsHandshakeType.KEY_UPDATE && this.tls13) k.updateAfter = true;
    if (body === null) this.events.handshakeSkipped(k.side, type, ts);
    else this.events.handshakeMessage(k.side, type, body, ts);
  }
}
