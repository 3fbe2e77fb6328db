/**
 * IP fragment reassembly: IPv4 (RFC 791 section 3.2, RFC 815 for the holes) and IPv6 (RFC 8200
 * section 4.5). Pure and bounded: fragments in, whole datagrams out, state held by capture time.
 *
 * A datagram is named as the receiving host names it: source, destination, identification and
 * protocol for IPv4 (RFC 791), source, destination and identification for IPv6 (RFC 8200 section
 * 4.5). Its fragments may come in any order and are kept as pieces, sorted by offset; it is whole
 * when the last one (More Fragments clear) is in and the pieces leave no hole before its end.
 *
 * Overlaps: an exact duplicate of a fragment held (a retransmission) is dropped; any other overlap,
 * or a last fragment that disagrees with what is held, discards the whole datagram. That is RFC 5722
 * for IPv6 and what Linux does for IPv4 as well since 4.19 ("ip: discard IPv4 datagrams with
 * overlapping segments", net/ipv4/inet_fragment.c): the receiver saw no datagram, so neither do we.
 * Later fragments of a discarded datagram are held nowhere until its timeout.
 *
 * Bounds, as Linux's: a datagram waits at most 30 s (IPv4, net.ipv4.ipfrag_time) or 60 s (IPv6,
 * net.ipv6.ip6frag_time) of capture time from its first fragment, and all of them together hold at
 * most 4 MiB (net.ipv4.ipfrag_high_thresh); beyond it the oldest are given up. A datagram given up
 * (timed out, over the budget, or still waiting when the capture ends) is counted incomplete.
 *
 * A fragment the snap length cut is kept as captured: the datagram is whole when the fragments'
 * lengths say so, and is handed over with its captured bytes up to the first one missing, so the
 * TCP layer sees a cut payload, as it would for a cut unfragmented packet.
 */
import type { Micros } from '../model/time.js';
import { u16be, u32be } from './cursor.js';
import {
  IPV4_FLAGS_FRAGMENT_OFFSET,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_IDENTIFICATION_OFFSET,
  IPV4_MORE_FRAGMENTS,
  ipv4ToString,
  type IpResult,
} from './ipv4.js';
import {
  IPV6_FRAGMENT_HEADER_LENGTH,
  IPV6_FRAGMENT_IDENTIFICATION,
  IPV6_FRAGMENT_OFFSET_SHIFT,
  IPV6_FRAGMENT_OFFSET_WORD,
  IPV6_HEADER_LENGTH,
  IPV6_MORE_FRAGMENTS,
  IPV6_NEXT_HEADER_OFFSET,
  IPV6_PAYLOAD_LENGTH_OFFSET,
  ipv6ToString,
} from './ipv6.js';

/** Capture time a datagram may wait for its fragments: Linux's ipfrag_time and ip6frag_time defaults. */
export const IPV4_FRAGMENT_TIMEOUT: Micros = 30_000_000;
export const IPV6_FRAGMENT_TIMEOUT: Micros = 60_000_000;
/** Bytes all waiting datagrams may hold: Linux's ipfrag_high_thresh default. */
export const FRAGMENT_MEMORY_BUDGET = 4 * 1024 * 1024;
/** What one waiting datagram costs beyond its bytes (its record, key, piece list), in the budget. */
const DATAGRAM_OVERHEAD = 256;
/** Fragment offsets count 8-byte units; every fragment but the last is a multiple of 8 bytes long. */
const FRAGMENT_UNIT = 8;
/** The largest datagram: IPv4's total length and IPv6's payload length are 16-bit fields. */
const MAX_DATAGRAM_LENGTH = 0xffff;
const IPV4_TOTAL_LENGTH_OFFSET = 2;

/** What became of the datagrams; the decoder's stats hold these counters. */
export interface FragmentCounts {
  /** Datagrams reassembled from their fragments. */
  datagramsReassembled: number;
  /** Datagrams given up with fragments missing: timed out, over the memory budget, or at the end of the capture. */
  datagramsIncomplete: number;
  /** Datagrams discarded because their fragments overlapped or disagreed (RFC 5722). */
  datagramsDiscarded: number;
}

export interface ReassemblerOptions {
  ipv4Timeout?: Micros;
  ipv6Timeout?: Micros;
  maxBytes?: number;
}

/** What add() made of a fragment. */
export const Fragment = {
  /** Held (or dropped as a duplicate, or part of a discarded datagram): nothing to decode yet. */
  HELD: 0,
  /** It completed its datagram: `datagram` holds it, `datagramEnd` says how much was captured. */
  COMPLETE: 1,
  /** Its fields contradict themselves (past 65535 bytes; IPv6: not a multiple of 8 bytes before the last). */
  MALFORMED: 2,
} as const;
export type FragmentStatus = (typeof Fragment)[keyof typeof Fragment];

interface Piece {
  /** Offset of its first byte in the datagram's payload, and of the byte after its last (its length on the wire). */
  start: number;
  end: number;
  /** The bytes captured (fewer than end - start when the snap length cut the fragment). */
  bytes: Uint8Array;
}

class Datagram {
  /** The IP header of the first fragment (offset 0), once seen: IPv4 with its options, IPv6's fixed 40 bytes. */
  header: Uint8Array | null = null;
  /** IPv6: the Next Header of the first fragment's fragment header (what the reassembled payload is). */
  nextHeader = 0;
  /** Payload length, known once the last fragment is in; -1 until then. */
  total = -1;
  readonly pieces: Piece[] = [];
  /** Bytes held in the budget (its pieces and its overhead). */
  held = DATAGRAM_OVERHEAD;
  /** Discarded for an overlap: kept (empty) until its timeout so that its other fragments stay unmatched. */
  dead = false;

  constructor(
    readonly key: string,
    readonly firstTs: Micros,
  ) {}
}

export class FragmentReassembler {
  /** After add() returned COMPLETE: the reassembled datagram (a new buffer), and the end of its captured bytes. */
  datagram: Uint8Array = new Uint8Array(0);
  datagramEnd = 0;
  private readonly v4 = new Map<string, Datagram>();
  private readonly v6 = new Map<string, Datagram>();
  private bytes = 0;
  private readonly ipv4Timeout: Micros;
  private readonly ipv6Timeout: Micros;
  private readonly maxBytes: number;

  constructor(
    private readonly counts: FragmentCounts,
    options: ReassemblerOptions = {},
  ) {
    this.ipv4Timeout = options.ipv4Timeout ?? IPV4_FRAGMENT_TIMEOUT;
    this.ipv6Timeout = options.ipv6Timeout ?? IPV6_FRAGMENT_TIMEOUT;
    this.maxBytes = options.maxBytes ?? FRAGMENT_MEMORY_BUDGET;
  }

  /** Bytes held by the datagrams waiting for fragments. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Datagrams waiting for fragments (discarded ones waiting out their timeout included). */
  get waiting(): number {
    return this.v4.size + this.v6.size;
  }

  /** The IPv4 fragment whose header is at `ipOffset` in `data`, decoded by decodeIpv4 into `ip`. */
  addIpv4(data: Uint8Array, ipOffset: number, ip: IpResult, ts: Micros): FragmentStatus {
    const word = u16be(data, ipOffset + IPV4_FLAGS_FRAGMENT_OFFSET);
    const id = u16be(data, ipOffset + IPV4_IDENTIFICATION_OFFSET);
    const key = `${ipv4ToString(data, ip.srcOffset)} ${ipv4ToString(data, ip.dstOffset)} ${id} ${ip.protocol}`;
    const headerLength = ip.transportOffset - ipOffset;
    return this.add(
      4,
      key,
      ts,
      (word & IPV4_FRAGMENT_OFFSET_MASK) * FRAGMENT_UNIT,
      (word & IPV4_MORE_FRAGMENTS) !== 0,
      ip.transportLength,
      data,
      ip.transportOffset,
      ip.capturedEnd,
      MAX_DATAGRAM_LENGTH - headerLength,
      ipOffset,
      0,
    );
  }

  /** The IPv6 fragment whose header is at `ipOffset`, decoded by decodeIpv6 (transportOffset: its fragment header). */
  addIpv6(data: Uint8Array, ipOffset: number, ip: IpResult, ts: Micros): FragmentStatus {
    const fragmentHeader = ip.transportOffset;
    const word = u16be(data, fragmentHeader + IPV6_FRAGMENT_OFFSET_WORD);
    const id = u32be(data, fragmentHeader + IPV6_FRAGMENT_IDENTIFICATION);
    const key = `${ipv6ToString(data, ip.srcOffset)} ${ipv6ToString(data, ip.dstOffset)} ${id}`;
    return this.add(
      6,
      key,
      ts,
      (word >> IPV6_FRAGMENT_OFFSET_SHIFT) * FRAGMENT_UNIT,
      (word & IPV6_MORE_FRAGMENTS) !== 0,
      ip.transportLength - IPV6_FRAGMENT_HEADER_LENGTH,
      data,
      fragmentHeader + IPV6_FRAGMENT_HEADER_LENGTH,
      ip.capturedEnd,
      MAX_DATAGRAM_LENGTH,
      ipOffset,
      data[fragmentHeader]!,
    );
  }

  /**
   * The capture ended (or a caller wants its counts final): every datagram still waiting is given up
   * and counted incomplete.
   */
  end(): void {
    for (const d of this.v4.values()) this.remove(this.v4, d);
    for (const d of this.v6.values()) this.remove(this.v6, d);
  }

  private add(
    version: 4 | 6,
    key: string,
    ts: Micros,
    start: number,
    more: boolean,
    length: number,
    data: Uint8Array,
    dataStart: number,
    capturedEnd: number,
    maxLength: number,
    ipOffset: number,
    nextHeader: number,
  ): FragmentStatus {
    if (more && length % FRAGMENT_UNIT !== 0) {
      // Every fragment but the last is a multiple of 8 bytes long: Linux trims an IPv4 one to it
      // (ip_frag_queue), and discards an IPv6 one as RFC 8200 section 4.5 says.
      if (version === 6) return Fragment.MALFORMED;
      length -= length % FRAGMENT_UNIT;
    }
    const end = start + length;
    if (end > maxLength || (more && length === 0)) return Fragment.MALFORMED;
    this.expire(ts);
    const map = version === 4 ? this.v4 : this.v6;
    let d = map.get(key);
    if (d === undefined) {
      d = new Datagram(key, ts);
      map.set(key, d);
      this.bytes += d.held;
    }
    if (d.dead) return Fragment.HELD;
    // Where it goes among the pieces (sorted by offset), and whether it overlaps one.
    const pieces = d.pieces;
    let at = pieces.length;
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (p.start === start && p.end === end) return Fragment.HELD; // the same fragment again
      if (p.start < end && start < p.end) return this.discard(d);
      if (p.start > start) {
        at = i;
        break;
      }
    }
    if (!more) {
      // The last fragment fixes the length: nothing held may lie beyond it, another last must agree.
      if ((d.total >= 0 && d.total !== end) || (pieces.length > 0 && pieces[pieces.length - 1]!.end > end))
        return this.discard(d);
      d.total = end;
    } else if (d.total >= 0 && end > d.total) {
      return this.discard(d);
    }
    const captured = Math.max(0, Math.min(capturedEnd - dataStart, length));
    pieces.splice(at, 0, { start, end, bytes: data.slice(dataStart, dataStart + captured) });
    d.held += captured;
    this.bytes += captured;
    if (start === 0) {
      const headerEnd = version === 4 ? dataStart : ipOffset + IPV6_HEADER_LENGTH;
      d.header = data.slice(ipOffset, headerEnd);
      d.nextHeader = nextHeader;
    }
    if (this.complete(d)) {
      this.build(version, d);
      map.delete(key);
      this.bytes -= d.held;
      this.counts.datagramsReassembled++;
      return Fragment.COMPLETE;
    }
    this.shed();
    return Fragment.HELD;
  }

  private complete(d: Datagram): boolean {
    if (d.total < 0 || d.header === null) return false;
    let covered = 0;
    for (const p of d.pieces) {
      if (p.start !== covered) return false;
      covered = p.end;
    }
    return covered === d.total;
  }

  /** The datagram as the receiver rebuilds it: the first fragment's header, lengths fixed, the payload in order. */
  private build(version: 4 | 6, d: Datagram): void {
    const header = d.header!;
    const h = header.length;
    const out = new Uint8Array(h + d.total);
    out.set(header);
    if (version === 4) {
      const total = h + d.total;
      out[IPV4_TOTAL_LENGTH_OFFSET] = total >> 8;
      out[IPV4_TOTAL_LENGTH_OFFSET + 1] = total & 0xff;
      out[IPV4_FLAGS_FRAGMENT_OFFSET] = 0;
      out[IPV4_FLAGS_FRAGMENT_OFFSET + 1] = 0;
    } else {
      // The fragmentable part only, after the fixed header (RFC 8200 section 4.5): the headers that
      // preceded the fragment header (hop-by-hop, routing) are not needed to read the payload.
      out[IPV6_PAYLOAD_LENGTH_OFFSET] = d.total >> 8;
      out[IPV6_PAYLOAD_LENGTH_OFFSET + 1] = d.total & 0xff;
      out[IPV6_NEXT_HEADER_OFFSET] = d.nextHeader;
    }
    // Captured bytes run from the start up to the first piece the snap length cut.
    let captured = 0;
    let whole = true;
    for (const p of d.pieces) {
      out.set(p.bytes, h + p.start);
      if (whole) {
        captured = p.start + p.bytes.length;
        whole = p.bytes.length === p.end - p.start;
      }
    }
    this.datagram = out;
    this.datagramEnd = h + captured;
  }

  private discard(d: Datagram): FragmentStatus {
    d.dead = true;
    this.bytes -= d.held - DATAGRAM_OVERHEAD;
    d.held = DATAGRAM_OVERHEAD;
    d.pieces.length = 0;
    d.header = null;
    this.counts.datagramsDiscarded++;
    return Fragment.HELD;
  }

  private remove(map: Map<string, Datagram>, d: Datagram): void {
    map.delete(d.key);
    this.bytes -= d.held;
    if (!d.dead) this.counts.datagramsIncomplete++;
  }

  /** Datagrams older than their timeout are given up (maps keep insertion order: the oldest first). */
  private expire(now: Micros): void {
    this.expireIn(this.v4, now - this.ipv4Timeout);
    this.expireIn(this.v6, now - this.ipv6Timeout);
  }

  private expireIn(map: Map<string, Datagram>, before: Micros): void {
    for (const d of map.values()) {
      if (d.firstTs > before) return;
      this.remove(map, d);
    }
  }

  /** Over the budget: the oldest datagrams are given up until the rest fits. */
  private shed(): void {
    while (this.bytes > this.maxBytes) {
      const a = this.v4.values().next().value;
      const b = this.v6.values().next().value;
      if (a === undefined && b === undefined) return;
      if (b === undefined || (a !== undefined && a.firstTs <= b.firstTs)) this.remove(this.v4, a!);
      else this.remove(this.v6, b);
    }
  }
}
