/**
 * A ReportDiff as text: aligned columns for a terminal, or Markdown (`diff --format markdown`) for a
 * pull request. One table per run (metric, before, after, change), then its verdict, its findings
 * added and removed, and what regressed; a last line says whether anything did.
 */
import type { DiffMetric, DiffMetricName, ReportDiff, RunDiff } from '../model/diff.js';
import { fellPastTolerance } from './diff.js';
import { PLAIN, fitLines, formatNumber, table } from './text.js';
import type { Style } from './text.js';

export type DiffFormat = 'text' | 'markdown';

export interface DiffTextOptions {
  format?: DiffFormat;
  style?: Style;
  /** Text: wrap lines wider than this (the tables are narrow); undefined: no wrapping. Not for Markdown. */
  width?: number;
}

const LABEL: Record<DiffMetricName, string> = {
  connections: 'connections',
  requests: 'requests',
  requestsPerConnection: 'requests per connection',
  reuseShare: 'reuse share',
  tlsFullHandshakes: 'TLS full handshakes',
  tlsResumedHandshakes: 'TLS resumed handshakes',
  resets: 'resets',
  timeWait: 'TIME_WAIT',
};

/** Rows whose figures neither report has (no TLS in either) are left out of the table. */
function shown(m: DiffMetric): boolean {
  return m.before !== null || m.after !== null;
}

function value(m: DiffMetric, v: number | null): string {
  if (v === null) return '-';
  return m.name === 'reuseShare' ? `${Math.round(v * 100)}%` : formatNumber(v, 2);
}

function change(m: DiffMetric): string {
  if (m.change === null) return '';
  if (m.name === 'reuseShare') {
    const points = Math.round(m.change * 100);
    return points === 0 ? '0' : `${points > 0 ? '+' : ''}${points} pt`;
  }
  const n = Number(m.change.toFixed(2));
  return n === 0 ? '0' : `${n > 0 ? '+' : ''}${formatNumber(n, 2)}`;
}

export function renderDiff(diff: ReportDiff, options: DiffTextOptions = {}): string {
  return options.format === 'markdown' ? renderMarkdown(diff) : renderText(diff, options);
}

function sourceLine(side: ReportDiff['before']): string {
  return `${side.file} (${side.command}, ${side.createdAt}, ${side.runs} run${side.runs === 1 ? '' : 's'})`;
}

function heading(run: RunDiff, i: number): string {
  const only = run.in === 'before' ? ' (only in before)' : run.in === 'after' ? ' (only in after)' : '';
  const title =
    run.titleBefore !== null && run.titleBefore !== run.title ? `${run.titleBefore} -> ${run.title}` : run.title;
  return `${i + 1}. ${title}${only}`;
}

function verdictText(run: RunDiff): string {
  const v = run.verdict;
  if (v.before === v.after) return `verdict: ${v.after ?? '-'} (unchanged): ${v.afterSummary ?? v.beforeSummary}`;
  return `verdict: ${v.before ?? '-'} -> ${v.after ?? '-'}: ${v.afterSummary ?? v.beforeSummary}`;
}

function findingLines(run: RunDiff): string[] {
  return [
    ...run.findingsAdded.map((f) => `finding added: ${f.code} (${f.severity}): ${f.summary}`),
    ...run.findingsRemoved.map((f) => `finding removed: ${f.code} (${f.severity}): ${f.summary}`),
  ];
}

function resultLine(diff: ReportDiff): string {
  const regressed = diff.runs.filter((r) => r.regressions.length > 0).length;
  return regressed === 0
    ? 'no regression'
    : `regression: ${regressed} of ${diff.runs.filter((r) => r.in === 'both').length} runs compared got worse`;
}

function renderText(diff: ReportDiff, options: DiffTextOptions): string {
  const s = options.style ?? PLAIN;
  const out: string[] = [`before: ${sourceLine(diff.before)}\nafter:  ${sourceLine(diff.after)}`];
  diff.runs.forEach((run, i) => {
    const lines = [s.bold(heading(run, i))];
    if (run.in === 'both') {
      const rows = [['metric', 'before', 'after', 'change'].map((h) => s.bold(h))];
      for (const m of run.metrics.filter(shown)) {
        const c = change(m);
        rows.push([
          LABEL[m.name],
          value(m, m.before),
          value(m, m.after),
          fellPastTolerance(m, diff.tolerance) ? s.red(`${c} worse`) : c,
        ]);
      }
      lines.push(table(rows, ['left', 'right', 'right', 'right']));
    }
    lines.push(verdictText(run), ...findingLines(run));
    for (const r of run.regressions) lines.push(s.red(`regression: ${r}`));
    out.push(lines.join('\n'));
  });
  const result = resultLine(diff);
  out.push(diff.regression ? s.red(result) : s.green(result));
  return fitLines(out.join('\n\n'), options.width) + '\n';
}

/** `|` would end a Markdown table cell; backticks would open code. */
function md(text: string): string {
  return text.replace(/[|`*_<]/g, (c) => `\\${c}`);
}

function renderMarkdown(diff: ReportDiff): string {
  const code = (c: string) => `\`${c}\``;
  const out: string[] = [
    `**before** ${code(diff.before.file)} (${diff.before.command}, ${diff.before.createdAt}) · ` +
      `**after** ${code(diff.after.file)} (${diff.after.command}, ${diff.after.createdAt})`,
  ];
  diff.runs.forEach((run, i) => {
    const lines = [`#### ${md(heading(run, i))}`];
    if (run.in === 'both') {
      lines.push('', '| metric | before | after | change |', '| --- | ---: | ---: | ---: |');
      for (const m of run.metrics.filter(shown)) {
        const c = fellPastTolerance(m, diff.tolerance) ? `**${change(m)}** worse` : change(m);
        lines.push(`| ${LABEL[m.name]} | ${value(m, m.before)} | ${value(m, m.after)} | ${c} |`);
      }
    }
    lines.push('', `- ${md(verdictText(run)).replace(/^verdict/, '**verdict**')}`);
    for (const f of findingLines(run)) lines.push(`- ${md(f)}`);
    for (const r of run.regressions) lines.push(`- **regression**: ${md(r)}`);
    out.push(lines.join('\n'));
  });
  out.push(`**${resultLine(diff)}**`);
  return out.join('\n\n') + '\n';
}
