/**
 * Idle timeouts along a path on captures recorded here from real programs: nginx from Debian as the
 * load balancer (an upstream block with `keepalive 8; keepalive_timeout T;`, proxy_pass over
 * HTTP/1.1) in front of a Node backend (the lab's server: a short keepAliveTimeout, no Keep-Alive
 * hint), a Node client, and tcpdump on loopback capturing both hops. `analyze --path nginx,backend`
 * must name the wrong order (nginx keeps idle upstream connections 4 s, the backend closes them
 * first) and stay silent on the right one (nginx gives them up after 100 ms, before the backend).
 *
 * The client waits, after each request, until the upstream connection it used has closed (the
 * backend's socket says so): nothing is timed against the clock, and no request meets a closing
 * connection (nginx would retry a GET on a new one anyway: proxy_next_upstream).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { startLabServer } from '../../src/lab/server.js';
import type { RunReport } from '../../src/model/report.js';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { captureDir, captureSkip } from '../support/capture-env.js';
import { nginxSkip, startNginx } from '../support/nginx.js';
import { recordTraffic } from '../support/record.js';

const skip = captureSkip() || nginxSkip();
const HOST = '127.0.0.1';
/** Requests through nginx, each followed by the close of the upstream connection it used. */
const REQUESTS = 2;
/** How long to wait for one upstream connection to close, at most. */
const CLOSE_WITHIN_MS = 10_000;

interface Recorded {
  file: string;
  run: RunReport;
  statuses: number[];
  backendPort: number;
  nginxPort: number;
}

/**
 * nginx (upstream keepalive_timeout `upstreamIdle`) -> the backend (keepAliveTimeout `backendMs`):
 * REQUESTS requests, each answered, then idle until its upstream connection closed; recorded and
 * analyzed with the path given.
 */
async function record(t: TestContext, upstreamIdle: string, backendMs: number): Promise<Recorded> {
  const dir = await captureDir(t, 'kal-path-');
  const backend = await startLabServer({ host: HOST, keepAliveTimeoutMs: backendMs, keepAliveHint: false });
  t.after(() => backend.close());
  // Each upstream connection's close, as the backend's socket sees it (whoever closed first).
  let closed = 0;
  const closes: (() => void)[] = [];
  backend.server.on('connection', (socket) =>
    socket.once('close', () => {
      closed++;
      closes.splice(0).forEach((f) => f());
    }),
  );
  const untilClosed = (n: number) =>
    new Promise<void>((resolve, reject) => {
      if (closed >= n) return resolve();
      const timer = setTimeout(() => reject(new Error(`upstream connection ${n} not closed`)), CLOSE_WITHIN_MS);
      const check = () => {
        if (closed >= n) {
          clearTimeout(timer);
          resolve();
        } else closes.push(check);
      };
      closes.push(check);
    });
  const nginx = await startNginx(HOST, {
    upstream: { host: HOST, port: backend.port, keepalive: 8, keepaliveTimeout: upstreamIdle },
  });
  t.after(() => nginx.stop());
  const path = join(dir, 'path.pcap');
  const statuses: number[] = [];
  const client = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const rec = await recordTraffic({ path, port: nginx.port, morePorts: [backend.port], iface: 'lo' }, async () => {
    for (let i = 1; i <= REQUESTS; i++) {
      statuses.push(
        await new Promise<number>((resolve, reject) =>
          http
            .get(nginx.url, { agent: client }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            })
            .on('error', reject),
        ),
      );
      await untilClosed(i);
    }
    client.destroy();
  });
  assert.equal(rec.dropped, 0, 'tcpdump dropped no packet');
  const run = await analyzeCapture(path, {
    path: [
      { address: HOST, port: nginx.port },
      { address: HOST, port: backend.port },
    ],
  });
  return { file: path, run, statuses, backendPort: backend.port, nginxPort: nginx.port };
}

test(
  'real capture: nginx keeps upstream connections 4 s, the Node backend closes them first: idle-timeout-order',
  { skip, timeout: 60_000 },
  async (t) => {
    const { file, run, statuses, backendPort, nginxPort } = await record(t, '4s', 200);
    assert.deepEqual(statuses, [200, 200]);
    const wire = run.observers[0]!;
    // Hop 1: the client's one connection to nginx; hop 2: one upstream connection per request.
    assert.equal(wire.totals.connections, 1 + REQUESTS);
    const upstream = wire.connections.filter((c) => c.server.port === backendPort);
    assert.equal(upstream.length, REQUESTS);
    assert.ok(
      upstream.every((c) => c.closedFirstBy === 'server'),
      'the backend closed each upstream connection',
    );
    const found = run.findings.filter((f) => f.code === 'idle-timeout-order');
    assert.equal(found.length, 1, JSON.stringify(run.findings.map((f) => f.summary)));
    const f = found[0]!;
    assert.equal(f.severity, 'warning', 'nothing failed: every request was sent before the close');
    assert.deepEqual(f.evidence.server, { address: HOST, port: backendPort });
    assert.equal(f.evidence.values.hop, 2);
    assert.equal(f.evidence.values.hop2ServerIdleCloses, REQUESTS);
    assert.equal(f.evidence.values.hop2ClientIdleCloses, 0);
    assert.equal(f.evidence.values.requestsLost, 0);
    assert.equal(f.evidence.count, REQUESTS);
    assert.match(
      f.summary,
      new RegExp(
        `^idle timeouts out of order: the load balancer 127\\.0\\.0\\.1:${nginxPort} keeps upstream connections ` +
          `idle longer than the backend 127\\.0\\.0\\.1:${backendPort}, which closes them after ~`,
      ),
    );
    assert.match(f.fixes['nginx-upstream']!, /keepalive_timeout \d+ms;/);
    assert.equal(run.verdict.code, 'idle-timeout-order');
    // On loopback nothing is inferred: without the path, no such finding.
    const unpathed = await analyzeCapture(file);
    assert.deepEqual(
      unpathed.findings.filter((g) => g.code === 'idle-timeout-order'),
      [],
    );
  },
);

test(
  'real capture: nginx gives idle upstream connections up after 100 ms, before the backend: no finding',
  { skip, timeout: 60_000 },
  async (t) => {
    const { run, statuses, backendPort } = await record(t, '100ms', 500);
    assert.deepEqual(statuses, [200, 200]);
    const upstream = run.observers[0]!.connections.filter((c) => c.server.port === backendPort);
    assert.equal(upstream.length, REQUESTS);
    assert.ok(
      upstream.every((c) => c.closedFirstBy === 'client'),
      'nginx closed each upstream connection',
    );
    assert.deepEqual(
      run.findings.filter((f) => f.code === 'idle-timeout-order'),
      [],
    );
  },
);
