/**
 * The kernel observer: snapshots of /proc/net/tcp{,6} before the traffic, every few milliseconds
 * during it, and after it, reduced to connections by analyze/kernel.ts.
 */
import { kernelConnections } from '../analyze/kernel.js';
import type { KernelFocus, TableSnapshot } from '../analyze/kernel.js';
import { unavailableReport } from '../analyze/run-report.js';
import { computeTotals } from '../analyze/totals.js';
import type { SocketEntry } from '../decode/procnet.js';
import type { ObserverReport, Warning } from '../model/report.js';
import type { Observer } from './observer.js';
import { readSocketTable } from './socket-table.js';
import { sleep } from '../util/time.js';

export interface KernelObserverOptions extends KernelFocus {
  /** Sampling period during the traffic (default 20 ms). */
  everyMs?: number;
  /** Where /proc is (tests point it elsewhere). */
  procRoot?: string;
}

/** Closing states that end by themselves within a round trip: wait them out before the last snapshot. */
const TRANSIENT = new Set(['FIN_WAIT1', 'LAST_ACK', 'CLOSING', 'SYN_SENT', 'SYN_RECV', 'NEW_SYN_RECV']);

export class KernelObserver implements Observer {
  readonly name = 'kernel' as const;
  private before: readonly SocketEntry[] = [];
  private readonly snapshots: TableSnapshot[] = [];
  private readonly warnings: Warning[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private unavailable: string | undefined;
  private lastReadMs = 0;
  private stopped = false;

  constructor(private readonly options: KernelObserverOptions) {}

  async start(): Promise<void> {
    try {
      this.before = (await this.read()).entries;
    } catch (error) {
      this.unavailable = `cannot read the socket table: ${(error as Error).message}`;
      return;
    }
    this.schedule();
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
   * periodic samples and is then reset leaves no TIME_WAIT behind, and would be missed.
   */
  async checkpoint(): Promise<void> {
    if (this.unavailable !== undefined) return;
    await this.sampling;
    await this.sample();
  }

  settled(): boolean {
    return true; // the last snapshot, taken at stop(), waits for closing handshakes itself
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sampling;
  }

  async stop(): Promise<ObserverReport> {
    await this.close();
    if (this.unavailable !== undefined) {
      return unavailableReport('kernel', {
        reason: this.unavailable,
        fix: 'run on Linux with /proc mounted',
        seesRequests: false,
      });
    }
    // Final snapshot once closing handshakes (FIN_WAIT1, LAST_ACK...) have run their course.
    for (let i = 0; i < 50; i++) {
      const snap = await this.sample();
      if (!snap.entries.some((e) => TRANSIENT.has(e.state) && this.concerns(e))) break;
      await sleep(10);
    }
    const connections = kernelConnections(this.before, this.snapshots, this.options);
    return {
      observer: 'kernel',
      available: true,
      seesRequests: false,
      totals: computeTotals(connections, null),
      connections,
      warnings: this.warnings,
    };
  }

  private concerns(e: SocketEntry): boolean {
    return e.local.port === this.options.serverPort || e.remote.port === this.options.serverPort;
  }

  private async read() {
    const started = performance.now();
    const table = await readSocketTable({
      ports: [this.options.serverPort],
      ...(this.options.procRoot !== undefined ? { root: this.options.procRoot } : {}),
    });
    this.lastReadMs = performance.now() - started;
    return table;
  }

  private async sample(): Promise<TableSnapshot> {
    const table = await this.read();
    for (const w of table.warnings) if (this.warnings.length < 20) this.warnings.push(w);
    // Keep only the sockets of interest (the read pre-filters by port text; this is exact).
    const snap = { at: Date.now(), entries: table.entries.filter((e) => this.concerns(e)) };
    this.snapshots.push(snap);
    return snap;
  }
}
