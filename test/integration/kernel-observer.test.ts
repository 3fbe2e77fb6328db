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
import { KernelObserver } from '../../src/observe/kernel.js';
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
      assert.deepEqual(report.warnings, []);
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
  assert.deepEqual(
    report.warnings.map((w) => w.code),
    ['KAL_WARN_SOCKET_TABLE_FALLBACK'],
  );
  assert.equal(report.totals.connections, 1);
});
