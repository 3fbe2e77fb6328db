/**
 * The wire observer: tcpdump captures on an interface with a BPF filter and writes pcap to its
 * stdout; we parse that stream as it comes, with the same decoder and tracker as `analyze`.
 * When tcpdump is missing or not permitted, the report says so, with the fix, and the other
 * observers carry on.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { CaptureAnalysis } from '../analyze/capture-analysis.js';
import { computeTotals } from '../analyze/totals.js';
import { CaptureUnavailableError } from '../errors.js';
import type { ObserverReport, Warning } from '../model/report.js';
import { track } from '../util/lifecycle.js';
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

const FIX_MISSING = 'install tcpdump (Debian/Ubuntu: apt-get install tcpdump)';
const FIX_PERMISSION = 'run as root, or let tcpdump capture: sudo setcap cap_net_raw,cap_net_admin=eip "$(command -v tcpdump)"';

export class CaptureObserver implements Observer {
  readonly name = 'wire' as const;
  private child: ChildProcess | undefined;
  private analysis: CaptureAnalysis;
  private unavailable: CaptureUnavailableError | undefined;
  private stderr = '';
  private exited: Promise<void> = Promise.resolve();
  private untrack: () => void = () => {};
  private streamError: Error | undefined;

  constructor(private readonly options: CaptureOptions) {
    this.analysis = new CaptureAnalysis(options.serverPorts ? { serverPorts: options.serverPorts } : {});
  }

  async start(): Promise<void> {
    try {
      await this.spawn();
    } catch (error) {
      if (error instanceof CaptureUnavailableError) this.unavailable = error;
      else throw error;
    }
  }

  private spawn(): Promise<void> {
    // -B: a 32 MiB kernel buffer (the default 2 MiB drops packets when our event loop is busy running the clients).
    const args = ['-i', this.options.interface ?? 'lo', '-n', '-U', '--immediate-mode', '-B', '32768', '-w', '-', this.options.filter];
    const child = spawn(this.options.tcpdump ?? 'tcpdump', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.untrack = track({ label: 'tcpdump', close: () => this.kill() });
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
        reject(new CaptureUnavailableError(`tcpdump did not start listening within ${this.options.startTimeoutMs ?? 10000} ms`, FIX_PERMISSION));
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
        this.untrack();
        reject(
          error.code === 'ENOENT'
            ? new CaptureUnavailableError('tcpdump is not installed', FIX_MISSING, { cause: error })
            : new CaptureUnavailableError(`cannot run tcpdump: ${error.message}`, FIX_MISSING, { cause: error }),
        );
      };
      const onExit = () => {
        cleanup();
        this.untrack();
        const text = this.stderr.trim().split('\n').pop() ?? '';
        const denied = /permission|not permitted|privilege/i.test(this.stderr);
        reject(new CaptureUnavailableError(`tcpdump could not capture: ${text || 'it exited at once'}`, denied ? FIX_PERMISSION : 'check the interface name and filter'));
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

  async stop(): Promise<ObserverReport> {
    if (this.unavailable) {
      return {
        observer: 'wire',
        available: false,
        reason: this.unavailable.message,
        fix: this.unavailable.fix,
        seesRequests: true,
        totals: computeTotals([], null),
        connections: [],
        warnings: [],
      };
    }
    await this.kill();
    this.untrack();
    const warnings: Warning[] = [];
    if (this.streamError) warnings.push({ code: 'KAL_WARN_CAPTURE_STREAM', message: `capture stream could not be parsed: ${this.streamError.message}` });
    else this.analysis.end();
    const dropped = /(\d+) packets? dropped by kernel/.exec(this.stderr);
    if (dropped && Number(dropped[1]) > 0) {
      warnings.push({ code: 'KAL_WARN_CAPTURE_DROPS', message: `tcpdump says ${dropped[1]} packets were dropped by the kernel: counts may be low` });
    }
    const { report } = this.analysis.result();
    report.warnings.unshift(...warnings);
    return report;
  }
}
