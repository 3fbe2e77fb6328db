/**
 * TCP connection tracker: TcpPackets in, one ConnectionRecord per TCP connection out.
 *
 * The single engine behind live capture (observe/capture.ts) and offline `analyze`: it follows
 * each connection through its handshake, data, FIN and RST (RFC 9293 section 3.5-3.6),
 * reassembles each direction by sequence number (retransmissions and out-of-order segments
 * are counted, sequence numbers wrap around at 2^32) and feeds the bytes to the HTTP/1.x framer
 * to count requests per connection. A new SYN on a 4-tuple whose connection has ended (or whose
 * initial sequence number differs) starts a new connection, as the kernel does after TIME_WAIT.
 *
 * Memory follows the connections open at once, not the connections seen: a connection is retired
 * (its record handed to `onConnection`, its state let go) once it is finished: a little capture
 * time after its RST or its second FIN (CLOSED_LINGER_US, so that what was still in flight, the
 * last ACK, a RST after the FINs, is counted as before; at most MAX_LINGERING wait at once), or when
 * a new SYN reuses its 4-tuple. Its 4-tuple is then remembered for a while (RETIRED_TUPLE_US, at
 * most MAX_RETIRED_TUPLES) so that a later packet of it (an ACK repeated, a FIN retransmitted) is
 * recognised as such and ignored: only a SYN starts a new connection on a retired 4-tuple.
 */
import { Http1Connection, looksLikeHttpRequest } from '../decode/http1.js';
import type { Http1Events, HttpRequestInfo, HttpResponseInfo } from '../decode/http1.js';
import { TcpFlag } from '../model/packet.js';
import type { TcpPacket } from '../model/packet.js';
import type { ConnectionRecord, HttpEvidence, Side, Warning } from '../model/report.js';
import { TupleTable, type TupleEntry } from './tuple-table.js';

export interface TrackerOptions {
  /** Ports known to be server ports: decides client and server for connections seen without a SYN. */
  serverPorts?: readonly number[];
  /** Frame HTTP/1.x on each connection (default true). */
  http?: boolean;
  /** Out-of-order bytes buffered per direction before the missing bytes are declared lost. */
  maxBufferedBytes?: number;
  /** Out-of-order bytes buffered over all connections; beyond it the oldest holes are given up. */
  maxTotalBufferedBytes?: number;
  /**
   * Receives each connection's record once the connection is retired (finished, see the header),
   * in the order they finish; end() hands over the rest in id order. Without it the tracker keeps
   * every record and result() returns them.
   */
  onConnection?: (record: ConnectionRecord) => void;
}

/** The tracker never reads request targets: the framer need not build a string per request. */
const HTTP_OPTIONS = { targets: false } as const;
const CLIENT = 0;
const SERVER = 1;
const SIDE_NAMES: readonly Side[] = ['client', 'server'];
/** How many later segments may pass a hole in the sequence space before we stop waiting for it. */
const MAX_SEGMENTS_PAST_HOLE = 64;
/**
 * Payloads looked at for the start of an HTTP message on a connection whose handshake was not in
 * the capture (its first bytes may be the middle of a body) before it is taken as not HTTP.
 */
const MAX_MID_STREAM_SNIFFS = 16;
/**
 * Capture time (microseconds) a closed connection (RST, or FIN both ways) stays in the table: the
 * last ACK, segments sent before the peer saw a RST (RFC 9293 section 3.5.3), a RST after the FINs
 * (RFC 1337) still count. Its framer is let go already (both ends told) or idle (after a RST).
 */
const CLOSED_LINGER_US = 1_000_000;
/** At most this many closed connections wait out CLOSED_LINGER_US; beyond it the oldest are retired. */
const MAX_LINGERING = 1024;
/**
 * How long (capture time, microseconds) and how many retired 4-tuples are remembered, so that their
 * late packets (a last ACK repeated, a FIN retransmitted) do not start connections. Two minutes is
 * twice the MSL of RFC 9293 section 3.4.2: the TIME_WAIT span, after which a tuple may be reused.
 */
const RETIRED_TUPLE_US = 120_000_000;
const MAX_RETIRED_TUPLES = 8192;

/** What a connection record needs of a framer that can no longer change. */
interface HttpCounts {
  readonly requests: number;
  readonly responses: number;
  readonly statusCodes: readonly number[];
  readonly notHttp: boolean;
}

interface Pending {
  seq: number;
  payload: Uint8Array;
  length: number;
  fin: boolean;
  ts: number;
}

/** One direction of a connection: the bytes one side sent. */
class Flow {
  /** Next expected sequence number; null until the first segment of this direction is seen. */
  next: number | null = null;
  isn: number | null = null;
  fin = false;
  finTs = 0;
  rst = false;
  bytes = 0;
  packets = 0;
  retransmissions = 0;
  outOfOrder = 0;
  lostBytes = 0;
  pending: Pending[] = [];
  pendingBytes = 0;
  segmentsPastHole = 0;
}

/** What the tracker's TupleTable files under a 4-tuple: a connection, or the mark of a retired one. */
type Slot = TrackedConnection | RetiredTuple;

/** Left in the table where a finished connection was: its late packets are not a new connection. */
class RetiredTuple implements TupleEntry<Slot> {
  readonly retiredTuple = true;
  tupleLo = 0;
  tupleHi = 0;
  tupleHash = 0;
  nextInBucket: Slot | null = null;
  /** Still in the table (a new SYN on the tuple takes it out). */
  filed = true;
  constructor(readonly until: number) {}
}

/** A closed connection waiting (capture time) for packets still in flight; conn null once retired. */
interface Lingering {
  conn: TrackedConnection | null;
  until: number;
}

export class TrackedConnection implements TupleEntry<Slot> {
  readonly retiredTuple = false;
  readonly id: number;
  // Where the tracker's TupleTable files it (its 4-tuple, either way round).
  tupleLo = 0;
  tupleHi = 0;
  tupleHash = 0;
  nextInBucket: Slot | null = null;
  /** Decided by the SYN, else by the first HTTP payload (see startHttp); a server port is only a guess. */
  client!: { address: string; port: number };
  server!: { address: string; port: number };
  sidesKnown = false;
  synSeen = false;
  synTs = 0;
  synAckTs = 0;
  /** The acknowledgement number of the SYN/ACK: the client's ISN + 1 (tells a late SYN from a new one). */
  synAckAck: number | null = null;
  start: number;
  end: number;
  readonly flows: [Flow, Flow] = [new Flow(), new Flow()];
  closedFirstBy: Side | null = null;
  resetBy: Side | null = null;
  synRetransmissions = 0;
  http: Http1Connection | null = null;
  /**
   * The framer's counts once nothing can change them (it was told both sides ended, or the
   * connection was retired); the framer itself is then let go: it is most of a connection's memory,
   * and a capture of short connections holds hundreds of thousands of them.
   */
  httpFinal: HttpCounts | null = null;
  /** Sides whose end the framer was told of: bit 1 << CLIENT, bit 1 << SERVER. */
  httpEnded = 0;
  /** Counts of earlier framers, given up after bytes went missing (see restartHttp). */
  httpBefore: HttpCounts | null = null;
  /** The framer lost track of a side (bytes missing, malformed): the next message start restarts it. */
  httpLost = false;
  httpRestarts = 0;
  /**
   * The side (CLIENT, SERVER) that did not restart the framer and has not been framed since: a gap
   * on it lies before the new start, so the new framer is not told. -1 otherwise.
   */
  freshSide = -1;
  httpChecked = false;
  /** Payloads sniffed so far without finding where an HTTP message starts (mid-stream joins). */
  sniffs = 0;
  lastResponseEnd: number | null = null;
  idleGapsMs: number[] = [];
  serverClose = 0;
  clientClose = 0;
  notes: string[] = [];
  /** Its entry in the tracker's queue of closed connections waiting to be retired, if any. */
  lingering: Lingering | null = null;

  constructor(id: number, ts: number) {
    this.id = id;
    this.start = ts;
    this.end = ts;
  }

  get closed(): boolean {
    return this.resetBy !== null || (this.flows[CLIENT].fin && this.flows[SERVER].fin);
  }
}

export interface TrackerResult {
  /**
   * The records kept (every retired connection's, unless onConnection took them), then those of the
   * connections not retired yet, in id order.
   */
  connections: ConnectionRecord[];
  /** Connection-opening SYNs seen (retransmitted SYNs not counted again). */
  syns: number;
  http: HttpEvidence;
  warnings: Warning[];
}

export class ConnectionTracker {
  /** Connections by 4-tuple: the latest one on each (an earlier one is retired by a new SYN). */
  private readonly byTuple = new TupleTable<Slot>();
  /** Connections not retired yet, by id (a Map keeps insertion order: id order). */
  private readonly live = new Map<number, TrackedConnection>();
  private readonly sink: (record: ConnectionRecord) => void;
  /** Records of retired connections, when no onConnection was given. */
  private readonly kept: ConnectionRecord[] | null;
  /** Closed connections waiting to be retired, in order of closing. */
  private lingerQueue: Lingering[] = [];
  private lingerHead = 0;
  private lingeringCount = 0;
  /** Retired 4-tuples still remembered, oldest first. */
  private retiredQueue: RetiredTuple[] = [];
  private retiredHead = 0;
  /** The latest capture time seen, microseconds (captures may be slightly out of order). */
  private now = -Infinity;
  private nextId = 1;
  /** No id below this one is live (see oldestLiveId). */
  private oldest = 1;
  private late = 0;
  // Sums over the retired connections (result() adds the live ones).
  private retiredLostBytes = 0;
  private retiredServerClose = 0;
  private retiredClientClose = 0;
  private readonly serverPorts: ReadonlySet<number>;
  private readonly frameHttp: boolean;
  private readonly maxBufferedBytes: number;
  private readonly maxTotalBufferedBytes: number;
  /** Directions holding out-of-order segments, oldest first, with their connection. */
  private readonly holding = new Map<Flow, TrackedConnection>();
  private buffered = 0;
  private syns = 0;
  private open = 0;

  constructor(options: TrackerOptions = {}) {
    this.serverPorts = new Set(options.serverPorts ?? []);
    this.frameHttp = options.http ?? true;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    // Many connections with a hole each must not add up to unbounded memory.
    this.maxTotalBufferedBytes = options.maxTotalBufferedBytes ?? 64 * 1024 * 1024;
    const onConnection = options.onConnection;
    if (onConnection !== undefined) {
      this.kept = null;
      this.sink = onConnection;
    } else {
      const kept: ConnectionRecord[] = [];
      this.kept = kept;
      this.sink = (record) => kept.push(record);
    }
  }

  /** Out-of-order bytes held, over all connections, waiting for a hole to be filled. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Connections seen so far that have not closed (FIN both ways, or RST). */
  get openConnections(): number {
    return this.open;
  }

  /** Connections seen so far (retired or not): the last id given. */
  get connectionCount(): number {
    return this.nextId - 1;
  }

  /** Connections held in memory: not retired yet (open, or closed and waiting for late packets). */
  get liveConnections(): number {
    return this.live.size;
  }

  /** The smallest id not retired yet (Infinity when none): every smaller id has been handed over. */
  get oldestLiveId(): number {
    // Every id below `oldest` is retired: the cursor only moves forward (constant amortized time).
    while (this.oldest < this.nextId && !this.live.has(this.oldest)) this.oldest++;
    return this.oldest < this.nextId ? this.oldest : Infinity;
  }

  /** Packets that arrived on the 4-tuple of a retired connection, not a SYN: ignored. */
  get latePackets(): number {
    return this.late;
  }

  packet(p: TcpPacket): void {
    if (p.ts > this.now) {
      this.now = p.ts;
      if (this.lingerHead < this.lingerQueue.length && this.lingerQueue[this.lingerHead]!.until <= p.ts)
        this.expireLingering();
      if (this.retiredHead < this.retiredQueue.length && this.retiredQueue[this.retiredHead]!.until <= p.ts)
        this.expireRetiredTuples();
    }
    const slot = this.byTuple.find(p.src, p.srcPort, p.dst, p.dstPort);
    const flags = p.flags;
    const isSyn = (flags & TcpFlag.SYN) !== 0 && (flags & TcpFlag.ACK) === 0;
    let conn: TrackedConnection | null;
    if (slot !== null && slot.retiredTuple) {
      // Its connection is finished: a late packet of it, unless a SYN opens a new one.
      if (!isSyn) {
        this.late++;
        return;
      }
      this.byTuple.remove(slot);
      slot.filed = false;
      conn = null;
    } else {
      conn = slot;
    }
    if (conn !== null && isSyn && this.isNewIncarnation(conn, p)) {
      this.retire(conn, false);
      conn = null;
    }
    if (conn === null) {
      conn = this.create(p);
      this.byTuple.add(conn);
    }
    this.update(conn, p);
    if (conn.closed) this.closing(conn);
  }

  /** A closed connection: retired CLOSED_LINGER_US later (or sooner, beyond MAX_LINGERING). */
  private closing(conn: TrackedConnection): void {
    if (conn.lingering !== null) return;
    const entry: Lingering = { conn, until: this.now + CLOSED_LINGER_US };
    conn.lingering = entry;
    this.lingerQueue.push(entry);
    if (++this.lingeringCount > MAX_LINGERING) this.expireLingering();
  }

  /** Retires the closed connections whose time is up (or the oldest, beyond MAX_LINGERING). */
  private expireLingering(): void {
    const queue = this.lingerQueue;
    let head = this.lingerHead;
    while (head < queue.length) {
      const entry = queue[head]!;
      if (entry.conn !== null) {
        if (entry.until > this.now && this.lingeringCount <= MAX_LINGERING) break;
        this.retire(entry.conn, true);
      } else if (entry.until > this.now) {
        break;
      }
      head++;
    }
    if (head > 1024 && head * 2 > queue.length) {
      this.lingerQueue = queue.slice(head);
      head = 0;
    }
    this.lingerHead = head;
  }

  /** Forgets retired 4-tuples past RETIRED_TUPLE_US (or the oldest, beyond MAX_RETIRED_TUPLES). */
  private expireRetiredTuples(): void {
    const queue = this.retiredQueue;
    let head = this.retiredHead;
    while (head < queue.length) {
      const t = queue[head]!;
      if (t.until > this.now && queue.length - head <= MAX_RETIRED_TUPLES) break;
      if (t.filed) {
        this.byTuple.remove(t);
        t.filed = false;
      }
      head++;
    }
    if (head > 1024 && head * 2 > queue.length) {
      this.retiredQueue = queue.slice(head);
      head = 0;
    }
    this.retiredHead = head;
  }

  /** A SYN on a known 4-tuple: a retransmitted SYN, or a new connection reusing the port? */
  private isNewIncarnation(conn: TrackedConnection, p: TcpPacket): boolean {
    if (conn.closed) return true;
    const clientFlow = conn.flows[CLIENT];
    if (conn.synSeen && clientFlow.isn === p.seq && conn.client.address === p.src && conn.client.port === p.srcPort) {
      return false; // retransmitted SYN
    }
    // A SYN seen after its own SYN/ACK (capture reordering, e.g. `-i any` on several CPUs).
    if (!conn.synSeen && conn.synAckAck === (p.seq + 1) >>> 0) return false;
    return conn.synSeen || clientFlow.packets > 0 || conn.flows[SERVER].packets > 0;
  }

  /**
   * Out of the table (a RetiredTuple in its place when `markTuple`): no packet will reach it again.
   * Its record goes to the sink; the connection itself (framer, buffers) is let go.
   */
  private retire(conn: TrackedConnection, markTuple: boolean): void {
    if (markTuple) {
      const t = new RetiredTuple(this.now + RETIRED_TUPLE_US);
      this.byTuple.replace(conn, t);
      this.retiredQueue.push(t);
      if (this.retiredQueue.length - this.retiredHead > MAX_RETIRED_TUPLES) this.expireRetiredTuples();
    } else {
      this.byTuple.remove(conn);
    }
    this.live.delete(conn.id);
    if (!conn.closed) this.open--;
    if (conn.lingering !== null) {
      conn.lingering.conn = null;
      conn.lingering = null;
      this.lingeringCount--;
    }
    this.flushAll(conn);
    freezeHttp(conn);
    this.retiredLostBytes += conn.flows[0].lostBytes + conn.flows[1].lostBytes;
    this.retiredServerClose += conn.serverClose;
    this.retiredClientClose += conn.clientClose;
    this.sink(toRecord(conn));
  }

  /**
   * The capture ended: every connection not retired yet (still open, or closed and waiting) is
   * retired now, in id order, its record handed over. The tracker can go on receiving packets.
   */
  end(): void {
    for (const conn of this.live.values()) this.retire(conn, false);
  }

  private create(p: TcpPacket): TrackedConnection {
    const conn = new TrackedConnection(this.nextId++, p.ts);
    const a = { address: p.src, port: p.srcPort };
    const b = { address: p.dst, port: p.dstPort };
    const flags = p.flags;
    if ((flags & TcpFlag.SYN) !== 0) {
      // SYN: the sender is the client. SYN/ACK: the receiver is.
      const synAck = (flags & TcpFlag.ACK) !== 0;
      conn.client = synAck ? b : a;
      conn.server = synAck ? a : b;
      conn.sidesKnown = true;
    } else if (this.serverPorts.has(p.dstPort) !== this.serverPorts.has(p.srcPort)) {
      // A hint (`analyze --port P` may name a client's port): the first HTTP payload still decides.
      const toServer = this.serverPorts.has(p.dstPort);
      conn.client = toServer ? a : b;
      conn.server = toServer ? b : a;
    } else {
      // Guess (the lower port is usually the server's); the first payload decides (see deliver()).
      const toServer = p.dstPort <= p.srcPort;
      conn.client = toServer ? a : b;
      conn.server = toServer ? b : a;
    }
    this.live.set(conn.id, conn);
    this.open++;
    return conn;
  }

  private update(conn: TrackedConnection, p: TcpPacket): void {
    const fromClient = p.src === conn.client.address && p.srcPort === conn.client.port;
    let sideIndex = fromClient ? CLIENT : SERVER;
    const flow = conn.flows[sideIndex]!;
    const flags = p.flags;
    const wasClosed = conn.closed;
    flow.packets++;
    if (p.ts < conn.start) conn.start = p.ts;
    if (p.ts > conn.end) conn.end = p.ts;

    if ((flags & TcpFlag.SYN) !== 0) {
      if (flow.isn !== null && flow.isn === p.seq) {
        if (fromClient) conn.synRetransmissions++;
      } else {
        flow.isn = p.seq;
        flow.next = (p.seq + 1) >>> 0;
        if (fromClient && (flags & TcpFlag.ACK) === 0) {
          conn.synSeen = true;
          conn.synTs = p.ts;
          this.syns++;
        } else if (!fromClient && (flags & TcpFlag.ACK) !== 0 && conn.synAckTs === 0) {
          conn.synAckTs = p.ts;
          conn.synAckAck = p.ack;
        }
      }
    }
    if ((flags & TcpFlag.RST) !== 0) {
      flow.rst = true;
      if (conn.resetBy === null) conn.resetBy = SIDE_NAMES[sideIndex]!;
      if (!wasClosed) this.open--;
      return;
    }
    if (p.payloadLength > 0 || (flags & TcpFlag.FIN) !== 0) {
      this.segment(conn, flow, p);
      // The first payload may have shown that client and server were the other way round.
      sideIndex = sideOf(conn, flow);
    }
    if ((flags & TcpFlag.FIN) !== 0 && !flow.fin) {
      flow.fin = true;
      flow.finTs = p.ts;
      if (conn.closedFirstBy === null) conn.closedFirstBy = SIDE_NAMES[sideIndex]!;
      if (!wasClosed && conn.closed) this.open--;
    }
  }

  /** Sequence-space bookkeeping for a segment that carries data and/or FIN. */
  private segment(conn: TrackedConnection, flow: Flow, p: TcpPacket): void {
    const fin = (p.flags & TcpFlag.FIN) !== 0;
    // Data in a SYN segment (TCP Fast Open) starts after the SYN's sequence number.
    const seq = (p.flags & TcpFlag.SYN) !== 0 ? (p.seq + 1) >>> 0 : p.seq;
    if (flow.next === null) flow.next = seq; // joined mid-stream
    const rel = (seq - flow.next) | 0;
    if (rel > 0) {
      // A hole before this segment: keep a copy until the hole is filled (bounded).
      flow.outOfOrder++;
      // A copy: the payload is a view into the capture chunk (and Buffer#slice() would be a view too).
      flow.pending.push({ seq, payload: new Uint8Array(p.payload), length: p.payloadLength, fin, ts: p.ts });
      flow.pendingBytes += p.payload.length;
      this.buffered += p.payload.length;
      this.holding.set(flow, conn);
      if (++flow.segmentsPastHole > MAX_SEGMENTS_PAST_HOLE || flow.pendingBytes > this.maxBufferedBytes) {
        // Given up on both sides at once, the client's first: framing restarts at the client's next
        // request, and the server's hole then lies before the restart (see restartHttp).
        this.flushAll(conn);
      }
      if (this.buffered > this.maxTotalBufferedBytes) this.shed();
      return;
    }
    let payload = p.payload;
    let length = p.payloadLength;
    if (rel < 0) {
      // Retransmission: deliver only what lies beyond what we already have.
      if (length + rel <= 0) {
        if (length > 0) flow.retransmissions++;
        if (fin && length + rel === 0) this.deliverFin(conn, flow, p.ts);
        return;
      }
      flow.retransmissions++;
      payload = payload.subarray(Math.min(payload.length, -rel));
      length += rel;
    }
    this.deliver(conn, flow, payload, length, p.ts);
    if (fin) this.deliverFin(conn, flow, p.ts);
    if (flow.pending.length > 0) this.drain(conn, flow);
  }

  /** Deliver buffered segments that now follow on. */
  private drain(conn: TrackedConnection, flow: Flow): void {
    let progressed = true;
    while (progressed && flow.pending.length > 0) {
      progressed = false;
      for (let i = 0; i < flow.pending.length; i++) {
        const seg = flow.pending[i]!;
        const rel = (seg.seq - flow.next!) | 0;
        if (rel > 0) continue;
        flow.pending.splice(i, 1);
        flow.pendingBytes -= seg.payload.length;
        this.buffered -= seg.payload.length;
        progressed = true;
        if (seg.length + rel > 0) {
          this.deliver(conn, flow, seg.payload.subarray(Math.min(seg.payload.length, -rel)), seg.length + rel, seg.ts);
        } else if (seg.length > 0) {
          flow.retransmissions++;
        }
        if (seg.fin) this.deliverFin(conn, flow, seg.ts);
        break;
      }
    }
    if (flow.pending.length === 0) {
      flow.segmentsPastHole = 0;
      this.holding.delete(flow);
    }
  }

  /** Over the global limit: give up the oldest holes until the buffered bytes fit again. */
  private shed(): void {
    for (const conn of this.holding.values()) {
      if (this.buffered <= this.maxTotalBufferedBytes) return;
      this.flushAll(conn);
    }
  }

  /** Deliver the lowest buffered segment of `flow`, counting the bytes before it (if any) as lost. */
  private skipTo(conn: TrackedConnection, flow: Flow, seg: Pending): void {
    const missing = (seg.seq - flow.next!) | 0;
    if (missing > 0) {
      flow.lostBytes += missing;
      this.gap(conn, flow, missing, seg.ts);
      flow.next = seg.seq;
    }
    flow.pending.splice(flow.pending.indexOf(seg), 1);
    flow.pendingBytes -= seg.payload.length;
    this.buffered -= seg.payload.length;
    const rel = (seg.seq - flow.next!) | 0;
    if (seg.length + rel > 0) {
      this.deliver(conn, flow, seg.payload.subarray(Math.min(seg.payload.length, -rel)), seg.length + rel, seg.ts);
    } else if (seg.length > 0) {
      flow.retransmissions++;
    }
    if (seg.fin) this.deliverFin(conn, flow, seg.ts);
    if (flow.pending.length === 0) {
      flow.segmentsPastHole = 0;
      this.holding.delete(flow);
    }
  }

  private deliver(conn: TrackedConnection, flow: Flow, payload: Uint8Array, length: number, ts: number): void {
    flow.next = (flow.next! + length) >>> 0;
    flow.bytes += length;
    // The snap length cut the packet: these bytes are lost whether HTTP is framed or not.
    const missing = length - payload.length;
    if (missing > 0) flow.lostBytes += missing;
    if (!this.frameHttp || length === 0) return;
    if (!conn.httpChecked) {
      if (payload.length === 0) return;
      this.startHttp(conn, sideOf(conn, flow), payload);
    }
    if (conn.http === null) return;
    const sideName = conn.flows[CLIENT] === flow ? 'client' : 'server';
    const side = sideOf(conn, flow);
    if (
      conn.httpLost &&
      payload.length > 0 &&
      (side === CLIENT ? looksLikeHttpRequest(payload) : startsWithHttpVersion(payload))
    )
      restartHttp(conn, side);
    const http = conn.http;
    if (payload.length > 0) {
      if (side === conn.freshSide) conn.freshSide = -1;
      if (sideName === 'client') http.client(payload, ts);
      else http.server(payload, ts);
    }
    // The framer counts the missing bytes inside bodies.
    if (missing > 0) this.gap(conn, flow, missing, ts);
  }

  /** `missing` bytes of `flow` were not captured: tell the framer, unless they precede a restart. */
  private gap(conn: TrackedConnection, flow: Flow, missing: number, ts: number): void {
    const side = sideOf(conn, flow);
    if (side === conn.freshSide) return;
    conn.http?.gap(SIDE_NAMES[side]!, missing, ts);
  }

  /** First payload of a connection: is it HTTP, and (without a SYN) who is the client? */
  private startHttp(conn: TrackedConnection, side: number, payload: Uint8Array): void {
    const isRequest = looksLikeHttpRequest(payload);
    const isResponse = !isRequest && startsWithHttpVersion(payload);
    if (!isRequest && !isResponse && !conn.synSeen && conn.synAckTs === 0 && ++conn.sniffs < MAX_MID_STREAM_SNIFFS) {
      // No handshake in view: these bytes may be the middle of a message; look at the next payload.
      return;
    }
    conn.httpChecked = true;
    if (!conn.sidesKnown) {
      conn.sidesKnown = true;
      const senderIsServer = side === SERVER;
      if ((isRequest && senderIsServer) || (isResponse && !senderIsServer)) {
        // Our guess was wrong: swap client and server (no bytes were framed yet).
        const c = conn.client;
        conn.client = conn.server;
        conn.server = c;
        conn.flows.reverse();
      }
    }
    if (!isRequest && !isResponse) return;
    conn.http = new Http1Connection(new ConnectionEvents(conn), HTTP_OPTIONS);
  }

  private deliverFin(conn: TrackedConnection, flow: Flow, ts: number): void {
    if (flow.next !== null) flow.next = (flow.next + 1) >>> 0;
    const http = conn.http;
    if (http === null) return;
    const side = sideOf(conn, flow);
    http.end(SIDE_NAMES[side]!, ts);
    conn.httpEnded |= 1 << side;
    // Both streams ended: the framer ignores anything fed to it from now on.
    if (conn.httpEnded === ((1 << CLIENT) | (1 << SERVER))) freezeHttp(conn);
  }

  /**
   * Give up the holes of both directions: deliver every buffered segment, the two sides interleaved
   * in capture-time order (so the framer meets requests and responses as they were sent), the bytes
   * of each hole counted as lost.
   */
  private flushAll(conn: TrackedConnection): void {
    const [c, s] = conn.flows;
    for (;;) {
      const lc = lowestPending(c);
      const ls = lowestPending(s);
      if (lc === undefined && ls === undefined) return;
      if (ls === undefined || (lc !== undefined && lc.ts <= ls.ts)) this.skipTo(conn, c, lc!);
      else this.skipTo(conn, s, ls);
    }
  }

  /**
   * Everything seen so far: the records kept (see TrackerResult) and those of the connections not
   * retired yet; the tracker can go on receiving packets afterwards.
   */
  result(): TrackerResult {
    const connections: ConnectionRecord[] = this.kept === null ? [] : this.kept.slice();
    const warnings: Warning[] = [];
    let serverClose = this.retiredServerClose;
    let clientClose = this.retiredClientClose;
    let lost = this.retiredLostBytes;
    for (const conn of this.live.values()) {
      this.flushAll(conn);
      connections.push(toRecord(conn));
      serverClose += conn.serverClose;
      clientClose += conn.clientClose;
      lost += conn.flows[0].lostBytes + conn.flows[1].lostBytes;
    }
    // Retired records came in the order their connections finished.
    connections.sort((a, b) => a.id - b.id);
    if (lost > 0) {
      warnings.push({
        code: 'KAL_WARN_MISSING_BYTES',
        message: `${lost} bytes of TCP payload were not captured (snap length or dropped packets); counts around them may be incomplete`,
      });
    }
    return { connections, syns: this.syns, http: { serverClose, clientClose }, warnings };
  }
}

/** The framer's events for one connection: one small object rather than five closures. */
class ConnectionEvents implements Http1Events {
  constructor(private readonly conn: TrackedConnection) {}

  request(r: HttpRequestInfo): void {
    const conn = this.conn;
    if (conn.lastResponseEnd !== null) conn.idleGapsMs.push(Math.max(0, (r.ts - conn.lastResponseEnd) / 1000));
    if (!r.keepAlive) conn.clientClose++;
  }

  response(r: HttpResponseInfo): void {
    if (!r.informational && !r.keepAlive) this.conn.serverClose++;
  }

  responseEnd(_r: HttpResponseInfo, ts: number): void {
    this.conn.lastResponseEnd = ts;
  }

  lost(lostSide: Side, reason: string, atByte: number): void {
    const conn = this.conn;
    conn.httpLost = true;
    // Later losses are summed up by the restart note (see toRecord).
    if (conn.httpRestarts === 0)
      conn.notes.push(`HTTP framing of the ${lostSide}'s bytes lost at byte ${atByte}: ${reason}`);
  }

  upgrade(upSide: Side): void {
    this.conn.notes.push(`protocol switched (upgrade by the ${upSide}); later bytes not framed`);
  }
}

/**
 * After missing bytes (a capture that dropped packets, a snap length cutting a head) the framer has
 * stopped on that side. A segment that starts with a request line (client) or a status line (server)
 * is where a message begins; with a sequential client the other side is between messages then (the
 * server's next bytes are the response, the client's the next request), so a new framer starts
 * there, and the old one's counts are kept. This is what tshark does, segment by segment.
 */
function restartHttp(conn: TrackedConnection, side: number): void {
  conn.httpBefore = addCounts(conn.httpBefore, conn.http!);
  conn.http = new Http1Connection(new ConnectionEvents(conn), HTTP_OPTIONS);
  conn.httpLost = false;
  conn.httpEnded = 0;
  conn.httpRestarts++;
  conn.freshSide = side === CLIENT ? SERVER : CLIENT;
}

function addCounts(a: HttpCounts | null, b: HttpCounts): HttpCounts {
  if (a === null)
    return { requests: b.requests, responses: b.responses, statusCodes: b.statusCodes.slice(), notHttp: b.notHttp };
  return {
    requests: a.requests + b.requests,
    responses: a.responses + b.responses,
    statusCodes: [...a.statusCodes, ...b.statusCodes],
    notHttp: a.notHttp || b.notHttp,
  };
}

/** Keeps the framer's counts and lets the framer go (see TrackedConnection.httpFinal). */
function freezeHttp(conn: TrackedConnection): void {
  const http = conn.http;
  if (http === null) return;
  // A copy: the framer's array was grown by push() and has room to spare.
  conn.httpFinal = {
    requests: http.requests,
    responses: http.responses,
    statusCodes: http.statusCodes.slice(),
    notHttp: http.notHttp,
  };
  conn.http = null;
}

/** The buffered segment that comes first in the sequence space. */
function lowestPending(flow: Flow): Pending | undefined {
  let lowest: Pending | undefined;
  for (const seg of flow.pending) {
    if (lowest === undefined || ((seg.seq - lowest.seq) | 0) < 0) lowest = seg;
  }
  return lowest;
}

function sideOf(conn: TrackedConnection, flow: Flow): number {
  return conn.flows[CLIENT] === flow ? CLIENT : SERVER;
}

function startsWithHttpVersion(b: Uint8Array): boolean {
  // "HTTP/"
  return b.length >= 5 && b[0] === 0x48 && b[1] === 0x54 && b[2] === 0x54 && b[3] === 0x50 && b[4] === 0x2f;
}

function toRecord(conn: TrackedConnection): ConnectionRecord {
  const [c, s] = conn.flows;
  const notes = [...conn.notes];
  const retrans = c.retransmissions + s.retransmissions;
  if (retrans > 0) notes.push(`${retrans} retransmitted segment${retrans === 1 ? '' : 's'}`);
  const ooo = c.outOfOrder + s.outOfOrder;
  if (ooo > 0) notes.push(`${ooo} out-of-order segment${ooo === 1 ? '' : 's'}`);
  if (conn.synRetransmissions > 0) notes.push(`SYN sent ${conn.synRetransmissions + 1} times`);
  const lost = c.lostBytes + s.lostBytes;
  if (lost > 0) notes.push(`${lost} payload bytes not captured`);
  const current = conn.http ?? conn.httpFinal;
  const http = current !== null && conn.httpBefore !== null ? addCounts(conn.httpBefore, current) : current;
  if (conn.httpRestarts > 0)
    notes.push(
      `HTTP framing resumed ${conn.httpRestarts} time${conn.httpRestarts === 1 ? '' : 's'} at the next message start`,
    );
  if (http?.notHttp || (conn.httpChecked && http === null)) notes.push('not HTTP/1.x');
  // The active closer (first FIN) holds TIME_WAIT once both FINs went through; a RST skips it.
  const fullyClosed = c.fin && s.fin && conn.resetBy === null;
  return {
    id: conn.id,
    client: conn.client,
    server: conn.server,
    start: conn.start / 1000,
    end: conn.end / 1000,
    handshakeRttMs: conn.synTs > 0 && conn.synAckTs >= conn.synTs ? (conn.synAckTs - conn.synTs) / 1000 : null,
    requests: http?.requests ?? 0,
    responses: http?.responses ?? 0,
    statusCodes: http ? [...http.statusCodes] : [],
    idleGapsMs: conn.idleGapsMs,
    closedFirstBy: conn.closedFirstBy,
    resetBy: conn.resetBy,
    timeWait: fullyClosed ? conn.closedFirstBy : null,
    startedBefore: !conn.synSeen,
    openAtEnd: !conn.closed,
    bytesFromClient: c.bytes,
    bytesFromServer: s.bytes,
    notes,
  };
}
