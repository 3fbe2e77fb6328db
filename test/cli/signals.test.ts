/**
 * The CLI owns the signals: the first Ctrl-C stops `watch` and reports, a second one (or SIGTERM)
 * ends at once; Ctrl-C ends `analyze` reading a stream that never ends. Nothing is left behind: no
 * tcpdump, no watched command. (The proxy's and `run`'s signals: proxy.test.ts, lab.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Report } from '../../src/model/report.js';
import { buildPcap, pcapRecord } from '../support/capture-builder.js';
import { captureSkip } from '../support/capture-env.js';
import { BIN, startCli } from '../support/cli.js';

const skip = captureSkip();

/** Processes whose command line matches `pattern` (any parent). */
const running = (pattern: string) => spawnSync('pgrep', ['-f', pattern]).status === 0;

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await delay(10);
  assert.ok(condition(), what);
}

/** A port number no other test watches (the pattern below must match only this test's tcpdump). */
const port = () => 20000 + Math.floor(Math.random() * 20000);

test(
  'watch without a command: Ctrl-C stops it and the report is printed (exit 0), tcpdump gone',
  { skip },
  async () => {
    const p = port();
    const tcpdump = `tcpdump .*tcp port ${p}[^0-9]`;
    const { child, done } = startCli(['watch', '--port', String(p), '--host', '127.0.0.1', '--json']);
    await until(() => running(tcpdump), 'tcpdump started');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.command, 'watch');
    assert.equal(report.runs[0]!.subject, `127.0.0.1:${p}`);
    assert.equal(running(tcpdump), false, 'tcpdump is gone');
  },
);

test(
  'watch: Ctrl-C reaches the command; a second Ctrl-C ends at once (130), command and tcpdump gone',
  { skip },
  async () => {
    const p = port();
    const tcpdump = `tcpdump .*tcp port ${p}[^0-9]`;
    const seconds = String(40 + (p % 50));
    const command = `sleep ${seconds}`;
    // The command ignores SIGINT, as a program busy cleaning up would seem to.
    const { child, done } = startCli([
      'watch',
      '--port',
      String(p),
      '--json',
      '--',
      'sh',
      '-c',
      `trap "" INT; exec sleep ${seconds}`,
    ]);
    await until(() => running(tcpdump) && running(`^${command}$`), 'tcpdump and the command started');
    child.kill('SIGINT');
    await delay(300);
    assert.ok(running(`^${command}$`), 'the command ignored SIGINT and still runs');
    assert.equal(child.exitCode, null, 'watch waits for it');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.equal(r.stdout, '', 'no report when cut short');
    assert.match(r.stderr, /SIGINT, cleaning up/);
    assert.equal(running(tcpdump), false, 'tcpdump is gone');
    assert.equal(running(`^${command}$`), false, 'the command is gone');
  },
);

test('watch: SIGTERM ends at once (143), tcpdump gone', { skip }, async () => {
  const p = port();
  const tcpdump = `tcpdump .*tcp port ${p}[^0-9]`;
  const { child, done } = startCli(['watch', '--port', String(p)]);
  await until(() => running(tcpdump), 'tcpdump started');
  child.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 143, r.stderr);
  assert.equal(running(tcpdump), false, 'tcpdump is gone');
});

test('analyze - on a stream that never ends: Ctrl-C ends it (130), stdout empty', async () => {
  const child = spawn(process.execPath, [BIN, 'analyze', '-', '--json'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // A capture's file header and more frames than the pipe holds (none of them IP), then nothing: the
  // analysis waits for the next bytes. The write completes only once the command has read past the
  // pipe's 64 KiB, so its signal handlers are installed by then (a fixed delay was too short on a
  // loaded machine: the default SIGINT handler killed the process).
  const frame = { ts: 1_700_000_000_000_000, frame: new Uint8Array(1000) };
  const records = Array.from({ length: 300 }, () => pcapRecord('le', false, 262144, frame));
  await new Promise<void>((resolve, reject) =>
    child.stdin.write(Buffer.concat([buildPcap({ packets: [] }), ...records]), (e) => (e ? reject(e) : resolve())),
  );
  assert.equal(child.exitCode, null, 'still reading');
  child.kill('SIGINT');
  assert.equal(await closed, 130, stderr);
  assert.equal(stdout, '');
  child.stdin.destroy();
});
