/**
 * The one HTTP/1.x counter of a connection: requests, responses, status codes, idle gaps, when it was
 * busy (a request outstanding), who asked to close, and notes on framing lost or a protocol switch.
 * It is an Http1Events sink, so the framer (decode/http1.ts) feeds it in the capture analyzer
 * (analyze/streams/http1.ts) and in the proxy (observe/proxy.ts); the lab server's accounting
 * (observe/server-accounting.ts) feeds it the same events built from Node's request and response
 * objects.
 *
 * It counts into a tally (the connection's record, or the part of one a stream keeps) and adds the
 * close asks to totals shared by every connection of its observer: it allocates nothing of its own.
 */
import { ConnectionOption, connectionOptions } from '../decode/http1.js';
import type { Http1Events, HttpRequestInfo, HttpResponseInfo } from '../decode/http1.js';
import { MAX_EXCHANGES_LISTED } from '../model/report.js';
import type { CloseAsk, ConnectionRecord, Exchange, HttpEvidence, Side, UnansweredRequest } from '../model/report.js';
import { toMillis, type Micros } from '../model/time.js';

/**
 * What the counter counts into: these fields of a connection record (`partialRequests` and
 * `partialResponses` are set on the first message a capture held only in part).
 */
export type HttpTally = Pick<
  ConnectionRecord,
  | 'requests'
  | 'responses'
  | 'statusCodes'
  | 'idleGapsMs'
  | 'notes'
  | 'lastResponseEndAt'
  | 'busyAt'
  | 'unanswered'
  | 'responseIncomplete'
  | 'keepAliveTimeoutS'
  | 'closeAsked'
  | 'partialRequests'
  | 'partialResponses'
  | 'exchanges'
  | 'exchangesOmitted'
>;

/** Unanswered requests listed in a record: enough to name the one a race lost (pipelining rarely goes deeper). */
const MAX_UNANSWERED_LISTED = 8;

/** How a message that does not keep its connection alive asked to close it (see CloseAsk). */
function closeAsk(m: { version: string; connectionHeader: string | null }): CloseAsk {
  if ((connectionOptions(m.connectionHeader) & ConnectionOption.CLOSE) !== 0) return 'connection-close';
  return m.version === '1.0' ? 'http/1.0' : 'framing';
}

export class Http1Counter implements Http1Events {
  /** End of the last final response (when its body was complete), to measure the idle gap before the next request. */
  private lastResponseEnd: Micros | null = null;
  /**
   * Framing was given up on a side (`lost`), since the last `resumed()`: the capture analyzer starts
   * a new framer at the next message start (see analyze/streams/http1.ts).
   */
  framingLost = false;
  /** Each `lost` is noted, until framing resumed once: from then on the resume note sums them up. */
  private noteLosses = true;
  /** Requests awaiting their response, oldest first (the first MAX_UNANSWERED_LISTED), and how many more. */
  private pending: UnansweredRequest[] = [];
  private pendingBeyond = 0;
  /** Server framing was lost: which request a response answers is unknown until framing resumes. */
  private pairingLost = false;
  /**
   * Requests whose response has not ended, for `busyAt`: a busy period starts when it leaves 0 and
   * ends when it comes back to 0 (pipelined requests share one period). -1 once framing was lost on
   * either side: which bytes were requests is unknown, so `busyAt` is dropped (see lost()).
   */
  private outstanding = 0;
  /**
   * With `listExchanges`: the requests answered so far (the index of the next exchange a response
   * answers), the exchange whose response is being read, and whether pairing still holds (lost for
   * good once the server's framing was: which request a response answers is unknown from there).
   */
  private answered = 0;
  private answering: Exchange | null = null;
  private pairing = true;

  constructor(
    private readonly tally: HttpTally,
    /** Messages that asked to close the connection, over all connections of the observer. */
    private readonly totals: HttpEvidence,
    /** List each request and its response in `tally.exchanges` (the first MAX_EXCHANGES_LISTED). */
    private readonly listExchanges = false,
  ) {}

  request(r: HttpRequestInfo): void {
    const tally = this.tally;
    tally.requests++;
    if (r.cut === true) tally.partialRequests = (tally.partialRequests ?? 0) + 1;
    if (this.lastResponseEnd !== null) tally.idleGapsMs.push(Math.max(0, toMillis(r.ts - this.lastResponseEnd)));
    if (this.outstanding >= 0 && this.outstanding++ === 0) (tally.busyAt ??= []).push(toMillis(r.ts));
    if (!r.keepAlive) {
      this.totals.clientClose++;
      this.asked('client', r);
    }
    if (this.listExchanges) this.listRequest(r);
    if (this.pairingLost) return;
    if (this.pending.length < MAX_UNANSWERED_LISTED) this.pending.push({ method: r.method, at: toMillis(r.ts) });
    else this.pendingBeyond++;
    tally.unanswered = this.pending;
  }

  response(r: HttpResponseInfo): void {
    // An interim response (1xx but 101) is followed by the final one, which counts.
    if (r.informational) return;
    const tally = this.tally;
    tally.responses++;
    tally.statusCodes.push(r.status);
    if (r.cut === true) {
      tally.partialResponses = (tally.partialResponses ?? 0) + 1;
      // Its end comes later, if ever (see decode/http1.ts): until then no gap is measured from an earlier one.
      this.lastResponseEnd = null;
    }
    if (!r.keepAlive) {
      this.totals.serverClose++;
      this.asked('server', r);
    }
    if (r.keepAliveTimeout !== undefined && r.keepAliveTimeout !== null) tally.keepAliveTimeoutS = r.keepAliveTimeout;
    if (this.listExchanges) this.answer(r.status);
    if (this.pendingBeyond > 0) this.pendingBeyond--;
    else if (this.pending.length > 0) this.pending.shift();
    if (this.pending.length === 0) tally.unanswered = undefined;
    tally.responseIncomplete = true;
  }

  responseEnd(_r: HttpResponseInfo, ts: Micros): void {
    this.lastResponseEnd = ts;
    this.tally.lastResponseEndAt = toMillis(ts);
    if (this.answering !== null) {
      this.answering.end = toMillis(ts);
      this.answering = null;
    }
    // A response without a request seen (a capture that began mid-stream) ends no busy period.
    if (this.outstanding > 0 && --this.outstanding === 0) this.tally.busyAt!.push(toMillis(ts));
    this.tally.responseIncomplete = undefined;
  }

  private listRequest(r: HttpRequestInfo): void {
    const tally = this.tally;
    const list = (tally.exchanges ??= []);
    if (list.length < MAX_EXCHANGES_LISTED)
      list.push({ at: toMillis(r.ts), end: null, method: r.method, path: r.target, status: null });
    else tally.exchangesOmitted = (tally.exchangesOmitted ?? 0) + 1;
  }

  /** A final response: it answers the oldest request not answered yet (HTTP/1.x answers in order). */
  private answer(status: number): void {
    this.answering = null;
    // A response before any request seen (a capture begun mid-stream) answers none listed.
    if (!this.pairing || this.answered >= this.tally.requests) return;
    const exchange = this.tally.exchanges?.[this.answered++];
    if (exchange === undefined) return;
    exchange.status = status;
    this.answering = exchange;
  }

  /** The first message of `side` that asked to close the connection. */
  private asked(side: Side, m: { version: string; connectionHeader: string | null }): void {
    const asked = (this.tally.closeAsked ??= {});
    asked[side] ??= closeAsk(m);
  }

  lost(side: Side, reason: string, atByte: number): void {
    this.framingLost = true;
    // Busy periods with messages missing would claim idle times that were not: none rather than wrong.
    this.outstanding = -1;
    this.tally.busyAt = undefined;
    if (side === 'server') {
      // Which responses came is unknown from here: claim no request unanswered, no body cut.
      this.pairingLost = true;
      this.pairing = false;
      this.answering = null;
      this.pending = [];
      this.pendingBeyond = 0;
      this.tally.unanswered = undefined;
      this.tally.responseIncomplete = undefined;
    }
    if (this.noteLosses) this.tally.notes.push(`HTTP framing of the ${side}'s bytes lost at byte ${atByte}: ${reason}`);
  }

  /** A message whose head was whole lost bytes of its body (decode/http1.ts `cut`). */
  cut(side: Side): void {
    const tally = this.tally;
    if (side === 'client') tally.partialRequests = (tally.partialRequests ?? 0) + 1;
    else tally.partialResponses = (tally.partialResponses ?? 0) + 1;
  }

  upgrade(side: Side): void {
    this.tally.notes.push(`protocol switched (upgrade by the ${side}); later bytes not framed`);
  }

  /** A new framer took over after a loss (at a message start): counting goes on into the same tally. */
  resumed(): void {
    this.framingLost = false;
    this.noteLosses = false;
    this.pairingLost = false;
  }
}
