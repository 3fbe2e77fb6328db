/**
 * The kernel observer on real loopback sockets, reading the table with ss and with /proc: the same
 * connections, the same side holding TIME_WAIT, and the report saying which way it read. Assertions
 * are on counts and states, never on timing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { readHostFactsSync } from '../../src/observe/host-facts.js';
import { KernelObserver } from '../../src/observe/kernel.js';
import { sleep } from '../../src/util/time.js';
import { alive, descendantsNamed } from '../support/leaks.js';
import { ssSkip } from '../support/ss-env.js';

const LINUX: string | false = existsSync('/proc/net/tcp') ? false : 'no /proc/net/tcp (not Linux)';

/** A server on 127.0.0.1 that closes first on connections whose client says "close", else waits for the client. */
async function server(t: TestContext): Promise<number> {
  const srv = net.createServer((socket) => {
    socket.on('data', (data) => {
      if (data.toString() === 'close') socket.end();
    });
    socket.on('error', () => {});
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  return (srv.address() as AddressInfo).port;
}

/** One connection; `first` is the side that closes first. Resolves when the client's socket is closed. */
async function connection(port: number, first: 'client' | 'server'): Promise<void> {
  const client = net.connect({ host: '127.0.0.1', port });
  await once(client, 'connect');
  if (first === 'client') client.end();
  else client.write('close'); // the server ends; the client (allowHalfOpen false) answers with its FIN
  await once(client, 'close');
}

for (const { source, skip } of [
  { source: 'ss' as const, skip: LINUX || ssSkip() },
  { source: 'proc' as const, skip: LINUX },
]) {
  test(
    `kernel observer [${source}]: every connection, TIME_WAIT on the side that closed first`,
    { skip },
    async (t) => {
      const port = await server(t);
      await connection(port, 'client'); // before start(): not this run's
      const observer = new KernelObserver({ serverPort: port, serverAddress: '127.0.0.1', source });
      await observer.start();
      for (let i = 0; i < 5; i++) await connection(port, 'client');
      for (let i = 0; i < 3; i++) await connection(port, 'server');
      await observer.checkpoint();
      const report = await observer.stop();
      assert.equal(report.available, true);
      assert.equal(report.socketTable, source);
      // From /proc no destroy events: no cookie to tell their sockets from those the snapshots listed.
      assert.deepEqual(
        report.warnings.map((w) => w.code),
        source === 'ss' ? [] : ['KAL_WARN_SOCKET_EVENTS_UNAVAILABLE'],
      );
      assert.equal(report.totals.connections, 8);
      assert.deepEqual(
        report.connections.map((c) => c.timeWait).sort(),
        [...Array<string>(5).fill('client'), ...Array<string>(3).fill('server')].sort(),
      );
      assert.ok(report.connections.every((c) => c.closedFirstBy === c.timeWait && !c.openAtEnd));
    },
  );
}

test('kernel observer, ss missing: reads /proc, says so once in its report', { skip: LINUX }, async (t) => {
  const port = await server(t);
  const observer = new KernelObserver({ serverPort: port, ss: '/nonexistent/ss' });
  await observer.start();
  await connection(port, 'client');
  await observer.checkpoint();
  const report = await observer.stop();
  assert.equal(report.socketTable, 'proc');
  // Nor can ss follow the destroy events: the observer says what it may miss.
  assert.deepEqual(
    report.warnings.map((w) => w.code),
    ['KAL_WARN_SOCKET_TABLE_FALLBACK', 'KAL_WARN_SOCKET_EVENTS_UNAVAILABLE'],
  );
  assert.equal(report.totals.connections, 1);
});

/**
 * A 4-tuple reused for real (issue #8): connection A from a client port below the kernel's ephemeral
 * range, closed by the server, leaves the server a TIME_WAIT on (127.0.0.1:port, server); the
 * observer starts with it in its baseline; connection B binds the same client port, its SYN reaches
 * that TIME_WAIT and is accepted as a new connection (tcp_timewait_state_process: a higher sequence
 * number and timestamp). The client's side of A is gone (it closed second: LAST_ACK, then nothing).
 * The port is not one the kernel picks: a port it picked for A, free again once A is gone, was now and
 * then given to another test's connection (the suite runs two files at once) before B could bind it.
 */
async function reusedTuple(
  port: number,
  options: { source: 'ss' | 'proc'; seenOpen: boolean; waitMs: number },
): Promise<{ localPort: number; report: Awaited<ReturnType<KernelObserver['stop']>> }> {
  const a = await connectBelowEphemeral(port);
  const localPort = a.localPort!;
  a.write('close');
  await once(a, 'close');
  const observer = new KernelObserver({ serverPort: port, serverAddress: '127.0.0.1', source: options.source });
  await observer.start();
  try {
    await sleep(options.waitMs);
    const b = await connectFrom(port, localPort);
    if (options.seenOpen) await observer.checkpoint();
    b.write('close');
    await once(b, 'close');
  } finally {
    await observer.checkpoint();
  }
  return { localPort, report: await observer.stop() };
}

/**
 * A connection from a client port below the ephemeral range, chosen at random among up to 20,000
 * (one in use, by a server of this machine, is passed over).
 */
async function connectBelowEphemeral(port: number): Promise<net.Socket> {
  // The ephemeral range: the ports the kernel picks for connect() without bind.
  const high = readHostFactsSync().ports.portRange.low - 1;
  const low = Math.max(1024, high - 20_000);
  assert.ok(high > low, `the ephemeral range starts at ${high + 1}: no port below it to bind`);
  for (let attempt = 1; ; attempt++) {
    const localPort = low + Math.floor(Math.random() * (high - low + 1));
    try {
      return await connectOnce(port, localPort);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 20) throw error;
    }
  }
}

async function connectOnce(port: number, localPort: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort });
  await once(socket, 'connect');
  return socket;
}

/**
 * A connection from this client port. A's client socket may hold the 4-tuple a moment longer
 * (LAST_ACK until the server's ACK is processed, later on a loaded machine): the connect is tried
 * again, a second at most.
 */
async function connectFrom(port: number, localPort: number): Promise<net.Socket> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(port, localPort);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'EADDRINUSE' && code !== 'EADDRNOTAVAIL') || attempt === 100) throw error;
      await sleep(10);
    }
  }
}

for (const { source, skip, waitMs } of [
  { source: 'ss' as const, skip: LINUX || ssSkip(), waitMs: 0 },
  // Without a cookie, a TIME_WAIT is told from the one before it by its timer alone: B's ends 1.5 s after A's.
  { source: 'proc' as const, skip: LINUX, waitMs: 1500 },
]) {
  test(`kernel observer [${source}]: a new connection on the 4-tuple of a baseline TIME_WAIT`, { skip }, async (t) => {
    const port = await server(t);
    for (const seenOpen of [true, false]) {
      const { localPort, report } = await reusedTuple(port, { source, seenOpen, waitMs: seenOpen ? 0 : waitMs });
      assert.equal(report.socketTable, source);
      assert.deepEqual(
        report.connections.map((c) => [c.client.port, c.closedFirstBy, c.timeWait, c.openAtEnd]),
        [[localPort, 'server', 'server', false]],
        seenOpen ? 'seen open' : 'seen only as its TIME_WAIT',
      );
    }
  });
}

/**
 * A connection that opens and ends with a reset between two snapshots leaves nothing in the table:
 * no socket, no TIME_WAIT. Snapshots are 1 h apart here (everyMs), so the only ones are the
 * baseline and the last: the kernel's destroy events (ss -E) are all that can show it.
 */
async function resetBetweenSnapshots(t: TestContext, events: boolean) {
  const port = await server(t);
  const observer = new KernelObserver({ serverPort: port, serverAddress: '127.0.0.1', everyMs: 3_600_000, events });
  t.after(() => observer.close());
  await observer.start();
  const ss = descendantsNamed('ss');
  for (let i = 0; i < 3; i++) {
    const client = net.connect({ host: '127.0.0.1', port });
    await once(client, 'connect');
    client.resetAndDestroy(); // SO_LINGER 0: a RST, and no TIME_WAIT on either side
    await once(client, 'close');
  }
  const report = await observer.stop();
  return { report, ss };
}

test(
  'kernel observer [ss -E]: connections reset between two snapshots are counted, once each',
  { skip: LINUX || ssSkip() },
  async (t) => {
    const { report, ss } = await resetBetweenSnapshots(t, true);
    assert.equal(report.socketTable, 'ss');
    assert.deepEqual(report.warnings, []);
    assert.equal(report.totals.connections, 3);
    assert.ok(
      report.connections.every((c) => c.timeWait === null && c.closedFirstBy === null && !c.openAtEnd),
      JSON.stringify(report.connections),
    );
    assert.ok(ss.length > 0, 'ss -E ran beside the snapshots');
    assert.deepEqual(ss.filter(alive), [], 'ss -E has ended with the observer');
  },
);

test('kernel observer without destroy events: the same resets are missed', { skip: LINUX || ssSkip() }, async (t) => {
  const { report } = await resetBetweenSnapshots(t, false);
  assert.equal(report.totals.connections, 0);
});

test(
  'kernel observer [ss -E]: a connection seen only as its TIME_WAIT is not counted again by its events',
  { skip: LINUX || ssSkip() },
  async (t) => {
    const port = await server(t);
    const observer = new KernelObserver({ serverPort: port, serverAddress: '127.0.0.1', everyMs: 3_600_000 });
    t.after(() => observer.close());
    await observer.start();
    await connection(port, 'client');
    await connection(port, 'server');
    const report = await observer.stop();
    assert.deepEqual(report.warnings, []);
    assert.deepEqual(report.connections.map((c) => c.timeWait).sort(), ['client', 'server']);
  },
);

test(
  'kernel observer, closed without a report (an aborted run): its ss -E ends',
  { skip: LINUX || ssSkip() },
  async (t) => {
    const port = await server(t);
    const observer = new KernelObserver({ serverPort: port, serverAddress: '127.0.0.1' });
    await observer.start();
    const ss = descendantsNamed('ss');
    assert.ok(ss.length > 0);
    await observer.close();
    assert.deepEqual(ss.filter(alive), []);
  },
);
