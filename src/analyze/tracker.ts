/**
 * TCP connection tracker: TcpPackets in, one ConnectionRecord per TCP connection out.
 *
 * The single engine behind live capture (observe/capture.ts) and offline `analyze`. This file only
 * wires the rooms together, as Zeek keeps them apart:
 *
 *   packet -> table (tcp/table.ts: the connection on its 4-tuple, or none for a late packet)
 *          -> connection (tcp/connection.ts: handshake, FIN, RST, who is client and server)
 *          -> its two flows (tcp/reassembly.ts: bytes put back in order, holes given up as gaps)
 *          -> its stream (streams/: picked by sniffing the first payload; HTTP/1.x counts requests)
 *
 * and retires connections as the table's lifecycle says (tcp/table.ts): each one's record (made by
 * the connection) goes to `onConnection` then. A new SYN on a 4-tuple whose connection has ended (or
 * whose initial sequence number differs) starts a new connection, as the kernel does after TIME_WAIT.
 */
import type { TlsKeySource } from '../decode/tls-keylog.js';
import { TcpFlag } from '../model/packet.js';
import type { TcpPacket } from '../model/packet.js';
import type { ConnectionRecord, HttpEvidence, Warning } from '../model/report.js';
import type { Micros } from '../model/time.js';
import { BUILT_IN_STREAMS } from './streams/index.js';
import { TcpConnection, type ConnectionContext, type Peer } from './tcp/connection.js';
import { PendingHandshake } from './tcp/handshake.js';
import { HoldBudget } from './tcp/reassembly.js';
import { ConnectionTable, HANDSHAKE_IDLE_US, MAX_HANDSHAKES } from './tcp/table.js';
import { plural } from '../util/text.js';

export interface TrackerOptions {
  /** Ports known to be server ports: decides client and server for connections seen without a SYN. */
  serverPorts?: readonly number[];
  /** Frame HTTP/1.x on each connection (default true); false: no stream analysis at all. */
  http?: boolean;
  /** TLS secrets (a key log): TLS connections are decrypted, their requests counted (streams/tls.ts). */
  keys?: TlsKeySource;
  /** List each connection's exchanges (ConnectionRecord.exchanges; the HTML report's timeline). Default false. */
  exchanges?: boolean;
  /** Out-of-order bytes buffered per direction before the missing bytes are declared lost. */
  maxBufferedBytes?: number;
  /** Out-of-order bytes buffered over all connections; beyond it the oldest holes are given up. */
  maxTotalBufferedBytes?: number;
  /**
   * Receives each connection's record once the connection is retired (finished, see tcp/table.ts),
   * in the order they finish; end() hands over the rest in id order. Without it the tracker keeps
   * every record and result() returns them.
   */
  onConnection?: (record: ConnectionRecord) => void;
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
  private readonly table = new ConnectionTable();
  private readonly context: ConnectionContext;
  private readonly budget: HoldBudget<Peer>;
  /** Close asks of every connection's stream, as they are counted. */
  private readonly http: HttpEvidence = { serverClose: 0, clientClose: 0 };
  private readonly sink: (record: ConnectionRecord) => void;
  /** Records of retired connections, when no onConnection was given. */
  private readonly kept: ConnectionRecord[] | null;
  /** The latest capture time seen (captures may be slightly out of order). */
  private now: Micros = -Infinity;
  private nextId = 1;
  /** No id below this one is live (see oldestLiveId). */
  private oldest = 1;
  private late = 0;
  private syns = 0;
  private open = 0;
  /** Payload bytes lost by the retired connections (result() adds the live ones'). */
  private retiredLostBytes = 0;
  /** HTTP messages the retired connections' capture held only in part (result() adds the live ones'). */
  private retiredPartialRequests = 0;
  private retiredPartialResponses = 0;
  /** Handshakes expired before HANDSHAKE_IDLE_US because more than MAX_HANDSHAKES waited. */
  private handshakesCut = 0;

  constructor(options: TrackerOptions = {}) {
    // Many connections with a hole each must not add up to unbounded memory.
    this.budget = new HoldBudget(
      options.maxBufferedBytes ?? 4 * 1024 * 1024,
      options.maxTotalBufferedBytes ?? 64 * 1024 * 1024,
    );
    this.context = {
      streams: options.http === false ? [] : BUILT_IN_STREAMS,
      streamContext: {
        http: this.http,
        ...(options.keys === undefined ? {} : { keys: options.keys }),
        ...(options.exchanges === true ? { exchanges: true } : {}),
      },
      budget: this.budget,
      serverPorts: new Set(options.serverPorts ?? []),
    };
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
    return this.budget.bytes;
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
    return this.table.size;
  }

  /** The smallest id not retired yet (Infinity when none): every smaller id has been handed over. */
  get oldestLiveId(): number {
    // Every id below `oldest` is retired: the cursor only moves forward (constant amortized time).
    while (this.oldest < this.nextId && !this.table.has(this.oldest)) this.oldest++;
    return this.oldest < this.nextId ? this.oldest : Infinity;
  }

  /** Packets that arrived on the 4-tuple of a retired connection, not a SYN: ignored. */
  get latePackets(): number {
    return this.late;
  }

  packet(p: TcpPacket): void {
    if (p.ts > this.now) {
      const now = (this.now = p.ts);
      if (this.table.lingeringDue(now)) this.retireLingering();
      if (this.table.tuplesDue(now)) this.table.forgetTuples(now);
      if (this.table.handshakesDue(now)) this.expireHandshakes();
    }
    const slot = this.table.find(p);
    const isSyn = (p.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
    let conn: TcpConnection | null;
    if (slot === null) {
      conn = null;
    } else if (slot.retiredTuple) {
      // Its connection is finished: a late packet of it, unless a SYN opens a new one (its own first
      // SYN again does not: see TcpConnection.isNewIncarnation).
      if (!isSyn || slot.repeatsSyn(p)) {
        this.late++;
        return;
      }
      this.table.reopen(slot);
      conn = null;
    } else if (slot.pendingHandshake) {
      // Seen only in its first segment so far: the same again, or the connection opens for this one.
      if (slot.repeated(p)) return;
      conn = this.table.open(slot, this.context);
    } else {
      conn = slot;
    }
    if (conn !== null && isSyn && conn.isNewIncarnation(p)) {
      this.retire(conn, false);
      conn = null;
    }
    if (conn === null) {
      const id = this.nextId++;
      this.open++;
      if (PendingHandshake.accepts(p)) {
        // A SYN (or SYN/ACK) alone: held small until an answer comes (tcp/handshake.ts).
        const pending = new PendingHandshake(id, p);
        this.table.add(pending);
        if (pending.isSyn) this.syns++;
        if (this.table.handshaking(pending, this.now)) this.expireHandshakes();
        return;
      }
      conn = new TcpConnection(id, p, this.context);
      this.table.add(conn);
    }
    const wasClosed = conn.closed;
    const hadSyn = conn.synSeen;
    const wasInHandshake = conn.inHandshake;
    conn.packet(p);
    if (!hadSyn && conn.synSeen) this.syns++;
    if (conn.inHandshake) {
      // Still only SYNs and SYN/ACKs (a SYN/ACK after its SYN): it waits for an answer.
      if (!this.table.inHandshakeQueue(conn) && this.table.handshaking(conn, this.now)) this.expireHandshakes();
    } else if (wasInHandshake) {
      this.table.handshakeDone(conn);
    }
    if (this.budget.over) this.shed();
    if (!wasClosed && conn.closed) {
      this.open--;
      if (this.table.closing(conn, this.now)) this.retireLingering();
    }
  }

  /**
   * The capture ended: every connection not retired yet (still open, or closed and waiting) is
   * retired now, in id order, its record handed over. The tracker can go on receiving packets.
   */
  end(): void {
    for (const conn of this.table.connections()) this.retire(this.table.whole(conn, this.context), false);
  }

  /**
   * Everything seen so far: the records kept (see TrackerResult) and those of the connections not
   * retired yet; the tracker can go on receiving packets afterwards.
   */
  result(): TrackerResult {
    const connections: ConnectionRecord[] = this.kept === null ? [] : this.kept.slice();
    const warnings: Warning[] = [];
    let lost = this.retiredLostBytes;
    let partialRequests = this.retiredPartialRequests;
    let partialResponses = this.retiredPartialResponses;
    for (const live of this.table.connections()) {
      const conn = this.table.whole(live, this.context);
      conn.giveUpHoles();
      const record = conn.record();
      connections.push(record);
      lost += conn.lostBytes;
      partialRequests += record.partialRequests ?? 0;
      partialResponses += record.partialResponses ?? 0;
    }
    // Retired records came in the order their connections finished.
    connections.sort((a, b) => a.id - b.id);
    if (this.handshakesCut > 0) {
      warnings.push({
        code: 'KAL_WARN_HANDSHAKES_CUT',
        message:
          `${this.handshakesCut} connections still in their handshake were given up early: more than ` +
          `${MAX_HANDSHAKES} at once (a SYN flood?); an answer after that counts as another connection`,
      });
    }
    if (lost > 0) {
      warnings.push({
        code: 'KAL_WARN_MISSING_BYTES',
        message:
          `${lost} bytes of TCP payload were not captured (snap length or dropped packets); ` +
          'counts around them may be incomplete',
      });
    }
    if (partialRequests + partialResponses > 0) {
      warnings.push({
        code: 'KAL_WARN_PARTIAL_MESSAGES',
        message:
          `${plural(partialRequests, 'request')} and ${plural(partialResponses, 'response')} were captured ` +
          'only in part (snap length or dropped packets): each is counted from its start line, the rest of it ' +
          '(its body, or more) was not captured; a message whose start line was not captured is not counted',
      });
    }
    return { connections, syns: this.syns, http: { ...this.http }, warnings };
  }

  /** Retires the closed connections whose wait is over (or the oldest, beyond the table's limit). */
  private retireLingering(): void {
    for (let conn = this.table.nextToRetire(this.now); conn !== null; conn = this.table.nextToRetire(this.now))
      this.retire(conn, true);
  }

  /**
   * Handshakes due for a look: one with no packet for HANDSHAKE_IDLE_US expires (its 4-tuple marked,
   * as a finished connection's); one with a packet since waits again; beyond MAX_HANDSHAKES the oldest
   * expires early (not marked: an answer after all still shows the rest of the connection).
   */
  private expireHandshakes(): void {
    const now = this.now;
    for (let due = this.table.nextHandshakeDue(now); due !== null; due = this.table.nextHandshakeDue(now)) {
      const idle = now - due.lastPacket;
      // Taken out before its time: more than MAX_HANDSHAKES wait.
      const early = idle < HANDSHAKE_IDLE_US && due.expiresAt > now;
      if (idle < HANDSHAKE_IDLE_US && !early) {
        this.table.waitAgain(due, now);
        continue;
      }
      if (early) this.handshakesCut++;
      const conn = this.table.whole(due, this.context);
      conn.expire(idle, early);
      this.retire(conn, !early);
    }
  }

  /**
   * Out of the table (a retired-tuple mark in its place when `markTuple`): no packet will reach it
   * again. Its record goes to the sink; the connection itself (stream, buffers) is let go.
   */
  private retire(conn: TcpConnection, markTuple: boolean): void {
    this.table.remove(conn, markTuple, this.now);
    if (!conn.closed) this.open--;
    conn.retire();
    this.retiredLostBytes += conn.lostBytes;
    const record = conn.record();
    this.retiredPartialRequests += record.partialRequests ?? 0;
    this.retiredPartialResponses += record.partialResponses ?? 0;
    this.sink(record);
  }

  /** Over the global limit: give up the oldest holes until the held bytes fit again. */
  private shed(): void {
    for (const flow of this.budget.holders) {
      if (!this.budget.over) return;
      flow.sink.conn.giveUpHoles();
    }
  }
}
