/**
 * TCP reassembly of one direction (Zeek's TCP_Reassembler): segments in, in capture order; ordered
 * bytes out to a sink, with the holes that were given up reported as gaps and the FIN at its place
 * in the sequence space (RFC 9293 section 3.4: SYN and FIN take one sequence number each; sequence
 * numbers wrap around at 2^32, so every comparison is made on the 32-bit difference).
 *
 * A segment beyond a hole is copied and held until the hole is filled; a segment before `next` is a
 * retransmission, of which only the bytes beyond `next` are new. Holding is bounded: per flow (a hole
 * that MAX_SEGMENTS_PAST_HOLE segments or `maxPerFlow` bytes have passed is given up, see Flow.segment)
 * and over all flows (HoldBudget: the owner gives up the oldest holes first).
 */
import type { Micros } from '../../model/time.js';

/** Where a flow's bytes go, in order. */
export interface FlowSink {
  /** Bytes that follow on from the last ones: a view, valid during the call only. */
  deliver(bytes: Uint8Array, ts: Micros): void;
  /** `missing` bytes were not captured here: a hole given up, or the end of a segment cut by the snap length. */
  gap(missing: number, ts: Micros): void;
  /** The FIN: the sender's last byte came before it. */
  fin(ts: Micros): void;
}

/** How many later segments may pass a hole in the sequence space before we stop waiting for it. */
export const MAX_SEGMENTS_PAST_HOLE = 64;

/** Out-of-order bytes held by the flows of one tracker, against its limits. */
export class HoldBudget<S extends FlowSink = FlowSink> {
  /** Bytes held over all flows. */
  bytes = 0;
  /** The flows holding segments, in the order they began to hold (a Set keeps insertion order): oldest hole first. */
  readonly holders = new Set<Flow<S>>();

  constructor(
    /** Bytes one flow may hold before its hole is given up. */
    readonly maxPerFlow: number,
    /** Bytes all flows may hold; beyond it the owner gives up the oldest holes (see `over`). */
    readonly maxTotal: number,
  ) {}

  get over(): boolean {
    return this.bytes > this.maxTotal;
  }
}

/** A segment held until the hole before it is filled (or given up). */
interface Pending {
  seq: number;
  /** A copy: the packet's payload is a view into a capture chunk. */
  payload: Uint8Array;
  /** Its length on the wire (more than payload.length when the snap length cut it). */
  length: number;
  fin: boolean;
  ts: Micros;
}

/** One direction of a connection: the bytes one side sent, put back in order. */
export class Flow<S extends FlowSink = FlowSink> {
  /** Next expected sequence number; null until this direction's SYN or first segment is seen. */
  private next: number | null = null;
  /** Payload bytes seen on the wire, once each (those the snap length cut included, a hole's not). */
  bytes = 0;
  /** Segments that brought nothing new, or only some new bytes. */
  retransmissions = 0;
  /** Segments that came with a hole before them. */
  outOfOrder = 0;
  /** Bytes never captured: holes given up, segment ends cut by the snap length. */
  lostBytes = 0;
  /** Held segments, in arrival order; allocated on the first hole (most flows never have one). */
  private pending: Pending[] | null = null;
  private pendingBytes = 0;
  private segmentsPastHole = 0;

  constructor(
    readonly sink: S,
    private readonly budget: HoldBudget<S>,
  ) {}

  /** This direction's SYN (initial sequence number `isn`): its data starts at isn + 1. */
  synchronize(isn: number): void {
    this.next = (isn + 1) >>> 0;
  }

  /** Holds segments beyond a hole. */
  get holding(): boolean {
    return this.pending !== null && this.pending.length > 0;
  }

  /**
   * A segment with data and/or FIN: `length` bytes on the wire from `seq`, of which `payload` holds
   * those captured. Returns true when a hole has waited too long (too many segments or bytes have
   * passed it): the owner should give it up (giveUpHoles).
   */
  segment(seq: number, payload: Uint8Array, length: number, fin: boolean, ts: Micros): boolean {
    if (this.next === null) this.next = seq; // joined mid-stream
    const rel = (seq - this.next) | 0;
    if (rel > 0) {
      this.outOfOrder++;
      this.hold(seq, payload, length, fin, ts);
      return ++this.segmentsPastHole > MAX_SEGMENTS_PAST_HOLE || this.pendingBytes > this.budget.maxPerFlow;
    }
    if (rel < 0) {
      // Retransmission: deliver only what lies beyond what we already have.
      if (length + rel <= 0) {
        if (length > 0) this.retransmissions++;
        if (fin && length + rel === 0) this.finish(ts);
        return false;
      }
      this.retransmissions++;
      payload = payload.subarray(Math.min(payload.length, -rel));
      length += rel;
    }
    this.deliver(payload, length, ts);
    if (fin) this.finish(ts);
    if (this.holding) this.drain();
    return false;
  }

  /**
   * Capture time of the lowest held segment in sequence space (call only while `holding`):
   * giveUpHoles() gives up the holes of two flows in capture-time order.
   */
  holeTs(): Micros {
    return this.lowestPending()!.ts;
  }

  /** Gives up the lowest hole: its bytes are lost (a gap), the segment after it is delivered. */
  skipHole(): void {
    const seg = this.lowestPending();
    if (seg === undefined) return;
    const missing = (seg.seq - this.next!) | 0;
    if (missing > 0) {
      this.lostBytes += missing;
      this.sink.gap(missing, seg.ts);
      this.next = seg.seq;
    }
    this.unhold(this.pending!.indexOf(seg));
    this.release(seg);
    if (!this.holding) this.holdsNothing();
  }

  /** Delivers held segments that now follow on. */
  private drain(): void {
    const pending = this.pending!;
    let progressed = true;
    while (progressed && pending.length > 0) {
      progressed = false;
      for (let i = 0; i < pending.length; i++) {
        const seg = pending[i]!;
        if (((seg.seq - this.next!) | 0) > 0) continue;
        this.unhold(i);
        progressed = true;
        this.release(seg);
        break;
      }
    }
    if (pending.length === 0) this.holdsNothing();
  }

  /**
   * A held segment that starts at or before `next` (its hole filled or given up): deliver what lies
   * beyond `next`, or count it as a retransmission if nothing does; then its FIN.
   */
  private release(seg: Pending): void {
    const rel = (seg.seq - this.next!) | 0;
    if (seg.length + rel > 0) {
      this.deliver(seg.payload.subarray(Math.min(seg.payload.length, -rel)), seg.length + rel, seg.ts);
    } else if (seg.length > 0) {
      this.retransmissions++;
    }
    if (seg.fin) this.finish(seg.ts);
  }

  /** `length` bytes follow on, `payload` holds those captured (the snap length may have cut the rest). */
  private deliver(payload: Uint8Array, length: number, ts: Micros): void {
    this.next = (this.next! + length) >>> 0;
    this.bytes += length;
    if (length === 0) return;
    const missing = length - payload.length;
    if (payload.length > 0) this.sink.deliver(payload, ts);
    if (missing > 0) {
      this.lostBytes += missing;
      this.sink.gap(missing, ts);
    }
  }

  private finish(ts: Micros): void {
    this.next = (this.next! + 1) >>> 0;
    this.sink.fin(ts);
  }

  private hold(seq: number, payload: Uint8Array, length: number, fin: boolean, ts: Micros): void {
    // A copy: the payload is a view into the capture chunk (and Buffer#slice() would be a view too).
    (this.pending ??= []).push({ seq, payload: new Uint8Array(payload), length, fin, ts });
    this.pendingBytes += payload.length;
    this.budget.bytes += payload.length;
    this.budget.holders.add(this);
  }

  private unhold(index: number): void {
    const seg = this.pending!.splice(index, 1)[0]!;
    this.pendingBytes -= seg.payload.length;
    this.budget.bytes -= seg.payload.length;
  }

  private holdsNothing(): void {
    this.segmentsPastHole = 0;
    this.budget.holders.delete(this);
  }

  /** The held segment that comes first in the sequence space. */
  private lowestPending(): Pending | undefined {
    let lowest: Pending | undefined;
    for (const seg of this.pending ?? []) {
      if (lowest === undefined || ((seg.seq - lowest.seq) | 0) < 0) lowest = seg;
    }
    return lowest;
  }
}

/**
 * Gives up every hole of both directions of a connection: the held segments are delivered with the
 * two directions interleaved in capture-time order (so a stream meets requests and responses as they
 * were sent; `first` goes first on a tie), the bytes of each hole counted as lost.
 */
export function giveUpHoles(first: Flow, second: Flow): void {
  for (;;) {
    const a = first.holding;
    const b = second.holding;
    if (!a && !b) return;
    if (!b || (a && first.holeTs() <= second.holeTs())) first.skipHole();
    else second.skipHole();
  }
}
