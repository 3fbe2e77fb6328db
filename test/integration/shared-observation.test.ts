/**
 * The demo's experiments share one tcpdump and one ss -E (observe/shared.ts, lab/engine.ts
 * runExperiments): each experiment's wire and kernel observers are views of them, of their own
 * port, from their start to their stop. Counted: each experiment sees exactly its own connections
 * (not its neighbour's, though they are in the same capture), while one tcpdump and one ss -E
 * run for both; aborted between two experiments, nothing is left running or listening; tcpdump
 * answers a view's question about drops (SIGUSR1) and goes on capturing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { runExperiments } from '../../src/lab/engine.js';
import type { ExperimentOptions } from '../../src/lab/engine.js';
import type { ObserverReport, RunReport } from '../../src/model/report.js';
import { CaptureSession } from '../../src/observe/capture-session.js';
import { SocketEvents } from '../../src/observe/socket-events.js';
import { readSocketTable } from '../../src/observe/socket-table.js';
import { captureSkip } from '../support/capture-env.js';
import { descendantsNamed, tcpdumpChildren } from '../support/leaks.js';
import { ssSkip } from '../support/ss-env.js';

const skip = captureSkip() || ssSkip();
/** An address of its own: what listens on it at the end was left by these tests. */
const HOST = '127.0.0.8';

function observer(run: RunReport, name: ObserverReport['observer']): ObserverReport {
  const found = run.observers.find((o) => o.observer === name);
  assert.ok(found, `${run.name}: the ${name} observer reported`);
  return found;
}

/** ss -E runs under stdbuf, which execs ss: the process is named ss. */
const running = () => ({ tcpdump: tcpdumpChildren().length, ss: descendantsNamed('ss').length });

const experiments: ExperimentOptions[] = [
  // 5 connections: keep-alive off.
  { name: 'five', host: HOST, requests: 5, keepAlive: false, intervalMs: 0 },
  // 1 connection: keep-alive, body read.
  { name: 'one', host: HOST, requests: 5, consumeBody: true, intervalMs: 0 },
];

test(
  'runExperiments: two experiments over one tcpdump and one ss -E each count exactly their own',
  { skip },
  async () => {
    const seen: { tcpdump: number; ss: number }[] = [];
    const runs = await runExperiments(experiments, { onExperiment: () => seen.push(running()) });
    // ss -E runs for the whole run; the kernel observer's snapshots (ss too) come and go.
    assert.deepEqual(
      seen.map((s) => s.tcpdump),
      [1, 1],
      'one tcpdump, already running as each experiment begins',
    );
    assert.ok(
      seen.every((s) => s.ss >= 1),
      'ss -E runs as each experiment begins',
    );
    const counts = runs.map((run) => ({
      name: run.name,
      server: observer(run, 'server').totals.connections,
      kernel: observer(run, 'kernel').totals.connections,
      wire: observer(run, 'wire').totals.connections,
      wireRequests: observer(run, 'wire').totals.requests,
    }));
    assert.deepEqual(counts, [
      { name: 'five', server: 5, kernel: 5, wire: 5, wireRequests: 5 },
      { name: 'one', server: 1, kernel: 1, wire: 1, wireRequests: 5 },
    ]);
    for (const run of runs) {
      const wire = observer(run, 'wire');
      assert.equal(wire.incomplete, undefined, `${run.name}: the wire's evidence is complete`);
      assert.deepEqual(
        wire.warnings.map((w) => w.code),
        [],
        `${run.name}: no wire warning`,
      );
      assert.equal(run.agreement.agree, true, `${run.name}: the observers agree`);
      // The kernel's view saw its port's destroyed sockets, not the other experiment's.
      assert.ok(
        observer(run, 'kernel').connections.every((c) => run.subject.endsWith(`:${c.server.port}/`)),
        `${run.name}: the kernel's connections are to its own server`,
      );
    }
    assert.deepEqual(running(), { tcpdump: 0, ss: 0 }, 'tcpdump and ss -E ended with the run');
  },
);

test('runExperiments: aborted between two experiments, nothing is left running or listening', { skip }, async () => {
  const controller = new AbortController();
  const reason = new Error('enough');
  let begun = 0;
  await assert.rejects(
    runExperiments(experiments, {
      signal: controller.signal,
      onExperiment: (i) => {
        begun = i + 1;
        if (i === 1) controller.abort(reason);
      },
    }),
    (error) => error === reason,
  );
  assert.equal(begun, 2, 'the first experiment ran, the second was about to begin');
  assert.deepEqual(running(), { tcpdump: 0, ss: 0 }, 'tcpdump and ss -E ended');
  const { entries } = await readSocketTable({ states: ['LISTEN'] });
  assert.deepEqual(
    entries.filter((e) => e.local.address === HOST),
    [],
    'no server left listening',
  );
});

test(
  'CaptureSession: tcpdump answers a question about drops and goes on capturing',
  { skip: captureSkip() },
  async () => {
    const session = new CaptureSession({ interface: 'lo', filter: 'tcp port 9 and host 127.0.0.8' });
    try {
      await session.start();
      assert.equal(session.unavailable, undefined);
      assert.equal(await session.dropped(), 0, 'tcpdump said how many it dropped: none');
      assert.equal(await session.dropped(), 0, 'and again');
      assert.equal(tcpdumpChildren().length, 1, 'tcpdump still runs, under its guard');
    } finally {
      await session.close();
    }
    assert.deepEqual(tcpdumpChildren(), [], 'closed: tcpdump ended');
  },
);

/** A listener on HOST whose connections are reset by the client as soon as they are accepted. */
async function resettingServer(): Promise<{
  port: number;
  connectAndReset: () => Promise<void>;
  close: () => Promise<void>;
}> {
  const server = net.createServer((socket) => socket.on('error', () => undefined));
  server.listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    async connectAndReset() {
      const client = net.connect(port, HOST);
      client.on('error', () => undefined);
      await once(client, 'connect');
      client.resetAndDestroy(); // SO_LINGER 0: a RST, the sockets destroyed at once, no TIME_WAIT
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test(
  'SocketEvents shared: since(cursor) gives the sockets destroyed from the cursor on, and ss -E goes on',
  { skip: ssSkip() },
  async () => {
    const a = await resettingServer();
    const b = await resettingServer();
    let events: SocketEvents | undefined;
    try {
      // Inside try: a failed start still closes both listeners (open, they would keep this file's process alive).
      events = await SocketEvents.start({ ports: [a.port, b.port] });
      await a.connectAndReset();
      const from = await events.cursor();
      await b.connectAndReset();
      const first = await events.since(from);
      assert.equal(first.problem, null);
      const ports = (w: typeof first) => new Set(w.destroyed.flatMap((d) => [d.entry.local.port, d.entry.remote.port]));
      assert.ok(ports(first).has(b.port), "b's connection is in the window");
      assert.ok(!ports(first).has(a.port), "a's, before the cursor, is not");
      const second = await events.cursor();
      await a.connectAndReset();
      const later = await events.since(second);
      assert.ok(ports(later).has(a.port) && !ports(later).has(b.port), 'a second window: only what came after it');
      assert.ok((await events.stop()).destroyed.length >= 3, 'stop(): every socket destroyed since the start');
    } finally {
      await events?.close();
      await Promise.all([a.close(), b.close()]);
    }
  },
);
