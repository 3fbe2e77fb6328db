/**
 * The register's report files (KEEPALIVE_LAB_REPORT=x.json|x.html, KEEPALIVE_LAB_REPORT_DIR): the
 * process's view as a Report, the schema every command writes. Loaded by register.ts only when a file
 * is asked for: it brings the whole report (run-report's findings and verdict, the renderers).
 */
import { writeFileSync } from 'node:fs';
import { runReport } from './analyze/run-report.js';
import { REPORT_SCHEMA } from './model/report.js';
import type { Report } from './model/report.js';
import type { ProcessView } from './observe/in-process/tracker.js';
import { renderHtml } from './report/html.js';
import { renderJson } from './report/json.js';
import { VERSION } from './version.js';

/** A Report (the schema every command writes) holding the process's one run. */
export function processReport(view: ProcessView): Report {
  const run = runReport(
    {
      name: 'process',
      title: `process ${process.pid}: ${process.argv.slice(1).join(' ')}`.slice(0, 200),
      subject: `pid ${process.pid}`,
      config: null,
      client: null,
    },
    [view.observer],
    { findings: view.findings },
  );
  run.process = view.process;
  return {
    schema: REPORT_SCHEMA,
    tool: { name: 'keepalive-lab', version: VERSION },
    command: 'register',
    createdAt: new Date().toISOString(),
    runs: [run],
  };
}

/** Writes the report to each path (`.html`: HTML, else JSON); the ones that failed, with why. */
export function writeReportFiles(view: ProcessView, paths: readonly string[]): { path: string; reason: string }[] {
  const failed: { path: string; reason: string }[] = [];
  let report: Report | undefined;
  for (const path of paths) {
    try {
      report ??= processReport(view);
      writeFileSync(path, path.toLowerCase().endsWith('.html') ? renderHtml(report) : renderJson(report));
    } catch (error) {
      failed.push({ path, reason: (error as { code?: string }).code ?? String(error) });
    }
  }
  return failed;
}
