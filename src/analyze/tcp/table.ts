/**
 * The tracker's connections and their lifecycle. A connection is found by its 4-tuple from a packet
 * going either way (TupleTable), and kept by id while it is live.
 *
 * Memory follows the connections open at once, not the connections seen: a connection is retired
 * (its record handed over, its state let go) once it is finished: a little capture time after its
 * RST or its second FIN (CLOSED_LINGER_US, so that what was still in flight, the last ACK, a RST after
 * the FINs, is counted as before; at most MAX_LINGERING wait at once), or when a new SYN reuses its
 * 4-tuple. Its 4-tuple is then remembered for a while (RETIRED_TUPLE_US, at most MAX_RETIRED_TUPLES)
 * so that a later packet of it (an ACK repeated, a FIN retransmitted) is recognised as such and
 * ignored: only a SYN starts a new connection on a retired 4-tuple.
 *
 * A handshake that never completes would otherwise stay to the end of the capture: a SYN flood of
 * 300,000 unanswered SYNs held 300,000 connections (1.5 GB). A connection that has seen only SYNs and
 * SYN/ACKs waits in a third queue: with no packet for HANDSHAKE_IDLE_US it expires, as its peers have
 * given up by then (its 4-tuple is marked as a retired one's); and at most MAX_HANDSHAKES wait at once,
 * beyond which the oldest expires early (its 4-tuple not marked: should an answer come after all, the
 * rest of the connection is still seen, as one that began before). All three waits are ExpiryQueues.
 */
import type { TcpPacket } from '../../model/packet.js';
import type { Micros } from '../../model/time.js';
import type { ConnectionContext, TcpConnection } from './connection.js';
import { ExpiryQueue, type Expiring } from './expiry-queue.js';
import type { PendingHandshake } from './handshake.js';
import { TupleTable, type TupleEntry } from './tuple-table.js';

/**
 * Capture time a closed connection (RST, or FIN both ways) stays in the table: the last ACK, segments
 * sent before the peer saw a RST (RFC 9293 section 3.5.3), a RST after the FINs (RFC 1337) still count.
 */
export const CLOSED_LINGER_US: Micros = 1_000_000;
/** At most this many closed connections wait out CLOSED_LINGER_US; beyond it the oldest are retired. */
export const MAX_LINGERING = 1024;
/**
 * How long (capture time) and how many retired 4-tuples are remembered, so that their late packets
 * (a last ACK repeated, a FIN retransmitted) do not start connections. Two minutes is twice the MSL
 * of RFC 9293 section 3.4.2: the TIME_WAIT span, after which a tuple may be reused.
 */
export const RETIRED_TUPLE_US: Micros = 120_000_000;
export const MAX_RETIRED_TUPLES = 8192;
/**
 * Capture time with no packet after which a connection still in its handshake (only SYN and SYN/ACK
 * seen) has expired: 127 s is when Linux gives up a connect() whose SYN is never answered
 * (net.ipv4.tcp_syn_retries = 6 retransmissions, the RTO doubling from 1 s as in RFC 6298 section 5.5:
 * 1 + 2 + 4 + 8 + 16 + 32 + 64 s); a server gives up its SYN/ACK sooner (tcp_synack_retries = 5, 63 s).
 * Checked lazily: a handshake expires between 127 and 254 s after its last packet.
 */
export const HANDSHAKE_IDLE_US: Micros = 127_000_000;
/**
 * At most this many connections in their handshake at once; beyond it the oldest expires early. 2048
 * is the SYN queue Debian gives a listener on a 24 GB machine (net.ipv4.tcp_max_syn_backlog: half-open
 * connections it remembers before answering with SYN cookies). It bounds a SYN flood: 300,000 SYNs
 * from random sources in 30 s peak at about 130 MB (analyze, --json alike), where 4096 took 147 MB and
 * 16,384 over 200 MB: a handshake given up this soon dies young, and the garbage collector frees it at
 * little cost (a live one holds about 0.9 kB).
 */
export const MAX_HANDSHAKES = 2048;

/** What is filed under a 4-tuple: a connection, one seen only in its first segment, or the mark of a retired one. */
export type Slot = TcpConnection | PendingHandshake | RetiredTuple;

/** A connection not retired yet: whole, or still only its first segment (tcp/handshake.ts). */
export type LiveConnection = TcpConnection | PendingHandshake;

/** Left in the table where a finished connection was: its late packets are not a new connection. */
export class RetiredTuple implements TupleEntry<Slot>, Expiring {
  readonly retiredTuple = true;
  readonly pendingHandshake = false;
  tupleLo = 0;
  tupleHi = 0;
  tupleHash = 0;
  nextInBucket: Slot | null = null;
  expiresAt = 0;
  queue: object | null = null;
  /** Still in the table (a new SYN on the tuple takes it out). */
  filed = true;

  constructor(
    /** The SYN its connection began with, if seen: that SYN again is a late packet, not a new connection. */
    readonly syn: { src: string; srcPort: number; isn: number } | null = null,
  ) {}

  /** `p` (a SYN) is its connection's first SYN again: same client, same initial sequence number. */
  repeatsSyn(p: TcpPacket): boolean {
    const syn = this.syn;
    return syn !== null && syn.isn === p.seq && syn.src === p.src && syn.srcPort === p.srcPort;
  }
}

export class ConnectionTable {
  /** The latest connection on each 4-tuple (an earlier one is retired by a new SYN), or its mark. */
  private readonly tuples = new TupleTable<Slot>();
  /** Connections not retired yet, by id (a Map keeps insertion order: id order). */
  private readonly live = new Map<number, LiveConnection>();
  /** Closed connections waiting for packets still in flight, in order of closing. */
  private readonly lingering = new ExpiryQueue<TcpConnection>(CLOSED_LINGER_US, MAX_LINGERING);
  /** Retired 4-tuples still remembered, oldest first (never cancelled: a reopened one just expires). */
  private readonly retired = new ExpiryQueue<RetiredTuple>(RETIRED_TUPLE_US, MAX_RETIRED_TUPLES);
  /** Connections in their handshake (only SYN, SYN/ACK seen), oldest check first (strict: a flood is bounded). */
  private readonly handshakes = new ExpiryQueue<LiveConnection>(HANDSHAKE_IDLE_US, MAX_HANDSHAKES, {
    strictMax: true,
  });

  /** Connections not retired yet. */
  get size(): number {
    return this.live.size;
  }

  has(id: number): boolean {
    return this.live.has(id);
  }

  /** The connections not retired yet, in id order. */
  connections(): IterableIterator<LiveConnection> {
    return this.live.values();
  }

  /** What is filed under the 4-tuple of `p` (either way), or null; add() files under that tuple. */
  find(p: TcpPacket): Slot | null {
    return this.tuples.find(p.src, p.srcPort, p.dst, p.dstPort);
  }

  /** Files a new connection under the 4-tuple of the last find(), which found nothing (or a mark taken out). */
  add(conn: LiveConnection): void {
    this.tuples.add(conn);
    this.live.set(conn.id, conn);
  }

  /**
   * Opens a connection seen so far only in its first segment (PendingHandshake.open) in its place:
   * same 4-tuple, same id (and so the same place in id order). No longer waiting for an answer
   * there: the caller queues the connection again if it still waits for one.
   */
  open(pending: PendingHandshake, context: ConnectionContext): TcpConnection {
    const conn = pending.open(context);
    this.tuples.replace(pending, conn);
    this.live.set(conn.id, conn);
    this.handshakes.cancel(pending);
    return conn;
  }

  /** A connection not retired yet, whole (opened in its place if it was still its first segment). */
  whole(conn: LiveConnection, context: ConnectionContext): TcpConnection {
    return conn.pendingHandshake ? this.open(conn, context) : conn;
  }

  /** A SYN opens a new connection on a retired 4-tuple: its mark goes. */
  reopen(mark: RetiredTuple): void {
    this.unfile(mark);
  }

  /**
   * `conn` is new and in its handshake: it waits for an answer (HANDSHAKE_IDLE_US). True when more
   * than MAX_HANDSHAKES wait: expire some (nextHandshakeDue).
   */
  handshaking(conn: LiveConnection, now: Micros): boolean {
    return this.handshakes.push(conn, now);
  }

  /** `conn` waits for an answer (handshaking, not expired, cancelled or opened since). */
  inHandshakeQueue(conn: LiveConnection): boolean {
    return this.handshakes.has(conn);
  }

  /** `conn` is past its handshake (or closed): it no longer waits for an answer. */
  handshakeDone(conn: TcpConnection): void {
    this.handshakes.cancel(conn);
  }

  /** Handshakes are due for a check at `now` (nextHandshakeDue). */
  handshakesDue(now: Micros): boolean {
    return this.handshakes.due(now);
  }

  /**
   * The next connection in its handshake to look at, at `now`: its wait is over (expire it if idle
   * for HANDSHAKE_IDLE_US, else waitAgain()), or more than MAX_HANDSHAKES wait (expire it). Or null.
   */
  nextHandshakeDue(now: Micros): LiveConnection | null {
    return this.handshakes.take(now);
  }

  /** A handshake taken out by nextHandshakeDue had a packet since it was queued: it waits again from `now`. */
  waitAgain(conn: LiveConnection, now: Micros): void {
    this.handshakes.push(conn, now);
  }

  /** `conn` has closed: it waits CLOSED_LINGER_US. True when more than MAX_LINGERING wait: retire some. */
  closing(conn: TcpConnection, now: Micros): boolean {
    this.handshakes.cancel(conn);
    return !this.lingering.has(conn) && this.lingering.push(conn, now);
  }

  /** Closed connections are due at `now`: retire them (nextToRetire). */
  lingeringDue(now: Micros): boolean {
    return this.lingering.due(now);
  }

  /** The next closed connection to retire at `now` (it waited long enough, or too many wait), or null. */
  nextToRetire(now: Micros): TcpConnection | null {
    return this.lingering.take(now);
  }

  /**
   * Takes a connection being retired out: of the live set, of the lingering ones, and of the 4-tuple
   * table, where `markTuple` leaves a RetiredTuple in its place (not when a new SYN takes the tuple).
   */
  remove(conn: TcpConnection, markTuple: boolean, now: Micros): void {
    if (markTuple) {
      const mark = new RetiredTuple(conn.firstSyn());
      this.tuples.replace(conn, mark);
      if (this.retired.push(mark, now)) this.forgetTuples(now);
    } else {
      this.tuples.remove(conn);
    }
    this.live.delete(conn.id);
    this.lingering.cancel(conn);
    this.handshakes.cancel(conn);
  }

  /** Retired 4-tuples are due at `now`: forget them (forgetTuples). */
  tuplesDue(now: Micros): boolean {
    return this.retired.due(now);
  }

  /** Forgets retired 4-tuples past RETIRED_TUPLE_US (or the oldest, beyond MAX_RETIRED_TUPLES). */
  forgetTuples(now: Micros): void {
    for (let mark = this.retired.take(now); mark !== null; mark = this.retired.take(now)) {
      if (mark.filed) this.unfile(mark);
    }
  }

  private unfile(mark: RetiredTuple): void {
    this.tuples.remove(mark);
    mark.filed = false;
  }
}
