/**
 * A run's findings as terminal text: each one's summary and its fix per runtime; with `explain`, also
 * the reasoning and the evidence (the measured values, the connections, what happened on each).
 */
import { formatEndpoint } from '../model/endpoint.js';
import type { Finding, FindingSeverity, RunReport } from '../model/report.js';
import { formatMs } from './text.js';
import type { Style } from './text.js';

const LABEL: Record<FindingSeverity, string> = { error: 'error', warning: 'warning', info: 'info' };

function label(severity: FindingSeverity, s: Style): string {
  const text = LABEL[severity];
  return severity === 'error' ? s.red(text) : severity === 'warning' ? s.yellow(text) : s.dim(text);
}

/** "+1.234 s" from the first connection's start, as the connection table shows times. */
export function relativeTime(at: number, t0: number | null): string {
  return t0 === null ? new Date(at).toISOString() : `+${formatMs(Math.max(0, at - t0))}`;
}

/** The first connection's start over the run's observers: what a finding's event times are shown from. */
export function firstStart(run: RunReport): number | null {
  let t0: number | null = null;
  for (const o of run.observers)
    for (const c of o.connections) if (c.start !== null && (t0 === null || c.start < t0)) t0 = c.start;
  return t0;
}

/** The evidence values worth showing (null: not measured). */
export function shownValues(f: Finding): [string, string | number][] {
  return Object.entries(f.evidence.values).filter((e): e is [string, string | number] => e[1] !== null);
}

export function renderFindings(run: RunReport, s: Style, explain: boolean): string {
  if (run.findings.length === 0) return '';
  const t0 = firstStart(run);
  const lines: string[] = [s.bold(`${run.title} — findings`)];
  for (const f of run.findings) lines.push(...renderFinding(f, s, explain, t0));
  if (!explain) lines.push(s.dim('(--explain shows the reasoning and the evidence of each finding)'));
  return lines.join('\n');
}

/** One finding: its line; with `explain` its reasoning and evidence; its fixes (unless `fixes` is false). */
export function renderFinding(f: Finding, s: Style, explain: boolean, t0: number | null, fixes = true): string[] {
  const lines = [`${label(f.severity, s)} [${f.code}] ${f.summary}`];
  if (explain) {
    lines.push(`  ${s.bold('why')}`);
    for (const step of f.reasoning) lines.push(`    - ${step}`);
    const e = f.evidence;
    const ids = e.connections.join(', ') + (e.count > e.connections.length ? `, ... (${e.count} in all)` : '');
    lines.push(
      `  ${s.bold('evidence')} ${e.server ? `server ${formatEndpoint(e.server)}, ` : ''}` +
        `${e.count} connection${e.count === 1 ? '' : 's'}: ${ids}`,
    );
    const values = shownValues(f);
    if (values.length > 0) lines.push(`    ${values.map(([k, v]) => `${k}=${v}`).join(' ')}`);
    for (const ev of e.events) lines.push(`    #${ev.connection} at ${relativeTime(ev.at, t0)}: ${ev.what}`);
  }
  if (fixes) for (const [runtime, fix] of Object.entries(f.fixes)) lines.push(`  ${s.dim(`fix (${runtime}):`)} ${fix}`);
  return lines;
}
