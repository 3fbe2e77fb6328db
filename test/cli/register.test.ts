/**
 * `node --import <dist>/src/register.js app` as a user runs it, on an ESM and a CommonJS app: the
 * summary on stderr at exit and on SIGUSR2, the report files, and never hurting the app (its exit
 * code, its output, an unwritable report path as one warning line, a process that exits on its own).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../src/model/report.js';

const REGISTER = fileURLToPath(new URL('../../src/register.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kal-register-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * An app: a loopback server that counts its connections, 5 sequential keep-alive requests with
 * node:http and 2 with fetch (which may open a second connection for its second request: undici
 * frees the socket a turn after the body's end), then `tail`.
 */
function app(kind: 'mjs' | 'cjs', tail = ''): string {
  const body = `
let connections = 0;
const srv = http.createServer((q, s) => s.end('hello')).on('connection', () => connections++);
srv.listen(0, '127.0.0.1', async () => {
  const port = srv.address().port;
  const agent = new http.Agent({ keepAlive: true });
  for (let i = 0; i < 5; i++)
    await new Promise((res, rej) => http.get({ host: '127.0.0.1', port, agent }, (r) => { r.resume(); r.on('end', res); }).on('error', rej));
  for (let i = 0; i < 2; i++) { const r = await fetch('http://127.0.0.1:' + port + '/'); await r.text(); }
  console.log('app output, server connections ' + connections);
  const done = () => { agent.destroy(); srv.closeAllConnections(); srv.close(); };
  ${tail || 'done();'}
});
`;
  const head = kind === 'mjs' ? "import http from 'node:http';" : "const http = require('node:http');";
  const file = join(dir, `app-${Math.random().toString(36).slice(2)}.${kind}`);
  writeFileSync(file, `${head}\n${body}`);
  return file;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `file` under the register; `onOutput` is called with the output so far at each chunk. */
function run(
  file: string,
  env: NodeJS.ProcessEnv = {},
  onOutput?: (out: Run, child: ReturnType<typeof spawn>) => void,
): Promise<Run> {
  const child = spawn(process.execPath, ['--import', REGISTER, file], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    onOutput?.({ code: null, stdout, stderr }, child);
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    onOutput?.({ code: null, stdout, stderr }, child);
  });
  // A process the register kept alive would hang here: killed, and the test fails on its signal.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** The app's own count of its server's connections (its only output line). */
function serverConnections(stdout: string): number {
  const m = /^app output, server connections (\d+)\n$/.exec(stdout);
  assert.ok(m, stdout);
  return Number(m[1]);
}

/** The summary's line for the app's origin: "http://127.0.0.1:PORT: 7 requests, 2 connections (...)". */
function originLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => /^ {2}http:\/\/127\.0\.0\.1:\d+: /.test(l));
  assert.ok(line, stderr);
  return line;
}

for (const kind of ['mjs', 'cjs'] as const)
  test(`${kind}: the summary at exit counts the app's requests and connections; the app's output and exit code unchanged`, async () => {
    const r = await run(app(kind, 'done(); process.exitCode = 3;'));
    assert.equal(r.code, 3);
    const connections = serverConnections(r.stdout);
    assert.match(r.stderr, /^keepalive-lab register \(exit\): 1 origin$/m);
    const reused = Math.round(((7 - connections) / 7) * 100);
    assert.match(
      originLine(r.stderr),
      new RegExp(`: 7 requests, ${connections} connections \\(0 open\\), reuse ${reused}%;`),
    );
  });

test('KEEPALIVE_LAB_REPORT=x.json writes the report: command register, the process observer, its origin', async () => {
  const path = join(dir, 'report.json');
  const r = await run(app('mjs'), { KEEPALIVE_LAB_REPORT: path });
  assert.equal(r.code, 0);
  const report = JSON.parse(readFileSync(path, 'utf8')) as Report;
  assert.equal(report.command, 'register');
  const [runReport] = report.runs;
  const process = runReport!.observers[0]!;
  assert.equal(process.observer, 'process');
  const connections = serverConnections(r.stdout);
  assert.equal(process.totals.connections, connections);
  assert.equal(process.totals.requests, 7);
  assert.equal(process.totals.reusedRequests, 7 - connections);
  assert.equal(runReport!.process?.origins.length, 1);
  assert.equal(runReport!.process?.origins[0]!.requests, 7);
});

test('KEEPALIVE_LAB_REPORT=x.html writes the HTML report', async () => {
  const path = join(dir, 'report.html');
  const r = await run(app('cjs'), { KEEPALIVE_LAB_REPORT: path });
  assert.equal(r.code, 0);
  assert.match(readFileSync(path, 'utf8'), /^<!doctype html>/i);
});

test('an unwritable report path is one warning line; the app exits as it would', async () => {
  const r = await run(app('mjs'), { KEEPALIVE_LAB_REPORT: join(dir, 'missing-dir', 'r.json') });
  assert.equal(r.code, 0);
  serverConnections(r.stdout);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('keepalive-lab: '));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, /^keepalive-lab: KAL_WARN_REGISTER_REPORT cannot write .*r\.json: ENOENT$/);
});

test('an uncaught exception still ends the app with code 1 and its own message; the summary follows', async () => {
  const r = await run(app('cjs', "done(); throw new Error('app failed');"));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Error: app failed/);
  assert.match(r.stderr, /keepalive-lab register \(exit\)/);
});

test('SIGUSR2 prints the summary while the app runs on; it exits later as it would', async () => {
  const file = app('mjs', "process.stdin.once('data', () => { done(); process.stdin.destroy(); });");
  let signalled = false;
  let quit = false;
  const r = await run(file, {}, (out, child) => {
    if (!signalled && out.stdout.includes('app output')) {
      signalled = true;
      child.kill('SIGUSR2');
    }
    // Once the SIGUSR2 summary is out, the app is told to finish.
    if (signalled && !quit && out.stderr.includes('(SIGUSR2)')) {
      quit = true;
      child.stdin!.write('quit\n');
    }
  });
  assert.equal(r.code, 0);
  assert.match(r.stderr, /keepalive-lab register \(SIGUSR2\)/);
  assert.match(r.stderr, /keepalive-lab register \(exit\)/);
});
