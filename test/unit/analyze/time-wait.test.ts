/**
 * TIME_WAIT per remote endpoint (src/analyze/time-wait.ts) on built socket entries: which side this
 * machine was, told by a listening port, a port shared by many peers, or the ephemeral range; the
 * rows counted, sorted and cut at `top`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeWaitByRemote } from '../../../src/analyze/time-wait.js';
import type { SocketEntry } from '../../../src/decode/socket-entry.js';
import { LINUX_DEFAULT_PORTS } from '../../../src/model/host.js';
import type { Endpoint } from '../../../src/model/report.js';

export function socket(state: SocketEntry['state'], local: Endpoint, remote: Endpoint): SocketEntry {
  return {
    family: 4,
    local,
    remote,
    state,
    txQueue: 0,
    rxQueue: 0,
    timer: { kind: state === 'TIME_WAIT' ? 'timewait' : 'off', expiresMs: 0 },
    retransmits: 0,
    uid: 0,
    inode: 0,
  };
}

const ep = (address: string, port: number): Endpoint => ({ address, port });
const PORTS = LINUX_DEFAULT_PORTS;

/** `n` TIME_WAIT sockets of this machine as a client of `server`, from ephemeral ports. */
function asClient(n: number, server: Endpoint, from = '10.0.0.7', firstPort = 40000): SocketEntry[] {
  return Array.from({ length: n }, (_, i) => socket('TIME_WAIT', ep(from, firstPort + i), server));
}

test('time-wait: client rows per server endpoint, with the share of the range; server rows per peer address', () => {
  const entries = [
    socket('LISTEN', ep('0.0.0.0', 8080), ep('0.0.0.0', 0)),
    ...asClient(30, ep('10.0.0.5', 80)),
    ...asClient(5, ep('10.0.0.6', 443)),
    // Accepted on the listening port 8080, closed first here: this machine was the server.
    ...Array.from({ length: 12 }, (_, i) => socket('TIME_WAIT', ep('10.0.0.7', 8080), ep('10.0.0.9', 50000 + i))),
    // Connections still open are not counted.
    socket('ESTABLISHED', ep('10.0.0.7', 45000), ep('10.0.0.5', 80)),
  ];
  const summary = timeWaitByRemote(entries, { ports: PORTS });
  assert.equal(summary.timeWait, 47);
  assert.deepEqual(
    summary.peers.map((p) => [
      p.side,
      `${p.local.address}:${p.local.port}`,
      `${p.remote.address}:${p.remote.port}`,
      p.count,
      p.ephemeral,
    ]),
    [
      ['client', '10.0.0.7:0', '10.0.0.5:80', 30, 30],
      ['server', '10.0.0.7:8080', '10.0.0.9:0', 12, 0],
      ['client', '10.0.0.7:0', '10.0.0.6:443', 5, 5],
    ],
  );
  assert.equal(summary.peers[0]!.rangeShare, 30 / 28232);
  assert.equal(summary.peers[1]!.rangeShare, null);
  assert.equal(summary.peersOmitted, 0);
  assert.equal(timeWaitByRemote(entries, { ports: PORTS, top: 2 }).peersOmitted, 1);
});

test('time-wait: the side, without a listener in the entries', () => {
  const server = ep('127.0.0.1', 41000); // a server on an ephemeral port, as a lab server on port 0
  const entries = [
    // Its listener given apart (sockets --state time-wait reads LISTEN sockets apart).
    socket('TIME_WAIT', server, ep('127.0.0.1', 50001)),
    // A client bound to port 5000 (outside the range) of a server listening here: a client.
    socket('TIME_WAIT', ep('127.0.0.1', 5000), ep('127.0.0.1', 9000)),
    // A listener gone: its port, in the range, has TIME_WAITs with several ports of one peer: a server.
    socket('TIME_WAIT', ep('127.0.0.1', 42000), ep('127.0.0.1', 51001)),
    socket('TIME_WAIT', ep('127.0.0.1', 42000), ep('127.0.0.1', 51002)),
    // Out of the range, the peer's port in it: a server that closed first.
    socket('TIME_WAIT', ep('192.0.2.2', 80), ep('192.0.2.9', 40001)),
    // A client bound to a port below the range, to a server elsewhere on a low port: unknown.
    socket('TIME_WAIT', ep('192.0.2.2', 1023), ep('192.0.2.9', 22)),
  ];
  const summary = timeWaitByRemote(entries, { ports: PORTS, listeningPorts: [41000, 9000] });
  const sides = summary.peers.map(
    (p) => `${p.side} ${p.local.port} -> ${p.remote.address}:${p.remote.port} x${p.count}`,
  );
  assert.deepEqual(sides.sort(), [
    'client 0 -> 127.0.0.1:9000 x1',
    'server 41000 -> 127.0.0.1:0 x1',
    'server 42000 -> 127.0.0.1:0 x2',
    'server 80 -> 192.0.2.9:0 x1',
    'unknown 1023 -> 192.0.2.9:0 x1',
  ]);
  const bound = summary.peers.find((p) => p.remote.port === 9000)!;
  assert.equal(bound.ephemeral, 0, 'port 5000 is not in 32768-60999');
});
