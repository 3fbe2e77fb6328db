/** report/summary.ts: one choice of sources for a run's summary row, shared by the terminal and HTML rows. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildReport, runReport, unavailableReport } from '../../../src/analyze/run-report.js';
import { experimentConfig } from '../../../src/lab/config.js';
import type { RunReport } from '../../../src/model/report.js';
import { renderHtml } from '../../../src/report/html.js';
import { runSummary } from '../../../src/report/summary.js';
import { renderSummary } from '../../../src/report/terminal.js';
import { observer, records } from '../analyze/records.js';

const client = { requests: 6, completed: 6, errors: [], elapsedMs: 12 };
const head = { name: 'x', title: 'kernel only', subject: 'http://127.0.0.1:1/', config: experimentConfig(), client };

/** The HTML summary row of the only run, its cells as text. */
function htmlRow(run: RunReport): string[] {
  const html = renderHtml(buildReport('run', [run]));
  const row = /<tr><td>1<\/td>(.*?)<\/tr>/.exec(html)![1]!;
  return [...row.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1]!);
}

test('summary: the kernel alone cannot count requests: the client does, in both renderers', () => {
  const run = runReport(head, [
    observer('kernel', records(3, 0)),
    unavailableReport('wire', { reason: 'no tcpdump', fix: 'install it', seesRequests: true }),
  ]);
  const f = runSummary(run);
  assert.equal(f.primary?.observer, 'kernel');
  assert.equal(f.requests, 6);
  assert.equal(f.connections, 3);
  assert.equal(f.syns, null, 'SYNs only from the wire');
  assert.deepEqual(f.available, ['kernel']);
  assert.deepEqual(f.timeWait, { client: 3, server: 0 });
  assert.deepEqual(htmlRow(run).slice(0, 5), ['kernel only', '6', '3', '2', '-']);
  assert.match(
    renderSummary([run]).split('\n')[1]!,
    /^1\s+kernel only\s+6\s+3\s+2\s+0\s+-\s+client\s+3 client\s+12 ms\s+kernel/,
  );
});

test('summary: the wire first; SYNs and TIME_WAIT from where they are seen; no connection, no ratio', () => {
  const run = runReport(head, [
    observer('server', records(2, 3)),
    observer('kernel', records(2, 0, { timeWait: 'server' })),
    observer('wire', records(2, 3), { syns: 1 }),
  ]);
  const f = runSummary(run);
  assert.equal(f.primary?.observer, 'wire');
  assert.equal(f.requests, 6);
  assert.equal(f.requestsPerConnection, 3);
  assert.equal(f.syns, 1);
  assert.deepEqual(f.timeWait, { client: 0, server: 2 }, "the kernel's table, the direct evidence");
  assert.equal(htmlRow(run)[4], '1');
  const empty = runSummary(runReport({ ...head, client: null }, [observer('wire', [])]));
  assert.equal(empty.requestsPerConnection, null);
  assert.equal(empty.elapsedMs, null);
  assert.equal(htmlRow(runReport({ ...head, client: null }, [observer('wire', [])]))[3], '-');
});
