/**
 * Observers start side by side (observe/observer.ts startAll): when one fails, or the run is
 * aborted, while the kernel observer's ss -E is still starting, every process started is ended and
 * nothing is left running. ss is made slow to start (a wrapper that sleeps first), so that its
 * start is certainly still pending when the other observer fails. Counted on the process tree.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { ObserverReport } from '../../src/model/report.js';
import { CaptureObserver } from '../../src/observe/capture.js';
import { KernelObserver } from '../../src/observe/kernel.js';
import { startAll } from '../../src/observe/observer.js';
import type { Observer } from '../../src/observe/observer.js';
import { runExperiment } from '../../src/lab/engine.js';
import { captureSkip } from '../support/capture-env.js';
import { descendantsNamed, tcpdumpChildren } from '../support/leaks.js';
import { ssSkip } from '../support/ss-env.js';

const LINUX: string | false = existsSync('/proc/net/tcp') ? false : 'no /proc/net/tcp (not Linux)';
const skip = LINUX || ssSkip();
const capture = captureSkip() === false;
const BOUND_MS = 10_000;
/** The wrapper's name, as the process tree shows it (a script runs under its own name). */
const SLOW_SS = 'slow-ss';

/** An ss that sleeps before it runs: ss -E started with it is still starting for a while. */
async function slowSs(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kal-slow-ss-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, SLOW_SS);
  await writeFile(path, '#!/bin/sh\nsleep 2\nexec ss "$@"\n');
  await chmod(path, 0o755);
  return path;
}

/** What an observer may have left running below this process. */
function leftRunning(): number[] {
  return [...descendantsNamed('ss'), ...descendantsNamed('sleep'), ...descendantsNamed(SLOW_SS), ...tcpdumpChildren()];
}

/** Resolves once the slow ss is waiting (its sleep runs): the kernel observer's start is pending. */
async function ssStarting(): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (descendantsNamed('sleep').length === 0) {
    if (Date.now() > deadline) assert.fail('ss -E never began to start');
    await delay(5);
  }
}

/** An observer whose start fails once the kernel observer's ss -E is starting. */
function failingOnceSsStarts(): Observer {
  return {
    name: 'server',
    start: async () => {
      await ssStarting();
      throw new Error('this observer could not start');
    },
    settled: () => true,
    stop: async () => ({}) as ObserverReport,
    close: async () => undefined,
  };
}

function observers(ss: string, port: number): Observer[] {
  const list: Observer[] = [new KernelObserver({ serverPort: port, serverAddress: '127.0.0.1', ss })];
  if (capture) list.push(new CaptureObserver({ interface: 'lo', filter: `tcp port ${port}`, serverPorts: [port] }));
  return list;
}

test(
  'startAll: one observer fails while ss -E is starting: ss, tcpdump and the rest are ended',
  { skip },
  async (t) => {
    const ss = await slowSs(t);
    // The slow ss sleeps 2 s before it runs: the kernel observer is still starting when the other fails.
    await assert.rejects(startAll([...observers(ss, 1), failingOnceSsStarts()]), /could not start/);
    assert.deepEqual(leftRunning(), [], 'nothing left running');
  },
);

test('startAll: aborted while ss -E is starting: every process ended before it rejects', { skip }, async (t) => {
  const ss = await slowSs(t);
  const controller = new AbortController();
  const all = startAll(observers(ss, 1), controller.signal);
  await ssStarting();
  const reason = new Error('aborted during start');
  controller.abort(reason);
  await assert.rejects(all, (e) => e === reason);
  assert.deepEqual(leftRunning(), [], 'nothing left running');
});

test('runExperiment: aborted as soon as ss -E runs (during the start): nothing left running', { skip }, async () => {
  const controller = new AbortController();
  const running = runExperiment({ requests: 1_000_000, intervalMs: 5, signal: controller.signal, capture });
  const deadline = Date.now() + BOUND_MS;
  while (descendantsNamed('ss').length === 0) {
    if (Date.now() > deadline) assert.fail('ss -E never started');
    await delay(2);
  }
  controller.abort();
  await assert.rejects(running, (e) => e instanceof DOMException && e.name === 'AbortError');
  assert.deepEqual(leftRunning(), [], 'nothing left running');
});
