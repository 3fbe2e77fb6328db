/** The built binary, spawned: help, bad input (exit 2), demo --json, run, Ctrl-C cleanup. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { test } from 'node:test';
import type { Report } from '../../src/model/report.js';
import { REPORT_SCHEMA } from '../../src/model/report.js';
import type { PageData, PageExchange } from '../../src/report/html/data.js';
import { captureSkip } from '../support/capture-env.js';
import { runCli, startCli } from '../support/cli.js';

const skip = captureSkip();

test('--help lists the commands; each command has its own --help', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  for (const name of ['demo', 'run', 'sockets']) assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'));
  for (const name of ['demo', 'run', 'sockets']) {
    const h = await runCli([name, '--help']);
    assert.equal(h.code, 0, name);
    assert.match(h.stdout, new RegExp(`Usage: keepalive-lab ${name}`));
  }
});

test('no command: usage on stderr, exit 2; unknown command: exit 2', async () => {
  const none = await runCli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: keepalive-lab <command>/);
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
});

test('bad flags and values: one-line error that points to --help, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['run', '--bogus'], /Unknown option '--bogus'/],
    [['run', '--requests', 'ten'], /--requests must be a whole number between 1 and 1000000, got 'ten'/],
    [['run', '--requests', '0'], /--requests must be a whole number between 1/],
    [['run', '--client', 'curl'], /--client must be one of http, fetch/],
    [['run', '--body-size', 'lots'], /--body-size must be a size/],
    [['run', '--port', '70000'], /--port must be a whole number between 1 and 65535/],
    [['run', '--target', 'not a url'], /--target is not a URL/],
    [['sockets', '--state', 'SLEEPY'], /--state must be among/],
    [['demo', 'extra'], /Unexpected argument 'extra'/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr.split('\n')[0]!, message, args.join(' '));
    assert.match(r.stderr, /^keepalive-lab \w+: [^\n]+ \(see keepalive-lab \w+ --help\)\n$/, args.join(' '));
  }
});

test('a busy --port: clear error with the hint, exit 1', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as net.AddressInfo).port;
  const r = await runCli(['run', '--port', String(port), '--no-capture']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(`port ${port} on 127.0.0.1 is already in use \\(leave out --port to pick a free one\\)`),
  );
  assert.match(r.stderr, /KAL_ERR_PORT_IN_USE/);
});

test('demo --json: the documented schema, with the four experiments counted', { skip }, async () => {
  const r = await runCli(['demo', '--json'], 120000);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.schema, REPORT_SCHEMA);
  assert.equal(report.command, 'demo');
  const byName = new Map(report.runs.map((run) => [run.name, run]));
  const wire = (name: string) => byName.get(name)!.observers.find((o) => o.observer === 'wire')!;
  assert.equal(wire('seq-unread').totals.connections, 10);
  assert.equal(wire('seq-unread').totals.syns, 10);
  assert.equal(wire('seq-read').totals.connections, 1);
  assert.equal(wire('seq-read').totals.syns, 1);
  assert.ok(wire('conc-pool-2').totals.connections > 10);
  assert.equal(wire('conc-pool-10').totals.connections, 10);
  for (const run of report.runs) {
    // The one disagreement the report explains by itself: a connection reset between two snapshots
    // of the socket table leaves no TIME_WAIT behind (seen once with four test suites on 2 cores).
    const unexplained = run.agreement.differences.filter((d) => {
      if (!/the kernel can miss it/.test(d)) return true;
      // Only the kernel may be short: the other observers must still agree with each other.
      const others = [...d.matchAll(/(server|wire|proxy) (\d+)/g)].map((m) => m[2]);
      return new Set(others).size !== 1;
    });
    assert.deepEqual(unexplained, [], `${run.name}: ${run.agreement.differences.join('; ')}`);
  }
});

test('run prints the table row and the verdict', async () => {
  const r = await runCli(['run', '--no-consume-body', '--requests', '4', '--no-capture']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /body never read: each request needed a new connection/);
  assert.match(r.stdout, /http, 4 sequential, body unread/);
});

test('run --html: the server observer lists each request on its connection for the timeline', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kal-cli-html-'));
  try {
    const out = join(dir, 'run.html');
    const r = await runCli(['run', '--requests', '3', '--no-capture', '--html', out]);
    assert.equal(r.code, 0, r.stderr);
    const html = readFileSync(out, 'utf8');
    const data = JSON.parse(
      /<script type="application\/json" id="kal-data">([^<]*)<\/script>/.exec(html)![1]!,
    ) as PageData;
    const run = data.runs[0]!;
    assert.equal(run.observer, 'server');
    const exchanges = run.connections.flatMap((c) => c[data.fields.indexOf('exchanges')] as PageExchange[]);
    assert.equal(exchanges.length, 3);
    for (const x of exchanges) {
      assert.deepEqual([x[2], x[4]], ['GET', 200]);
      assert.match(x[3], /^\//, 'the path as the server read it');
      assert.ok(x[1] !== null && x[1] >= x[0]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C during a run: exit 130, no tcpdump and no server left behind', { skip }, async () => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const { child, done } = startCli(['run', '--port', String(port), '--requests', '100000', '--interval', '5']);
  const tcpdumpRunning = () => spawnSync('pgrep', ['-f', `tcpdump .*tcp port ${port}[^0-9]`]).status === 0;
  // Wait (bounded) until the capture is up, then interrupt.
  for (let i = 0; i < 500 && !tcpdumpRunning(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(tcpdumpRunning(), 'tcpdump started');
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  assert.equal(tcpdumpRunning(), false, 'tcpdump is gone');
  // The port is free again: nothing listens on it.
  const again = net.createServer();
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.listen(port, '127.0.0.1', resolve);
  });
  await new Promise<void>((resolve) => again.close(() => resolve()));
});

test('the built binary is executable (npx keepalive-lab runs it directly)', async () => {
  const { statSync } = await import('node:fs');
  const { BIN } = await import('../support/cli.js');
  assert.ok((statSync(BIN).mode & 0o111) !== 0, `${BIN} has no execute bit`);
  const r = spawnSync(BIN, ['--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});
