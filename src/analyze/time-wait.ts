/**
 * The TIME_WAIT sockets of a socket table, per remote endpoint (`sockets`): how many this machine
 * holds towards each server it connected to, against its ephemeral ports (Linux needs a local port
 * whose 4-tuple is free, so each server address and port has the whole range), and how many it holds
 * as a server that closed first. Pure: entries and settings in, a summary out.
 */
import type { SocketEntry } from '../decode/socket-entry.js';
import { isLoopbackAddress } from '../model/endpoint.js';
import { inPortRange, portCount } from '../model/host.js';
import type { ClientPortSettings } from '../model/host.js';
import type { Endpoint } from '../model/report.js';

/**
 * Which side of its connections this machine was: `client` (it connected: the local port is its own
 * pick, from the ephemeral range unless it was bound), `server` (it accepted on a listening port),
 * `unknown` (neither port tells).
 */
export type TimeWaitSide = 'client' | 'server' | 'unknown';

/** The TIME_WAIT sockets towards one remote endpoint (client rows) or from one remote address (server rows). */
export interface TimeWaitPeer {
  side: TimeWaitSide;
  /** Client rows: the local address (port 0: any port). Server and unknown rows: the local address and port. */
  local: Endpoint;
  /** Client rows: the server's address and port. Server and unknown rows: the peer's address (port 0: any port). */
  remote: Endpoint;
  /** TIME_WAIT sockets. */
  count: number;
  /** Of them, those whose local port is in the ephemeral range. */
  ephemeral: number;
  /** Client rows: the share of the ephemeral range they hold towards this endpoint (0..1); null otherwise. */
  rangeShare: number | null;
}

/** What `sockets --by-remote --json` prints. */
export interface TimeWaitSummary {
  /** TIME_WAIT sockets among the entries. */
  timeWait: number;
  /** The ephemeral range and tcp_tw_reuse of this machine, and where they come from. */
  ports: ClientPortSettings;
  /** Most sockets first (then by side, local and remote), at most `top`. */
  peers: TimeWaitPeer[];
  /** Peers left out beyond `top`. */
  peersOmitted: number;
}

export interface TimeWaitOptions {
  ports: ClientPortSettings;
  /** Ports with a LISTEN socket on this machine (those in `entries` count too): their sockets are servers'. */
  listeningPorts?: Iterable<number>;
  /** At most this many peers (default all). */
  top?: number;
}

const SIDE_ORDER: Record<TimeWaitSide, number> = { client: 0, server: 1, unknown: 2 };

export function timeWaitByRemote(entries: readonly SocketEntry[], options: TimeWaitOptions): TimeWaitSummary {
  const range = options.ports.portRange;
  const listening = new Set(options.listeningPorts ?? []);
  for (const e of entries) if (e.state === 'LISTEN') listening.add(e.local.port);
  // TIME_WAIT sockets per local endpoint and remote address: a server's port has many.
  const fromOnePort = new Map<string, number>();
  for (const e of entries)
    if (e.state === 'TIME_WAIT') fromOnePort.set(localKey(e), (fromOnePort.get(localKey(e)) ?? 0) + 1);
  const byKey = new Map<string, TimeWaitPeer>();
  let timeWait = 0;
  for (const e of entries) {
    if (e.state !== 'TIME_WAIT') continue;
    timeWait++;
    const side = sideOf(e, listening, (fromOnePort.get(localKey(e)) ?? 0) > 1, options.ports);
    const local = side === 'client' ? { address: e.local.address, port: 0 } : e.local;
    const remote = side === 'client' ? e.remote : { address: e.remote.address, port: 0 };
    const key = `${side} ${local.address} ${local.port} ${remote.address} ${remote.port}`;
    let peer = byKey.get(key);
    if (peer === undefined) {
      peer = { side, local, remote, count: 0, ephemeral: 0, rangeShare: null };
      byKey.set(key, peer);
    }
    peer.count++;
    if (inPortRange(e.local.port, range)) peer.ephemeral++;
  }
  const all = [...byKey.values()];
  for (const p of all) if (p.side === 'client') p.rangeShare = p.ephemeral / portCount(range);
  all.sort(
    (a, b) =>
      b.count - a.count ||
      SIDE_ORDER[a.side] - SIDE_ORDER[b.side] ||
      compareEndpoints(a.remote, b.remote) ||
      compareEndpoints(a.local, b.local),
  );
  const top = options.top ?? all.length;
  return { timeWait, ports: options.ports, peers: all.slice(0, top), peersOmitted: Math.max(0, all.length - top) };
}

/**
 * A listening local port is a server's, and a remote port listening here (on loopback) a client's.
 * Else a local port in TIME_WAIT with several ports of one remote address is a server's whose
 * listener has gone (a client picks a port per connection); else a local port in the ephemeral range
 * is a client's pick, and a remote port in it (the peer's pick, if its range is like ours) a server's.
 */
function sideOf(
  e: SocketEntry,
  listening: ReadonlySet<number>,
  sharedLocalPort: boolean,
  ports: ClientPortSettings,
): TimeWaitSide {
  if (listening.has(e.local.port)) return 'server';
  if (isLoopbackAddress(e.remote.address) && listening.has(e.remote.port)) return 'client';
  if (sharedLocalPort) return 'server';
  if (inPortRange(e.local.port, ports.portRange)) return 'client';
  if (inPortRange(e.remote.port, ports.portRange)) return 'server';
  return 'unknown';
}

/** A socket's local endpoint and remote address. */
function localKey(e: SocketEntry): string {
  return `${e.local.address} ${e.local.port} ${e.remote.address}`;
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  return a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port;
}
