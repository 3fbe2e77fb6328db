/**
 * The findings census (test/support/tshark-check.ts censusLine, bench/census-findings.ts): a line per
 * capture with the findings raised on it, and the table per finding code a person checks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { censusTable, readCensus } from '../../../bench/census-findings.js';
import { runReport } from '../../../src/analyze/run-report.js';
import { censusLine } from '../../support/tshark-check.js';
import { observer, record } from '../analyze/records.js';

const head = { name: 'x', title: 'x', subject: 'x', config: null, client: null };

test('census: a line per capture names its findings; the table counts the captures raising each', () => {
  // Three connections the server closed after exactly 4 requests, announced: a close audit (info).
  const capped = runReport(head, [
    observer(
      'wire',
      [1, 2, 3].map((id) =>
        record({ id, requests: 4, responses: 4, closedFirstBy: 'server', closeAsked: { server: 'connection-close' } }),
      ),
    ),
  ]);
  const plain = runReport(head, [observer('wire', [record({ id: 1, requests: 2, responses: 2 })])]);
  const lines = [
    censusLine({ file: 'dist/test/a.test.js', test: 'capped', origin: 'test/a.test.ts:10' }, capped),
    censusLine({ file: 'dist/test/b.test.js', test: 'plain', origin: 'test/b.test.ts:20' }, plain, 'fuzzed'),
  ];
  assert.deepEqual(lines[0]!.findings, [{ code: 'close-audit', severity: 'info', connections: 3 }]);
  assert.equal(lines[0]!.connections, 3);
  assert.deepEqual(lines[1]!.findings, []);
  assert.equal(lines[1]!.excluded, 'fuzzed');
  const table = censusTable(readCensus(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'));
  assert.match(table, /^2 captures analyzed in 2 test files; 1 raise no finding, 1 raise at least one\n/);
  assert.match(table, /\nkeepalive-race {3}0\n/);
  assert.match(table, /\nclose-audit {6}1\n/);
  assert.match(table, /\nclose-audit:\n {2}capped \[test\/a\.test\.ts:10\]: info, 3 of 3 connections$/);
});
