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
 * Resumption (RFC 8446 2.2, RFC 5246 7.3, RFC 5077 3.1):
 *  - TLS 1.3: the ServerHello selects one of the client's pre-shared keys.
 *  - TLS 1.2 and below: the abbreviated handshake, where the server goes from its ServerHello straight
 *    to NewSessionTicket or ChangeCipherSpec with no Certificate (nor ServerKeyExchange, nor
 *    ServerHelloDone); the echo of the client's non-empty session id says so already.
 */
import {
  TlsConnection,
  TlsHandshakeType,
  alertDescriptionName,
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
  Side,
  TlsAlertFact,
  TlsAlpnUnknown,
  TlsFacts,
  TlsRecordCount,
  TlsResumption,
  Totals,
} from '../../model/report.js';
import { toMillis, type Micros } from '../../model/time.js';
import { notProtocolNote, type Stream, type StreamKind } from './stream.js';

/** What the record says of requests while the traffic cannot be decrypted. */
export const REQUESTS_UNKNOWN_NOTE = 'requests unknown without the TLS keys';

/**
 * The one rule for "are this connection's requests known?": not when it carried TLS read without the
 * keys (its `requests` stay 0, which means "not counted", not "none"). Renderers and expectations ask
 * this, never `requests === 0`.
 */
export function requestsUnknown(r: ConnectionRecord): boolean {
  return r.tls !== undefined;
}

/** How many of the connections in `t` have their requests unknown (requestsUnknown, counted in the totals). */
export function connectionsWithRequestsUnknown(t: Totals): number {
  return t.tls?.connections ?? 0;
}
/** Alerts kept per connection (a connection sends one or two; a broken peer could send many). */
const MAX_ALERTS = 8;
/** Notes of framing problems kept per connection; the rest are counted. */
const MAX_PROBLEM_NOTES = 4;

export const tls: StreamKind = {
  label: 'TLS',
  sniff: sniffTls,
  create(): Stream {
    return new TlsStream();
  },
};

/** Server handshake messages that only a full handshake sends (RFC 5246 7.3, figure 1). */
const FULL_HANDSHAKE_ONLY: ReadonlySet<number> = new Set([
  TlsHandshakeType.CERTIFICATE,
  TlsHandshakeType.SERVER_KEY_EXCHANGE,
  TlsHandshakeType.CERTIFICATE_REQUEST,
  TlsHandshakeType.SERVER_HELLO_DONE,
]);

class TlsStream implements Stream, TlsEvents {
  readonly notes: string[] = [];
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

  constructor() {
    this.decoder = new TlsConnection(this);
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

  end(side: Side): void {
    if (side === 'client') this.clientEnded = true;
    else this.serverEnded = true;
    // Nothing more can come: the decoder's buffers go, the facts stay.
    if (this.clientEnded && this.serverEnded) this.decoder = null;
  }

  retire(): void {
    this.decoder = null;
  }

  describe(record: ConnectionRecord): void {
    if (this.notTls) {
      record.notes.push(notProtocolNote([tls]));
      return;
    }
    record.tls = this.facts();
    const n = this.resyncs;
    if (n > 0) record.notes.push(`TLS record framing picked up again ${n} time${n === 1 ? '' : 's'}`);
    const more = this.problems - MAX_PROBLEM_NOTES;
    if (more > 0) record.notes.push(`${more} more TLS decoding problem${more === 1 ? '' : 's'}`);
    record.notes.push(REQUESTS_UNKNOWN_NOTE);
  }

  /** The facts, in the order of the schema (model/report.ts); optional ones only when they apply. */
  private facts(): TlsFacts {
    const hello = this.server;
    const version = hello?.version ?? null;
    const alpnChosen = hello?.alpn ?? null;
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
    if (this.problems++ < MAX_PROBLEM_NOTES) this.notes.push(text);
  }

  // TlsEvents (from the decoder)

  clientHello(hello: TlsClientHello, ts: Micros): void {
    // A second ClientHello answers a HelloRetryRequest: the offer and the start stay the first one's.
    if (this.clientHelloTs !== null) return;
    this.clientHelloTs = ts;
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
