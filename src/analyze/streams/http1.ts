/**
 * HTTP/1.x on a connection: the framer (decode/http1.ts) counts into the one HTTP counter
 * (analyze/http1-counter.ts). Bytes the capture did not hold (the snap length, lost packets) are
 * the framer's own job as long as it can tell where messages are: a head cut after its start line
 * still counts (a partial message) and the next start line of that side picks up. What a capture
 * adds to the framer's job:
 *  - resuming after loss: once bytes went missing where nothing of a message can be told (a whole
 *    head or more lost between messages, a start line cut before its method or status) the framer
 *    stops on that side; a later segment that starts with a request line
 *    (client) or a status line (server) is where a message begins. With a sequential client the other
 *    side is between messages then, so a new framer starts there and counting goes on into the same
 *    tally. This is what tshark does, segment by segment.
 *  - letting go: once the framer was told that both sides ended it can no longer count anything, and
 *    it is most of a connection's memory (a capture of short connections holds hundreds of thousands
 *    of them), so it is dropped; what it counted stays in the tally.
 *  - handing over after an h2c Upgrade (RFC 9113 3.2, as RFC 7540 3.2 defined it): after a 101 each
 *    switched side's bytes go to an HTTP/2 stream (streams/http2.ts), which counts the streams that
 *    follow; the Upgrade request is stream 1, its response comes in HTTP/2, so once the bytes showed
 *    HTTP/2 the 101 is an interim response and not counted as one. Bytes of any other protocol after a
 *    101 (a WebSocket) are not framed, as before.
 */
import { Http1Counter, type HttpTally } from '../http1-counter.js';
import { Http1Connection, looksLikeHttpRequest, looksLikeHttpResponse } from '../../decode/http1.js';
import type {
  CloseAsk,
  ConnectionRecord,
  Exchange,
  HttpEvidence,
  Side,
  UnansweredRequest,
} from '../../model/report.js';
import type { Micros } from '../../model/time.js';
import { Http2Stream } from './http2.js';
import { notProtocolNote, type Stream, type StreamContext, type StreamKind } from './stream.js';

/**
 * The analyzer reads request targets only to list exchanges (ConnectionRecord.exchanges): else the
 * framer need not build a string per request.
 */
const FRAMER_OPTIONS = { targets: false } as const;
const FRAMER_OPTIONS_TARGETS = { targets: true } as const;

/** Starts a message of that side: a request line from the client, a status line from the server. */
function startsMessage(side: Side, bytes: Uint8Array): boolean {
  return side === 'client' ? looksLikeHttpRequest(bytes) : looksLikeHttpResponse(bytes);
}

export const http1: StreamKind = {
  label: 'HTTP/1.x',
  sniff(payload: Uint8Array): Side | null {
    if (looksLikeHttpRequest(payload)) return 'client';
    if (looksLikeHttpResponse(payload)) return 'server';
    return null;
  },
  create(context: StreamContext): Stream {
    return new Http1Stream(context);
  },
};

/** 101 Switching Protocols (RFC 9110 15.2.2). */
const STATUS_SWITCHING_PROTOCOLS = 101;

/** The connection's one counter, which also hands the bytes after a protocol switch to the stream. */
class SwitchingCounter extends Http1Counter {
  constructor(
    tally: HttpTally,
    totals: HttpEvidence,
    private readonly stream: Http1Stream,
    listExchanges: boolean,
  ) {
    super(tally, totals, listExchanges);
  }

  override upgrade(side: Side): void {
    // Said in describe(), once the bytes after the switch showed which protocol it was.
    this.stream.switched(side);
  }

  opaque(side: Side, bytes: Uint8Array, ts: Micros): void {
    this.stream.afterSwitch(side, bytes, ts);
  }
}

/** The stream, and the tally its counter counts into (the record's HTTP fields until describe()). */
class Http1Stream implements Stream {
  requests = 0;
  responses = 0;
  /** Messages captured only in part (set by the counter on the first one). */
  partialRequests?: number;
  partialResponses?: number;
  readonly statusCodes: number[] = [];
  readonly idleGapsMs: number[] = [];
  readonly notes: string[] = [];
  // The counter's timed facts (optional fields of the record: copied only when present).
  lastResponseEndAt: number | undefined = undefined;
  busyAt: number[] | undefined = undefined;
  unanswered: UnansweredRequest[] | undefined = undefined;
  responseIncomplete: boolean | undefined = undefined;
  keepAliveTimeoutS: number | undefined = undefined;
  closeAsked: { client?: CloseAsk; server?: CloseAsk } | undefined = undefined;
  exchanges: Exchange[] | undefined = undefined;
  exchangesOmitted: number | undefined = undefined;
  private readonly framerOptions: { readonly targets: boolean };
  private readonly counter: Http1Counter;
  /** Null once both ends were told, or the connection retired (see the header). */
  private framer: Http1Connection | null;
  private clientEnded = false;
  private serverEnded = false;
  /** Framers started after a loss. */
  private resumes = 0;
  /**
   * The side that did not resume framing and has not been framed since: a gap on it lies before the
   * new start, so the new framer is not told. Null otherwise.
   */
  private freshSide: Side | null = null;
  /**
   * A framer let go found the bytes were not HTTP/1.x (its first request line was not one). Framing
   * may still resume after that, if a side had been lost before: the record then says both.
   */
  private notHttp = false;
  /** The sides that switched protocols (101 or CONNECT), and where their bytes go from then on. */
  private readonly switchedSides = { client: false, server: false };
  private switchedAfter: Http2Stream | null = null;

  constructor(context: StreamContext) {
    const exchanges = context.exchanges === true;
    this.framerOptions = exchanges ? FRAMER_OPTIONS_TARGETS : FRAMER_OPTIONS;
    this.counter = new SwitchingCounter(this, context.http, this, exchanges);
    this.framer = new Http1Connection(this.counter, this.framerOptions);
  }

  /** `side` switched protocols: from now on its bytes are the new protocol's (see the header). */
  switched(side: Side): void {
    this.switchedSides[side] = true;
    this.switchedAfter ??= new Http2Stream({ start: 'upgrade' });
  }

  /** Bytes of a side after its switch (from the framer, then from data()). */
  afterSwitch(side: Side, bytes: Uint8Array, ts: Micros): void {
    this.switchedAfter?.data(side, bytes, ts);
  }

  data(side: Side, bytes: Uint8Array, ts: Micros): boolean {
    if (this.switchedSides[side]) {
      this.afterSwitch(side, bytes, ts);
      return true;
    }
    // Let go: both ends were told, nothing can be counted any more.
    if (this.framer === null) return true;
    if (this.counter.framingLost && startsMessage(side, bytes)) this.resume(side);
    const framer = this.framer;
    if (side === this.freshSide) this.freshSide = null;
    if (side === 'client') framer.client(bytes, ts);
    else framer.server(bytes, ts);
    // Not HTTP/1.x (the first request line decides, see decode/http1.ts), and no resuming possible.
    return !framer.notHttp || this.counter.framingLost;
  }

  gap(side: Side, missing: number, ts: Micros): void {
    if (this.switchedSides[side]) return this.switchedAfter?.gap(side, missing, ts);
    if (side === this.freshSide) return;
    this.framer?.gap(side, missing, ts);
  }

  end(side: Side, ts: Micros): void {
    const framer = this.framer;
    if (framer === null) return;
    framer.end(side, ts);
    if (side === 'client') this.clientEnded = true;
    else this.serverEnded = true;
    // Both streams ended: the framer ignores anything fed to it from now on.
    if (this.clientEnded && this.serverEnded) this.letGo();
  }

  retire(): void {
    this.letGo();
    this.switchedAfter?.retire();
  }

  describe(record: ConnectionRecord): void {
    record.requests = this.requests;
    record.responses = this.responses;
    record.statusCodes = this.statusCodes.slice();
    record.idleGapsMs = this.idleGapsMs;
    if (this.partialRequests !== undefined) record.partialRequests = this.partialRequests;
    if (this.partialResponses !== undefined) record.partialResponses = this.partialResponses;
    if (this.lastResponseEndAt !== undefined) record.lastResponseEndAt = this.lastResponseEndAt;
    if (this.busyAt !== undefined) record.busyAt = this.busyAt.slice();
    if (this.unanswered !== undefined) record.unanswered = this.unanswered.slice();
    if (this.responseIncomplete === true) record.responseIncomplete = true;
    if (this.keepAliveTimeoutS !== undefined) record.keepAliveTimeoutS = this.keepAliveTimeoutS;
    if (this.closeAsked !== undefined) record.closeAsked = { ...this.closeAsked };
    if (this.exchanges !== undefined) record.exchanges = this.exchanges.map((x) => ({ ...x }));
    if (this.exchangesOmitted !== undefined) record.exchangesOmitted = this.exchangesOmitted;
    const n = this.resumes;
    if (n > 0) record.notes.push(`HTTP framing resumed ${n} time${n === 1 ? '' : 's'} at the next message start`);
    if (this.notHttp || this.framer?.notHttp === true) record.notes.push(notProtocolNote([http1]));
    this.describeSwitch(record);
  }

  /** After a 101 (or CONNECT): what the bytes were, and for h2c the HTTP/2 streams' counts. */
  private describeSwitch(record: ConnectionRecord): void {
    const h2 = this.switchedAfter;
    if (h2 === null) return;
    if (!h2.sawHttp2) {
      const by = this.switchedSides.server ? 'server' : 'client';
      record.notes.push(`protocol switched (upgrade by the ${by}); later bytes not framed`);
      return;
    }
    // The 101 was interim: stream 1's response comes in HTTP/2 (RFC 9113 3.2).
    const at = record.statusCodes.lastIndexOf(STATUS_SWITCHING_PROTOCOLS);
    if (at >= 0) {
      record.statusCodes.splice(at, 1);
      record.responses--;
    }
    record.notes.push('switched to HTTP/2 (h2c Upgrade)', ...h2.notes);
    h2.describe(record);
  }

  private letGo(): void {
    if (this.framer === null) return;
    this.notHttp ||= this.framer.notHttp;
    this.framer = null;
  }

  /** A message starts on `side` after framing was lost: a new framer from here (see the header). */
  private resume(side: Side): void {
    this.notHttp ||= this.framer!.notHttp;
    this.framer = new Http1Connection(this.counter, this.framerOptions);
    this.counter.resumed();
    this.clientEnded = false;
    this.serverEnded = false;
    this.resumes++;
    this.freshSide = side === 'client' ? 'server' : 'client';
  }
}
