/** `keepalive-lab proxy`, the built binary: help, usage errors (exit 2), a busy port, real runs. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { startLabServer } from '../../src/lab/server.js';
import type { Report } from '../../src/model/report.js';
import { REPORT_SCHEMA } from '../../src/model/report.js';
import { renderJson } from '../../src/report/json.js';
import { runCli, startCli } from '../support/cli.js';
import type { CliResult } from '../support/cli.js';

test('proxy --help: usage on stdout, exit 0; the command is listed', async () => {
  const r = await runCli(['proxy', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage: keepalive-lab proxy --target HOST:PORT/);
  assert.match(r.stdout, /--html FILE/);
  const top = await runCli(['--help']);
  assert.match(top.stdout, /^ {2}proxy +forward TCP/m);
});

test('proxy: bad flags and values -> one-line error that points to --help, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['proxy', '--bogus'], /Unknown option '--bogus'/],
    [['proxy'], /--target HOST:PORT is required/],
    [['proxy', '--target', 'localhost'], /--target must be HOST:PORT \(the port is missing\), got 'localhost'/],
    [['proxy', '--target', 'http://example.com/'], /an address, not a URL: try example\.com:80/],
    [['proxy', '--target', '::1:80'], /put an IPv6 address in brackets/],
    [['proxy', '--target', '127.0.0.1:0'], /the port must be between 1 and 65535/],
    [
      ['proxy', '--target', '127.0.0.1:80', '--listen', '70000'],
      /--listen must be HOST:PORT or PORT \(the port must be between 0 and 65535\)/,
    ],
    [['proxy', '--target', '127.0.0.1:80', '--listen', ':9000'], /the host is missing/],
    [['proxy', '--target', '127.0.0.1:80', '--listen', '[nope]:9000'], /'nope' is not an IPv6 address/],
    [['proxy', '--target', '127.0.0.1:80', '--duration', '0'], /--duration must be a number of seconds above 0/],
    [['proxy', '--target', '127.0.0.1:80', '--duration', 'soon'], /--duration must be a number of seconds.*got 'soon'/],
    [['proxy', '--target', '127.0.0.1:80', '--grace', 'x'], /--grace must be a whole number/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, /^keepalive-lab proxy: [^\n]+ \(see keepalive-lab proxy --help\)\n$/);
    assert.equal(r.stdout, '');
  }
});

test('proxy: a busy listen port -> KAL_ERR_PORT_IN_USE, exit 1', async (t) => {
  const busy = net.createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.after(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const port = (busy.address() as AddressInfo).port;
  const r = await runCli(['proxy', '--listen', `127.0.0.1:${port}`, '--target', '127.0.0.1:9']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(
      `port ${port} on 127\\.0\\.0\\.1 is already in use ` +
        '\\(choose another port with --listen.*\\(KAL_ERR_PORT_IN_USE\\)',
    ),
  );
});

interface Running {
  child: ChildProcess;
  done: Promise<CliResult>;
  port: number;
}

/** Starts `keepalive-lab proxy` on a free port and waits for its "listening on" line. */
async function startProxyCli(t: TestContext, args: string[]): Promise<Running> {
  const { child, done } = startCli(['proxy', '--listen', '127.0.0.1:0', ...args]);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return done.then(() => undefined);
  });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listening on 127\.0\.0\.1:(\d+),/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    void done.then((r) => reject(new Error(`proxy exited (${r.code}) before listening: ${r.stderr}`)));
  });
  return { child, done, port };
}

/** `count` sequential keep-alive requests over one connection, which is then closed. */
async function keepAliveRequests(port: number, count: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < count; i++) {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get(`http://127.0.0.1:${port}/`, { agent }, resolve).on('error', reject),
      );
      res.resume();
      await once(res, 'end');
    }
  } finally {
    agent.destroy();
  }
}

test('proxy --duration --json: runs, stops by itself, prints the Report with the counts', async (t) => {
  const lab = await startLabServer();
  t.after(() => lab.close());
  const proxy = await startProxyCli(t, ['--target', `127.0.0.1:${lab.port}`, '--duration', '2', '--json']);
  await keepAliveRequests(proxy.port, 3);
  const r = await proxy.done;
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.schema, REPORT_SCHEMA);
  assert.equal(report.command, 'proxy');
  assert.equal(report.runs.length, 1);
  const run = report.runs[0]!;
  assert.equal(run.subject, `127.0.0.1:${lab.port}`);
  assert.equal(run.observers.length, 1);
  const o = run.observers[0]!;
  assert.equal(o.observer, 'proxy');
  assert.equal(o.totals.connections, 1);
  assert.equal(o.totals.requests, 3);
  assert.equal(o.totals.responses, 3);
  assert.equal(o.connections[0]!.closedFirstBy, 'client');
  assert.equal(run.verdict.code, 'reuse');
});

test('proxy, stopped by Ctrl-C: the terminal report with its connections, exit 0', async (t) => {
  const lab = await startLabServer({ connectionClose: true });
  t.after(() => lab.close());
  const proxy = await startProxyCli(t, ['--target', `127.0.0.1:${lab.port}`]);
  for (let i = 0; i < 2; i++) await keepAliveRequests(proxy.port, 1);
  proxy.child.kill('SIGINT');
  const r = await proxy.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^#\s+proxy\s+requests\s+conns/m);
  assert.match(r.stdout, /connections seen by the proxy/);
  assert.equal(r.stdout.match(/^\s*\d+\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+ /gm)?.length, 2);
});

test('proxy, stopped by SIGTERM: the report is still printed (exit 143)', async (t) => {
  const proxy = await startProxyCli(t, ['--target', '127.0.0.1:9', '--json']);
  proxy.child.kill('SIGTERM');
  const r = await proxy.done;
  assert.equal(r.code, 143);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.runs[0]!.observers[0]!.totals.connections, 0);
  assert.equal(report.runs[0]!.verdict.code, 'no-traffic');
});

test('proxy --json, stopped by Ctrl-C the whole report reaches the pipe before exit', async (t) => {
  const lab = await startLabServer();
  t.after(() => lab.close());
  const proxy = await startProxyCli(t, ['--target', `127.0.0.1:${lab.port}`, '--json']);
  // 2000 connections: a report of about 1.4 MB, much more than a pipe holds (64 KiB).
  const connections = 2000;
  for (let i = 0; i < connections; i++) {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(`http://127.0.0.1:${proxy.port}/`, { agent: false }, resolve).on('error', reject),
    );
    res.resume();
    await once(res, 'close');
  }
  // What the pipe had not taken yet when the process exited (process.exit) used to be dropped: the
  // document ended after a few hundred KB, with exit code 0.
  proxy.child.kill('SIGINT');
  const r = await proxy.done;
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.length > 1024 * 1024, `a report of ${r.stdout.length} bytes`);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.runs[0]!.observers[0]!.totals.connections, connections);
});

/** `count` connections one after another, one request each (the server closes each). */
async function oneRequestEach(port: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(`http://127.0.0.1:${port}/`, { agent: false }, resolve).on('error', reject),
    );
    res.resume();
    await once(res, 'close');
  }
}

test(
  'proxy --json writes each record as its connection closes; the whole is renderJson of the report',
  // Records written only at the end would leave it waiting for them: the timeout fails it.
  { timeout: 30_000 },
  async (t) => {
    const lab = await startLabServer({ connectionClose: true });
    t.after(() => lab.close());
    const proxy = await startProxyCli(t, ['--target', `127.0.0.1:${lab.port}`, '--json']);
    let early = '';
    const third = new Promise<void>((resolve) =>
      proxy.child.stdout!.on('data', (c: Buffer) => {
        early += c.toString();
        if (/"id": 3,/.test(early)) resolve();
      }),
    );
    await oneRequestEach(proxy.port, 3);
    // The records are on stdout while the proxy still runs.
    await third;
    assert.equal(proxy.child.exitCode, null);
    proxy.child.kill('SIGINT');
    const r = await proxy.done;
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(r.stdout, renderJson(report));
    const o = report.runs[0]!.observers[0]!;
    assert.deepEqual(
      o.connections.map((c) => [c.id, c.requests, c.closedFirstBy]),
      [
        [1, 1, 'server'],
        [2, 1, 'server'],
        [3, 1, 'server'],
      ],
    );
    assert.equal(o.connectionsOmitted, undefined);
    assert.equal(o.totals.connections, 3);
  },
);

test('proxy: the terminal report shows the last 50 connections and says of how many', async (t) => {
  const lab = await startLabServer({ connectionClose: true });
  t.after(() => lab.close());
  const proxy = await startProxyCli(t, ['--target', `127.0.0.1:${lab.port}`]);
  await oneRequestEach(proxy.port, 55);
  proxy.child.kill('SIGINT');
  const r = await proxy.done;
  assert.equal(r.code, 0, r.stderr);
  const rows = [...r.stdout.matchAll(/^\s*(\d+)\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+ /gm)].map((m) => Number(m[1]));
  assert.deepEqual(
    rows,
    Array.from({ length: 50 }, (_, i) => i + 6),
  );
  assert.match(r.stdout, /^the last 50 of 55 connections \(--json has them all\)$/m);
  assert.match(r.stdout, /\b55\b/);
});
