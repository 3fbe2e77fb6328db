/**
 * One running capture: tcpdump (tcpdump.ts) on an interface with a BPF filter, its output taken
 * at once into a backlog (backlog.ts) and framed by one CaptureReader, each frame handed to the
 * views attached at that moment, and the end markers that tell when the capture has caught up
 * (sync). A wire observer (capture.ts) is one view: it decodes the frames it is handed and keeps
 * the packets of its server's ports.
 *
 * Its own session (watch, run, a finding scenario): the observer starts it and stops it, and is
 * its only view from the first byte. A shared one (issue 8, the busy-host demo): the caller starts
 * one session for several experiments' servers, their ports all in its filter (observe/shared.ts),
 * and each experiment's wire observer is a view from its start() to its stop(): the frames of that
 * window, of its ports. Starting tcpdump costs ~200 ms (more on a loaded machine); the demo's eight
 * experiments paid it eight times.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CaptureReader } from '../decode/capture.js';
import type { FrameSink } from '../decode/capture.js';
import { CaptureUnavailableError } from '../errors.js';
import type { TcpPacket } from '../model/packet.js';
import { TcpFlag } from '../model/packet.js';
import { nowMicros } from '../model/time.js';
import { sleep } from '../util/time.js';
import { Backlog } from './backlog.js';
import { ANY_INTERFACE, LOOPBACK_INTERFACE, Tcpdump, checkInterface } from './tcpdump.js';

export interface CaptureSessionOptions {
  /** Interface to capture on (default 'lo'; 'any' captures everywhere, as Linux cooked SLL2). */
  interface?: string;
  /** BPF filter, e.g. 'tcp port 8080'. */
  filter: string;
  tcpdump?: string;
  /** How long to wait for tcpdump to say it is listening (default 10 s). */
  startTimeoutMs?: number;
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

export class CaptureSession {
  /** Why tcpdump cannot capture (missing, not permitted), once start() has found out. */
  unavailable: CaptureUnavailableError | undefined;
  /** The stream could not be read (not pcap, or a view's analysis failed): nothing more is parsed. */
  streamError: Error | undefined;
  private tcpdump: Tcpdump | undefined;
  /** close() was called: nothing may start any more (tcpdump starting is ended). */
  private closed = false;
  private readonly closing = new AbortController();
  private starting: Promise<Tcpdump> | undefined;
  /**
   * The views (each a sink for the capture's frames: CaptureAnalysis.sink), in the order they were
   * attached: the first one's packets drive the markers.
   */
  private readonly views: FrameSink[] = [];
  private readonly reader: CaptureReader;
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
  /** A flush asked for by nudge(), while it runs; and when the last one began. */
  private flushing: Promise<boolean> | undefined;
  private lastFlush = 0;
  /** Capture time of the latest packet decoded (µs since the epoch). */
  private lastPacketTs = 0;
  /** tcpdump's count of packets the kernel dropped, as it last said it (see dropped()). */
  private droppedSoFar = 0;
  /** tcpdump's output, read at once, parsed in slices (see backlog.ts). */
  private readonly backlog = new Backlog({
    consume: (chunk) => this.push(chunk),
    highWaterBytes: BACKLOG_BYTES,
    pause: () => this.tcpdump?.pause(),
    resume: () => this.tcpdump?.resume(),
  });

  constructor(private readonly options: CaptureSessionOptions) {
    // Frames go to every view attached now; a view decodes them itself (its own decoder's state).
    this.reader = new CaptureReader({
      frame: (f) => {
        for (const v of this.views) v.frame(f);
      },
      frameAt: (bytes, start, end, meta) => {
        for (const v of this.views) v.frameAt(bytes, start, end, meta);
      },
      warning: (w) => {
        for (const v of this.views) v.warning?.(w);
      },
      info: (i) => {
        for (const v of this.views) v.info?.(i);
      },
    });
  }

  /**
   * Starts the marker's listener and tcpdump, and resolves once tcpdump listens. A capture that
   * cannot run (tcpdump missing, not permitted) resolves too, with `unavailable` saying why. Safe
   * to close() meanwhile: what the start had begun is ended.
   */
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

  /**
   * Hands `view` every frame framed from now on (and what the capture's header said, if it has
   * been read); returns what detaches it. The first bytes of the capture (its file header) go to
   * a view attached before they came, or to the reader's info() for a later one.
   */
  attach(view: FrameSink): () => void {
    this.views.push(view);
    const info = this.reader.info;
    if (info !== null) view.info?.(info);
    return () => {
      const i = this.views.indexOf(view);
      if (i >= 0) this.views.splice(i, 1);
    };
  }

  /**
   * Each view tells each packet it decoded: the first view's packets are the capture's clock and
   * count the markers (a packet every view sees must count once). False for a marker's packet,
   * which belongs to no view.
   */
  seen(p: TcpPacket, view: FrameSink): boolean {
    const counting = view === this.views[0];
    if (counting) this.lastPacketTs = p.ts;
    if (p.dstPort !== this.markerPort || this.markerPort === 0) return true;
    if (counting && (p.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN) this.markersSeen++;
    return false;
  }

  private push(chunk: Buffer): void {
    if (this.streamError) return;
    try {
      this.reader.push(chunk);
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
   * second younger have been parsed: caught up all the same (the drop is reported). Needs a view
   * attached (its packets count the markers).
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
   * Someone waits for connections to close: a flush (a marker, see sync) at most every 50 ms pushes
   * out the packets tcpdump holds in its buffer, the last FINs among them.
   */
  nudge(): void {
    if (this.flushing !== undefined || performance.now() - this.lastFlush < SETTLE_FLUSH_EVERY_MS) return;
    this.flushing = this.sync().finally(() => (this.flushing = undefined));
  }

  /** Resolves once the flush nudge() began (if any) has ended. */
  async flushed(): Promise<void> {
    await this.flushing;
  }

  /** Hands the views, now, everything read from tcpdump and not parsed yet. */
  drain(): void {
    this.backlog.drain();
  }

  /**
   * tcpdump's count of the packets the kernel dropped since it started: asked for (SIGUSR1, see
   * Tcpdump.dropped) while it runs, its last word once it has ended; null when it said nothing.
   */
  async dropped(): Promise<number | null> {
    if (this.tcpdump === undefined) return 0;
    const n = await this.tcpdump.dropped();
    if (n !== null) this.droppedSoFar = n;
    return n;
  }

  /** The count dropped() last had (0 before): where a view's window begins. */
  get droppedBefore(): number {
    return this.droppedSoFar;
  }

  /**
   * The end of the capture: the marker's listener closed, tcpdump ended (its output all read and
   * parsed: what it held in its kernel buffer comes out as it ends), the reader ended.
   */
  async stop(): Promise<void> {
    await this.flushed();
    await this.closeMarker();
    await this.tcpdump?.stop();
    this.backlog.drain();
    if (this.streamError !== undefined || this.reader.info === null) return;
    try {
      this.reader.end();
    } catch (error) {
      this.streamError = error as Error;
    }
  }

  /** Ends tcpdump (if it runs or is starting) and closes the marker's listener; safe at any time, more than once. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    await Promise.all([this.starting?.catch(() => undefined), this.tcpdump?.stop(), this.closeMarker()]);
  }
}
