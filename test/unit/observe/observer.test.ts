/**
 * Observers start side by side (startAll) and stop side by side (stopAll): a start that fails, or
 * an abort, while another observer is still starting closes them all, and the call rejects only
 * once every start has ended. Fake observers count what was started and what was released.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ObserverReport } from '../../../src/model/report.js';
import { startAll, stopAll } from '../../../src/observe/observer.js';
import type { Observer } from '../../../src/observe/observer.js';

/** A promise and its resolve/reject, for a start held open until the test lets it go. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ([resolve, reject] = [res, rej]));
  return { promise, resolve, reject };
}

/**
 * An observer whose start holds a "process" open until `release` (or rejects with `fails`). As a
 * real observer, close() during its start ends the start (the process never comes up) and waits for it.
 */
class FakeObserver implements Observer {
  readonly name = 'kernel' as const;
  running = 0;
  closed = 0;
  startEnded = false;
  private readonly held = deferred();
  private starting: Promise<void> | undefined;
  constructor(private readonly fails?: Error) {
    this.held.promise.catch(() => undefined); // a start that failed at once never waits on it
  }

  start(): Promise<void> {
    this.starting = (async () => {
      this.running++; // the child process is spawned at once
      try {
        if (this.fails) throw this.fails;
        await this.held.promise;
      } catch (error) {
        this.running--;
        throw error;
      } finally {
        this.startEnded = true;
      }
    })();
    return this.starting;
  }
  release(): void {
    this.held.resolve();
  }
  settled(): boolean {
    return true;
  }
  async stop(): Promise<ObserverReport> {
    this.running = 0;
    return { observer: 'kernel', available: false, seesRequests: false } as unknown as ObserverReport;
  }
  async close(): Promise<void> {
    this.closed++;
    this.held.reject(new Error('closed while starting'));
    await this.starting?.catch(() => undefined);
    this.running = 0;
  }
}

test('startAll: every observer starts at once; resolves when the last has started', async () => {
  const a = new FakeObserver();
  const b = new FakeObserver();
  const all = startAll([a, b]);
  assert.equal(a.running + b.running, 2, 'both starts began before either ended');
  let done = false;
  void all.then(() => (done = true));
  a.release();
  await Promise.resolve();
  assert.equal(done, false);
  b.release();
  await all;
  assert.equal(a.closed + b.closed, 0);
});

test('startAll: a start that rejects while another is pending closes every observer, nothing left', async () => {
  const pending = new FakeObserver();
  const failing = new FakeObserver(new Error('tcpdump refused'));
  await assert.rejects(startAll([pending, failing]), /tcpdump refused/);
  assert.ok(pending.startEnded, 'the pending start had ended before startAll rejected');
  assert.deepEqual([pending.closed, failing.closed], [1, 1]);
  assert.equal(pending.running + failing.running, 0);
});

test('startAll: aborted while starting, closes every observer and rejects with the reason', async () => {
  const a = new FakeObserver();
  const b = new FakeObserver();
  const controller = new AbortController();
  const all = startAll([a, b], controller.signal);
  a.release();
  const reason = new Error('Ctrl-C');
  controller.abort(reason);
  await assert.rejects(all, (e) => e === reason);
  assert.ok(b.startEnded);
  assert.deepEqual([a.closed, b.closed], [1, 1], 'the one already started is closed too');
  assert.equal(a.running + b.running, 0);
});

test('stopAll: reports in the observers order; a failed stop rejects once all have ended', async () => {
  const a = new FakeObserver();
  const b = new FakeObserver();
  a.release();
  b.release();
  await startAll([a, b]);
  const reports = await stopAll([a, b]);
  assert.equal(reports.length, 2);
  const order: string[] = [];
  const slow: Observer = {
    ...a,
    name: 'wire',
    settled: () => true,
    close: async () => undefined,
    start: async () => undefined,
    stop: async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push('slow stopped');
      return { observer: 'wire' } as unknown as ObserverReport;
    },
  };
  const broken: Observer = { ...slow, stop: () => Promise.reject(new Error('stop failed')) };
  await assert.rejects(stopAll([broken, slow]), /stop failed/);
  assert.deepEqual(order, ['slow stopped']);
});
