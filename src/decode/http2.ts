/**
 * HTTP/2 framing (RFC 9113, https://www.rfc-editor.org/rfc/rfc9113) on ONE connection, from its two
 * reassembled byte streams fed in chunks split anywhere: the client's connection preface (3.4), the
 * frame header (4.1), and the frames of section 6, header blocks (HEADERS or PUSH_PROMISE and their
 * CONTINUATIONs, 4.3) decoded by HPACK (decode/hpack.ts, one decoder per direction). Pure (no I/O),
 * streaming, bounded in memory, and it never throws on any input.
 *
 * An observer, not a peer: where a peer would end the connection (a connection error), this reports
 * a problem (`problem` event, a value the caller turns into a note) and goes on where the framing
 * still tells where the next frame starts. Settings are taken as soon as they are sent, not when
 * acknowledged: a larger SETTINGS_MAX_FRAME_SIZE or SETTINGS_HEADER_TABLE_SIZE is allowed at once,
 * since the peer may use it as soon as it has the acknowledgement, which the observer may see later.
 *
 * Memory per direction: a frame's payload is kept only as far as it is read (the padding length of
 * DATA, 4 to 8 octets of the small control frames, SETTINGS up to MAX_SETTINGS_OCTETS); DATA and
 * frames of unknown types are skipped by counting. A header block is kept whole until it ends, up to
 * MAX_HEADER_BLOCK_SIZE: a larger one is a problem, its frames are skipped, and the HPACK decoder of
 * that direction is desynchronized (its dynamic table is no longer known: later blocks are refused).
 * A frame longer than the receiver's SETTINGS_MAX_FRAME_SIZE (2^14 until it says more, at most
 * 2^24-1) is a problem too, and skipped by counting.
 */
import { Buffer } from 'node:buffer';
import type { Side } from '../model/report.js';
import type { Micros } from '../model/time.js';
import { u16be, u32be } from './cursor.js';
import { HpackDecoder, type HeaderField, type HpackError } from './hpack.js';

/** The client connection preface (RFC 9113 3.4): these 24 octets, then a SETTINGS frame. */
export const HTTP2_CLIENT_PREFACE: Uint8Array = Uint8Array.from(
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
);
/** Every frame begins with a 9-octet header: length (24 bits), type, flags, R + stream id (31 bits) (4.1). */
export const FRAME_HEADER_LENGTH = 9;
/** SETTINGS_MAX_FRAME_SIZE's initial value, and its least (2^14, RFC 9113 6.5.2). */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** SETTINGS_MAX_FRAME_SIZE's largest value (2^24-1, RFC 9113 6.5.2). */
export const MAX_FRAME_SIZE_LIMIT = 0xffffff;
/**
 * The largest header block (all its fragments) kept to be decoded: 256 KiB, four times the largest
 * header list common servers accept (Node's maxHeaderListSize default 64 KiB, nginx's 16 KiB fields).
 */
export const MAX_HEADER_BLOCK_SIZE = 256 * 1024;
/** SETTINGS octets read (170 parameters of 6 octets); the rest of a longer frame is skipped. */
export const MAX_SETTINGS_OCTETS = 1020;

/** Frame types (RFC 9113 6; IANA "HTTP/2 Frame Type" registry). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (RFC 9113 6): their meaning depends on the frame type. */
export const FrameFlag = {
  /** DATA, HEADERS: the last frame the endpoint sends on the stream. */
  END_STREAM: 0x1,
  /** SETTINGS, PING: an acknowledgement. */
  ACK: 0x1,
  /** HEADERS, PUSH_PROMISE, CONTINUATION: the header block ends with this frame. */
  END_HEADERS: 0x4,
  /** DATA, HEADERS, PUSH_PROMISE: a Pad Length octet first, padding last. */
  PADDED: 0x8,
  /** HEADERS: Exclusive, Stream Dependency and Weight fields follow (RFC 9113 6.2). */
  PRIORITY: 0x20,
} as const;

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 7), by value. */
const ERROR_CODE_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
] as const;

/** An error code's name (RFC 9113 7), or its value in hex for one not defined ("0x1f"). */
export function http2ErrorName(code: number): string {
  return ERROR_CODE_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** SETTINGS parameters (RFC 9113 6.5.2; 8 from RFC 8441, 9 from RFC 9218). */
export const SettingsParameter = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  ENABLE_CONNECT_PROTOCOL: 0x8,
  NO_RFC7540_PRIORITIES: 0x9,
} as const;

const SETTING_NAMES = new Map<number, string>(Object.entries(SettingsParameter).map(([name, id]) => [id, name]));

/** A SETTINGS parameter's name without SETTINGS_ ("MAX_CONCURRENT_STREAMS"), or its value in hex. */
export function http2SettingName(id: number): string {
  return SETTING_NAMES.get(id) ?? `0x${id.toString(16)}`;
}

export interface FrameHeader {
  /** Payload octets (24 bits). */
  length: number;
  type: number;
  flags: number;
  /** 31 bits; 0: the connection. */
  streamId: number;
}

/** The priority fields of HEADERS (PRIORITY flag) and of a PRIORITY frame (RFC 9113 5.3.1, 6.3). */
export interface Http2Priority {
  exclusive: boolean;
  dependency: number;
  /** 1..256 (the octet plus one). */
  weight: number;
}

/** A decoded header block: HEADERS (and CONTINUATIONs), or PUSH_PROMISE. */
export interface Http2HeaderBlock {
  streamId: number;
  /** HEADERS with END_STREAM: the sender sends nothing more on the stream. */
  endStream: boolean;
  /** HEADERS with the PRIORITY flag: its priority fields; null otherwise. */
  priority: Http2Priority | null;
  /** PUSH_PROMISE: the stream it reserves; 0 for HEADERS. */
  promisedStreamId: number;
  /** The fields decoded (all of them, or those before an error). */
  fields: HeaderField[];
  /** Pseudo-header fields (RFC 9113 8.3) and content-length: null when absent. */
  method: string | null;
  scheme: string | null;
  authority: string | null;
  path: string | null;
  /** :status as a number (a response), or null. */
  status: number | null;
  contentLength: number | null;
  /** HPACK failed on this block: the fields may be few or none (and `status` unknown). */
  error: HpackError | null;
  /** Octets of the block (its fragments, without padding and priority fields). */
  size: number;
}

export interface Http2Setting {
  id: number;
  /** http2SettingName(id). */
  name: string;
  value: number;
}

/** What went wrong with a frame: a value for a note (a peer would have ended the connection). */
export type Http2ProblemCode =
  /** A frame longer than the receiver's SETTINGS_MAX_FRAME_SIZE: skipped. */
  | 'frame-size'
  /** A frame whose fields contradict RFC 9113 6 (a stream id, a length, padding): skipped. */
  | 'bad-frame'
  /** A header block over MAX_HEADER_BLOCK_SIZE, or cut by another frame or lost bytes: not decoded. */
  | 'header-block'
  /** HPACK could not decode a header block (its `error`). */
  | 'hpack';

export interface Http2Problem {
  code: Http2ProblemCode;
  message: string;
  /** The stream of the frame, 0 for the connection. */
  streamId: number;
}

export interface Http2Events {
  /** Every frame's header, once the frame's payload is complete (before its own event). */
  frame?(side: Side, header: FrameHeader, ts: Micros): void;
  /** HEADERS and its CONTINUATIONs, decoded. */
  headers?(side: Side, block: Http2HeaderBlock, ts: Micros): void;
  /** PUSH_PROMISE and its CONTINUATIONs, decoded (the server reserves `promisedStreamId`). */
  pushPromise?(side: Side, block: Http2HeaderBlock, ts: Micros): void;
  /** DATA: `length` octets of data (padding left out). */
  data?(side: Side, d: { streamId: number; length: number; endStream: boolean }, ts: Micros): void;
  rstStream?(side: Side, r: { streamId: number; errorCode: number }, ts: Micros): void;
  settings?(side: Side, s: { ack: boolean; params: Http2Setting[] }, ts: Micros): void;
  ping?(side: Side, p: { ack: boolean }, ts: Micros): void;
  /** GOAWAY: the last stream the sender may have processed, why, and how long its debug data was. */
  goaway?(side: Side, g: { lastStreamId: number; errorCode: number; debugLength: number }, ts: Micros): void;
  windowUpdate?(side: Side, w: { streamId: number; increment: number }, ts: Micros): void;
  priority?(side: Side, p: Http2Priority & { streamId: number }, ts: Micros): void;
  /** A frame a peer would have refused; decoding goes on (see the header). */
  problem?(side: Side, p: Http2Problem, ts: Micros): void;
  /**
   * Framing given up for that direction: bytes are not HTTP/2 (no client preface; a server whose
   * first frame is not SETTINGS), or went missing where a frame header was. `atByte` is the offset
   * in that direction's stream of the first byte not framed.
   */
  lost?(side: Side, reason: string, atByte: number): void;
}

export interface Http2Options {
  /**
   * The client's bytes begin with the connection preface (default true: prior knowledge, TLS with
   * ALPN h2, or the first bytes after an h2c Upgrade). False: they begin with a frame.
   */
  clientPreface?: boolean;
}

// Direction states.
const ST_PREFACE = 0;
const ST_HEADER = 1;
const ST_PAYLOAD = 2;
const ST_LOST = 3;

/** Payload octets read of each frame type (the rest is skipped): a function of its header. */
function octetsToRead(type: number, flags: number, length: number): number {
  switch (type) {
    case FrameType.DATA:
      return (flags & FrameFlag.PADDED) !== 0 ? Math.min(length, 1) : 0;
    case FrameType.HEADERS:
    case FrameType.PUSH_PROMISE:
    case FrameType.CONTINUATION:
      return length;
    case FrameType.SETTINGS:
      return Math.min(length, MAX_SETTINGS_OCTETS);
    case FrameType.PRIORITY:
      return Math.min(length, 5);
    case FrameType.RST_STREAM:
    case FrameType.WINDOW_UPDATE:
      return Math.min(length, 4);
    case FrameType.PING:
    case FrameType.GOAWAY:
      return Math.min(length, 8);
    default:
      // Unknown types are ignored (RFC 9113 4.1, 5.5).
      return 0;
  }
}

/** A header block being assembled (HEADERS or PUSH_PROMISE, waiting for CONTINUATIONs). */
interface OpenBlock {
  type: number;
  streamId: number;
  endStream: boolean;
  priority: Http2Priority | null;
  promisedStreamId: number;
  parts: Uint8Array[];
  size: number;
  /** Not decoded after all (too large, cut, bytes missing): its CONTINUATIONs are skipped. */
  lost: boolean;
}

/** A block whose first frame could not be read: only its CONTINUATIONs remain to be skipped. */
function lostBlock(header: FrameHeader): OpenBlock {
  return {
    type: header.type,
    streamId: header.streamId,
    endStream: false,
    priority: null,
    promisedStreamId: 0,
    parts: [],
    size: 0,
    lost: true,
  };
}

class Direction {
  state: number;
  /** Octets of this direction's stream so far (lost bytes included). */
  pos = 0;
  prefaceMatched = 0;
  readonly head = new Uint8Array(FRAME_HEADER_LENGTH);
  headLength = 0;
  readonly header: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
  /** Payload octets of the current frame not yet consumed. */
  remaining = 0;
  /** Payload octets to keep of the current frame, and those kept. */
  toRead = 0;
  buf = new Uint8Array(64);
  bufLength = 0;
  /** The current frame lost bytes of its payload (a gap): its fields cannot be read. */
  damaged = false;
  /** The current frame is skipped (too long, or a block over the bound): no event but `frame`. */
  skipping = false;
  /** Frames seen (the first server frame must be SETTINGS, RFC 9113 3.4). */
  frames = 0;
  block: OpenBlock | null = null;
  /** The largest frame the other side accepts: SETTINGS_MAX_FRAME_SIZE as it said it. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** Decodes this direction's header blocks; its limit is set by the other side's SETTINGS. */
  readonly hpack = new HpackDecoder();

  constructor(
    readonly side: Side,
    preface: boolean,
  ) {
    this.state = preface ? ST_PREFACE : ST_HEADER;
  }
}

export class Http2Connection {
  private readonly c: Direction;
  private readonly s: Direction;
  private _notHttp2 = false;

  constructor(
    private readonly events: Http2Events,
    options: Http2Options = {},
  ) {
    this.c = new Direction('client', options.clientPreface ?? true);
    this.s = new Direction('server', false);
  }

  /** The bytes were found not to be HTTP/2 (see `lost`): nothing more is framed on that side. */
  get notHttp2(): boolean {
    return this._notHttp2;
  }

  /** The client sent its whole connection preface. */
  get prefaceSeen(): boolean {
    return this.c.prefaceMatched === HTTP2_CLIENT_PREFACE.length;
  }

  /** The server's first frame came, and was SETTINGS (its connection preface, RFC 9113 3.4). */
  get serverPrefaceSeen(): boolean {
    return this.s.frames > 0;
  }

  /** Framing of that side was given up. */
  lostOn(side: Side): boolean {
    return (side === 'client' ? this.c : this.s).state === ST_LOST;
  }

  /** Octets held for parsing, both directions: payload buffers and header blocks being assembled. */
  get buffered(): number {
    let n = 0;
    for (const d of [this.c, this.s]) n += d.buf.length + (d.block?.size ?? 0);
    return n;
  }

  /** The HPACK decoder of a side's header blocks (its dynamic table). */
  hpackOf(side: Side): HpackDecoder {
    return (side === 'client' ? this.c : this.s).hpack;
  }

  client(bytes: Uint8Array, ts: Micros): void {
    this.push(this.c, bytes, ts);
  }

  server(bytes: Uint8Array, ts: Micros): void {
    this.push(this.s, bytes, ts);
  }

  /** `missing` octets of `side`'s stream were not captured. */
  gap(side: Side, missing: number, ts: Micros): void {
    const d = side === 'client' ? this.c : this.s;
    if (d.state === ST_LOST) return;
    if (d.state === ST_PAYLOAD && missing <= d.remaining) {
      // Inside a payload: the next frame still starts where the length says.
      if (d.bufLength < d.toRead) d.damaged = true;
      d.remaining -= missing;
      d.pos += missing;
      if (d.remaining === 0) this.frameDone(d, ts);
      return;
    }
    this.lose(d, `${missing} bytes missing where a frame header was expected`, d.pos);
    d.pos += missing;
  }

  // ---------------------------------------------------------------------------------------------

  private push(d: Direction, chunk: Uint8Array, ts: Micros): void {
    const end = chunk.length;
    let i = 0;
    while (i < end) {
      switch (d.state) {
        case ST_PREFACE: {
          const preface = HTTP2_CLIENT_PREFACE;
          while (i < end && d.prefaceMatched < preface.length) {
            if (chunk[i] !== preface[d.prefaceMatched]) {
              this._notHttp2 = true;
              this.lose(d, 'not the HTTP/2 client connection preface', d.pos + i);
              return void (d.pos += end);
            }
            d.prefaceMatched++;
            i++;
          }
          if (d.prefaceMatched === preface.length) d.state = ST_HEADER;
          break;
        }
        case ST_HEADER: {
          const n = Math.min(FRAME_HEADER_LENGTH - d.headLength, end - i);
          d.head.set(chunk.subarray(i, i + n), d.headLength);
          d.headLength += n;
          i += n;
          if (d.headLength === FRAME_HEADER_LENGTH) {
            d.headLength = 0;
            if (!this.frameStart(d, d.pos + i - FRAME_HEADER_LENGTH, ts)) return void (d.pos += end);
          }
          break;
        }
        case ST_PAYLOAD: {
          const n = Math.min(d.remaining, end - i);
          const keep = Math.min(n, d.toRead - d.bufLength);
          if (keep > 0) {
            d.buf.set(chunk.subarray(i, i + keep), d.bufLength);
            d.bufLength += keep;
          }
          d.remaining -= n;
          i += n;
          if (d.remaining === 0) this.frameDone(d, ts);
          break;
        }
        default:
          // ST_LOST: nothing to frame.
          i = end;
      }
    }
    d.pos += end;
  }

  /** A frame header is complete: check it, and say how much of its payload to read. False: framing lost. */
  private frameStart(d: Direction, at: number, ts: Micros): boolean {
    const h = d.head;
    const header = d.header;
    header.length = (h[0]! << 16) | u16be(h, 1);
    header.type = h[3]!;
    header.flags = h[4]!;
    header.streamId = u32be(h, 5) & 0x7fffffff;
    if (d.side === 'server' && d.frames === 0 && header.type !== FrameType.SETTINGS) {
      // RFC 9113 3.4: the server's connection preface is a SETTINGS frame, its first.
      this._notHttp2 = true;
      this.lose(d, 'the first frame from the server is not SETTINGS', at);
      return false;
    }
    d.frames++;
    d.damaged = false;
    d.skipping = false;
    d.bufLength = 0;
    d.remaining = header.length;
    d.toRead = octetsToRead(header.type, header.flags, header.length);
    const type = header.type;
    const block = d.block;
    const continues = block !== null && type === FrameType.CONTINUATION && header.streamId === block.streamId;
    if (block !== null && !continues) {
      // RFC 9113 6.10: a header block's frames are contiguous; any other frame is a connection error.
      d.block = null;
      if (!block.lost)
        this.blockLost(d, block.streamId, 'a header block was cut by another frame before END_HEADERS', ts);
    }
    if (header.length > d.maxFrameSize) {
      const message = `a frame of ${header.length} octets, above SETTINGS_MAX_FRAME_SIZE ${d.maxFrameSize}`;
      this.problem(d, 'frame-size', message, ts, header.streamId);
      d.skipping = true;
    }
    if (type === FrameType.HEADERS || type === FrameType.PUSH_PROMISE) {
      if (!d.skipping && header.length > MAX_HEADER_BLOCK_SIZE) {
        this.blockLost(d, header.streamId, `a header block over ${MAX_HEADER_BLOCK_SIZE} octets`, ts);
        d.skipping = true;
      } else if (d.skipping) {
        d.hpack.markDesynchronized('a header block frame was too long to read');
      }
    } else if (type === FrameType.CONTINUATION && !continues) {
      // No block to continue: a problem once it is read (nothing of it is kept).
      d.toRead = 0;
    } else if (continues) {
      if (block.lost) {
        d.skipping = true;
      } else if (d.skipping) {
        this.dropBlock(d, block, 'a header block frame was too long to read');
      } else if (block.size + header.length > MAX_HEADER_BLOCK_SIZE) {
        this.blockLost(d, header.streamId, `a header block over ${MAX_HEADER_BLOCK_SIZE} octets`, ts);
        this.dropBlock(d, block, null);
        d.skipping = true;
      }
    }
    if (d.skipping) d.toRead = 0;
    else if (d.buf.length < d.toRead) {
      d.buf = new Uint8Array(Math.max(d.toRead, Math.min(d.buf.length * 2, MAX_HEADER_BLOCK_SIZE)));
    }
    d.state = ST_PAYLOAD;
    if (d.remaining === 0) this.frameDone(d, ts);
    return true;
  }

  /**
   * The block of `d` is not decoded after all: its parts go, its CONTINUATIONs are skipped until
   * END_HEADERS; the direction's HPACK table is lost (`reason`, when not told already).
   */
  private dropBlock(d: Direction, block: OpenBlock, reason: string | null): void {
    block.lost = true;
    block.parts = [];
    if (reason !== null) d.hpack.markDesynchronized(reason);
  }

  /** The current frame's payload is all consumed. */
  private frameDone(d: Direction, ts: Micros): void {
    d.state = ST_HEADER;
    const header = d.header;
    this.events.frame?.(d.side, header, ts);
    const type = header.type;
    const endHeaders = (header.flags & FrameFlag.END_HEADERS) !== 0;
    const isBlockStart = type === FrameType.HEADERS || type === FrameType.PUSH_PROMISE;
    if (d.skipping || d.damaged) {
      if (d.damaged && !d.skipping && (isBlockStart || (type === FrameType.CONTINUATION && d.block?.lost === false))) {
        this.blockLost(d, header.streamId, 'bytes of a header block were not captured', ts);
      }
      if (isBlockStart && !endHeaders) d.block = lostBlock(header);
      else if (type === FrameType.CONTINUATION && d.block !== null) {
        d.block.lost = true;
        if (endHeaders) d.block = null;
      }
      if (d.damaged && !d.skipping && type === FrameType.DATA) {
        // Only its Pad Length was missed: the data length is not known, the stream's end still is.
        this.events.data?.(d.side, { streamId: header.streamId, length: 0, endStream: this.endStream(header) }, ts);
      }
      return;
    }
    const p = d.buf;
    const length = header.length;
    const id = header.streamId;
    switch (header.type) {
      case FrameType.DATA: {
        if (id === 0) return this.problem(d, 'bad-frame', 'DATA on stream 0', ts);
        const pad = (header.flags & FrameFlag.PADDED) !== 0 ? 1 + (length > 0 ? p[0]! : 0) : 0;
        if (pad > length) return this.problem(d, 'bad-frame', 'DATA padding longer than the frame', ts, id);
        this.events.data?.(d.side, { streamId: id, length: length - pad, endStream: this.endStream(header) }, ts);
        return;
      }
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE:
        return this.blockStart(d, ts);
      case FrameType.CONTINUATION: {
        const block = d.block;
        if (block === null) return this.problem(d, 'bad-frame', 'CONTINUATION without a header block', ts, id);
        block.parts.push(p.slice(0, length));
        block.size += length;
        if ((header.flags & FrameFlag.END_HEADERS) !== 0) {
          d.block = null;
          if (!block.lost) this.blockEnd(d, block, ts);
        }
        return;
      }
      case FrameType.SETTINGS:
        return this.settings(d, ts);
      case FrameType.PING:
        if (id !== 0 || length !== 8)
          return this.problem(d, 'bad-frame', `PING of ${length} octets on stream ${id}`, ts);
        this.events.ping?.(d.side, { ack: (header.flags & FrameFlag.ACK) !== 0 }, ts);
        return;
      case FrameType.GOAWAY:
        if (id !== 0 || length < 8)
          return this.problem(d, 'bad-frame', `GOAWAY of ${length} octets on stream ${id}`, ts);
        this.events.goaway?.(
          d.side,
          { lastStreamId: u32be(p, 0) & 0x7fffffff, errorCode: u32be(p, 4), debugLength: length - 8 },
          ts,
        );
        return;
      case FrameType.RST_STREAM:
        if (id === 0 || length !== 4) {
          return this.problem(d, 'bad-frame', `RST_STREAM of ${length} octets on stream ${id}`, ts, id);
        }
        this.events.rstStream?.(d.side, { streamId: id, errorCode: u32be(p, 0) }, ts);
        return;
      case FrameType.WINDOW_UPDATE:
        if (length !== 4) return this.problem(d, 'bad-frame', `WINDOW_UPDATE of ${length} octets`, ts, id);
        this.events.windowUpdate?.(d.side, { streamId: id, increment: u32be(p, 0) & 0x7fffffff }, ts);
        return;
      case FrameType.PRIORITY:
        if (id === 0 || length !== 5) {
          return this.problem(d, 'bad-frame', `PRIORITY of ${length} octets on stream ${id}`, ts, id);
        }
        this.events.priority?.(d.side, { streamId: id, ...priorityAt(p, 0) }, ts);
        return;
      default:
      // Unknown frame types: only `frame`.
    }
  }

  private endStream(header: FrameHeader): boolean {
    return (header.flags & FrameFlag.END_STREAM) !== 0;
  }

  /** HEADERS or PUSH_PROMISE, read whole: its fields, then its fragment (RFC 9113 6.2, 6.6). */
  private blockStart(d: Direction, ts: Micros): void {
    const header = d.header;
    const p = d.buf;
    const length = header.length;
    const id = header.streamId;
    const isPush = header.type === FrameType.PUSH_PROMISE;
    const name = isPush ? 'PUSH_PROMISE' : 'HEADERS';
    const endHeaders = (header.flags & FrameFlag.END_HEADERS) !== 0;
    const fail = (reason: string): void => {
      this.blockLost(d, id, reason, ts);
      // Its CONTINUATIONs are skipped without more problems.
      if (!endHeaders) d.block = lostBlock(header);
    };
    let off = 0;
    let padLength = 0;
    if ((header.flags & FrameFlag.PADDED) !== 0) {
      if (length < 1) return fail(`${name} too short for its Pad Length`);
      padLength = p[0]!;
      off = 1;
    }
    let priority: Http2Priority | null = null;
    let promised = 0;
    if (isPush) {
      if (off + 4 > length) return fail('PUSH_PROMISE too short for its stream id');
      promised = u32be(p, off) & 0x7fffffff;
      off += 4;
    } else if ((header.flags & FrameFlag.PRIORITY) !== 0) {
      if (off + 5 > length) return fail('HEADERS too short for its priority fields');
      priority = priorityAt(p, off);
      off += 5;
    }
    if (off + padLength > length) return fail(`${name} padding longer than the frame`);
    if (id === 0) return fail(`${name} on stream 0`);
    const size = length - off - padLength;
    if (size > MAX_HEADER_BLOCK_SIZE) return fail(`a header block over ${MAX_HEADER_BLOCK_SIZE} octets`);
    const block: OpenBlock = {
      type: header.type,
      streamId: id,
      endStream: !isPush && this.endStream(header),
      priority,
      promisedStreamId: promised,
      // Decoded at once when whole (a view of the frame buffer), kept (a copy) until its CONTINUATIONs.
      parts: [endHeaders ? p.subarray(off, off + size) : p.slice(off, off + size)],
      size,
      lost: false,
    };
    if (endHeaders) this.blockEnd(d, block, ts);
    else d.block = block;
  }

  /** A whole header block: HPACK, then the event. */
  private blockEnd(d: Direction, open: OpenBlock, ts: Micros): void {
    const bytes = open.parts.length === 1 ? open.parts[0]! : Buffer.concat(open.parts);
    const { headers: fields, error } = d.hpack.decode(bytes);
    const block: Http2HeaderBlock = {
      streamId: open.streamId,
      endStream: open.endStream,
      priority: open.priority,
      promisedStreamId: open.promisedStreamId,
      fields,
      method: null,
      scheme: null,
      authority: null,
      path: null,
      status: null,
      contentLength: null,
      error,
      size: open.size,
    };
    for (const f of fields) {
      switch (f.name) {
        case ':method':
          block.method ??= f.value;
          break;
        case ':scheme':
          block.scheme ??= f.value;
          break;
        case ':authority':
          block.authority ??= f.value;
          break;
        case ':path':
          block.path ??= f.value;
          break;
        case ':status':
          if (block.status === null && /^\d{3}$/.test(f.value)) block.status = Number(f.value);
          break;
        case 'content-length':
          if (block.contentLength === null && /^\d{1,15}$/.test(f.value)) block.contentLength = Number(f.value);
          break;
      }
    }
    if (error !== null) this.problem(d, 'hpack', `HPACK: ${error.message}`, ts, open.streamId);
    if (open.type === FrameType.PUSH_PROMISE) this.events.pushPromise?.(d.side, block, ts);
    else this.events.headers?.(d.side, block, ts);
  }

  /** A header block could not be decoded: a problem, and that direction's HPACK table is lost. */
  private blockLost(d: Direction, streamId: number, reason: string, ts: Micros): void {
    d.hpack.markDesynchronized(reason);
    this.problem(d, 'header-block', reason, ts, streamId);
  }

  private settings(d: Direction, ts: Micros): void {
    const header = d.header;
    const length = header.length;
    const ack = (header.flags & FrameFlag.ACK) !== 0;
    if (header.streamId !== 0) return this.problem(d, 'bad-frame', `SETTINGS on stream ${header.streamId}`, ts);
    if (length % 6 !== 0 || (ack && length !== 0)) {
      return this.problem(d, 'bad-frame', `SETTINGS${ack ? ' ACK' : ''} of ${length} octets`, ts);
    }
    const params: Http2Setting[] = [];
    const other = d === this.c ? this.s : this.c;
    for (let o = 0; o + 6 <= d.bufLength; o += 6) {
      const id = u16be(d.buf, o);
      const value = u32be(d.buf, o + 2);
      params.push({ id, name: http2SettingName(id), value });
      if (id === SettingsParameter.HEADER_TABLE_SIZE) {
        // The sender decodes what the other side sends: its limit bounds that side's size updates.
        other.hpack.setTableSizeLimit(value);
      } else if (id === SettingsParameter.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) {
          this.problem(d, 'bad-frame', `SETTINGS_MAX_FRAME_SIZE ${value}, outside 2^14..2^24-1`, ts);
        } else {
          other.maxFrameSize = Math.max(other.maxFrameSize, value);
        }
      }
    }
    this.events.settings?.(d.side, { ack, params }, ts);
  }

  private problem(d: Direction, code: Http2ProblemCode, message: string, ts: Micros, streamId = 0): void {
    this.events.problem?.(d.side, { code, message, streamId }, ts);
  }

  private lose(d: Direction, reason: string, atByte: number): void {
    if (d.state === ST_LOST) return;
    d.state = ST_LOST;
    d.block = null;
    d.hpack.markDesynchronized('framing lost');
    this.events.lost?.(d.side, reason, atByte);
  }
}

/** Exclusive bit, stream dependency (31 bits), weight octet (RFC 9113 5.3.1 as RFC 7540 5.3 defined it). */
function priorityAt(p: Uint8Array, o: number): Http2Priority {
  const word = u32be(p, o);
  return { exclusive: word >= 0x80000000, dependency: word & 0x7fffffff, weight: p[o + 4]! + 1 };
}

/**
 * Does `bytes` (a connection's first payload) begin the client connection preface? At least its
 * first line ("PRI * HTTP/2.0\r\n", 16 octets: no HTTP/1.x request has that version) must be there.
 */
export function startsHttp2Preface(bytes: Uint8Array): boolean {
  const preface = HTTP2_CLIENT_PREFACE;
  const n = Math.min(bytes.length, preface.length);
  if (n < 16) return false;
  for (let i = 0; i < n; i++) if (bytes[i] !== preface[i]) return false;
  return true;
}

/**
 * Does `bytes` (a connection's first payload, from the server) look like a server connection
 * preface: a SETTINGS frame (not an ACK) on stream 0 whose length is a multiple of 6 and at most
 * 16 parameters (RFC 9113 3.4)? A server may send it before it has read the client's preface.
 */
export function looksLikeServerPreface(bytes: Uint8Array): boolean {
  if (bytes.length < FRAME_HEADER_LENGTH) return false;
  const length = (bytes[0]! << 16) | u16be(bytes, 1);
  return (
    bytes[3] === FrameType.SETTINGS && bytes[4] === 0 && length % 6 === 0 && length <= 16 * 6 && u32be(bytes, 5) === 0
  );
}
