/**
 * HTTP/2 on a connection (RFC 9113): the frame decoder (decode/http2.ts, HPACK per direction) feeds
 * a count of streams. Cleartext h2c is recognised by the client connection preface (prior knowledge,
 * RFC 9113 3.3) or by a server whose first bytes are a SETTINGS frame; the HTTP/1.x stream hands its
 * bytes over after an h2c Upgrade and its 101 (streams/http1.ts); decrypted TLS records with ALPN h2
 * can feed the same class (`data(side, bytes, ts)`).
 *
 * What is counted, per connection:
 *  - requests: streams the client opened with HEADERS (a client stream id above the last one);
 *    after an Upgrade, stream 1 is the HTTP/1.1 request, counted by the HTTP/1.x stream;
 *  - responses: the first HEADERS of the server on such a stream with a final :status (200 or more;
 *    a block HPACK could not decode counts too, its status unknown), and its status code;
 *  - concurrent streams: a stream is open from the client's HEADERS until both ends sent END_STREAM
 *    or either sent RST_STREAM (RFC 9113 5.1: open and half-closed states); the peak is kept;
 *  - idle gaps: from the moment no stream is open to the next stream the client opens;
 *  - RST_STREAM per side and by error code, GOAWAY (who, last stream id, error code, debug data
 *    length), SETTINGS_MAX_CONCURRENT_STREAMS as each side announced it, streams pushed;
 *  - streams the server refused (RFC 9113 8.7: not processed, safe to retry): reset by it with
 *    REFUSED_STREAM, or opened by the client above the last stream id of a GOAWAY it sent (RFC 9113
 *    6.8: "streams ... with identifiers higher than the included last stream identifier" are not
 *    processed), each counted once.
 * Problems of framing or HPACK are notes (the first few, then how many).
 */
import {
  Http2Connection,
  SettingsParameter,
  http2ErrorName,
  looksLikeServerPreface,
  startsHttp2Preface,
} from '../../decode/http2.js';
import type { Http2Events, Http2HeaderBlock } from '../../decode/http2.js';
import type { ConnectionRecord, Http2Facts, Http2Goaway, Side } from '../../model/report.js';
import { toMillis, type Micros } from '../../model/time.js';
import { notProtocolNote, type Stream, type StreamKind } from './stream.js';

/** Streams followed at once; more are counted, not followed (their ends are not seen). */
export const MAX_TRACKED_STREAMS = 10_000;
/** GOAWAY frames listed in a record. */
const MAX_GOAWAYS_LISTED = 8;
/** Problems noted one by one; the rest are counted in one note. */
const MAX_PROBLEMS_NOTED = 3;

export const http2: StreamKind = {
  label: 'HTTP/2',
  sniff(payload: Uint8Array): Side | null {
    if (startsHttp2Preface(payload)) return 'client';
    if (looksLikeServerPreface(payload)) return 'server';
    return null;
  },
  create(): Stream {
    return new Http2Stream();
  },
};

/** A stream the client opened, until both ends closed it. */
interface OpenStream {
  clientEnded: boolean;
  serverEnded: boolean;
  /** Its final response came. */
  answered: boolean;
  /** The server refused it (REFUSED_STREAM, or above the last stream id of its GOAWAY): counted once. */
  refused: boolean;
}

export interface Http2StreamOptions {
  /** 'upgrade': the bytes follow an h2c Upgrade's 101; stream 1 is open (the HTTP/1.1 request). */
  start?: Http2Facts['start'];
}

/** The stream: the decoder, and the counter its events count into. */
export class Http2Stream implements Stream {
  readonly notes: string[];
  private readonly counter: Http2Counter;
  /** The decoder; null once the connection retired (its HPACK tables are most of its memory). */
  private h2: Http2Connection | null;
  /** What the decoder found, kept when it is let go. */
  private retired = { sawHttp2: false, notHttp2: false };

  constructor(options: Http2StreamOptions = {}) {
    this.counter = new Http2Counter(options.start ?? 'prior-knowledge');
    this.notes = this.counter.notes;
    this.h2 = new Http2Connection(this.counter);
    this.counter.connection = this.h2;
  }

  /** The bytes were HTTP/2: the client's preface came whole, or the server's first frame was SETTINGS. */
  get sawHttp2(): boolean {
    const h2 = this.h2;
    if (h2 === null) return this.retired.sawHttp2;
    return !h2.notHttp2 && (h2.prefaceSeen || h2.serverPrefaceSeen);
  }

  data(side: Side, bytes: Uint8Array, ts: Micros): boolean {
    const h2 = this.h2;
    if (h2 === null) return true;
    if (side === 'client') h2.client(bytes, ts);
    else h2.server(bytes, ts);
    // The client's bytes decide: without the preface this is not HTTP/2 (the server's alone may be
    // an HTTP/1.x answer to the preface: that is noted, the client's streams still count).
    return !this.notHttp2;
  }

  gap(side: Side, missing: number, ts: Micros): void {
    this.h2?.gap(side, missing, ts);
  }

  end(): void {
    // Frames say when streams end; a FIN adds nothing to count.
  }

  retire(): void {
    if (this.h2 === null) return;
    this.retired = { sawHttp2: this.sawHttp2, notHttp2: this.notHttp2 };
    this.h2 = null;
    this.counter.retire();
  }

  describe(record: ConnectionRecord): void {
    this.counter.describe(record);
    if (this.notHttp2) record.notes.push(notProtocolNote([http2]));
  }

  /** The client's bytes did not begin with the connection preface. */
  private get notHttp2(): boolean {
    const h2 = this.h2;
    if (h2 === null) return this.retired.notHttp2;
    return h2.lostOn('client') && !h2.prefaceSeen;
  }
}

/** Counts a connection's streams from the decoder's events (see the header), into a record. */
class Http2Counter implements Http2Events {
  readonly notes: string[] = [];
  /** The decoder feeding it (to tell a preface never seen from framing lost later). */
  connection: Http2Connection | null = null;
  private requests = 0;
  private responses = 0;
  private readonly statusCodes: number[] = [];
  private readonly idleGapsMs: number[] = [];
  private readonly open = new Map<number, OpenStream>();
  /** The highest stream id the client opened. */
  private lastClientStream = 0;
  /** Streams opened beyond MAX_TRACKED_STREAMS (not followed). */
  private untracked = 0;
  private peak = 0;
  /** When the last open stream closed (the start of an idle gap), or null while one is open or none was. */
  private idleSince: Micros | null = null;
  private pushed = 0;
  private readonly maxConcurrent: { client: number | null; server: number | null } = { client: null, server: null };
  private readonly rst = { client: 0, server: 0, codes: {} as Record<string, number> };
  private readonly goaways: Http2Goaway[] = [];
  private goawaysBeyond = 0;
  /** The lowest last stream id of the server's GOAWAYs (streams above it are not processed); null before one. */
  private serverGoawayLast: number | null = null;
  private readonly refused = { rstStream: 0, afterGoaway: 0 };
  private problems = 0;

  constructor(private readonly start: Http2Facts['start']) {
    if (start === 'upgrade') {
      // RFC 9113 3.2 (RFC 7540 3.2): the request that asked for the upgrade is stream 1, half-closed
      // by the client; its response comes in HTTP/2.
      this.lastClientStream = 1;
      this.openStream(1, true);
    }
  }

  retire(): void {
    this.open.clear();
    this.connection = null;
  }

  describe(record: ConnectionRecord): void {
    record.requests += this.requests;
    record.responses += this.responses;
    record.statusCodes = [...record.statusCodes, ...this.statusCodes];
    record.idleGapsMs = [...record.idleGapsMs, ...this.idleGapsMs];
    record.http2 = {
      start: this.start,
      pushed: this.pushed,
      peakConcurrentStreams: this.peak,
      maxConcurrentStreams: { ...this.maxConcurrent },
      rstStream: { client: this.rst.client, server: this.rst.server, codes: { ...this.rst.codes } },
      goaway: this.goaways.slice(),
      refused: { ...this.refused },
    };
    if (this.untracked > 0) {
      record.notes.push(
        `HTTP/2: ${this.untracked} streams beyond ${MAX_TRACKED_STREAMS} open at once were counted, not followed`,
      );
    }
    if (this.goawaysBeyond > 0) record.notes.push(`HTTP/2: ${this.goawaysBeyond} more GOAWAY frames not listed`);
    const beyond = this.problems - MAX_PROBLEMS_NOTED;
    if (beyond > 0) record.notes.push(`HTTP/2: ${beyond} more frame problem${beyond === 1 ? '' : 's'}`);
  }

  headers(side: Side, b: Http2HeaderBlock, ts: Micros): void {
    const id = b.streamId;
    if (side === 'client') {
      if (id > this.lastClientStream && id % 2 === 1) {
        // A new stream (client stream ids are odd and increase, RFC 9113 5.1.1).
        this.lastClientStream = id;
        this.requests++;
        if (this.open.size === 0 && this.idleSince !== null) {
          this.idleGapsMs.push(Math.max(0, toMillis(ts - this.idleSince)));
        }
        this.openStream(id, b.endStream);
        if (this.serverGoawayLast !== null && id > this.serverGoawayLast) this.refuse(id, 'afterGoaway');
      } else if (b.endStream) {
        // Trailers ending the client's side.
        this.ended(id, 'client', ts);
      }
      return;
    }
    const s = this.open.get(id);
    if (s !== undefined && !s.answered && (b.status === null || b.status >= 200)) {
      s.answered = true;
      this.responses++;
      if (b.status !== null) this.statusCodes.push(b.status);
    }
    if (b.endStream) this.ended(id, 'server', ts);
  }

  pushPromise(): void {
    this.pushed++;
  }

  data(side: Side, d: { streamId: number; endStream: boolean }, ts: Micros): void {
    if (d.endStream) this.ended(d.streamId, side, ts);
  }

  rstStream(side: Side, r: { streamId: number; errorCode: number }, ts: Micros): void {
    this.rst[side]++;
    const name = http2ErrorName(r.errorCode);
    this.rst.codes[name] = (this.rst.codes[name] ?? 0) + 1;
    // A client stream (odd id) the server refused.
    if (side === 'server' && name === 'REFUSED_STREAM' && r.streamId % 2 === 1) this.refuse(r.streamId, 'rstStream');
    if (this.open.has(r.streamId)) this.close(r.streamId, ts);
  }

  settings(side: Side, s: { params: { id: number; value: number }[] }): void {
    for (const p of s.params) if (p.id === SettingsParameter.MAX_CONCURRENT_STREAMS) this.maxConcurrent[side] = p.value;
  }

  goaway(side: Side, g: { lastStreamId: number; errorCode: number; debugLength: number }, ts: Micros): void {
    if (side === 'server' && (this.serverGoawayLast === null || g.lastStreamId < this.serverGoawayLast)) {
      this.serverGoawayLast = g.lastStreamId;
      // The streams already open above it will not be processed either.
      for (const id of this.open.keys()) if (id > g.lastStreamId && id % 2 === 1) this.refuse(id, 'afterGoaway');
    }
    if (this.goaways.length >= MAX_GOAWAYS_LISTED) {
      this.goawaysBeyond++;
      return;
    }
    this.goaways.push({
      by: side,
      lastStreamId: g.lastStreamId,
      errorCode: http2ErrorName(g.errorCode),
      debugDataLength: g.debugLength,
      at: toMillis(ts),
    });
  }

  problem(side: Side, p: { message: string; streamId: number }): void {
    if (++this.problems > MAX_PROBLEMS_NOTED) return;
    const on = p.streamId === 0 ? '' : ` on stream ${p.streamId}`;
    this.notes.push(`HTTP/2 from the ${side}${on}: ${p.message}`);
  }

  lost(side: Side, reason: string, atByte: number): void {
    // No client preface at all: not HTTP/2 (the stream's describe() says so).
    if (side === 'client' && this.connection?.prefaceSeen !== true) return;
    this.notes.push(`HTTP/2 framing of the ${side}'s bytes lost at byte ${atByte}: ${reason}`);
  }

  /** A client stream the server did not process, counted once whichever way it was refused. */
  private refuse(id: number, how: 'rstStream' | 'afterGoaway'): void {
    const s = this.open.get(id);
    if (s !== undefined) {
      if (s.refused) return;
      s.refused = true;
    } else if (how === 'afterGoaway' || (this.serverGoawayLast !== null && id > this.serverGoawayLast)) {
      // Not followed (beyond MAX_TRACKED_STREAMS), or closed and counted already.
      return;
    }
    this.refused[how]++;
  }

  private openStream(id: number, clientEnded: boolean): void {
    if (this.open.size >= MAX_TRACKED_STREAMS) {
      this.untracked++;
      return;
    }
    this.open.set(id, { clientEnded, serverEnded: false, answered: false, refused: false });
    this.idleSince = null;
    if (this.open.size > this.peak) this.peak = this.open.size;
  }

  private ended(id: number, side: Side, ts: Micros): void {
    const s = this.open.get(id);
    if (s === undefined) return;
    if (side === 'client') s.clientEnded = true;
    else s.serverEnded = true;
    if (s.clientEnded && s.serverEnded) this.close(id, ts);
  }

  private close(id: number, ts: Micros): void {
    this.open.delete(id);
    if (this.open.size === 0) this.idleSince = ts;
  }
}
