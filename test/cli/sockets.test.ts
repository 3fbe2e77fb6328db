/**
 * `keepalive-lab sockets`, the built binary spawned as a user runs it, on real loopback sockets left in
 * TIME_WAIT by this test: under the table, and with --by-remote (text and JSON), the TIME_WAIT
 * sockets per remote endpoint, on the side that closed first, with this machine's port range.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import type { TimeWaitSummary } from '../../src/analyze/time-wait.js';
import { readHostFacts } from '../../src/observe/host-facts.js';
import { runCli } from '../support/cli.js';

const LINUX: { skip: string | false } = {
  skip: existsSync('/proc/net/tcp') ? false : 'no /proc/net/tcp: the socket table is read on Linux only',
};
const CONNECTIONS = 20;

/** A server on 127.0.0.1 that answers and waits for the client's close, or closes first itself. */
async function server(closesFirst: boolean): Promise<net.Server> {
  const s = net.createServer((socket) => {
    socket.on('error', () => undefined);
    if (closesFirst) socket.end('bye');
    else {
      socket.on('data', () => socket.write('ok'));
      socket.on('end', () => socket.end());
    }
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return s;
}

/** One connection after the other, each closed by the side `server` says; resolved once fully closed. */
async function connections(port: number, clientClosesFirst: boolean): Promise<void> {
  for (let i = 0; i < CONNECTIONS; i++)
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => {
        if (clientClosesFirst) c.write('hi');
      });
      c.on('data', () => {
        if (clientClosesFirst) c.end();
      });
      c.on('end', () => c.end());
      c.on('error', reject);
      c.on('close', () => resolve());
    });
}

function portOf(s: net.Server): number {
  return (s.address() as net.AddressInfo).port;
}

test('sockets: TIME_WAIT per remote endpoint, the client side and the server side, text and JSON', LINUX, async (t) => {
  const waited = await server(false);
  const closer = await server(true);
  t.after(() => {
    waited.close();
    closer.close();
  });
  await connections(portOf(waited), true);
  await connections(portOf(closer), false);
  const facts = await readHostFacts();

  // The client's TIME_WAITs (this machine connected to waited): one row, its ports ephemeral.
  const asClient = await runCli(['sockets', '--port', String(portOf(waited)), '--by-remote', '--json']);
  assert.equal(asClient.code, 0, asClient.stderr);
  const summary = JSON.parse(asClient.stdout) as TimeWaitSummary;
  assert.deepEqual(summary.ports, facts.ports);
  const row = summary.peers.find((p) => p.remote.port === portOf(waited));
  assert.ok(row, asClient.stdout);
  assert.equal(row.side, 'client');
  assert.deepEqual(row.local, { address: '127.0.0.1', port: 0 });
  // At least ours (a 4-tuple of an earlier test on the same port number may still be in TIME_WAIT).
  assert.ok(row.count >= CONNECTIONS, `${row.count} TIME_WAIT sockets`);
  assert.equal(row.ephemeral, row.count, 'connect() picked every local port from the ephemeral range');
  assert.equal(row.rangeShare, row.count / (facts.ports.portRange.high - facts.ports.portRange.low + 1));

  // The server's (closer closed first), with --state time-wait: its listener is read apart.
  const asServer = await runCli(['sockets', '--port', String(portOf(closer)), '--state', 'time-wait', '--by-remote']);
  assert.equal(asServer.code, 0, asServer.stderr);
  assert.match(asServer.stdout, /^TIME_WAIT by remote endpoint: \d+ sockets$/m);
  assert.match(asServer.stdout, /^ephemeral ports \d+-\d+ \([\d,]+, read on this machine\); tcp_tw_reuse [012] /m);
  const line = asServer.stdout.split('\n').find((l) => l.includes(`127.0.0.1:${portOf(closer)} `));
  assert.ok(line, asServer.stdout);
  assert.match(line, new RegExp(`^\\s+(\\d+)  server\\s+127\\.0\\.0\\.1:${portOf(closer)}\\s+127\\.0\\.0\\.1:\\*`));
  assert.ok(Number(/^\s+(\d+)/.exec(line)![1]) >= CONNECTIONS);

  // Without --by-remote: the table, and the summary under it.
  const table = await runCli(['sockets', '--port', String(portOf(waited))]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^State\s+Recv-Q/);
  assert.match(table.stdout, /^LISTEN .*127\.0\.0\.1:\d+/m);
  assert.match(table.stdout, new RegExp(`\\n\\nTIME_WAIT by remote endpoint: \\d+ sockets\\n`));
  assert.match(
    table.stdout,
    new RegExp(`client\\s+127\\.0\\.0\\.1:\\*\\s+127\\.0\\.0\\.1:${portOf(waited)}\\s+\\d+ ephemeral`),
  );
  // --json alone prints the entries, as before.
  const entries = JSON.parse(
    (await runCli(['sockets', '--port', String(portOf(waited)), '--json'])).stdout,
  ) as unknown[];
  assert.ok(Array.isArray(entries) && entries.length >= CONNECTIONS + 1);
});
