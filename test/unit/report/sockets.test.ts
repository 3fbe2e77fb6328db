/** The socket table renderer: inline expected output, snapshot style. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SocketEntry } from '../../../src/decode/procnet.js';
import { timeWaitByRemote } from '../../../src/analyze/time-wait.js';
import { LINUX_DEFAULT_PORTS } from '../../../src/model/host.js';
import { renderSocketTable, renderTimeWaitSummary } from '../../../src/report/sockets.js';

function entry(overrides: Partial<SocketEntry>): SocketEntry {
  return {
    family: 4,
    local: { address: '127.0.0.1', port: 8080 },
    remote: { address: '0.0.0.0', port: 0 },
    state: 'LISTEN',
    txQueue: 0,
    rxQueue: 0,
    timer: { kind: 'off', expiresMs: 0 },
    retransmits: 0,
    uid: 1000,
    inode: 1,
    ...overrides,
  };
}

const TABLE: SocketEntry[] = [
  entry({ rxQueue: 3 }),
  entry({
    state: 'ESTABLISHED',
    remote: { address: '127.0.0.1', port: 54321 },
    timer: { kind: 'keepalive', expiresMs: 7_199_990 },
  }),
  entry({
    state: 'ESTABLISHED',
    local: { address: '127.0.0.1', port: 54321 },
    remote: { address: '127.0.0.1', port: 8080 },
    txQueue: 65536,
    timer: { kind: 'retransmit', expiresMs: 200 },
    retransmits: 2,
  }),
  entry({
    family: 6,
    state: 'TIME_WAIT',
    local: { address: '::1', port: 51234 },
    remote: { address: '::1', port: 3000 },
    timer: { kind: 'timewait', expiresMs: 59_990 },
  }),
  entry({ family: 6, local: { address: '::', port: 8443 }, remote: { address: '::', port: 0 } }),
  // IPv4-mapped, from tcp6: shown like IPv4.
  entry({
    family: 6,
    state: 'CLOSE_WAIT',
    local: { address: '127.0.0.1', port: 8443 },
    remote: { address: '127.0.0.1', port: 50000 },
    rxQueue: 512,
  }),
  entry({
    state: 'ESTABLISHED',
    local: { address: '192.168.1.20', port: 40004 },
    remote: { address: '93.184.216.34', port: 80 },
    timer: { kind: 'probe', expiresMs: 7_250 },
  }),
  entry({
    state: 'FIN_WAIT2',
    local: { address: '192.168.1.20', port: 40006 },
    remote: { address: '93.184.216.34', port: 80 },
    timer: { kind: 'keepalive', expiresMs: 90_000 },
  }),
];

test('columns like ss -tan, IPv6 in brackets, * for port 0, ss -o style timers', () => {
  assert.equal(
    renderSocketTable(TABLE),
    [
      'State        Recv-Q  Send-Q  Local Address:Port  Peer Address:Port  Timer',
      'LISTEN            3       0  127.0.0.1:8080      0.0.0.0:*          -',
      'ESTABLISHED       0       0  127.0.0.1:8080      127.0.0.1:54321    keepalive,119min,0',
      'ESTABLISHED       0   65536  127.0.0.1:54321     127.0.0.1:8080     retransmit,200ms,2',
      'TIME_WAIT         0       0  [::1]:51234         [::1]:3000         timewait,59sec,0',
      'LISTEN            0       0  [::]:8443           [::]:*             -',
      'CLOSE_WAIT      512       0  127.0.0.1:8443      127.0.0.1:50000    -',
      'ESTABLISHED       0       0  192.168.1.20:40004  93.184.216.34:80   probe,7.2sec,0',
      'FIN_WAIT2         0       0  192.168.1.20:40006  93.184.216.34:80   keepalive,1min30sec,0',
      '',
    ].join('\n'),
  );
});

test('an empty table is the header alone', () => {
  assert.equal(renderSocketTable([]), 'State  Recv-Q  Send-Q  Local Address:Port  Peer Address:Port  Timer\n');
});

test('timer durations', () => {
  const timer = (expiresMs: number) =>
    renderSocketTable([entry({ timer: { kind: 'retransmit', expiresMs } })])
      .split('\n')[1]
      ?.split('  ')
      .at(-1);
  assert.equal(timer(0), 'retransmit,0ms,0');
  assert.equal(timer(990), 'retransmit,990ms,0');
  assert.equal(timer(1000), 'retransmit,1sec,0');
  assert.equal(timer(9_990), 'retransmit,9.9sec,0');
  assert.equal(timer(10_000), 'retransmit,10sec,0');
  assert.equal(timer(60_000), 'retransmit,1min,0');
  assert.equal(timer(599_000), 'retransmit,9min59sec,0');
  assert.equal(timer(600_000), 'retransmit,10min,0');
});

test('color: bold header, coloured state names, alignment unchanged', () => {
  const plain = renderSocketTable(TABLE.slice(0, 6));
  const colored = renderSocketTable(TABLE.slice(0, 6), { color: true });
  assert.equal(
    colored,
    [
      '\x1b[1mState        Recv-Q  Send-Q  Local Address:Port  Peer Address:Port  Timer\x1b[0m',
      '\x1b[36mLISTEN\x1b[0m            3       0  127.0.0.1:8080      0.0.0.0:*          -',
      '\x1b[32mESTABLISHED\x1b[0m       0       0  127.0.0.1:8080      127.0.0.1:54321    keepalive,119min,0',
      '\x1b[32mESTABLISHED\x1b[0m       0   65536  127.0.0.1:54321     127.0.0.1:8080     retransmit,200ms,2',
      '\x1b[33mTIME_WAIT\x1b[0m         0       0  [::1]:51234         [::1]:3000         timewait,59sec,0',
      '\x1b[36mLISTEN\x1b[0m            0       0  [::]:8443           [::]:*             -',
      '\x1b[31mCLOSE_WAIT\x1b[0m      512       0  127.0.0.1:8443      127.0.0.1:50000    -',
      '',
    ].join('\n'),
  );
  // eslint-disable-next-line no-control-regex
  assert.equal(colored.replace(/\x1b\[\d+m/g, ''), plain);
});

test('states without a colour are left plain', () => {
  const colored = renderSocketTable([entry({ state: 'FIN_WAIT2' })], { color: true });
  assert.equal(colored.split('\n')[1], 'FIN_WAIT2       0       0  127.0.0.1:8080      0.0.0.0:*          -');
});

test('TIME_WAIT per remote endpoint: the settings, then the rows, most first', () => {
  const entries: SocketEntry[] = [
    ...Array.from({ length: 3 }, (_, i) =>
      entry({
        state: 'TIME_WAIT',
        local: { address: '127.0.0.1', port: 40000 + i },
        remote: { address: '127.0.0.1', port: 9000 },
      }),
    ),
    // A client bound to port 1500, outside the range.
    entry({
      state: 'TIME_WAIT',
      local: { address: '127.0.0.1', port: 1500 },
      remote: { address: '127.0.0.1', port: 9000 },
    }),
    entry({
      state: 'TIME_WAIT',
      local: { address: '10.0.0.7', port: 8080 },
      remote: { address: '10.0.0.9', port: 50000 },
    }),
    entry({
      state: 'TIME_WAIT',
      local: { address: '10.0.0.7', port: 40000 },
      remote: { address: '10.0.0.6', port: 443 },
    }),
  ];
  const summary = timeWaitByRemote(entries, { ports: LINUX_DEFAULT_PORTS, listeningPorts: [8080, 9000], top: 2 });
  assert.equal(
    renderTimeWaitSummary(summary),
    [
      'TIME_WAIT by remote endpoint: 6 sockets',
      "ephemeral ports 32768-60999 (28,232, Linux's default); tcp_tw_reuse 2 (loopback only: connect() may take " +
        "a port back from TIME_WAIT on loopback after 1000 ms; Linux's default)",
      'TIME_WAIT  this machine  Local Address:Port  Peer Address:Port  local ports',
      '        4  client        127.0.0.1:*         127.0.0.1:9000     3 ephemeral (<0.1% of the range), 1 bound',
      '        1  client        10.0.0.7:*          10.0.0.6:443       1 ephemeral (<0.1% of the range)',
      '(1 more remote endpoint)',
      '',
    ].join('\n'),
  );
});
