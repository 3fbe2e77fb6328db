/** report/diff.ts and diff-text.ts: two reports compared run by run; the regression rule; text and Markdown. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildReport, runReport } from '../../../src/analyze/run-report.js';
import { experimentConfig } from '../../../src/lab/config.js';
import type { Finding, Report, RunReport } from '../../../src/model/report.js';
import { diffReports, pairRuns } from '../../../src/report/diff.js';
import { renderDiff } from '../../../src/report/diff-text.js';
import { observer, records, tlsFacts } from '../analyze/records.js';

const client = { requests: 10, completed: 10, errors: [], elapsedMs: 12 };

/** A lab run: `connections` connections carrying `each` requests each, seen by the server and the kernel. */
function labRun(name: string, connections: number, each: number, findings?: Finding[]): RunReport {
  const config = experimentConfig({ keepAlive: connections === 1 });
  const conns = records(connections, each, { closedFirstBy: 'client', timeWait: 'client' });
  return runReport(
    { name, title: `${name} title`, subject: 'http://127.0.0.1:1/', config, client },
    [observer('server', conns), observer('kernel', conns)],
    findings === undefined ? {} : { findings },
  );
}

function finding(code: Finding['code'], severity: Finding['severity']): Finding {
  return {
    code,
    severity,
    summary: `${code} happened`,
    reasoning: [],
    evidence: { server: null, count: 1, connections: [1], events: [], values: {} },
    fixes: {},
  };
}

const keepAlive = () => buildReport('run', [labRun('run', 1, 10)]);
const noKeepAlive = () => buildReport('run', [labRun('run', 10, 1, [finding('close-audit', 'info')])]);

test('diff: keep-alive then not: every figure before and after, and a regression (rpc and verdict)', () => {
  const d = diffReports(keepAlive(), noKeepAlive(), { beforeFile: 'a.json', afterFile: 'b.json' });
  assert.equal(d.schema, 'keepalive-lab/diff@1');
  assert.equal(d.before.file, 'a.json');
  assert.equal(d.runs.length, 1);
  const run = d.runs[0]!;
  assert.equal(run.in, 'both');
  const figure = (name: string) => run.metrics.find((m) => m.name === name)!;
  assert.deepEqual(figure('connections'), { name: 'connections', before: 1, after: 10, change: 9 });
  assert.deepEqual(figure('requests'), { name: 'requests', before: 10, after: 10, change: 0 });
  assert.deepEqual(figure('requestsPerConnection'), {
    name: 'requestsPerConnection',
    before: 10,
    after: 1,
    change: -9,
  });
  assert.equal(figure('reuseShare').before, 0.9);
  assert.equal(figure('reuseShare').after, 0);
  assert.deepEqual(figure('timeWait'), { name: 'timeWait', before: 1, after: 10, change: 9 });
  assert.equal(figure('tlsFullHandshakes').before, null, 'no TLS on either side');
  assert.deepEqual(run.verdict.before, 'reuse');
  assert.notEqual(run.verdict.after, 'reuse');
  assert.deepEqual(
    run.findingsAdded.map((f) => f.code),
    ['close-audit'],
  );
  assert.deepEqual(run.findingsRemoved, []);
  assert.equal(run.regressions.length, 2, run.regressions.join('\n'));
  assert.match(run.regressions[0]!, /^requests per connection fell from 10 to 1$/);
  assert.match(run.regressions[1]!, /^verdict went from reuse to /);
  assert.equal(d.regression, true);
});

test('diff: the other way round is no regression (an info finding removed, reuse better)', () => {
  const d = diffReports(noKeepAlive(), keepAlive());
  assert.equal(d.regression, false);
  assert.deepEqual(
    d.runs[0]!.findingsRemoved.map((f) => f.code),
    ['close-audit'],
  );
  assert.equal(d.runs[0]!.metrics.find((m) => m.name === 'requestsPerConnection')!.change, 9);
});

test('diff: requests per connection within the tolerance is no regression; below it is', () => {
  const before = buildReport('demo', [labRun('churn', 4, 10), labRun('x', 1, 10)]);
  const slightly = buildReport('demo', [labRun('churn', 4, 10), labRun('x', 1, 10)]);
  // 40 requests over 4 connections, then over 4 of which one carried fewer: 40 vs 37 requests.
  slightly.runs[0] = runReport(slightly.runs[0]!, [
    observer(
      'server',
      [...records(3, 10), ...records(1, 7)].map((r, i) => ({ ...r, id: i + 1 })),
    ),
  ]);
  assert.equal(diffReports(before, slightly, { tolerance: 0.1 }).regression, false, '9.25 vs 10 within 10%');
  const d = diffReports(before, slightly, { tolerance: 0.05 });
  assert.equal(d.regression, true, '9.25 vs 10 beyond 5%');
  assert.deepEqual(d.runs[0]!.regressions, ['requests per connection fell from 10 to 9.25']);
  assert.deepEqual(d.runs[1]!.regressions, []);
});

test('diff: a new warning or error finding is a regression; a new info finding is not', () => {
  const with_ = (f: Finding) => buildReport('run', [labRun('run', 1, 10, [f])]);
  assert.equal(diffReports(keepAlive(), with_(finding('close-audit', 'info'))).regression, false);
  const d = diffReports(keepAlive(), with_(finding('keepalive-race', 'error')));
  assert.ok(d.runs[0]!.regressions.some((r) => r.startsWith('new finding keepalive-race (error)')));
});

test('diff: runs paired by name (a demo), one with one whatever the names, the rest only on one side', () => {
  const a = [labRun('seq-unread', 10, 1), labRun('seq-read', 1, 10), labRun('gone', 1, 10)];
  const b = [labRun('seq-read', 1, 10), labRun('seq-unread', 1, 10), labRun('new', 1, 10)];
  const pairs = pairRuns(a, b).map(([x, y]) => [x?.name, y?.name]);
  assert.deepEqual(pairs, [
    ['seq-unread', 'seq-unread'],
    ['seq-read', 'seq-read'],
    ['gone', undefined],
    [undefined, 'new'],
  ]);
  assert.deepEqual(
    pairRuns([a[0]!], [b[2]!]).map(([x, y]) => [x?.name, y?.name]),
    [['seq-unread', 'new']],
  );
  const d = diffReports(buildReport('demo', a), buildReport('demo', b));
  assert.deepEqual(
    d.runs.map((r) => r.in),
    ['both', 'both', 'before', 'after'],
  );
  assert.equal(d.regression, false, 'only-one-side runs are listed, not regressions');
});

test('diff: requests unknown inside TLS give no requests figures; handshakes are counted', () => {
  const tls = (handshake: 'full' | 'resumed') =>
    records(2, 0, { tls: tlsFacts({ handshake }) }).map((r) => ({ ...r, notes: [] }));
  const run = (h: 'full' | 'resumed') =>
    runReport({ name: 'cap', title: 'cap', subject: 'x.pcap', config: null, client: null }, [observer('wire', tls(h))]);
  const d = diffReports(buildReport('analyze', [run('full')]), buildReport('analyze', [run('resumed')]));
  const m = (name: string) => d.runs[0]!.metrics.find((x) => x.name === name)!;
  assert.equal(m('requests').before, null);
  assert.equal(m('requestsPerConnection').after, null);
  assert.deepEqual([m('tlsFullHandshakes').before, m('tlsFullHandshakes').after], [2, 0]);
  assert.deepEqual([m('tlsResumedHandshakes').before, m('tlsResumedHandshakes').after], [0, 2]);
});

test('diff text: a table per run, the verdict, findings, regressions, one result line; Markdown escapes cells', () => {
  const b: Report = noKeepAlive();
  b.runs[0]!.title = 'a | pipe';
  const d = diffReports(keepAlive(), b, { beforeFile: 'a.json', afterFile: 'b.json' });
  const text = renderDiff(d);
  assert.match(text, /^before: a\.json \(run, .*, 1 run\)\nafter: {2}b\.json/);
  assert.match(text, /requests per connection\s+10\s+1\s+-9 worse/);
  assert.match(text, /reuse share\s+90%\s+0%\s+-90 pt/);
  assert.ok(!text.includes('TLS'), 'rows neither report has are left out');
  assert.match(text, /finding added: close-audit \(info\)/);
  assert.match(text, /\nregression: 1 of 1 runs compared got worse\n$/);
  const md = renderDiff(d, { format: 'markdown' });
  assert.match(md, /^#### 1\. run title -> a \\\| pipe$/m);
  assert.match(md, /^\| metric \| before \| after \| change \|\n\| --- \| ---: \| ---: \| ---: \|$/m);
  assert.match(md, /^\| requests per connection \| 10 \| 1 \| \*\*-9\*\* worse \|$/m);
  assert.match(md, /^- \*\*regression\*\*: requests per connection fell from 10 to 1$/m);
  for (const line of md.split('\n').filter((l) => l.startsWith('|')))
    assert.equal(line.split(/(?<!\\)\|/).length, 6, line);
  const fitted = renderDiff(d, { width: 60 });
  for (const line of fitted.trimEnd().split('\n')) assert.ok(line.length <= 60, line);
  const none = renderDiff(diffReports(keepAlive(), keepAlive()));
  assert.match(none, /verdict: reuse \(unchanged\)/);
  assert.match(none, /\nno regression\n$/);
});
