/**
 * The wire observer: tcpdump captures on an interface with a BPF filter and writes pcap to its
 * stdout (tcpdump.ts starts it so that it keeps every packet of a burst and ends with us; a
 * CaptureSession, capture-session.ts, runs it and frames its output); we parse the frames as they
 * come, with the same decoder and tracker as `analyze`. The capture is the observer's own (started
 * by start(), ended by stop()), or one shared with other experiments' observers (the `session`
 * option: this observer is then its view from start() to stop(), of its server's ports). When
 * tcpdump is missing or not permitted, the report says so, with the fix, and the other observers
 * carry on. When the kernel dropped packets anyway, the report says its counts are lower bounds
 * (`incomplete`).
 */
import { CaptureAnalysis } from '../analyze/capture-analysis.js';
import { unavailableReport } from '../analyze/run-report.js';
import type { ObserverReport, Warning } from '../model/report.js';
import { plural } from '../util/text.js';
import type { TlsKeySource } from '../decode/tls-keylog.js';
import { CaptureSession } from './capture-session.js';
import type { Observer } from './observer.js';
import { ANY_INTERFACE, LOOPBACK_INTERFACE } from './tcpdump.js';

export interface CaptureOptions {
  /** Interface to capture on (default 'lo'; 'any' captures everywhere, as Linux cooked SLL2). */
  interface?: string;
  /** BPF filter, e.g. 'tcp port 8080'. */
  filter: string;
  /**
   * Ports known to be the server's: decides sides for connections seen without a SYN; with a
   * shared `session`, the packets this observer keeps (those of one of these ports).
   */
  serverPorts?: number[];
  tcpdump?: string;
  /** How long to wait for tcpdump to say it is listening (default 10 s). */
  startTimeoutMs?: number;
  /** TLS secrets (a key log, possibly growing): TLS connections are decrypted. */
  keys?: TlsKeySource;
  /** List each connection's request/response exchanges (ConnectionRecord.exchanges). */
  exchanges?: boolean;
  /**
   * A capture already running, shared with other observers (observe/shared.ts): this observer is
   * one view of it, from start() to stop(), and leaves it running. `interface`, `filter`,
   * `tcpdump` and `startTimeoutMs` are then the session's. Default: a capture of its own.
   */
  session?: CaptureSession;
}

/** Where a server is, as the capture and the socket table should see it. */
export interface ServerFocus {
  /** The server address to keep ('localhost' read as 127.0.0.1), or undefined for any. */
  serverAddress: string | undefined;
  /** lo for a loopback server, any otherwise (or when the address is not known). */
  interface: string;
  /** The BPF filter for that server's traffic. */
  filter: string;
}

/**
 * One rule for the lab engine and watch: focus on the server's address and port, not the port
 * alone. Several ports: servers on one address (a capture shared by the demo's experiments).
 */
export function serverFocus(host: string | undefined, port: number | readonly number[]): ServerFocus {
  const serverAddress = host === 'localhost' ? '127.0.0.1' : host;
  const loopback = serverAddress !== undefined && /^(127\.|::1$)/.test(serverAddress);
  const ports = typeof port === 'number' ? [port] : port;
  const tcp = ports.length === 1 ? `tcp port ${ports[0]}` : `tcp and (${ports.map((p) => `port ${p}`).join(' or ')})`;
  return {
    serverAddress,
    interface: loopback ? LOOPBACK_INTERFACE : ANY_INTERFACE,
    filter: serverAddress !== undefined ? `${tcp} and host ${serverAddress}` : tcp,
  };
}

export class CaptureObserver implements Observer {
  readonly name = 'wire' as const;
  private readonly analysis: CaptureAnalysis;
  /** Where the frames come from: a capture of its own, or one shared with other observers. */
  private readonly session: CaptureSession;
  private readonly shared: boolean;
  private detach: (() => void) | undefined;
  /** The shared capture's count of dropped packets as the previous view read it at its stop (0: none before). */
  private droppedBefore = 0;

  constructor(private readonly options: CaptureOptions) {
    this.shared = options.session !== undefined;
    this.session =
      options.session ??
      new CaptureSession({
        filter: options.filter,
        ...(options.interface !== undefined ? { interface: options.interface } : {}),
        ...(options.tcpdump !== undefined ? { tcpdump: options.tcpdump } : {}),
        ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
      });
    // A shared capture holds other servers' packets too: this view keeps its ports'.
    const ports = this.shared ? new Set(options.serverPorts ?? []) : null;
    this.analysis = new CaptureAnalysis({
      ...(options.serverPorts ? { serverPorts: options.serverPorts } : {}),
      ...(options.keys ? { keys: options.keys } : {}),
      ...(options.exchanges === true ? { exchanges: true } : {}),
      accept: (p) =>
        this.session.seen(p, this.analysis.sink) && (ports === null || ports.has(p.srcPort) || ports.has(p.dstPort)),
    });
  }

  /** Its own capture: starts tcpdump. A shared one: this view begins (the capture runs already). */
  async start(): Promise<void> {
    this.detach = this.session.attach(this.analysis.sink);
    if (this.shared) this.droppedBefore = this.session.droppedBefore;
    else await this.session.start();
  }

  /** See CaptureSession.sync. */
  sync(timeoutMs = 3000): Promise<boolean> {
    return this.session.sync(timeoutMs);
  }

  /**
   * Asking is what makes the capture catch up: while connections seem open, a flush (a marker,
   * see CaptureSession.sync) every 50 ms pushes out the packets tcpdump holds in its buffer, the
   * last FINs among them.
   */
  settled(expectedConnections: number): boolean {
    if (this.session.unavailable) return true;
    const t = this.analysis.tracker;
    const settled = t.connectionCount >= expectedConnections && t.openConnections === 0;
    if (!settled) this.session.nudge();
    return settled;
  }

  /** Connections seen so far, for live progress. */
  get connectionCount(): number {
    return this.analysis.tracker.connectionCount;
  }

  /** Its own capture: ends tcpdump (if it runs or is starting). A shared one: this view ends. No report. */
  async close(): Promise<void> {
    this.detach?.();
    if (!this.shared) await this.session.close();
  }

  async stop(): Promise<ObserverReport> {
    const session = this.session;
    const complete = await session.sync();
    await session.flushed();
    if (session.unavailable) {
      await this.close();
      return unavailableReport('wire', {
        reason: session.unavailable.message,
        fix: session.unavailable.fix,
        seesRequests: true,
      });
    }
    // Its own capture ends (what tcpdump still held comes out); a view takes what was read until now.
    let dropped: number | null;
    if (this.shared) {
      dropped = await session.dropped();
      session.drain();
    } else {
      await session.stop();
      dropped = await session.dropped();
    }
    this.detach?.();
    if (dropped !== null) dropped -= this.droppedBefore;
    const warnings: Warning[] = [];
    if (!complete)
      warnings.push({
        code: 'KAL_WARN_CAPTURE_LAG',
        message: 'the capture did not catch up with the traffic before stopping: the last packets may be missing',
      });
    if (session.streamError)
      warnings.push({
        code: 'KAL_WARN_CAPTURE_STREAM',
        message: `capture stream could not be parsed: ${session.streamError.message}`,
      });
    else this.analysis.end();
    if (dropped === null || dropped > 0) {
      warnings.push({
        code: 'KAL_WARN_CAPTURE_DROPS',
        message:
          dropped === null
            ? "tcpdump did not say how many packets the kernel dropped: the wire's counts may be lower bounds"
            : `tcpdump says ${dropped} packets were dropped by the kernel: the wire's counts are lower bounds`,
      });
    }
    const { report } = this.analysis.result();
    report.warnings.unshift(...warnings);
    // Evidence known to be missing makes every count a lower bound: the report says so (see Incomplete).
    if (dropped !== 0 || !complete) {
      report.incomplete = {
        packetsDropped: dropped ?? 0,
        reason:
          dropped === null
            ? 'tcpdump did not say how many packets the kernel dropped'
            : dropped > 0
              ? `${plural(dropped, 'packet')} dropped by the kernel before tcpdump read them`
              : 'the capture had not caught up with the traffic when it stopped',
      };
    }
    return report;
  }
}
