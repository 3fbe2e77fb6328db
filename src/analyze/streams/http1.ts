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
 */
import { Http1Counter } from '../http1-counter.js';
import { Http1Connection, looksLikeHttpRequest, looksLikeHttpResponse } from '../../decode/http1.js';
import type { CloseAsk, ConnectionRecord, Side, UnansweredRequest } from '../../model/report.js';
import type { Micros } from '../../model/time.js';
import { notProtocolNote, type Stream, type StreamContext, type StreamKind } from './stream.js';

/** The analyzer never reads request targets: the framer need not build a string per request. */
const FRAMER_OPTIONS = { targets: false } as const;

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

  constructor(context: StreamContext) {
    this.counter = new Http1Counter(this, context.http);
    this.framer = new Http1Connection(this.counter, FRAMER_OPTIONS);
  }

  data(side: Side, bytes: Uint8Array, ts: Micros): boolean {
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
    const n = this.resumes;
    if (n > 0) record.notes.push(`HTTP framing resumed ${n} time${n === 1 ? '' : 's'} at the next message start`);
    if (this.notHttp || this.framer?.notHttp === true) record.notes.push(notProtocolNote([http1]));
  }

  private letGo(): void {
    if (this.framer === null) return;
    this.notHttp ||= this.framer.notHttp;
    this.framer = null;
  }

  /** A message starts on `side` after framing was lost: a new framer from here (see the header). */
  private resume(side: Side): void {
    this.notHttp ||= this.framer!.notHttp;
    this.framer = new Http1Connection(this.counter, FRAMER_OPTIONS);
    this.counter.resumed();
    this.clientEnded = false;
    this.serverEnded = false;
    this.resumes++;
    this.freshSide = side === 'client' ? 'server' : 'client';
  }
}
