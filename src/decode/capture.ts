/**
 * Streaming capture reader: bytes of a pcap or pcapng file in, CaptureFrames out.
 *
 *   pcap:   https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/ (decoded in pcap.ts)
 *   pcapng: https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/ (decoded in pcapng.ts)
 *
 * The format is told from the first four bytes. Both formats are a sequence of length-prefixed
 * records, so the reader is one loop over "how long is the record here?" and "decode this record",
 * which the format parsers answer. Records that lie whole inside a pushed chunk are decoded in
 * place (frames are views into the chunk); only a record split across chunks is copied, into a
 * buffer of its own that is never reused, so a frame's bytes stay valid as long as it is referenced.
 * Frames are always plain Uint8Array views, even when a Node.js Buffer was pushed: so `slice()` on
 * a frame or a payload copies (Buffer's `slice()` returns a view) and `subarray()` takes V8's fast
 * path rather than Buffer's constructor.
 *
 * Errors: bytes that are neither format -> NotACaptureError; a file header that makes no sense ->
 * MalformedCaptureError. Trouble further in is a warning: a record whose length is absurd stops the
 * reading (there is no way to find the next record), a damaged pcapng block is skipped, a file that
 * ends inside a record loses that record. Memory is bounded by maxRecordLength whatever the input.
 */
import { NotACaptureError } from '../errors.js';
import type { CaptureFrame } from '../model/packet.js';
import type { Warning, WarningCode } from '../model/report.js';
import { u32be } from './cursor.js';
import { PCAP_MAGIC, PcapParser } from './pcap.js';
import { PCAPNG_SECTION_HEADER, PcapngParser } from './pcapng.js';

/** One interface a capture was taken on. */
export interface CaptureInterfaceInfo {
  /** pcapng interface index within its section; 0 for pcap. */
  id: number;
  linkType: number;
  /** Snap length; 0 means no limit. */
  snaplen: number;
  /** Timestamp units per second (1e6 for microseconds, 1e9 for nanoseconds). */
  tsUnitsPerSecond: number;
  /** pcapng if_name option, when present. */
  name?: string;
}

/** What the reader learned about the capture. Reported again whenever it changes. */
export interface CaptureInfo {
  format: 'pcap' | 'pcapng';
  /** Byte order of the file (pcapng: of the current section). */
  byteOrder: 'le' | 'be';
  /** Format version, "major.minor" (pcap 2.4, pcapng 1.0). */
  version: string;
  /** Link-layer types seen so far, each once, in order of first appearance (all sections). */
  linkTypes: number[];
  /** pcap: the file's snap length; pcapng: the largest of the current interfaces' (0 = no limit). */
  snaplen: number;
  /** pcap: 1e6 or 1e9; pcapng: the first interface's (1e6 when there is none yet). */
  tsUnitsPerSecond: number;
  /** pcapng sections seen so far; 1 for pcap. */
  sections: number;
  /** Interfaces of the current section (pcap: exactly one). */
  interfaces: CaptureInterfaceInfo[];
}

/** A frame without its bytes, as handed to CaptureSink.frameAt(). */
export type FrameMeta = Omit<CaptureFrame, 'data'>;

export interface CaptureSink {
  /** One frame. Its `data` is a view into the bytes pushed (or a copy for a record split across pushes). */
  frame(f: CaptureFrame): void;
  /**
   * The fast path, called instead of frame() when present: the frame is `bytes[start, end)`, where
   * `bytes` is the chunk pushed (or a copy of a record split across pushes). Nothing is allocated per
   * frame: `meta` is one object, overwritten for the next frame.
   */
  frameAt?(bytes: Uint8Array, start: number, end: number, meta: FrameMeta): void;
  warning?(w: Warning): void;
  /** Called after the file header, and again after each pcapng section or interface block. */
  info?(i: CaptureInfo): void;
}

/** A sink that takes frames as views (`frameAt`): what one capture's reader hands several analyses. */
export type FrameSink = CaptureSink & Required<Pick<CaptureSink, 'frameAt'>>;

export interface CaptureReaderOptions {
  /** Largest record accepted, in bytes; a longer one is taken as corruption. Default 64 MiB. */
  maxRecordLength?: number;
}

/** Warning codes of the capture reader. */
export const CaptureWarning = {
  /** The capture ends inside a record (a capture cut short, or still being written). */
  TRUNCATED: 'KAL_WARN_TRUNCATED',
  /** A record length is absurd (larger than maxRecordLength, smaller than its header): reading stopped. */
  BAD_RECORD_LENGTH: 'KAL_WARN_BAD_RECORD_LENGTH',
  /** A pcapng block contradicts itself or refers to an unknown interface: skipped. */
  MALFORMED_BLOCK: 'KAL_WARN_MALFORMED_BLOCK',
  /** A format version this reader was not written for: decoded as if it were the known one. */
  UNKNOWN_VERSION: 'KAL_WARN_UNKNOWN_VERSION',
} as const satisfies Record<string, WarningCode>;

/** 64 MiB: far above any real frame (jumbo frames are 9 KiB, TSO super-segments 64 KiB or 256 KiB). */
export const DEFAULT_MAX_RECORD_LENGTH = 64 * 1024 * 1024;
/** The first bytes that tell the formats apart (pcap magic number, pcapng block type). */
const MAGIC_LENGTH = 4;
/** Each warning code is reported this many times; the rest are counted and summed up by end(). */
const MAX_WARNINGS_PER_CODE = 10;
/** First allocation for a record split across chunks; it grows by doubling up to the record length. */
const MIN_PENDING_CAPACITY = 4096;

/**
 * What a format parser does for the reader. measure() returns the length of the record at `offset`
 * (> 0), or -n when it needs n bytes to tell, or 0 to stop reading (after reporting why). A record
 * length is never smaller than the byte count the parser asked for to tell it.
 */
export interface RecordParser {
  measure(b: Uint8Array, offset: number, available: number): number;
  record(b: Uint8Array, offset: number, length: number): void;
}

/** What the reader offers a format parser. */
export interface RecordContext {
  readonly maxRecordLength: number;
  /** One frame, `b[start, end)`, with what the record says of it (ts in microseconds). */
  frame(
    b: Uint8Array,
    start: number,
    end: number,
    ts: number,
    linkType: number,
    interfaceId: number,
    originalLength: number,
  ): void;
  warn(code: WarningCode, message: string): void;
  info(i: CaptureInfo): void;
}

export class CaptureReader {
  private readonly sink: CaptureSink;
  private readonly context: RecordContext;
  private parser: RecordParser | null = null;
  /** A record split across pushes: its first `pendingLength` bytes, and what measure() said. */
  private pending: Uint8Array | null = null;
  private pendingLength = 0;
  private pendingNeed = 0;
  private stopped = false;
  private ended = false;
  private frameCount = 0;
  private byteCount = 0;
  private lastInfo: CaptureInfo | null = null;
  private readonly warningCounts = new Map<WarningCode, number>();

  constructor(sink: CaptureSink, options?: CaptureReaderOptions) {
    this.sink = sink;
    const maxRecordLength = options?.maxRecordLength ?? DEFAULT_MAX_RECORD_LENGTH;
    const meta: FrameMeta = { ts: 0, linkType: 0, interfaceId: 0, originalLength: 0 };
    this.context = {
      maxRecordLength,
      frame: (b, start, end, ts, linkType, interfaceId, originalLength) => {
        this.frameCount++;
        if (sink.frameAt !== undefined) {
          meta.ts = ts;
          meta.linkType = linkType;
          meta.interfaceId = interfaceId;
          meta.originalLength = originalLength;
          sink.frameAt(b, start, end, meta);
        } else {
          sink.frame({ ts, linkType, interfaceId, data: b.subarray(start, end), originalLength });
        }
      },
      warn: (code, message) => this.warn(code, message),
      info: (i) => {
        this.lastInfo = i;
        this.sink.info?.(i);
      },
    };
  }

  /** Frames delivered so far. */
  get frames(): number {
    return this.frameCount;
  }

  /** Bytes pushed so far. */
  get bytes(): number {
    return this.byteCount;
  }

  /**
   * Reading has stopped on damage (a record length that cannot be right, a bad file header): the rest
   * of the input will be ignored, so a caller reading a stream can stop reading it (an endless one too).
   */
  get readingStopped(): boolean {
    return this.stopped;
  }

  /** The latest description of the capture (null before the file header was read). */
  get info(): CaptureInfo | null {
    return this.lastInfo;
  }

  /** Feeds the next bytes of the capture. Throws NotACaptureError / MalformedCaptureError on a bad start. */
  push(chunk: Uint8Array): void {
    this.byteCount += chunk.length;
    if (this.stopped || this.ended || chunk.length === 0) return;
    try {
      this.consume(
        Object.getPrototypeOf(chunk) === Uint8Array.prototype
          ? chunk
          : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length),
      );
    } catch (error) {
      // Only the file header throws; there is nothing sensible to read after it.
      this.stopped = true;
      throw error;
    }
  }

  /**
   * No more bytes: reports a trailing partial record (KAL_WARN_TRUNCATED) and how many warnings were
   * held back. Throws NotACaptureError when fewer than 4 bytes came in (nothing to tell a format by).
   */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.stopped && this.parser === null) {
      throw new NotACaptureError(
        this.byteCount === 0
          ? 'empty input: no capture file header'
          : `only ${this.byteCount} bytes: too short for a capture file header`,
      );
    }
    if (!this.stopped && this.pendingLength > 0) {
      const need = this.pendingNeed > 0 ? `${this.pendingNeed} bytes` : 'its header';
      this.warn(
        CaptureWarning.TRUNCATED,
        `the capture ends inside a record (${this.pendingLength} bytes of ${need}); that record is lost`,
      );
    }
    this.pending = null;
    this.pendingLength = 0;
    for (const [code, count] of this.warningCounts) {
      if (count > MAX_WARNINGS_PER_CODE) {
        this.sink.warning?.({
          code,
          message: `${count - MAX_WARNINGS_PER_CODE} more warnings like this were not shown`,
        });
      }
    }
  }

  private warn(code: WarningCode, message: string): void {
    const count = (this.warningCounts.get(code) ?? 0) + 1;
    this.warningCounts.set(code, count);
    if (count <= MAX_WARNINGS_PER_CODE) this.sink.warning?.({ code, message });
  }

  private consume(chunk: Uint8Array): void {
    let offset = 0;
    if (this.pendingLength > 0) {
      offset = this.completePending(chunk);
      if (this.stopped || this.pendingLength > 0) return;
    }
    const length = chunk.length;
    while (offset < length) {
      const available = length - offset;
      const need = this.measure(chunk, offset, available);
      if (need === 0) {
        this.stopped = true;
        return;
      }
      if (need < 0 || need > available) {
        this.stash(chunk, offset, need);
        return;
      }
      this.parser!.record(chunk, offset, need);
      offset += need;
    }
  }

  /** Asks the parser (after choosing it from the magic number on the first call). */
  private measure(b: Uint8Array, offset: number, available: number): number {
    if (this.parser === null) {
      if (available < MAGIC_LENGTH) return -MAGIC_LENGTH;
      this.parser = this.detect(b, offset);
    }
    return this.parser.measure(b, offset, available);
  }

  private detect(b: Uint8Array, offset: number): RecordParser {
    const magic = u32be(b, offset);
    if (magic === PCAPNG_SECTION_HEADER) return new PcapngParser(this.context);
    for (const known of Object.values(PCAP_MAGIC)) {
      if (magic === known.be || magic === known.le) return new PcapParser(this.context);
    }
    throw new NotACaptureError(`not a pcap or pcapng file (starts with 0x${magic.toString(16).padStart(8, '0')})`);
  }

  /** Keeps the unread tail of a chunk: the start of a record that continues in the next push. */
  private stash(chunk: Uint8Array, offset: number, need: number): void {
    const tail = chunk.length - offset;
    const target = need < 0 ? -need : need;
    this.pending = new Uint8Array(Math.min(target, Math.max(MIN_PENDING_CAPACITY, tail)));
    this.pending.set(chunk.subarray(offset));
    this.pendingLength = tail;
    this.pendingNeed = need;
  }

  /** Completes the pending record from the head of `chunk`; returns how many bytes of it were used. */
  private completePending(chunk: Uint8Array): number {
    let offset = 0;
    for (;;) {
      const need = this.pendingNeed;
      const target = need < 0 ? -need : need;
      const take = Math.min(target - this.pendingLength, chunk.length - offset);
      this.reserve(this.pendingLength + take, target);
      this.pending!.set(chunk.subarray(offset, offset + take), this.pendingLength);
      this.pendingLength += take;
      offset += take;
      if (this.pendingLength < target) return offset; // the chunk is used up
      if (need < 0) {
        // The header is complete: now the parser can say how long the record is.
        const measured = this.measure(this.pending!, 0, this.pendingLength);
        const broken = measured < 0 ? -measured <= this.pendingLength : measured < this.pendingLength;
        if (measured === 0 || broken) {
          // 0: the parser reported why. Otherwise it broke its contract: stop rather than loop.
          this.stopped = true;
          return offset;
        }
        this.pendingNeed = measured;
        if (measured < 0 || measured > this.pendingLength) continue;
      }
      const record = this.pending!;
      const length = this.pendingLength;
      this.pending = null;
      this.pendingLength = 0;
      this.pendingNeed = 0;
      this.parser!.record(record, 0, length);
      return offset;
    }
  }

  /** Makes room for `size` bytes in the pending buffer, growing by doubling, never past `limit`. */
  private reserve(size: number, limit: number): void {
    const current = this.pending!;
    if (current.length >= size) return;
    const grown = new Uint8Array(Math.min(limit, Math.max(size, current.length * 2)));
    grown.set(current.subarray(0, this.pendingLength));
    this.pending = grown;
  }
}
