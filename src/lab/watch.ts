/**
 * Watch any program: observe the traffic to one port (capture where permitted, the kernel's socket
 * table always) while a command runs (curl, ab, a Go binary, a test suite...) or until stopped,
 * then report the connections as `analyze` does.
 *
 * TLS: the command runs with a private key log (observe/command-keylog.ts: SSLKEYLOGFILE, and
 * NODE_OPTIONS=--tls-keylog for Node), which the capture reads as it grows to decrypt the TLS
 * connections; it is removed when watching ends, whichever way it ends.
 *
 * Node: the command's Node processes load `register` (observe/command-register.ts: NODE_OPTIONS=--import),
 * and what they counted themselves, to the watched port, is a fourth observer, `process`, that must
 * agree with the wire and the kernel; their per-origin counts and findings are the run's `process`.
 * Its report directory is removed as the key log is.
 */
import { spawn } from 'node:child_process';
import { runReport } from '../analyze/run-report.js';
import { CommandError, invalidOption } from '../errors.js';
import type { HostFacts } from '../model/host.js';
import type { ObserverReport, RunReport, Warning } from '../model/report.js';
import { CaptureObserver, serverFocus } from '../observe/capture.js';
import { commandKeyLog, type CommandKeyLog } from '../observe/command-keylog.js';
import { commandRegister, type CommandRegister } from '../observe/command-register.js';
import { readHostFacts } from '../observe/host-facts.js';
import { KernelObserver } from '../observe/kernel.js';
import { closeAll, startAll, stopAll } from '../observe/observer.js';
import type { Observer } from '../observe/observer.js';
import { abortable, onAbort, untilAborted } from '../util/abort.js';
import { plural } from '../util/text.js';
import { waitFor } from '../util/time.js';

export interface WatchOptions {
  /** The server port whose traffic is observed. */
  port: number;
  /** Only traffic to/from this server address. */
  host?: string;
  /** Capture interface (default: lo for a loopback `host`, otherwise any). */
  interface?: string;
  /** The program to run; without it, observe until `durationMs` or `signal`. */
  command?: string[];
  durationMs?: number;
  capture?: boolean;
  tcpdump?: string;
  /** List each connection's request/response exchanges (ConnectionRecord.exchanges; `--html`). Default false. */
  exchanges?: boolean;
  /**
   * This machine's addresses and kernel settings, for the port outlook of clients that run here.
   * Default: read from /proc (observe/host-facts.ts).
   */
  hostFacts?: HostFacts;
  /**
   * TLS keys: `true` (the default with a command) a private key log made for the command and removed
   * at the end; a path, the user's key log (the command writes there too; created when missing, never
   * removed); false, none (TLS is not decrypted).
   */
  keylog?: string | boolean;
  /**
   * With a command (default true): its Node processes load `register` (NODE_OPTIONS=--import) and report
   * what they counted, the `process` observer (unavailable, with the reason, when none did: not Node.js).
   */
  register?: boolean;
  /** How long to wait, after the command exits, for connections to finish closing (default 2 s). */
  settleTimeoutMs?: number;
  /**
   * Where the command's standard output goes: `inherit` (the default), this process's stdout;
   * `stderr`, this process's stderr, so that stdout carries only the report (the CLI's `--json`).
   */
  commandStdout?: 'inherit' | 'stderr';
  /**
   * Called once the observers are ready (tests and progress output use it), with what can be read
   * while watching: the connections the capture has seen so far (null without a capture).
   */
  onReady?: (watching: Watching) => void;
  /**
   * Stops watching and reports, as Ctrl-C does: a running command gets SIGINT and the report
   * follows once it has exited (one that ignores SIGINT gets SIGTERM 3 s later, then SIGKILL 3 s
   * after that); without a command, watching stops at once. Connections still closing then get
   * `settleTimeoutMs`.
   */
  signal?: AbortSignal;
  /**
   * Ends at once, during a stop too: the command gets SIGTERM (SIGKILL 3 s later), nothing waits
   * for connections to close; the report says what was seen until then. Observers still starting
   * are let finish their start first (tcpdump and ss -E, ~100 ms), so that each can be stopped.
   * (The CLI aborts it on a second Ctrl-C, or on SIGTERM.)
   */
  forceSignal?: AbortSignal;
}

/** A watch in progress, for a progress line. */
export interface Watching {
  connections(): number | null;
}

export interface WatchResult {
  run: RunReport;
  /** The command's exit code (null without a command, or when it died of a signal). */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
}

/** After SIGTERM, how long a command gets before SIGKILL. */
const KILL_AFTER_MS = 3000;
/** After the SIGINT of a stop, how long a command gets before SIGTERM. */
const STOP_GRACE_MS = 3000;

export async function watch(options: WatchOptions): Promise<WatchResult> {
  const command = options.command && options.command.length > 0 ? options.command : undefined;
  if (
    command === undefined &&
    options.durationMs === undefined &&
    options.signal === undefined &&
    options.forceSignal === undefined
  )
    throw invalidOption('signal', 'is needed to stop watching without a command or a durationMs');
  // Only the capture decrypts: without it, no key log is made.
  const wanted = (options.capture ?? true) && (options.keylog ?? true);
  const keyLog =
    typeof wanted === 'string' ? await commandKeyLog(wanted) : wanted && command ? await commandKeyLog() : null;
  let register: CommandRegister | null = null;
  try {
    if (command !== undefined && (options.register ?? true)) register = await commandRegister(options.port);
    return await watchWith(options, command, keyLog, register);
  } finally {
    await register?.remove();
    await keyLog?.remove();
  }
}

async function watchWith(
  options: WatchOptions,
  command: string[] | undefined,
  keyLog: CommandKeyLog | null,
  register: CommandRegister | null,
): Promise<WatchResult> {
  const { signal, forceSignal } = options;
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
        ...(keyLog !== null ? { keys: keyLog.file } : {}),
        ...(options.exchanges === true ? { exchanges: true } : {}),
      }),
    );
  }
  const warnings: Warning[] = [];
  const reports: ObserverReport[] = [];
  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  const started = performance.now();
  // Forced: a wait is cut short (what was seen until then is reported); an error is still an error.
  const unlessForced = <T>(promise: Promise<T>) =>
    abortable(promise, forceSignal).catch((error: unknown) => {
      if (!forceSignal?.aborted) throw error;
    });
  try {
    // Side by side, and not cut short by forceSignal: an observer is stopped only once its start has
    // ended (a start takes ~100 ms; a stop during it would race with what it starts).
    await startAll(observers);
    if (!forceSignal?.aborted) {
      const capture = observers.find((o): o is CaptureObserver => o instanceof CaptureObserver);
      options.onReady?.({ connections: () => capture?.connectionCount ?? null });
      if (command !== undefined) {
        let env = keyLog === null ? process.env : keyLog.env(process.env);
        if (register !== null) env = register.env(env);
        ({ exitCode, exitSignal } = await runCommand(command, env, options, warnings));
      } else {
        await untilAborted([signal, forceSignal], options.durationMs);
      }
      for (const o of observers) await unlessForced(o.sync?.() ?? Promise.resolve(true));
    }
    const settled = await waitFor(
      () => observers.every((o) => o.settled(0)),
      options.settleTimeoutMs ?? 2000,
      10,
      forceSignal,
    );
    if (!settled)
      warnings.push({
        code: 'KAL_WARN_OPEN_CONNECTIONS',
        message: 'some connections were still open when watching stopped',
      });
    reports.push(...(await stopAll(observers)));
  } finally {
    if (reports.length < observers.length) await closeAll(observers);
  }
  // The command has exited: its Node processes wrote their reports at their exit.
  const processView = register === null ? null : await register.report();
  if (processView !== null) reports.push(processView.observer);
  if (keyLog !== null) warnings.push(...noKeysWarnings(keyLog, reports));
  const hostFacts = options.hostFacts ?? (await readHostFacts());
  const title = command ? command.join(' ') : `port ${options.port}`;
  const elapsedMs = performance.now() - started;
  const run = runReport(
    {
      name: 'watch',
      title: title.length > 60 ? title.slice(0, 57) + '...' : title,
      // Unbracketed for IPv6 (::1:8080), as reports have always had it: the JSON must not change here.
      subject: `${serverAddress ?? '*'}:${options.port}`,
      config: null,
      client: { requests: 0, completed: 0, errors: [], elapsedMs },
    },
    reports,
    { warnings, hostFacts },
  );
  // What the processes counted per origin and their own findings, as a lab run has them.
  if (processView?.process) run.process = processView.process;
  return { run, exitCode, exitSignal };
}

/**
 * Runs the command with the terminal's stdio (its output passes through untouched; its stdout to our
 * stderr with `commandStdout: 'stderr'`) until it exits.
 * `signal` gives it SIGINT, as Ctrl-C does (when Ctrl-C comes from the terminal the command gets
 * its own; this forwards one that does not), and SIGTERM if it is still there 3 s later: a
 * command that ignores SIGINT must not keep watch from reporting; `forceSignal` and `durationMs`
 * give it SIGTERM. SIGKILL follows any SIGTERM by 3 s. A command that cannot be run is a
 * CommandError whose exitCode is a shell's: 127 not found, 126 found but not executable.
 */
function runCommand(
  command: string[],
  env: NodeJS.ProcessEnv,
  options: Pick<WatchOptions, 'durationMs' | 'signal' | 'forceSignal' | 'commandStdout'>,
  warnings: Warning[],
): Promise<{ exitCode: number | null; exitSignal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    // File descriptor 2: the command writes to our stderr directly, as it would to the terminal.
    const stdout = options.commandStdout === 'stderr' ? 2 : 'inherit';
    const child = spawn(command[0]!, command.slice(1), { stdio: ['inherit', stdout, 'inherit'], env });
    const running = () => child.exitCode === null && child.signalCode === null;
    let killTimer: NodeJS.Timeout | undefined;
    const terminate = () => {
      if (!running()) return;
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => running() && child.kill('SIGKILL'), KILL_AFTER_MS);
    };
    let graceTimer: NodeJS.Timeout | undefined;
    const offInterrupt = onAbort(options.signal, () => {
      if (!running()) return;
      child.kill('SIGINT');
      graceTimer = setTimeout(() => {
        if (!running()) return;
        warnings.push({
          code: 'KAL_WARN_STOP_ESCALATED',
          message: `the command was still running ${STOP_GRACE_MS / 1000} s after SIGINT: it was sent SIGTERM`,
        });
        terminate();
      }, STOP_GRACE_MS);
    });
    const offForce = onAbort(options.forceSignal, terminate);
    const { durationMs } = options;
    const timer =
      durationMs !== undefined
        ? setTimeout(() => {
            warnings.push({
              code: 'KAL_WARN_DURATION',
              message: `the command was stopped after --duration ${durationMs / 1000} s`,
            });
            terminate();
          }, durationMs)
        : undefined;
    const done = () => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(graceTimer);
      offInterrupt();
      offForce();
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      done();
      reject(commandError(command[0]!, error));
    });
    child.once('exit', (code, signal) => {
      done();
      resolve({ exitCode: code, exitSignal: signal });
    });
  });
}

/**
 * TLS connections seen, and a key log with no key at all: the command's programs did not write one
 * (KAL_WARN_KEYLOG), which says how to get keys from those that ignore SSLKEYLOGFILE.
 */
function noKeysWarnings(keyLog: CommandKeyLog, reports: readonly ObserverReport[]): Warning[] {
  const tls = reports.reduce((n, r) => n + (r.totals.tls?.connections ?? 0), 0);
  if (tls === 0 || keyLog.file.sessions > 0) return [];
  return [
    {
      code: 'KAL_WARN_KEYLOG',
      message:
        `${plural(tls, 'TLS connection')} seen, and no TLS key was written to ` +
        (keyLog.private
          ? 'the key log made for the command (SSLKEYLOGFILE, NODE_OPTIONS=--tls-keylog)'
          : keyLog.file.path) +
        ': a program that ignores SSLKEYLOGFILE (Go, Java, ...) must be told to write one (README, "HTTPS")',
    },
  ];
}

/** Why a command could not be run, with the exit code a shell gives then (POSIX 2.8.2). */
function commandError(name: string, error: NodeJS.ErrnoException): CommandError {
  if (error.code === 'ENOENT')
    return new CommandError('KAL_ERR_COMMAND_NOT_FOUND', `command not found: ${name}`, 127, error);
  // Found, but not executable: no permission, a directory, a file the kernel cannot run.
  const found =
    error.code === 'EACCES' || error.code === 'EISDIR' || error.code === 'ENOEXEC' || error.code === 'EPERM';
  return new CommandError('KAL_ERR_COMMAND', `cannot run ${name}: ${error.message}`, found ? 126 : 1, error);
}
