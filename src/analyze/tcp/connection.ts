/**
 * One TCP connection as a capture shows it (RFC 9293 section 3.5-3.6): its two peers (Zeek's
 * TCP_Endpoint: address, SYN, FIN, the flow of bytes each sent), the handshake, who closed or reset
 * first, and the stream its bytes carry (analyze/streams/). Packets come in from the tracker; each
 * peer's Flow (reassembly.ts) puts its bytes in order and hands them back here, to go to the stream.
 * It also builds its own record (record()): the one place a capture's ConnectionRecord is made.
 *
 * One name for a side: the `Side` union ('client' | 'server') of the report, here as in the framer,
 * the streams and the records, rather than an index with a table of names: nothing to convert where
 * a side reaches a stream or a record, and V8 compares these interned strings as cheaply as numbers.
 * A peer knows its side; the two peers swap sides if the first payload shows the guess was wrong.
 */
import { TcpFlag, type TcpPacket } from '../../model/packet.js';
import type { ConnectionRecord, Endpoint, Side } from '../../model/report.js';
import { toMillis, type Micros } from '../../model/time.js';
import { notProtocolNote, sniffStream, type Stream, type StreamContext, type StreamKind } from '../streams/index.js';
import type { Expiring } from './expiry-queue.js';
import { Flow, giveUpHoles, type FlowSink, type HoldBudget } from './reassembly.js';
import { formatSeconds } from '../../util/text.js';
import { MAX_HANDSHAKES, type Slot } from './table.js';
import type { TupleEntry } from './tuple-table.js';

/**
 * Payloads looked at for the start of a stream on a connection whose handshake was not in the
 * capture (its first bytes may be the middle of a message) before it is taken as none of them.
 */
const MAX_MID_STREAM_SNIFFS = 16;

/** What the connections of one tracker share (one object per tracker). */
export interface ConnectionContext {
  /** Tried in order on a connection's first payload; empty: no stream analysis at all. */
  readonly streams: readonly StreamKind[];
  readonly streamContext: StreamContext;
  /** Out-of-order bytes held over all connections. */
  readonly budget: HoldBudget<Peer>;
  /** Ports known to be server ports: a hint for connections seen without their SYN. */
  readonly serverPorts: ReadonlySet<number>;
}

/** One end of a connection: who it is, what it sent (SYN, FIN), and its bytes in order (its flow). */
export class Peer implements FlowSink {
  /** Initial sequence number of its SYN; null until one is seen. */
  isn: number | null = null;
  /** Sent a FIN (seen, in order or not). */
  finSent = false;
  /** Capture time of its first FIN. */
  finTs: Micros = 0;
  packets = 0;
  readonly flow: Flow<Peer>;

  constructor(
    readonly conn: TcpConnection,
    public side: Side,
    readonly endpoint: Endpoint,
    budget: HoldBudget<Peer>,
  ) {
    this.flow = new Flow(this, budget);
  }

  // FlowSink: its flow's bytes go to the connection's stream, named by this peer's side.

  deliver(bytes: Uint8Array, ts: Micros): void {
    this.conn.streamData(this, bytes, ts);
  }

  gap(missing: number, ts: Micros): void {
    this.conn.streamGap(this, missing, ts);
  }

  fin(ts: Micros): void {
    this.conn.streamEnd(this, ts);
  }
}

export class TcpConnection implements TupleEntry<Slot>, Expiring {
  readonly retiredTuple = false;
  readonly pendingHandshake = false;
  // Where the connection table files it: its 4-tuple (either way round), its wait once closed.
  tupleLo = 0;
  tupleHi = 0;
  tupleHash = 0;
  nextInBucket: Slot | null = null;
  expiresAt = 0;
  queue: object | null = null;

  readonly id: number;
  private sawSyn = false;
  /** Decided by the SYN, else by the first payload a stream recognises (a server port is only a guess). */
  private client: Peer;
  private server: Peer;
  private sidesKnown = false;
  private synTs: Micros = 0;
  private synAckTs: Micros = 0;
  /** The acknowledgement number of the SYN/ACK: the client's ISN + 1 (tells a late SYN from a new one). */
  private synAckAck: number | null = null;
  private synRetransmissions = 0;
  private start: Micros;
  private end: Micros;
  private closedFirstBy: Side | null = null;
  private resetBy: Side | null = null;
  /** Capture time of the first RST. */
  private resetTs: Micros = 0;
  private readonly context: ConnectionContext;
  private stream: Stream | null = null;
  /** Its first payload was looked at (sniffed), and decided: a stream, or none. */
  private sniffed = false;
  /** Payloads sniffed so far without a decision (mid-stream joins). */
  private sniffs = 0;
  /** The stream found the bytes are not its protocol (for good): it is fed nothing more. */
  private rejected = false;
  /** The tunnel its first packet came out of ("VXLAN vni 42"), or null. */
  private readonly tunnel: string | null;
  /** Only SYNs and SYN/ACKs so far: the handshake has not completed (no ACK, data, FIN or RST yet). */
  private handshakeOnly = true;
  /**
   * The tracker stopped following it before it closed (see expire()): idle in its handshake, or given
   * up early as one of too many; and how long it had been without a packet then.
   */
  private expired: 'idle' | 'early' | null = null;
  private expiredIdle: Micros = 0;

  /** A connection from its first packet `p`: the SYN says who the client is, else a server port, else a guess. */
  constructor(id: number, p: TcpPacket, context: ConnectionContext) {
    this.id = id;
    this.context = context;
    this.tunnel = p.tunnel ?? null;
    this.start = p.ts;
    this.end = p.ts;
    const a = { address: p.src, port: p.srcPort };
    const b = { address: p.dst, port: p.dstPort };
    let toServer: boolean;
    if ((p.flags & TcpFlag.SYN) !== 0) {
      // SYN: the sender is the client. SYN/ACK: the receiver is.
      toServer = (p.flags & TcpFlag.ACK) === 0;
      this.sidesKnown = true;
    } else if (context.serverPorts.has(p.dstPort) !== context.serverPorts.has(p.srcPort)) {
      // A hint (`analyze --port P` may name a client's port): the first recognised payload still decides.
      toServer = context.serverPorts.has(p.dstPort);
    } else {
      // Guess (the lower port is usually the server's); the first recognised payload decides.
      toServer = p.dstPort <= p.srcPort;
    }
    this.client = new Peer(this, 'client', toServer ? a : b, context.budget);
    this.server = new Peer(this, 'server', toServer ? b : a, context.budget);
  }

  /** The client's SYN was seen (an opening SYN, not a retransmitted one). */
  get synSeen(): boolean {
    return this.sawSyn;
  }

  /** Closed: reset, or a FIN sent both ways. */
  get closed(): boolean {
    return this.resetBy !== null || (this.client.finSent && this.server.finSent);
  }

  /** Only SYNs and SYN/ACKs seen so far: a handshake never answered, or not completed yet. */
  get inHandshake(): boolean {
    return this.handshakeOnly;
  }

  /** Capture time of its latest packet. */
  get lastPacket(): Micros {
    return this.end;
  }

  /** Payload bytes never captured, both ways. */
  get lostBytes(): number {
    return this.client.flow.lostBytes + this.server.flow.lostBytes;
  }

  /** One packet of this connection (its 4-tuple, either way). */
  packet(p: TcpPacket): void {
    const flags = p.flags;
    const fromClient = p.src === this.client.endpoint.address && p.srcPort === this.client.endpoint.port;
    const peer = fromClient ? this.client : this.server;
    peer.packets++;
    if (p.ts < this.start) this.start = p.ts;
    if (p.ts > this.end) this.end = p.ts;

    if ((flags & TcpFlag.SYN) === 0) this.handshakeOnly = false;
    if ((flags & TcpFlag.SYN) !== 0) {
      if (peer.isn !== null && peer.isn === p.seq) {
        if (fromClient) this.synRetransmissions++;
      } else {
        peer.isn = p.seq;
        peer.flow.synchronize(p.seq);
        if (fromClient && (flags & TcpFlag.ACK) === 0) {
          this.sawSyn = true;
          this.synTs = p.ts;
        } else if (!fromClient && (flags & TcpFlag.ACK) !== 0 && this.synAckTs === 0) {
          this.synAckTs = p.ts;
          this.synAckAck = p.ack;
        }
      }
    }
    if ((flags & TcpFlag.RST) !== 0) {
      if (this.resetBy === null) {
        this.resetBy = peer.side;
        this.resetTs = p.ts;
      }
      return;
    }
    const fin = (flags & TcpFlag.FIN) !== 0;
    if (p.payloadLength > 0 || fin) {
      // Data in a SYN segment (TCP Fast Open) starts after the SYN's sequence number.
      const seq = (flags & TcpFlag.SYN) !== 0 ? (p.seq + 1) >>> 0 : p.seq;
      // Given up on both sides at once, the client's first: framing restarts at the client's next
      // request, and the server's hole then lies before the restart (see streams/http1.ts).
      if (peer.flow.segment(seq, p.payload, p.payloadLength, fin, p.ts)) this.giveUpHoles();
    }
    if (fin && !peer.finSent) {
      peer.finSent = true;
      peer.finTs = p.ts;
      // The first payload may have shown that client and server were the other way round: peer.side says.
      this.closedFirstBy ??= peer.side;
    }
  }

  /** A SYN on this connection's 4-tuple: a retransmitted SYN, or a new connection reusing the port? */
  isNewIncarnation(p: TcpPacket): boolean {
    // Its client's SYN again, with the same initial sequence number: sent again or duplicated on the
    // way, also after the connection closed. A new connection on the 4-tuple starts from a new ISN
    // (RFC 9293 section 3.4.1; RFC 6191 for a reuse in TIME_WAIT); tshark's tcp.stream says the same.
    if (this.repeatsSyn(p)) return false;
    if (this.closed) return true;
    // A SYN seen after its own SYN/ACK (capture reordering, e.g. `-i any` on several CPUs).
    if (!this.sawSyn && this.synAckAck === (p.seq + 1) >>> 0) return false;
    return this.sawSyn || this.client.packets > 0 || this.server.packets > 0;
  }

  /** The client's SYN, if seen: where from and its initial sequence number. */
  firstSyn(): { src: string; srcPort: number; isn: number } | null {
    const c = this.client;
    return this.sawSyn && c.isn !== null ? { src: c.endpoint.address, srcPort: c.endpoint.port, isn: c.isn } : null;
  }

  /** `p` is the SYN this connection began with, again (same client, same initial sequence number). */
  repeatsSyn(p: TcpPacket): boolean {
    const client = this.client;
    return (
      this.sawSyn && client.isn === p.seq && client.endpoint.address === p.src && client.endpoint.port === p.srcPort
    );
  }

  /** Stops waiting for missing bytes: both directions' holes are given up (see reassembly.ts). */
  giveUpHoles(): void {
    giveUpHoles(this.client.flow, this.server.flow);
  }

  /**
   * The tracker stops following it before it closed (a handshake never answered), `idle` after its
   * last packet; `early`: before HANDSHAKE_IDLE_US, one of too many. Its record says so in a note, and
   * it is not reported open at the end (it was given up, as its peers give it up).
   */
  expire(idle: Micros, early: boolean): void {
    this.expired = early ? 'early' : 'idle';
    this.expiredIdle = idle;
  }

  /** No packet will come any more: holes given up, the stream let go (its counts stay for record()). */
  retire(): void {
    this.giveUpHoles();
    this.stream?.retire();
  }

  // Called by the peers' flows (FlowSink): bytes in order, gaps, FINs, to the stream.

  streamData(peer: Peer, bytes: Uint8Array, ts: Micros): void {
    if (this.stream === null) {
      if (this.sniffed || this.context.streams.length === 0) return;
      this.sniff(peer, bytes);
      if (this.stream === null) return;
    }
    if (!this.rejected && !this.stream.data(peer.side, bytes, ts)) this.rejected = true;
  }

  streamGap(peer: Peer, missing: number, ts: Micros): void {
    if (this.stream !== null && !this.rejected) this.stream.gap(peer.side, missing, ts);
  }

  streamEnd(peer: Peer, ts: Micros): void {
    if (this.stream !== null && !this.rejected) this.stream.end(peer.side, ts);
  }

  /** A payload before any stream: which one is it, and (without a SYN) who is the client? */
  private sniff(peer: Peer, payload: Uint8Array): void {
    const found = sniffStream(this.context.streams, payload);
    if (found === null && !this.sawSyn && this.synAckTs === 0 && ++this.sniffs < MAX_MID_STREAM_SNIFFS) {
      // No handshake in view: these bytes may be the middle of a message; look at the next payload.
      return;
    }
    this.sniffed = true;
    if (!this.sidesKnown) {
      this.sidesKnown = true;
      // Our guess was wrong: swap client and server (no bytes were given to a stream yet).
      if (found !== null && found.sender !== peer.side) this.swapSides();
    }
    if (found !== null) this.stream = found.kind.create(this.context.streamContext);
  }

  private swapSides(): void {
    const client = this.server;
    this.server = this.client;
    this.client = client;
    client.side = 'client';
    this.server.side = 'server';
  }

  /**
   * The connection's record as it stands (a new object each call): TCP facts, and what its stream
   * found. Notes: the stream's as they happened, then the TCP ones, then the stream's closing ones.
   */
  record(): ConnectionRecord {
    const c = this.client;
    const s = this.server;
    const stream = this.stream;
    const notes = stream === null ? [] : stream.notes.slice();
    if (this.tunnel !== null) notes.push(`tunnelled in ${this.tunnel}`);
    const retrans = c.flow.retransmissions + s.flow.retransmissions;
    if (retrans > 0) notes.push(`${retrans} retransmitted segment${retrans === 1 ? '' : 's'}`);
    const ooo = c.flow.outOfOrder + s.flow.outOfOrder;
    if (ooo > 0) notes.push(`${ooo} out-of-order segment${ooo === 1 ? '' : 's'}`);
    if (this.synRetransmissions > 0) notes.push(`SYN sent ${this.synRetransmissions + 1} times`);
    const lost = this.lostBytes;
    if (lost > 0) notes.push(`${lost} payload bytes not captured`);
    if (this.expired !== null) {
      const idle = formatSeconds(this.expiredIdle / 1e6);
      notes.push(
        this.expired === 'idle'
          ? `handshake never completed: no packet for ${idle}, expired`
          : `handshake not completed after ${idle}: given up early, more than ${MAX_HANDSHAKES} handshakes at once`,
      );
    }
    // The active closer (first FIN) holds TIME_WAIT once both FINs went through; a RST skips it.
    const fullyClosed = c.finSent && s.finSent && this.resetBy === null;
    const record: ConnectionRecord = {
      id: this.id,
      client: c.endpoint,
      server: s.endpoint,
      start: toMillis(this.start),
      end: toMillis(this.end),
      handshakeRttMs: this.synTs > 0 && this.synAckTs >= this.synTs ? toMillis(this.synAckTs - this.synTs) : null,
      requests: 0,
      responses: 0,
      statusCodes: [],
      idleGapsMs: [],
      closedFirstBy: this.closedFirstBy,
      resetBy: this.resetBy,
      timeWait: fullyClosed ? this.closedFirstBy : null,
      startedBefore: !this.sawSyn,
      openAtEnd: !this.closed && this.expired === null,
      bytesFromClient: c.flow.bytes,
      bytesFromServer: s.flow.bytes,
      notes,
    };
    // When each side closed or reset (the findings compare them with the HTTP messages' times).
    if (c.finSent) record.clientFinAt = toMillis(c.finTs);
    if (s.finSent) record.serverFinAt = toMillis(s.finTs);
    if (this.resetBy !== null) record.resetAt = toMillis(this.resetTs);
    if (stream !== null) stream.describe(record);
    else if (this.sniffed) notes.push(notProtocolNote(this.context.streams));
    return record;
  }
}
