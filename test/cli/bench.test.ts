/**
 * `keepalive-lab bench`, the built binary against its own lab server (a short --duration): the
 * table's shape, --json's counts (keep-alive opens --connections connections, new-connection one per
 * request, and each leaves its TIME_WAIT sockets on the side that closed first), bad input. Counts
 * and shapes, never speed.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { BenchReport } from '../../src/model/bench.js';
import { runCli } from '../support/cli.js';

test('bench --json: both loads, their connections and TIME_WAIT, the ratio', async () => {
  const r = await runCli(['bench', '--duration', '0.3s', '--connections', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'no progress on a pipe');
  const report = JSON.parse(r.stdout) as BenchReport;
  assert.equal(report.schema, 'keepalive-lab/bench@1');
  assert.equal(report.labServer, true);
  assert.equal(report.durationMs, 300);
  assert.deepEqual(
    report.runs.map((run) => run.mode),
    ['keep-alive', 'new-connection'],
  );
  const [keepAlive, fresh] = report.runs as [BenchReport['runs'][0], BenchReport['runs'][0]];
  assert.equal(keepAlive.connectionsOpened, 2);
  assert.equal(keepAlive.errors, 0);
  assert.ok(keepAlive.requests > 0);
  assert.equal(fresh.errors, 0);
  assert.ok(fresh.requests > 0);
  assert.equal(fresh.connectionsOpened, fresh.requests);
  // keep-alive: we close (FIN first), TIME_WAIT on our side; new-connection: the lab server closes first.
  assert.deepEqual(keepAlive.timeWait, { client: 2, server: 0 });
  assert.deepEqual(fresh.timeWait, { client: 0, server: fresh.connectionsOpened });
  assert.deepEqual(report.warnings, []);
  assert.equal(report.ratio.requestsPerSecond, keepAlive.requestsPerSecond / fresh.requestsPerSecond);
});

test('bench: the table, one row per load and the ratio', async () => {
  const r = await runCli(['bench', '--duration', '0.2', '--connections', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, /^bench http:\/\/127\.0\.0\.1:\d+\/ \(the lab server/);
  assert.match(lines[1]!, /^1 connection, 0\.2 s per load, keep-alive first$/);
  const header = lines.find((l) => l.startsWith('mode'));
  assert.ok(header, r.stdout);
  assert.deepEqual(header.split(/\s{2,}/), [
    'mode',
    'req/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'connections',
    'TIME_WAIT left',
    'errors',
  ]);
  const keepAlive = lines.find((l) => l.startsWith('keep-alive '))!.split(/\s{2,}/);
  const fresh = lines.find((l) => l.startsWith('new connection '))!.split(/\s{2,}/);
  assert.equal(keepAlive[6], '1');
  assert.equal(keepAlive[7], '1 client');
  assert.equal(keepAlive[8], '0');
  assert.equal(fresh[7], `${fresh[6]} server`);
  assert.match(
    r.stdout,
    /^keep-alive \/ new connection: [\d.]+x the requests\/s, [\d.]+x the p50 latency, [\d.]+x the p99$/m,
  );
});

test('bench: bad input is one line, exit 2 for usage, 1 for a target that refuses', async () => {
  for (const args of [
    ['--target', 'not a url'],
    ['--target', 'ftp://127.0.0.1/'],
    ['--duration', '0'],
    ['--duration', 'five'],
    ['--connections', '0'],
    ['--nope'],
  ]) {
    const r = await runCli(['bench', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^keepalive-lab bench: .*\(see keepalive-lab bench --help\)\n$/);
  }
  const closed = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => closed.once('listening', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const r = await runCli(['bench', '--target', `http://127.0.0.1:${port}/`, '--duration', '0.2']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    `keepalive-lab bench: error: cannot load http://127.0.0.1:${port}/: ECONNREFUSED (KAL_ERR_REQUESTS_FAILED)\n`,
  );
});
