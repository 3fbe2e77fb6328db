/**
 * The kernel's account: connections reconstructed from snapshots of the socket table (read with ss,
 * or from /proc/net/tcp{,6}: observe/socket-table.ts), taken before, during and after the traffic.
 * A connection that opened and closed between two snapshots is still found afterwards through the
 * TIME_WAIT socket its active closer leaves behind for 60 s; only one ended by a RST between two
 * snapshots can be missed.
 */
import type { SocketEntry, TcpState } from '../decode/socket-entry.js';
import type { ConnectionRecord, Endpoint, Side } from '../model/report.js';
import { newConnectionRecord } from './record.js';

export interface TableSnapshot {
  /** Milliseconds since the Unix epoch. */
  at: number;
  entries: readonly SocketEntry[];
}

export interface KernelFocus {
  /** The server's port: sockets with it as local port are the server's side, as remote port the client's. */
  serverPort: number;
  /** Optional server address (for a remote target only the client side is on this machine). */
  serverAddress?: string;
}

/** States a socket goes through when its side closed first (RFC 9293 figure 5). */
const ACTIVE_CLOSE: ReadonlySet<TcpState> = new Set(['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'TIME_WAIT']);
/** States a socket goes through when the peer closed first. */
const PASSIVE_CLOSE: ReadonlySet<TcpState> = new Set(['CLOSE_WAIT', 'LAST_ACK']);

interface Tracked {
  record: ConnectionRecord;
  states: Record<Side, TcpState | null>;
  activeSide: Side | null;
  timeWaitSide: Side | null;
}

function key(e: Endpoint): string {
  return `${e.address} ${e.port}`;
}

/** Which side of the focus connection a socket is, or null when it belongs to other traffic. */
function sideOfSocket(entry: SocketEntry, focus: KernelFocus): Side | null {
  if (entry.state === 'LISTEN') return null;
  if (
    entry.local.port === focus.serverPort &&
    (focus.serverAddress === undefined || entry.local.address === focus.serverAddress)
  )
    return 'server';
  if (
    entry.remote.port === focus.serverPort &&
    (focus.serverAddress === undefined || entry.remote.address === focus.serverAddress)
  )
    return 'client';
  return null;
}

/**
 * Connections to the focus server seen in `snapshots` (oldest first) that did not exist in
 * `before`. Both sockets of a loopback connection (client's and server's) make one connection.
 */
export function kernelConnections(
  before: readonly SocketEntry[],
  snapshots: readonly TableSnapshot[],
  focus: KernelFocus,
): ConnectionRecord[] {
  const existing = new Set<string>();
  for (const e of before) {
    const side = sideOfSocket(e, focus);
    if (side !== null) existing.add(key(side === 'client' ? e.local : e.remote));
  }
  const byClient = new Map<string, Tracked>();
  const order: Tracked[] = [];
  for (const snap of snapshots) {
    for (const e of snap.entries) {
      const side = sideOfSocket(e, focus);
      if (side === null) continue;
      const client = side === 'client' ? e.local : e.remote;
      const server = side === 'client' ? e.remote : e.local;
      const k = key(client);
      if (existing.has(k)) continue;
      let t = byClient.get(k);
      if (t === undefined) {
        t = {
          record: newConnectionRecord(order.length + 1, { ...client }, { ...server }, snap.at),
          states: { client: null, server: null },
          activeSide: null,
          timeWaitSide: null,
        };
        byClient.set(k, t);
        order.push(t);
      }
      t.states[side] = e.state;
      if (ACTIVE_CLOSE.has(e.state)) t.activeSide ??= side;
      if (PASSIVE_CLOSE.has(e.state)) t.activeSide ??= side === 'client' ? 'server' : 'client';
      if (e.state === 'TIME_WAIT') t.timeWaitSide = side;
    }
  }
  const last = snapshots[snapshots.length - 1];
  const lastKeys = new Set<string>();
  if (last) {
    for (const e of last.entries) {
      const side = sideOfSocket(e, focus);
      if (side !== null && e.state !== 'TIME_WAIT') lastKeys.add(key(side === 'client' ? e.local : e.remote));
    }
  }
  return order.map((t) => {
    const r = t.record;
    r.closedFirstBy = t.activeSide;
    r.timeWait = t.timeWaitSide;
    r.openAtEnd = lastKeys.has(key(r.client));
    const states = (['client', 'server'] as const)
      .filter((s) => t.states[s] !== null)
      .map((s) => `${s} ${t.states[s]}`);
    if (states.length > 0) r.notes.push(`last seen: ${states.join(', ')}`);
    return r;
  });
}
