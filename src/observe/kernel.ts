/**
 * The kernel observer: snapshots of the kernel's socket table before the traffic, every few
 * milliseconds during it, and after it, reduced to connections by analyze/kernel.ts. The table is
 * read with ss (netlink sock_diag, filtered by port in the kernel: exact, and fast on a busy host),
 * or from /proc/net/tcp{,6} when ss cannot run (observe/socket-table.ts); the report says which
 * (`socketTable`).
 *
 * Beside the snapshots, when the table is read with ss, it follows the kernel's socket-destroy
 * events (`ss -E`, socket-events.ts): every full socket of the port as it ends, with its cookie.
 * What each sees is said at the top of analyze/kernel.ts: the snapshots, every connection that
 * left a socket in one, a TIME_WAIT included, told apart from an earlier one of the same 4-tuple by
 * its socket cookie (ss) or its states and timer (/proc); the events, the connections that opened
 * and ended between two snapshots without a TIME_WAIT (a reset). Without the events (no ss or
 * stdbuf, the table read from /proc) those are missed, and the report says so
 * (KAL_WARN_SOCKET_EVENTS_UNAVAILABLE). The reads never overlap: the reduction takes the
 * snapshots as the order in which the kernel showed each socket's states.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kernelConnections } from '../analyze/kernel.js';
import type { KernelFocus, TableSnapshot } from '../analyze/kernel.js';
import { unavailableReport } from '../analyze/run-report.js';
import { computeTotals } from '../analyze/totals.js';
import { netstatCounter } from '../decode/netstat.js';
import type { SocketEntry } from '../decode/socket-entry.js';
import type { ObserverReport, Warning, WarningCode } from '../model/report.js';
import type { Observer } from './observer.js';
import { SocketEvents } from './socket-events.js';
import type { EventsCursor, SharedSocketEvents } from './socket-events.js';
import type { DestroyedSocket } from '../analyze/kernel.js';
import { readSocketTable } from './socket-table.js';
import type { SocketTable, SocketTableSource } from './socket-table.js';
import { sleep } from '../util/time.js';

export interface KernelObserverOptions extends KernelFocus {
  /** Sampling period during the traffic (default 20 ms). */
  everyMs?: number;
  /**
   * How to read the table: 'ss', 'proc' (/proc/net/tcp{,6}), or 'auto' (the default): ss, and /proc
   * when ss cannot run, with a warning. The first read decides; the others of the run read the same way.
   */
  source?: 'auto' | SocketTableSource;
  /** The ss program (default 'ss' on the PATH). */
  ss?: string;
  /** Where /proc is (tests point it elsewhere); implies source 'proc'. */
  procRoot?: string;
  /**
   * Follow the kernel's socket-destroy events (`ss -E`) beside the snapshots (default true; not
   * with /proc, whose snapshots have no cookie to match them with). Off, or when they cannot be
   * followed, a connection reset between two snapshots may be missed (with a warning when on).
   */
  events?: boolean;
  /**
   * A socket-destroy stream already running for several observers' ports (observe/shared.ts), or
   * why it could not start: used instead of an ss -E of its own (when `events` is on), and left
   * running. This observer reads what was destroyed from its baseline to its stop, on its port.
   */
  sharedEvents?: SharedSocketEvents;
}

/** Warning codes the kernel observer adds to those of the table's readers. */
export const KernelWarning = {
  /** The kernel made no TIME_WAIT for some connections during the run (tcp_max_tw_buckets reached). */
  TIME_WAIT_OVERFLOW: 'KAL_WARN_TIME_WAIT_OVERFLOW',
  /** The socket-destroy events could not be followed: connections reset between two snapshots may be missed. */
  EVENTS_UNAVAILABLE: 'KAL_WARN_SOCKET_EVENTS_UNAVAILABLE',
  /** ss -E stopped or fell behind during the run: the same, from then on. */
  EVENTS_INCOMPLETE: 'KAL_WARN_SOCKET_EVENTS_INCOMPLETE',
} as const satisfies Record<string, WarningCode>;

/** What a kernel observer without the socket-destroy events cannot see. */
const WITHOUT_EVENTS =
  'a connection that opens and ends with a reset between two snapshots of the socket table may be missed';

/** How finely each way of reading gives a TIME_WAIT's timer: ss in whole seconds, /proc in 10 ms ticks. */
const TIMER_RESOLUTION_MS: Record<SocketTableSource, number> = { ss: 1000, proc: 10 };

/** Closing states that end by themselves within a round trip: wait them out before the last snapshot. */
const TRANSIENT = new Set(['FIN_WAIT1', 'LAST_ACK', 'CLOSING', 'SYN_SENT', 'SYN_RECV', 'NEW_SYN_RECV']);

export class KernelObserver implements Observer {
  readonly name = 'kernel' as const;
  private before: TableSnapshot = { at: 0, entries: [] };
  private readonly snapshots: TableSnapshot[] = [];
  /** The read in flight (or the last one, settled): each read begins when the one before has ended. */
  private reading: Promise<unknown> = Promise.resolve();
  private readonly warnings: Warning[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private unavailable: string | undefined;
  private lastReadMs = 0;
  /** TCPTimeWaitOverflow when the observer started (null: not readable). */
  private overflowsBefore: number | null = null;
  private stopped = false;
  /** Where the first read was made; later reads go there directly (no ss spawned again if it failed). */
  private source: SocketTableSource | undefined;
  /** The socket-destroy events, followed from before the baseline to the end. */
  private events: SocketEvents | undefined;
  /** Where this run's destroyed sockets and ss's warnings begin among the events' (SocketEvents.cursor). */
  private eventsFrom: EventsCursor = { destroyed: 0, warnings: 0 };
  /** start() while it runs (or once it has ended): close() waits for it. */
  private starting: Promise<void> | undefined;
  /** Aborted by close(): ss -E starting is ended. */
  private readonly closing = new AbortController();

  constructor(private readonly options: KernelObserverOptions) {}

  /**
   * Starts following the events, then reads the baseline. Safe to close() meanwhile (observers start
   * side by side: observer.ts startAll): what it started is ended, and close() waits for that.
   */
  start(): Promise<void> {
    this.starting = this.begin();
    return this.starting;
  }

  private async begin(): Promise<void> {
    this.overflowsBefore = await this.timeWaitOverflows();
    // Following before the baseline is read: a socket gone after it is either in it or this run's.
    const { events = true, procRoot, source, sharedEvents } = this.options;
    let noEvents: string | null = null;
    if (events && procRoot === undefined && source !== 'proc' && sharedEvents !== undefined) {
      this.events = sharedEvents.events ?? undefined;
      noEvents = sharedEvents.problem;
    } else if (events && procRoot === undefined && source !== 'proc') {
      try {
        this.events = await SocketEvents.start({
          ports: [this.options.serverPort],
          ...(this.options.ss !== undefined ? { ss: this.options.ss } : {}),
          signal: this.closing.signal,
        });
      } catch (error) {
        if (this.stopped) return;
        noEvents = (error as Error).message;
      }
    } else if (events && procRoot === undefined) noEvents = 'the socket table is read from /proc (no socket cookie)';
    if (this.stopped) return void (await this.closeEvents());
    try {
      this.before = await this.snapshot();
    } catch (error) {
      this.unavailable = `cannot read the socket table: ${(error as Error).message}`;
      await this.closeEvents();
      return;
    }
    if (this.events !== undefined && this.source !== 'ss') {
      await this.closeEvents();
      noEvents = 'the socket table was read from /proc (no socket cookie)';
    }
    // What was destroyed until the baseline was read is not this run's.
    if (this.events !== undefined) this.eventsFrom = await this.events.cursor();
    if (this.stopped) return void (await this.closeEvents());
    if (noEvents !== null) {
      this.warnings.push({
        code: KernelWarning.EVENTS_UNAVAILABLE,
        message: `cannot follow the kernel's socket-destroy events (ss -E): ${noEvents}: ${WITHOUT_EVENTS}`,
      });
    }
    this.schedule();
  }

  /** Ends its own ss -E; a shared one is only let go (its owner ends it). */
  private async closeEvents(): Promise<void> {
    const events = this.events;
    this.events = undefined;
    if (this.options.sharedEvents === undefined) await events?.close();
  }

  /** Ends ss -E: the sockets destroyed during the run, and a warning when they may not be all. */
  private async destroyed(): Promise<DestroyedSocket[]> {
    if (this.events === undefined) return [];
    const shared = this.options.sharedEvents !== undefined;
    const { destroyed, problem, warnings } = shared
      ? await this.events.since(this.eventsFrom)
      : await this.events.stop(this.eventsFrom);
    this.events = undefined;
    for (const w of warnings) this.warnings.push(w);
    if (problem !== null) {
      this.warnings.push({
        code: KernelWarning.EVENTS_INCOMPLETE,
        message: `the kernel's socket-destroy events may be incomplete: ${problem}: ${WITHOUT_EVENTS}`,
      });
    }
    // A shared stream follows other ports too.
    return destroyed.filter((d) => this.concerns(d.entry));
  }

  /**
   * The next periodic sample. On a host with tens of thousands of sockets the kernel alone takes
   * tens of milliseconds to print the table: sampling waits at least twice as long as the last
   * read took, so it never takes more than a third of a core.
   */
  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        this.sampling = this.sample().then(
          () => {},
          () => {},
        );
        void this.sampling.finally(() => {
          this.sampling = undefined;
          this.schedule();
        });
      },
      Math.max(this.options.everyMs ?? 20, 2 * this.lastReadMs),
    );
    this.timer.unref();
  }

  /**
   * A snapshot just before the client closes its pool: a connection that lived between two
   * periodic samples and is then reset leaves no TIME_WAIT behind, and would be missed. A periodic
   * sample in flight is let finish first (see sample()).
   */
  async checkpoint(): Promise<void> {
    if (this.unavailable !== undefined) return;
    await this.sample();
  }

  settled(): boolean {
    return true; // the last snapshot, taken at stop(), waits for closing handshakes itself
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.closing.abort();
    clearTimeout(this.timer);
    // A start in progress ends what it started once it sees `stopped` (or its ss -E is aborted).
    await this.starting?.catch(() => undefined);
    await Promise.all([this.sampling, this.closeEvents()]);
  }

  async stop(): Promise<ObserverReport> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.unavailable !== undefined) {
      await this.closeEvents();
      return unavailableReport('kernel', {
        reason: this.unavailable,
        fix: 'run on Linux, with ss (iproute2) installed or /proc mounted',
        seesRequests: false,
      });
    }
    // Final snapshot once closing handshakes (FIN_WAIT1, LAST_ACK...) have run their course.
    for (let i = 0; i < 50; i++) {
      const snap = await this.sample();
      if (!snap.entries.some((e) => TRANSIENT.has(e.state) && this.concerns(e))) break;
      await sleep(10);
    }
    await this.sampling;
    await this.checkTimeWaitOverflows();
    const destroyed = await this.destroyed();
    const connections = kernelConnections(this.before, this.snapshots, this.options, destroyed);
    return {
      observer: 'kernel',
      available: true,
      seesRequests: false,
      ...(this.source !== undefined ? { socketTable: this.source } : {}),
      totals: computeTotals(connections, null),
      connections,
      warnings: this.warnings,
    };
  }

  /**
   * The kernel's count of TIME_WAIT sockets it did not make because net.ipv4.tcp_max_tw_buckets
   * were there already (TcpExt TCPTimeWaitOverflow, since boot, the whole network namespace), or
   * null when it cannot be read. A connection that opened and closed between two snapshots is seen
   * only through its TIME_WAIT: without one, it leaves no trace in the table.
   */
  private async timeWaitOverflows(): Promise<number | null> {
    try {
      const text = await readFile(join(this.options.procRoot ?? '/proc', 'net', 'netstat'), 'utf8');
      return netstatCounter(text, 'TcpExt', 'TCPTimeWaitOverflow');
    } catch {
      return null;
    }
  }

  /** Says so when the kernel made no TIME_WAIT for some connections during the run (host-wide). */
  private async checkTimeWaitOverflows(): Promise<void> {
    const after = await this.timeWaitOverflows();
    if (this.overflowsBefore === null || after === null || after <= this.overflowsBefore) return;
    this.warnings.push({
      code: KernelWarning.TIME_WAIT_OVERFLOW,
      message:
        `the kernel made no TIME_WAIT for ${after - this.overflowsBefore} closing connections on this host during ` +
        `the run (net.ipv4.tcp_max_tw_buckets reached): connections that opened and closed between two ` +
        `snapshots of the socket table may be missing from the kernel's count`,
    });
  }

  private concerns(e: SocketEntry): boolean {
    return e.local.port === this.options.serverPort || e.remote.port === this.options.serverPort;
  }

  private async read(): Promise<SocketTable> {
    const started = performance.now();
    const { procRoot, ss } = this.options;
    const table = await readSocketTable({
      ports: [this.options.serverPort],
      source: this.source ?? this.options.source ?? (procRoot !== undefined ? 'proc' : 'auto'),
      ...(procRoot !== undefined ? { root: procRoot } : {}),
      ...(ss !== undefined ? { ss } : {}),
    });
    this.source ??= table.source;
    this.lastReadMs = performance.now() - started;
    return table;
  }

  /** The first 20 warnings of the reads, each said once (every read of a broken table says the same). */
  private keepWarnings(table: SocketTable): void {
    for (const w of table.warnings) {
      if (this.warnings.length >= 20) return;
      if (!this.warnings.some((k) => k.code === w.code && k.message === w.message)) this.warnings.push(w);
    }
  }

  /** One snapshot among the others; a read that fails leaves none. */
  private async sample(): Promise<TableSnapshot> {
    const snap = await this.snapshot();
    this.snapshots.push(snap);
    return snap;
  }

  /**
   * One read of the table, after the read in flight has ended. Reads never overlap, so that the
   * snapshots' order is the order in which the kernel showed the sockets: analyze/kernel.ts tells a
   * new connection on a reused 4-tuple from the old one by states that only go forward, and two
   * overlapping reads would show them out of order. The checkpoint and stop() wait at most one read
   * for it (a few milliseconds with ss).
   */
  private snapshot(): Promise<TableSnapshot> {
    const next = this.reading.then(async (): Promise<TableSnapshot> => {
      const at = Date.now();
      const table = await this.read();
      this.keepWarnings(table);
      // Only the server port's sockets are read (ss and /proc alike filter exactly); this keeps that true.
      const entries = table.entries.filter((e) => this.concerns(e));
      return { at, doneAt: Date.now(), timerResolutionMs: TIMER_RESOLUTION_MS[table.source], entries };
    });
    this.reading = next.catch(() => {});
    return next;
  }
}
