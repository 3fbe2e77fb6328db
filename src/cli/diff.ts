import { readFile } from 'node:fs/promises';
import { ExpectationFailedError, FileError, NotAReportError, readFailure, UsageError } from '../errors.js';
import { REPORT_SCHEMA } from '../model/report.js';
import type { Report } from '../model/report.js';
import { DEFAULT_TOLERANCE, diffReports } from '../report/diff.js';
import { renderDiff } from '../report/diff-text.js';
import { COLOR, PLAIN } from '../report/text.js';
import { decimal, flag, oneOf, parse } from './args.js';
import type { Command } from './command.js';
import { terminalOptions, TERMINAL_OPTIONS, TERMINAL_USAGE } from './output.js';

export const diff: Command = {
  name: 'diff',
  usage: `Usage: keepalive-lab diff A.json B.json [options]

Compares two reports written by --json (run, demo, watch, analyze, proxy; before and after a fix, or
two commits in CI). Runs are paired by name (a demo's experiments), or one with one. Per run:
connections, requests, requests per connection, reuse share, TLS handshakes full and resumed,
resets, TIME_WAIT, before and after; findings added and removed (by code); the verdict's change.

  --format text|markdown   aligned columns (default), or Markdown tables to paste into a pull request
  --json                   print the comparison as JSON (schema: docs/report-schema.md, "diff")
  --expect-no-regression   exit 1 when reuse got worse in a run: requests per connection fell by more
                           than the tolerance, a finding of severity error or warning appeared, or
                           the verdict was reuse and is something else now
  --tolerance PCT          how far (in %) requests per connection may fall before it counts
                           (default ${DEFAULT_TOLERANCE * 100})
${TERMINAL_USAGE}
  -h, --help               this help

Example: keepalive-lab diff before.json after.json --format markdown --expect-no-regression`,
  async run(argv, io) {
    const p = parse(
      argv,
      {
        format: { type: 'string' },
        json: { type: 'boolean' },
        'expect-no-regression': { type: 'boolean' },
        tolerance: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...TERMINAL_OPTIONS,
      },
      true,
    );
    if (flag(p, 'help')) {
      io.stdout.write(diff.usage + '\n');
      return 0;
    }
    if (p.positionals.length !== 2)
      throw new UsageError(`give two reports, before and after (A.json B.json), got ${p.positionals.length}`);
    const format = oneOf(p, 'format', ['text', 'markdown'] as const) ?? 'text';
    if (flag(p, 'json') && p.values.format !== undefined) throw new UsageError('--json and --format: give one');
    const tolerancePct = decimal(p, 'tolerance', 0);
    if (tolerancePct !== undefined && tolerancePct > 100)
      throw new UsageError(`--tolerance must be a percentage from 0 to 100, got '${tolerancePct}'`);
    const terminal = terminalOptions(io, p);
    const [a, b] = p.positionals as [string, string];
    const [before, after] = await Promise.all([readReport(a), readReport(b)]);
    const result = diffReports(before, after, {
      beforeFile: a,
      afterFile: b,
      tolerance: tolerancePct === undefined ? DEFAULT_TOLERANCE : tolerancePct / 100,
    });
    if (flag(p, 'json')) io.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else
      io.stdout.write(
        renderDiff(result, {
          format,
          // Markdown is for pasting: never colours.
          style: terminal.color && format === 'text' ? COLOR : PLAIN,
          ...(terminal.width === undefined ? {} : { width: terminal.width }),
        }),
      );
    if (flag(p, 'expect-no-regression') && result.regression) {
      const regressed = result.runs.filter((r) => r.regressions.length > 0);
      const first = regressed[0]!;
      const more = regressed.length > 1 ? ` (and ${regressed.length - 1} more runs)` : '';
      throw new ExpectationFailedError(`reuse got worse in ${first.name}: ${first.regressions.join('; ')}${more}`);
    }
    return 0;
  },
};

/** A report file, read and checked to be one: any failure is one line naming the file. */
export async function readReport(path: string): Promise<Report> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new FileError(`cannot read ${path}: ${readFailure(error)}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const hint = text.trimStart().startsWith('{') ? '' : ' (was the output of something else mixed in?)';
    throw new NotAReportError(path, `is not JSON: ${(error as Error).message}${hint}`, { cause: error });
  }
  const report = value as Partial<Report> | null;
  if (report === null || typeof report !== 'object' || !('schema' in report))
    throw new NotAReportError(path, 'is not a keepalive-lab report (no "schema"; write one with --json)');
  if (report.schema !== REPORT_SCHEMA)
    throw new NotAReportError(path, `has schema ${String(report.schema)}; this version reads ${REPORT_SCHEMA}`);
  if (!Array.isArray(report.runs)) throw new NotAReportError(path, 'has no runs[]');
  return report as Report;
}
