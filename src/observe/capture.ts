/**
 * The wire observer: tcpdump captures on an interface with a BPF filter and writes pcap to its
 * stdout (tcpdump.ts starts it so that it keeps every packet of a burst and ends with us); we
 * parse that stream as it comes, with the same decoder and tracker as `analyze`. When tcpdump is
 * missing or not permitted, the report says so, with the fix, and the other observers carry on.
 * When the kernel dropped packets anyway, the report says its counts are lower bounds
 * (`incomplete`).
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CaptureAnalysis } from '../analyze/capture-analysis.js';
import { unavailableReport } from '../analyze/run-report.js';
import { CaptureUnavailableError } from '../errors.js';
import type { ObserverReport, Warning } from '../model/report.js';
import { TcpFlag } from '../model/packet.js';
import { plural } from '../util/text.js';
import { nowMicros } from '../model/time.js';
import { sleep } from '../util/time.js';
import { Backlog } from './backlog.js';
import type { TlsKeySource } from '../decode/tls-keylog.js';
import type { Observer } from './observer.js';
import { ANY_INTERFACE, LOOPBACK_INTERFACE, Tcpdump, checkInterface } from './tcpdump.js';

export interface CaptureOptions {
  /** Interface to capture on (default 'lo'; 'any' captures everywhere, as Linux cooked SLL2). */
  interface?: string;
  /** BPF filter, e.g. 'tcp port 8080'. */
  filter: string;
  /** Ports known to be the server's: decides sides for connections seen without a SYN. */
  serverPorts?: number[];
  tcpdump?: string;
  /** How long to wait for tcpdump to say it is listening (default 10 s). */
  startTimeoutMs?: number;
  /** TLS secrets (a key log, possibly growing): TLS connections are decrypted. */
  keys?: TlsKeySource;
  /** List each connection's request/response exchanges (ConnectionRecord.exchanges). */
  exchanges?: boolean;
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

/** One rule for the lab engine and watch: focus on the server's address and port, not the port alone. */
export function serverFocus(host: string | undefined, port: number): ServerFocus {
  const serverAddress = host === 'localhost' ? '127.0.0.1' : host;
  const loopback = serverAddress !== undefined && /^(127\.|::1$)/.test(serverAddress);
  return {
    serverAddress,
    interface: loopback ? LOOPBACK_INTERFACE : ANY_INTERFACE,
    filter: serverAddress !== undefined ? `tcp port ${port} and host ${serverAddress}` : `tcp port ${port}`,
  };
}

/** Bytes a marker connection sends after its SYN: they push the SYN out of tcpdump's stdio buffer (see sync). */
const FLUSH_BYTES = 64 * 1024;
/** While someone waits for the capture to settle, at most one flush per this many ms. */
const SETTLE_FLUSH_EVERY_MS = 50;
/** tcpdump's output read but not parsed yet, at most (see backlog.ts): ~600,000 small packets. */
const BACKLOG_BYTES = 64 * 1024 * 1024;
/**
 * A marker not seen once the capture has reached packets this much later than it was sent was
 * lost (dropped by the kernel): the capture has caught up all the same. In microseconds.
 */
const MARKER_LOST_AFTER_US = 1_000_000;

export class CaptureObserver implements Observer {
  readonly name = 'wire' as const;
  private tcpdump: Tcpdump | undefined;
  private analysis: CaptureAnalysis;
  private unavailable: CaptureUnavailableError | undefined;
  /** close() was called: nothing may start any more (tcpdump starting is ended). */
  private closed = false;
  private readonly closing = new AbortController();
  private starting: Promise<Tcpdump> | undefined;
  private streamError: Error | undefined;
  /**
   * End markers. Stopping tcpdump loses what still sits in its kernel buffer, and "every connection
   * seen is closed" can hold while later connections are still in that buffer. So, before we trust
   * the capture, we open a connection to a marker port of our own (in the BPF filter, never
   * analyzed) and wait until its SYN comes out of the capture: everything before it is in.
   */
  private marker: net.Server | undefined;
  private markerPort = 0;
  private markersSent = 0;
  private markersSeen = 0;
  /** A flush asked for by settled(), while it runs; and when the last one began. */
  private flushing: Promise<boolean> | undefined;
  private lastFlush = 0;
  /** Capture time of the latest packet parsed (µs since the epoch). */
  private lastPacketTs = 0;
  /** tcpdump's output, read at once, parsed in slices (see backlog.ts). */
  private readonly backlog = new Backlog({
    consume: (chunk) => this.push(chunk),
    highWaterBytes: BACKLOG_BYTES,
    pause: () => this.tcpdump?.pause(),
    resume: () => this.tcpdump?.resume(),
  });

  constructor(private readonly options: CaptureOptions) {
    this.analysis = new CaptureAnalysis({
      ...(options.serverPorts ? { serverPorts: options.serverPorts } : {}),
      ...(options.keys ? { keys: options.keys } : {}),
      ...(options.exchanges === true ? { exchanges: true } : {}),
      accept: (p) => {
        this.lastPacketTs = p.ts;
        if (p.dstPort !== this.markerPort || this.markerPort === 0) return true;
        if ((p.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN) this.markersSeen++;
        return false;
      },
    });
  }

  async start(): Promise<void> {
    const iface = this.options.interface ?? LOOPBACK_INTERFACE;
    // A name that is no interface is the caller's mistake, not a capture that cannot run.
    checkInterface(iface);
    try {
      await this.startMarker(iface);
      // Closed while the marker was starting (an aborted run): tcpdump must not start after that.
      if (this.closed) return void (await this.closeMarker());
      const filter =
        this.markerPort > 0
          ? `(${this.options.filter}) or (dst host 127.0.0.1 and tcp dst port ${this.markerPort})`
          : this.options.filter;
      this.starting = Tcpdump.start({
        interface: iface,
        filter,
        ...(this.options.tcpdump !== undefined ? { tcpdump: this.options.tcpdump } : {}),
        ...(this.options.startTimeoutMs !== undefined ? { startTimeoutMs: this.options.startTimeoutMs } : {}),
        onData: (chunk) => this.backlog.push(chunk),
        signal: this.closing.signal,
      });
      this.tcpdump = await this.starting;
    } catch (error) {
      await this.closeMarker();
      if (this.closed) return;
      if (!(error instanceof CaptureUnavailableError)) throw error;
      this.unavailable = error;
    }
  }

  private push(chunk: Buffer): void {
    if (this.streamError) return;
    try {
      this.analysis.push(chunk);
    } catch (error) {
      this.streamError = error as Error;
    }
  }

  /** Markers go over loopback: only captures that see loopback (lo, any) can use them. */
  private async startMarker(iface: string): Promise<void> {
    if (iface !== LOOPBACK_INTERFACE && iface !== ANY_INTERFACE) return;
    // Reads what a marker sends and closes when it has: the marker's bytes must all be sent.
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.resume();
      socket.on('end', () => socket.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.marker = server;
    this.markerPort = (server.address() as AddressInfo).port;
  }

  private closeMarker(): Promise<void> {
    const server = this.marker;
    this.marker = undefined;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  /**
   * Catch up: resolves once every packet sent before this call has come out of the capture and
   * been parsed (true), or once nothing has come nor been parsed for `timeoutMs` (false); a
   * backlog being parsed is progress, however long. Without markers (another interface), true at
   * once. tcpdump runs without -U (see tcpdump.ts): it writes its output 4 KiB at a time (glibc's
   * buffer for a pipe), so the marker's SYN could wait in that buffer; the bytes the marker sends
   * after it are what pushes it out. A marker the kernel dropped is known lost once packets a
   * second younger have been parsed: caught up all the same (the drop is reported).
   */
  async sync(timeoutMs = 3000): Promise<boolean> {
    if (this.unavailable || this.marker === undefined || !this.tcpdump?.running) return true;
    const wanted = ++this.markersSent;
    const sentAt = nowMicros();
    this.lastFlush = performance.now();
    const socket = net.connect(this.markerPort, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.end(Buffer.alloc(FLUSH_BYTES));
    const since = performance.now();
    let caughtUp = false;
    while (!(caughtUp = this.markersSeen >= wanted || this.lastPacketTs > sentAt + MARKER_LOST_AFTER_US)) {
      if (this.streamError || performance.now() - Math.max(since, this.backlog.lastProgress) > timeoutMs) break;
      await sleep(2);
    }
    socket.destroy();
    return caughtUp || this.streamError !== undefined;
  }

  /**
   * Asking is what makes the capture catch up: while connections seem open, a flush (a marker,
   * see sync) every 50 ms pushes out the packets tcpdump holds in its buffer, the last FINs
   * among them.
   */
  settled(expectedConnections: number): boolean {
    if (this.unavailable) return true;
    const t = this.analysis.tracker;
    const settled = t.connectionCount >= expectedConnections && t.openConnections === 0;
    if (!settled && this.flushing === undefined && performance.now() - this.lastFlush >= SETTLE_FLUSH_EVERY_MS) {
      this.flushing = this.sync().finally(() => (this.flushing = undefined));
    }
    return settled;
  }

  /** Connections seen so far, for live progress. */
  get connectionCount(): number {
    return this.analysis.tracker.connectionCount;
  }

  /** Ends tcpdump (if it runs or is starting) and closes the marker port; no report. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    await Promise.all([this.starting?.catch(() => undefined), this.tcpdump?.stop(), this.closeMarker()]);
  }

  async stop(): Promise<ObserverReport> {
    const complete = await this.sync();
    await this.flushing;
    await this.closeMarker();
    if (this.unavailable) {
      return unavailableReport('wire', {
        reason: this.unavailable.message,
        fix: this.unavailable.fix,
        seesRequests: true,
      });
    }
    await this.tcpdump?.stop();
    this.backlog.drain();
    const warnings: Warning[] = [];
    if (!complete)
      warnings.push({
        code: 'KAL_WARN_CAPTURE_LAG',
        message: 'the capture did not catch up with the traffic before stopping: the last packets may be missing',
      });
    if (this.streamError)
      warnings.push({
        code: 'KAL_WARN_CAPTURE_STREAM',
        message: `capture stream could not be parsed: ${this.streamError.message}`,
      });
    else this.analysis.end();
    const dropped = droppedPackets(this.tcpdump?.stderr ?? '');
    if (dropped > 0) {
      warnings.push({
        code: 'KAL_WARN_CAPTURE_DROPS',
        message: `tcpdump says ${dropped} packets were dropped by the kernel: the wire's counts are lower bounds`,
      });
    }
    const { report } = this.analysis.result();
    report.warnings.unshift(...warnings);
    // Evidence known to be missing makes every count a lower bound: the report says so (see Incomplete).
    if (dropped > 0 || !complete) {
      report.incomplete = {
        packetsDropped: dropped,
        reason:
          dropped > 0
            ? `${plural(dropped, 'packet')} dropped by the kernel before tcpdump read them`
            : 'the capture had not caught up with the traffic when it stopped',
      };
    }
    return report;
  }
}

/** tcpdump's own count, from the statistics it prints on exit ("192 packets dropped by kernel"); 0 when absent. */
export function droppedPackets(stderr: string): number {
  const match = /(\d+) packets? dropped by kernel/.exec(stderr);
  return match ? Number(match[1]) : 0;
}
