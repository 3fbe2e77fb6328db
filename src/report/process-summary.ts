/**
 * The process's own view as text: per origin, requests, connections, the share of requests that
 * reused a connection, how connections closed; and its findings. The register's lines on stderr
 * (renderProcessSummary), and a run's `process` in the terminal report (renderRunProcess: a lab run
 * of node:http or fetch, a watched Node command). Pure: a summary in, a string out.
 */
import type { ProcessOrigin, ProcessSummary } from '../model/process.js';
import type { Finding, RunReport } from '../model/report.js';
import { plural } from '../util/text.js';
import { firstStart, renderFinding } from './findings.js';
import type { Style } from './text.js';

function percent(share: number | null): string {
  return share === null ? '-' : `${Math.round(share * 100)}%`;
}

export function renderProcessSummary(process: ProcessSummary, findings: readonly Finding[], why: string): string {
  const lines = [`keepalive-lab register (${why}): ${plural(process.origins.length, 'origin')}`];
  for (const o of process.origins) lines.push(`  ${originLine(o)}`);
  for (const f of findings) lines.push(`  [${f.severity}] ${f.summary}`);
  const missing = missingLine(process);
  if (missing) lines.push(`  ${missing}`);
  return `${lines.join('\n')}\n`;
}

/** `origin: N requests, N connections (N open), reuse N%; closed: ...; errors: ...` */
function originLine(o: ProcessOrigin): string {
  const closes = Object.entries(o.closeReasons)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const errors = Object.entries(o.errors)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return (
    `${o.origin}: ${plural(o.requests, 'request')}, ${plural(o.connectionsOpened, 'connection')} ` +
    `(${o.connectionsOpen} open), reuse ${percent(o.reuseShare)}` +
    (closes === '' ? '' : `; closed: ${closes}`) +
    (errors === '' ? '' : `; errors: ${errors}`)
  );
}

function missingLine(process: ProcessSummary): string | null {
  return process.missingChannels.length === 0
    ? null
    : `(not measured: Node ${process.node} lacks ${process.missingChannels.join(', ')})`;
}

/** Who saw a run's `process`: `2 Node processes (41, 42)` for a watched command, else `process`. */
export function processSeenBy(p: ProcessSummary): string {
  return p.pids ? `${plural(p.pids.length, 'Node process', 'Node processes')} (${p.pids.join(', ')})` : 'process';
}

/**
 * A run's `process` in the terminal report: its origins, then its own findings (the unread body's call
 * site...), each as the run's findings are shown; a finding's fixes only when the run's findings do not
 * already give them (the same code). Empty without `process`.
 */
export function renderRunProcess(run: RunReport, s: Style, explain: boolean): string {
  const p = run.process;
  if (p === undefined) return '';
  const lines = [s.bold(`${run.title} — seen by the ${processSeenBy(p)}`)];
  if (p.origins.length === 0) lines.push(s.dim('no request to the server'));
  for (const o of p.origins) lines.push(originLine(o));
  const t0 = firstStart(run);
  const fixed = new Set(run.findings.map((f) => f.code));
  for (const f of p.findings ?? []) lines.push(...renderFinding(f, s, explain, t0, explain || !fixed.has(f.code)));
  const missing = missingLine(p);
  if (missing) lines.push(s.dim(missing));
  return lines.join('\n');
}
