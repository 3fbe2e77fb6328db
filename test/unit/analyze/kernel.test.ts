/** kernelConnections: connections rebuilt from /proc/net/tcp snapshots (SocketEntry objects built in code). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kernelConnections } from '../../../src/analyze/kernel.js';
import type { TableSnapshot } from '../../../src/analyze/kernel.js';
import type { SocketEntry, TcpState } from '../../../src/decode/procnet.js';

const SERVER = { address: '127.0.0.1', port: 8080 };

function socket(
  local: { address: string; port: number },
  remote: { address: string; port: number },
  state: TcpState,
): SocketEntry {
  return {
    family: 4,
    local,
    remote,
    state,
    txQueue: 0,
    rxQueue: 0,
    timer: { kind: 'off', expiresMs: 0 },
    retransmits: 0,
    uid: 0,
    inode: 0,
  };
}

/** Both sockets of a loopback connection from client port `port`. */
function pair(port: number, clientState: TcpState | null, serverState: TcpState | null): SocketEntry[] {
  const client = { address: '127.0.0.1', port };
  const out: SocketEntry[] = [];
  if (clientState) out.push(socket(client, SERVER, clientState));
  if (serverState) out.push(socket(SERVER, client, serverState));
  return out;
}

const listen = socket(SERVER, { address: '0.0.0.0', port: 0 }, 'LISTEN');

function snap(at: number, ...entries: SocketEntry[][]): TableSnapshot {
  return { at, entries: [listen, ...entries.flat()] };
}

test('kernel: a connection closed by the client leaves a client TIME_WAIT', () => {
  const conns = kernelConnections(
    [listen],
    [snap(1, pair(50000, 'ESTABLISHED', 'ESTABLISHED')), snap(2, pair(50000, 'TIME_WAIT', null))],
    { serverPort: 8080 },
  );
  assert.equal(conns.length, 1);
  const c = conns[0]!;
  assert.deepEqual(c.client, { address: '127.0.0.1', port: 50000 });
  assert.deepEqual(c.server, SERVER);
  assert.equal(c.closedFirstBy, 'client');
  assert.equal(c.timeWait, 'client');
  assert.equal(c.openAtEnd, false);
  assert.equal(c.start, 1);
  assert.equal(c.requests, 0, 'the kernel cannot count requests');
  assert.deepEqual(c.notes, ['last seen: client TIME_WAIT, server ESTABLISHED']);
});

test('kernel: passive and active close states tell who closed first', () => {
  const conns = kernelConnections(
    [],
    [
      snap(
        1,
        pair(50001, 'CLOSE_WAIT', 'FIN_WAIT2'),
        pair(50002, 'FIN_WAIT1', 'CLOSE_WAIT'),
        pair(50003, 'ESTABLISHED', 'ESTABLISHED'),
      ),
      snap(
        2,
        pair(50001, null, 'TIME_WAIT'),
        pair(50002, 'TIME_WAIT', null),
        pair(50003, 'ESTABLISHED', 'ESTABLISHED'),
      ),
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.client.port, c.closedFirstBy, c.timeWait, c.openAtEnd]),
    [
      [50001, 'server', 'server', false],
      [50002, 'client', 'client', false],
      [50003, null, null, true],
    ],
  );
  assert.deepEqual(
    conns.map((c) => c.id),
    [1, 2, 3],
  );
});

test('kernel: sockets that existed before, LISTEN sockets and other ports are left out', () => {
  const before = [listen, ...pair(50010, 'ESTABLISHED', 'ESTABLISHED')];
  const other = [socket({ address: '127.0.0.1', port: 50020 }, { address: '127.0.0.1', port: 9999 }, 'ESTABLISHED')];
  const conns = kernelConnections(
    before,
    [snap(1, pair(50010, 'TIME_WAIT', null), other, pair(50011, 'TIME_WAIT', null))],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => c.client.port),
    [50011],
  );
});

test('kernel: a remote server address narrows the focus', () => {
  const remote = { address: '10.0.0.5', port: 8080 };
  const entries = [
    socket({ address: '10.0.0.1', port: 50030 }, remote, 'ESTABLISHED'),
    socket({ address: '127.0.0.1', port: 50031 }, SERVER, 'ESTABLISHED'),
  ];
  const conns = kernelConnections([], [{ at: 5, entries }], { serverPort: 8080, serverAddress: '10.0.0.5' });
  assert.deepEqual(
    conns.map((c) => [c.client.port, c.server.address, c.openAtEnd]),
    [[50030, '10.0.0.5', true]],
  );
});

test('kernel: no snapshots, no connections', () => {
  assert.deepEqual(kernelConnections([], [], { serverPort: 8080 }), []);
});
