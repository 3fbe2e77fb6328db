/** renderTerminal: a Report in, a string out; expected output written inline. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeTotals } from '../../../src/analyze/totals.js';
import { REPORT_SCHEMA } from '../../../src/model/report.js';
import type {
  CaptureSummary,
  ConnectionRecord,
  Finding,
  ObserverReport,
  Report,
  RunReport,
} from '../../../src/model/report.js';
import { renderConnections, renderTerminal, renderTotals } from '../../../src/report/terminal.js';
import { processOrigin, processSummary } from '../../support/process-view.js';
import { record, tlsFacts } from '../analyze/records.js';

/** The text without ANSI SGR sequences (ESC [ ... m). */
function visibleText(s: string): string {
  return s
    .split('\x1b[')
    .map((part, i) => (i === 0 ? part : part.slice(part.indexOf('m') + 1)))
    .join('');
}

const T0 = 1_700_000_000_000;

function conn(id: number, fields: Partial<ConnectionRecord>): ConnectionRecord {
  return record({
    id,
    client: { address: '127.0.0.1', port: 50000 + id },
    start: T0,
    end: T0 + 12,
    handshakeRttMs: 0.05,
    ...fields,
  });
}

const CONNECTIONS: ConnectionRecord[] = [
  conn(1, { requests: 4, responses: 4, statusCodes: [200, 200, 200, 404], idleGapsMs: [3, 250.4, 1200] }),
  conn(2, { start: T0 + 1500, end: T0 + 1502.5, closedFirstBy: 'server', timeWait: 'server', statusCodes: [301] }),
  conn(3, {
    client: { address: '2001:db8::1', port: 40000 },
    server: { address: '2001:db8::2', port: 80 },
    start: T0 + 20,
    end: T0 + 20_020,
    handshakeRttMs: null,
    requests: 0,
    responses: 0,
    statusCodes: [],
    closedFirstBy: null,
    timeWait: null,
    startedBefore: true,
    openAtEnd: true,
    notes: ['not HTTP/1.x'],
  }),
  conn(4, { closedFirstBy: null, timeWait: null, resetBy: 'server', notes: ['2 retransmitted segments'] }),
];

const CAPTURE: CaptureSummary = {
  format: 'pcapng',
  linkTypes: [1, 276],
  bytes: 123456,
  frames: 60,
  tcpPackets: 52,
  analyzedPackets: 40,
  nonIp: 3,
  nonTcp: 5,
  fragments: 0,
  truncated: 2,
  malformed: 0,
};

function wire(connections: ConnectionRecord[]): ObserverReport {
  return {
    observer: 'wire',
    available: true,
    seesRequests: true,
    totals: computeTotals(connections, 3),
    http: { serverClose: 1, clientClose: 0 },
    connections,
    warnings: [{ code: 'KAL_WARN_MISSING_BYTES', message: '1000 bytes of TCP payload were not captured' }],
  };
}

function run(connections: ConnectionRecord[]): RunReport {
  return {
    name: 'analyze',
    title: 'lo.pcapng',
    subject: '/tmp/lo.pcapng',
    config: null,
    client: null,
    observers: [wire(connections)],
    agreement: { agree: false, differences: ['wire: 3 SYNs for 4 connections'] },
    verdict: { code: 'reuse', summary: 'reuse working: 6 requests over 4 connections' },
    findings: [],
    warnings: [],
    capture: CAPTURE,
  };
}

function report(runs: RunReport[]): Report {
  return {
    schema: REPORT_SCHEMA,
    tool: { name: 'keepalive-lab', version: '0.0.0-test' },
    command: 'analyze',
    createdAt: '2024-01-01T00:00:00.000Z',
    runs,
  };
}

test('terminal: the connection table', () => {
  assert.equal(
    renderConnections(wire(CONNECTIONS)),
    [
      '#  client               server               start  duration      rtt  reqs  status     max idle  closed first  RST     TIME_WAIT  notes',
      '1  127.0.0.1:50001      127.0.0.1:8080    +0.00 ms     12 ms  0.05 ms     4  200x3 404    1.20 s  client        -       client',
      '2  127.0.0.1:50002      127.0.0.1:8080     +1.50 s      3 ms  0.05 ms     1  301               -  server        -       server',
      '3  [2001:db8::1]:40000  [2001:db8::2]:80    +20 ms    20.0 s        -     0  -                 -  -             -       -          began before; open at end; not HTTP/1.x',
      '4  127.0.0.1:50004      127.0.0.1:8080    +0.00 ms     12 ms  0.05 ms     1  200               -  -             server  -          2 retransmitted segments',
    ].join('\n'),
  );
});

test('terminal: at most --limit rows, then how many more', () => {
  const text = renderConnections(wire(CONNECTIONS), undefined, 2);
  const lines = text.split('\n');
  assert.equal(lines.length, 4);
  assert.equal(lines[3], '... 2 more connections (--limit 0 shows all, --json has them all)');
});

test('terminal: a report that kept the last connections shows the last rows and says of how many', () => {
  // The proxy keeps the most recent records: ids 3 and 4 of 4, two omitted.
  const kept = { ...wire(CONNECTIONS.slice(2)), connectionsOmitted: 2 };
  const lines = renderConnections(kept, undefined, 1).split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[1]!, /^4 /);
  assert.equal(lines[2], 'the last 1 of 4 connections (--json has them all)');
  assert.equal(
    renderConnections(kept, undefined, 50).split('\n').at(-1),
    'the last 2 of 4 connections (--json has them all)',
  );
});

test('terminal: totals in words and what the capture held', () => {
  const r = run(CONNECTIONS);
  assert.equal(
    renderTotals(r, r.observers[0]!),
    [
      'connections 4 (3 opened with a SYN in view)  requests 6  responses 6',
      'requests per connection min 0, median 1, max 4, mean 1.50',
      'requests that paid a handshake 50.0%  (3 reused a connection)',
      'first FIN client 1, server 1, none 2  TIME_WAIT client 1, server 1  RST 1',
      'capture: pcapng, link type 1/276, 60 frames, 52 TCP (40 in focus); 3 not IP, 5 not TCP, 2 cut by the snap length',
      'verdict reuse working: 6 requests over 4 connections',
    ].join('\n'),
  );
});

test('terminal: the whole analyze report', () => {
  const text = renderTerminal(report([run(CONNECTIONS.slice(0, 2))]), { connections: true, totals: true });
  assert.equal(
    text,
    [
      '#  capture    requests  conns  req/conn  reused  SYNs  closed first        TIME_WAIT           time  observers  verdict',
      '1  lo.pcapng         5      2       2.5       3     3  client 1, server 1  1 client, 1 server     -  wire       reuse working: 6 requests over 4 connections',
      '',
      'observers disagree on wire: 3 SYNs for 4 connections',
      '1000 bytes of TCP payload were not captured',
      '',
      'lo.pcapng — connections seen by the wire',
      '#  client           server             start  duration      rtt  reqs  status     max idle  closed first  RST  TIME_WAIT  notes',
      '1  127.0.0.1:50001  127.0.0.1:8080  +0.00 ms     12 ms  0.05 ms     4  200x3 404    1.20 s  client        -    client',
      '2  127.0.0.1:50002  127.0.0.1:8080   +1.50 s      3 ms  0.05 ms     1  301               -  server        -    server',
      '',
      'connections 2 (3 opened with a SYN in view)  requests 5  responses 5',
      'requests per connection min 1, median 2.5, max 4, mean 2.50',
      'requests that paid a handshake 40.0%  (3 reused a connection)',
      'first FIN client 1, server 1, none 0  TIME_WAIT client 1, server 1  RST 0',
      'capture: pcapng, link type 1/276, 60 frames, 52 TCP (40 in focus); 3 not IP, 5 not TCP, 2 cut by the snap length',
      'verdict reuse working: 6 requests over 4 connections',
      '',
    ].join('\n'),
  );
});

test('terminal: colors only when asked', () => {
  const plain = renderTerminal(report([run(CONNECTIONS)]), { connections: true, totals: true });
  assert.equal(plain.includes('\x1b['), false);
  const colored = renderTerminal(report([run(CONNECTIONS)]), { connections: true, totals: true, color: true });
  assert.ok(colored.includes('\x1b[1m#\x1b[0m'), 'bold header');
  assert.equal(visibleText(colored), plain);
});

test('terminal: an empty capture', () => {
  const empty: RunReport = {
    ...run([]),
    observers: [{ ...wire([]), warnings: [] }],
    agreement: { agree: true, differences: [] },
    verdict: { code: 'no-traffic', summary: 'no TCP connection was seen' },
  };
  const text = renderTerminal(report([empty]), { connections: true, totals: true });
  assert.equal(
    text,
    [
      '#  capture    requests  conns  req/conn  reused  SYNs  closed first  TIME_WAIT  time  observers  verdict',
      '1  lo.pcapng         0      0         -       0     3  -             0             -  wire       no TCP connection was seen',
      '',
      'connections 0 (3 opened with a SYN in view)  requests 0  responses 0',
      'first FIN client 0, server 0, none 0  TIME_WAIT client 0, server 0  RST 0',
      'capture: pcapng, link type 1/276, 60 frames, 52 TCP (40 in focus); 3 not IP, 5 not TCP, 2 cut by the snap length',
      'verdict no TCP connection was seen',
      '',
    ].join('\n'),
  );
});

test('terminal: counts from an observer that missed packets are lower bounds in the headline', () => {
  const lossy = wire(CONNECTIONS);
  lossy.incomplete = { packetsDropped: 192, reason: '192 packets dropped by the kernel before tcpdump read them' };
  const verdict = {
    code: 'incomplete' as const,
    summary: 'counts incomplete: at least 4 connections and 6 requests; 192 packets dropped by the kernel',
  };
  const r = { ...run(CONNECTIONS), observers: [lossy], verdict };
  const headline = renderTerminal({ ...report([r]), command: 'watch' }).split('\n')[1]!;
  assert.match(headline, /^1\s+lo\.pcapng\s+≥6\s+≥4\s/);
  assert.match(headline, /counts incomplete: at least 4 connections and 6 requests; 192 packets dropped/);
  // Complete counts are printed as they are.
  assert.match(renderTerminal(report([run(CONNECTIONS)])).split('\n')[1]!, /^1\s+lo\.pcapng\s+6\s+4\s/);
});

test("terminal: a scenario's expected failures are counted by code, apart from a run's failures", () => {
  const client = { requests: 6, completed: 3, errors: ['socket hang up'], elapsedMs: 900 };
  const notes = (c: RunReport['client']) =>
    renderTerminal(report([{ ...run(CONNECTIONS.slice(0, 1)), client: c }]))
      .split('\n')
      .filter((line) => line.startsWith('client'));
  assert.deepEqual(notes({ ...client, errorCodes: { ECONNRESET: 3 }, expectedFailures: 3 }), [
    'client: 3 of 6 requests failed (3 ECONNRESET); all of them sent into the failure the scenario reproduces',
    'client error: socket hang up',
  ]);
  assert.deepEqual(notes({ ...client, errorCodes: { ECONNRESET: 3 } }), ['client error: socket hang up']);
  const mixed = { ...client, completed: 2, errorCodes: { ECONNRESET: 3, ECONNREFUSED: 1 }, expectedFailures: 3 };
  assert.equal(
    notes(mixed)[0],
    'client: 4 of 6 requests failed (3 ECONNRESET, 1 ECONNREFUSED); 3 of them sent into the failure the scenario reproduces',
  );
});

test('terminal: a TLS connection shows "?" for requests, its estimate and handshake; the totals a TLS line', () => {
  const tlsConn = conn(5, {
    requests: 0,
    responses: 0,
    statusCodes: [],
    notes: ['requests unknown without the TLS keys'],
    tls: tlsFacts({
      alpnOffered: ['h2', 'http/1.1'],
      handshakeMs: 1.5,
      applicationData: { client: { records: 5, bytes: 500 }, server: { records: 7, bytes: 3000 } },
      estimatedExchanges: 5,
    }),
  });
  const r: Report = report([run([tlsConn])]);
  const text = visibleText(renderTerminal(r, { connections: true, totals: true }));
  assert.match(text, /\? \(~5 est\.\)/);
  const row = 'TLS 1.3 full handshake 2 ms, SNI example.com, ALPN h2,http/1.1 -> ? (encrypted in TLS 1.3); ';
  assert.ok(text.includes(`${row}requests unknown without the TLS keys`), text);
  const line =
    'TLS: 1 connection, 1 full handshake, 0 resumed (TLS 1.3: 1); requests unknown without the TLS keys, ' +
    'an estimated 5 request/response exchanges';
  assert.ok(text.split('\n').includes(line), text);
  // The summary row: "?" requests, not 0.
  assert.match(text.split('\n')[1]!, /^1\s+\S+\s+\?\s+1\s+\?\s/);
  // The totals: requests and responses unknown, no distribution nor handshake share built on zeros.
  assert.ok(text.includes('requests ? (1 TLS connection: requests unknown without the TLS keys)  responses ?'), text);
  assert.ok(text.includes('requests per connection unknown (1 TLS connection)'), text);
  assert.doesNotMatch(text, /requests per connection min|requests that paid a handshake/);
});

test('terminal: HTTP beside TLS: the counted requests "+?", the per-connection figures unknown', () => {
  const plain = conn(1, { requests: 3, responses: 3, statusCodes: [200, 200, 200] });
  const tlsConn = conn(2, { requests: 0, responses: 0, statusCodes: [], tls: tlsFacts({ estimatedExchanges: 2 }) });
  const text = visibleText(renderTerminal(report([run([plain, tlsConn])]), { connections: true, totals: true }));
  assert.match(text.split('\n')[1]!, /^1\s+\S+\s+3\+\?\s+2\s+\?\s/);
  assert.ok(
    text.includes('requests 3+? (1 TLS connection: requests unknown without the TLS keys)  responses 3+?'),
    text,
  );
  assert.match(text, /\? \(~2 est\.\)/);
  // Without TLS, the figures as before.
  const only = visibleText(renderTerminal(report([run([plain])]), { totals: true }));
  assert.ok(only.includes('requests 3  responses 3'), only);
  assert.match(only, /requests per connection min 3/);
});

/** A run's `process` (a lab run's, a watched Node command's): one origin, and a body-not-read with its call site. */
function processView(pids?: number[]): NonNullable<RunReport['process']> {
  const origin = processOrigin('http://127.0.0.1:8080', {
    requests: 4,
    reusedRequests: 1,
    reuseShare: 0.25,
    responses: 4,
    connectionsOpened: 3,
    connectionsClosed: 3,
    closeReasons: { 'client-closed': 3 },
    ttfbMs: { mean: 1, max: 2 },
    keepAliveHintS: 5,
  });
  const finding: Finding = {
    code: 'body-not-read',
    severity: 'warning',
    summary: 'body not read: 2 responses (request made at /srv/app.js:12:7)',
    reasoning: ['held unread'],
    evidence: {
      server: { address: '127.0.0.1', port: 8080 },
      count: 2,
      connections: [1, 2],
      events: [],
      values: { callSite: '/srv/app.js:12:7' },
    },
    fixes: { 'node-http': 'res.resume()' },
  };
  return processSummary([origin], { findings: [finding], ...(pids ? { pids } : {}) });
}

test("terminal: a run's process view, its origins and findings; fixes not repeated after the run's own", () => {
  const alone: RunReport = { ...run(CONNECTIONS), process: processView([41, 42]) };
  const text = renderTerminal(report([alone]));
  const section = text.slice(text.indexOf('lo.pcapng — seen by'));
  assert.match(section, /^lo\.pcapng — seen by the 2 Node processes \(41, 42\)\n/);
  assert.match(
    section,
    /\nhttp:\/\/127\.0\.0\.1:8080: 4 requests, 3 connections \(0 open\), reuse 25%; closed: client-closed 3\n/,
  );
  assert.match(
    section,
    /\nwarning \[body-not-read\] body not read: .*\/srv\/app\.js:12:7\)\n {2}fix \(node-http\): res\.resume\(\)/,
  );
  // The wire named the same cause: its fixes are above, not printed twice.
  const wireFinding = processView().findings![0]!;
  const both: RunReport = { ...run(CONNECTIONS), findings: [wireFinding], process: processView() };
  const twice = renderTerminal(report([both]));
  assert.match(twice, /lo\.pcapng — seen by the process\n/);
  assert.equal(twice.match(/fix \(node-http\)/g)?.length, 1);
  assert.equal(renderTerminal(report([run(CONNECTIONS)])).includes('seen by'), false, 'nothing without it');
});
