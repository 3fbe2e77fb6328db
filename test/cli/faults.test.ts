/**
 * Exit codes that tell the truth, and input that never ends (issue 8), the built binary spawned as
 * a user runs it: a run whose requests failed prints its report, then one line saying what failed,
 * and exits 1 (refused, timed out, TLS spoken to a plain HTTP server); `analyze -` stops reading a
 * stream where it is damaged, however much more would come.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import type { Report } from '../../src/model/report.js';
import { buildPcapng } from '../support/capture-builder.js';
import { BIN, runCli } from '../support/cli.js';
import { Conversation, httpGet, httpResponse } from '../support/tcp-conversation.js';

/** A port nothing listens on: one the system just gave and took back. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The last line on stderr. */
const lastLine = (stderr: string): string => stderr.trimEnd().split('\n').pop()!;

test('run: refused connections -> the report, then one line, exit 1 (KAL_ERR_REQUESTS_FAILED)', async () => {
  const port = await closedPort();
  const r = await runCli(['run', '--target', `http://127.0.0.1:${port}/`, '--requests', '3', '--no-capture']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /http, 3 sequential/, 'the report is printed');
  assert.equal(
    lastLine(r.stderr),
    `keepalive-lab run: error: 3 of 3 requests failed: connect ECONNREFUSED 127.0.0.1:${port} (KAL_ERR_REQUESTS_FAILED)`,
  );
});

test('run --json: the report is whole on stdout, the failure on stderr, exit 1', async () => {
  const port = await closedPort();
  const r = await runCli(['run', '--target', `http://127.0.0.1:${port}/`, '--requests', '2', '--no-capture', '--json']);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.runs[0]!.client!.completed, 0);
  assert.match(lastLine(r.stderr), /^keepalive-lab run: error: 2 of 2 requests failed: .*\(KAL_ERR_REQUESTS_FAILED\)$/);
});

test('run --timeout: out of time -> exit 1 (KAL_ERR_TIMEOUT)', async () => {
  const r = await runCli(['run', '--requests', '5', '--interval', '200', '--timeout', '100', '--no-capture']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /http, 5 sequential/);
  const timedOut = /^keepalive-lab run: error: the experiment did not finish within 100 ms: [0-4] of 5 requests/;
  assert.match(lastLine(r.stderr), new RegExp(`${timedOut.source} completed \\(KAL_ERR_TIMEOUT\\)$`));
});

test('run --target https:// against a plain HTTP server (EPROTO) -> one line, exit 1', async (t) => {
  const server = http.createServer((_, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as net.AddressInfo;
  const r = await runCli(['run', '--target', `https://127.0.0.1:${port}/`, '--requests', '2', '--no-capture']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    lastLine(r.stderr),
    /^keepalive-lab run: error: 2 of 2 requests failed: .*EPROTO.* \(KAL_ERR_REQUESTS_FAILED\)$/,
  );
  // And the same server spoken to in HTTP: every request completes, exit 0.
  const ok = await runCli(['run', '--target', `http://127.0.0.1:${port}/`, '--requests', '2', '--no-capture']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('analyze -: a pcapng cut at 128 bytes, then zeros without end, stops at once with a warning', async () => {
  const c = new Conversation({ address: '10.0.0.1', port: 50000 }, { address: '10.0.0.2', port: 80 }).handshake();
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(200, 'ok'), { ack: true });
  const head = buildPcapng({ interfaces: [{ linkType: 1 }], blocks: c.packets }).subarray(0, 128);
  const child = spawn(process.execPath, [BIN, 'analyze', '-', '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', (exitCode) => resolve(exitCode)));
  let done = false;
  void closed.then(() => (done = true));
  // `cat /dev/zero`, bounded: 100 MB at most, written as fast as the reader takes it.
  const zeros = Buffer.alloc(64 * 1024);
  let written = head.length;
  child.stdin.on('error', () => undefined); // EPIPE once the reader has stopped
  child.stdin.write(head);
  while (written < 100 * 1024 * 1024 && !done && !child.stdin.destroyed) {
    written += zeros.length;
    if (!child.stdin.write(zeros)) await Promise.race([once(child.stdin, 'drain').catch(() => undefined), closed]);
  }
  child.stdin.end();
  const code = await closed;
  assert.equal(code, 0);
  assert.ok(written < 8 * 1024 * 1024, `stopped after ${written} bytes`);
  const report = JSON.parse(stdout) as Report;
  const codes = report.runs[0]!.observers[0]!.warnings.map((w) => w.code);
  assert.ok(codes.includes('KAL_WARN_BAD_RECORD_LENGTH'), codes.join(', '));
});
