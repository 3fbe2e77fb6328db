/**
 * Two reports compared (`keepalive-lab diff A.json B.json`): runs paired by name, each run's summary
 * figures (the same ones, from the same observer, as the terminal's table: report/summary.ts) before
 * and after, findings added and removed by code, the verdict's change, and whether reuse got worse.
 * Pure: reports in, a ReportDiff out (model/diff.ts); cli/diff.ts reads the files and prints.
 */
import type { DiffFinding, DiffMetric, DiffMetricName, DiffSource, ReportDiff, RunDiff } from '../model/diff.js';
import { DIFF_METRICS, DIFF_SCHEMA } from '../model/diff.js';
import type { Finding, Report, RunReport } from '../model/report.js';
import { formatNumber } from './text.js';
import { runSummary } from './summary.js';

export interface DiffOptions {
  /** The names the reports are known by (their files), for the header and the JSON. */
  beforeFile?: string;
  afterFile?: string;
  /** Requests per connection may fall by this share (0..1) and not count as a regression (default 0.05). */
  tolerance?: number;
}

/** By default requests per connection may fall by 5% (a pool's churn varies from run to run). */
export const DEFAULT_TOLERANCE = 0.05;

export function diffReports(before: Report, after: Report, options: DiffOptions = {}): ReportDiff {
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const runs = pairRuns(before.runs, after.runs).map(([a, b]) => diffRun(a, b, tolerance));
  return {
    schema: DIFF_SCHEMA,
    before: source(before, options.beforeFile ?? 'A'),
    after: source(after, options.afterFile ?? 'B'),
    tolerance,
    runs,
    regression: runs.some((r) => r.regressions.length > 0),
  };
}

function source(report: Report, file: string): DiffSource {
  return { file, command: report.command, createdAt: report.createdAt, runs: report.runs.length };
}

/**
 * Runs paired by name (a demo's experiments, in A's order, then those only B has); two reports of one
 * run each are paired whatever their names (`run` against `watch`, or two captures' file names).
 */
export function pairRuns(
  before: readonly RunReport[],
  after: readonly RunReport[],
): [RunReport | undefined, RunReport | undefined][] {
  if (before.length === 1 && after.length === 1) return [[before[0], after[0]]];
  const left = [...after];
  const pairs: [RunReport | undefined, RunReport | undefined][] = before.map((a) => {
    const i = left.findIndex((b) => b.name === a.name);
    return [a, i < 0 ? undefined : left.splice(i, 1)[0]];
  });
  for (const b of left) pairs.push([undefined, b]);
  return pairs;
}

/** A run's figures, by name (null: this report cannot say). */
export function runFigures(run: RunReport): Record<DiffMetricName, number | null> {
  const f = runSummary(run);
  const primary = f.primary;
  // Requests inside TLS read without the keys are unknown: no figure built on them.
  const known = primary !== undefined && f.requestsUnknownOn === 0;
  const tls = primary?.totals.tls;
  return {
    connections: f.connections,
    requests: known ? f.requests : null,
    requestsPerConnection: known ? f.requestsPerConnection : null,
    reuseShare:
      known && primary.seesRequests && f.reusedRequests !== null && f.requests > 0
        ? f.reusedRequests / f.requests
        : null,
    tlsFullHandshakes: tls ? tls.fullHandshakes : null,
    tlsResumedHandshakes: tls ? tls.resumedHandshakes : null,
    resets: f.closing ? f.closing.resets : null,
    timeWait: f.timeWait ? f.timeWait.client + f.timeWait.server : null,
  };
}

export function diffRun(a: RunReport | undefined, b: RunReport | undefined, tolerance = DEFAULT_TOLERANCE): RunDiff {
  const run = (b ?? a)!;
  const before = a ? runFigures(a) : undefined;
  const after = b ? runFigures(b) : undefined;
  const metrics: DiffMetric[] = DIFF_METRICS.map((name) => {
    const x = before?.[name] ?? null;
    const y = after?.[name] ?? null;
    return { name, before: x, after: y, change: x === null || y === null ? null : y - x };
  });
  const codes = (r: RunReport | undefined) => new Set((r?.findings ?? []).map((f) => f.code));
  const [inA, inB] = [codes(a), codes(b)];
  const findingsAdded = a && b ? uniqueByCode(b.findings.filter((f) => !inA.has(f.code))) : [];
  const findingsRemoved = a && b ? uniqueByCode(a.findings.filter((f) => !inB.has(f.code))) : [];
  const diff: RunDiff = {
    name: run.name,
    title: run.title,
    titleBefore: a && b && a.title !== b.title ? a.title : null,
    in: a && b ? 'both' : a ? 'before' : 'after',
    metrics,
    verdict: {
      before: a?.verdict.code ?? null,
      after: b?.verdict.code ?? null,
      beforeSummary: a?.verdict.summary ?? null,
      afterSummary: b?.verdict.summary ?? null,
    },
    findingsAdded,
    findingsRemoved,
    regressions: [],
  };
  if (a && b) diff.regressions = regressions(diff, tolerance);
  return diff;
}

function uniqueByCode(findings: readonly Finding[]): DiffFinding[] {
  const seen = new Map<string, DiffFinding>();
  for (const f of findings)
    if (!seen.has(f.code)) seen.set(f.code, { code: f.code, severity: f.severity, summary: f.summary });
  return [...seen.values()];
}

/**
 * Reuse got worse (the rule `--expect-no-regression` applies; docs/report-schema.md "diff"): requests
 * per connection fell by more than the tolerance; a finding of severity error or warning appeared; or
 * the verdict was `reuse` and is something else now.
 */
function regressions(d: RunDiff, tolerance: number): string[] {
  const out: string[] = [];
  const rpc = d.metrics.find((m) => m.name === 'requestsPerConnection')!;
  if (fellPastTolerance(rpc, tolerance))
    out.push(`requests per connection fell from ${formatNumber(rpc.before!, 2)} to ${formatNumber(rpc.after!, 2)}`);
  for (const f of d.findingsAdded)
    if (f.severity !== 'info') out.push(`new finding ${f.code} (${f.severity}): ${f.summary}`);
  if (d.verdict.before === 'reuse' && d.verdict.after !== 'reuse')
    out.push(`verdict went from reuse to ${d.verdict.after}: ${d.verdict.afterSummary}`);
  return out;
}

/** A metric that got worse by the rule: requests per connection fell by more than the tolerance. */
export function fellPastTolerance(m: DiffMetric, tolerance: number): boolean {
  return (
    m.name === 'requestsPerConnection' && m.before !== null && m.after !== null && m.after < m.before * (1 - tolerance)
  );
}
