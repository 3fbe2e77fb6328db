/**
 * `node --import <dist>/src/register.js app` as a user runs it, on an ESM and a CommonJS app: the
 * summary on stderr at exit and on SIGUSR2, the report files, and never hurting the app (its exit
 * code, its output, an unwritable report path as one warning line, a process that exits on its own).
 * SIGINT and SIGTERM: an app without a handler still writes its report and dies of the signal, as it
 * would without the register (each compared with a run without it); an app's own handler is left alone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `file` under the register (without it: `register` false); `onOutput` is called with the output so
 * far at each chunk.
 */
function run(
  file: string,
  env: NodeJS.ProcessEnv = {},
  onOutput?: (out: Run, child: ReturnType<typeof spawn>) => void,
  register = true,
): Promise<Run> {
  const child = spawn(process.execPath, [...(register ? ['--import', REGISTER] : []), file], {
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
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
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

test('in a worker thread the register subscribes to nothing and reports nothing; the main thread tracks', async () => {
  // --import runs again in a worker started from a file (Node 20, 22 and 24), not in one started with
  // execArgv: [] or from eval; an app's worker may also import it itself: this one does, both ways.
  writeFileSync(
    join(dir, 'worker.mjs'),
    `import dc from 'node:diagnostics_channel';
import { parentPort } from 'node:worker_threads';
await import(${JSON.stringify(pathToFileURL(REGISTER).href)});
parentPort.postMessage([dc.hasSubscribers('http.client.request.start'), dc.hasSubscribers('undici:request:create')]);
`,
  );
  const file = join(dir, 'worker-app.mjs');
  writeFileSync(
    file,
    `import dc from 'node:diagnostics_channel';
import { Worker } from 'node:worker_threads';
new Worker(new URL('./worker.mjs', import.meta.url)).once('message', (m) => {
  console.log('main ' + dc.hasSubscribers('http.client.request.start') + ', worker ' + m.join(' '));
});
`,
  );
  const r = await run(file);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'main true, worker false false\n');
  assert.equal(r.stderr.match(/^keepalive-lab register \(exit\)/gm)?.length, 1, r.stderr);
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

/** Sends `signal` once the app's output holds `after` (by default: it waits, its handlers in place), once. */
function sendOnOutput(signal: NodeJS.Signals, after = 'app waits') {
  let sent = false;
  return (out: Run, child: ReturnType<typeof spawn>) => {
    if (sent || !out.stdout.includes(after)) return;
    sent = true;
    child.kill(signal);
  };
}

/**
 * Keeps the app running until a signal ends it, and says so: the tail's last words, after its own
 * handlers are in place (a signal sent on its first line could come before them).
 */
const WAIT = "setInterval(() => {}, 1 << 30); console.log('app waits');";

/** SIGINT and SIGTERM are the register's only when asked (what `watch` sets for its command). */
const ALL = { KEEPALIVE_LAB_SIGNAL: 'all' };

test('by default SIGINT and SIGTERM are left alone (an app busy in sync code must still die at once): no report', async () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const path = join(dir, `default-${signal}.json`);
    const r = await run(app('mjs', WAIT), { KEEPALIVE_LAB_REPORT: path }, sendOnOutput(signal));
    assert.deepEqual([r.code, r.signal], [null, signal], r.stderr);
    assert.equal(existsSync(path), false);
  }
});

test('KEEPALIVE_LAB_SIGNAL=all: an app busy in synchronous code when SIGTERM comes runs on until it yields (why it is opt-in)', async () => {
  // The app spins in synchronous code until a flag file exists; the test writes it only after the signal
  // was sent. Without our listener the default action kills it in the spin; with it, Node only notes
  // the signal, the spin ends, and our listener runs once the app yields, then raises the signal again.
  const flag = join(dir, 'busy-flag');
  const tail =
    "console.log('app waits'); while (!require('node:fs').existsSync(" +
    JSON.stringify(flag) +
    ')); ' +
    "console.log('app yielded'); setInterval(() => {}, 1 << 30);";
  const sendThenFlag = () => {
    let sent = false;
    return (out: Run, child: ReturnType<typeof spawn>) => {
      if (sent || !out.stdout.includes('app waits')) return;
      sent = true;
      child.kill('SIGTERM');
      writeFileSync(flag, '');
    };
  };
  const plain = await run(app('cjs', tail), {}, sendThenFlag(), false);
  rmSync(flag, { force: true });
  assert.deepEqual([plain.code, plain.signal], [null, 'SIGTERM']);
  assert.doesNotMatch(plain.stdout, /app yielded/);
  const r = await run(app('cjs', tail), ALL, sendThenFlag());
  rmSync(flag, { force: true });
  assert.deepEqual([r.code, r.signal], [null, 'SIGTERM'], r.stderr);
  assert.match(r.stdout, /app yielded/);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  test(`${signal}, the app has no handler: the report is written, then it dies of ${signal} as without the register`, async () => {
    const file = app('mjs', WAIT);
    const plain = await run(file, {}, sendOnOutput(signal), false);
    assert.deepEqual([plain.code, plain.signal], [null, signal], 'without the register');
    const path = join(dir, `killed-${signal}.json`);
    const r = await run(file, { KEEPALIVE_LAB_REPORT: path, ...ALL }, sendOnOutput(signal));
    assert.deepEqual([r.code, r.signal], [null, signal], r.stderr);
    assert.match(r.stderr, new RegExp(`^keepalive-lab register \\(${signal}\\): 1 origin$`, 'm'));
    const report = JSON.parse(readFileSync(path, 'utf8')) as Report;
    assert.equal(report.runs[0]!.observers[0]!.totals.requests, 7);
  });

test('SIGINT, the app has its own handler: it runs as it would (its output, its exit code); the report at exit', async () => {
  const tail = `process.on('SIGINT', () => { console.log('app handled SIGINT'); clearInterval(t); done(); process.exitCode = 7; });
  const t = ${WAIT}`;
  const file = app('cjs', tail);
  const plain = await run(file, {}, sendOnOutput('SIGINT'), false);
  assert.deepEqual([plain.code, plain.signal], [7, null], 'without the register');
  const path = join(dir, 'handled.json');
  const r = await run(file, { KEEPALIVE_LAB_REPORT: path, ...ALL }, sendOnOutput('SIGINT'));
  assert.deepEqual([r.code, r.signal], [7, null], r.stderr);
  assert.match(r.stdout, /app handled SIGINT\n$/);
  assert.match(r.stderr, /keepalive-lab register \(exit\)/);
  assert.doesNotMatch(r.stderr, /keepalive-lab register \(SIGINT\)/);
  assert.equal((JSON.parse(readFileSync(path, 'utf8')) as Report).runs[0]!.observers[0]!.totals.requests, 7);
});

test('an app that handles SIGINT (and runs on) but not SIGTERM: SIGINT is its own, SIGTERM ends it with the report', async () => {
  const tail = `process.on('SIGINT', () => console.log('app ignores SIGINT')); ${WAIT}`;
  const file = app('mjs', tail);
  // SIGINT once its requests are done, then SIGTERM once it said it ignored the SIGINT.
  const both = () => {
    const int = sendOnOutput('SIGINT');
    const term = sendOnOutput('SIGTERM', 'app ignores SIGINT');
    return (out: Run, child: ReturnType<typeof spawn>) => (int(out, child), term(out, child));
  };
  const plain = await run(file, {}, both(), false);
  assert.deepEqual([plain.code, plain.signal], [null, 'SIGTERM'], 'without the register');
  const path = join(dir, 'ignored.json');
  const r = await run(file, { KEEPALIVE_LAB_REPORT: path, ...ALL }, both());
  assert.deepEqual([r.code, r.signal], [null, 'SIGTERM'], r.stderr);
  assert.match(r.stdout, /app ignores SIGINT\n$/);
  assert.doesNotMatch(r.stderr, /keepalive-lab register \(SIGINT\)/);
  assert.match(r.stderr, /^keepalive-lab register \(SIGTERM\)/m);
  assert.equal((JSON.parse(readFileSync(path, 'utf8')) as Report).runs[0]!.observers[0]!.totals.requests, 7);
});

test("an app whose handler ends it only when it is the signal's one listener (signal-exit's way) still dies of it", async () => {
  // signal-exit (used by many CLIs) raises the signal again only when its listener is the only one: ours
  // beside it would have let the app run on.
  const tail = `process.on('SIGINT', function own() {
    console.log('app listeners ' + process.listenerCount('SIGINT'));
    if (process.listenerCount('SIGINT') === 1) { process.removeListener('SIGINT', own); process.kill(process.pid, 'SIGINT'); }
  }); ${WAIT}`;
  const file = app('mjs', tail);
  const plain = await run(file, {}, sendOnOutput('SIGINT'), false);
  assert.deepEqual([plain.code, plain.signal], [null, 'SIGINT'], 'without the register');
  const r = await run(file, ALL, sendOnOutput('SIGINT'));
  assert.deepEqual([r.code, r.signal], [null, 'SIGINT'], r.stdout + r.stderr);
  assert.match(r.stdout, /app listeners 1\n$/);
});

test('KEEPALIVE_LAB_SIGNAL=0: SIGUSR2 is left alone too (no listener, no report), the app dies of it', async () => {
  // SIGUSR2, the one signal the register takes by default: SIGINT is left alone without the variable.
  const path = join(dir, 'no-signal.json');
  const r = await run(
    app('mjs', WAIT),
    { KEEPALIVE_LAB_REPORT: path, KEEPALIVE_LAB_SIGNAL: '0' },
    sendOnOutput('SIGUSR2'),
  );
  assert.deepEqual([r.code, r.signal], [null, 'SIGUSR2'], r.stderr);
  assert.doesNotMatch(r.stderr, /keepalive-lab register \(SIGUSR2\)/);
  assert.equal(existsSync(path), false);
});
