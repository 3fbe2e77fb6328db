/**
 * The kernel observer on a /proc of files written here (procRoot): it reads the table from them
 * and says when the kernel made no TIME_WAIT for some connections while it watched.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { KernelObserver } from '../../../src/observe/kernel.js';

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
/** A TIME_WAIT from 127.0.0.1:50000 to 127.0.0.1:8080 (0x1F90), 59 s (0x170C ticks) left. */
const TIME_WAIT_LINE =
  '   0: 0100007F:C350 0100007F:1F90 06 00000000:00000000 03:0000170C 00000000     0        0 0 3 0000000000000000\n';

function netstat(overflows: number): string {
  return `TcpExt: SyncookiesSent TW TCPTimeWaitOverflow\nTcpExt: 0 10 ${overflows}\n`;
}

function fakeProc(t: TestContext): { root: string; write(file: string, text: string): void } {
  const root = mkdtempSync(join(tmpdir(), 'kal-proc-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'net'));
  const write = (file: string, text: string) => writeFileSync(join(root, 'net', file), text);
  write('tcp', TCP_HEADER);
  return { root, write };
}

test('kernel observer: TIME_WAITs the kernel did not make during the run are said', async (t) => {
  const proc = fakeProc(t);
  proc.write('netstat', netstat(100));
  const observer = new KernelObserver({ serverPort: 8080, procRoot: proc.root });
  await observer.start();
  proc.write('tcp', TCP_HEADER + TIME_WAIT_LINE);
  proc.write('netstat', netstat(103));
  const report = await observer.stop();
  assert.equal(report.totals.connections, 1);
  assert.deepEqual(
    report.warnings.map((w) => w.code),
    ['KAL_WARN_TIME_WAIT_OVERFLOW'],
  );
  assert.match(report.warnings[0]!.message, /no TIME_WAIT for 3 closing connections/);
});

test('kernel observer: no warning when the count did not move, or cannot be read', async (t) => {
  for (const [before, after] of [
    [netstat(7), netstat(7)],
    [null, netstat(7)],
    ['TcpExt: TW\nTcpExt: 1\n', 'TcpExt: TW\nTcpExt: 2\n'],
  ] as const) {
    const proc = fakeProc(t);
    if (before !== null) proc.write('netstat', before);
    const observer = new KernelObserver({ serverPort: 8080, procRoot: proc.root });
    await observer.start();
    proc.write('netstat', after);
    const report = await observer.stop();
    assert.deepEqual(report.warnings, []);
  }
});
