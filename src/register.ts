/**
 * `node --import keepalive-lab/register app.js` (an ESM or a CommonJS app alike: --import loads this
 * module before the app's entry): tracks every outgoing HTTP request of the process
 * (observe/in-process/tracker.ts) and, at exit, on SIGUSR2, or through `registerReport()`, prints a
 * per-origin summary to stderr (not with KEEPALIVE_LAB_SUMMARY=0) and, when KEEPALIVE_LAB_REPORT names a
 * file, writes the report there (`.html`: the HTML report; anything else: JSON); when KEEPALIVE_LAB_REPORT_DIR
 * names a directory, the JSON report as `<pid>.json` there too (what `watch` reads: one file per process).
 * KEEPALIVE_LAB_RECORDS=N keeps the records of the last N closed connections (default 1000).
 *
 * Never hurts the app: nothing here throws into it (every step is caught; a failure is one warning
 * line on stderr), nothing keeps it alive (no timer, no handle; the host facts are read synchronously at the
 * first report), and nothing slows it beyond the tracker's listeners. SIGUSR2:
 * listening to it replaces its default action (terminate) with a report, the one change to the app's
 * signals by default; KEEPALIVE_LAB_SIGNAL=0 leaves it alone. SIGINT and SIGTERM (Ctrl-C, `kill`) end
 * a process without the 'exit' event, so without a report; with KEEPALIVE_LAB_SIGNAL=all (what `watch`
 * sets for its command), when the app has no handler of its own for the one that came, the report is
 * written, our listener removed and the signal raised again, so that the process dies of it (the same
 * exit status for its parent); when the app has one, ours steps aside (the app's handler alone
 * decides) and the report comes at 'exit' if it exits. Not by default: as any JS signal listener, ours
 * runs only once the app's code yields, so an app busy in synchronous code would not be stopped at
 * once, and one whose event loop then runs out would exit 0 (the pending signal dropped).
 */
import { writeSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { readHostFactsSync } from './observe/host-facts.js';
import { trackConnections } from './observe/in-process/tracker.js';
import { registerMetrics } from './observe/metrics/register-hook.js';
import {
  RECORDS_ENV,
  recordsFromEnv,
  REPORT_DIR_ENV,
  SIGNAL_ENV,
  SUMMARY_ENV,
} from './observe/in-process/register-env.js';
import type { ProcessView, TrackOptions } from './observe/in-process/tracker.js';
import type * as ReportFilesModule from './register-report.js';
import { renderProcessSummary } from './report/process-summary.js';

type ReportFiles = typeof ReportFilesModule;

/** The environment variable naming the report file (`.html` for HTML, else JSON). */
export const REPORT_ENV = 'KEEPALIVE_LAB_REPORT';
export { SIGNAL_ENV };
/** KEEPALIVE_LAB_STACKS=0: no stack is ever captured (the unread body's call site is then unknown). */
export const STACKS_ENV = 'KEEPALIVE_LAB_STACKS';

function warn(code: string, message: string): void {
  try {
    writeSync(2, `keepalive-lab: ${code} ${message}\n`);
  } catch {
    // stderr closed: nothing left to tell.
  }
}

// A worker thread may load it too: --import runs again in a worker started from a file with the
// process's execArgv (the default, on Node 20, 22 and 24 alike), or the app's worker imports it. Only
// the main thread tracks and reports.
const active = isMainThread;
const records = recordsFromEnv(process.env[RECORDS_ENV]);
const options: TrackOptions = {
  stackTraces: process.env[STACKS_ENV] !== '0',
  onWarning: (message) => warn('KAL_WARN_REGISTER_TRACKER', message),
  ...(records !== undefined ? { recentConnections: records } : {}),
};
// A worker's tracker is stopped before it starts (an aborted signal): it subscribes to nothing.
const tracker = trackConnections(active ? options : { ...options, signal: AbortSignal.abort() });

const reportDir = process.env[REPORT_DIR_ENV];
/** The report files asked for, read once at start: KEEPALIVE_LAB_REPORT, and <pid>.json in KEEPALIVE_LAB_REPORT_DIR. */
const reportPaths = [process.env[REPORT_ENV], reportDir ? join(reportDir, `${process.pid}.json`) : undefined].filter(
  (path): path is string => path !== undefined && path !== '',
);
/**
 * What writes them: the report's code (every finding detector, the renderers) is loaded only when a
 * file is asked for, here at start (the last report comes at 'exit', where nothing can be loaded), so
 * an app that asks for none does not carry it.
 */
let reportFiles: ReportFiles | null = null;
if (active && reportPaths.length > 0) {
  try {
    reportFiles = await import('./register-report.js');
  } catch (error) {
    warn('KAL_WARN_REGISTER_REPORT', `no report file will be written: ${String(error)}`);
  }
}
// Metrics for a fleet (docs/metrics.md), when KEEPALIVE_LAB_METRICS, the OTEL_ variables or the app's own
// OpenTelemetry SDK ask for them; otherwise nothing is loaded.
if (active) registerMetrics(tracker);

/**
 * Prints the summary to stderr and writes the report file (when KEEPALIVE_LAB_REPORT says so); never
 * throws. `why`: what asked for it (exit, SIGUSR2, api).
 */
export function registerReport(why = 'api'): ProcessView | null {
  let view: ProcessView;
  try {
    // The port outlook weighs the rate against this machine's port range (read once, when first needed).
    options.hostFacts ??= readHostFactsSync();
    view = tracker.report();
  } catch (error) {
    warn('KAL_WARN_REGISTER_TRACKER', `no report: ${String(error)}`);
    return null;
  }
  if (process.env[SUMMARY_ENV] !== '0') {
    try {
      writeSync(2, renderProcessSummary(view.process, view.findings, why));
    } catch {
      // stderr closed.
    }
  }
  if (reportFiles !== null)
    for (const failure of reportFiles.writeReportFiles(view, reportPaths))
      warn('KAL_WARN_REGISTER_REPORT', `cannot write ${failure.path}: ${failure.reason}`);
  return view;
}

/** The tracker the register runs (subscribe() to its events: the metrics exporter does). */
export const registeredTracker = tracker;

let ended = false;

/** The process is ending (`why`: exit, or the signal that ends it): the last report, once. */
function finalReport(why: string): void {
  if (ended) return;
  ended = true;
  try {
    tracker.endOfProcess();
  } catch {
    // counted as still open, then.
  }
  registerReport(why);
  tracker.dispose();
}

/**
 * SIGINT or SIGTERM, and no other listener: the app did not ask for it, so it ends the process, which
 * would exit without 'exit' and without a report. The report first, then the signal again with our
 * listener gone: Node restores the default action (terminate) when a signal's last listener goes, so
 * the process dies of that signal, as it would have without the register (the same status for its
 * parent: `signal` in Node, 128+n in a shell). With another listener (the app's) we do nothing.
 */
function onEndingSignal(signal: NodeJS.Signals): void {
  // An app's listener added in this very turn (ours steps aside a microtask later): the signal is its.
  if (process.listenerCount(signal) > 1) return;
  finalReport(signal);
  process.removeListener(signal, onEndingSignal);
  try {
    process.kill(process.pid, signal);
  } catch (error) {
    warn('KAL_WARN_REGISTER_SIGNAL', `cannot raise ${signal} again: ${String(error)}`);
    process.exit(128 + (constants.signals[signal] ?? 0));
  }
}

const isEndingSignal = (name: string | symbol): name is 'SIGINT' | 'SIGTERM' => name === 'SIGINT' || name === 'SIGTERM';

/**
 * Our SIGINT and SIGTERM listener is there only while the app has none of its own for that signal. A
 * listener of the app's makes ours step aside (once it is added: the signal is never without one), and
 * the last one gone brings ours back. Beside the app's, ours would change what the app does: a handler
 * that ends the process only when it is the signal's one listener (signal-exit's, used by many CLIs)
 * would then let it run on.
 */
function listenToEndingSignals(): void {
  process.on('SIGINT', onEndingSignal);
  process.on('SIGTERM', onEndingSignal);
  process.on('newListener', (name: string | symbol, listener: unknown) => {
    if (!isEndingSignal(name) || listener === onEndingSignal) return;
    queueMicrotask(() => {
      if (process.listenerCount(name) > 1) process.removeListener(name, onEndingSignal);
    });
  });
  process.on('removeListener', (name: string | symbol) => {
    if (!ended && isEndingSignal(name) && process.listenerCount(name) === 0) process.on(name, onEndingSignal);
  });
}

if (active) process.on('exit', () => finalReport('exit'));
const signals = process.env[SIGNAL_ENV];
if (active && signals !== '0') process.on('SIGUSR2', () => void registerReport('SIGUSR2'));
if (active && signals === 'all') listenToEndingSignals();
