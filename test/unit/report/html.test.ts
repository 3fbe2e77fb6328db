import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { buildReport } from '../../../src/analyze/run-report.js';
import { escapeHtml, renderHtml } from '../../../src/report/html.js';
import { MAX_PAGE_EXCHANGES, type PageData } from '../../../src/report/html/data.js';
import {
  MAX_EXCHANGES_LISTED,
  type ConnectionRecord,
  type Finding,
  type RunReport,
} from '../../../src/model/report.js';
import { processOrigin, processSummary } from '../../support/process-view.js';
import { observer, record, records, tlsFacts, tlsRecords } from '../analyze/records.js';

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

/** The page's embedded data, read back as the browser script reads it. */
function embedded(html: string): PageData {
  const m = /<script type="application\/json" id="kal-data">([^<]*)<\/script>/.exec(html);
  assert.ok(m, 'the data is embedded');
  return JSON.parse(m[1]!) as PageData;
}

/** The page's connections of run `run`, as objects (the browser script unpacks them the same way). */
function connections(html: string, run = 0): Record<string, unknown>[] {
  const data = embedded(html);
  return data.runs[run]!.connections.map((values) => Object.fromEntries(data.fields.map((f, k) => [f, values[k]])));
}

test('html: one self-contained page: its own script only (by hash), the data as JSON, nothing fetched', () => {
  const html = renderHtml(buildReport('demo', [run()]));
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html, /\s(src|href)="(?!#|data:,")|@import|url\(/, 'nothing fetched');
  const scripts = [...html.matchAll(/<script([^>]*)>([^]*?)<\/script>/g)];
  assert.deepEqual(
    scripts.map((m) => m[1]),
    [' type="application/json" id="kal-data"', ''],
  );
  const hash = createHash('sha256').update(scripts[1]![2]!).digest('base64');
  assert.ok(html.includes(`script-src 'sha256-${hash}'`), 'the policy allows that script and no other');
  assert.match(html, /default-src 'none'/);
  assert.equal(html.match(/<canvas id="kal-timeline">/g)?.length, 1);
  assert.match(html, /reuse working: 4 requests over 2 connections/);
  const [first, second] = connections(html);
  assert.deepEqual([first!.id, first!.requests, first!.start, first!.end], [1, 3, 0, 100]);
  assert.deepEqual([second!.id, second!.resetBy, second!.start], [2, 'client', 50]);
});

test('html: summary cards per run: connections, requests, per connection, reuse share, handshakes, resets', () => {
  const html = renderHtml(buildReport('demo', [run()]));
  const cards = [...html.matchAll(/<div class="card"><div class="value">([^<]*)<\/div><div>([^<]*)<\/div>/g)].map(
    (m) => `${m[2]}: ${m[1]}`,
  );
  assert.deepEqual(cards.slice(0, 4), [
    'connections: 2',
    'requests: 4',
    'requests per connection: 2',
    'reuse share: 50%',
  ]);
  assert.match(cards[4]!, /^handshakes: /);
  assert.equal(cards[5], 'resets: 1 (client 1, server 0)');
});

test('html: a demo: runs on one time scale, each from its own start', () => {
  const later = run({
    observers: [observer('wire', [record({ id: 1, requests: 2, start: 900_000, end: 900_040 })])],
  });
  const html = renderHtml(buildReport('demo', [run(), later]));
  const data = embedded(html);
  assert.equal(data.runs.length, 2);
  assert.deepEqual([data.runs[0]!.origin, data.runs[1]!.origin], [1000, 900_000]);
  assert.deepEqual([connections(html, 1)[0]!.start, connections(html, 1)[0]!.end], [0, 40]);
});

test('html: exchanges, idle timeouts and finding events reach the page; traffic text stays data', () => {
  const r = record({ id: 1, requests: 1, start: 1000, end: 1100, keepAliveTimeoutS: 5 });
  r.exchanges = [{ at: 1010, end: 1020.5, method: 'GET', path: '/<script>alert(1)</script>', status: 200 }];
  const html = renderHtml(
    buildReport('analyze', [run({ observers: [observer('wire', [r])], findings: [hostileFinding()] })]),
  );
  const [c] = connections(html);
  assert.deepEqual(c!.exchanges, [[10, 20.5, 'GET', '/<script>alert(1)</script>', 200]]);
  assert.equal(c!.idleTimeoutMs, 5000, "the server's advertised timeout, no idle close measured");
  assert.ok(html.includes('/\\u003cscript>alert(1)\\u003c/script>'), 'every < escaped in the JSON');
  const marks = embedded(html).runs[0]!.marks;
  assert.deepEqual(
    marks.map((m) => [m.connection, m.at, m.code]),
    [[2, 100, 'keepalive-race']],
  );
});

test('html: TLS connections without the keys: requests unknown, never "0 requests"; the estimate named as one', () => {
  const encrypted = run({
    observers: [observer('wire', tlsRecords(2, { estimatedExchanges: 4 }))],
    verdict: { code: 'encrypted', summary: '2 TLS connections: requests unknown without the TLS keys' },
  });
  const html = renderHtml(buildReport('analyze', [encrypted]));
  // The summary row: requests "?", requests per connection "?".
  assert.match(html, /<td>1<\/td><td>sequential &lt;unread&gt;<\/td><td>\?<\/td><td>2<\/td><td>\?<\/td>/);
  // The observer's row says why.
  assert.match(html, /<td>\? <span class="info">\(unknown on 2 encrypted connections\)<\/span><\/td>/);
  // Each lane: requests unknown (the page shows "?" and says why), never 0 requests.
  assert.deepEqual(
    connections(html).map((c) => c.unknown),
    [true, true],
  );
  // Beside a connection counted in the clear: "3+?".
  const mixed = run({
    observers: [observer('wire', [record({ id: 1, requests: 3 }), record({ id: 2, requests: 0, tls: tlsFacts() })])],
  });
  const page = renderHtml(buildReport('analyze', [mixed]));
  assert.match(page, /<td>3\+\?<\/td><td>2<\/td><td>\?<\/td>/);
  assert.match(page, /<td>3\+\? <span class="info">\(unknown on 1 encrypted connection\)<\/span><\/td>/);
});

test('html: every connection kept is in the page; unavailable observers say why', () => {
  const many = run({
    observers: [
      observer('wire', records(600, 1)),
      { ...observer('kernel', []), available: false, reason: 'no /proc', fix: 'use Linux' },
    ],
  });
  const html = renderHtml(buildReport('analyze', [many]));
  assert.equal(connections(html).length, 600);
  assert.match(html, /unavailable: no \/proc \(fix: use Linux\)/);
});

/** A finding whose every text is hostile: the page must show it as text. */
function hostileFinding(): Finding {
  return {
    code: 'keepalive-race',
    severity: 'error',
    summary: 'keep-alive race on /<script>alert(1)</script>',
    reasoning: ['because <b>bold</b> & "quoted"'],
    evidence: {
      server: { address: '127.0.0.1', port: 8080 },
      count: 12,
      connections: [2, 3],
      events: [{ connection: 2, at: 1100, what: 'GET /<img src=x onerror=alert(1)> lost' }],
      values: { requestsLost: 2, path: '/<script>x</script>', serverIdleTimeoutMs: null },
    },
    fixes: {
      'node-http': 'new http.Agent({ timeout: 750 }) <script>',
      go: "IdleConnTimeout: 750 * time.Millisecond & 'x'",
    },
  };
}

test('html: each finding with its severity, summary, evidence and fix per runtime, all escaped', () => {
  const info: Finding = {
    ...hostileFinding(),
    code: 'close-audit',
    severity: 'info',
    summary: 'close audit',
    fixes: {},
  };
  const report = buildReport('proxy', [
    run({
      verdict: { code: 'keepalive-race', summary: 'keep-alive race on /<script>alert(1)</script>' },
      findings: [hostileFinding(), info],
    }),
  ]);
  const html = renderHtml(report);
  const page = html.replace(/<script[^>]*>[^]*?<\/script>/g, '');
  assert.equal(html.split('<script').length - 1, 2, "the page's own two scripts");
  assert.doesNotMatch(page, /<script|<img|<b>/, 'no markup from the report gets through');
  const json = html.split('id="kal-data">')[1]!.split('</script>')[0]!;
  assert.doesNotMatch(json, /</, 'no < in the embedded data');
  assert.equal(
    embedded(html).runs[0]!.marks[0]!.what,
    'GET /<img src=x onerror=alert(1)> lost',
    'read back as written',
  );
  assert.equal((html.match(/<div class="finding /g) ?? []).length, 2);
  const [race, audit] = html.split('<div class="finding ').slice(1) as [string, string];
  assert.match(race, /^error" id="run-1-finding-1">/);
  assert.match(
    race,
    /<span class="bad">error<\/span> <code>keepalive-race<\/code> keep-alive race on \/&lt;script&gt;/,
  );
  assert.ok(race.includes('<li>because &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;</li>'));
  assert.ok(race.includes('evidence: server 127.0.0.1:8080, 12 connections: 2, 3, ... (12 in all)'));
  // Values measured are shown, those not measured (null) are not; events from the first connection's start.
  assert.ok(race.includes('<tr><th>requestsLost</th><td>2</td></tr>'));
  assert.ok(race.includes('<tr><th>path</th><td>/&lt;script&gt;x&lt;/script&gt;</td></tr>'));
  assert.ok(!race.includes('serverIdleTimeoutMs'));
  assert.ok(race.includes('<li>#2 at +100 ms: GET /&lt;img src=x onerror=alert(1)&gt; lost</li>'));
  assert.ok(race.includes('<tr><th>node-http</th><td>new http.Agent({ timeout: 750 }) &lt;script&gt;</td></tr>'));
  assert.ok(race.includes('<tr><th>go</th><td>IdleConnTimeout: 750 * time.Millisecond &amp; &#39;x&#39;</td></tr>'));
  assert.match(audit, /^info" id="run-1-finding-2">\n<p><span class="info">info<\/span> <code>close-audit<\/code>/);
  assert.ok(!audit.includes('fix for'), 'no fix, no table');
  // The verdict names the finding it comes from, in the summary table and the run's section.
  const link = '<a href="#run-1-finding-1">(error: keepalive-race)</a>';
  assert.equal(html.split(link).length - 1, 2);
});

test('html: a verdict no finding heads links nowhere; no findings, no section', () => {
  const html = renderHtml(buildReport('demo', [run()]));
  assert.doesNotMatch(html, /<h3>Findings<\/h3>|href="#run-/);
  const audit: Finding = { ...hostileFinding(), code: 'close-audit', severity: 'info' };
  const withInfo = renderHtml(buildReport('demo', [run({ findings: [audit] })]));
  assert.match(withInfo, /<h3>Findings<\/h3>/);
  assert.doesNotMatch(withInfo, /href="#run-/, 'the verdict (reuse) is not the finding');
});

test('html: at most MAX_PAGE_EXCHANGES exchanges in a page; the lanes beyond show their busy periods', () => {
  const per = MAX_EXCHANGES_LISTED;
  const n = MAX_PAGE_EXCHANGES / per + 2;
  const many: ConnectionRecord[] = [];
  for (let id = 1; id <= n; id++) {
    const r = record({ id, requests: per, start: 1000 + id, end: 2000 + id });
    r.exchanges = Array.from({ length: per }, (_, k) => ({
      at: 1000 + id + k,
      end: 1000.5 + id + k,
      method: 'GET',
      path: '/',
      status: 200,
    }));
    r.busyAt = [1000 + id, 1000 + id + per];
    many.push(r);
  }
  const lanes = connections(renderHtml(buildReport('analyze', [run({ observers: [observer('wire', many)] })])));
  const listed = lanes.map((c) => (c.exchanges as unknown[]).length);
  assert.equal(
    listed.reduce((a, b) => a + b, 0),
    MAX_PAGE_EXCHANGES,
  );
  assert.deepEqual(listed.slice(-3), [per, 0, 0]);
  assert.deepEqual([lanes.at(-1)!.exchangesOmitted, (lanes.at(-1)!.busy as number[]).length], [per, 2]);
});

test("html: a run's process view: its origins and its own findings, escaped", () => {
  const finding: Finding = { ...hostileFinding(), code: 'body-not-read', summary: 'made at /<i>app</i>.js:3:1' };
  const origin = processOrigin('http://127.0.0.1:8080/<b>', {
    clients: ['undici'],
    requests: 6,
    reusedRequests: 3,
    reuseShare: 0.5,
    responses: 6,
    errors: { ECONNRESET: 1 },
    connectionsOpened: 3,
    connectionsClosed: 3,
    closeReasons: { 'server-closed': 3 },
    ttfbMs: { mean: 1.5, max: 4 },
    keepAliveHintS: 5,
  });
  const process = processSummary([origin], { findings: [finding], pids: [7] });
  const html = renderHtml(buildReport('watch', [run({ process })]));
  assert.match(html, /<h3>Seen by the 1 Node process \(7\)<\/h3>/);
  assert.match(html, /<td class="text">http:\/\/127\.0\.0\.1:8080\/&lt;b&gt;<\/td><td>6<\/td><td>3 \(50%\)<\/td>/);
  assert.match(html, /server-closed 3<\/td><td class="text">ECONNRESET 1<\/td><td>1.50 \/ 4<\/td><td>5 s<\/td>/);
  assert.match(html, /id="run-1-process-finding-1"/);
  assert.ok(html.includes('made at /&lt;i&gt;app&lt;/i&gt;.js:3:1'));
  assert.equal(html.includes('<i>app'), false);
  assert.equal(renderHtml(buildReport('watch', [run()])).includes('Seen by the'), false);
});
