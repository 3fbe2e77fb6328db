/**
 * `keepalive-lab probe`, the built binary spawned as a user runs it: bad input (exit 2 with one line),
 * a refused port, a server that never answers and one that does not speak TLS (one line each with its
 * code, exit 1), --json on a pipe (the report's probe section, nothing on stderr), and Ctrl-C, after
 * which the server sees every connection of the probe closed.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Report } from '../../src/model/report.js';
import { runCli, startCli } from '../support/cli.js';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

for (const [args, pattern] of [
  [['not a url'], /URL is not a URL: 'not a url'/],
  [['ftp://127.0.0.1/'], /URL must be an http:\/\/ or https:\/\/ URL/],
  [[], /a URL to probe is required/],
  [['http://127.0.0.1:1/', '--max-connections', '101'], /--max-connections must be a whole number between 1 and 100/],
  [['http://127.0.0.1:1/', '--quick', '--max-idle', '5'], /--quick and --max-idle/],
] as const) {
  test(`usage: ${args.join(' ') || '(no URL)'} -> exit 2, one line`, async () => {
    const r = await runCli(['probe', ...args]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, pattern);
    assert.match(r.stderr, /\(see keepalive-lab probe --help\)\n$/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
}

test('a refused port: KAL_ERR_UNREACHABLE, exit 1', async () => {
  const server = net.createServer();
  const port = await listen(server);
  // Closed again: nothing listens there now.
  await new Promise((resolve) => server.close(resolve));
  const r = await runCli(['probe', `http://127.0.0.1:${port}/`], 20_000);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^keepalive-lab probe: error: cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED.*\(KAL_ERR_UNREACHABLE\)\n$/,
  );
});

test('a server that takes the connection and never answers: KAL_ERR_NO_RESPONSE within --timeout', async () => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  const port = await listen(server);
  try {
    const r = await runCli(['probe', `http://127.0.0.1:${port}/`, '--timeout', '0.5'], 20_000);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sent no response within 500 ms \(--timeout\) \(KAL_ERR_NO_RESPONSE\)\n$/);
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test('https to a server that does not speak TLS: KAL_ERR_TLS', async () => {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  });
  const port = await listen(server);
  try {
    const r = await runCli(['probe', `https://127.0.0.1:${port}/`, '--timeout', '2'], 20_000);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^keepalive-lab probe: error: TLS handshake with 127\.0\.0\.1:\d+ failed: .*\(KAL_ERR_TLS\)\n$/,
    );
  } finally {
    server.close();
  }
});

test('--json on a pipe: the probe section of the report, nothing on stderr', async () => {
  const server = http.createServer((req, res) => res.end('ok'));
  // Node's server closes keepAliveTimeout + 1 s after the response (current releases): about 1.2 s.
  server.keepAliveTimeout = 200;
  const port = await listen(server);
  try {
    const r = await runCli(
      ['probe', `http://127.0.0.1:${port}/x`, '--max-idle', '3', '--max-requests', '60', '--json'],
      30_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.schema, 'keepalive-lab/report@1');
    assert.equal(report.command, 'probe');
    assert.deepEqual(report.runs, []);
    const p = report.probe!;
    assert.equal(p.url, `http://127.0.0.1:${port}/x`);
    assert.equal(p.http1.advertised?.timeoutS, 0, 'Node sends timeout=0 for 200 ms (whole seconds, floored)');
    assert.ok(p.idleTimeout.timeoutMs !== null && p.idleTimeout.timeoutMs < 3000);
    assert.ok(p.budget.requests <= 60 && p.budget.connections <= 20);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('Ctrl-C: exit 130, and every connection of the probe is closed', async () => {
  const open = new Set<net.Socket>();
  const server = http.createServer((req, res) => res.end('ok'));
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: net.Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  const port = await listen(server);
  const { child, done } = startCli(['probe', `http://127.0.0.1:${port}/`, '--max-idle', '30']);
  // A probe that ignored SIGINT (or a failed assertion before it) is killed: no process outlives the test.
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    // Wait until the idle trials hold their connections open (polled, bounded; done as soon as they are).
    for (let i = 0; i < 800 && open.size < 5; i++) await delay(25);
    assert.ok(open.size >= 5, `idle trials open (${open.size})`);
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130);
    for (let i = 0; i < 200 && open.size > 0; i++) await delay(10);
    assert.equal(open.size, 0, 'the server sees every connection closed');
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
    server.closeAllConnections();
    server.close();
  }
});
