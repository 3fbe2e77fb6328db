import type { Report } from '../model/report.js';

/** `--json` prints the Report object as it is (docs/report-schema.md). */
export function renderJson(report: Report): string {
  return JSON.stringify(report, null, 2) + '\n';
}
