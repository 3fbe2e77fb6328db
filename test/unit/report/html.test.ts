import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildReport } from '../../../src/analyze/run-report.js';
import { escapeHtml, renderHtml } from '../../../src/report/html.js';
import type { RunReport } from '../../../src/model/report.js';
import { observer, record, records } from '../analyze/records.js';

function run(fields: Partial<RunReport> = {}): RunReport {
  return {
    name: 'r',
    title: 'sequential <unread>',
    subject: 'http://127.0.0.1:8080/',
    config: null,
    client: null,
    observers: [
      observer('wire', [
        record({ id: 1, requests: 3, start: 1000, end: 1100 }),
        record({ id: 2, start: 1050, end: 1200, resetBy: 'client', closedFirstBy: null }),
      ]),
    ],
    agreement: { agree: true, differences: [] },
    verdict: { code: 'reuse', summary: 'reuse working: 4 requests over 2 connections' },
    findings: [],
    warnings: [{ code: 'KAL_WARN_DURATION', message: 'a <warning> & more' }],
    ...fields,
  };
}

test('html: escapes what it is given', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const html = renderHtml(buildReport('demo', [run()]));
  assert.ok(html.includes('sequential &lt;unread&gt;'));
  assert.ok(html.includes('a &lt;warning&gt; &amp; more'));
  assert.ok(!html.includes('<unread>'));
});

test('html: one self-contained page, a bar per connection coloured by what it carried', () => {
  const html = renderHtml(buildReport('demo', [run()]));
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html, /<script|<link|\ssrc=|@import/); // nothing to run, nothing fetched
  assert.equal((html.match(/<rect /g) ?? []).length, 2);
  assert.match(html, /fill="#2da44e"/); // several requests
  assert.match(html, /fill="#cf222e"/); // reset
  assert.match(html, /reuse working: 4 requests over 2 connections/);
});

test('html: long timelines are cut, unavailable observers say why', () => {
  const many = run({
    observers: [
      observer('wire', records(600, 1)),
      { ...observer('kernel', []), available: false, reason: 'no /proc', fix: 'use Linux' },
    ],
  });
  const html = renderHtml(buildReport('analyze', [many]));
  assert.equal((html.match(/<rect /g) ?? []).length, 500);
  assert.match(html, /100 more connections not drawn/);
  assert.match(html, /unavailable: no \/proc \(fix: use Linux\)/);
});
