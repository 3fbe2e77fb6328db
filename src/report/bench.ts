/**
 * `bench`'s table: one row per load (keep-alive, new-connection), what each costs, and the ratio of
 * the two. Pure: a BenchReport in, a string out (`bench --json` prints the report itself).
 */
import type { BenchReport, BenchRun, LoadMode } from '../model/bench.js';
import { formatCount, formatSeconds, plural } from '../util/text.js';
import { PLAIN, table } from './text.js';
import type { Style } from './text.js';

const MODE_NAMES: Record<LoadMode, string> = { 'keep-alive': 'keep-alive', 'new-connection': 'new connection' };

/** A latency in ms with three significant digits at most: 0.0812, 0.767, 7.59, 22.0, 182. */
export function formatLatency(ms: number | null): string {
  if (ms === null) return '-';
  if (ms >= 100) return String(Math.round(ms));
  return ms.toPrecision(3);
}

function formatRatio(r: number | null): string {
  return r === null ? '-' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

function timeWaitCell(run: BenchRun): string {
  if (run.timeWait === null) return '?';
  const { client, server } = run.timeWait;
  if (client + server === 0) return '0';
  const sides: string[] = [];
  if (client > 0) sides.push(`${formatCount(client)} client`);
  if (server > 0) sides.push(`${formatCount(server)} server`);
  return sides.join(' + ');
}

export function renderBench(report: BenchReport, s: Style = PLAIN): string {
  const where = report.labServer ? `${report.target} (the lab server, on a thread of its own)` : report.target;
  const lines = [
    s.bold(`bench ${where}`),
    `${plural(report.connections, 'connection')}, ${formatSeconds(report.durationMs / 1000)} per load, ` +
      'keep-alive first',
    '',
  ];
  const rows = [
    ['mode', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'connections', 'TIME_WAIT left', 'errors'],
    ...report.runs.map((r) => [
      MODE_NAMES[r.mode],
      formatCount(r.requestsPerSecond),
      formatLatency(r.latencyMs.p50),
      formatLatency(r.latencyMs.p90),
      formatLatency(r.latencyMs.p99),
      formatLatency(r.latencyMs.max),
      formatCount(r.connectionsOpened),
      timeWaitCell(r),
      r.errors === 0 ? '0' : s.red(formatCount(r.errors)),
    ]),
  ];
  lines.push(table(rows, ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right']));
  const ratio = report.ratio;
  lines.push(
    '',
    `keep-alive / new connection: ${s.bold(formatRatio(ratio.requestsPerSecond))} the requests/s, ` +
      `${formatRatio(ratio.p50)} the p50 latency, ${formatRatio(ratio.p99)} the p99`,
  );
  for (const r of report.runs) {
    const codes = Object.entries(r.errorCodes).map(([code, n]) => `${code} ${formatCount(n)}`);
    if (codes.length > 0) lines.push(s.red(`${MODE_NAMES[r.mode]} errors: ${codes.join(', ')}`));
    if (r.non2xx > 0) lines.push(s.yellow(`${MODE_NAMES[r.mode]}: ${formatCount(r.non2xx)} responses outside 2xx`));
  }
  for (const w of report.warnings) lines.push(s.yellow(`warning: ${w.message}`));
  return lines.join('\n') + '\n';
}

export interface BenchProgress {
  mode: LoadMode;
  elapsedMs: number;
  durationMs: number;
  requests: number;
  errors: number;
}

/** The progress line: `keep-alive 2 s of 5 s: 12,345 requests, 0 errors`. */
export function renderBenchProgress(p: BenchProgress): string {
  const elapsed = Math.min(p.elapsedMs, p.durationMs) / 1000;
  return (
    `${MODE_NAMES[p.mode]} ${formatSeconds(elapsed)} of ${formatSeconds(p.durationMs / 1000)}: ` +
    `${formatCount(p.requests)} ${p.requests === 1 ? 'request' : 'requests'}, ${plural(p.errors, 'error')}`
  );
}
