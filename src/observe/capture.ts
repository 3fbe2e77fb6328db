/**
 * The wire observer: tcpdump captures on an interface with a BPF filter and writes pcap to its
 * stdout; we parse that stream as it comes, with the same decoder and tracker as `analyze`.
 * When tcpdump is missing or not permitted, the report says so, with the fix, and the other
 * observers carry on.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CaptureAnalysis } from '../analyze/capture-analysis.js';
import { unavailableReport } from '../analyze/run-report.js';
import { CaptureUnavailableError } from '../errors.js';
import type { ObserverReport, Warning } from '../model/report.js';
import { waitFor } from '../util/time.js';
import { TcpFlag } from '../model/packet.js';
import type { Observer } from './observer.js';

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
    interface: loopback ? 'lo' : 'any',
    filter: serverAddress !== undefined ? `tcp port ${port} and host ${serverAddress}` : `tcp port ${port}`,
  };
}

const FIX_MISSING = 'install tcpdump (Debian/Ubuntu: apt-get install tcpdump)';
const FIX_PERMISSION =
  'run as root, or let tcpdump capture: sudo setcap cap_net_raw,cap_net_admin=eip "$(command -v tcpdump)"';

export class CaptureObserver implements Observer {
  readonly name = 'wire' as const;
  private child: ChildProcess | undefined;
  private analysis: CaptureAnalysis;
  private unavailable: CaptureUnavailableError | undefined;
  private stderr = '';
  private exited: Promise<void> = Promise.resolve();
  /** close() was called: nothing may start any more. */
  private closed = false;
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

  constructor(private readonly options: CaptureOptions) {
    this.analysis = new CaptureAnalysis({
      ...(options.serverPorts ? { serverPorts: options.serverPorts } : {}),
      accept: (p) => {
        if (p.dstPort !== this.markerPort || this.markerPort === 0) return true;
        if ((p.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN) this.markersSeen++;
        return false;
      },
    });
  }

  async start(): Promise<void> {
    try {
      await this.startMarker();
      // Closed while the marker was starting (an aborted run): tcpdump must not start after that.
      if (this.closed) return void (await this.closeMarker());
      await this.spawn();
    } catch (error) {
      if (error instanceof CaptureUnavailableError) this.unavailable = error;
      else throw error;
    }
  }

  /** Markers go over loopback: only captures that see loopback (lo, any) can use them. */
  private async startMarker(): Promise<void> {
    const iface = this.options.interface ?? 'lo';
    if (iface !== 'lo' && iface !== 'any') return;
    const server = net.createServer((socket) => socket.destroy());
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
   * Catch up: resolves once every packet sent before this call has come out of the capture (or
   * after `timeoutMs`, returning false). Without markers (another interface), true at once.
   */
  async sync(timeoutMs = 3000): Promise<boolean> {
    if (this.unavailable || this.marker === undefined || this.child?.exitCode !== null) return true;
    const wanted = ++this.markersSent;
    const socket = net.connect(this.markerPort, '127.0.0.1');
    socket.on('error', () => {});
    const seen = await waitFor(() => this.markersSeen >= wanted || this.streamError !== undefined, timeoutMs, 2);
    socket.destroy();
    return seen;
  }

  private spawn(): Promise<void> {
    // -B: a 32 MiB kernel buffer (the default 2 MiB drops packets when our event loop is busy running the clients).
    const filter =
      this.markerPort > 0
        ? `(${this.options.filter}) or (dst host 127.0.0.1 and tcp dst port ${this.markerPort})`
        : this.options.filter;
    const args = [
      '-i',
      this.options.interface ?? 'lo',
      '-n',
      '-U',
      '--immediate-mode',
      // The kernel ring's slots are sized from the snap length, capped by the MTU only on Ethernet-like
      // interfaces: on `any` the default 262144 made 64 slots of 32 MiB (measured: tcpdump stopped during
      // ab -n 100 kept 64 packets on any, 256 on lo), and a few ms of lag during ab -n 20 dropped packets.
      // 65600 holds a 64 KiB loopback or GRO packet and its link header; 128 MiB of ring: ~2000 slots.
      '-s',
      '65600',
      '-B',
      '131072',
      '-w',
      '-',
      filter,
    ];
    const child = spawn(this.options.tcpdump ?? 'tcpdump', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (this.streamError) return;
      try {
        this.analysis.push(chunk);
      } catch (error) {
        this.streamError = error as Error;
      }
    });
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        void this.kill();
        reject(
          new CaptureUnavailableError(
            `tcpdump did not start listening within ${this.options.startTimeoutMs ?? 10000} ms`,
            FIX_PERMISSION,
          ),
        );
      }, this.options.startTimeoutMs ?? 10000);
      const onStderr = (chunk: Buffer) => {
        this.stderr += chunk.toString();
        if (/listening on /.test(this.stderr)) {
          cleanup();
          resolve();
        }
      };
      const onError = (error: NodeJS.ErrnoException) => {
        cleanup();
        reject(
          error.code === 'ENOENT'
            ? new CaptureUnavailableError('tcpdump is not installed', FIX_MISSING, { cause: error })
            : new CaptureUnavailableError(`cannot run tcpdump: ${error.message}`, FIX_MISSING, { cause: error }),
        );
      };
      const onExit = () => {
        cleanup();
        const text = this.stderr.trim().split('\n').pop() ?? '';
        const denied = /permission|not permitted|privilege/i.test(this.stderr);
        reject(
          new CaptureUnavailableError(
            `tcpdump could not capture: ${text || 'it exited at once'}`,
            denied ? FIX_PERMISSION : 'check the interface name and filter',
          ),
        );
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.stderr!.off('data', onStderr);
        child.off('error', onError);
        child.off('exit', onExit);
        child.stderr!.on('data', (c: Buffer) => {
          if (this.stderr.length < 64 * 1024) this.stderr += c.toString();
        });
      };
      child.stderr!.on('data', onStderr);
      child.once('error', onError);
      child.once('exit', onExit);
    });
  }

  settled(expectedConnections: number): boolean {
    if (this.unavailable) return true;
    const t = this.analysis.tracker;
    return t.connectionCount >= expectedConnections && t.openConnections === 0;
  }

  /** Connections seen so far, for live progress. */
  get connectionCount(): number {
    return this.analysis.tracker.connectionCount;
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills tcpdump (if it runs or is starting) and closes the marker port; no report. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.kill(), this.closeMarker()]);
  }

  async stop(): Promise<ObserverReport> {
    const complete = await this.sync();
    await this.closeMarker();
    if (this.unavailable) {
      return unavailableReport('wire', {
        reason: this.unavailable.message,
        fix: this.unavailable.fix,
        seesRequests: true,
      });
    }
    await this.kill();
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
    const dropped = /(\d+) packets? dropped by kernel/.exec(this.stderr);
    if (dropped && Number(dropped[1]) > 0) {
      warnings.push({
        code: 'KAL_WARN_CAPTURE_DROPS',
        message: `tcpdump says ${dropped[1]} packets were dropped by the kernel: counts may be low`,
      });
    }
    const { report } = this.analysis.result();
    report.warnings.unshift(...warnings);
    return report;
  }
}
