/**
 * Parsing `ss -tanHOneo` output, and `ss -tanHOeE` (socket-destroy events) as it comes. The fixtures
 * under test/fixtures/ss/ are real output of iproute2's ss for sockets in every state a TCP table
 * lists, made by test/fixtures/ss/capture.py in a private network namespace, with /proc/net/tcp{,6}
 * read at the same moment (proc-tcp, proc-tcp6): the two parsers must give the same sockets; and the
 * events of each way a connection ends (events.txt, capture-events.py). Edge cases are built in
 * code with `line()`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseProcNetTcp } from '../../../src/decode/procnet.js';
import type { SocketEntry } from '../../../src/decode/socket-entry.js';
import { SsEventDecoder, SsWarning, parseSs } from '../../../src/decode/ss.js';

const FIXTURES = new URL('../../../../test/fixtures/ss/', import.meta.url);
const fixture = (path: string): string => readFileSync(new URL(path, FIXTURES), 'utf8');
const ep = (address: string, port: number) => ({ address, port });

/** One socket line as ss prints it; every column can be overridden. */
function line(
  c: { state?: string; recvQ?: string; sendQ?: string; local?: string; peer?: string; details?: string } = {},
): string {
  const v = {
    state: 'ESTAB',
    recvQ: '0',
    sendQ: '0',
    local: '127.0.0.1:8080',
    peer: '127.0.0.1:54321',
    details: 'ino:123 sk:1 cgroup:/ <->',
    ...c,
  };
  return `${v.state.padEnd(10)} ${v.recvQ.padEnd(6)} ${v.sendQ.padEnd(6)} ${v.local} ${v.peer} ${v.details}   `;
}

function only(text: string): SocketEntry {
  const { entries, warnings } = parseSs(text);
  assert.deepEqual(warnings, []);
  assert.equal(entries.length, 1);
  return entries[0] as SocketEntry;
}

test('fixture: every state, IPv4, IPv6, IPv4-mapped, wildcards, a device, another uid', () => {
  const { entries, warnings } = parseSs(fixture('all.txt'));
  assert.deepEqual(warnings, []);
  assert.equal(entries.length, 31);
  assert.deepEqual([...new Set(entries.map((e) => e.state))].sort(), [
    'CLOSE_WAIT',
    'CLOSING',
    'ESTABLISHED',
    'FIN_WAIT1',
    'FIN_WAIT2',
    'LAST_ACK',
    'LISTEN',
    'SYN_RECV',
    'SYN_SENT',
    'TIME_WAIT',
  ]);
  const find = (local: string, localPort: number, remotePort: number) =>
    entries.find((e) => e.local.address === local && e.local.port === localPort && e.remote.port === remotePort);
  // LISTEN: the dual-stack wildcard is printed '*' (family 6, ::), a v6only one [::], IPv4's 0.0.0.0.
  assert.deepEqual(find('::', 5001, 0), {
    family: 6,
    local: ep('::', 5001),
    remote: ep('::', 0),
    state: 'LISTEN',
    txQueue: 0, // ss's Send-Q of a listener is its backlog (16), not bytes: 0 as /proc says
    rxQueue: 0,
    timer: { kind: 'off', expiresMs: 0 },
    retransmits: 0,
    uid: 0,
    inode: 3042111,
    cookie: '1c',
  });
  assert.deepEqual([find('::', 5002, 0)?.family, find('0.0.0.0', 5010, 0)?.family], [6, 4]);
  // Bound to a device ("127.0.0.1%lo:5003") and owned by uid 65534 ("uid:65534").
  assert.deepEqual(find('127.0.0.1', 5003, 0)?.local, ep('127.0.0.1', 5003));
  assert.equal(find('127.0.0.1', 5004, 0)?.uid, 65534);
  // IPv4-mapped: an IPv6 socket, addresses shown as IPv4 (as the /proc parser does).
  const mapped = entries.filter((e) => e.family === 6 && e.local.address === '127.0.0.1');
  assert.deepEqual(
    mapped.map((e) => [e.state, e.local.port]),
    [
      ['TIME_WAIT', 5001],
      ['ESTABLISHED', 5001],
    ],
  );
  // Timers: retransmit with its count, keepalive (119min), timewait (59sec) with no inode.
  assert.deepEqual(find('10.0.0.1', 40010, 80), {
    family: 4,
    local: ep('10.0.0.1', 40010),
    remote: ep('10.1.1.1', 80),
    state: 'ESTABLISHED',
    txQueue: 100,
    rxQueue: 0,
    timer: { kind: 'retransmit', expiresMs: 136 },
    retransmits: 1,
    uid: 0,
    inode: 3042139,
    cookie: 'd',
  });
  assert.deepEqual(find('127.0.0.1', 54534, 5000)?.timer, { kind: 'keepalive', expiresMs: 119 * 60_000 });
  const timeWait = find('::1', 58708, 5000);
  assert.deepEqual(
    [timeWait?.state, timeWait?.timer, timeWait?.inode, timeWait?.cookie],
    ['TIME_WAIT', { kind: 'timewait', expiresMs: 59_000 }, 0, '21'],
  );
  // Every socket has a cookie of its own, TIME_WAIT and request sockets included.
  assert.equal(new Set(entries.map((e) => e.cookie)).size, entries.length);
  assert.ok(entries.every((e) => e.cookie !== undefined));
  // FIN_WAIT2 twice: a full socket (shut down, inode) and an orphan kept as a TIME_WAIT mini-socket.
  assert.deepEqual(
    entries.filter((e) => e.state === 'FIN_WAIT2').map((e) => [e.timer.kind, e.inode > 0]),
    [
      ['off', true],
      ['timewait', false],
    ],
  );
  // Queues: 50 unread bytes, a FIN counted in Recv-Q, a SYN in Send-Q.
  assert.equal(find('127.0.0.1', 5000, 54534)?.rxQueue, 50);
  assert.deepEqual([find('10.0.0.1', 40012, 80)?.rxQueue, find('10.0.0.1', 40012, 80)?.state], [1, 'CLOSING']);
  assert.deepEqual(find('2001:db8::1', 40001, 80)?.remote, ep('2001:db8:1::1', 80));
  assert.deepEqual([find('10.0.0.1', 5000, 1234)?.state, find('10.0.0.1', 5000, 1234)?.inode], ['SYN_RECV', 0]);
});

test('fixture: ss and /proc/net/tcp{,6} read at the same moment list the same sockets', () => {
  const fromSs = parseSs(fixture('all.txt'));
  const v4 = parseProcNetTcp(fixture('proc-tcp'), 4, 'le');
  const v6 = parseProcNetTcp(fixture('proc-tcp6'), 6, 'le');
  assert.deepEqual([...fromSs.warnings, ...v4.warnings, ...v6.warnings], []);
  // Everything but the time left on timers, which ran on between the two reads (and /proc counts in 10 ms),
  // and the cookie, which only ss gives.
  const still = ({ cookie: _, ...e }: SocketEntry) => JSON.stringify({ ...e, timer: e.timer.kind });
  const sorted = (entries: SocketEntry[]) => entries.map(still).sort();
  assert.deepEqual(sorted(fromSs.entries), sorted([...v4.entries, ...v6.entries]));
});

test('fixture: the filtered query lists only the port, as the kernel filtered it', () => {
  const { entries, warnings } = parseSs(fixture('port-5000.txt'));
  assert.deepEqual(warnings, []);
  assert.equal(entries.length, 14);
  assert.ok(entries.every((e) => e.local.port === 5000 || e.remote.port === 5000));
  const all = parseSs(fixture('all.txt')).entries.filter((e) => e.local.port === 5000 || e.remote.port === 5000);
  assert.equal(all.length, 14);
});

test('every state name ss prints', () => {
  const names = {
    ESTAB: 'ESTABLISHED',
    'SYN-SENT': 'SYN_SENT',
    'SYN-RECV': 'SYN_RECV',
    'FIN-WAIT-1': 'FIN_WAIT1',
    'FIN-WAIT-2': 'FIN_WAIT2',
    'TIME-WAIT': 'TIME_WAIT',
    UNCONN: 'CLOSE',
    'CLOSE-WAIT': 'CLOSE_WAIT',
    'LAST-ACK': 'LAST_ACK',
    LISTEN: 'LISTEN',
    CLOSING: 'CLOSING',
    'NEW-SYN-RECV': 'NEW_SYN_RECV',
  };
  for (const [name, state] of Object.entries(names)) assert.equal(only(line({ state: name })).state, state, name);
  const { entries, warnings } = parseSs(line({ state: 'UNKNOWN' }));
  assert.deepEqual(entries, []);
  assert.deepEqual(
    warnings.map((w) => w.code),
    [SsWarning.UNKNOWN_STATE],
  );
});

test("timer times as print_ms_timer writes them (and the later patch's N.MMMsec)", () => {
  const cases: [string, number][] = [
    ['', 0],
    ['200ms', 200],
    ['007ms', 7],
    ['1.234ms', 1234],
    ['1.234sec', 1234],
    ['9.050ms', 9050],
    ['12sec', 12_000],
    ['59sec', 59_000],
    ['1min', 60_000],
    ['1min30sec', 90_000],
    ['9min59sec', 599_000],
    ['119min', 7_140_000],
  ];
  for (const [time, ms] of cases) {
    assert.deepEqual(only(line({ details: `timer:(on,${time},3) ino:1` })).timer, {
      kind: 'retransmit',
      expiresMs: ms,
    });
  }
  const kinds = {
    on: 'retransmit',
    keepalive: 'keepalive',
    timewait: 'timewait',
    persist: 'probe',
    unknown: 'unknown',
  };
  for (const [name, kind] of Object.entries(kinds)) {
    const entry = only(line({ details: `timer:(${name},1sec,2)` }));
    assert.deepEqual([entry.timer.kind, entry.retransmits], [kind, 2]);
  }
});

test('addresses: brackets, zones, mapped, wildcards, ports', () => {
  const at = (local: string, peer = '127.0.0.1:1') => {
    const e = only(line({ local, peer }));
    return [e.family, e.local.address, e.local.port];
  };
  assert.deepEqual(at('10.0.0.1:80'), [4, '10.0.0.1', 80]);
  assert.deepEqual(at('0.0.0.0:65535'), [4, '0.0.0.0', 65535]);
  assert.deepEqual(at('[::1]:80', '[::1]:1'), [6, '::1', 80]);
  assert.deepEqual(at('[2001:db8:0:0:0:0:0:1]:80'), [6, '2001:db8::1', 80]); // RFC 5952, as /proc's parser
  assert.deepEqual(at('[::ffff:192.0.2.1]:443'), [6, '192.0.2.1', 443]);
  assert.deepEqual(at('[fe80::1]%eth0:22'), [6, 'fe80::1', 22]);
  assert.deepEqual(at('127.0.0.1%lo:5003'), [4, '127.0.0.1', 5003]);
  assert.deepEqual(at('*:5001'), [6, '::', 5001]);
  assert.deepEqual(only(line({ peer: '0.0.0.0:*' })).remote, ep('0.0.0.0', 0));
  assert.deepEqual(only(line({ peer: '*:*' })).remote, ep('::', 0));
});

test('uid, inode and cookie: uid absent means 0 (ss prints it only when not 0), other details ignored', () => {
  const e = only(
    line({ details: 'uid:1000 ino:4242 sk:ffff8881 cgroup:/system.slice/x.service v6only:0 fwmark:0x1 -->' }),
  );
  assert.deepEqual([e.uid, e.inode, e.cookie], [1000, 4242, 'ffff8881']);
  assert.equal(only(line({ details: 'ino:0 sk:ffffffffffffffff' })).cookie, 'ffffffffffffffff');
  const bare = only(line({ details: '' }));
  assert.deepEqual([bare.uid, bare.inode, bare.timer.kind, 'cookie' in bare], [0, 0, 'off', false]);
});

test('header and blank lines skipped; malformed lines are warnings with their line number, capped', () => {
  const header = 'State      Recv-Q Send-Q Local Address:Port  Peer Address:Port Process';
  assert.equal(parseSs(`${header}\n\n${line()}\n`).entries.length, 1);
  const bad = [
    'ESTAB 0 0 127.0.0.1:80', // too few columns
    line({ recvQ: 'x' }),
    line({ sendQ: '-1' }),
    line({ local: '127.0.0.1' }),
    line({ local: '127.0.0.1:65536' }),
    line({ local: '::1:80' }), // IPv6 without brackets
    line({ local: '[127.0.0.1]:80' }),
    line({ peer: 'example.com:80' }),
    line({ details: 'timer:(on,1x,0)' }),
    line({ details: 'timer:(later,1sec,0)' }),
    line({ details: 'ino:abc' }),
    line({ details: 'ino:1 sk:-1' }),
    line({ details: 'ino:1 sk:12345678901234567' }), // more than 64 bits
    '0      0      127.0.0.1:80 127.0.0.1:1 ino:0', // no State column: ss was asked for one state
  ];
  const { entries, warnings } = parseSs([line(), ...bad].join('\n'));
  assert.equal(entries.length, 1);
  assert.equal(warnings.length, bad.length);
  assert.ok(warnings.every((w) => w.code === SsWarning.MALFORMED_LINE));
  assert.match(warnings[0]?.message ?? '', /^line 2: expected at least 5 columns/);
  assert.match(warnings.at(-1)?.message ?? '', /^line 15: no State column/);

  const many = parseSs(Array.from({ length: 50 }, () => 'garbage').join('\n'));
  assert.equal(many.warnings.length, 21);
  assert.equal(many.warnings.at(-1)?.message, '30 more malformed lines not listed');
});

test('ss -E: every destroyed socket of the fixture, in CLOSE, with its cookie; split at every offset', () => {
  // test/fixtures/ss/events.txt: real output of `ss -tanHOeE` (capture-events.py): five connections
  // and two listeners. The client that closed with SO_LINGER 0 (port 41003) is not there: its peer's
  // port was cleared before it was destroyed, so the port filter did not match it; its server's
  // socket, which received the reset, is.
  const bytes = Buffer.from(fixture('events.txt'));
  const expected = parseSs(bytes.toString()).entries;
  assert.equal(expected.length, 11);
  assert.ok(expected.every((e) => e.state === 'CLOSE' && e.cookie !== undefined && e.inode === 0));
  assert.deepEqual(
    expected.slice(0, 2).map((e) => [e.local, e.remote, e.cookie]),
    [
      [ep('127.0.0.1', 41001), ep('127.0.0.1', 5000), '359c'],
      [ep('127.0.0.1', 5000), ep('127.0.0.1', 41001), '359d'],
    ],
  );
  assert.deepEqual([expected[7]!.family, expected[7]!.local], [6, ep('::1', 41005)]);
  assert.deepEqual(expected[9]!.remote, ep('0.0.0.0', 0), 'a listener: no peer');
  assert.deepEqual(
    expected.filter((e) => e.local.port === 41003 || e.remote.port === 41003).map((e) => e.local.port),
    [5000],
  );
  for (let cut = 0; cut <= bytes.length; cut++) {
    const got: [SocketEntry, number][] = [];
    const decoder = new SsEventDecoder((entry, at) => got.push([entry, at]));
    decoder.push(bytes.subarray(0, cut), 1);
    decoder.push(bytes.subarray(cut), 2);
    decoder.end(3);
    assert.deepEqual(
      got.map(([e]) => e),
      expected,
      `cut at ${cut}`,
    );
    // A socket is handed over with the time of the chunk that completed its line.
    const completedFirst = bytes.subarray(0, cut).toString().split('\n').length - 1;
    assert.deepEqual(
      got.map(([, at]) => at),
      expected.map((_, i) => (i < completedFirst ? 1 : 2)),
    );
    assert.deepEqual(decoder.warnings, []);
  }
});

test('ss -E: a last line without its newline is read at the end; a malformed line is a numbered warning', () => {
  const got: SocketEntry[] = [];
  const decoder = new SsEventDecoder((entry) => got.push(entry));
  decoder.push(Buffer.from(`${line({ state: 'UNCONN' })}\nnot a socket\n`), 1);
  decoder.push(Buffer.from(line({ state: 'UNCONN', details: 'ino:0 sk:ff' })), 2);
  assert.equal(got.length, 1);
  decoder.end(3);
  assert.deepEqual(
    got.map((e) => [e.state, e.cookie]),
    [
      ['CLOSE', '1'],
      ['CLOSE', 'ff'],
    ],
  );
  assert.deepEqual(
    decoder.warnings.map((w) => [w.code, w.message.split(':')[0]]),
    [[SsWarning.MALFORMED_LINE, 'line 2']],
  );
});

test('ss -E: past 20 malformed lines, one more warning counts the rest', () => {
  const decoder = new SsEventDecoder(() => undefined);
  decoder.push(Buffer.from('bad\n'.repeat(25)), 1);
  decoder.end(2);
  assert.equal(decoder.warnings.length, 21);
  assert.match(decoder.warnings[20]!.message, /^5 more malformed lines/);
});
