/**
 * HTTP/1.x message framer: counts the requests and responses on ONE TCP connection from its two
 * reassembled byte streams, fed as they arrive in chunks split anywhere. Pure (no I/O), streaming,
 * bounded in memory, and it never throws on any input.
 *
 * Specs:
 *  - RFC 9112 "HTTP/1.1", https://www.rfc-editor.org/rfc/rfc9112
 *    2.2 parsing robustness (leading empty lines, bare LF), 3 request line, 4 status line, 5 field
 *    lines, 6 message body (6.1 Transfer-Encoding, 6.3 "Message Body Length": the order of
 *    precedence implemented by `requestHead`/`responseHead`), 7.1 chunked coding, 9.3 persistence.
 *  - RFC 9110 "HTTP Semantics", https://www.rfc-editor.org/rfc/rfc9110
 *    5.6.1 lists, 5.6.2 tokens, 7.6.1 Connection, 7.8 Upgrade, 8.6 Content-Length, 9.3.2 HEAD,
 *    9.3.6 CONNECT, 15.2 1xx, 15.2.2 101, 15.3.5 204, 15.4.5 304.
 *
 * Speed: only header bytes are examined, a line at a time (a byte loop to the LF, then one pass over
 * the field name; values are looked at only for the four fields that matter); bodies are skipped by
 * counting, never copied or scanned; no regular expressions. Bytes are copied only when a line is
 * split across chunks. Strings are built only for the request target (unless `targets: false`),
 * uncommon methods and uncommon Connection values.
 *
 * Memory: a line split across chunks is kept in a buffer that grows up to `maxHeadBytes`; a head
 * (or a trailer section, or a chunk-size line) larger than that loses framing for that direction.
 * Client bytes sent while an Upgrade/CONNECT request awaits its answer are held up to `maxHeadBytes`
 * (instead of a line buffer); requests awaiting a response are remembered up to `maxPendingRequests`.
 *
 * Decisions an observer has to make, where a server would just answer 400:
 *  - Lenient as RFC 9112 2.2 allows: bare LF ends a line, empty lines before a start line are
 *    skipped, whitespace-preceded lines (obs-fold) are ignored, the reason phrase may be missing.
 *  - The first request line decides `notHttp` (judged from its first bytes, not only when it ends);
 *    anything malformed after that loses framing for that direction only (`lost`), never both.
 *  - A head whose framing is invalid (bad Content-Length, request Transfer-Encoding not ending in
 *    chunked) is still counted and reported, then framing is lost after it.
 *  - Transfer-Encoding in HTTP/1.0 is framed as given, but the message does not keep the connection
 *    alive (RFC 9112 6.1 obliges a close after it).
 *  - After an Upgrade or CONNECT request, client bytes are held until the answer: a switch makes them
 *    opaque, a refusal frames them as HTTP/1.x (with their own timestamps).
 *  - A final response with no request to pair (client bytes lost) is framed as if it answered a GET,
 *    and the next request is taken as already answered, so later pairs stay aligned.
 *  - Bytes a capture did not hold (`gap`, e.g. a snap length of 96 bytes keeps 30 bytes of each
 *    segment's payload on loopback) are counted through a body. A head cut after its start line (or
 *    far enough into it to tell the method, or the status) is still a message: it is reported with
 *    `cut` set, as tshark shows a cut frame's request. Its end is not known, so that side's next
 *    message is taken to start at the next chunk (a capture hands one segment per chunk) that begins
 *    with a start line, as keep-alive clients and servers write each message in segments of its own;
 *    never before the end of a body whose Content-Length was captured. A body's chunk framing cut
 *    away ends the message the same way. Nothing is counted of a message whose start was cut away.
 */

import { Buffer } from 'node:buffer';
import type { Side } from '../model/report.js';
import type { Micros } from '../model/time.js';

export interface HttpRequestInfo {
  /** The method token as sent (methods are case-sensitive, RFC 9110 9.1). */
  method: string;
  /** The request-target as sent (one char per byte, as far as captured); "" when the option `targets` is false. */
  target: string;
  /** "1.0", "1.1" (or "1.x" for a later minor version); "" when the capture cut the line before it. */
  version: '1.0' | '1.1' | string;
  /** Timestamp of the chunk that completed the request head. */
  ts: Micros;
  /**
   * Effective persistence (RFC 9112 9.3): HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
   * `Connection: keep-alive`; false when the framing obliges the server to close (RFC 9112 6.1:
   * Transfer-Encoding with Content-Length, or Transfer-Encoding in HTTP/1.0). For a `cut` head:
   * false only when the captured part of it asked to close.
   */
  keepAlive: boolean;
  /** The Connection field value (several fields joined with ", "), or null when absent. */
  connectionHeader: string | null;
  /**
   * The head was cut (a gap after its start line, or inside it once the method was told): the fields
   * after the cut, and the message's end, are not known. Absent where bytes cannot go missing.
   */
  cut?: boolean;
}

export interface HttpResponseInfo {
  status: number;
  version: string;
  /** Timestamp of the chunk that completed the response head. */
  ts: Micros;
  /** As for requests, and false when the body is delimited by the close of the connection. */
  keepAlive: boolean;
  connectionHeader: string | null;
  /** The request it answers, if known. */
  request: HttpRequestInfo | null;
  /** 1xx other than 101: an interim response, followed by the final one (RFC 9110 15.2). */
  informational: boolean;
  /**
   * As for requests: the head was cut after the status code. Its responseEnd comes when the next
   * request or response (or the server's FIN) shows it was over, at the time of its last bytes.
   */
  cut?: boolean;
  /**
   * The `timeout` parameter of its Keep-Alive field, in seconds (RFC 2068 19.7.1.1, kept by the
   * MDN-documented practice of nginx, Apache and Node): how long the server says it keeps an idle
   * connection. Null when absent or not a whole number; left out by event sources that cannot see it.
   */
  keepAliveTimeout?: number | null;
}

export interface Http1Events {
  /** The request head is complete. */
  request?(r: HttpRequestInfo): void;
  /** Its body is complete (right after `request` when it has none). */
  requestEnd?(ts: Micros): void;
  /** A response head is complete (also for 1xx). */
  response?(r: HttpResponseInfo): void;
  /** The final response's body is complete. */
  responseEnd?(r: HttpResponseInfo, ts: Micros): void;
  /** 101 Switching Protocols or a 2xx to CONNECT: framing stops, the rest of that side is opaque. */
  upgrade?(side: Side, ts: Micros): void;
  /**
   * Bytes of `side` after its switch, in order: the rest of the chunk the switch happened in, the
   * bytes the client sent while its Upgrade or CONNECT awaited the answer, then every chunk fed
   * later. For a caller that follows the new protocol (an h2c Upgrade: analyze/streams/http1.ts).
   * A view: read it during the call.
   */
  opaque?(side: Side, bytes: Uint8Array, ts: Micros): void;
  /**
   * Framing given up for that direction (malformed, too-large head, gap inside a head): nothing more
   * is counted on it. `atByte` is the offset in that direction's stream (gaps included) of the
   * first byte that could not be framed. Not called for a connection found to be `notHttp`.
   */
  lost?(side: Side, reason: string, atByte: number): void;
  /**
   * Bytes of the current message of `side`, whose head was whole, were not captured (`gap`): its body
   * is seen only in part. Once per message. (A message whose head was cut comes with `cut` set instead.)
   */
  cut?(side: Side): void;
}

export interface Http1Options {
  /** Largest head (start line + fields), trailer section or chunk-size line, in bytes. */
  maxHeadBytes?: number;
  /**
   * Requests remembered while awaiting their response (pipelining). Beyond it, plain requests are
   * only counted (their responses framed with `request: null`); a HEAD/CONNECT/Upgrade one loses
   * server framing, since its response could not be framed with certainty.
   */
  maxPendingRequests?: number;
  /**
   * Build `HttpRequestInfo.target` (default true). A caller that never reads it (the analyzer counts
   * messages) passes false: `target` is then the empty string, and no string is built per request.
   */
  targets?: boolean;
}

/** 64 KiB: larger than the default limits of common servers (nginx 8 KiB lines, Node 16 KiB). */
export const DEFAULT_MAX_HEAD_BYTES = 64 * 1024;
export const DEFAULT_MAX_PENDING_REQUESTS = 1024;
/**
 * Longest method token accepted, so a sniff rejects long runs of letters. The longest method in the
 * IANA HTTP Method Registry (https://www.iana.org/assignments/http-methods) is 17 characters.
 */
export const MAX_METHOD_LENGTH = 32;

/** The connection options (RFC 9110 7.6.1) that decide persistence, as bits of one number. */
export const ConnectionOption = {
  /** "close": the sender closes the connection after this message (RFC 9112 9.6). */
  CLOSE: 1,
  /** "keep-alive": an HTTP/1.0 sender asks to keep the connection (RFC 9112 appendix C.2.2). */
  KEEP_ALIVE: 2,
} as const;

/**
 * Is the connection persistent after a message of HTTP/1.`minor` whose Connection fields carry
 * `options` (ConnectionOption bits)? RFC 9112 9.3: "close" ends it whatever the version; otherwise
 * HTTP/1.1 (and later minor versions) persist, and HTTP/1.0 persists only with "keep-alive". The one
 * place this rule is written: the framer and the lab server's accounting both ask it.
 */
export function isPersistent(minor: number, options: number): boolean {
  if ((options & ConnectionOption.CLOSE) !== 0) return false;
  return minor >= 1 || (options & ConnectionOption.KEEP_ALIVE) !== 0;
}

/**
 * The ConnectionOption bits of Connection field values given as strings (a Node message's
 * `headers.connection`, a response's `getHeader('connection')`): parsed as the framer parses the
 * bytes of a head (list elements, optional whitespace, tokens in any case).
 */
export function connectionOptions(value: string | readonly string[] | undefined | null): number {
  if (value === undefined || value === null) return 0;
  let bits = 0;
  for (const field of typeof value === 'string' ? [value] : value) {
    const bytes = bytesOf(field);
    bits |= connectionOptionBits(bytes, 0, bytes.length);
  }
  return bits;
}

// Bytes (RFC 5234 appendix B.1 core rules, as used by RFC 9110/9112).
const HTAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const COMMA = 0x2c;
const COLON = 0x3a;
const SEMICOLON = 0x3b;
const DEL = 0x7f;
const DIGIT_0 = 0x30;
/** "HTTP/1." — the only major version framed here (RFC 9112 2.3); the minor digit follows it. */
const HTTP_1_PREFIX = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e];
/** "HTTP/": the start of every HTTP-version (RFC 9112 2.3). */
const HTTP_NAME = HTTP_1_PREFIX.slice(0, 5);
/** Length of "HTTP/1.1". */
const HTTP_VERSION_LENGTH = 8;
/** Length of "HTTP/1.1 200". */
const STATUS_LINE_MIN_LENGTH = HTTP_VERSION_LENGTH + 4;

/** tchar (RFC 9110 5.6.2): "!#$%&'*+-.^_`|~", DIGIT, ALPHA. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}
/** HEXDIG values, -1 for other bytes (chunk-size, RFC 9112 7.1). */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}

const bytesOf = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
// Field names we act on (compared case-insensitively, RFC 9110 5.1) and Connection options.
const NAME_CONNECTION = bytesOf('connection');
const NAME_CONTENT_LENGTH = bytesOf('content-length');
const NAME_TRANSFER_ENCODING = bytesOf('transfer-encoding');
const NAME_UPGRADE = bytesOf('upgrade');
const NAME_KEEP_ALIVE = bytesOf('keep-alive');
/** The Keep-Alive parameter that names the idle timeout in seconds ("timeout=5"). */
const PARAM_TIMEOUT = bytesOf('timeout');
const EQUALS = 0x3d;
const TOKEN_CLOSE = bytesOf('close');
const TOKEN_KEEP_ALIVE = bytesOf('keep-alive');
const TOKEN_CHUNKED = bytesOf('chunked');

/** Status codes with special framing (RFC 9110 section 15). */
const STATUS_SWITCHING_PROTOCOLS = 101;
const STATUS_NO_CONTENT = 204;
const STATUS_NOT_MODIFIED = 304;

// What a direction is doing.
/** Reading head lines (start line, fields). */
const ST_HEAD = 0;
/** Skipping a body of known length (`remaining`). */
const ST_BODY = 1;
/** Reading a chunk-size line. */
const ST_CHUNK_SIZE = 2;
/** Skipping chunk data (`remaining`). */
const ST_CHUNK_DATA = 3;
/** Expecting the CRLF after chunk data. */
const ST_CHUNK_CRLF = 4;
/** Reading the trailer section after the last chunk. */
const ST_TRAILERS = 5;
/** Response body delimited by the close of the connection. */
const ST_CLOSE_BODY = 6;
/** Client: holding bytes sent after an Upgrade/CONNECT request until its answer is known. */
const ST_WAIT_ANSWER = 7;
/** Switched protocols: the rest is opaque. */
const ST_OPAQUE = 8;
/** Framing lost, not HTTP, or the stream ended: ignore everything. */
const ST_STOPPED = 9;
/**
 * The current message's end was not captured (its head or its chunk framing was cut): the next one
 * starts at a chunk that begins with a start line, once `remaining` bytes (a body length known to be
 * left) went by.
 */
const ST_RESYNC = 10;

// Request kinds that change how the response is framed (kept in the pending queue).
const KIND_PLAIN = 0;
const KIND_HEAD = 1;
const KIND_CONNECT = 2;
const KIND_UPGRADE = 4;

/** Content-Length states besides a value >= 0. */
const CL_ABSENT = -1;
const CL_INVALID = -2;

/** Line buffers start this small and double up to maxHeadBytes; larger ones are dropped after use. */
const LINE_BUFFER_INITIAL = 256;
const LINE_BUFFER_KEEP = 4096;

interface HeldChunk {
  bytes: Uint8Array;
  ts: Micros;
}
/** `Direction.held` when nothing is held: shared, never pushed to (ST_WAIT_ANSWER starts a new array). */
const NO_HELD: HeldChunk[] = [];

/** Parse state of one direction. */
class Direction {
  state = ST_HEAD;
  /** end() was called. */
  ended = false;
  endTs = 0;
  /** Stream offset of the chunk being processed (bytes fed before it, gaps included). */
  pos = 0;
  /** Offset where the current head, trailer section or chunk-size line began. */
  blockStart = 0;
  /** Bytes of the current block in complete lines so far. */
  blockBytes = 0;
  /** The start of a line split across chunks. */
  line: Uint8Array | null = null;
  lineLength = 0;
  /** Body or chunk bytes still to come. */
  remaining = 0;
  /** ST_CHUNK_CRLF: the CR was seen. */
  sawCr = false;
  /** The start line of the current head has been read. */
  sawStartLine = false;
  /** Bytes of the current message were not captured (`cut` was reported). */
  cut = false;

  // Facts of the current head.
  minor = 0;
  status = 0;
  method = '';
  target = '';
  contentLength = CL_ABSENT;
  transferEncoding = false;
  chunked = false;
  connection: string | null = null;
  /** The ConnectionOption bits of its Connection fields. */
  options = 0;
  upgradeField = false;
  /** The Keep-Alive field's timeout=N (seconds), -1 when absent. */
  keepAliveTimeout = -1;

  /** Server: the final response whose body is being read (for responseEnd). */
  response: HttpResponseInfo | null = null;
  /**
   * Server, ST_RESYNC: the cut response whose end is looked for, and the time of its side's latest
   * bytes (captured or not): its end, once a request or another response shows it was over.
   */
  cutResponse: HttpResponseInfo | null = null;
  lastTs = 0;
  /** Client: the current request asks to switch protocols (Upgrade field or CONNECT). */
  asksSwitch = false;
  /** Client: switch to opaque when the current request body ends (101 came before it did). */
  switchAfterBody = false;
  /** Client, ST_WAIT_ANSWER: held chunks, their total size, where they start, a gap among them. */
  held: HeldChunk[] = NO_HELD;
  heldBytes = 0;
  heldStart = 0;
  heldGap = false;

  constructor(readonly side: Side) {}

  resetHead(): void {
    this.sawStartLine = false;
    this.cut = false;
    this.blockBytes = 0;
    this.contentLength = CL_ABSENT;
    this.transferEncoding = false;
    this.chunked = false;
    this.connection = null;
    this.options = 0;
    this.upgradeField = false;
    this.keepAliveTimeout = -1;
  }
}

export class Http1Connection {
  private readonly events: Http1Events;
  private readonly maxHeadBytes: number;
  private readonly maxPending: number;
  private readonly targets: boolean;
  private readonly c = new Direction('client');
  private readonly s = new Direction('server');
  /**
   * Requests awaiting their final response, oldest first, with their KIND_ bits: the oldest in
   * `first`/`firstKind` (most connections never have two at once), the others in arrays made when
   * a second one comes (pipelining); `pendingCount` in all.
   */
  private first: HttpRequestInfo | null = null;
  private firstKind = KIND_PLAIN;
  private later: HttpRequestInfo[] | null = null;
  private laterKinds: number[] | null = null;
  private pendingCount = 0;
  /** Plain requests beyond maxPendingRequests: counted, not remembered. */
  private overflow = 0;
  /** Final responses that came with no request to pair (client side lost or late). */
  private unpaired = 0;
  private sawRequestLine = false;
  private _notHttp = false;
  private _requests = 0;
  private _responses = 0;
  /** Replaced by an array of one at the first response: push() would make room for 17. */
  private _statusCodes: number[] = [];
  private readonly _incomplete = { client: false, server: false };

  constructor(events: Http1Events, options?: Http1Options) {
    this.events = events;
    this.maxHeadBytes = Math.max(1, Math.floor(options?.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES));
    this.maxPending = Math.max(1, Math.floor(options?.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS));
    this.targets = options?.targets !== false;
  }

  /** Requests whose head was complete. */
  get requests(): number {
    return this._requests;
  }
  /** Final (non-1xx, or 101) responses whose head was complete. */
  get responses(): number {
    return this._responses;
  }
  /** Status codes of the final responses, in order (the connection's own array: do not modify). */
  get statusCodes(): number[] {
    return this._statusCodes;
  }
  /** That side's stream ended (end()) in the middle of a message: a head, a body, a chunk. */
  get incomplete(): { readonly client: boolean; readonly server: boolean } {
    return this._incomplete;
  }
  /** The client stream does not start with an HTTP/1.x request line: nothing is framed. */
  get notHttp(): boolean {
    return this._notHttp;
  }
  /** Bytes held in internal buffers (split lines, bytes held while an upgrade is pending). */
  get bufferedBytes(): number {
    return (this.c.line?.length ?? 0) + (this.s.line?.length ?? 0) + this.c.heldBytes;
  }

  /** Bytes sent by the client (requests). */
  client(chunk: Uint8Array, ts: Micros): void {
    if (!this.c.ended && chunk.length > 0) this.process(this.c, chunk, ts);
  }

  /** Bytes sent by the server (responses). */
  server(chunk: Uint8Array, ts: Micros): void {
    if (!this.s.ended && chunk.length > 0) this.process(this.s, chunk, ts);
  }

  /**
   * `length` bytes are missing in that direction (capture snap length, lost packets): inside a body
   * they are counted (the message is `cut`); in a head whose start was captured, or in a body's chunk
   * framing, the message ends where the next start line begins a chunk (see the header); past the
   * end of a Content-Length body or between messages, framing is lost.
   */
  gap(side: Side, length: number, ts: Micros): void {
    const d = side === 'client' ? this.c : this.s;
    if (d.ended || !(length > 0)) return;
    switch (d.state) {
      case ST_BODY:
        this.bodyCut(d);
        if (length > d.remaining) {
          this.lose(d, 'bytes missing past the end of a body', d.pos + d.remaining);
        } else {
          d.remaining -= length;
          if (d.remaining === 0) this.dataDone(d, ts);
        }
        break;
      case ST_CHUNK_DATA:
        this.bodyCut(d);
        if (length > d.remaining) {
          this.resync(d, 0);
        } else {
          d.remaining -= length;
          if (d.remaining === 0) this.dataDone(d, ts);
        }
        break;
      case ST_CHUNK_SIZE:
      case ST_CHUNK_CRLF:
      case ST_TRAILERS:
        this.bodyCut(d);
        this.resync(d, 0);
        break;
      case ST_CLOSE_BODY:
        this.bodyCut(d);
        break;
      case ST_RESYNC:
        d.remaining -= Math.min(d.remaining, length);
        d.lastTs = ts;
        break;
      case ST_WAIT_ANSWER:
        if (d.heldStart < 0) d.heldStart = d.pos;
        d.heldGap = true;
        break;
      case ST_OPAQUE:
      case ST_STOPPED:
        break;
      default:
        if (this.headCut(d, ts)) d.remaining -= Math.min(d.remaining, length);
        else this.lose(d, `${length} bytes missing where a head or chunk framing was expected`, d.pos);
    }
    d.pos += length;
  }

  /**
   * That side sent FIN: completes a close-delimited response body; a message cut in the middle
   * marks that side incomplete. Bytes fed after it are ignored.
   */
  end(side: Side, ts: Micros): void {
    const d = side === 'client' ? this.c : this.s;
    if (d.ended) return;
    d.ended = true;
    d.endTs = ts;
    // A client holding bytes finishes once the answer (or the server's end) releases them.
    if (d.state !== ST_WAIT_ANSWER) this.finish(d, ts);
    if (d === this.s) this.release();
  }

  // ---------------------------------------------------------------------------------------------
  // The byte loop

  private process(d: Direction, chunk: Uint8Array, ts: number): void {
    const end = chunk.length;
    let i = 0;
    while (i < end) {
      switch (d.state) {
        case ST_HEAD:
        case ST_CHUNK_SIZE:
        case ST_TRAILERS:
          i = this.readLine(d, chunk, i, ts);
          break;
        case ST_BODY:
        case ST_CHUNK_DATA: {
          const n = Math.min(d.remaining, end - i);
          d.remaining -= n;
          i += n;
          if (d.remaining === 0) this.dataDone(d, ts);
          break;
        }
        case ST_CHUNK_CRLF: {
          // chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF (RFC 9112 7.1); bare LF tolerated (2.2).
          const b = chunk[i]!;
          if (b === LF) {
            i++;
            this.startBlock(d, ST_CHUNK_SIZE, i);
          } else if (b === CR && !d.sawCr) {
            d.sawCr = true;
            i++;
          } else {
            this.lose(d, 'no CRLF after chunk data', d.pos + i);
            i = end;
          }
          break;
        }
        case ST_WAIT_ANSWER:
          this.hold(d, chunk.subarray(i), ts, d.pos + i);
          i = end;
          break;
        case ST_RESYNC:
          // Only a chunk's first byte may begin the next message (see the header).
          if (i === 0 && d.remaining === 0 && this.startsMessage(d, chunk)) {
            this.cutResponseEnd();
            this.startBlock(d, ST_HEAD, 0);
          } else {
            d.remaining -= Math.min(d.remaining, end - i);
            d.lastTs = ts;
            i = end;
          }
          break;
        case ST_OPAQUE:
          this.events.opaque?.(d.side, i === 0 ? chunk : chunk.subarray(i), ts);
          i = end;
          break;
        default:
          // ST_CLOSE_BODY, ST_STOPPED: nothing to frame.
          i = end;
      }
    }
    d.pos += end;
  }

  /** ST_BODY or ST_CHUNK_DATA reached `remaining === 0`. */
  private dataDone(d: Direction, ts: number): void {
    if (d.state === ST_BODY) {
      this.messageEnd(d, ts);
    } else {
      d.state = ST_CHUNK_CRLF;
      d.sawCr = false;
    }
  }

  private startBlock(d: Direction, state: number, at: number): void {
    d.state = state;
    d.blockStart = d.pos + at;
    d.blockBytes = 0;
    d.lineLength = 0;
  }

  /**
   * Reads one line from `i` (up to LF) and hands it to onLine without its CR LF; a line split across
   * chunks is buffered. Returns where reading continues.
   */
  private readLine(d: Direction, chunk: Uint8Array, i: number, ts: number): number {
    // A byte loop: head lines are short, and a call to indexOf costs more than scanning them.
    const length = chunk.length;
    let lf = i;
    while (lf < length && chunk[lf] !== LF) lf++;
    if (lf === length) lf = -1;
    const stop = lf === -1 ? length : lf;
    if (d.blockBytes === 0 && d.lineLength === 0) d.blockStart = d.pos + i;
    const size = d.blockBytes + d.lineLength + (stop - i) + (lf === -1 ? 0 : 1);
    if (size > this.maxHeadBytes) {
      if (this.readingRequestLine(d) && this.sniffsBad(d, chunk, i, stop)) this.badRequestLine();
      else this.tooLarge(d);
      return chunk.length;
    }
    if (lf === -1) {
      this.append(d, chunk, i, stop);
      // Judge a request line before it ends (so "not HTTP" is known from the first bytes).
      if (this.readingRequestLine(d) && sniffRequestLine(d.line!, 0, d.lineLength) === SNIFF_BAD) this.badRequestLine();
      return chunk.length;
    }
    d.blockBytes = size;
    let buf = chunk;
    let start = i;
    let stopAt = lf;
    if (d.lineLength > 0) {
      this.append(d, chunk, i, lf);
      buf = d.line!;
      start = 0;
      stopAt = d.lineLength;
      d.lineLength = 0;
    }
    if (stopAt > start && buf[stopAt - 1] === CR) stopAt--;
    this.onLine(d, buf, start, stopAt, ts, lf + 1);
    if (d.line !== null && d.line.length > LINE_BUFFER_KEEP && d.lineLength === 0) d.line = null;
    return lf + 1;
  }

  /** `d` is the client, reading a request line. */
  private readingRequestLine(d: Direction): boolean {
    return d === this.c && !d.sawStartLine && d.state === ST_HEAD;
  }

  /** The first request line makes the connection notHttp; a later one loses client framing. */
  private badRequestLine(): void {
    if (this.sawRequestLine) this.lose(this.c, 'malformed request line', this.c.blockStart);
    else this.notHttpFound();
  }

  /**
   * The first maxHeadBytes of a request line (buffered part + chunk[i, stop)) are not a request line
   * prefix. Only those bytes count, so the verdict does not depend on how the line was split.
   */
  private sniffsBad(d: Direction, chunk: Uint8Array, i: number, stop: number): boolean {
    const room = this.maxHeadBytes - d.blockBytes - d.lineLength;
    if (d.lineLength === 0) return sniffRequestLine(chunk, i, Math.min(stop, i + room)) === SNIFF_BAD;
    this.append(d, chunk, i, Math.min(stop, i + room));
    return sniffRequestLine(d.line!, 0, d.lineLength) === SNIFF_BAD;
  }

  private append(d: Direction, chunk: Uint8Array, from: number, to: number): void {
    const need = d.lineLength + (to - from);
    let line = d.line;
    if (line === null || line.length < need) {
      let size = line === null ? LINE_BUFFER_INITIAL : line.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(Math.min(size, Math.max(need, this.maxHeadBytes)));
      if (line !== null) grown.set(line.subarray(0, d.lineLength));
      d.line = line = grown;
    }
    line.set(chunk.subarray(from, to), d.lineLength);
    d.lineLength = need;
  }

  private tooLarge(d: Direction): void {
    const what = d.state === ST_HEAD ? 'head' : d.state === ST_TRAILERS ? 'trailer section' : 'chunk-size line';
    this.lose(d, `${what} larger than ${this.maxHeadBytes} bytes`, d.blockStart);
  }

  /** One complete line [start, end) (CR LF removed); `next` is the chunk offset after its LF. */
  private onLine(d: Direction, buf: Uint8Array, start: number, end: number, ts: number, next: number): void {
    if (d.state === ST_CHUNK_SIZE) {
      this.chunkSizeLine(d, buf, start, end, next);
      return;
    }
    if (start === end) {
      // The empty line.
      if (d.state === ST_TRAILERS) {
        this.messageEnd(d, ts);
      } else if (!d.sawStartLine) {
        // Empty lines before a start line are ignored (RFC 9112 2.2).
        d.blockBytes = 0;
      } else if (d === this.c) {
        this.requestHead(ts, next);
      } else {
        this.responseHead(ts, next);
      }
      return;
    }
    if (d.state === ST_TRAILERS) return; // trailer fields do not change framing
    if (!d.sawStartLine) {
      d.sawStartLine = true;
      if (d === this.c) {
        if (!this.requestLine(buf, start, end)) this.badRequestLine();
      } else if (!this.statusLine(buf, start, end)) {
        this.lose(d, 'malformed status line', d.blockStart);
      }
      return;
    }
    if (!this.fieldLine(d, buf, start, end)) this.lose(d, 'malformed header field', d.blockStart);
  }

  // ---------------------------------------------------------------------------------------------
  // Heads

  /** request-line = method SP request-target SP HTTP-version (RFC 9112 3). */
  private requestLine(buf: Uint8Array, start: number, end: number): boolean {
    const d = this.c;
    if (sniffRequestLine(buf, start, end) !== SNIFF_LINE) return false;
    let m = start;
    while (buf[m] !== SP) m++;
    let t = m + 1;
    while (buf[t] !== SP) t++;
    d.method = methodString(buf, start, m);
    d.target = this.targets ? latin1(buf, m + 1, t) : '';
    d.minor = buf[t + 1 + HTTP_1_PREFIX.length]! - DIGIT_0;
    this.sawRequestLine = true;
    return true;
  }

  /** status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4); a missing SP tolerated. */
  private statusLine(buf: Uint8Array, start: number, end: number): boolean {
    const d = this.s;
    if (end - start < STATUS_LINE_MIN_LENGTH) return false;
    for (let k = 0; k < HTTP_1_PREFIX.length; k++) if (buf[start + k] !== HTTP_1_PREFIX[k]) return false;
    const minor = buf[start + HTTP_1_PREFIX.length]! - DIGIT_0;
    if (minor < 0 || minor > 9 || buf[start + HTTP_VERSION_LENGTH] !== SP) return false;
    let status = 0;
    for (let k = start + HTTP_VERSION_LENGTH + 1; k < start + STATUS_LINE_MIN_LENGTH; k++) {
      const digit = buf[k]! - DIGIT_0;
      if (digit < 0 || digit > 9) return false;
      status = status * 10 + digit;
    }
    if (status < 100 || (end > start + STATUS_LINE_MIN_LENGTH && buf[start + STATUS_LINE_MIN_LENGTH] !== SP))
      return false;
    d.minor = minor;
    d.status = status;
    return true;
  }

  /**
   * field-line = field-name ":" OWS field-value OWS (RFC 9112 5). Only Content-Length,
   * Transfer-Encoding, Connection, Upgrade and Keep-Alive are looked at; other fields are only checked for a
   * colon. A line starting with whitespace (obs-fold, or before the first field) is ignored, as
   * RFC 9112 2.2 and 5.2 allow. Returns false when malformed.
   */
  private fieldLine(d: Direction, buf: Uint8Array, start: number, end: number): boolean {
    const first = buf[start]!;
    if (first === SP || first === HTAB) return true;
    let colon = start;
    while (colon < end && TCHAR[buf[colon]!] === 1) colon++;
    if (colon === start || colon === end || buf[colon] !== COLON) return false;
    // Most fields are none of ours: the length and the first letter rule them out without a compare.
    const nameLength = colon - start;
    const lower = first | 0x20;
    let name: number;
    if (
      nameLength === NAME_CONNECTION.length &&
      lower === NAME_CONNECTION[0] &&
      equalsLower(buf, start, NAME_CONNECTION)
    )
      name = 1;
    else if (
      nameLength === NAME_CONTENT_LENGTH.length &&
      lower === NAME_CONTENT_LENGTH[0] &&
      equalsLower(buf, start, NAME_CONTENT_LENGTH)
    )
      name = 2;
    else if (
      nameLength === NAME_TRANSFER_ENCODING.length &&
      lower === NAME_TRANSFER_ENCODING[0] &&
      equalsLower(buf, start, NAME_TRANSFER_ENCODING)
    )
      name = 3;
    else if (nameLength === NAME_UPGRADE.length && lower === NAME_UPGRADE[0] && equalsLower(buf, start, NAME_UPGRADE)) {
      d.upgradeField = true;
      return true;
    } else if (
      nameLength === NAME_KEEP_ALIVE.length &&
      lower === NAME_KEEP_ALIVE[0] &&
      equalsLower(buf, start, NAME_KEEP_ALIVE)
    ) {
      d.keepAliveTimeout = keepAliveTimeout(buf, colon + 1, end);
      return true;
    } else return true;
    let vs = colon + 1;
    let ve = end;
    while (vs < ve && isOws(buf[vs]!)) vs++;
    while (ve > vs && isOws(buf[ve - 1]!)) ve--;
    if (name === 1) {
      const value = connectionValue(buf, vs, ve);
      d.connection = d.connection === null ? value : `${d.connection}, ${value}`;
      d.options |= connectionOptionBits(buf, vs, ve);
    } else if (name === 2) {
      contentLength(d, buf, vs, ve);
    } else {
      transferEncoding(d, buf, vs, ve);
    }
    return true;
  }

  /** The request head is complete at chunk offset `next`; or `cut` (see headCut). */
  private requestHead(ts: number, next: number, cut = false): void {
    const d = this.c;
    const framingForcesClose = d.transferEncoding && (d.contentLength !== CL_ABSENT || d.minor === 0);
    const info: HttpRequestInfo = {
      method: d.method,
      target: d.target,
      version: versionString(d.minor),
      ts,
      keepAlive: cut
        ? (d.options & ConnectionOption.CLOSE) === 0
        : isPersistent(d.minor, d.options) && !framingForcesClose,
      connectionHeader: d.connection,
      cut,
    };
    const kind =
      (d.method === 'HEAD' ? KIND_HEAD : 0) |
      (d.method === 'CONNECT' ? KIND_CONNECT : 0) |
      (d.upgradeField ? KIND_UPGRADE : 0);
    d.asksSwitch = (kind & (KIND_CONNECT | KIND_UPGRADE)) !== 0;
    d.switchAfterBody = false;
    this._requests++;
    this.enqueue(info, kind);
    // A sequential client asks again once the answer is over: a cut answer ended with its last bytes.
    this.cutResponseEnd();
    this.events.request?.(info);
    if (cut) {
      // Its body (if any) follows the rest of the head: at least its Content-Length, when captured.
      this.resync(d, d.transferEncoding || d.contentLength < 0 ? 0 : d.contentLength);
      return;
    }
    // RFC 9112 6.3, for requests: chunked if Transfer-Encoding ends in chunked (it overrides
    // Content-Length); any other Transfer-Encoding cannot be framed (the server answers 400 and
    // closes); else Content-Length; else no body.
    if (d.transferEncoding) {
      if (!d.chunked) {
        this.lose(d, 'request Transfer-Encoding does not end in chunked', d.pos + next);
        return;
      }
      this.startBlock(d, ST_CHUNK_SIZE, next);
    } else if (d.contentLength === CL_INVALID) {
      this.lose(d, 'invalid Content-Length', d.pos + next);
    } else if (d.contentLength > 0) {
      d.state = ST_BODY;
      d.remaining = d.contentLength;
    } else {
      this.messageEnd(d, ts);
    }
  }

  /** The response head is complete at chunk offset `next`; or `cut` (see headCut). */
  private responseHead(ts: number, next: number, cut = false): void {
    const d = this.s;
    const status = d.status;
    const informational = status < 200 && status !== STATUS_SWITCHING_PROTOCOLS;
    const info: HttpResponseInfo = {
      status,
      version: versionString(d.minor),
      ts,
      keepAlive: cut
        ? (d.options & ConnectionOption.CLOSE) === 0
        : isPersistent(d.minor, d.options) && !(d.transferEncoding && d.minor === 0),
      connectionHeader: d.connection,
      request: informational ? this.first : null,
      informational,
      cut,
      keepAliveTimeout: d.keepAliveTimeout < 0 ? null : d.keepAliveTimeout,
    };
    if (informational) {
      // Interim: the final response follows, same request (RFC 9110 15.2).
      this.events.response?.(info);
      if (cut) {
        this.resync(d, 0);
        return;
      }
      this.startBlock(d, ST_HEAD, next);
      d.resetHead();
      return;
    }
    let kind = KIND_PLAIN;
    if (this.pendingCount > 0) {
      info.request = this.first;
      kind = this.firstKind;
      this.dequeue();
    } else if (this.overflow > 0) {
      this.overflow--;
    } else {
      this.unpaired++;
    }
    this._responses++;
    if (this._statusCodes.length === 0) this._statusCodes = [status];
    else this._statusCodes.push(status);
    d.response = info;

    const isSuccess = status >= 200 && status < 300;
    if (status === STATUS_SWITCHING_PROTOCOLS || ((kind & KIND_CONNECT) !== 0 && isSuccess)) {
      // The connection becomes a tunnel or another protocol right after this head (RFC 9110 7.8, 9.3.6).
      this.events.response?.(info);
      this.events.responseEnd?.(info, ts);
      d.state = ST_OPAQUE;
      d.response = null;
      this.events.upgrade?.('server', ts);
      this.switchClient(ts);
      return;
    }
    // RFC 9112 6.3, for responses: none after HEAD, 204, 304 (1xx handled above); chunked if
    // Transfer-Encoding ends in chunked; until close for any other Transfer-Encoding; else
    // Content-Length (invalid: unrecoverable); else until close.
    let body: number;
    if ((kind & KIND_HEAD) !== 0 || status === STATUS_NO_CONTENT || status === STATUS_NOT_MODIFIED) body = 0;
    else if (d.transferEncoding) body = d.chunked ? ST_CHUNK_SIZE : ST_CLOSE_BODY;
    else if (d.contentLength === CL_INVALID) body = ST_STOPPED;
    else if (d.contentLength === CL_ABSENT) body = ST_CLOSE_BODY;
    else body = d.contentLength > 0 ? ST_BODY : 0;
    // A cut head may have had its Content-Length or Transfer-Encoding after the cut.
    if (body === ST_CLOSE_BODY && !cut) info.keepAlive = false;

    this.events.response?.(info);
    if (cut) {
      this.resync(d, body === ST_BODY ? d.contentLength : 0);
      d.cutResponse = info;
      d.lastTs = ts;
    } else if (body === ST_STOPPED) {
      this.lose(d, 'invalid Content-Length', d.pos + next);
    } else if (body === ST_CHUNK_SIZE) {
      this.startBlock(d, ST_CHUNK_SIZE, next);
    } else if (body === ST_BODY) {
      d.state = ST_BODY;
      d.remaining = d.contentLength;
    } else if (body === ST_CLOSE_BODY) {
      d.state = ST_CLOSE_BODY;
    } else {
      this.messageEnd(d, ts);
    }
    // The answer to an Upgrade/CONNECT request that did not switch: the client goes on in HTTP/1.x.
    if ((kind & (KIND_CONNECT | KIND_UPGRADE)) !== 0) this.release();
  }

  /** A whole message (head and body) is done on `d`. */
  private messageEnd(d: Direction, ts: number): void {
    d.resetHead();
    d.state = ST_HEAD;
    d.blockBytes = 0;
    if (d === this.c) {
      this.events.requestEnd?.(ts);
      if (d.switchAfterBody) {
        this.toOpaque(d, ts);
      } else if (d.asksSwitch && this.serverAnswering()) {
        // Until the answer is known, what follows may be another protocol: hold it (bounded).
        d.state = ST_WAIT_ANSWER;
        d.line = null; // held bytes take the place of the line buffer in the memory bound
        d.held = [];
        d.heldBytes = 0;
        d.heldGap = false;
        d.heldStart = -1;
      }
    } else {
      const response = d.response;
      d.response = null;
      if (response !== null) this.events.responseEnd?.(response, ts);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Bytes not captured

  /**
   * A gap in the head of `d` (ST_HEAD): when its start line was captured far enough to tell the
   * method (`method SP`) or the status (`HTTP/1.x NNN`), the message is reported, `cut`, and its end
   * looked for (ST_RESYNC). False when nothing of a message can be told: framing is lost.
   */
  private headCut(d: Direction, ts: number): boolean {
    if (!d.sawStartLine) {
      if (d.lineLength === 0) return false;
      const line = d.line!;
      const end = line[d.lineLength - 1] === CR ? d.lineLength - 1 : d.lineLength;
      if (d === this.c ? !this.cutRequestLine(line, end) : !this.statusLine(line, 0, end)) return false;
      d.sawStartLine = true;
    }
    d.lineLength = 0;
    if (d === this.c) this.requestHead(ts, 0, true);
    else this.responseHead(ts, 0, true);
    return true;
  }

  /** A request line cut at `end`: at least `method SP`. Its version, if not captured, is unknown (""). */
  private cutRequestLine(buf: Uint8Array, end: number): boolean {
    const sniffed = sniffRequestLine(buf, 0, end);
    if (sniffed === SNIFF_LINE) return this.requestLine(buf, 0, end);
    if (sniffed !== 1) return false;
    const d = this.c;
    let m = 0;
    while (buf[m] !== SP) m++;
    let t = m + 1;
    while (t < end && buf[t] !== SP) t++;
    d.method = methodString(buf, 0, m);
    d.target = this.targets ? latin1(buf, m + 1, t) : '';
    d.minor = MINOR_UNKNOWN;
    this.sawRequestLine = true;
    return true;
  }

  /** The current message of `d` lost body bytes: reported once per message. */
  private bodyCut(d: Direction): void {
    if (d.cut) return;
    d.cut = true;
    this.events.cut?.(d.side);
  }

  /** The current message's end is not known: the next starts at a chunk's start line (see the header). */
  private resync(d: Direction, atLeast: number): void {
    d.resetHead();
    d.state = ST_RESYNC;
    d.remaining = atLeast;
    d.lineLength = 0;
    if (d === this.s) d.response = null;
  }

  /**
   * A cut response's end was not captured: once the next request or response shows it was over, it
   * is taken to have ended with the server's last bytes before (responseEnd at their time).
   */
  private cutResponseEnd(): void {
    const s = this.s;
    const response = s.cutResponse;
    if (response === null) return;
    s.cutResponse = null;
    this.events.responseEnd?.(response, s.lastTs);
  }

  /** A chunk of `d` starts with a start line of that side. */
  private startsMessage(d: Direction, chunk: Uint8Array): boolean {
    return d === this.c ? looksLikeHttpRequest(chunk) : looksLikeHttpResponse(chunk);
  }

  // ---------------------------------------------------------------------------------------------
  // Chunked bodies

  /** chunk-size [ chunk-ext ] (RFC 9112 7.1); whitespace before ";" (BWS) tolerated. */
  private chunkSizeLine(d: Direction, buf: Uint8Array, start: number, end: number, next: number): void {
    let k = start;
    let size = 0;
    for (; k < end; k++) {
      const h = HEX[buf[k]!]!;
      if (h < 0) break;
      if (size > (Number.MAX_SAFE_INTEGER - h) / 16) {
        this.lose(d, 'chunk size too large', d.blockStart);
        return;
      }
      size = size * 16 + h;
    }
    if (k === start) {
      this.lose(d, 'malformed chunk size', d.blockStart);
      return;
    }
    while (k < end && isOws(buf[k]!)) k++;
    if (k < end && buf[k] !== SEMICOLON) {
      this.lose(d, 'malformed chunk size', d.blockStart);
      return;
    }
    if (size === 0) {
      // last-chunk: the trailer section and the final CRLF follow.
      this.startBlock(d, ST_TRAILERS, next);
    } else {
      d.state = ST_CHUNK_DATA;
      d.remaining = size;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Pairing responses with requests

  /** True while server bytes are still being framed (so a response can be paired). */
  private serverAnswering(): boolean {
    const state = this.s.state;
    return !this.s.ended && state !== ST_STOPPED && state !== ST_OPAQUE;
  }

  /**
   * Remembers a request until its final response. Beyond maxPendingRequests, plain requests are
   * only counted (their responses are framed without knowing them); a HEAD, CONNECT or Upgrade one
   * among them would make the response framing a guess, so server framing is given up.
   */
  private enqueue(info: HttpRequestInfo, kind: number): void {
    if (!this.serverAnswering()) return;
    if (this.unpaired > 0) {
      // Its response came first (client bytes late or partly lost): keep the pairing aligned.
      this.unpaired--;
      return;
    }
    if (this.overflow > 0 || this.pendingCount >= this.maxPending) {
      if (kind !== KIND_PLAIN) {
        this.lose(this.s, `more than ${this.maxPending} requests await a response`, this.s.pos);
        return;
      }
      this.overflow++;
      return;
    }
    if (this.pendingCount === 0) {
      this.first = info;
      this.firstKind = kind;
    } else if (this.later === null || this.laterKinds === null) {
      this.later = [info];
      this.laterKinds = [kind];
    } else {
      this.later.push(info);
      this.laterKinds.push(kind);
    }
    this.pendingCount++;
  }

  /** Forgets the oldest request awaiting its response (there is one). */
  private dequeue(): void {
    this.pendingCount--;
    if (this.pendingCount === 0) {
      this.first = null;
      this.firstKind = KIND_PLAIN;
    } else {
      this.first = this.later!.shift()!;
      this.firstKind = this.laterKinds!.shift()!;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Upgrade / CONNECT

  private hold(d: Direction, bytes: Uint8Array, ts: number, at: number): void {
    if (d.heldStart < 0) d.heldStart = at;
    if (d.heldBytes + bytes.length > this.maxHeadBytes) {
      d.held = NO_HELD;
      d.heldBytes = 0;
      this.lose(d, `more than ${this.maxHeadBytes} bytes sent before the answer to an Upgrade or CONNECT`, d.heldStart);
      return;
    }
    d.held.push({ bytes: bytes.slice(), ts });
    d.heldBytes += bytes.length;
  }

  /** The server switched protocols: so does the client once its request is complete. */
  private switchClient(ts: number): void {
    const d = this.c;
    if (d.state === ST_STOPPED || d.state === ST_OPAQUE) return;
    if (
      d.state === ST_BODY ||
      d.state === ST_CHUNK_SIZE ||
      d.state === ST_CHUNK_DATA ||
      d.state === ST_CHUNK_CRLF ||
      d.state === ST_TRAILERS
    ) {
      d.switchAfterBody = true;
      return;
    }
    this.toOpaque(d, ts);
  }

  private toOpaque(d: Direction, ts: number): void {
    const held = d.held;
    d.state = ST_OPAQUE;
    d.held = NO_HELD;
    d.heldBytes = 0;
    d.line = null;
    d.lineLength = 0;
    this.events.upgrade?.(d.side, ts);
    // What the client sent while it waited for the answer belongs to the new protocol.
    for (const piece of held) this.events.opaque?.(d.side, piece.bytes, piece.ts);
  }

  /** The client's Upgrade/CONNECT was refused (or will not be answered): frame what it held. */
  private release(): void {
    const d = this.c;
    if (d.state !== ST_WAIT_ANSWER) return;
    const held = d.held;
    const heldGap = d.heldGap;
    const resumeAt = d.pos;
    d.held = NO_HELD;
    d.heldBytes = 0;
    d.state = ST_HEAD;
    d.blockStart = d.heldStart < 0 ? d.pos : d.heldStart;
    d.blockBytes = 0;
    if (heldGap) {
      this.lose(d, 'bytes missing after a refused Upgrade or CONNECT', d.blockStart);
    } else if (held.length > 0) {
      d.pos = d.heldStart;
      for (const piece of held) this.process(d, piece.bytes, piece.ts);
      d.pos = resumeAt;
    }
    if (d.ended && d.state !== ST_WAIT_ANSWER) this.finish(d, d.endTs);
  }

  // ---------------------------------------------------------------------------------------------
  // Endings

  /** The stream of `d` ended: complete a close-delimited body, or note a message cut short. */
  private finish(d: Direction, ts: number): void {
    if (d === this.s) this.cutResponseEnd();
    switch (d.state) {
      case ST_CLOSE_BODY:
        this.messageEnd(d, ts);
        break;
      case ST_HEAD:
        if (d.sawStartLine || d.lineLength > 0) this._incomplete[d.side] = true;
        break;
      case ST_BODY:
      case ST_CHUNK_SIZE:
      case ST_CHUNK_DATA:
      case ST_CHUNK_CRLF:
      case ST_TRAILERS:
        this._incomplete[d.side] = true;
        break;
    }
    if (d.state !== ST_OPAQUE) d.state = ST_STOPPED;
    d.line = null;
    d.lineLength = 0;
  }

  private lose(d: Direction, reason: string, atByte: number): void {
    if (d.state === ST_STOPPED) return;
    d.state = ST_STOPPED;
    d.line = null;
    d.lineLength = 0;
    d.held = NO_HELD;
    d.heldBytes = 0;
    this.events.lost?.(d.side, reason, atByte);
    if (d === this.s) this.release();
  }

  private notHttpFound(): void {
    this._notHttp = true;
    for (const d of [this.c, this.s]) {
      d.state = ST_STOPPED;
      d.line = null;
      d.lineLength = 0;
    }
    this.first = null;
    this.later = null;
    this.laterKinds = null;
    this.pendingCount = 0;
  }
}

// -----------------------------------------------------------------------------------------------
// Byte helpers

const SNIFF_BAD = -1;
/** A complete, valid request line. */
const SNIFF_LINE = 2;

/**
 * Checks bytes [start, end) of one line (no LF inside) against
 * `method SP request-target SP "HTTP/1." DIGIT [CR]`. Returns SNIFF_BAD, SNIFF_LINE, or 0/1 for a
 * plausible prefix (no verdict yet).
 */
function sniffRequestLine(buf: Uint8Array, start: number, end: number): number {
  // A lone CR may begin an empty line (skipped before a request line, RFC 9112 2.2).
  if (end - start === 1 && buf[start] === CR) return 0;
  let k = start;
  // method = token, at most MAX_METHOD_LENGTH long
  while (k < end && TCHAR[buf[k]!] === 1) {
    if (k - start >= MAX_METHOD_LENGTH) return SNIFF_BAD;
    k++;
  }
  if (k === end) return 0;
  if (k === start || buf[k] !== SP) return SNIFF_BAD;
  const targetStart = ++k;
  // request-target: visible bytes (and obs-text), at least one
  while (k < end) {
    const b = buf[k]!;
    if (b <= SP || b === DEL) break;
    k++;
  }
  if (k === end) return 1;
  if (k === targetStart || buf[k] !== SP) return SNIFF_BAD;
  k++;
  for (let v = 0; v < HTTP_VERSION_LENGTH; v++, k++) {
    if (k === end) return 1;
    const b = buf[k]!;
    if (v < HTTP_1_PREFIX.length ? b !== HTTP_1_PREFIX[v] : b < DIGIT_0 || b > DIGIT_0 + 9) return SNIFF_BAD;
  }
  if (k === end) return SNIFF_LINE;
  // Only a CR (of CRLF) may follow the version.
  return k + 1 === end && buf[k] === CR ? 1 : SNIFF_BAD;
}

/**
 * Cheap content sniff: do these first bytes look like the start of an HTTP/1.x request? True when,
 * after optional empty lines (RFC 9112 2.2), they begin with a method token (at most
 * MAX_METHOD_LENGTH characters) and a space, and every byte given up to the end of the request line
 * is consistent with `method SP request-target SP HTTP/1.x CRLF`.
 */
export function looksLikeHttpRequest(bytes: Uint8Array): boolean {
  let k = 0;
  while (k < bytes.length) {
    if (bytes[k] === LF) k++;
    else if (bytes[k] === CR && bytes[k + 1] === LF) k += 2;
    else break;
  }
  const lf = bytes.indexOf(LF, k);
  const end = lf === -1 ? bytes.length : lf;
  const verdict = sniffRequestLine(bytes, k, end);
  if (verdict === SNIFF_BAD) return false;
  // Require the space after the method: a bare word is not evidence enough.
  if (verdict === 0) return false;
  if (lf === -1) return true;
  // A complete line: it must end with the version (and an optional CR).
  return (
    verdict === SNIFF_LINE ||
    (verdict === 1 && bytes[lf - 1] === CR && sniffRequestLine(bytes, k, lf - 1) === SNIFF_LINE)
  );
}

/** Do these first bytes start a status line? "HTTP/" (RFC 9112 4), as tshark tells a response. */
export function looksLikeHttpResponse(bytes: Uint8Array): boolean {
  for (let k = 0; k < HTTP_NAME.length; k++) if (bytes[k] !== HTTP_NAME[k]) return false;
  return true;
}

function isOws(b: number): boolean {
  return b === SP || b === HTAB;
}

/** buf[at..] equals `lower` ignoring ASCII case (`lower` holds lowercase letters and "-"). */
function equalsLower(buf: Uint8Array, at: number, lower: Uint8Array): boolean {
  for (let k = 0; k < lower.length; k++) if ((buf[at + k]! | 0x20) !== lower[k]) return false;
  return true;
}

/**
 * Node's native latin1 decoder (`Buffer.prototype.latin1Slice`, what `buf.toString('latin1')` calls;
 * it takes any Uint8Array). Checked once at load; without it, String.fromCharCode is used.
 */
const nativeLatin1 = ((): ((this: Uint8Array, start: number, end: number) => string) | null => {
  const slice = (
    Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }
  ).latin1Slice;
  try {
    if (typeof slice === 'function' && slice.call(Uint8Array.of(0x41, 0xe9, 0x42), 1, 3) === '\u00e9B') return slice;
  } catch {
    // not usable on a plain Uint8Array: fall back
  }
  return null;
})();

/** Bytes as a string, one char per byte (field values are ISO-8859-1 at most, RFC 9110 5.5). */
function latin1(buf: Uint8Array, start: number, end: number): string {
  if (nativeLatin1 !== null) return nativeLatin1.call(buf, start, end);
  let s = '';
  for (let k = start; k < end; k += 4096) {
    s += String.fromCharCode.apply(null, buf.subarray(k, Math.min(end, k + 4096)) as unknown as number[]);
  }
  return s;
}

const COMMON_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'CONNECT', 'PATCH'].map((m) => ({
  name: m,
  bytes: bytesOf(m),
}));

/** The method as a string, without allocating for the common ones (methods are case-sensitive). */
function methodString(buf: Uint8Array, start: number, end: number): string {
  const length = end - start;
  const first = buf[start];
  outer: for (let m = 0; m < COMMON_METHODS.length; m++) {
    const common = COMMON_METHODS[m]!;
    const bytes = common.bytes;
    if (bytes.length !== length || bytes[0] !== first) continue;
    for (let k = 1; k < length; k++) if (buf[start + k] !== bytes[k]) continue outer;
    return common.name;
  }
  return latin1(buf, start, end);
}

/** `Direction.minor` of a request line cut before its version. */
const MINOR_UNKNOWN = -1;

function versionString(minor: number): string {
  return minor === 1 ? '1.1' : minor === 0 ? '1.0' : minor === MINOR_UNKNOWN ? '' : `1.${minor}`;
}

/** Bounds of the list element found by nextElement (module scratch, so no allocation per field). */
let elementStart = 0;
let elementEnd = 0;

/**
 * Finds the next non-empty element of a comma-separated list (RFC 9110 5.6.1: empty elements are
 * ignored) at or after `k` and before `end`, OWS trimmed, into elementStart/elementEnd. Returns
 * where to look for the next one, or -1 when none is left.
 */
function nextElement(buf: Uint8Array, k: number, end: number): number {
  while (k <= end) {
    let e = k;
    while (e < end && buf[e] !== COMMA) e++;
    let s = k;
    let t = e;
    while (s < t && isOws(buf[s]!)) s++;
    while (t > s && isOws(buf[t - 1]!)) t--;
    k = e + 1;
    if (t > s) {
      elementStart = s;
      elementEnd = t;
      return k;
    }
  }
  return -1;
}

/** Connection values common enough to be worth returning without building a string. */
const COMMON_CONNECTION_VALUES = [
  'keep-alive',
  'close',
  'Keep-Alive',
  'Close',
  'Upgrade',
  'upgrade',
  'keep-alive, Upgrade',
].map((v) => ({
  value: v,
  bytes: bytesOf(v),
}));

/** A Connection field value as a string (exactly as sent), shared for the common ones. */
function connectionValue(buf: Uint8Array, start: number, end: number): string {
  const length = end - start;
  outer: for (let m = 0; m < COMMON_CONNECTION_VALUES.length; m++) {
    const common = COMMON_CONNECTION_VALUES[m]!;
    const bytes = common.bytes;
    if (bytes.length !== length || buf[start] !== bytes[0]) continue;
    for (let k = 1; k < length; k++) if (buf[start + k] !== bytes[k]) continue outer;
    return common.value;
  }
  return latin1(buf, start, end);
}

/**
 * Connection = #connection-option (RFC 9110 7.6.1), bytes [start, end) of one field value: the
 * ConnectionOption bits of the "close" and "keep-alive" options in it (tokens: case-insensitive).
 */
function connectionOptionBits(buf: Uint8Array, start: number, end: number): number {
  let bits = 0;
  for (let k = nextElement(buf, start, end); k !== -1; k = nextElement(buf, k, end)) {
    const length = elementEnd - elementStart;
    if (length === TOKEN_CLOSE.length && equalsLower(buf, elementStart, TOKEN_CLOSE)) bits |= ConnectionOption.CLOSE;
    else if (length === TOKEN_KEEP_ALIVE.length && equalsLower(buf, elementStart, TOKEN_KEEP_ALIVE))
      bits |= ConnectionOption.KEEP_ALIVE;
  }
  return bits;
}

/**
 * Content-Length = 1*DIGIT (RFC 9110 8.6). A list of identical values, or several fields with the
 * same value, is accepted as that value (as 8.6 allows); anything else is invalid.
 */
function contentLength(d: Direction, buf: Uint8Array, start: number, end: number): void {
  // The usual case: one value of digits only (at most 15, so it stays a safe integer).
  if (end > start && end - start <= 15) {
    let value = 0;
    let j = start;
    for (; j < end; j++) {
      const digit = buf[j]! - DIGIT_0;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
    }
    if (j === end) {
      if (d.contentLength === CL_ABSENT) d.contentLength = value;
      else if (d.contentLength !== value) d.contentLength = CL_INVALID;
      return;
    }
  }
  let seen = false;
  for (let k = nextElement(buf, start, end); k !== -1; k = nextElement(buf, k, end)) {
    let value = 0;
    for (let j = elementStart; j < elementEnd; j++) {
      const digit = buf[j]! - DIGIT_0;
      if (digit < 0 || digit > 9 || value > (Number.MAX_SAFE_INTEGER - digit) / 10) {
        d.contentLength = CL_INVALID;
        return;
      }
      value = value * 10 + digit;
    }
    seen = true;
    if (d.contentLength === CL_ABSENT) d.contentLength = value;
    else if (d.contentLength !== value) d.contentLength = CL_INVALID;
  }
  if (!seen) d.contentLength = CL_INVALID;
}

/**
 * Keep-Alive = #( token [ "=" value ] ) (RFC 2068 19.7.1.1, e.g. "timeout=5, max=100"): the
 * whole-second `timeout` parameter in bytes [start, end), or -1 when there is none.
 */
function keepAliveTimeout(buf: Uint8Array, start: number, end: number): number {
  for (let k = nextElement(buf, start, end); k !== -1; k = nextElement(buf, k, end)) {
    const s = elementStart;
    const e = elementEnd;
    if (e - s <= PARAM_TIMEOUT.length || !equalsLower(buf, s, PARAM_TIMEOUT)) continue;
    let j = s + PARAM_TIMEOUT.length;
    while (j < e && isOws(buf[j]!)) j++;
    if (buf[j] !== EQUALS) continue;
    j++;
    while (j < e && isOws(buf[j]!)) j++;
    let value = 0;
    let digits = 0;
    for (; j < e && digits < 9; j++, digits++) {
      const digit = buf[j]! - DIGIT_0;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
    }
    if (digits > 0 && j === e) return value;
  }
  return -1;
}

/**
 * Transfer-Encoding = #transfer-coding (RFC 9112 6.1). What matters is whether the final coding
 * (the last one of the last field) is "chunked"; parameters after ";" are ignored.
 */
function transferEncoding(d: Direction, buf: Uint8Array, start: number, end: number): void {
  d.transferEncoding = true;
  for (let k = nextElement(buf, start, end); k !== -1; k = nextElement(buf, k, end)) {
    let t = elementStart;
    while (t < elementEnd && buf[t] !== SEMICOLON && !isOws(buf[t]!)) t++;
    d.chunked = t - elementStart === TOKEN_CHUNKED.length && equalsLower(buf, elementStart, TOKEN_CHUNKED);
  }
}
