/**
 * An AbortSignal ends every long call of the library cleanly: runExperiment, analyzeCapture, watch
 * and runProxy, each aborted for real while it runs. Each ends within a bound, and nothing is left
 * behind: no tcpdump child, the port free again, the watched command gone, the file closed.
 * Bounds are generous (a loaded machine); what is counted is that the call ends, not how fast.
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { writeChurnCapture } from '../support/synthetic.js';
import { PortInUseError, UsageError } from '../../src/errors.js';
import { runExperiment } from '../../src/lab/engine.js';
import { runProxy } from '../../src/lab/proxy.js';
import type { RunningProxy } from '../../src/lab/proxy.js';
import { watch } from '../../src/lab/watch.js';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { readSocketTable } from '../../src/observe/socket-table.js';
import { buildPcap } from '../support/capture-builder.js';
import { captureSkip } from '../support/capture-env.js';
import { assertNothingLeft, childrenNamed, portIsFree, tcpdumpChildren } from '../support/leaks.js';

const skip = captureSkip();
/** On 127.0.0.3: no other test's connections to a port number we drew too. */
const HOST = '127.0.0.3';
const BOUND_MS = 10_000;

/** A port nothing listens on at the moment. */
async function freePort(host = HOST): Promise<number> {
  const server = net.createServer().listen(0, host);
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once `condition` holds; fails the test after BOUND_MS. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** `promise` settles within BOUND_MS of now. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within ${BOUND_MS} ms`)), BOUND_MS);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

const isAbort = (e: unknown) => e instanceof DOMException && e.name === 'AbortError';

/** Resolves once the kernel shows a connection to `port` established: the client is running. */
async function clientRunning(port: number): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const { entries } = await readSocketTable({ ports: [port] });
    if (entries.some((e) => e.state === 'ESTABLISHED' && e.remote.port === port)) return;
    if (Date.now() > deadline) assert.fail(`no connection to port ${port}`);
    await delay(10);
  }
}

test('runExperiment: aborted while the client runs, with tcpdump capturing', { skip }, async () => {
  const port = await freePort();
  const controller = new AbortController();
  const running = runExperiment({
    requests: 1_000_000,
    intervalMs: 5,
    host: HOST,
    port,
    signal: controller.signal,
  });
  await until(() => tcpdumpChildren().length > 0, 'tcpdump to start');
  await clientRunning(port);
  controller.abort();
  await assert.rejects(within(running, 'the aborted experiment'), isAbort);
  await assertNothingLeft({ host: HOST, port });
});

test('runExperiment: aborted without capture; an aborted signal rejects before anything starts', async () => {
  const port = await freePort();
  const controller = new AbortController();
  const reason = new Error('enough');
  const running = runExperiment({ requests: 1_000_000, host: HOST, port, capture: false, signal: controller.signal });
  await clientRunning(port);
  controller.abort(reason);
  await assert.rejects(within(running, 'the aborted experiment'), (e) => e === reason);
  await assertNothingLeft({ host: HOST, port });
  await assert.rejects(runExperiment({ host: HOST, port, signal: AbortSignal.abort() }), isAbort);
  assert.ok(await portIsFree(HOST, port));
});

/** The files this process has open (links of /proc/self/fd). */
function openFiles(): string[] {
  const dir = '/proc/self/fd';
  return readdirSync(dir).flatMap((fd) => {
    try {
      return [readlinkSync(join(dir, fd))];
    } catch {
      return [];
    }
  });
}

test('analyzeCapture: a file, aborted between chunks, is closed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kal-abort-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'churn.pcap');
  writeChurnCapture({ path, targetBytes: 5_000_000 });
  const controller = new AbortController();
  let chunks = 0;
  const running = analyzeCapture(path, {
    signal: controller.signal,
    afterChunk: () => {
      if (++chunks === 2) controller.abort();
    },
  });
  await assert.rejects(within(running, 'the aborted analysis'), isAbort);
  assert.equal(chunks, 2, 'no chunk read after the abort');
  assert.ok(!openFiles().includes(path), 'the capture file is closed');
});

test('analyzeCapture: a stream that never ends, aborted, is destroyed', async () => {
  const input = new PassThrough();
  input.write(buildPcap({ packets: [] }));
  const controller = new AbortController();
  const running = analyzeCapture(input, { signal: controller.signal });
  await delay(50);
  controller.abort();
  await assert.rejects(within(running, 'the aborted analysis'), isAbort);
  assert.equal(input.destroyed, true);
});

test('watch: a signal stops a watch without a command, and it reports', { skip }, async () => {
  const port = await freePort();
  const controller = new AbortController();
  let ready = false;
  const running = watch({ port, host: HOST, signal: controller.signal, onReady: () => (ready = true) });
  await until(() => ready, 'the observers to start');
  assert.ok(tcpdumpChildren().length > 0, 'tcpdump runs while watching');
  controller.abort();
  const result = await within(running, 'the stopped watch');
  assert.equal(result.exitCode, null);
  assert.deepEqual(
    result.run.observers.map((o) => [o.observer, o.available]),
    [
      ['kernel', true],
      ['wire', true],
    ],
  );
  assert.equal(result.run.verdict.code, 'no-traffic');
  await assertNothingLeft();
});

test('watch: without capture too; with nothing to stop it, an error that names the option', async () => {
  const port = await freePort();
  const controller = new AbortController();
  const running = watch({ port, capture: false, signal: controller.signal, onReady: () => controller.abort() });
  const result = await within(running, 'the stopped watch');
  assert.deepEqual(
    result.run.observers.map((o) => o.observer),
    ['kernel'],
  );
  await assert.rejects(
    watch({ port, capture: false }),
    (e) => e instanceof UsageError && e.option === 'signal' && /^signal is needed/.test(e.message),
  );
});

test('watch: the signal gives the command SIGINT, and the report follows once it has exited', async () => {
  const port = await freePort();
  const controller = new AbortController();
  const running = watch({
    port,
    capture: false,
    command: ['sleep', '30'],
    signal: controller.signal,
    onReady: () => setTimeout(() => controller.abort(), 100),
  });
  const result = await within(running, 'the stopped watch');
  assert.equal(result.exitSignal, 'SIGINT');
  assert.equal(result.run.title, 'sleep 30');
});

test('watch: forceSignal ends a command that ignores SIGINT, during the stop', async () => {
  const port = await freePort();
  const stop = new AbortController();
  const force = new AbortController();
  const running = watch({
    port,
    capture: false,
    // exec: the shell becomes sleep, which keeps SIGINT ignored.
    command: ['sh', '-c', 'trap "" INT; exec sleep 30'],
    signal: stop.signal,
    forceSignal: force.signal,
    onReady: () => setTimeout(() => stop.abort(), 100),
  });
  await until(() => stop.signal.aborted && childrenNamed('sleep').length === 1, 'the command to run, stopped');
  await delay(300);
  assert.equal(childrenNamed('sleep').length, 1, 'SIGINT is ignored: the command still runs');
  force.abort();
  const result = await within(running, 'the forced watch');
  assert.equal(result.exitSignal, 'SIGTERM');
  assert.deepEqual(childrenNamed('sleep'), [], 'the command is gone');
});

/** A server that accepts and never answers: a request stays in flight. */
async function silentServer(t: TestContext): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  server.listen(0, HOST);
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

test('runProxy: the signal stops it and it resolves to the run; the port is free again', async (t) => {
  const target = await silentServer(t);
  const controller = new AbortController();
  let proxy: RunningProxy | undefined;
  const running = runProxy({
    listenHost: HOST,
    targetHost: HOST,
    targetPort: target,
    signal: controller.signal,
    onListening: (p) => (proxy = p),
  });
  await until(() => proxy !== undefined, 'the proxy to listen');
  const { port } = proxy!.address;
  assert.equal(await portIsFree(HOST, port), false);
  controller.abort();
  const run = await within(running, 'the stopped proxy');
  assert.equal(run.name, 'proxy');
  assert.equal(run.subject, `${HOST}:${target}`);
  assert.equal(run.title, `proxy ${HOST}:${port} -> ${HOST}:${target}`);
  assert.equal(run.observers[0]!.observer, 'proxy');
  assert.equal(run.verdict.code, 'no-traffic');
  assert.ok(await portIsFree(HOST, port));
});

test('runProxy: forceSignal cuts the grace of a request in flight short', async (t) => {
  const target = await silentServer(t);
  const stop = new AbortController();
  const force = new AbortController();
  let proxy: RunningProxy | undefined;
  const running = runProxy({
    listenHost: HOST,
    targetHost: HOST,
    targetPort: target,
    graceMs: 600_000,
    signal: stop.signal,
    forceSignal: force.signal,
    onListening: (p) => (proxy = p),
  });
  await until(() => proxy !== undefined, 'the proxy to listen');
  const { port } = proxy!.address;
  const request = http.get({ host: HOST, port, path: '/', agent: false });
  request.on('error', () => undefined);
  await until(() => proxy!.progress().requests === 1, 'the request to pass');
  stop.abort();
  await delay(200);
  assert.equal(proxy!.progress().open, 1, 'the request in flight is given its grace');
  force.abort();
  const run = await within(running, 'the forced proxy');
  assert.equal(run.observers[0]!.totals.connections, 1);
  assert.equal(run.observers[0]!.connections[0]!.openAtEnd, true);
  assert.ok(await portIsFree(HOST, port));
});

test('library errors name options, not flags', async () => {
  await assert.rejects(
    runExperiment({ target: 'not a url', capture: false }),
    (e) => e instanceof UsageError && e.option === 'target' && e.message === 'target is not a URL: not a url',
  );
  await assert.rejects(
    runExperiment({ target: 'ftp://example.com/', capture: false }),
    (e) =>
      e instanceof UsageError &&
      e.option === 'target' &&
      /^target must be an http:\/\/ or https:\/\/ URL/.test(e.message),
  );
  const busy = net.createServer().listen(0, HOST);
  await new Promise((resolve) => busy.once('listening', resolve));
  const port = (busy.address() as AddressInfo).port;
  try {
    await assert.rejects(runExperiment({ host: HOST, port, capture: false }), (e) => {
      assert.ok(e instanceof PortInUseError);
      assert.equal(e.option, 'port');
      assert.equal(e.message, `port ${port} on ${HOST} is already in use (leave out port to pick a free one)`);
      assert.equal(
        e.messageFor('--port'),
        `port ${port} on ${HOST} is already in use (leave out --port to pick a free one)`,
      );
      return true;
    });
    await assert.rejects(
      runProxy({ listenHost: HOST, listenPort: port, targetHost: HOST, targetPort: 9, durationMs: 1 }),
      (e) =>
        e instanceof PortInUseError &&
        e.option === 'listenPort' &&
        /choose another port with listenPort/.test(e.message),
    );
  } finally {
    await new Promise<void>((resolve) => busy.close(() => resolve()));
  }
});

test('a signal given to an experiment of many workers gets a listener or two, not one per worker', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const controller = new AbortController();
    const run = await runExperiment({
      requests: 40,
      concurrency: 20,
      // Long enough for the 20 workers' pauses to overlap.
      intervalMs: 50,
      capture: false,
      kernel: false,
      host: HOST,
      signal: controller.signal,
    });
    assert.equal(run.client?.completed, 40);
    await delay(10); // warnings are emitted on the next tick
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(warnings, []);
});
