/**
 * A connection seen only in its first segment, a SYN (or a SYN/ACK whose SYN the capture missed),
 * perhaps repeated: held small until another segment comes, then opened into the TcpConnection it
 * stands for, which replays it (the connection's state is built by the connection alone, so its
 * record is the same as if it had been opened at once).
 *
 * Why: a SYN flood is thousands of these at once. As whole connections (peers, flows, endpoints:
 * about 1 kB each) they outlived the garbage collector's young generation and were promoted to the
 * old one, which grew between collections: 300,000 unanswered SYNs peaked at 145-170 MB. Held in one
 * small object each (about 0.2 kB) they die young, collected at little cost.
 */
import { TcpFlag, type TcpPacket } from '../../model/packet.js';
import type { Micros } from '../../model/time.js';
import { TcpConnection, type ConnectionContext } from './connection.js';
import type { Expiring } from './expiry-queue.js';
import type { Slot } from './table.js';
import type { TupleEntry } from './tuple-table.js';

/** Flags a first segment may carry and still wait here: SYN, ACK (a SYN/ACK), and ECN's ECE and CWR. */
const WAITING_FLAGS = TcpFlag.SYN | TcpFlag.ACK | TcpFlag.ECE | TcpFlag.CWR;

const NO_PAYLOAD = new Uint8Array(0);

/** The segment replayed into the connection when it opens (one object: a connection keeps no packet). */
const replay: TcpPacket = {
  ts: 0,
  ipVersion: 4,
  src: '',
  dst: '',
  srcPort: 0,
  dstPort: 0,
  seq: 0,
  ack: 0,
  flags: 0,
  window: 0,
  payloadLength: 0,
  payload: NO_PAYLOAD,
  tunnel: null,
};

export class PendingHandshake implements TupleEntry<Slot>, Expiring {
  readonly retiredTuple = false;
  readonly pendingHandshake = true;
  // Where the connection table files it: its 4-tuple (either way round), its wait for an answer.
  tupleLo = 0;
  tupleHi = 0;
  tupleHash = 0;
  nextInBucket: Slot | null = null;
  expiresAt = 0;
  queue: object | null = null;

  readonly id: number;
  // Its first segment.
  private readonly ts: Micros;
  private readonly ipVersion: 4 | 6;
  private readonly src: string;
  private readonly dst: string;
  private readonly srcPort: number;
  private readonly dstPort: number;
  private readonly seq: number;
  private readonly ack: number;
  private readonly flags: number;
  private readonly window: number;
  private readonly tunnel: string | null;
  /** The same segment again (retransmissions): how many times, and the earliest and latest capture time. */
  private repeats = 0;
  private firstRepeat: Micros = 0;
  private lastRepeat: Micros = 0;

  /** Waits for an answer to `p`, which `accepts` took. */
  constructor(id: number, p: TcpPacket) {
    this.id = id;
    this.ts = p.ts;
    this.ipVersion = p.ipVersion;
    this.src = p.src;
    this.dst = p.dst;
    this.srcPort = p.srcPort;
    this.dstPort = p.dstPort;
    this.seq = p.seq;
    this.ack = p.ack;
    this.flags = p.flags;
    this.window = p.window;
    this.tunnel = p.tunnel ?? null;
  }

  /** A first segment that may wait here: a SYN or a SYN/ACK, without data, FIN or RST. */
  static accepts(p: TcpPacket): boolean {
    return (p.flags & TcpFlag.SYN) !== 0 && (p.flags & ~WAITING_FLAGS) === 0 && p.payloadLength === 0;
  }

  /** A client's SYN (not a SYN/ACK): a connection-opening SYN, counted as such. */
  get isSyn(): boolean {
    return (this.flags & TcpFlag.ACK) === 0;
  }

  /** Capture time of its latest packet. */
  get lastPacket(): Micros {
    return this.repeats > 0 && this.lastRepeat > this.ts ? this.lastRepeat : this.ts;
  }

  /**
   * Takes `p` if it is the first segment again (same direction, flags and sequence number: a
   * retransmission), as the connection would count it. False: the connection must open for it.
   */
  repeated(p: TcpPacket): boolean {
    if (
      p.seq !== this.seq ||
      p.flags !== this.flags ||
      p.payloadLength !== 0 ||
      p.srcPort !== this.srcPort ||
      p.src !== this.src
    )
      return false;
    if (this.repeats === 0 || p.ts < this.firstRepeat) this.firstRepeat = p.ts;
    if (this.repeats === 0 || p.ts > this.lastRepeat) this.lastRepeat = p.ts;
    this.repeats++;
    return true;
  }

  /**
   * The TcpConnection it stands for: made from the first segment, which it then replays with its
   * repeats (their earliest and latest times are all the connection keeps of them).
   */
  open(context: ConnectionContext): TcpConnection {
    const p = replay;
    p.ts = this.ts;
    p.ipVersion = this.ipVersion;
    p.src = this.src;
    p.dst = this.dst;
    p.srcPort = this.srcPort;
    p.dstPort = this.dstPort;
    p.seq = this.seq;
    p.ack = this.ack;
    p.flags = this.flags;
    p.window = this.window;
    p.tunnel = this.tunnel;
    const conn = new TcpConnection(this.id, p, context);
    conn.packet(p);
    for (let i = 0; i < this.repeats; i++) {
      p.ts = i === 0 ? this.firstRepeat : this.lastRepeat;
      conn.packet(p);
    }
    p.src = '';
    p.dst = '';
    p.tunnel = null;
    return conn;
  }
}
