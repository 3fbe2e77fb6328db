/**
 * Idle timeouts along a path (finding idle-timeout-order, src/analyze/findings/path-order.ts) on
 * captures built in code: a client -> a load balancer (10.0.0.2:8080) -> a backend (10.0.0.3:9000),
 * both hops in one capture, as `tcpdump -i any` on the balancer takes it. The balancer's upstream
 * pool keeps connections longer than the backend, with requests lost (error) and before any was
 * (warning); the right order (no finding); one hop only (no finding); the path inferred from the
 * capture only where that cannot be a false alarm. Each capture goes through the whole path (pcap
 * bytes -> analyzeCapture -> runReport), as `analyze` takes it.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { Endpoint, Finding, RunReport } from '../../../src/model/report.js';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import { buildPcap } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';

const T0 = 1_700_000_000_000_000;
const CLIENT = '10.0.0.1';
const BALANCER = { address: '10.0.0.2', port: 8080 };
const BACKEND = { address: '10.0.0.3', port: 9000 };
const PATH = [BALANCER, BACKEND];
/** The backend closes idle connections after this long (ms). */
const BACKEND_IDLE_MS = 1000;
let nextPort = 40000;

/** A connection from `client` to `server`, starting `atMs` into the capture. */
function conn(client: string, server: Endpoint, atMs: number): Conversation {
  const c = new Conversation({ address: client, port: nextPort++ }, server, { start: T0 + atMs * 1000 });
  c.handshake();
  return c;
}

/** One request and its keep-alive response (no Keep-Alive hint, as nginx and the lab's backend send). */
function exchange(c: Conversation, status = 200): void {
  c.send('client', httpGet());
  c.send('server', httpResponse(status, status === 200 ? 'hello' : 'bad gateway'));
  c.ack('client');
}

/** Upstream: one exchange, then the backend closes the idle connection after BACKEND_IDLE_MS. */
function upstreamClosedIdle(atMs: number): Conversation {
  const c = conn(BALANCER.address, BACKEND, atMs);
  exchange(c);
  c.wait(BACKEND_IDLE_MS);
  c.close('server');
  return c;
}

/** Upstream: one exchange, the backend's FIN after BACKEND_IDLE_MS, the balancer's request 2 ms later, a RST. */
function upstreamRaced(atMs: number): Conversation {
  const c = conn(BALANCER.address, BACKEND, atMs);
  exchange(c);
  c.wait(BACKEND_IDLE_MS);
  c.fin('server');
  c.wait(2);
  c.send('client', httpGet());
  c.rst('server');
  return c;
}

/** Downstream: the client's connection to the balancer: one exchange per status, 1.01 s apart, closed by the client. */
function downstream(atMs: number, statuses: number[], client = CLIENT): Conversation {
  const c = conn(client, BALANCER, atMs);
  for (const status of statuses) {
    exchange(c, status);
    c.wait(1010);
  }
  c.close('client');
  return c;
}

async function analyze(conversations: Conversation[], path?: Endpoint[]): Promise<RunReport> {
  const packets = conversations.flatMap((c) => c.packets).sort((a, b) => a.ts! - b.ts!);
  const source = Readable.from([Buffer.from(buildPcap({ packets }))]);
  return analyzeCapture(source, path === undefined ? {} : { path });
}

function pathFindings(run: RunReport): Finding[] {
  return run.findings.filter((f) => f.code === 'idle-timeout-order');
}

function only(run: RunReport): Finding {
  const found = pathFindings(run);
  assert.equal(found.length, 1, `one idle-timeout-order: ${JSON.stringify(run.findings.map((f) => f.summary))}`);
  return found[0]!;
}

/** The capture of the wrong order with failures: 2 requests lost upstream (502 to the client), 1 idle close. */
function racedCapture(): Conversation[] {
  return [downstream(0, [200, 502, 200, 502]), upstreamRaced(1), upstreamClosedIdle(1500), upstreamRaced(2100)];
}

test('path: the balancer keeps upstream connections longer than the backend, requests lost: an error', async () => {
  const run = await analyze(racedCapture(), PATH);
  const f = only(run);
  assert.equal(f.severity, 'error');
  assert.deepEqual(f.evidence.server, BACKEND);
  // The two raced connections and the one closed idle (ids: the client's connection is #1).
  assert.equal(f.evidence.count, 3);
  assert.deepEqual(f.evidence.connections, [2, 3, 4]);
  const v = f.evidence.values;
  assert.equal(v.hop, 2);
  assert.equal(v.requestsLost, 2);
  assert.equal(v.resets, 2);
  assert.equal(v.hop2Server, '10.0.0.3:9000');
  assert.equal(v.hop2Connections, 3);
  assert.equal(v.hop2ServerIdleCloses, 3);
  assert.ok(Math.abs(Number(v.hop2ServerIdleTimeoutMs) - BACKEND_IDLE_MS) < 1, `measured ${v.hop2ServerIdleTimeoutMs}`);
  assert.equal(v.hop2ClientIdleCloses, 0);
  assert.equal(v.hop2RequestsLost, 2);
  assert.equal(v.hop1Server, '10.0.0.2:8080');
  assert.equal(v.hop1BadGateway, 2);
  assert.equal(v.hop1RequestsLost, 0);
  assert.equal(v.suggestedClientIdleTimeoutMs, 750);
  assert.match(
    f.summary,
    new RegExp(
      '^idle timeouts out of order: the load balancer 10\\.0\\.0\\.2:8080 keeps upstream connections idle longer ' +
        'than the backend 10\\.0\\.0\\.3:9000, which closes them after ~1\\.00 s: 2 requests met connections it had ' +
        'closed or was closing \\(2 RSTs\\), and the load balancer answered 2 requests with 502 Bad Gateway; set ' +
        "the load balancer's upstream idle timeout below 1\\.00 s",
    ),
  );
  assert.match(f.fixes['nginx-upstream']!, /keepalive_timeout 750ms;/);
  assert.match(f.fixes.envoy!, /idle_timeout: 0\.75s/);
  assert.match(f.fixes.haproxy!, /pool-purge-delay 750ms/);
  assert.match(f.fixes['aws-alb']!, /idle_timeout\.timeout_seconds/);
  assert.equal(f.fixes['node-http'], undefined, 'the client of this hop is the balancer, not an application');
  // The path's finding heads the verdict; the race is still named for the backend.
  assert.equal(run.verdict.code, 'idle-timeout-order');
  assert.ok(run.findings.some((g) => g.code === 'keepalive-race'));
  // Every hop is in the capture: no warning about the path.
  assert.ok(!run.observers[0]!.warnings.some((w) => w.code === 'KAL_WARN_PATH_HOP_UNSEEN'));
});

test('path: inferred without --path where the balancer has an address of its own; never on loopback', async () => {
  // 10.0.0.2 serves 10.0.0.2:8080 and is the only client of 10.0.0.3:9000: the proxy, and requests were lost.
  const f = only(await analyze(racedCapture()));
  assert.equal(f.severity, 'error');
  assert.match(f.summary, /^idle timeouts out of order: the proxy 10\.0\.0\.2:8080 keeps upstream connections/);
  assert.match(f.reasoning[0]!, /inferred/);
  // A second client of the backend: it is not only behind the balancer, nothing is inferred.
  const direct = conn('10.0.0.9', BACKEND, 3000);
  exchange(direct);
  direct.close('client');
  assert.deepEqual(pathFindings(await analyze([...racedCapture(), direct])), []);
  // The same on loopback: every process has the address, the path must be given.
  const loop = (c: Conversation) => {
    for (const p of c.packets) {
      p.src = '127.0.0.1';
      p.dst = '127.0.0.1';
    }
    return c;
  };
  const onLoopback = racedCapture().map(loop);
  assert.deepEqual(pathFindings(await analyze(onLoopback)), []);
  const given = [
    { address: '127.0.0.1', port: BALANCER.port },
    { address: '127.0.0.1', port: BACKEND.port },
  ];
  assert.equal(only(await analyze(racedCapture().map(loop), given)).severity, 'error');
});

test('path: the backend closes the balancer idle connections first, nothing lost yet: a warning', async () => {
  const capture = () => [downstream(0, [200, 200, 200]), upstreamClosedIdle(1), upstreamClosedIdle(1100)];
  const run = await analyze(capture(), PATH);
  const f = only(run);
  assert.equal(f.severity, 'warning');
  assert.equal(f.evidence.count, 2);
  assert.equal(f.evidence.values.requestsLost, 0);
  assert.equal(f.evidence.values.hop2ServerIdleCloses, 2);
  assert.match(f.summary, /which closes them after ~1\.00 s: it closed 2 idle connections first; nothing failed yet/);
  assert.match(f.evidence.events[0]!.what, /the server closed it with a FIN after 1\.00 s idle/);
  // A warning is not inferred: without the path, nothing.
  assert.deepEqual(pathFindings(await analyze(capture())), []);
});

test('path: the balancer closes its idle upstream connections before the backend does: no finding', async () => {
  const upstream = (atMs: number) => {
    const c = conn(BALANCER.address, BACKEND, atMs);
    exchange(c);
    c.wait(BACKEND_IDLE_MS / 2);
    c.close('client');
    return c;
  };
  const run = await analyze([downstream(0, [200, 200, 200]), upstream(1), upstream(1100), upstream(2200)], PATH);
  assert.deepEqual(pathFindings(run), []);
  assert.deepEqual(run.findings, []);
});

test('path: a capture of one hop raises no path finding, and says which hop it lacks', async () => {
  const run = await analyze([upstreamRaced(0), upstreamClosedIdle(10)], PATH);
  assert.deepEqual(pathFindings(run), []);
  // The race on that hop is still named.
  assert.ok(run.findings.some((f) => f.code === 'keepalive-race'));
  const warning = run.observers[0]!.warnings.find((w) => w.code === 'KAL_WARN_PATH_HOP_UNSEEN');
  assert.match(warning?.message ?? '', /the path's hop to 10\.0\.0\.2:8080 has no connection in this capture/);
  // Without the path: one hop, nothing to infer.
  assert.deepEqual(pathFindings(await analyze([upstreamRaced(0), upstreamClosedIdle(10)])), []);
});

test('path: clients keep connections to the balancer longer than it does: a warning on the first hop', async () => {
  // The balancer closes each client connection after 5 s idle; upstream, the balancer closes first.
  const client = (atMs: number, address: string) => {
    const c = conn(address, BALANCER, atMs);
    exchange(c);
    c.wait(5000);
    c.close('server');
    return c;
  };
  const upstream = conn(BALANCER.address, BACKEND, 1);
  exchange(upstream);
  exchange(upstream);
  upstream.wait(100);
  upstream.close('client');
  const run = await analyze([client(0, CLIENT), client(1, '10.0.0.5'), upstream], PATH);
  const f = only(run);
  assert.equal(f.severity, 'warning');
  assert.deepEqual(f.evidence.server, BALANCER);
  assert.equal(f.evidence.values.hop, 1);
  assert.match(
    f.summary,
    new RegExp(
      '^idle timeouts out of order: the clients keep connections idle longer than the load balancer ' +
        '10\\.0\\.0\\.2:8080, which closes them after ~5\\.00 s',
    ),
  );
  assert.match(f.summary, /set the clients' idle timeout below 5\.00 s \(e\.g\. 3\.75 s\)/);
  // The clients' runtimes, and the balancer's own setting for its clients.
  assert.match(f.fixes['node-http']!, /timeout: 3750/);
  assert.match(f.fixes.envoy!, /http_connection_manager/);
  assert.match(f.fixes.haproxy!, /timeout http-keep-alive/);
});

test('path: --path names the hops it keeps; other connections are left out', async () => {
  const elsewhere = conn(CLIENT, { address: '10.0.0.7', port: 80 }, 0);
  exchange(elsewhere);
  elsewhere.close('client');
  const run = await analyze([...racedCapture(), elsewhere], PATH);
  assert.equal(run.observers[0]!.totals.connections, 4);
  assert.equal(only(run).severity, 'error');
});
