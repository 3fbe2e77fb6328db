/**
 * /proc/net/tcp and /proc/net/tcp6 parsing. The fixture files under test/fixtures/procnet/ are laid
 * out byte for byte as a little-endian x86-64 kernel prints them (net/ipv4/tcp_ipv4.c get_tcp4_sock,
 * net/ipv6/tcp_ipv6.c get_tcp6_sock: tcp lines padded to 149 columns, tcp6 ones not); edge cases are
 * built in code with `line()`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ProcNetWarning,
  TCP_STATES,
  parseProcNetTcp,
  tcpStateName,
  type SocketEntry,
} from '../../../src/decode/procnet.js';

const FIXTURES = new URL('../../../../test/fixtures/procnet/', import.meta.url);
const fixture = (path: string): string => readFileSync(new URL(path, FIXTURES), 'utf8');

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

/** One socket line in the kernel's format; every column can be overridden. */
function line(
  columns: {
    local?: string;
    remote?: string;
    st?: string;
    queues?: string;
    timer?: string;
    retransmits?: string;
    uid?: string;
    inode?: string;
  } = {},
): string {
  const c = {
    local: '0100007F:1F90',
    remote: '00000000:0000',
    st: '0A',
    queues: '00000000:00000000',
    timer: '00:00000000',
    retransmits: '00000000',
    uid: '1000',
    inode: '12345',
    ...columns,
  };
  return (
    `   0: ${c.local} ${c.remote} ${c.st} ${c.queues} ${c.timer} ${c.retransmits} ${c.uid.padStart(5)}        0 ` +
    `${c.inode} 1 0000000000000000 100 0 0 10 0`
  );
}

/** The one entry of a one-line parse, failing on warnings. */
function only(text: string, family: 4 | 6 = 4, byteOrder?: 'le' | 'be'): SocketEntry {
  const { entries, warnings } = parseProcNetTcp(text, family, byteOrder);
  assert.deepEqual(warnings, []);
  assert.equal(entries.length, 1);
  return entries[0] as SocketEntry;
}

const ep = (address: string, port: number) => ({ address, port });

test('IPv4 fixture: every column of every line', () => {
  const { entries, warnings } = parseProcNetTcp(fixture('linux-le/net/tcp'), 4);
  assert.deepEqual(warnings, []);
  const base = { family: 4, txQueue: 0, rxQueue: 0, retransmits: 0, uid: 1000 } as const;
  assert.deepEqual(entries, [
    {
      ...base,
      local: ep('127.0.0.1', 8080),
      remote: ep('0.0.0.0', 0),
      state: 'LISTEN',
      rxQueue: 3,
      timer: { kind: 'off', expiresMs: 0 },
      inode: 40001,
    },
    {
      ...base,
      local: ep('127.0.0.1', 8080),
      remote: ep('127.0.0.1', 54321),
      state: 'ESTABLISHED',
      timer: { kind: 'keepalive', expiresMs: 59990 },
      inode: 40002,
    },
    {
      ...base,
      local: ep('127.0.0.1', 54321),
      remote: ep('127.0.0.1', 8080),
      state: 'ESTABLISHED',
      txQueue: 42,
      timer: { kind: 'retransmit', expiresMs: 200 },
      retransmits: 2,
      inode: 40003,
    },
    // get_timewait4_sock: shorter line, uid and inode 0.
    {
      ...base,
      local: ep('127.0.0.1', 54322),
      remote: ep('127.0.0.1', 8080),
      state: 'TIME_WAIT',
      timer: { kind: 'timewait', expiresMs: 60000 },
      uid: 0,
      inode: 0,
    },
    {
      ...base,
      local: ep('192.168.1.20', 40000),
      remote: ep('93.184.216.34', 80),
      state: 'SYN_SENT',
      txQueue: 1,
      timer: { kind: 'retransmit', expiresMs: 1000 },
      retransmits: 1,
      inode: 40005,
    },
    {
      ...base,
      local: ep('192.168.1.20', 40002),
      remote: ep('93.184.216.34', 443),
      state: 'CLOSE_WAIT',
      rxQueue: 500,
      timer: { kind: 'off', expiresMs: 0 },
      inode: 40006,
    },
    {
      ...base,
      local: ep('192.168.1.20', 40004),
      remote: ep('93.184.216.34', 80),
      state: 'ESTABLISHED',
      txQueue: 65536,
      timer: { kind: 'probe', expiresMs: 5000 },
      inode: 40007,
    },
    // get_openreq4: a request socket, SYN-ACK retransmit timer, no inode.
    {
      ...base,
      local: ep('127.0.0.1', 8080),
      remote: ep('127.0.0.1', 54326),
      state: 'SYN_RECV',
      timer: { kind: 'retransmit', expiresMs: 1000 },
      inode: 0,
    },
  ]);
});

test('IPv6 fixture: ::, ::1, IPv4-mapped shown as IPv4, RFC 5952 compression', () => {
  const { entries, warnings } = parseProcNetTcp(fixture('linux-le/net/tcp6'), 6);
  assert.deepEqual(warnings, []);
  assert.ok(entries.every((e) => e.family === 6));
  assert.deepEqual(
    entries.map((e) => [e.state, e.local, e.remote]),
    [
      ['LISTEN', ep('::', 8443), ep('::', 0)],
      ['LISTEN', ep('::1', 3000), ep('::', 0)],
      ['ESTABLISHED', ep('127.0.0.1', 8443), ep('127.0.0.1', 50000)],
      ['ESTABLISHED', ep('2001:db8::1', 443), ep('2001:db8::2', 51000)],
      ['TIME_WAIT', ep('::1', 51234), ep('::1', 3000)],
      ['SYN_SENT', ep('fe80::a00:27ff:fe4e:66a1', 53248), ep('2001:db8::1:0:0:1', 80)],
    ],
  );
  assert.deepEqual(entries[3]?.timer, { kind: 'keepalive', expiresMs: 119990 });
  assert.deepEqual(entries[4]?.timer, { kind: 'timewait', expiresMs: 30000 });
  assert.deepEqual(
    [entries[5]?.txQueue, entries[5]?.retransmits, entries[5]?.timer],
    [1, 2, { kind: 'retransmit', expiresMs: 2000 }],
  );
});

test('every state of include/net/tcp_states.h, by line and by tcpStateName', () => {
  assert.equal(TCP_STATES.length, 12);
  const text = TCP_STATES.map((_, i) => line({ st: (i + 1).toString(16).toUpperCase().padStart(2, '0') })).join('\n');
  const { entries, warnings } = parseProcNetTcp(text, 4);
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    entries.map((e) => e.state),
    [
      'ESTABLISHED',
      'SYN_SENT',
      'SYN_RECV',
      'FIN_WAIT1',
      'FIN_WAIT2',
      'TIME_WAIT',
      'CLOSE',
      'CLOSE_WAIT',
      'LAST_ACK',
      'LISTEN',
      'CLOSING',
      'NEW_SYN_RECV',
    ],
  );
  assert.equal(tcpStateName(0x01), 'ESTABLISHED');
  assert.equal(tcpStateName(0x06), 'TIME_WAIT');
  assert.equal(tcpStateName(0x0a), 'LISTEN');
  assert.equal(tcpStateName(0x0c), 'NEW_SYN_RECV');
  for (const bad of [0, 13, 0x0d, -1, 1.5, NaN]) assert.throws(() => tcpStateName(bad), RangeError);
});

test('each timer kind; tm->when is in USER_HZ ticks (10 ms)', () => {
  const cases = [
    ['00:00000000', 'off', 0],
    ['01:0000001A', 'retransmit', 260],
    ['02:00001C1F', 'keepalive', 71990],
    ['03:00001770', 'timewait', 60000],
    ['04:00000032', 'probe', 500],
    ['05:00000001', 'unknown', 10],
    ['FF:00000000', 'unknown', 0],
  ] as const;
  for (const [timer, kind, expiresMs] of cases) {
    assert.deepEqual(only(line({ timer })).timer, { kind, expiresMs }, timer);
  }
});

test('an overdue timer printed as a negative delta (kernels before 3.18) is 0 ms', () => {
  // 64-bit kernel: %08lX of -100 ticks; 32-bit kernel: %08lX of -10 ticks.
  assert.deepEqual(only(line({ timer: '01:FFFFFFFFFFFFFF9C' })).timer, { kind: 'retransmit', expiresMs: 0 });
  assert.deepEqual(only(line({ timer: '01:FFFFFFF6' })).timer, { kind: 'retransmit', expiresMs: 0 });
});

test('header lines, blank lines and surrounding whitespace are skipped without warnings', () => {
  assert.deepEqual(parseProcNetTcp('', 4), { entries: [], warnings: [] });
  assert.deepEqual(parseProcNetTcp(`${HEADER}\n`, 4), { entries: [], warnings: [] });
  const text = `\n${HEADER}${' '.repeat(50)}\n\n   \n${line()}\r\n\n${line({ inode: '7' })}`;
  const { entries, warnings } = parseProcNetTcp(text, 4);
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    entries.map((e) => e.inode),
    [12345, 7],
  );
});

test('garbage lines become warnings with their line number; good lines around them are kept', () => {
  const bad = [
    'garbage',
    line().slice(0, 60), // cut short
    line().replace('   0:', '   x:'),
    line({ local: '0100007F' }), // no port
    line({ local: '00000000000000000000000001000000:1F90' }), // IPv6 address in the IPv4 file
    line({ remote: '0100007G:1F90' }),
    line({ local: '0100007F:1F9' }),
    line({ st: '0AB' }),
    line({ queues: '00000000' }),
    line({ timer: '01-00000000' }),
    line({ retransmits: 'xyz' }),
    line({ uid: '-1' }),
    line({ inode: '12a' }),
  ];
  const text = [HEADER, line({ inode: '1' }), ...bad, line({ inode: '2' })].join('\n');
  const { entries, warnings } = parseProcNetTcp(text, 4);
  assert.deepEqual(
    entries.map((e) => e.inode),
    [1, 2],
  );
  assert.equal(warnings.length, bad.length);
  warnings.forEach((w, i) => {
    assert.equal(w.code, ProcNetWarning.MALFORMED_LINE);
    assert.match(w.message, new RegExp(`^line ${i + 3}: `));
  });
  assert.equal(warnings[0]?.message, 'line 3: expected at least 10 columns, got 1');
  assert.match(warnings[4]?.message ?? '', /not an IPv4 address:port of \/proc\/net\/tcp$/);
});

test('an IPv4-width address in tcp6 is malformed', () => {
  const { entries, warnings } = parseProcNetTcp(line(), 6);
  assert.deepEqual(entries, []);
  assert.equal(warnings[0]?.code, ProcNetWarning.MALFORMED_LINE);
  assert.match(warnings[0]?.message ?? '', /not an IPv6 address:port of \/proc\/net\/tcp6$/);
});

test('a state number outside 1..12 is its own warning and the line is skipped', () => {
  const { entries, warnings } = parseProcNetTcp([line({ st: '00' }), line({ st: '0D' }), line()].join('\n'), 4);
  assert.equal(entries.length, 1);
  assert.deepEqual(
    warnings.map((w) => w.code),
    [ProcNetWarning.UNKNOWN_STATE, ProcNetWarning.UNKNOWN_STATE],
  );
  assert.equal(warnings[1]?.message, 'line 2: state 0x0D is not a TCP state of include/net/tcp_states.h, line skipped');
});

test('malformed-line warnings stop at 20, then one summary', () => {
  const { warnings } = parseProcNetTcp(Array.from({ length: 25 }, () => 'garbage').join('\n'), 4);
  assert.equal(warnings.length, 21);
  assert.equal(warnings[19]?.message, 'line 20: expected at least 10 columns, got 1');
  assert.deepEqual(warnings[20], { code: ProcNetWarning.MALFORMED_LINE, message: '5 more malformed lines not listed' });
});

test('byte order: host-order words, little-endian by default, big-endian on request', () => {
  assert.equal(only(line({ local: '0100007F:1F90' })).local.address, '127.0.0.1');
  assert.equal(only(line({ local: '7F000001:1F90' }), 4, 'be').local.address, '127.0.0.1');
  assert.equal(only(line({ local: '0100007F:1F90' }), 4, 'be').local.address, '1.0.0.127');
  // Ports are printed after ntohs(): the same in both byte orders.
  assert.equal(only(line({ local: '7F000001:1F90' }), 4, 'be').local.port, 8080);
  const v6 = (address: string) => line({ local: `${address}:0050`, remote: `${'0'.repeat(32)}:0000` });
  assert.equal(only(v6('00000000000000000000000000000001'), 6, 'be').local.address, '::1');
  assert.equal(only(v6('00000000000000000000000001000000'), 6, 'le').local.address, '::1');
  assert.equal(only(v6('00000000000000000000FFFF7F000001'), 6, 'be').local.address, '127.0.0.1');
  assert.equal(only(v6('20010DB8000000000000000000000001'), 6, 'be').local.address, '2001:db8::1');
});

test('IPv6 text form follows RFC 5952', () => {
  const cases = [
    ['20010DB8000000000001000000000001', '2001:db8::1:0:0:1'], // first of two equal runs (4.2.3)
    ['20010DB8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // one zero group is not shortened (4.2.2)
    ['20010000000000010000000000000001', '2001:0:0:1::1'], // the longest run (4.2.3)
    ['20010DB8000000000000000000000000', '2001:db8::'],
    ['00000000000000000000000000000000', '::'],
    ['FE800000000000000A0027FFFE4E66A1', 'fe80::a00:27ff:fe4e:66a1'], // lower case, no leading zeros (4.1, 4.3)
    ['000000000000000000000000DEADBEEF', '::dead:beef'], // IPv4-compatible (deprecated) stays hex
    ['0000000000000000FFFF000000000000', '::ffff:0:0:0'], // not IPv4-mapped: one group off
    ['00000000000000000000FFFF00000000', '0.0.0.0'], // ::ffff:0.0.0.0, IPv4-mapped: shown as IPv4
    ['00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
  ] as const;
  for (const [hex, text] of cases) {
    const entry = only(line({ local: `${hex}:0050`, remote: `${'0'.repeat(32)}:0000` }), 6, 'be');
    assert.equal(entry.local.address, text, hex);
  }
});

test('never throws, whatever the text', () => {
  const piece = fc.constantFrom(
    HEADER,
    line(),
    line({ st: '06' }),
    '',
    ' ',
    '\n',
    ':',
    '0100007F:1F90',
    '01:',
    'FFFFFFFF',
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string(), piece)), fc.constantFrom(4 as const, 6 as const), (parts, family) => {
      const text = parts.join(' ');
      const { entries, warnings } = parseProcNetTcp(text, family);
      assert.ok(entries.length + warnings.length <= text.split('\n').length + 1);
    }),
  );
});

const portsFilterName =
  'ports: only the lines with those local or remote ports are parsed, ' +
  'with the same result as filtering afterwards';
test(portsFilterName, () => {
  for (const [file, family] of [
    ['linux-le/net/tcp', 4],
    ['linux-le/net/tcp6', 6],
  ] as const) {
    const text = fixture(file);
    const all = parseProcNetTcp(text, family).entries;
    const ports = [...new Set(all.flatMap((e) => [e.local.port, e.remote.port]))];
    assert.ok(ports.length > 2, file);
    for (const port of ports) {
      const expected = all.filter((e) => e.local.port === port || e.remote.port === port);
      assert.deepEqual(parseProcNetTcp(text, family, 'le', [port]).entries, expected, `${file} port ${port}`);
    }
    assert.deepEqual(parseProcNetTcp(text, family, 'le', ports).entries, all, `${file}: every port`);
    assert.deepEqual(parseProcNetTcp(text, family, 'le', [1]).entries, [], `${file}: a port nobody uses`);
  }
});
