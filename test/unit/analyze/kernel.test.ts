/**
 * kernelConnections: connections rebuilt from socket table snapshots (SocketEntry objects built in
 * code), among them 4-tuples reused by a later connection while an earlier one's TIME_WAIT is there.
 */
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
  more: Partial<SocketEntry> = {},
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
    ...more,
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

/** The baseline snapshot, read at time 0. */
function base(...entries: SocketEntry[]): TableSnapshot {
  return { at: 0, entries };
}

test('kernel: a connection closed by the client leaves a client TIME_WAIT', () => {
  const conns = kernelConnections(
    base(listen),
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
    base(),
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
    base(...before),
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
  const conns = kernelConnections(base(), [{ at: 5, entries }], { serverPort: 8080, serverAddress: '10.0.0.5' });
  assert.deepEqual(
    conns.map((c) => [c.client.port, c.server.address, c.openAtEnd]),
    [[50030, '10.0.0.5', true]],
  );
});

test('kernel: no snapshots, no connections', () => {
  assert.deepEqual(kernelConnections(base(), [], { serverPort: 8080 }), []);
});

// 4-tuples reused (issue #8): consecutive runs against one port meet the TIME_WAITs of earlier runs.

const CLIENT = { address: '127.0.0.1', port: 50100 };
/** The client's socket of the 4-tuple CLIENT -> SERVER, as ss gives it (with its cookie) or /proc (inode). */
const client = (state: TcpState, more: Partial<SocketEntry> = {}) => socket(CLIENT, SERVER, state, more);
const server = (state: TcpState, more: Partial<SocketEntry> = {}) => socket(SERVER, CLIENT, state, more);
/** A TIME_WAIT whose timer has `ms` left. */
const timeWait = (ms: number, more: Partial<SocketEntry> = {}) => ({
  timer: { kind: 'timewait' as const, expiresMs: ms },
  ...more,
});
const at = (time: number, ...entries: SocketEntry[]): TableSnapshot => ({ at: time, entries });

test('kernel [ss]: a SYN to the server TIME_WAIT of the baseline is a new connection (ab, nginx closes)', () => {
  const conns = kernelConnections(
    at(0, server('TIME_WAIT', { cookie: 'a1', ...timeWait(30_000) })),
    [
      at(10, client('ESTABLISHED', { cookie: 'b1', inode: 11 }), server('ESTABLISHED', { cookie: 'b2', inode: 12 })),
      at(20, client('LAST_ACK', { cookie: 'b1', inode: 11 }), server('TIME_WAIT', { cookie: 'b2' })),
      at(30, server('TIME_WAIT', { cookie: 'b2' })),
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.client.port, c.start, c.closedFirstBy, c.timeWait, c.openAtEnd]),
    [[50100, 10, 'server', 'server', false]],
  );
});

test('kernel [ss]: a connection that lived between two snapshots on a baseline TIME_WAIT: its cookie', () => {
  // Nothing but another TIME_WAIT on the same side is left of it: the same state, another socket.
  const conns = kernelConnections(
    at(0, server('TIME_WAIT', { cookie: 'a1' })),
    [at(10, server('TIME_WAIT', { cookie: 'c9' }))],
    {
      serverPort: 8080,
    },
  );
  assert.equal(conns.length, 1);
  assert.equal(conns[0]!.timeWait, 'server');
});

test('kernel [ss]: connect() reusing a client TIME_WAIT (tcp_tw_reuse), listed server first (wrk)', () => {
  const conns = kernelConnections(
    at(0, client('TIME_WAIT', { cookie: 'a1' })),
    [
      at(10, server('ESTABLISHED', { cookie: 'b2', inode: 12 }), client('ESTABLISHED', { cookie: 'b1', inode: 11 })),
      at(20, server('ESTABLISHED', { cookie: 'b2', inode: 12 }), client('ESTABLISHED', { cookie: 'b1', inode: 11 })),
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.openAtEnd, c.notes]),
    [[true, ['last seen: client ESTABLISHED, server ESTABLISHED']]],
  );
});

test('kernel [ss]: the old TIME_WAIT still there beside the new SYN_SENT stays the old one', () => {
  const conns = kernelConnections(
    at(0, server('TIME_WAIT', { cookie: 'a1' })),
    [
      at(10, client('SYN_SENT', { cookie: 'b1', inode: 11 }), server('TIME_WAIT', { cookie: 'a1' })),
      at(20, client('ESTABLISHED', { cookie: 'b1', inode: 11 }), server('ESTABLISHED', { cookie: 'b2', inode: 12 })),
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => c.notes),
    [['last seen: client ESTABLISHED, server ESTABLISHED']],
  );
});

test('kernel [ss]: one 4-tuple twice within a run makes two connections', () => {
  const conns = kernelConnections(
    at(0),
    [
      at(10, client('ESTABLISHED', { cookie: 'b1', inode: 11 }), server('ESTABLISHED', { cookie: 'b2', inode: 12 })),
      at(20, server('TIME_WAIT', { cookie: 'b2' })),
      at(30, client('ESTABLISHED', { cookie: 'c1', inode: 21 }), server('ESTABLISHED', { cookie: 'c2', inode: 22 })),
      at(40, client('ESTABLISHED', { cookie: 'd1', inode: 31 }), server('ESTABLISHED', { cookie: 'd2', inode: 32 })),
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.id, c.start, c.timeWait, c.openAtEnd]),
    [
      [1, 10, 'server', false],
      [2, 30, null, false],
      [3, 40, null, true],
    ],
  );
});

test('kernel [ss]: a request socket and its child, a socket printed closing and its TIME_WAIT: one connection', () => {
  // The child of a request socket has a cookie of its own; so has the TIME_WAIT of a full socket that
  // a dump printed in CLOSE, asking for its first cookie after the TIME_WAIT was made (see sameConnection).
  const conns = kernelConnections(
    at(0),
    [
      at(10, client('ESTABLISHED', { cookie: 'b1', inode: 11 }), server('SYN_RECV', { cookie: 'r1' })),
      at(20, client('CLOSE', { cookie: 'b1', inode: 11 }), server('LAST_ACK', { cookie: 'b2', inode: 12 })),
      at(30, client('TIME_WAIT', { cookie: 'b9' })),
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.closedFirstBy, c.timeWait]),
    [['client', 'client']],
  );
});

test('kernel [proc]: a state going backwards on a 4-tuple is a new connection', () => {
  const conns = kernelConnections(
    at(0, server('TIME_WAIT', timeWait(30_000))),
    [
      at(1000, client('ESTABLISHED', { inode: 11 }), server('ESTABLISHED', { inode: 12 })),
      at(2000, server('TIME_WAIT', timeWait(59_000))),
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.start, c.timeWait]),
    [[1000, 'server']],
  );
});

test('kernel [proc]: a TIME_WAIT whose timer was renewed is another one; one that ran on is the same', () => {
  const renewed = kernelConnections(
    at(0, server('TIME_WAIT', timeWait(30_000))),
    [at(1000, server('TIME_WAIT', timeWait(59_900)))],
    { serverPort: 8080 },
  );
  assert.equal(renewed.length, 1);
  const same = kernelConnections(
    at(0, server('TIME_WAIT', timeWait(30_000))),
    [
      at(1000, server('TIME_WAIT', timeWait(29_000))),
      { at: 5000, doneAt: 7000, entries: [server('TIME_WAIT', timeWait(24_500))] },
    ],
    { serverPort: 8080 },
  );
  assert.equal(same.length, 0);
});

test('kernel [proc]: two inodes on one side are two sockets; the old TIME_WAIT beside a new SYN stays old', () => {
  const conns = kernelConnections(
    at(0, server('TIME_WAIT', timeWait(30_000))),
    [
      at(1000, client('SYN_SENT', { inode: 11 }), server('TIME_WAIT', timeWait(29_000))),
      at(2000, client('ESTABLISHED', { inode: 11 }), server('ESTABLISHED', { inode: 12 })),
      at(3000, client('ESTABLISHED', { inode: 21 }), server('ESTABLISHED', { inode: 22 })),
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.start, c.openAtEnd]),
    [
      [1000, false],
      [3000, true],
    ],
  );
});

// The two sides of a 4-tuple from different connections: an old TIME_WAIT on one side, and on the
// other the only socket left of a new connection that lived between two snapshots (issue #8: ab's
// connections closed by nginx on ports whose client TIME_WAIT was from an earlier run, and ab's
// unused connections, closed by ab, on ports with an earlier server TIME_WAIT).

test('kernel [ss]: a new TIME_WAIT facing an old one that a snapshot in between showed alone', () => {
  const conns = kernelConnections(
    at(0, client('TIME_WAIT', { cookie: 'a1', ...timeWait(30_000) })),
    [
      { at: 100, timerResolutionMs: 1000, entries: [client('TIME_WAIT', { cookie: 'a1', ...timeWait(29_000) })] },
      { at: 200, timerResolutionMs: 1000, entries: [server('TIME_WAIT', { cookie: 'b2', ...timeWait(59_000) })] },
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.start, c.closedFirstBy, c.timeWait]),
    [[200, 'server', 'server']],
  );
});

test('kernel [ss]: a new TIME_WAIT facing an old one whose timer ends seconds earlier', () => {
  for (const [old, fresh] of [
    [client, server],
    [server, client],
  ] as const) {
    const conns = kernelConnections(
      { at: 0, timerResolutionMs: 1000, entries: [old('TIME_WAIT', { cookie: 'a1', ...timeWait(30_000) })] },
      [{ at: 100, timerResolutionMs: 1000, entries: [fresh('TIME_WAIT', { cookie: 'b2', ...timeWait(59_000) })] }],
      { serverPort: 8080 },
    );
    assert.equal(conns.length, 1, `an old ${old('TIME_WAIT').local.port === 8080 ? 'server' : 'client'} TIME_WAIT`);
  }
});

test('kernel [ss]: the sides of one connection seen a snapshot apart are still one connection', () => {
  // A listing is not atomic: a connection opened and closed while snapshot 1 was read shows one side
  // there (the other's place in the listing was passed before it existed), the other from snapshot 2 on,
  // beside the first (both TIME_WAITs of a simultaneous close stay 60 s).
  const simultaneous = kernelConnections(
    at(0),
    [
      {
        at: 1000,
        doneAt: 1100,
        timerResolutionMs: 1000,
        entries: [server('TIME_WAIT', { cookie: 'b2', ...timeWait(59_000) })],
      },
      {
        at: 1200,
        doneAt: 1300,
        timerResolutionMs: 1000,
        entries: [
          client('TIME_WAIT', { cookie: 'b1', ...timeWait(58_000) }),
          server('TIME_WAIT', { cookie: 'b2', ...timeWait(58_000) }),
        ],
      },
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    simultaneous.map((c) => c.notes),
    [['last seen: client TIME_WAIT, server TIME_WAIT']],
  );
  const serverOpen = kernelConnections(
    at(0),
    [
      at(1000, server('ESTABLISHED', { cookie: 'b2', inode: 12 })),
      at(2000, client('TIME_WAIT', { cookie: 'b1', ...timeWait(59_000) })),
    ],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    serverOpen.map((c) => [c.closedFirstBy, c.timeWait]),
    [['client', 'client']],
  );
});

test('kernel [ss]: one snapshot lists the old client TIME_WAIT, then the new connection closing', () => {
  // The listing passed the client's TIME_WAIT before connect() took its port over (tcp_tw_reuse),
  // and the server's new socket after nginx had closed it: a TIME_WAIT's peer cannot be in FIN_WAIT1.
  for (const order of ['client first', 'server first']) {
    const old = client('TIME_WAIT', { cookie: 'a1', ...timeWait(30_000) });
    const fresh = server('FIN_WAIT1', { cookie: 'b2', inode: 12 });
    const conns = kernelConnections(
      at(0, old),
      [
        at(100, ...(order === 'client first' ? [old, fresh] : [fresh, old])),
        at(200, server('TIME_WAIT', { cookie: 'b2' })),
      ],
      { serverPort: 8080 },
    );
    assert.deepEqual(
      conns.map((c) => [c.start, c.closedFirstBy, c.timeWait]),
      [[100, 'server', 'server']],
      order,
    );
  }
});

test('kernel [ss]: a 4-tuple taken again within a run: a closing socket, then another TIME_WAIT', () => {
  // ab -n 2000 -c 50: the server's socket of one connection seen in FIN_WAIT1, then the TIME_WAIT of
  // the next connection on the same port (the first one's TIME_WAIT, killed by its SYN, never seen).
  const conns = kernelConnections(
    at(0),
    [at(100, server('FIN_WAIT1', { cookie: 'ffead', inode: 12 })), at(400, server('TIME_WAIT', { cookie: '100ced' }))],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.start, c.closedFirstBy]),
    [
      [100, 'server'],
      [400, 'server'],
    ],
  );
});

test('kernel [ss]: a TIME_WAIT gone from the table is no peer of a socket that shows up after it', () => {
  // The old client TIME_WAIT was taken over by connect() (tcp_tw_reuse); the new connection, closed by
  // nginx, left its server TIME_WAIT, its timer ending within a second of the old one's.
  const conns = kernelConnections(
    { at: 0, timerResolutionMs: 1000, entries: [client('TIME_WAIT', { cookie: 'a1', ...timeWait(59_000) })] },
    [{ at: 500, timerResolutionMs: 1000, entries: [server('TIME_WAIT', { cookie: 'b2', ...timeWait(59_000) })] }],
    { serverPort: 8080 },
  );
  assert.deepEqual(
    conns.map((c) => [c.start, c.timeWait]),
    [[500, 'server']],
  );
});

/** A full socket as `ss -E` reports its end (state CLOSE, no inode) on side `side` of client port `port`. */
function destroyed(port: number, side: 'client' | 'server', cookie: string, at: number) {
  const client = { address: '127.0.0.1', port };
  const [local, remote] = side === 'client' ? [client, SERVER] : [SERVER, client];
  return { entry: socket(local, remote, 'CLOSE', { cookie }), at };
}

/** A socket with its cookie, as ss lists it. */
function withCookie(entry: SocketEntry, cookie: string): SocketEntry {
  return { ...entry, cookie };
}

test('kernel, destroy events: a connection reset between two snapshots is counted once, from both sides', () => {
  const conns = kernelConnections(base(listen), [snap(100), snap(200)], { serverPort: 8080 }, [
    destroyed(50000, 'client', 'c1', 150),
    destroyed(50000, 'server', 's1', 151),
  ]);
  assert.equal(conns.length, 1);
  assert.deepEqual(conns[0]!.client, { address: '127.0.0.1', port: 50000 });
  assert.equal(conns[0]!.start, 150);
  assert.deepEqual([conns[0]!.closedFirstBy, conns[0]!.timeWait, conns[0]!.openAtEnd], [null, null, false]);
  assert.match(conns[0]!.notes[0]!, /seen only as the kernel destroyed its sockets/);
});

test('kernel, destroy events: a socket a snapshot listed (same cookie) is not counted again', () => {
  const [client, server] = pair(50000, 'ESTABLISHED', 'ESTABLISHED');
  const conns = kernelConnections(
    base(listen),
    [snap(100, [withCookie(client!, 'c1'), withCookie(server!, 's1')]), snap(200)],
    { serverPort: 8080 },
    [destroyed(50000, 'client', 'c1', 150), destroyed(50000, 'server', 's1', 150)],
  );
  assert.equal(conns.length, 1);
  assert.equal(conns[0]!.start, 100);
});

test('kernel, destroy events: a connection seen only as its TIME_WAIT takes its two full sockets', () => {
  // Nobody listed its full sockets: the TIME_WAIT got a cookie of its own, the events others.
  const [tw] = pair(50000, 'TIME_WAIT', null);
  const conns = kernelConnections(
    base(listen),
    [snap(100), snap(200, [withCookie(tw!, 't1')]), snap(300, [withCookie(tw!, 't1')])],
    { serverPort: 8080 },
    // Read after the snapshot that listed the TIME_WAIT, as happens on a loaded machine.
    [destroyed(50000, 'server', 's1', 210), destroyed(50000, 'client', 'c1', 205)],
  );
  assert.equal(conns.length, 1);
  assert.deepEqual([conns[0]!.timeWait, conns[0]!.start], ['client', 200]);
});

test('kernel, destroy events: a server FIN_WAIT2 listed as a timewait socket is not its full socket', () => {
  // issue 8, stress (ab -n 2000 -c 50 against nginx, loaded machine): nginx closes first and its
  // socket is orphaned in FIN_WAIT2; tcp_close() hands it over to a timewait socket at once
  // (tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)), which sock_diag lists in its substate, FIN_WAIT2, with
  // the timewait timer, no inode, and a cookie of its own (nobody had asked the full socket's).
  // The full socket's end came as an event with another cookie: it was counted as a new connection.
  const finWait2 = withCookie(server('FIN_WAIT2', timeWait(59_000)), 'tw1');
  const [closeWait] = pair(CLIENT.port, 'CLOSE_WAIT', null);
  const conns = kernelConnections(
    base(listen),
    [
      at(100, listen, finWait2, withCookie(closeWait!, 'c1')),
      at(1100, listen, withCookie(server('TIME_WAIT', timeWait(58_000)), 'tw1')),
    ],
    { serverPort: 8080 },
    // Read while the snapshot was being read (1 s long on a loaded machine): the server's full
    // socket as it became the timewait socket, then the client's as its LAST_ACK ended.
    [destroyed(CLIENT.port, 'server', 's1', 380), destroyed(CLIENT.port, 'client', 'c1', 402)],
  );
  assert.equal(conns.length, 1, JSON.stringify(conns));
  assert.deepEqual([conns[0]!.closedFirstBy, conns[0]!.timeWait], ['server', 'server']);
});

test('kernel, destroy events: the request socket listed, its child destroyed unlisted, is one connection', () => {
  const [request] = pair(50000, null, 'SYN_RECV');
  const [client] = pair(50000, 'ESTABLISHED', null);
  const conns = kernelConnections(
    base(listen),
    [snap(100, [withCookie(client!, 'c1'), withCookie(request!, 'r1')]), snap(200)],
    { serverPort: 8080 },
    [destroyed(50000, 'client', 'c1', 150), destroyed(50000, 'server', 's1', 150)],
  );
  assert.equal(conns.length, 1);
});

test('kernel, destroy events: on the 4-tuple of a baseline TIME_WAIT, a reset connection is a new one', () => {
  // The client reset with SO_LINGER 0: its event names no peer (tcp_disconnect), only the server's counts.
  const [oldTw] = pair(50000, 'TIME_WAIT', null);
  const aborted = {
    entry: socket({ address: '0.0.0.0', port: 50000 }, { address: '127.0.0.1', port: 0 }, 'CLOSE', { cookie: 'c2' }),
    at: 150,
  };
  const conns = kernelConnections(
    base(listen, withCookie(oldTw!, 't0')),
    [snap(100, [withCookie(oldTw!, 't0')]), snap(200, [withCookie(oldTw!, 't0')])],
    { serverPort: 8080 },
    [aborted, destroyed(50000, 'server', 's2', 151)],
  );
  assert.equal(conns.length, 1);
  assert.deepEqual([conns[0]!.client.port, conns[0]!.start], [50000, 151]);
});

test('kernel, destroy events: two reset connections on one 4-tuple seconds apart are two', () => {
  const conns = kernelConnections(base(listen), [snap(100), snap(5000)], { serverPort: 8080 }, [
    destroyed(50000, 'client', 'c1', 150),
    destroyed(50000, 'server', 's1', 150),
    destroyed(50000, 'server', 's2', 3150),
    destroyed(50000, 'client', 'c2', 3151),
  ]);
  assert.deepEqual(
    conns.map((c) => [c.id, c.start]),
    [
      [1, 150],
      [2, 3150],
    ],
  );
});

test('kernel, destroy events: taken among the others by time; events of other ports and listeners ignored', () => {
  const [tw] = pair(50001, 'TIME_WAIT', null);
  const other = {
    entry: socket({ address: '127.0.0.1', port: 9999 }, { address: '127.0.0.1', port: 50002 }, 'CLOSE', {
      cookie: 'x',
    }),
    at: 120,
  };
  const listener = { entry: socket(SERVER, { address: '0.0.0.0', port: 0 }, 'CLOSE', { cookie: 'l' }), at: 130 };
  const conns = kernelConnections(
    base(listen),
    [snap(100, [withCookie(tw!, 't1')]), snap(200, [withCookie(tw!, 't1')])],
    { serverPort: 8080 },
    [other, listener, destroyed(50000, 'server', 's1', 150), destroyed(50001, 'client', 'c9', 90)],
  );
  assert.deepEqual(
    conns.map((c) => [c.id, c.client.port, c.start]),
    [
      [1, 50001, 100],
      [2, 50000, 150],
    ],
  );
});
