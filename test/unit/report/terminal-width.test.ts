/**
 * renderTerminal fitted to a terminal (`width`): the demo's table, 200 columns whole, at 80 and 100
 * columns: every line fits, verdicts wrap in their column, the columns left out are named; findings
 * and notes under it wrap too. Without a width (a pipe, --wide) nothing changes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildReport, runReport } from '../../../src/analyze/run-report.js';
import { experimentConfig } from '../../../src/lab/config.js';
import type { RunReport } from '../../../src/model/report.js';
import { renderTerminal } from '../../../src/report/terminal.js';
import { fitTable, wrapLines } from '../../../src/report/text.js';
import { observer, records } from '../analyze/records.js';

/** The demo's rows (README, "What the demo prints"): titles and verdicts as long as they come. */
const DEMO: [string, number, number, string][] = [
  ['sequential, body never read', 10, 1, 'body never read: each request needed a new connection'],
  ['sequential, body read to the end', 1, 10, 'reuse working: 10 requests over 1 connection'],
  [
    '10 workers x 10, idle pool 2',
    42,
    2,
    'idle pool too small: 42 connections for 100 requests; with 10 workers and room for 2 idle sockets, the rest were closed and reopened',
  ],
  ['10 workers x 10, idle pool 10', 10, 10, 'reuse working: 100 requests over 10 connections'],
  ['fetch, 16 KB body never read', 10, 1, 'body never read: each request needed a new connection'],
  [
    'server sends Connection: close',
    10,
    1,
    'the server closes every connection (Connection: close): each request needed a new connection',
  ],
];

function demoRun([title, connections, each, verdict]: (typeof DEMO)[number], i: number): RunReport {
  const client = { requests: connections * each, completed: connections * each, errors: [], elapsedMs: 206 };
  const head = { name: `e${i}`, title, subject: 'http://127.0.0.1:1/', config: experimentConfig(), client };
  const conns = records(connections, each, { closedFirstBy: 'client', timeWait: 'client' });
  const run = runReport(head, [observer('server', conns), observer('kernel', conns), observer('wire', conns)]);
  run.verdict.summary = verdict;
  return run;
}

const report = buildReport('demo', DEMO.map(demoRun));

function widest(text: string): number {
  return Math.max(...text.split('\n').map((l) => l.length));
}

test('demo table: whole without a width (a pipe, --wide), wider than 150 columns', () => {
  const whole = renderTerminal(report);
  assert.ok(widest(whole) > 150, `widest ${widest(whole)}`);
  assert.match(whole.split('\n')[0]!, /^#\s+experiment\s+requests\s+conns\s+req\/conn\s+reused\s+SYNs\s+closed first/);
  assert.ok(!whole.includes('left out'));
});

for (const width of [80, 100, 200]) {
  test(`demo table at ${width} columns: every line fits, every verdict word is there`, () => {
    const text = renderTerminal(report, { width, connections: true });
    for (const line of text.trimEnd().split('\n')) assert.ok(line.length <= width, `${line.length}: ${line}`);
    const words = text.split(/\s+/);
    for (const [title, , , verdict] of DEMO)
      for (const word of `${title} ${verdict}`.split(' ')) assert.ok(words.includes(word), `${word} is shown whole`);
    const header = text.split('\n')[0]!;
    for (const kept of ['experiment', 'requests', 'conns', 'req/conn', 'verdict'])
      assert.ok(header.includes(kept), kept);
    if (width < 150) assert.match(text, new RegExp(`left out to fit ${width} columns: .*SYNs`));
    else assert.ok(!/left out to fit 200 columns: .*reused/.test(text), 'at 200 the counts all stay');
  });
}

test('fitTable: wraps the roomiest column between words, leaves columns out by priority, names them', () => {
  const rows = [
    ['#', 'name', 'extra', 'verdict'],
    ['1', 'short', 'xxxxxxxxxx', 'the quick brown fox jumps over the lazy dog'],
  ];
  const columns = [
    { align: 'right' as const },
    { align: 'left' as const },
    { align: 'left' as const, drop: 1 },
    { align: 'left' as const },
  ];
  const whole = fitTable(rows, columns, 100);
  assert.deepEqual(whole.dropped, []);
  assert.equal(whole.text.split('\n').length, 2);
  const wrapped = fitTable(rows, columns, 40);
  assert.deepEqual(wrapped.dropped, []);
  assert.deepEqual(wrapped.text.split('\n'), [
    '#  name   extra       verdict',
    '1  short  xxxxxxxxxx  the quick brown',
    '                      fox jumps over the',
    '                      lazy dog',
  ]);
  const narrow = fitTable(rows, columns, 22);
  assert.deepEqual(narrow.dropped, ['extra']);
  for (const line of narrow.text.split('\n')) assert.ok(line.length <= 22, line);
});

test('wrapLines: between words, a word longer than the width cut, a styled cell styled on each line', () => {
  assert.deepEqual(wrapLines('aa bb cc', 5), ['aa bb', 'cc']);
  assert.deepEqual(wrapLines('abcdefgh', 3), ['abc', 'def', 'gh']);
  assert.deepEqual(wrapLines('\x1b[31maa bb\x1b[0m', 2), ['\x1b[31maa\x1b[0m', '\x1b[31mbb\x1b[0m']);
});
