/**
 * The proxy with real programs nobody here wrote: curl and ab as clients, the lab server and
 * python3's http.server as servers. The counts (and, where the programs make it certain, the closing
 * side) must match what those programs are known to do.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { startLabServer } from '../../src/lab/server.js';
import type { ObserverReport } from '../../src/model/report.js';
import { TcpProxy } from '../../src/observe/proxy.js';

const HOST = '127.0.0.1';
const missing = ['curl', 'ab', 'python3'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
if (missing.length > 0 && process.env.CI) throw new Error(`CI must have ${missing.join(', ')}`);
const skip = missing.length > 0 ? `not installed: ${missing.join(', ')}` : false;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (asynchronously: the proxy lives on this event loop). */
function runTool(t: TestContext, command: string, args: string[]): Promise<Ran> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => killIfRunning(child));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function killIfRunning(child: ChildProcess): Promise<void> | void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  return exited;
}

async function proxyTo(t: TestContext, port: number): Promise<{ proxy: TcpProxy; url: string }> {
  const proxy = new TcpProxy({ targetHost: HOST, targetPort: port });
  await proxy.start();
  t.after(() => proxy.stop());
  return { proxy, url: `http://${HOST}:${proxy.address.port}/` };
}

/** The proxy's report once `connections` connections have come and gone. */
async function settledReport(proxy: TcpProxy, connections: number): Promise<ObserverReport> {
  await proxy.whenSettled(connections);
  return proxy.stop();
}

async function labProxy(t: TestContext) {
  const lab = await startLabServer({ bodySize: 512 });
  t.after(() => lab.close());
  return proxyTo(t, lab.port);
}

const times = (n: number, url: string) => Array<string>(n).fill(url);

test('curl, one URL 5 times in one invocation -> 1 connection, 5 requests, closed by curl', { skip }, async (t) => {
  const { proxy, url } = await labProxy(t);
  const r = await runTool(t, 'curl', ['-s', '-o', '/dev/null', ...times(5, url)]);
  assert.equal(r.code, 0, r.stderr);
  const report = await settledReport(proxy, 1);
  assert.equal(report.totals.connections, 1);
  assert.equal(report.totals.requests, 5);
  assert.equal(report.totals.responses, 5);
  assert.deepEqual(report.connections[0]!.statusCodes, [200, 200, 200, 200, 200]);
  assert.equal(report.connections[0]!.closedFirstBy, 'client');
});

test("curl -H 'Connection: close' -> 5 connections, closed by the server", { skip }, async (t) => {
  const { proxy, url } = await labProxy(t);
  const r = await runTool(t, 'curl', [
    '-s',
    '-H',
    'Connection: close',
    ...times(5, url).flatMap((u) => ['-o', '/dev/null', u]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const report = await settledReport(proxy, 5);
  assert.equal(report.totals.connections, 5);
  assert.equal(report.totals.requests, 5);
  assert.deepEqual(report.totals.closedFirstBy, { client: 0, server: 5, unknown: 0 });
  assert.equal(report.http?.clientClose, 5);
});

test('ab -n 50 -c 1 (HTTP/1.0, no keep-alive) -> 50 connections, 50 requests', { skip }, async (t) => {
  const { proxy, url } = await labProxy(t);
  const r = await runTool(t, 'ab', ['-q', '-n', '50', '-c', '1', url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Complete requests:\s+50\b/);
  const report = await settledReport(proxy, 50);
  assert.equal(report.totals.connections, 50);
  assert.equal(report.totals.requests, 50);
  assert.equal(report.totals.requestsPerConnection?.max, 1);
  // HTTP/1.0 without keep-alive: the client asked for one request per connection.
  assert.equal(report.http?.clientClose, 50);
});

test('ab -k -n 50 -c 5 -> 5 connections, 50 requests', { skip }, async (t) => {
  const { proxy, url } = await labProxy(t);
  const r = await runTool(t, 'ab', ['-q', '-k', '-n', '50', '-c', '5', url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Keep-Alive requests:\s+50\b/);
  const report = await settledReport(proxy, 5);
  assert.equal(report.totals.connections, 5);
  assert.equal(report.totals.requests, 50);
  assert.equal(report.totals.reusedRequests, 45);
  assert.equal(report.totals.resets, 0);
});

test('python3 -m http.server (HTTP/1.0 server) -> one connection per request', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kal-proxy-py-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'hello.txt'), 'hello\n');
  const python = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', HOST, '--directory', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => killIfRunning(python));
  // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    python.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = / port (\d+) /.exec(out);
      if (m) resolve(Number(m[1]));
    });
    python.once('exit', (code) => reject(new Error(`python3 http.server exited (${code}) before listening: ${out}`)));
  });
  const { proxy, url } = await proxyTo(t, port);
  const r = await runTool(t, 'curl', ['-s', ...times(5, `${url}hello.txt`).flatMap((u) => ['-o', '/dev/null', u])]);
  assert.equal(r.code, 0, r.stderr);
  const report = await settledReport(proxy, 5);
  assert.equal(report.totals.connections, 5);
  assert.equal(report.totals.requests, 5);
  assert.equal(report.totals.requestsPerConnection?.max, 1);
  // BaseHTTPRequestHandler answers HTTP/1.0 without keep-alive: the server ends every connection.
  assert.equal(report.http?.serverClose, 5);
  // It closes after the response; curl, holding all Content-Length bytes of a non-persistent
  // response, closes too: either FIN may reach the proxy first. Both are clean closes.
  assert.equal(report.totals.closedFirstBy.unknown, 0);
  assert.equal(report.totals.resets, 0);
});
