/**
 * The process observer: the lab's client runs in this process, so its own diagnostics channels
 * (observe/in-process/tracker.ts) tell which request reused which socket, as the app would see them
 * under `register`. A fourth observer beside the server's accounting, the kernel's table and the
 * wire, whose counts must agree with theirs (analyze/agreement.ts). It sees the HTTP/1.1 clients
 * (node:http, node:https, fetch), not node:http2 (Node publishes no channel there on 20).
 */
import type { Finding, ObserverReport } from '../model/report.js';
import type { ProcessSummary } from '../model/process.js';
import type { Observer } from './observer.js';
import { originPort } from './in-process/origin.js';
import { trackConnections } from './in-process/tracker.js';
import type { ConnectionTracker } from './in-process/tracker.js';

export interface ProcessObserverOptions {
  /** The server's port: only connections to it are counted (the test runner may talk to others). */
  serverPort: number;
}

/** Records kept for the report: every connection of a lab run (the tracker's default keeps the last 1000). */
const LAB_RECORDS = 100_000;

export class ProcessObserver implements Observer {
  readonly name = 'process' as const;
  private tracker: ConnectionTracker | null = null;
  private summary: (ProcessSummary & { findings: Finding[] }) | null = null;

  constructor(private readonly options: ProcessObserverOptions) {}

  async start(): Promise<void> {
    const port = this.options.serverPort;
    this.tracker = trackConnections({ recentConnections: LAB_RECORDS, origins: (o) => originPort(o) === port });
  }

  settled(expectedConnections: number): boolean {
    const t = this.tracker;
    return t !== null && t.connectionsOpened >= expectedConnections && t.openConnections === 0;
  }

  async stop(): Promise<ObserverReport> {
    const t = this.tracker;
    if (t === null) throw new Error('the process observer was not started');
    const view = t.report();
    t.dispose();
    this.summary = { ...view.process, findings: view.findings };
    return view.observer;
  }

  /** What the process counted per origin, and its own findings (after stop()). */
  processSummary(): (ProcessSummary & { findings: Finding[] }) | null {
    return this.summary;
  }

  async close(): Promise<void> {
    this.tracker?.dispose();
  }
}
