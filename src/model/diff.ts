/**
 * `keepalive-lab diff A.json B.json --json`: two reports compared run by run (report/diff.ts builds
 * it). Documented in docs/report-schema.md ("diff"); bump DIFF_SCHEMA on any incompatible change.
 */
import type { FindingCode, FindingSeverity, Report, VerdictCode } from './report.js';

export const DIFF_SCHEMA = 'keepalive-lab/diff@1';

/** The figures compared, in the table's order. */
export const DIFF_METRICS = [
  'connections',
  'requests',
  'requestsPerConnection',
  'reuseShare',
  'tlsFullHandshakes',
  'tlsResumedHandshakes',
  'resets',
  'timeWait',
] as const;
export type DiffMetricName = (typeof DIFF_METRICS)[number];

/** One figure before and after; null where a report cannot say (no observer, requests unknown inside TLS, no TLS). */
export interface DiffMetric {
  name: DiffMetricName;
  before: number | null;
  after: number | null;
  /** after - before; null unless both are known. */
  change: number | null;
}

/** A finding by its code, as one of the two reports has it. */
export interface DiffFinding {
  code: FindingCode;
  severity: FindingSeverity;
  summary: string;
}

/** One run of A paired with one of B (by name), or a run only one of them has. */
export interface RunDiff {
  name: string;
  /** The run's title (B's when both have it), and A's when it differs. */
  title: string;
  titleBefore: string | null;
  /** `both`: paired; `before`/`after`: only in A / only in B (no figures compared). */
  in: 'both' | 'before' | 'after';
  metrics: DiffMetric[];
  verdict: {
    before: VerdictCode | null;
    after: VerdictCode | null;
    beforeSummary: string | null;
    afterSummary: string | null;
  };
  /** Finding codes in B and not in A, and in A and not in B. */
  findingsAdded: DiffFinding[];
  findingsRemoved: DiffFinding[];
  /** Why this run is a regression, in words (empty when it is not); see docs/report-schema.md "diff". */
  regressions: string[];
}

/** Which report a side of the diff comes from. */
export interface DiffSource {
  file: string;
  command: Report['command'];
  createdAt: string;
  runs: number;
}

export interface ReportDiff {
  schema: typeof DIFF_SCHEMA;
  before: DiffSource;
  after: DiffSource;
  /** Requests per connection may fall by this share (0..1) before it counts as a regression. */
  tolerance: number;
  runs: RunDiff[];
  /** True when a run regressed (its `regressions`): `--expect-no-regression` then exits 1. */
  regression: boolean;
}
