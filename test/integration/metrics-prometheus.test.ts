/**
 * The metrics as a fleet's monitoring sees them: a real Prometheus scrapes (a) the in-process tracker
 * (the register's, trackConnections()) fed by real node:http keep-alive requests of this process
 * against the lab server and (b) `proxy --metrics` (the built CLI), and the series it stored are
 * asserted through its HTTP API against what the lab server itself counted (connections accepted,
 * requests answered), not against our own text.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { startLabServer } from '../../src/lab/server.js';
import type { LabServer } from '../../src/lab/server.js';
import { startPrometheusEndpoint } from '../../src/observe/metrics/provider.js';
import { trackConnections } from '../../src/observe/in-process/tracker.js';
import { startCli } from '../support/cli.js';
import { prometheusSkip, scalarOf, startPrometheus } from '../support/prometheus.js';
import type { Prometheus } from '../support/prometheus.js';

const skip = prometheusSkip();

/** The lab server and what it counted itself. */
async function countingServer(t: { after(fn: () => Promise<void>): void }) {
  const lab = await startLabServer();
  t.after(() => lab.close());
  const counted = { connections: 0, requests: 0 };
  lab.server.on('connection', () => counted.connections++);
  lab.server.on('request', () => counted.requests++);
  return { lab, counted };
}

/** GETs one after the other, each body read to its end. */
async function getSequentially(url: string, count: number, agent: http.Agent): Promise<void> {
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
          res.on('error', reject);
        })
        .on('error', reject);
    });
  }
}

/** 10 requests on one keep-alive connection, then 3 without keep-alive: 4 connections, 13 requests, 9 reused. */
async function load(url: string): Promise<void> {
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  await getSequentially(url, 10, keepAlive);
  keepAlive.destroy();
  const noKeepAlive = new http.Agent({ keepAlive: false });
  await getSequentially(url, 3, noKeepAlive);
  noKeepAlive.destroy();
}

/** The scraped series of `job` against the server's own counts, once every connection has closed. */
async function assertScraped(
  t: { diagnostic(message: string): void },
  prometheus: Prometheus,
  job: string,
  lab: LabServer,
  counted: { connections: number; requests: number },
): Promise<void> {
  const sel = `job="${job}"`;
  // Every close scraped: the counts are final from here.
  const closes = await prometheus.queryUntil(
    `sum(keepalive_lab_connection_closes_total{${sel}})`,
    (r) => scalarOf(r) === counted.connections,
  );
  assert.equal(scalarOf(closes), counted.connections, `closes scraped: ${JSON.stringify(closes)}`);
  const connections = await prometheus.query(`sum(keepalive_lab_connections_total{${sel}})`);
  t.diagnostic(`${job}: sum(keepalive_lab_connections_total{${sel}}) -> ${JSON.stringify(connections)}`);
  assert.equal(scalarOf(connections), counted.connections, 'new connections = connections the server accepted');
  const byReuse = await prometheus.query(
    `sum by (keepalive_lab_request_reused) (keepalive_lab_requests_total{${sel}})`,
  );
  t.diagnostic(`${job}: requests by reuse -> ${JSON.stringify(byReuse)}`);
  const reuse = Object.fromEntries(
    byReuse.data.result.map((s) => [s.metric.keepalive_lab_request_reused, Number(s.value[1])]),
  );
  assert.equal((reuse.true ?? 0) + (reuse.false ?? 0), counted.requests, 'requests = requests the server answered');
  // A connection's first request is new, every later one reused.
  assert.equal(reuse.false, counted.connections);
  assert.equal(reuse.true, counted.requests - counted.connections);
  const perConnection = await prometheus.query(`sum(keepalive_lab_connection_requests_sum{${sel}})`);
  assert.equal(scalarOf(perConnection), counted.requests, 'requests per connection add up to the requests');
  const histogramCount = await prometheus.query(`sum(http_client_connection_duration_count{${sel}})`);
  assert.equal(scalarOf(histogramCount), counted.connections, 'one duration per connection');
  const open = await prometheus.query(`sum(http_client_open_connections{${sel}})`);
  assert.equal(scalarOf(open), 0, 'nothing open once every connection closed');
  const server = await prometheus.query(`count(keepalive_lab_connections_total{${sel},server_port="${lab.port}"})`);
  assert.equal(scalarOf(server), 1, `one series, for the lab server's port: ${JSON.stringify(server)}`);
}

test(
  'Prometheus scrapes the in-process tracker and proxy --metrics; its series match the servers',
  { skip, timeout: 120_000 },
  async (t) => {
    // (a) In-process: the tracker of this process's requests to the lab server (not to Prometheus, not
    // through the proxy).
    const a = await countingServer(t);
    const origin = new URL(a.lab.url).origin;
    const tracker = trackConnections({ origins: (o) => o === origin });
    t.after(() => tracker.dispose());
    let closed = 0;
    let allClosed!: () => void;
    const closedAll = new Promise<void>((resolve) => (allClosed = resolve));
    tracker.subscribe((event) => {
      if (event.type === 'connection-close' && ++closed === 4) allClosed();
    });
    const endpoint = await startPrometheusEndpoint(tracker, { host: '127.0.0.1', port: 0 });
    t.after(() => endpoint.stop());

    // (b) The built CLI: proxy --metrics on a free port, which it says on stderr.
    const b = await countingServer(t);
    const cli = startCli([
      'proxy',
      '--target',
      `${b.lab.host}:${b.lab.port}`,
      '--listen',
      '127.0.0.1:0',
      '--metrics',
      '127.0.0.1:0',
    ]);
    t.after(async () => {
      if (cli.child.exitCode === null) cli.child.kill('SIGTERM');
      await cli.done;
    });
    let stderr = '';
    const banner = await new Promise<RegExpMatchArray>((resolve, reject) => {
      cli.child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const m = stderr.match(/listening on ([\d.]+:\d+).*metrics at http:\/\/([\d.]+:\d+)\/metrics/);
        if (m) resolve(m);
      });
      cli.child.on('exit', () => reject(new Error(`proxy exited: ${stderr}`)));
    });
    const [, proxyListen, proxyMetrics] = banner;

    const prometheus = await startPrometheus(t, [
      { job: 'lab', address: new URL(endpoint.url!).host },
      { job: 'proxy', address: proxyMetrics! },
    ]);
    // Both targets up before the load: the first scrape must see the counters from zero.
    const up = await prometheus.queryUntil('sum(up)', (r) => scalarOf(r) === 2);
    assert.equal(scalarOf(up), 2, `both targets up: ${JSON.stringify(up)}`);

    await load(a.lab.url);
    await closedAll;
    await load(`http://${proxyListen}/`);

    assert.equal(a.counted.connections, 4);
    assert.equal(a.counted.requests, 13);
    await assertScraped(t, prometheus, 'lab', a.lab, a.counted);
    await assertScraped(t, prometheus, 'proxy', b.lab, b.counted);

    // The proxy stops on SIGTERM, its metrics endpoint with it.
    cli.child.kill('SIGTERM');
    const result = await cli.done;
    assert.equal(result.code, 143, result.stderr);
  },
);
