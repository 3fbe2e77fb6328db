/**
 * Watch any program: observe the traffic to one port (capture where permitted, the kernel's socket
 * table always) while a command runs (curl, ab, a Go binary, a test suite...) or until stopped,
 * then report the connections as `analyze` does.
 */
import { spawn } from 'node:child_process';
import { runReport } from '../analyze/run-report.js';
import { KeepaliveLabError } from '../errors.js';
import type { ObserverReport, RunReport, Warning } from '../model/report.js';
import { CaptureObserver, serverFocus } from '../observe/capture.js';
import { KernelObserver } from '../observe/kernel.js';
import type { Observer } from '../observe/observer.js';
import { onInterrupt, track } from '../util/lifecycle.js';
import { waitFor } from '../util/time.js';

export interface WatchOptions {
  /** The server port whose traffic is observed. */
  port: number;
  /** Only traffic to/from this server address. */
  host?: string;
  /** Capture interface (default: lo for a loopback --host, otherwise any). */
  interface?: string;
  /** The program to run; without it, observe until `durationMs` or Ctrl-C. */
  command?: string[];
  durationMs?: number;
  capture?: boolean;
  tcpdump?: string;
  /** How long to wait, after the command exits, for connections to finish closing (default 2 s). */
  settleTimeoutMs?: number;
  /** Called once the observers are ready (tests and progress output use it). */
  onReady?: () => void;
}

export interface WatchResult {
  run: RunReport;
  /** The command's exit code (null without a command, or when it died of a signal). */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
}

export async function watch(options: WatchOptions): Promise<WatchResult> {
  const host = options.host;
  const focus = serverFocus(host, options.port);
  const serverAddress = focus.serverAddress;
  const observers: Observer[] = [
    new KernelObserver({ serverPort: options.port, ...(serverAddress !== undefined ? { serverAddress } : {}) }),
  ];
  if (options.capture ?? true) {
    observers.push(
      new CaptureObserver({
        interface: options.interface ?? focus.interface,
        filter: focus.filter,
        serverPorts: [options.port],
        ...(options.tcpdump !== undefined ? { tcpdump: options.tcpdump } : {}),
      }),
    );
  }
  const warnings: Warning[] = [];
  const reports: ObserverReport[] = [];
  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  const started = performance.now();
  try {
    for (const o of observers) await o.start();
    options.onReady?.();
    if (options.command && options.command.length > 0) {
      ({ exitCode, exitSignal } = await runCommand(options.command, options.durationMs, warnings));
    } else {
      await waitForStop(options.durationMs);
    }
    for (const o of observers) await o.sync?.();
    const settled = await waitFor(() => observers.every((o) => o.settled(0)), options.settleTimeoutMs ?? 2000);
    if (!settled)
      warnings.push({
        code: 'KAL_WARN_OPEN_CONNECTIONS',
        message: 'some connections were still open when watching stopped',
      });
    for (const o of observers) reports.push(await o.stop());
  } finally {
    for (const o of observers.slice(reports.length)) await o.stop().catch(() => {});
  }
  const title = options.command?.length ? options.command.join(' ') : `port ${options.port}`;
  const elapsedMs = performance.now() - started;
  return {
    run: runReport(
      {
        name: 'watch',
        title: title.length > 60 ? title.slice(0, 57) + '...' : title,
        // Unbracketed for IPv6 (::1:8080), as reports have always had it: the JSON must not change here.
        subject: `${serverAddress ?? '*'}:${options.port}`,
        config: null,
        client: { requests: 0, completed: 0, errors: [], elapsedMs },
      },
      reports,
      { warnings },
    ),
    exitCode,
    exitSignal,
  };
}

/** Run the command with the terminal's stdio (its output passes through untouched). */
function runCommand(
  command: string[],
  durationMs: number | undefined,
  warnings: Warning[],
): Promise<{ exitCode: number | null; exitSignal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit' });
    const untrack = track({
      label: `watched command ${command[0]}`,
      close: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      },
    });
    // Ctrl-C reaches the command too when it comes from the terminal; forward it when it does not.
    const offInterrupt = onInterrupt(() => {
      if (child.exitCode === null) child.kill('SIGINT');
    });
    const timer =
      durationMs !== undefined
        ? setTimeout(() => {
            warnings.push({
              code: 'KAL_WARN_DURATION',
              message: `the command was stopped after --duration ${durationMs / 1000} s`,
            });
            child.kill('SIGTERM');
          }, durationMs)
        : undefined;
    const done = () => {
      clearTimeout(timer);
      offInterrupt();
      untrack();
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      done();
      reject(
        new KeepaliveLabError(
          error.code === 'ENOENT' ? 'KAL_ERR_COMMAND_NOT_FOUND' : 'KAL_ERR_COMMAND',
          error.code === 'ENOENT' ? `command not found: ${command[0]}` : `cannot run ${command[0]}: ${error.message}`,
          { cause: error },
        ),
      );
    });
    child.once('exit', (code, signal) => {
      done();
      resolve({ exitCode: code, exitSignal: signal });
    });
  });
}

/** Without a command: until --duration elapses or Ctrl-C. */
function waitForStop(durationMs: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = durationMs !== undefined ? setTimeout(finish, durationMs) : undefined;
    const offInterrupt = onInterrupt(finish);
    // Keep the event loop alive while waiting for Ctrl-C.
    const keepAlive = durationMs === undefined ? setInterval(() => {}, 1 << 30) : undefined;
    function finish() {
      clearTimeout(timer);
      clearInterval(keepAlive);
      offInterrupt();
      resolve();
    }
  });
}
