/**
 * The kernel's socket-destroy events, followed with `ss -E` (iproute2): every full TCP socket of a
 * port, as the kernel destroys it, with its cookie (decode/ss.ts, SsEventDecoder). The kernel
 * observer (kernel.ts) reads the socket table in snapshots; a connection that opens and ends with
 * a reset between two of them leaves nothing in the table, but its sockets are destroyed, and
 * each destruction is told here (analyze/kernel.ts counts them once with what the snapshots saw).
 *
 * How it runs:
 * - `stdbuf -oL ss -tanHOeE FILTER`: ss writes with stdio, fully buffered into a pipe, and never
 *   flushes while it follows (it waits in recvmsg for the next event): without stdbuf a run's
 *   events would sit in its buffer, and be lost when it is ended. Line-buffered, each event is one
 *   write as it comes.
 * - Under the guard of guarded-child.ts, read by a thread of its own at the observers' priority:
 *   ss dies with us, and is read while the main thread is busy. ss that is not read blocks, the
 *   kernel's netlink buffer for it fills (ss asks for 1 MiB, net.core.rmem_max caps it), and the
 *   kernel drops events: ss then stops with "netlink receive error No buffer space available".
 * - Markers: a connection of our own to a listener of our own (its port is in ss's filter), reset
 *   at once by the client; the listener's side, which receives the reset, is the one waited for
 *   (a socket closed with SO_LINGER 0, as Node's resetAndDestroy() does, goes through
 *   tcp_disconnect(), which clears its peer's port and, unless bound, its address: its event says
 *   0.0.0.0:PORT to *, nobody's connection). The kernel hands destroy events over from a
 *   workqueue, so seeing ours is how we know that ss follows (start) and that what was destroyed
 *   before it has been read (sync).
 * Joining the multicast group needs no privilege (sock_diag's netlink is NL_CFG_F_NONROOT_RECV;
 * checked as nobody on Linux 6.18: the events of every user's sockets come).
 */
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { DestroyedSocket } from '../analyze/kernel.js';
import { SsEventDecoder } from '../decode/ss.js';
import type { SocketEntry } from '../decode/socket-entry.js';
import type { Warning } from '../model/report.js';
import { GuardedChild } from './guarded-child.js';

export interface SocketEventsOptions {
  /** Sockets with one of these ports, local or remote (a listener's end is not reported). */
  ports: readonly number[];
  /** The ss program (default 'ss' on the PATH). */
  ss?: string;
  /** How long start() waits for ss to show that it follows (default 5 s). */
  readyTimeoutMs?: number;
  /**
   * Aborted while starting (the observer was closed, the run aborted): ss and the marker are ended,
   * and start() rejects with the signal's reason once they have.
   */
  signal?: AbortSignal;
}

/** ss's flags: TCP, every state (a destroyed socket is CLOSE), numeric, no header, one line, cookie, events. */
const SS_EVENT_FLAGS = '-tanHOeE';
/** The coreutils program that makes ss's stdout line-buffered (see the top of the file). */
const STDBUF = 'stdbuf';
const READY_TIMEOUT_MS = 5000;
/**
 * A marker not seen within this long is sent again while starting: ss subscribes to the events a few
 * ms after it starts, and a marker reset before that never shows; a short retry keeps start() (once per
 * experiment) from adding a quarter of a second each time.
 */
const READY_RETRY_MS = 20;
/** How long sync() waits for its marker. */
const SYNC_TIMEOUT_MS = 3000;

/** The arguments of `stdbuf` that run ss following these ports' sockets and the marker's. */
export function ssEventArguments(ss: string, ports: readonly number[], markerPort: number): string[] {
  const clauses = ports.map((p) => `sport = :${p} or dport = :${p}`);
  clauses.push(`sport = :${markerPort}`);
  return ['-oL', ss, SS_EVENT_FLAGS, `( ${clauses.join(' or ')} )`];
}

/** The sockets destroyed in a window, and why they may not be all (null when they are). */
export interface DestroyedSince {
  destroyed: DestroyedSocket[];
  problem: string | null;
  warnings: Warning[];
}

/** Where a window of events begins: the counts of sockets destroyed and of warnings before it (SocketEvents.cursor). */
export interface EventsCursor {
  destroyed: number;
  warnings: number;
}

/** ss -E started once for several kernel observers (observe/shared.ts), or why it could not start. */
export type SharedSocketEvents = { events: SocketEvents; problem: null } | { events: null; problem: string };

export class SocketEvents {
  private readonly destroyed: DestroyedSocket[] = [];
  private readonly decoder: SsEventDecoder;
  private readonly child: GuardedChild;
  /** Markers sent and not yet seen: the marker's local port -> what to call when its event comes. */
  private readonly waiting = new Map<number, (seen: boolean) => void>();
  /** When the last event was read (0: none yet). */
  private lastEventAt = 0;
  private stopped = false;

  private constructor(
    private readonly marker: net.Server,
    private readonly markerPort: number,
    options: SocketEventsOptions,
  ) {
    this.decoder = new SsEventDecoder((entry, at) => this.event(entry, at));
    const args = ssEventArguments(options.ss ?? 'ss', options.ports, markerPort);
    this.child = new GuardedChild(STDBUF, args, (chunk, at) => this.decoder.push(chunk, at));
    void this.child.exited.then(() => {
      // All ss wrote has been read by now: a marker still waited for will not come.
      for (const resolve of this.waiting.values()) resolve(false);
    });
  }

  /**
   * Starts ss and resolves once it follows (a marker's event has come); rejects, saying why, when
   * it cannot: ss or stdbuf missing, ss refused (too old, netlink not permitted), no event in time;
   * or with the signal's reason, once ss has ended, when `signal` aborts meanwhile.
   */
  static async start(options: SocketEventsOptions): Promise<SocketEvents> {
    const { signal } = options;
    signal?.throwIfAborted();
    const marker = net.createServer((socket) => socket.on('error', () => undefined));
    marker.listen(0, '127.0.0.1');
    await once(marker, 'listening');
    if (signal?.aborted) {
      await new Promise<void>((resolve) => marker.close(() => resolve()));
      throw signal.reason;
    }
    const events = new SocketEvents(marker, (marker.address() as AddressInfo).port, options);
    const deadline = performance.now() + (options.readyTimeoutMs ?? READY_TIMEOUT_MS);
    try {
      // Each wait for a marker is READY_RETRY_MS at most: an abort is seen within that.
      while (!(await events.mark(READY_RETRY_MS))) {
        signal?.throwIfAborted();
        if (!events.child.running) throw new Error(`ss -E exited: ${events.why()}`);
        if (performance.now() > deadline) throw new Error(`ss -E printed no event in time: ${events.why()}`);
      }
      signal?.throwIfAborted();
    } catch (error) {
      await events.close();
      throw error;
    }
    return events;
  }

  /**
   * Resolves true once every socket destroyed before now has (very likely) been read: a marker
   * reset now has been; false when ss has stopped or the marker did not come in time.
   */
  sync(): Promise<boolean> {
    return this.mark(SYNC_TIMEOUT_MS);
  }

  /**
   * Where the sockets destroyed (and the warnings about ss's lines) from now on begin, to give to
   * since() or stop(): once what was destroyed before now has been read (sync), so that it falls before.
   */
  async cursor(): Promise<EventsCursor> {
    await this.sync();
    return { destroyed: this.destroyed.length, warnings: this.decoder.warnings.length };
  }

  /**
   * Syncs, ends ss and returns every socket destroyed since `from` (a cursor()), with the reason
   * they may not be all (null when they are).
   */
  async stop(from: EventsCursor = { destroyed: 0, warnings: 0 }): Promise<DestroyedSince> {
    return this.collect(from, true);
  }

  /**
   * Syncs and returns every socket destroyed since `from` (a cursor()), as stop() does, and goes on
   * following: one ss -E shared by several observers, each reading its own window (observe/shared.ts).
   */
  async since(from: EventsCursor): Promise<DestroyedSince> {
    return this.collect(from, false);
  }

  private async collect(from: EventsCursor, end: boolean): Promise<DestroyedSince> {
    const synced = !this.stopped && this.child.running && (await this.sync());
    const running = this.child.running;
    if (end) {
      await this.close();
      this.decoder.end(Date.now());
    }
    let problem: string | null = null;
    if (!synced) {
      const last =
        this.lastEventAt === 0 ? '' : ` (its last event was read at ${new Date(this.lastEventAt).toISOString()})`;
      problem = running
        ? `ss -E fell behind${last}: ${this.why()}`
        : `ss -E stopped during the run${last}: ${this.why()}`;
    }
    // A window's own: what came before `from` was another window's (a shared ss -E's earlier observer).
    return {
      destroyed: this.destroyed.slice(from.destroyed),
      problem,
      warnings: this.decoder.warnings.slice(from.warnings),
    };
  }

  /** Ends ss and the marker at once. Safe to call more than once. */
  async close(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.child.stop(), new Promise<void>((resolve) => this.marker.close(() => resolve()))]);
  }

  /** What ss said on stderr, its first line, or that it said nothing. */
  private why(): string {
    const line = this.child.stderr.trim().split('\n')[0];
    if (line) return line;
    return this.child.running ? 'no output' : `it exited (status ${String(this.child.exitCode)})`;
  }

  private event(entry: SocketEntry, at: number): void {
    this.lastEventAt = at;
    if (entry.local.port === this.markerPort) {
      if (entry.remote.port !== 0) this.waiting.get(entry.remote.port)?.(true);
      return;
    }
    // A listener's end (no peer) is nobody's connection.
    if (entry.remote.port !== 0) this.destroyed.push({ entry, at });
  }

  /** A marker connection, reset at once; true when its socket's event came within `timeoutMs`. */
  private async mark(timeoutMs: number): Promise<boolean> {
    if (!this.child.running) return false;
    const socket = net.connect({ host: '127.0.0.1', port: this.markerPort });
    socket.on('error', () => undefined);
    try {
      await once(socket, 'connect');
    } catch {
      return false;
    }
    const localPort = socket.localPort!;
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<boolean>((resolve) => {
      this.waiting.set(localPort, resolve);
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    socket.resetAndDestroy();
    const result = await seen;
    clearTimeout(timer);
    this.waiting.delete(localPort);
    return result;
  }
}
