import type { ObserverName, ObserverReport } from '../model/report.js';
import { abortable } from '../util/abort.js';

/**
 * What every observer does: start before the traffic, say when it has seen the traffic settle
 * (all connections closed), and turn what it saw into an ObserverReport when stopped. An observer
 * that cannot run still returns a report, with `available: false`, a reason and a fix.
 *
 * Its report covers what happened between its start() and its stop(), and nothing it started
 * outlives its stop() or close(). A program it reads (tcpdump, ss -E) is its own, or shared with
 * the observers of other experiments run one after another (observe/shared.ts): a shared one is
 * started before the first observer's start() and ended after the last one's stop() by whoever
 * started it, and the observer is then a view of it, from its start() to its stop(), of its own
 * port (docs/architecture.md, the observers' lifecycle).
 */
export interface Observer {
  readonly name: ObserverName;
  /** Starts observing; close() may be called meanwhile, and ends what the start had begun. */
  start(): Promise<void>;
  /** True once this observer has seen at least `expectedConnections` connections, all closed. */
  settled(expectedConnections: number): boolean;
  /** The traffic is done and the client is about to close its pool: a moment worth recording. */
  checkpoint?(): Promise<void>;
  /** Catch up with everything that happened until now (a capture reads its backlog). */
  sync?(): Promise<boolean>;
  stop(): Promise<ObserverReport>;
  /**
   * Releases at once whatever the observer holds (a child process, a timer, a listener), without a
   * report: the run was aborted. Safe to call at any time, more than once, and after stop().
   */
  close(): Promise<void>;
}

/** Closes observers (those never started included), ignoring their errors: the way out of an aborted run. */
export async function closeAll(observers: readonly Observer[]): Promise<void> {
  await Promise.all(observers.map((o) => o.close().catch(() => undefined)));
}

/**
 * Starts observers side by side and resolves once every one has started: each start is mostly a
 * wait (tcpdump saying it listens, ss -E showing a first event, each ~100 ms) and one experiment of
 * the demo waited for them one after another (issue 8: the busy-host demo). When one fails, or
 * `signal` aborts, every observer is closed (one still starting ends what it started) and this
 * rejects, with the first error or the signal's reason, only once all their starts have ended:
 * nothing an observer started is left running.
 */
export async function startAll(observers: readonly Observer[], signal?: AbortSignal): Promise<void> {
  const starts = observers.map((o) => o.start());
  try {
    await abortable(Promise.all(starts), signal);
  } catch (error) {
    await closeAll(observers);
    await Promise.allSettled(starts);
    throw error;
  }
}

/**
 * Stops observers side by side (each waits on its own: the last snapshots, tcpdump's end) and
 * returns their reports in their order, once every stop has ended; rejects with the first error
 * then (the caller closes them all).
 */
export async function stopAll(observers: readonly Observer[]): Promise<ObserverReport[]> {
  const stops = await Promise.allSettled(observers.map((o) => o.stop()));
  const failed = stops.find((s) => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return stops.map((s) => (s as PromiseFulfilledResult<ObserverReport>).value);
}
