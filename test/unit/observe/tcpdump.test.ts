/** How tcpdump is run: snap length, filter plans, arguments, the binary, the interface, its statistics. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KeepaliveLabError } from '../../../src/errors.js';
import { serverFocus } from '../../../src/observe/capture.js';
import {
  capturePlans,
  checkInterface,
  droppedCounts,
  networkInterfaces,
  resolveTcpdump,
  snapLength,
  tcpdumpArgs,
} from '../../../src/observe/tcpdump.js';

test('snap length: the 64 KiB GRO/GSO bound or the largest MTU, plus a link header; at most 256 KiB', () => {
  assert.equal(snapLength([]), 65536 + 64);
  assert.equal(snapLength([1500, 65536]), 65536 + 64);
  assert.equal(snapLength([1500, 9000]), 65536 + 64);
  assert.equal(snapLength([200_000]), 200_064);
  assert.equal(snapLength([1_000_000]), 262_144);
});

test('capture plans: loopback echoes dropped in the kernel, then the plain filter for an older libpcap', () => {
  assert.deepEqual(capturePlans('lo', 'tcp port 80', 1), [
    { interface: 'any', filter: '(tcp port 80) and ifindex 1 and inbound' },
    { interface: 'lo', filter: 'tcp port 80' },
  ]);
  assert.deepEqual(capturePlans('any', 'tcp port 80', 1), [
    { interface: 'any', filter: '(tcp port 80) and not (outbound and ifindex 1)' },
    { interface: 'any', filter: 'tcp port 80' },
  ]);
  // Another interface sees each packet once; without sysfs the loopback's index is unknown.
  assert.deepEqual(capturePlans('eth0', 'tcp port 80', 1), [{ interface: 'eth0', filter: 'tcp port 80' }]);
  assert.deepEqual(capturePlans('lo', 'tcp port 80', null), [{ interface: 'lo', filter: 'tcp port 80' }]);
});

test('tcpdump arguments: pcap on stdout, immediate, the snap length, a 128 MiB ring, no -U', () => {
  assert.deepEqual(tcpdumpArgs({ interface: 'any', filter: 'tcp port 80', snapLength: 65600 }), [
    '-i',
    'any',
    '-n',
    '--immediate-mode',
    '-s',
    '65600',
    '-B',
    '131072',
    '-w',
    '-',
    'tcp port 80',
  ]);
  assert.ok(!tcpdumpArgs({ interface: 'lo', filter: 'x', snapLength: null }).includes('-s'));
});

test('the tcpdump binary: a path that does not exist says so; a name is looked up on PATH', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kal-tcpdump-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'tcpdump');
  writeFileSync(fake, '#!/bin/sh\n');
  chmodSync(fake, 0o755);
  const plain = join(dir, 'plain');
  writeFileSync(plain, '');
  assert.equal(resolveTcpdump(undefined, `/nonexistent:${dir}`), fake);
  assert.equal(resolveTcpdump(fake, ''), fake);
  const unavailable = (given: string | undefined, path: string, reason: RegExp) =>
    assert.throws(
      () => resolveTcpdump(given, path),
      (e: unknown) =>
        e instanceof KeepaliveLabError && e.code === 'KAL_ERR_CAPTURE_UNAVAILABLE' && reason.test(e.message),
    );
  unavailable('/nonexistent/tcpdump', dir, /^\/nonexistent\/tcpdump does not exist$/);
  unavailable(plain, dir, /is not an executable file$/);
  unavailable(dir, dir, /is not an executable file$/);
  unavailable(undefined, '/nonexistent', /^tcpdump is not installed$/);
  unavailable('mytcpdump', dir, /^mytcpdump is not installed \(not found on PATH\)$/);
});

test("an interface that is not this machine's is an error naming the option and the interfaces there are", (t) => {
  const names = networkInterfaces();
  if (names === null) return t.skip('no /sys/class/net here');
  checkInterface('any');
  checkInterface('lo');
  assert.throws(
    () => checkInterface('nosuchif0'),
    (e: unknown) =>
      e instanceof KeepaliveLabError &&
      e.code === 'KAL_ERR_INTERFACE' &&
      e.option === 'interface' &&
      e.messageFor('--interface') ===
        '--interface names no network interface of this machine: nosuchif0 ' +
          `(there are: ${[...names, 'any'].join(', ')})`,
  );
});

test("tcpdump's own count of drops, from the statistics it prints on exit", () => {
  assert.deepEqual(
    droppedCounts('20 packets captured\n40 packets received by filter\n192 packets dropped by kernel\n'),
    [192],
  );
  assert.deepEqual(droppedCounts('1 packet dropped by kernel'), [1]);
  assert.deepEqual(droppedCounts('tcpdump: listening on any'), []);
});

test('the latest count of drops: asked for while capturing (SIGUSR1, one line each time), then on exit', () => {
  const asked =
    'tcpdump: listening on any, link-type LINUX_SLL2\n' +
    'tcpdump: 10 packets captured, 12 packets received by filter, 2 packets dropped by kernel\n' +
    'tcpdump: 30 packets captured, 37 packets received by filter, 7 packets dropped by kernel\n';
  assert.deepEqual(droppedCounts(asked), [2, 7]);
  assert.deepEqual(
    droppedCounts(`${asked}40 packets captured\n48 packets received by filter\n8 packets dropped by kernel\n`),
    [2, 7, 8],
  );
});

test('serverFocus: one port, or several on one address (a capture shared by the demo)', () => {
  assert.deepEqual(serverFocus('127.0.0.1', 8080), {
    serverAddress: '127.0.0.1',
    interface: 'lo',
    filter: 'tcp port 8080 and host 127.0.0.1',
  });
  assert.equal(serverFocus('localhost', [8080]).filter, 'tcp port 8080 and host 127.0.0.1');
  assert.equal(
    serverFocus('127.0.0.1', [8080, 8081, 8082]).filter,
    'tcp and (port 8080 or port 8081 or port 8082) and host 127.0.0.1',
  );
  assert.equal(serverFocus(undefined, [1, 2]).filter, 'tcp and (port 1 or port 2)');
  assert.equal(serverFocus('10.0.0.1', [1, 2]).interface, 'any');
});
