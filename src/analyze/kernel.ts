/**
 * The kernel's account: connections reconstructed from two sources, both read through sock_diag
 * (observe/kernel.ts):
 * - snapshots of the socket table (read with ss, or from /proc/net/tcp{,6}: observe/socket-table.ts),
 *   one taken before the traffic (the baseline), then during and after it. They see every socket
 *   that is in the table when one is read: a connection open then, and, for 60 s after it ended,
 *   the TIME_WAIT socket its active closer keeps, so also a connection that opened and closed
 *   between two snapshots; with each socket's state (who closed first, who holds TIME_WAIT, what is
 *   still open at the end).
 * - the kernel's socket-destroy events (`ss -E`, observe/socket-events.ts), when the table is read
 *   with ss: each full socket of the port as the kernel destroys it, with its cookie and its
 *   4-tuple, but not its history (its state is CLOSE) and not the sockets that end without being
 *   destroyed so (TIME_WAIT and request sockets). They see the connections the snapshots cannot:
 *   one that opened and ended between two snapshots without leaving a TIME_WAIT here (see below).
 *   A socket closed with SO_LINGER 0 (an abortive close: the RST of Node's resetAndDestroy()) goes
 *   through tcp_disconnect(), which clears its peer's port (and its own address unless bound)
 *   before it is destroyed: its event names no connection, and the connection is seen by its
 *   peer's socket, which received the reset (on loopback, always here).
 * Each socket is counted once: a destroyed socket whose cookie a snapshot listed is that
 * snapshot's connection's (destroyedConnections says what the others are).
 *
 * What identifies a connection. Not its 4-tuple alone: consecutive runs against one server port
 * reuse 4-tuples whose TIME_WAIT from an earlier run is still in the table (issue #8: `ab -n 2000
 * -c 50` counted 1489-1897 connections of about 2010, fewer each run as TIME_WAITs piled up, 86 by
 * the 20th; `wrk -c 100` 63-69 of 101, then 1-19). Linux does so on both sides:
 * - the client side: with net.ipv4.tcp_tw_reuse (2, the default, means on loopback), connect() takes
 *   a port whose TIME_WAIT is over a second old (tcp_twsk_unique, net/ipv4/tcp_ipv4.c);
 * - the server side: a SYN for the 4-tuple of a TIME_WAIT socket with a higher sequence number or
 *   timestamp is accepted as a new connection and the TIME_WAIT dies (tcp_timewait_state_process,
 *   net/ipv4/tcp_minisocks.c; RFC 6191). The client's port allocator does not see the server's
 *   TIME_WAIT at all (its 4-tuple is the other way round), so any port it picks may meet one.
 * Keyed by 4-tuple, such a connection was the baseline's socket, and was left out.
 *
 * So sockets are told apart by what identifies them:
 * - the socket cookie (sock_diag's idiag_cookie, `sk:` in ss's output): a 64-bit number the kernel
 *   gives a socket the first time anyone asks and never gives again. A TIME_WAIT socket takes its
 *   full socket's cookie (inet_twsk_alloc), a request socket (SYN_RECV) has its own and its child
 *   another. Only ss gives it.
 * - From /proc, the inode, which full sockets have (0 for TIME_WAIT and request sockets), and the
 *   states a socket goes through, which only go forward (RFC 9293 figure 5): a TIME_WAIT followed by
 *   an ESTABLISHED on the same 4-tuple and side is a new connection; so is a TIME_WAIT whose timer
 *   runs out later than the earlier one's could (a TIME_WAIT lasts TCP_TIMEWAIT_LEN, 60 s, and its
 *   timer is only moved on by a retransmitted FIN, which loopback does not lose).
 * and the two sides of a 4-tuple make one connection only if they can: the other side's socket
 * of a new connection that lived between two snapshots is often all that is left of it, beside an
 * old TIME_WAIT on the first side (issue #8 again: ab's connections closed by nginx on ports whose
 * client TIME_WAIT came from an earlier run). A socket's state says which states its peer can be in
 * from then on; once it has received its peer's FIN, the peer is seen from the next snapshot on for
 * as long as it lives; a TIME_WAIT leaves the table only when it runs out or a new connection takes
 * its 4-tuple, so its partner stays beside it (see mayBePeer).
 *
 * What the snapshots can and cannot see. A connection that opened and closed between two
 * snapshots is still found afterwards through the TIME_WAIT socket its active closer keeps for 60 s
 * (on loopback both sides are on this machine, so one of them always holds it). It is missed when
 * it leaves no TIME_WAIT here, or when that TIME_WAIT is gone before the next snapshot:
 * - it was ended by a RST (no TIME_WAIT at all): seen with ab -n 2000 -c 50, whose unused
 *   connections nginx resets, 1-3 in about 1 run of 10, and with ab -n 200 -c 10. The destroy
 *   events see those; without them (no ss -E), the observer's checkpoint before a client closes
 *   its pool is there for them in the lab, and elsewhere they are missed.
 * - the server is on another host and closed first (the TIME_WAIT is there, not here; the destroy
 *   events see the client's socket);
 * - a SYN for the same 4-tuple reached the server's TIME_WAIT before the next snapshot (the destroy
 *   events see its full sockets, but not which side closed first): the client's
 *   port allocator comes back to a port once it has gone round its range, which `ab -n 2000 -c 50`
 *   did within a run here, a port taken again some 100 ms later, while snapshots come every 20 ms
 *   to a few hundred on a loaded machine (the observer waits twice as long as the last read took).
 *   A client TIME_WAIT is reused only after a second;
 * - the host held net.ipv4.tcp_max_tw_buckets TIME_WAIT sockets already: the kernel then makes none
 *   (TcpExt TCPTimeWaitOverflow counts them; the observer warns, KAL_WARN_TIME_WAIT_OVERFLOW; the
 *   destroy events see their full sockets).
 * From /proc, with no cookie, a connection that reused the 4-tuple of a TIME_WAIT and also ended in
 * a TIME_WAIT on the same side between two snapshots is seen only by that TIME_WAIT's renewed timer;
 * ss's cookie sees it always.
 */
import type { SocketEntry, TcpState } from '../decode/socket-entry.js';
import type { ConnectionRecord, Endpoint, Side } from '../model/report.js';
import { newConnectionRecord } from './record.js';

export interface TableSnapshot {
  /** When the read began, in milliseconds since the Unix epoch. */
  at: number;
  /** When the read ended (the entries were listed in between); `at` when absent. */
  doneAt?: number;
  /**
   * How finely the entries' timers are given, in ms: /proc in clock ticks of 10 ms (the default),
   * ss a TIME_WAIT's in whole seconds (print_ms_timer drops the milliseconds from 10 s on).
   */
  timerResolutionMs?: number;
  /** In the order the kernel listed them, which is the order in which it looked at them. */
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

/** States of a socket that has received its peer's FIN. */
const RECEIVED_FIN: ReadonlySet<TcpState> = new Set(['CLOSE_WAIT', 'LAST_ACK', 'CLOSING', 'TIME_WAIT']);
/**
 * The states a socket's peer can be in from the moment the socket was seen in each of these states
 * on (the other states say nothing of it), RFC 9293 figure 5; CLOSE is the peer gone. In TIME_WAIT
 * a socket has had its FIN acknowledged and received the peer's: the peer has sent its FIN and
 * received ours (LAST_ACK, or CLOSING and TIME_WAIT after a simultaneous close). In CLOSE_WAIT,
 * LAST_ACK or CLOSING it has received the peer's FIN: the peer has sent it (FIN_WAIT1 on). In
 * FIN_WAIT2 its FIN was acknowledged: the peer has received it (CLOSE_WAIT on).
 */
const PEER_LATER: Readonly<Partial<Record<TcpState, ReadonlySet<TcpState>>>> = {
  TIME_WAIT: new Set(['LAST_ACK', 'CLOSING', 'TIME_WAIT', 'CLOSE']),
  CLOSE_WAIT: new Set(['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'TIME_WAIT', 'CLOSE']),
  LAST_ACK: new Set(['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'TIME_WAIT', 'CLOSE']),
  CLOSING: new Set(['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'TIME_WAIT', 'CLOSE']),
  FIN_WAIT2: new Set(['CLOSE_WAIT', 'LAST_ACK', 'CLOSING', 'TIME_WAIT', 'CLOSE']),
};
/** A request socket: the kernel's half of a handshake not yet completed; its child is a new socket. */
const REQUEST: ReadonlySet<TcpState> = new Set(['SYN_RECV', 'NEW_SYN_RECV']);

/**
 * The states one side of a connection can be in after each state, itself included (RFC 9293
 * figure 5, as Linux runs it: CLOSE is a socket's last moment, printed when a dump catches it
 * closing; a full socket in CLOSE may have handed over to a TIME_WAIT). Any other state later on
 * the same 4-tuple and side is a new connection.
 */
const CLOSING_STATES: readonly TcpState[] = [
  'FIN_WAIT1',
  'FIN_WAIT2',
  'CLOSING',
  'TIME_WAIT',
  'CLOSE_WAIT',
  'LAST_ACK',
];
const LATER: Readonly<Record<TcpState, ReadonlySet<TcpState>>> = {
  SYN_SENT: new Set(['SYN_SENT', 'SYN_RECV', 'ESTABLISHED', ...CLOSING_STATES, 'CLOSE']), // SYN_RECV: simultaneous open
  SYN_RECV: new Set(['SYN_RECV', 'NEW_SYN_RECV', 'ESTABLISHED', ...CLOSING_STATES, 'CLOSE']),
  NEW_SYN_RECV: new Set(['SYN_RECV', 'NEW_SYN_RECV', 'ESTABLISHED', ...CLOSING_STATES, 'CLOSE']),
  ESTABLISHED: new Set(['ESTABLISHED', ...CLOSING_STATES, 'CLOSE']),
  FIN_WAIT1: new Set(['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'TIME_WAIT', 'CLOSE']),
  FIN_WAIT2: new Set(['FIN_WAIT2', 'TIME_WAIT', 'CLOSE']),
  CLOSING: new Set(['CLOSING', 'TIME_WAIT', 'CLOSE']),
  TIME_WAIT: new Set(['TIME_WAIT']),
  CLOSE_WAIT: new Set(['CLOSE_WAIT', 'LAST_ACK', 'CLOSE']),
  LAST_ACK: new Set(['LAST_ACK', 'CLOSE']),
  CLOSE: new Set(['CLOSE', 'TIME_WAIT']),
  LISTEN: new Set(['LISTEN']),
};

/**
 * How far a TIME_WAIT's end, reckoned from two snapshots, may move without being another socket,
 * beyond the timer's resolution and the time each read took (TableSnapshot.doneAt): the kernel's
 * clock and ours.
 */
const TIME_WAIT_END_SLACK_MS = 50;
/** /proc's timers are in clock ticks of USER_HZ, 100 a second (decode/procnet.ts). */
const PROC_TIMER_RESOLUTION_MS = 10;
/**
 * How far apart the ends of the two TIME_WAITs of one connection (a simultaneous close: each side
 * enters it when its FIN is acknowledged, a round trip apart on this machine) may be.
 */
const TIME_WAIT_PAIR_SLACK_MS = 1000;

/** How far apart the destroy events of a connection's two sides may be read, when nothing else showed it. */
const DESTROYED_PAIR_MS = 1000;

/** A full socket the kernel destroyed (`ss -E`: state CLOSE, with its cookie), and when its event was read. */
export interface DestroyedSocket {
  entry: SocketEntry;
  /** When the event was read, in milliseconds since the Unix epoch (a little after the socket's end). */
  at: number;
}

/** One socket of a connection as last seen. */
interface Seen {
  state: TcpState;
  cookie: string | undefined;
  /** 0 when the socket has none (TIME_WAIT, request socket). */
  inode: number;
  /** A TIME_WAIT's end: between these two times (ms since the epoch), as its timer said; else null. */
  ends: { earliest: number; latest: number } | null;
  /** The first snapshot (0: the baseline) that showed the socket had received its peer's FIN, or null. */
  finReceivedIn: number | null;
  /** The last snapshot that showed it. */
  lastSeenIn: number;
}

/** One connection: a 4-tuple's sockets from the first snapshot that showed it to the last. */
interface Tracked {
  /** Null for a connection already there in the baseline (not this run's). */
  record: ConnectionRecord | null;
  sockets: Record<Side, Seen | null>;
  activeSide: Side | null;
  timeWaitSide: Side | null;
  openAtEnd: boolean;
  /** The connection that had this 4-tuple before this one. */
  previous: Tracked | null;
  /** The cookies of all its sockets the snapshots listed (ss only). */
  cookies: Set<string>;
  /**
   * Whether its full socket on each side is known: listed (in any state but a timewait socket's,
   * timeWaitSocket, and a request socket's SYN_RECV), or matched with a destroyed socket
   * (destroyedConnections).
   */
  full: Record<Side, boolean>;
  /**
   * When its sockets may have been born and destroyed, in ms since the epoch: from the read of the
   * snapshot before the first that showed it to the end of the last that showed one of its
   * sockets other than a TIME_WAIT (or the first).
   */
  window: { from: number; to: number };
}

/** Whether an entry is the same connection as the socket last seen on its side (see the top of the file). */
type Sameness = 'same' | 'new' | 'unknown';

function sameConnection(seen: Seen, entry: SocketEntry, ends: Seen['ends']): Sameness {
  const byCookie = seen.cookie !== undefined && entry.cookie !== undefined;
  const byInode = seen.inode !== 0 && entry.inode !== 0;
  if (byCookie ? seen.cookie === entry.cookie : byInode && seen.inode === entry.inode) return 'same';
  if (!LATER[seen.state].has(entry.state)) return 'new';
  if (byCookie || byInode) {
    // Another socket, in a state that may follow: still this connection when a request socket
    // became its child, or when a full socket printed in CLOSE became its TIME_WAIT. A TIME_WAIT
    // takes the cookie its full socket had (inet_twsk_alloc), but the dump that printed the
    // socket closing (tcp_time_wait() had run, tcp_done() set CLOSE) asked for its first cookie
    // too late for that. A socket seen in FIN_WAIT1, FIN_WAIT2 or CLOSING had its cookie before
    // then: a TIME_WAIT with another one is the next connection's (a port taken again within a
    // run: seen with ab -n 2000 -c 50, up to 96 times in a run).
    if (REQUEST.has(seen.state) && !REQUEST.has(entry.state)) return 'same';
    if (seen.state === 'CLOSE' && entry.state === 'TIME_WAIT') return 'unknown';
    return 'new';
  }
  if (seen.ends !== null && ends !== null) {
    return ends.earliest > seen.ends.latest + TIME_WAIT_END_SLACK_MS ? 'new' : 'same';
  }
  return 'unknown';
}

/**
 * Whether a socket seen for the first time in snapshot `index` may be the peer of `peer`, the
 * other side's socket of the tuple's current connection as seen before it. Its state must be one
 * the peer's says it can be in (PEER_LATER). Once a socket has received its peer's FIN, the peer
 * existed and lives on until it is seen here, so every snapshot read after that one showed it: a
 * snapshot in between that did not means another connection. (The snapshot that saw the FIN
 * received may have missed it: a listing is not atomic, and a connection can open and close while
 * it is read.) Nor are two TIME_WAITs whose timers end seconds apart one connection.
 */
function mayBePeer(peer: Seen, entry: SocketEntry, ends: Seen['ends'], index: number): boolean {
  if (PEER_LATER[peer.state]?.has(entry.state) === false) return false;
  // A TIME_WAIT leaves the table when it has run out (60 s) or when a new connection takes its
  // 4-tuple; its partner after a simultaneous close, a TIME_WAIT too, is in the table as long.
  if (peer.state === 'TIME_WAIT' && peer.lastSeenIn < index) return false;
  if (peer.finReceivedIn !== null && peer.finReceivedIn < index - 1) return false;
  if (peer.ends === null || ends === null) return true;
  return (
    ends.earliest <= peer.ends.latest + TIME_WAIT_PAIR_SLACK_MS &&
    peer.ends.earliest <= ends.latest + TIME_WAIT_PAIR_SLACK_MS
  );
}

function other(side: Side): Side {
  return side === 'client' ? 'server' : 'client';
}

function key(client: Endpoint, server: Endpoint): string {
  return `${client.address} ${client.port} ${server.address} ${server.port}`;
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

/** A 4-tuple's sockets in one snapshot, each side at most once, in the order they were listed. */
interface Group {
  client: Endpoint;
  server: Endpoint;
  entries: { side: Side; entry: SocketEntry }[];
}

/**
 * Connections to the focus server seen in `snapshots` (oldest first) that were not already there
 * in the `before` snapshot. Both sockets of a loopback connection (client's and server's) make one
 * connection; a 4-tuple reused by a later connection makes another (see the top of the file).
 */
export function kernelConnections(
  before: TableSnapshot,
  snapshots: readonly TableSnapshot[],
  focus: KernelFocus,
  destroyed: readonly DestroyedSocket[] = [],
): ConnectionRecord[] {
  const current = new Map<string, Tracked>();
  const reported: Tracked[] = [];
  const every: Tracked[] = [];
  const all = [before, ...snapshots];
  for (let i = 0; i < all.length; i++) {
    const snap = all[i]!;
    const last = i === all.length - 1 && i > 0;
    // Most sockets of a snapshot are as the one before showed them (TIME_WAITs by the thousand after
    // a few runs): those are passed by at once, the others grouped by 4-tuple and placed.
    const groups = new Map<string, Group>();
    for (const entry of snap.entries) {
      const side = sideOfSocket(entry, focus);
      if (side === null) continue;
      const client = side === 'client' ? entry.local : entry.remote;
      const server = side === 'client' ? entry.remote : entry.local;
      const k = key(client, server);
      const t = current.get(k);
      const seen = t?.sockets[side];
      if (seen != null && unchanged(seen, entry, snap)) {
        seen.lastSeenIn = i;
        if (entry.state !== 'TIME_WAIT') t!.window.to = snap.doneAt ?? snap.at;
        if (last && entry.state !== 'TIME_WAIT') t!.openAtEnd = true;
        continue;
      }
      let group = groups.get(k);
      if (group === undefined) groups.set(k, (group = { client, server, entries: [] }));
      // A listing that is not an atomic snapshot (/proc) may show a socket twice: the first one counts.
      if (!group.entries.some((g) => g.side === side)) group.entries.push({ side, entry });
    }
    for (const [k, group] of groups) {
      const t = place(current.get(k), group, snap, all[i - 1]?.at ?? snap.at, i, last);
      if (t === undefined) continue;
      current.set(k, t);
      every.push(t);
      if (t.record !== null) reported.push(t);
    }
  }
  reported.push(...destroyedConnections(every, destroyed, focus));
  // Those seen only as they were destroyed take their place among the others by time.
  reported.sort((a, b) => a.record!.start! - b.record!.start!);
  return reported.map((t, index) => {
    const r = t.record!;
    r.id = index + 1;
    r.closedFirstBy = t.activeSide;
    r.timeWait = t.timeWaitSide;
    r.openAtEnd = t.openAtEnd;
    const states = (['client', 'server'] as const)
      .filter((s) => t.sockets[s] !== null)
      .map((s) => `${s} ${t.sockets[s]!.state}`);
    if (states.length > 0) r.notes.push(`last seen: ${states.join(', ')}`);
    return r;
  });
}

/**
 * Whether an entry shows the socket last seen on its side in the same state: the same cookie (ss),
 * inode (/proc, full sockets), or for a TIME_WAIT without either, the same end of its timer.
 */
function unchanged(seen: Seen, entry: SocketEntry, snap: TableSnapshot): boolean {
  if (seen.state !== entry.state) return false;
  if (seen.cookie !== undefined && entry.cookie !== undefined) return seen.cookie === entry.cookie;
  if (seen.inode !== 0 && entry.inode !== 0) return seen.inode === entry.inode;
  const ends = timeWaitEnds(entry, snap);
  return ends === null || seen.ends === null || ends.earliest <= seen.ends.latest + TIME_WAIT_END_SLACK_MS;
}

/**
 * Puts one 4-tuple's sockets of snapshot `index` (0: the baseline) on the connection they belong
 * to: the tuple's current one, the one before it (a TIME_WAIT still there while the next
 * connection's SYN is on its way), or a new one. Returns the tuple's new connection, if any.
 */
function place(
  t: Tracked | undefined,
  group: Group,
  snap: TableSnapshot,
  previousAt: number,
  index: number,
  last: boolean,
): Tracked | undefined {
  const ends = group.entries.map(({ entry }) => timeWaitEnds(entry, snap));
  const where: ('current' | 'previous' | 'new' | 'open')[] = group.entries.map(({ side, entry }, n) => {
    const seen = t?.sockets[side];
    if (seen != null) return sameConnection(seen, entry, ends[n]!) === 'new' ? 'new' : 'current';
    const before = t?.previous?.sockets[side];
    if (before != null && sameConnection(before, entry, ends[n]!) === 'same') return 'previous';
    return 'open';
  });
  // A side not seen on the current connection yet joins it unless the other side, as seen before
  // it (in this snapshot if listed before it), says it cannot be its peer, or, listed after it in
  // this snapshot (so looked at later), is in a state this side says its peer cannot be in.
  where.forEach((w, n) => {
    if (w !== 'open') return;
    const { side, entry } = group.entries[n]!;
    const o = group.entries.findIndex((g) => g.side !== side);
    const known = t?.sockets[other(side)];
    let agrees = true;
    if (o >= 0 && where[o] === 'current') {
      const peer = group.entries[o]!.entry;
      if (o < n) {
        const finReceivedIn = known?.finReceivedIn ?? (RECEIVED_FIN.has(peer.state) ? index : null);
        const seen = { ...known!, state: peer.state, ends: ends[o]!, finReceivedIn, lastSeenIn: index };
        agrees = mayBePeer(seen, entry, ends[n]!, index);
      } else {
        agrees =
          (known == null || mayBePeer({ ...known, lastSeenIn: index }, entry, ends[n]!, index)) &&
          PEER_LATER[entry.state]?.has(peer.state) !== false;
      }
    } else if (known != null) agrees = mayBePeer(known, entry, ends[n]!, index);
    where[n] = t !== undefined && agrees && !where.includes('new') ? 'current' : 'new';
  });
  let fresh: Tracked | undefined;
  group.entries.forEach(({ side, entry }, n) => {
    let target: Tracked;
    if (where[n] === 'current') target = t!;
    else if (where[n] === 'previous') target = t!.previous!;
    else
      target = fresh ??= {
        record: index === 0 ? null : newConnectionRecord(0, { ...group.client }, { ...group.server }, snap.at),
        sockets: { client: null, server: null },
        activeSide: null,
        timeWaitSide: null,
        openAtEnd: false,
        previous: t ?? null,
        cookies: new Set(),
        full: { client: false, server: false },
        window: { from: previousAt, to: snap.doneAt ?? snap.at },
      };
    update(target, side, entry, ends[n]!, snap, index, last);
  });
  return fresh;
}

function update(
  t: Tracked,
  side: Side,
  entry: SocketEntry,
  ends: Seen['ends'],
  snap: TableSnapshot,
  index: number,
  last: boolean,
): void {
  const finReceivedIn = t.sockets[side]?.finReceivedIn ?? (RECEIVED_FIN.has(entry.state) ? index : null);
  t.sockets[side] = {
    state: entry.state,
    cookie: entry.cookie,
    inode: entry.inode,
    ends,
    finReceivedIn,
    lastSeenIn: index,
  };
  if (ACTIVE_CLOSE.has(entry.state)) t.activeSide ??= side;
  if (PASSIVE_CLOSE.has(entry.state)) t.activeSide ??= other(side);
  if (entry.state === 'TIME_WAIT') t.timeWaitSide = side;
  else t.window.to = snap.doneAt ?? snap.at;
  if (last && entry.state !== 'TIME_WAIT') t.openAtEnd = true;
  if (entry.cookie !== undefined) t.cookies.add(entry.cookie);
  if (!timeWaitSocket(entry) && !REQUEST.has(entry.state)) t.full[side] = true;
}

/**
 * The connections only the kernel's destroy events show (see the top of the file), given every
 * connection the snapshots showed (the baseline's too). A destroyed socket whose cookie a snapshot
 * listed is counted already. Any other is a full socket no snapshot listed; it is, in this order:
 * - the full socket of a connection the snapshots saw without it: seen as its TIME_WAIT (which
 *   takes the cookie its full socket had, none when nobody had asked for it yet: a new one), as its
 *   request socket, or only on the other side. Each such connection of the run has one such socket
 *   per side, destroyed as it ended; among those of its 4-tuple, the one whose lifetime is nearest
 *   in time takes it. (Whichever takes it, the count is the same: every such side gets its socket.)
 * - the other side of a connection the events showed a moment before (a second at most apart);
 * - else a connection nothing else showed: it opened and ended between two snapshots without a
 *   TIME_WAIT here (a reset, or its TIME_WAIT taken over by the next connection's SYN).
 */
function destroyedConnections(every: readonly Tracked[], destroyed: readonly DestroyedSocket[], focus: KernelFocus) {
  const known = new Set<string>();
  const open = new Map<string, Tracked[]>();
  for (const t of every) {
    for (const cookie of t.cookies) known.add(cookie);
    // A connection of the baseline (no record) may have lost its full sockets before we listened.
    if (t.record === null || (t.full.client && t.full.server)) continue;
    const k = key(t.record.client, t.record.server);
    open.set(k, [...(open.get(k) ?? []), t]);
  }
  const fresh: Tracked[] = [];
  const byTuple = new Map<string, Tracked[]>();
  for (const { entry, at } of [...destroyed].sort((a, b) => a.at - b.at)) {
    if (entry.cookie === undefined || known.has(entry.cookie)) continue;
    known.add(entry.cookie);
    const side = sideOfSocket(entry, focus);
    if (side === null || entry.remote.port === 0) continue;
    const client = side === 'client' ? entry.local : entry.remote;
    const server = side === 'client' ? entry.remote : entry.local;
    const k = key(client, server);
    const seen = nearest(
      (open.get(k) ?? []).filter((t) => !t.full[side]),
      at,
    );
    if (seen !== undefined) {
      seen.full[side] = true;
      continue;
    }
    const pair = (byTuple.get(k) ?? []).find((t) => !t.full[side] && at - t.window.to <= DESTROYED_PAIR_MS);
    if (pair !== undefined) {
      pair.full[side] = true;
      continue;
    }
    const record = newConnectionRecord(0, { ...client }, { ...server }, at);
    record.notes.push(
      'seen only as the kernel destroyed its sockets: it opened and ended between two snapshots of the socket table',
    );
    const t: Tracked = {
      record,
      sockets: { client: null, server: null },
      activeSide: null,
      timeWaitSide: null,
      openAtEnd: false,
      previous: null,
      cookies: new Set([entry.cookie]),
      full: { client: side === 'client', server: side === 'server' },
      window: { from: at, to: at },
    };
    fresh.push(t);
    byTuple.set(k, [...(byTuple.get(k) ?? []), t]);
  }
  return fresh;
}

/** The connection whose window is nearest to `at` (the first of those as near). */
function nearest(candidates: readonly Tracked[], at: number): Tracked | undefined {
  let best: Tracked | undefined;
  let bestDistance = Infinity;
  for (const t of candidates) {
    const distance = at < t.window.from ? t.window.from - at : at > t.window.to ? at - t.window.to : 0;
    if (distance < bestDistance) [best, bestDistance] = [t, distance];
  }
  return best;
}

/**
 * Whether an entry is a timewait socket (inet_timewait_sock), which has no inode and, unless its full
 * socket's had been asked for, a cookie of its own: a TIME_WAIT, or a FIN_WAIT2 with the timewait
 * timer. A socket its program has closed (orphaned) in FIN_WAIT2 is handed over by tcp_close() at
 * once to a timewait socket (tcp_time_wait(sk, TCP_FIN_WAIT2, tmo), net/ipv4/tcp.c, whenever
 * tcp_fin_timeout is not above TIME_WAIT's 60 s), and its full socket destroyed; sock_diag and
 * /proc list the timewait socket in its substate, FIN_WAIT2, with timer 3 (timewait), until the
 * peer's FIN makes it a TIME_WAIT. Taken for the full socket, its connection looked as if it had
 * one already, and the full socket's destroy event, another cookie, counted a new connection (issue
 * 8: `ab -n 2000 -c 50` against nginx, which closes first, over-counted by 1-24 in 9 of 20 runs on a
 * loaded machine, where a snapshot takes long enough to catch many in FIN_WAIT2).
 */
function timeWaitSocket(entry: SocketEntry): boolean {
  return entry.state === 'TIME_WAIT' || entry.timer.kind === 'timewait';
}

/**
 * When a TIME_WAIT socket's timer says it ends, given when the snapshot was read and how finely
 * the timer is given (truncated); null for other sockets.
 */
function timeWaitEnds(entry: SocketEntry, snap: TableSnapshot): Seen['ends'] {
  if (entry.state !== 'TIME_WAIT' || entry.timer.kind !== 'timewait') return null;
  const resolution = snap.timerResolutionMs ?? PROC_TIMER_RESOLUTION_MS;
  return {
    earliest: snap.at + entry.timer.expiresMs,
    latest: (snap.doneAt ?? snap.at) + entry.timer.expiresMs + resolution,
  };
}
