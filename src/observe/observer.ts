import type { ObserverName, ObserverReport } from '../model/report.js';

/**
 * What every observer does: start before the traffic, say when it has seen the traffic settle
 * (all connections closed), and turn what it saw into an ObserverReport when stopped. An observer
 * that cannot run still returns a report, with `available: false`, a reason and a fix.
 */
export interface Observer {
  readonly name: ObserverName;
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
