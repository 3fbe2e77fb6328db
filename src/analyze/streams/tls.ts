/**
 * TLS on a connection, without its keys: recognised on any port by its first record (a ClientHello
 * from the client), decoded by decode/tls.ts, and turned into the record's `tls` facts: version,
 * cipher suite, SNI, ALPN offered and chosen, a full or resumed handshake and how long it took, the
 * application-data records each way, and an ESTIMATE of the request/response exchanges.
 *
 * Requests are not visible: `requests` stays 0 and the record says so in a note. The estimate counts
 * application data that alternates direction (a burst of client records, then a burst of server
 * records: one exchange), which is what a sequential HTTP/1.1 client produces; it is kept apart
 * (`estimatedExchanges`) so that nothing adds it to the requests.
 *
 * With keys (StreamContext.keys, a key log): the decoder hands the encrypted records over whole, the
 * connection's keys (streams/tls-decryption.ts) open them, and the truth replaces the guesses by
 * position: the handshake messages (EncryptedExtensions gives TLS 1.3's ALPN, Finished ends the
 * handshake, NewSessionTicket and KeyUpdate are handshake, not data), the alerts, and the application
 * data, fed to the stream the ALPN chose (h2: HTTP/2, else HTTP/1.x; without ALPN the first plaintext
 * is sniffed), whose requests and responses become the record's. `tls.decryption` says what the keys
 * did; when they did not open the records, the requests stay unknown and a note says why.
 *
 * Resumption (RFC 8446 2.2, RFC 5246 7.3, RFC 5077 3.1):
 *  - TLS 1.3: the ServerHello selects one of the client's pre-shared keys.
 *  - TLS 1.2 and below: the abbreviated handshake, where the server goes from its ServerHello straight
 *    to NewSessionTicket or ChangeCipherSpec with no Certificate (nor ServerKeyExchange, nor
 *    ServerHelloDone); the echo of the client's non-empty session id says so already.
 */
import {
  RECORD_HEADER_BYTES,
  TlsConnection,
  TlsHandshakeType,
  alertDescriptionName,
  encryptedExtensionsAlpn,
  alertLevelName,
  cipherSuiteName,
  isTls13,
  sameBytes,
  sniffTls,
  tlsVersionName,
  type TlsAlert,
  type TlsClientHello,
  type TlsEvents,
  type TlsServerHello,
} from '../../decode/tls.js';
import type {
  ConnectionRecord,
  ObserverName,
  ObserverReport,
  Side,
  TlsAlertFact,
  TlsAlpnUnknown,
  TlsDecryption as TlsDecryptionFacts,
  TlsDecryptionStatus,
  TlsFacts,
  TlsRecordCount,
  TlsResumption,
  TlsTotals,
} from '../../model/report.js';
import { toMillis, type Micros } from '../../model/time.js';
import type { TlsKeySource } from '../../decode/tls-keylog.js';
import { http1 } from './http1.js';
import { Http2Stream, http2 } from './http2.js';
import { notProtocolNote, sniffStream, type Stream, type StreamContext, type StreamKind } from './stream.js';
import { MAX_HELD_BYTES, TlsDecryption, type DecryptedEvents, type Held } from './tls-decryption.js';

/** What the record says of requests while the traffic cannot be decrypted. */
export const REQUESTS_UNKNOWN_NOTE = 'requests unknown without the TLS keys';

/**
 * The observer ends the TLS itself and reads the requests inside: the lab's server. Its records carry
 * `tls` facts without `decryption`, and their requests are known all the same.
 */
export function readsInsideTls(observer: ObserverName): boolean {
  return observer === 'server';
}

/**
 * The one rule for "are this connection's requests known?" (as `observer` saw it): not when it carried
 * TLS that the keys did not open (its `requests` stay 0, which means "not counted", not "none"), unless
 * the observer reads inside its TLS (readsInsideTls). Renderers and expectations ask this, never
 * `requests === 0`.
 */
export function requestsUnknown(r: ConnectionRecord, observer: ObserverName): boolean {
  return r.tls !== undefined && !readsInsideTls(observer) && !tlsDecrypted(r.tls);
}

/**
 * How many of an observer's connections have their requests unknown (requestsUnknown, counted in the
 * totals): none for an observer that sees no request at all (the kernel), nor for one that reads inside
 * its TLS (readsInsideTls).
 */
export function requestsUnknownOn(o: Pick<ObserverReport, 'observer' | 'seesRequests' | 'totals'>): number {
  const tls = o.totals.tls;
  if (!o.seesRequests || readsInsideTls(o.observer) || tls === undefined) return 0;
  return tls.connections - tlsDecryptedCount(tls);
}

/** The keys opened this connection's records (all or some): its requests are those of the plaintext. */
export function tlsDecrypted(t: TlsFacts): boolean {
  const status = t.decryption?.status;
  return status === 'decrypted' || status === 'partial';
}

/** TLS connections whose records the keys opened (all or some), of `t.connections`. */
export function tlsDecryptedCount(t: TlsTotals): number {
  return (t.decryption?.decrypted ?? 0) + (t.decryption?.partial ?? 0);
}

/** Why the keys given did not decrypt a connection (the end of its REQUESTS_UNKNOWN_NOTE). */
function undecryptedWhy(status: TlsDecryptionStatus, suite: string | null): string | null {
  switch (status) {
    case 'no-keys':
      return 'no key for this connection in the key log';
    case 'wrong-keys':
      return "the key log's keys for this connection do not open its records";
    case 'unsupported-suite':
      return `cipher suite ${suite ?? '?'} is not decryptable`;
    case 'no-server-hello':
      return 'its handshake was not captured';
    default:
      return null;
  }
}

/** Decrypted application data is one of these (picked by ALPN, else sniffed). */
const INNER_STREAMS: readonly StreamKind[] = [http1, http2];
/** Alerts kept per connection (a connection sends one or two; a broken peer could send many). */
const MAX_ALERTS = 8;
/** Notes of framing problems kept per connection; the rest are counted. */
const MAX_PROBLEM_NOTES = 4;

export const tls: StreamKind = {
  label: 'TLS',
  sniff: sniffTls,
  create(context: StreamContext): Stream {
    return new TlsStream(context);
  },
};

/** Server handshake messages that only a full handshake sends (RFC 5246 7.3, figure 1). */
const FULL_HANDSHAKE_ONLY: ReadonlySet<number> = new Set([
  TlsHandshakeType.CERTIFICATE,
  TlsHandshakeType.SERVER_KEY_EXCHANGE,
  TlsHandshakeType.CERTIFICATE_REQUEST,
  TlsHandshakeType.SERVER_HELLO_DONE,
]);

class TlsStream implements Stream, TlsEvents, DecryptedEvents {
  private readonly ownNotes: string[] = [];
  /** Null once both sides ended or the connection retired: the facts stay. */
  private decoder: TlsConnection | null;
  private notTls = false;
  private clientEnded = false;
  private serverEnded = false;
  private problems = 0;
  private resyncs = 0;
  // The client's offer (its first ClientHello).
  private clientHelloTs: Micros | null = null;
  private sni: string | null = null;
  private alpnOffered: string[] = [];
  private offered: TlsResumption | null = null;
  private clientSessionId: Uint8Array | null = null;
  private ticketOffered = false;
  // The server's answer.
  private helloRetry = false;
  private server: TlsServerHello | null = null;
  private serverHelloSeen = false;
  /** TLS 1.2 and below: the server's messages after its ServerHello show a full or an abbreviated handshake. */
  private abbreviated: boolean | null = null;
  private clientFinishedTs: Micros | null = null;
  private serverFinishedTs: Micros | null = null;
  private firstClientDataTs: Micros | null = null;
  private readonly appData: Record<Side, TlsRecordCount> = {
    client: { records: 0, bytes: 0 },
    server: { records: 0, bytes: 0 },
  };
  /** The side of the last application-data record, for the estimate of exchanges. */
  private lastDataSide: Side | null = null;
  private exchanges = 0;
  private readonly alerts: TlsAlertFact[] = [];
  // With keys.
  private readonly keys: TlsKeySource | undefined;
  private clientRandom: Uint8Array | null = null;
  private decryption: TlsDecryption | null = null;
  /** The ALPN protocol TLS 1.3's EncryptedExtensions chose, once decrypted. */
  private alpnDecrypted: string | null = null;
  /** The stream the decrypted application data feeds; null before the first, or when it is none. */
  private inner: Stream | null = null;
  /** The decrypted application data was not (or stopped being) the inner stream's protocol. */
  private innerRefused = false;
  private readonly guess = (h: Held): void =>
    this.decoder?.guessRecord(h.side, h.record[0]!, h.record.length - RECORD_HEADER_BYTES, h.ts);

  constructor(private readonly context: StreamContext) {
    this.keys = context.keys;
    this.decoder = new TlsConnection(this, { records: this.keys !== undefined });
  }

  /** Its own notes, then those of the stream the decrypted data feeds. */
  get notes(): readonly string[] {
    const inner = this.inner;
    return inner === null || inner.notes.length === 0 ? this.ownNotes : [...this.ownNotes, ...inner.notes];
  }

  // Stream

  data(side: Side, bytes: Uint8Array, ts: Micros): boolean {
    const decoder = this.decoder;
    if (decoder === null) return !this.notTls;
    decoder.push(side, bytes, ts);
    if (decoder.notTls) {
      this.notTls = true;
      this.decoder = null;
      return false;
    }
    return true;
  }

  gap(side: Side, missing: number, ts: Micros): void {
    this.decoder?.gap(side, missing, ts);
  }

  end(side: Side, ts: Micros): void {
    if (side === 'client') this.clientEnded = true;
    else this.serverEnded = true;
    if (!this.innerRefused) this.inner?.end(side, ts);
    // Nothing more can come: the decoder's buffers go, the facts stay.
    if (this.clientEnded && this.serverEnded) this.letGo();
  }

  retire(): void {
    this.letGo();
    this.inner?.retire();
  }

  /** The decoder goes; records still held for keys are tried a last time, else interpreted by position. */
  private letGo(): void {
    if (this.decoder === null) return;
    this.decryption?.settle(true, this.guess);
    this.decoder = null;
  }

  describe(record: ConnectionRecord): void {
    if (this.notTls) {
      record.notes.push(notProtocolNote([tls]));
      return;
    }
    // Keys may have come since the last record (a key log that grows).
    if (this.decoder !== null) this.decryption?.settle(false, this.guess);
    this.inner?.describe(record);
    if (this.innerRefused && this.inner === null)
      record.notes.push(`decrypted TLS data: ${notProtocolNote(INNER_STREAMS)}`);
    const decryption = this.decryptionFacts();
    record.tls = this.facts(decryption);
    const n = this.resyncs;
    if (n > 0) record.notes.push(`TLS record framing picked up again ${n} time${n === 1 ? '' : 's'}`);
    const more = this.problems - MAX_PROBLEM_NOTES;
    if (more > 0) record.notes.push(`${more} more TLS decoding problem${more === 1 ? '' : 's'}`);
    this.describeDecryption(record, decryption);
  }

  /** What the keys did, or undefined without keys. */
  private decryptionFacts(): TlsDecryptionFacts | undefined {
    if (this.keys === undefined) return undefined;
    const d = this.decryption;
    if (d === null) return { status: 'no-server-hello', recordsOpened: 0, recordsFailed: 0 };
    return { status: d.status, recordsOpened: d.recordsOpened, recordsFailed: d.recordsFailed };
  }

  private describeDecryption(record: ConnectionRecord, facts: TlsDecryptionFacts | undefined): void {
    if (facts === undefined) {
      record.notes.push(REQUESTS_UNKNOWN_NOTE);
      return;
    }
    const d = this.decryption;
    const held = d?.recordsHeld ?? 0;
    if (held > 0) record.notes.push(`TLS: ${held} records held for keys not in the key log yet`);
    if (d?.heldTooLong === true)
      record.notes.push(`TLS: records held up to ${MAX_HELD_BYTES / 1024 / 1024} MiB for keys that did not come`);
    if (facts.status === 'partial') {
      const n = facts.recordsFailed;
      record.notes.push(`TLS: ${n} record${n === 1 ? '' : 's'} could not be decrypted; requests counted from the rest`);
      return;
    }
    const why = undecryptedWhy(facts.status, this.server === null ? null : cipherSuiteName(this.server.cipherSuite));
    if (why !== null && held === 0) record.notes.push(`${REQUESTS_UNKNOWN_NOTE}: ${why}`);
  }

  /** The facts, in the order of the schema (model/report.ts); optional ones only when they apply. */
  private facts(decryption: TlsDecryptionFacts | undefined): TlsFacts {
    const hello = this.server;
    const version = hello?.version ?? null;
    const alpnChosen = hello?.alpn ?? this.alpnDecrypted;
    const resumed = this.resumption(version);
    const end = this.handshakeEnd(version);
    const start = this.clientHelloTs;
    return {
      version: version === null ? null : tlsVersionName(version),
      cipherSuite: hello === null ? null : cipherSuiteName(hello.cipherSuite),
      sni: this.sni,
      alpnOffered: this.alpnOffered.slice(),
      alpnChosen,
      ...(alpnChosen === null ? { alpnChosenWhyNull: this.alpnWhyNull(version) } : {}),
      handshake: resumed === undefined ? null : resumed === null ? 'full' : 'resumed',
      ...(resumed ? { resumedWith: resumed } : {}),
      resumptionOffered: this.offered,
      ...(this.helloRetry ? { helloRetry: true as const } : {}),
      handshakeMs: start !== null && end !== null && end >= start ? toMillis(end - start) : null,
      applicationData: { client: { ...this.appData.client }, server: { ...this.appData.server } },
      estimatedExchanges: this.exchanges,
      ...(this.alerts.length > 0 ? { alerts: this.alerts.map((a) => ({ ...a })) } : {}),
      ...(decryption === undefined ? {} : { decryption }),
    };
  }

  private alpnWhyNull(version: number | null): TlsAlpnUnknown {
    if (this.alpnOffered.length === 0) return 'none-offered';
    if (!this.serverHelloSeen) return 'no-server-hello';
    return isTls13(version) ? 'encrypted' : 'none-chosen';
  }

  /** How the session was resumed (null: a full handshake), or undefined when the capture does not tell. */
  private resumption(version: number | null): TlsResumption | null | undefined {
    const hello = this.server;
    if (hello === null) return undefined;
    if (isTls13(version)) return hello.pskSelected !== null ? 'psk' : null;
    const echoed =
      this.clientSessionId !== null &&
      this.clientSessionId.length > 0 &&
      sameBytes(this.clientSessionId, hello.sessionId);
    const abbreviated = this.abbreviated ?? (echoed ? true : null);
    if (abbreviated === null) return undefined;
    if (!abbreviated) return null;
    return this.ticketOffered ? 'ticket' : 'session-id';
  }

  /** When the handshake ended for the client (see TlsFacts.handshakeMs). */
  private handshakeEnd(version: number | null): Micros | null {
    const c = this.clientFinishedTs;
    const s = this.serverFinishedTs;
    if (isTls13(version) && c !== null) return c;
    if (c !== null && s !== null) return Math.max(c, s);
    return this.firstClientDataTs;
  }

  private problem(text: string): void {
    if (this.problems++ < MAX_PROBLEM_NOTES) this.ownNotes.push(text);
  }

  // TlsEvents (from the decoder)

  clientHello(hello: TlsClientHello, ts: Micros): void {
    // A second ClientHello answers a HelloRetryRequest: the offer and the start stay the first one's.
    if (this.clientHelloTs !== null) return;
    this.clientHelloTs = ts;
    this.clientRandom = hello.random;
    this.sni = hello.serverName;
    this.alpnOffered = hello.alpn.slice(0, 16);
    this.clientSessionId = hello.sessionId;
    this.ticketOffered = (hello.sessionTicketLength ?? 0) > 0;
    const offers13 = hello.supportedVersions.some((v) => isTls13(v));
    // A TLS 1.3 client sends a random legacy_session_id (RFC 8446 D.4): not an offer to resume.
    this.offered =
      hello.pskIdentities > 0
        ? 'psk'
        : this.ticketOffered
          ? 'ticket'
          : hello.sessionId.length > 0 && !offers13
            ? 'session-id'
            : null;
  }

  serverHello(hello: TlsServerHello): void {
    if (hello.helloRetryRequest) {
      this.helloRetry = true;
      return;
    }
    if (this.serverHelloSeen) return;
    this.serverHelloSeen = true;
    this.server = hello;
    if (this.keys !== undefined && this.clientRandom !== null) {
      const hellos = {
        clientRandom: this.clientRandom,
        serverRandom: hello.random,
        version: hello.version,
        cipherSuite: hello.cipherSuite,
      };
      this.decryption = new TlsDecryption(this.keys, hellos, this);
    }
  }

  encryptedRecord(side: Side, record: Uint8Array, ts: Micros): boolean {
    return this.decryption !== null && this.decryption.record(side, record, ts, this.guess) === 'taken';
  }

  handshake(side: Side, type: number | null): void {
    if (side !== 'server' || !this.serverHelloSeen || this.abbreviated !== null || type === null) return;
    if (FULL_HANDSHAKE_ONLY.has(type)) this.abbreviated = false;
    else if (type === TlsHandshakeType.NEW_SESSION_TICKET) this.abbreviated = true;
  }

  finished(side: Side, ts: Micros): void {
    if (side === 'client') this.clientFinishedTs ??= ts;
    else this.serverFinishedTs ??= ts;
  }

  changeCipherSpec(side: Side): void {
    // TLS 1.2: the server's ChangeCipherSpec with no Certificate before it ends an abbreviated handshake.
    if (side === 'server' && this.serverHelloSeen && this.abbreviated === null && !isTls13(this.server!.version))
      this.abbreviated = true;
  }

  // DecryptedEvents (from the keys)

  handshakeMessage(side: Side, type: number, body: Uint8Array, ts: Micros): void {
    if (type === TlsHandshakeType.ENCRYPTED_EXTENSIONS && side === 'server')
      this.alpnDecrypted = encryptedExtensionsAlpn(body) ?? null;
    this.handshakeSkipped(side, type, ts);
  }

  handshakeSkipped(side: Side, type: number, ts: Micros): void {
    if (type === TlsHandshakeType.FINISHED) this.finished(side, ts);
    else this.handshake(side, type);
  }

  decryptedAlert(side: Side, level: number, description: number, ts: Micros): void {
    this.alert(side, { level, description }, ts);
  }

  decryptedData(side: Side, plaintext: Uint8Array, recordLength: number, ts: Micros): void {
    this.applicationData(side, recordLength, ts);
    if (plaintext.length === 0 || this.innerRefused) return;
    const inner = (this.inner ??= this.innerFor(plaintext));
    if (inner === null) {
      this.innerRefused = true;
      return;
    }
    if (!inner.data(side, plaintext, ts)) this.innerRefused = true;
  }

  /** The stream for the decrypted data: by the ALPN chosen, else by what the first plaintext is. */
  private innerFor(plaintext: Uint8Array): Stream | null {
    const alpn = this.server?.alpn ?? this.alpnDecrypted;
    // HTTP/2 over TLS is negotiated by ALPN (RFC 9113 3.2): its facts say so, even when sniffed.
    const h2 = (): Stream => new Http2Stream({ start: 'alpn' });
    if (alpn === 'h2') return h2();
    if (alpn !== null && alpn.startsWith('http/1.')) return http1.create(this.context);
    const sniffed = sniffStream(INNER_STREAMS, plaintext);
    if (sniffed === null) return null;
    return sniffed.kind === http2 ? h2() : sniffed.kind.create(this.context);
  }

  alert(side: Side, alert: TlsAlert | null, ts: Micros): void {
    if (this.alerts.length >= MAX_ALERTS) return;
    this.alerts.push({
      from: side,
      at: toMillis(ts),
      level: alert === null ? null : alertLevelName(alert.level),
      description: alert === null ? null : alertDescriptionName(alert.description),
    });
  }

  applicationData(side: Side, length: number, ts: Micros): void {
    const count = this.appData[side];
    count.records++;
    count.bytes += length;
    if (side === 'client') this.firstClientDataTs ??= ts;
    // A server burst right after a client burst: one request/response exchange (an estimate).
    if (side === 'server' && this.lastDataSide === 'client') this.exchanges++;
    this.lastDataSide = side;
  }

  lost(side: Side, reason: string, atByte: number): void {
    this.problem(`TLS record framing of the ${side}'s bytes lost at byte ${atByte}: ${reason}`);
  }

  resynced(): void {
    this.resyncs++;
  }

  malformed(side: Side, what: string): void {
    this.problem(`TLS (${side}): ${what}`);
  }
}
