/**
 * readSocketTable against fixture roots (I/O paths, warnings, errors) and against the real kernel:
 * real sockets on 127.0.0.1 and ::1, found in /proc/net/tcp{,6} by port. Assertions are on states,
 * never on timing; polling is bounded by a number of tries.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ProcNetWarning, type SocketEntry, type TcpState } from '../../src/decode/procnet.js';
import { FileError } from '../../src/errors.js';
import {
  SocketTableWarning,
  filterSockets,
  readSocketTable,
  ssArguments,
  type SocketTableSource,
} from '../../src/observe/socket-table.js';
import { ssSkip } from '../support/ss-env.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/procnet/', import.meta.url));
/** The fixtures were written by a little-endian kernel; readSocketTable decodes with the host's order. */
const LE_HOST = { skip: endianness() === 'BE' ? 'fixtures are little-endian' : false };
const LOOPBACK = new Set(['127.0.0.1', '::1']);
const LINUX: { skip: string | false } = {
  skip: existsSync('/proc/net/tcp') ? false : 'no /proc/net/tcp (not Linux)',
};
/** The real-socket tests run once per way of reading the table. */
const SOURCES: { source: SocketTableSource; options: { skip: string | false } }[] = [
  { source: 'ss', options: { skip: LINUX.skip || ssSkip() } },
  { source: 'proc', options: LINUX },
];

test('fixture root: tcp then tcp6, no warnings', LE_HOST, async () => {
  const { entries, warnings } = await readSocketTable({ root: join(FIXTURES, 'linux-le') });
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    entries.map((e) => e.family),
    [4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6],
  );
  assert.deepEqual(entries[0]?.local, { address: '127.0.0.1', port: 8080 });
  assert.deepEqual(entries[9]?.local, { address: '::1', port: 3000 });
});

test('fixture root without tcp6 (IPv6 disabled): just tcp, no warning', LE_HOST, async () => {
  const { entries, warnings } = await readSocketTable({ root: join(FIXTURES, 'no-tcp6') });
  assert.deepEqual(warnings, []);
  assert.equal(entries.length, 1);
  assert.equal(entries[0]?.state, 'LISTEN');
});

test('parser warnings name the file they come from', LE_HOST, async () => {
  const root = join(FIXTURES, 'garbage');
  const { entries, warnings } = await readSocketTable({ root });
  assert.equal(entries.length, 1);
  assert.deepEqual(
    warnings.map((w) => w.code),
    [ProcNetWarning.MALFORMED_LINE, ProcNetWarning.MALFORMED_LINE],
  );
  assert.equal(warnings[0]?.message, `${join(root, 'net', 'tcp')}: line 3: expected at least 10 columns, got 6`);
  assert.match(warnings[1]?.message ?? '', new RegExp(`^${join(root, 'net', 'tcp6')}: line 2: local address: `));
});

test('no tcp file: FileError (KAL_ERR_FILE)', async () => {
  await assert.rejects(readSocketTable({ root: join(FIXTURES, 'does-not-exist') }), (error: unknown) => {
    assert.ok(error instanceof FileError);
    assert.equal(error.code, 'KAL_ERR_FILE');
    assert.match(error.message, /does-not-exist\/net\/tcp/);
    return true;
  });
});

test('tcp6 present but unreadable: IPv4 entries and a warning', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kal-procnet-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'net', 'tcp6'), { recursive: true }); // a directory: EISDIR on read
  await writeFile(join(root, 'net', 'tcp'), '');
  const { entries, warnings } = await readSocketTable({ root });
  assert.deepEqual(entries, []);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]?.code, SocketTableWarning.TCP6_UNREADABLE);
});

test('filterSockets: port matches local or remote, state one or several, criteria combine', LE_HOST, async () => {
  const { entries } = await readSocketTable({ root: join(FIXTURES, 'linux-le') });
  const ports = (list: SocketEntry[]) => list.map((e) => `${e.local.port}>${e.remote.port}`);
  assert.equal(filterSockets(entries, {}).length, entries.length);
  assert.deepEqual(ports(filterSockets(entries, { port: 8080 })), [
    '8080>0',
    '8080>54321',
    '54321>8080',
    '54322>8080',
    '8080>54326',
  ]);
  assert.deepEqual(ports(filterSockets(entries, { state: 'LISTEN' })), ['8080>0', '8443>0', '3000>0']);
  assert.deepEqual(ports(filterSockets(entries, { port: 8080, state: ['TIME_WAIT', 'SYN_RECV'] })), [
    '54322>8080',
    '8080>54326',
  ]);
  assert.deepEqual(filterSockets(entries, { state: [] }), []);
  assert.deepEqual(filterSockets(entries, { port: 1 }), []);
});

/** Listens on host:0, or returns null when the address is not configured here (no IPv6 loopback). */
async function listen(t: TestContext, host: string): Promise<{ server: net.Server; accepted: Set<net.Socket> } | null> {
  const server = net.createServer();
  const accepted = new Set<net.Socket>();
  server.on('connection', (socket) => {
    accepted.add(socket);
    socket.on('close', () => accepted.delete(socket));
  });
  try {
    server.listen(0, host);
    await once(server, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') return null;
    throw error;
  }
  t.after(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, accepted };
}

/** A connected client and the server's end of it; both destroyed after the test. */
async function connect(t: TestContext, server: net.Server, host: string): Promise<[net.Socket, net.Socket]> {
  const serverSide = once(server, 'connection');
  const client = net.connect({ host, port: (server.address() as AddressInfo).port });
  t.after(() => client.destroy());
  await once(client, 'connect');
  const [socket] = (await serverSide) as [net.Socket];
  return [client, socket];
}

/** The entry with this local and remote port on a loopback address, or undefined. */
function find(entries: SocketEntry[], localPort: number, remotePort: number): SocketEntry | undefined {
  return entries.find(
    (e) => e.local.port === localPort && e.remote.port === remotePort && LOOPBACK.has(e.local.address),
  );
}

/** Reads the table until the socket is in `state`, at most `tries` times; returns the last entry seen. */
async function pollFor(
  source: SocketTableSource,
  localPort: number,
  remotePort: number,
  state: TcpState,
  tries = 200,
): Promise<SocketEntry | undefined> {
  let entry: SocketEntry | undefined;
  for (let i = 0; i < tries; i++) {
    entry = find((await readSocketTable({ source })).entries, localPort, remotePort);
    if (entry?.state === state) return entry;
    await delay(10);
  }
  return entry;
}

for (const [{ host, family }, { source, options }] of [
  { host: '127.0.0.1', family: 4 },
  { host: '::1', family: 6 },
].flatMap((h) => SOURCES.map((s) => [h, s] as const))) {
  test(
    `real sockets on ${host} [${source}]: LISTEN, both ends ESTABLISHED, TIME_WAIT on the side that closed first`,
    options,
    async (t) => {
      const listening = await listen(t, host);
      if (listening === null) {
        t.skip(`${host} is not configured on this host`);
        return;
      }
      const port = (listening.server.address() as AddressInfo).port;
      const [client, serverSide] = await connect(t, listening.server, host);
      const clientPort = client.localPort ?? 0;

      const { entries, source: read } = await readSocketTable({ source });
      assert.equal(read, source);
      const mine = filterSockets(entries, { port });
      const uid = process.getuid?.() ?? 0;
      const expected = (state: TcpState, localPort: number, remotePort: number, remote = host) => ({
        family,
        state,
        local: { address: host, port: localPort },
        remote: { address: remotePort === 0 ? (family === 4 ? '0.0.0.0' : '::') : remote, port: remotePort },
        uid,
      });
      const seen = (e: SocketEntry | undefined) =>
        e && { family: e.family, state: e.state, local: e.local, remote: e.remote, uid: e.uid };
      assert.deepEqual(seen(find(mine, port, 0)), expected('LISTEN', port, 0));
      assert.deepEqual(seen(find(mine, port, clientPort)), expected('ESTABLISHED', port, clientPort));
      assert.deepEqual(seen(find(mine, clientPort, port)), expected('ESTABLISHED', clientPort, port));
      // Only the three sockets of this test: the port number may also appear in a TIME_WAIT socket left
      // by an earlier connection of another test (which has no inode), and that is not ours to check.
      for (const e of [find(mine, port, 0), find(mine, port, clientPort), find(mine, clientPort, port)]) {
        assert.ok(e !== undefined && e.inode > 0, `${e?.state} has an inode`);
      }

      // The client closes first: it goes FIN_WAIT1 -> FIN_WAIT2 -> TIME_WAIT; the server, which closes
      // in response (allowHalfOpen false), goes CLOSE_WAIT -> LAST_ACK -> gone, without TIME_WAIT.
      const serverClosed = once(serverSide, 'close');
      client.end();
      await Promise.all([once(client, 'close'), serverClosed]);
      const clientEntry = await pollFor(source, clientPort, port, 'TIME_WAIT');
      assert.equal(clientEntry?.state, 'TIME_WAIT');
      assert.equal(clientEntry?.timer.kind, 'timewait');
      assert.equal(clientEntry?.inode, 0);
      const serverEntry = find((await readSocketTable({ source })).entries, port, clientPort);
      assert.notEqual(serverEntry?.state, 'TIME_WAIT');
    },
  );
}

for (const { source, options } of SOURCES) {
  test(
    `real sockets [${source}], IPv6 socket bound to ::ffff:127.0.0.1: an IPv6 socket, shown as IPv4`,
    options,
    async (t) => {
      const listening = await listen(t, '::ffff:127.0.0.1');
      if (listening === null) {
        t.skip('no IPv6 (IPv4-mapped addresses need an IPv6 socket)');
        return;
      }
      const port = (listening.server.address() as AddressInfo).port;
      const [client] = await connect(t, listening.server, '127.0.0.1');
      const clientPort = client.localPort ?? 0;
      const mine = filterSockets((await readSocketTable({ source })).entries, { port });
      const brief = (e: SocketEntry | undefined) => e && [e.family, e.state, e.local.address, e.remote.address];
      assert.deepEqual(brief(find(mine, port, 0)), [6, 'LISTEN', '127.0.0.1', '::']);
      assert.deepEqual(brief(find(mine, port, clientPort)), [6, 'ESTABLISHED', '127.0.0.1', '127.0.0.1']);
      // The client is a plain IPv4 socket: /proc/net/tcp.
      assert.deepEqual(brief(find(mine, clientPort, port)), [4, 'ESTABLISHED', '127.0.0.1', '127.0.0.1']);
    },
  );
}

test('auto: ss missing, the table is read from /proc with a warning saying so', LINUX, async () => {
  const { source, warnings } = await readSocketTable({ ss: '/nonexistent/ss', states: ['LISTEN'] });
  assert.equal(source, 'proc');
  assert.equal(warnings[0]?.code, SocketTableWarning.FALLBACK);
  assert.match(
    warnings[0]?.message ?? '',
    /\/nonexistent\/ss not found: read \/proc\/net\/tcp\{,6\} instead.*iproute2/,
  );
});

test('auto: ss failing (exit status 1) falls back too; forced, ss missing or failing is an error', LINUX, async () => {
  const failing = await readSocketTable({ ss: 'false', states: ['LISTEN'] });
  assert.deepEqual([failing.source, failing.warnings[0]?.code], ['proc', SocketTableWarning.FALLBACK]);
  await assert.rejects(readSocketTable({ source: 'ss', ss: '/nonexistent/ss' }), { code: 'KAL_ERR_COMMAND_NOT_FOUND' });
  await assert.rejects(readSocketTable({ source: 'ss', ss: 'false' }), { code: 'KAL_ERR_COMMAND' });
});

test('ssArguments: every listed state, or the ones asked (two at least), and the ports for the kernel', () => {
  assert.deepEqual(
    ssArguments({}),
    [
      '-tanHOneo',
      ...['established', 'syn-sent', 'syn-recv', 'fin-wait-1', 'fin-wait-2', 'time-wait', 'close-wait', 'last-ack'],
      ...['listening', 'closing'],
    ].flatMap((name, i) => (i === 0 ? [name] : ['state', name])),
  );
  assert.deepEqual(ssArguments({ states: ['TIME_WAIT'], ports: [8080] }), [
    '-tanHOneo',
    ...['state', 'time-wait', 'state', 'closing'],
    '( sport = :8080 or dport = :8080 )',
  ]);
  assert.deepEqual(ssArguments({ states: ['CLOSING'] }).slice(1), ['state', 'closing', 'state', 'last-ack']);
  assert.deepEqual(ssArguments({ states: ['SYN_RECV', 'NEW_SYN_RECV', 'CLOSE'] }).slice(1), [
    ...['state', 'syn-recv', 'state', 'closing'],
  ]);
  assert.deepEqual(ssArguments({ ports: [1, 2] }).at(-1), '( sport = :1 or dport = :1 or sport = :2 or dport = :2 )');
});

for (const { source, options } of SOURCES) {
  test(`real sockets [${source}]: ports and states filter exactly; CLOSE alone lists nothing`, options, async (t) => {
    const listening = await listen(t, '127.0.0.1');
    assert.ok(listening !== null);
    const port = (listening.server.address() as AddressInfo).port;
    const [client] = await connect(t, listening.server, '127.0.0.1');
    const read = async (states?: TcpState[]) =>
      (await readSocketTable({ source, ports: [port], ...(states ? { states } : {}) })).entries.map(
        (e) => `${e.state} ${e.local.port}>${e.remote.port}`,
      );
    const clientPort = client.localPort ?? 0;
    assert.deepEqual(
      (await read()).sort(),
      [`ESTABLISHED ${clientPort}>${port}`, `ESTABLISHED ${port}>${clientPort}`, `LISTEN ${port}>0`].sort(),
    );
    assert.deepEqual(await read(['LISTEN']), [`LISTEN ${port}>0`]);
    assert.deepEqual(await read(['CLOSE']), []);
    assert.deepEqual(await read([]), []);
  });
}

test('real sockets: ss and /proc list the same sockets of a port', { skip: LINUX.skip || ssSkip() }, async (t) => {
  const listening = await listen(t, '127.0.0.1');
  assert.ok(listening !== null);
  const port = (listening.server.address() as AddressInfo).port;
  const clientPorts = new Set<number>();
  for (let i = 0; i < 3; i++) clientPorts.add((await connect(t, listening.server, '127.0.0.1'))[0].localPort!);
  const [closing] = await connect(t, listening.server, '127.0.0.1');
  clientPorts.add(closing.localPort!);
  closing.end(); // one TIME_WAIT on the client's side
  await once(closing, 'close');
  // The time left on timers runs on between reads; the cookie only ss gives (checked below).
  const still = (e: SocketEntry) => JSON.stringify({ ...e, timer: e.timer.kind, cookie: undefined });
  // This test's sockets only: the kernel may give the listener a port number that an earlier test's
  // connections used, and their TIME_WAITs (60 s) are listed under that port too (CI once saw 10, not 8).
  const ours = (e: SocketEntry) =>
    e.state === 'LISTEN' || clientPorts.has(e.local.port === port ? e.remote.port : e.local.port);
  const read = async (source: SocketTableSource) => {
    const table = await readSocketTable({ source, ports: [port] });
    return { ...table, entries: table.entries.filter(ours) };
  };
  // Sockets may still be settling (FIN_WAIT2 -> TIME_WAIT): compare two reads that follow each other.
  let ss: string[] = [];
  let proc: string[] = [];
  let cookies = 0;
  for (let i = 0; i < 50; i++) {
    const [fromSs, fromProc] = [(await read('ss')).entries, (await read('proc')).entries];
    [ss, proc] = [fromSs.map(still).sort(), fromProc.map(still).sort()];
    cookies = new Set(fromSs.map((e) => e.cookie).filter((c) => c !== undefined)).size;
    if (JSON.stringify(ss) === JSON.stringify(proc) && ss.some((e) => e.includes('TIME_WAIT'))) break;
    await delay(10);
  }
  assert.equal(ss.length, 8); // LISTEN, 3 x 2 ends, the closed one's client TIME_WAIT (its server end is gone)
  assert.deepEqual(ss, proc);
  assert.equal(cookies, 8, 'every socket from ss has a cookie of its own');
});
