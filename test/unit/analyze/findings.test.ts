/**
 * The findings (src/analyze/findings/) on captures built in code at their boundary cases: a request
 * after the server's FIN, one crossing it in flight, one sent too early to be a race; a RST after a
 * long idle gap with no FIN, and one too soon to be a middlebox's; a client that reset with a body
 * unread or cut; a pool too small; who asked to close, and a server's cap. Each capture goes through
 * the whole path (pcap bytes -> analyzeCapture -> runReport), as `analyze` takes it.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { detectFindings } from '../../../src/analyze/findings/index.js';
import type { Finding, FindingCode, RunReport } from '../../../src/model/report.js';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import { buildPcap } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';

const SERVER = { address: '10.0.0.2', port: 80 };
const T0 = 1_700_000_000_000_000;
let nextPort = 40000;

/** A client connection from 10.0.0.1 starting `atMs` into the capture. */
function conn(atMs: number, client = '10.0.0.1'): Conversation {
  const c = new Conversation({ address: client, port: nextPort++ }, SERVER, { start: T0 + atMs * 1000 });
  c.handshake();
  return c;
}

/** One request and its keep-alive response. */
function exchange(c: Conversation, response = httpResponse(200, 'hello', { 'Keep-Alive': 'timeout=1' })): void {
  c.send('client', httpGet());
  c.send('server', response);
  c.ack('client');
}

async function analyze(...conversations: Conversation[]): Promise<RunReport> {
  const packets = conversations.flatMap((c) => c.packets).sort((a, b) => a.ts! - b.ts!);
  return analyzeCapture(Readable.from([Buffer.from(buildPcap({ packets }))]));
}

function only(run: RunReport, code: FindingCode): Finding {
  const found = run.findings.filter((f) => f.code === code);
  assert.equal(found.length, 1, `one ${code} finding: ${JSON.stringify(run.findings.map((f) => f.summary))}`);
  return found[0]!;
}

function codes(run: RunReport): string[] {
  return run.findings.map((f) => f.code);
}

/** Two connections the server closed after 1 s idle, as it does: what the race is measured against. */
function idleClosed(atMs: number): Conversation {
  const c = conn(atMs);
  exchange(c);
  c.wait(1000);
  c.close('server');
  return c;
}

/** A connection that carried one exchange, idled `idleMs`, then met the server's FIN and `then`. */
function raced(atMs: number, idleMs: number, then: (c: Conversation) => void): Conversation {
  const c = conn(atMs);
  exchange(c);
  c.wait(idleMs);
  then(c);
  return c;
}

test('findings: a request sent 4 ms after the server FIN, answered by a RST, is the keep-alive race', async () => {
  const race = raced(10, 1000, (c) => {
    c.fin('server');
    c.wait(4);
    c.send('client', httpGet());
    c.rst('server');
  });
  const run = await analyze(idleClosed(0), idleClosed(5), race);
  const f = only(run, 'keepalive-race');
  assert.equal(f.severity, 'error');
  assert.equal(f.evidence.count, 1);
  assert.deepEqual(f.evidence.connections, [3]);
  assert.equal(f.evidence.values.requestsLost, 1);
  assert.equal(f.evidence.values.resets, 1);
  assert.equal(f.evidence.values.nonIdempotent, 0);
  assert.equal(f.evidence.values.advertisedKeepAliveTimeoutS, 1);
  assert.equal(f.evidence.values.serverIdleClosesMeasured, 3);
  assert.ok(Math.abs(Number(f.evidence.values.serverIdleTimeoutMs) - 1000) < 1);
  assert.match(
    f.summary,
    /^keep-alive race: 1 request was sent on connections the server had closed after ~1\.00 s idle/,
  );
  assert.match(f.evidence.events[0]!.what, /GET sent .* after the server's FIN/);
  // The verdict names it; the fixes name the options.
  assert.equal(run.verdict.code, 'keepalive-race');
  assert.equal(run.verdict.summary, f.summary);
  assert.match(f.fixes['node-http']!, /timeout: 750/);
  assert.match(f.fixes.undici!, /keepAliveTimeout: 750/);
  assert.match(f.fixes.go!, /IdleConnTimeout: 750 \* time\.Millisecond/);
  assert.match(f.fixes.httpx!, /keepalive_expiry=0\.75/);
  assert.match(f.fixes.okhttp!, /ConnectionPool\(5, 750, TimeUnit\.MILLISECONDS\)/);
  assert.match(f.fixes['nginx-upstream']!, /keepalive_timeout 750ms;/);
  // The record holds every fact the finding quotes.
  const r = run.observers[0]!.connections[2]!;
  assert.equal(r.unanswered!.length, 1);
  assert.equal(r.unanswered![0]!.method, 'GET');
  assert.ok(r.serverFinAt! < r.unanswered![0]!.at && r.unanswered![0]!.at < r.resetAt!);
  assert.equal(r.keepAliveTimeoutS, 1);
});

test('findings: a request and the FIN crossing in flight is the race; 6 ms before the FIN it is not', async () => {
  // The request leaves 1 ms before the FIN shows up at this capture point: they crossed.
  const crossing = raced(0, 1000, (c) => {
    c.send('client', httpGet());
    c.wait(1);
    c.fin('server');
    c.rst('server');
  });
  const run = await analyze(crossing);
  const f = only(run, 'keepalive-race');
  assert.match(f.evidence.events[0]!.what, /before the server's FIN reached this capture \(they crossed\)/);
  // 6 ms before the FIN (more than CROSSING_MIN_MS, two round trips on this link): the server had it.
  const early = raced(0, 1000, (c) => {
    c.send('client', httpGet());
    c.wait(6);
    c.fin('server');
    c.rst('server');
  });
  assert.deepEqual(codes(await analyze(early)), []);
});

test('findings: a lost POST is said not to be idempotent; no response and no RST still count as lost', async () => {
  const race = raced(0, 1000, (c) => {
    c.fin('server');
    c.wait(2);
    c.send('client', 'POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
    c.fin('client');
  });
  const f = only(await analyze(race), 'keepalive-race');
  assert.equal(f.evidence.values.nonIdempotent, 1);
  assert.equal(f.evidence.values.resets, 0);
  assert.match(f.summary, /\(1 was not idempotent, so not safe to retry\)/);
  assert.match(f.evidence.events[0]!.what, /POST sent .* no response came/);
});

test('findings: a server that announced Connection: close is not racing the client', async () => {
  const c = conn(0);
  exchange(c, httpResponse(200, 'hello', { Connection: 'close' }));
  c.wait(100);
  c.fin('server');
  c.send('client', httpGet());
  c.rst('server');
  const run = await analyze(c);
  assert.ok(!codes(run).includes('keepalive-race'), JSON.stringify(codes(run)));
});

test('findings: a RST with no FIN after 60 s idle is an idle reset; after 5 s it is not', async () => {
  const quiet = raced(0, 60_000, (c) => c.rst('server'));
  const f = only(await analyze(quiet), 'idle-reset');
  assert.equal(f.severity, 'warning');
  assert.equal(f.evidence.values.requestsLost, 0);
  assert.match(f.summary, /reset without a FIN after 1\.0 min or more idle/);
  // A request after 6 minutes (a NAT gateway's 350 s) draws the RST: it was lost.
  const drawn = raced(0, 360_000, (c) => {
    c.send('client', httpGet());
    c.rst('server');
  });
  const g = only(await analyze(drawn), 'idle-reset');
  assert.equal(g.severity, 'error');
  assert.equal(g.evidence.values.requestsLost, 1);
  const soon = raced(0, 5000, (c) => c.rst('server'));
  assert.deepEqual(codes(await analyze(soon)), []);
  // The server advertised timeout=1 but sent no FIN in 6 minutes: it had not closed; the race is not named.
  assert.deepEqual(codes(await analyze(drawn)), ['idle-reset']);
});

test('findings: a RST on arrival, no FIN, is the race where the server closes idle, an idle reset far beyond', async () => {
  // nginx's default: idle connections closed after 75 s (measured on two of them, no Keep-Alive header).
  const closed = [0, 1].map((i) => {
    const c = conn(i);
    exchange(c, httpResponse(200, 'hello'));
    c.wait(75_000);
    c.close('server');
    return c;
  });
  /** A request after `idleMs` idle, met by the server's RST without a FIN. */
  const resetOnArrival = (atMs: number, idleMs: number) => {
    const c = conn(atMs);
    exchange(c, httpResponse(200, 'hello'));
    c.wait(idleMs);
    c.send('client', httpGet());
    c.rst('server');
    return c;
  };
  // 2 ms before the server's timer: it closed with the request unread. The race, and not an idle reset.
  const met = await analyze(...closed, resetOnArrival(2, 74_998));
  assert.deepEqual(codes(met), ['keepalive-race']);
  assert.match(only(met, 'keepalive-race').evidence.events[0]!.what, /reset the connection .* without a FIN/);
  // 5 minutes: the server would have sent its FIN long before; something on the path reset the flow.
  const beyond = await analyze(...closed, resetOnArrival(2, 300_000));
  assert.deepEqual(codes(beyond), ['idle-reset']);
  assert.equal(only(beyond, 'idle-reset').evidence.values.requestsLost, 1);
});

test('findings: a request that draws a RST after less idle than the server keeps connections is an idle reset', async () => {
  // The server says it keeps idle connections 5 s; after 300 ms a request draws a bare RST from its address.
  const keeps5 = httpResponse(200, 'hello', { 'Keep-Alive': 'timeout=5' });
  const dropped = (atMs: number, response = keeps5, answerMs = 0) => {
    const c = conn(atMs);
    exchange(c, response);
    c.wait(300);
    c.send('client', httpGet());
    c.wait(answerMs);
    c.rst('server');
    return c;
  };
  // The second RST comes 20 ms after its request, as from a middlebox that is a program on a busy host.
  const run = await analyze(dropped(0), dropped(10, keeps5, 20));
  const f = only(run, 'idle-reset');
  assert.equal(f.severity, 'error');
  assert.equal(f.evidence.count, 2);
  assert.equal(f.evidence.values.requestsLost, 2);
  assert.equal(f.evidence.values.serverKeepsIdleMs, 5000);
  assert.equal(f.evidence.values.suggestedClientIdleTimeoutMs, 220);
  assert.match(f.summary, /reset without a FIN after 300 ms or more idle; 2 requests drew the RST and failed/);
  assert.ok(f.reasoning.some((line) => /keeps idle connections, 5\.00 s \(Keep-Alive: timeout=5\)/.test(line)));
  assert.ok(!codes(run).includes('keepalive-race'), JSON.stringify(codes(run)));
  // At the server's own timeout (1 s advertised), a RST on arrival is the race, not a middlebox.
  const atTimeout = raced(0, 1000, (c) => {
    c.send('client', httpGet());
    c.rst('server');
  });
  assert.deepEqual(codes(await analyze(atTimeout)), ['keepalive-race']);
  // Without a known timeout, or with a RST no request drew, a short gap says nothing.
  assert.deepEqual(codes(await analyze(dropped(0, httpResponse(200, 'hello')))), []);
  const unprompted = raced(0, 300, (c) => c.rst('server'));
  assert.deepEqual(codes(await analyze(unprompted)), []);
  // A RST 200 ms after the request did not answer it.
  assert.deepEqual(codes(await analyze(dropped(0, keeps5, 200))), []);
});

test('findings: a client RST with the body unread, or before the body was complete, is a body not read', async () => {
  const unread = conn(0);
  exchange(unread);
  unread.wait(2);
  unread.rst('client');
  const f = only(await analyze(unread), 'body-not-read');
  assert.equal(f.evidence.values.unread, 1);
  assert.match(f.evidence.events[0]!.what, /reset the connection .* after a complete response, without a FIN/);
  // Half of a 100 kB body, then the client resets.
  const cut = conn(0);
  cut.send('client', httpGet());
  cut.send('server', httpResponse(200, 100_000).slice(0, 50_000));
  cut.rst('client');
  const g = only(await analyze(cut), 'body-not-read');
  assert.equal(g.evidence.values.cut, 1);
  assert.equal((await analyze(cut)).observers[0]!.connections[0]!.responseIncomplete, true);
});

test('findings: closes right after a response with other connections open, then new ones, are pool churn', async () => {
  // Two connections stay busy throughout (a slow response each); four are closed by the client right
  // after their response, each followed by a new connection: a pool with room for fewer idle
  // connections than requests in flight.
  const busy = [conn(0), conn(0.5)];
  for (const c of busy) {
    exchange(c);
    c.send('client', httpGet());
    c.wait(8);
    c.send('server', httpResponse(200, 'slow', { 'Keep-Alive': 'timeout=1' }));
    c.ack('client');
  }
  const churned: Conversation[] = [];
  for (let i = 0; i < 4; i++) {
    const c = conn(1 + i * 1.5);
    exchange(c);
    c.fin('client');
    c.fin('server');
    c.ack('client');
    churned.push(c);
  }
  // Closed a while after their last response (the program's end): not churn.
  for (const c of busy) c.wait(200).close('client');
  const run = await analyze(...busy, ...churned);
  const f = only(run, 'pool-churn');
  // The last churned connection was not followed by a new one: 3 closes count.
  assert.equal(f.evidence.count, 3);
  assert.equal(f.evidence.values.concurrencySeen, 3);
  // Each close came while both slow requests were in flight: 3 busy, the closed one included.
  assert.equal(f.evidence.values.busyAtCloseMax, 3);
  assert.equal(f.evidence.values.concurrencyBusy, 3);
  assert.equal(f.evidence.values.suggestedIdlePool, 3);
  assert.match(f.fixes['node-http']!, /maxFreeSockets: 3/);
  assert.match(f.fixes.go!, /MaxIdleConnsPerHost: 3/);
  assert.match(f.fixes['python-requests']!, /pool_maxsize=3/);
  assert.equal(run.verdict.code, 'pool-churn');
});

test('findings: the close audit says who asked to close, and finds a server cap of N requests', async () => {
  const capped: Conversation[] = [];
  for (let i = 0; i < 3; i++) {
    const c = conn(i * 10);
    for (let k = 0; k < 3; k++) exchange(c, httpResponse(200, 'hello'));
    exchange(c, httpResponse(200, 'hello', { Connection: 'close' }));
    c.close('server');
    capped.push(c);
  }
  const run = await analyze(...capped);
  const f = only(run, 'close-audit');
  assert.equal(f.severity, 'info');
  assert.equal(f.evidence.values.requestCap, 4);
  assert.equal(f.evidence.values.serverConnectionClose, 3);
  assert.match(f.summary, /the server closed 3 connections after exactly 4 requests/);
  assert.notEqual(run.verdict.code, 'close-audit' as never, 'information does not head the verdict');
  // HTTP/1.0 without keep-alive, asked by the client.
  const old = conn(0);
  old.send('client', 'GET / HTTP/1.0\r\n\r\n');
  old.send('server', httpResponse(200, 'hello', {}, '1.0'));
  old.close('server');
  const g = only(await analyze(old), 'close-audit');
  assert.equal(g.evidence.values.clientHttp10, 1);
  assert.match(g.fixes['python-requests']!, /requests\.Session\(\)/);
});

test('findings: a healthy keep-alive capture raises none', async () => {
  const a = conn(0);
  const b = conn(1);
  for (let i = 0; i < 5; i++) {
    exchange(a);
    exchange(b);
    a.wait(200);
  }
  a.close('client');
  b.close('client');
  assert.deepEqual((await analyze(a, b)).findings, []);
});

test('findings: detectFindings over records equals what the streaming analysis found', async () => {
  const race = raced(10, 1000, (c) => {
    c.fin('server');
    c.wait(4);
    c.send('client', httpGet());
    c.rst('server');
  });
  const run = await analyze(idleClosed(0), race);
  assert.deepEqual(detectFindings(run.observers[0]!.connections), run.findings);
});
