/**
 * The terminal rules, the built binary spawned: on a pipe no colours, no progress and every column
 * whole; --width fits; a pseudo-terminal (script(1)) gets the progress line, erased when done.
 * `watch --json` keeps the command's stdout out of stdout (only the JSON there); `--json FILE`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Report } from '../../src/model/report.js';
import { BIN, runCli } from '../support/cli.js';

/** A port number no other test watches. */
const port = () => String(20000 + Math.floor(Math.random() * 20000));

test('watch --json -- COMMAND: stdout is only the JSON; the command says hello on stderr', async () => {
  const r = await runCli([
    'watch',
    '--port',
    port(),
    '--no-capture',
    '--json',
    '--',
    'sh',
    '-c',
    'echo hello; echo oops >&2',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.command, 'watch');
  assert.match(r.stderr, /^hello$/m);
  assert.match(r.stderr, /^oops$/m);
});

test('watch --json FILE -- COMMAND: the JSON in the file; the command and the terminal report on stdout', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kal-watch-json-'));
  try {
    const file = join(dir, 'report.json');
    const r = await runCli(['watch', '--port', port(), '--no-capture', '--json', file, '--', 'sh', '-c', 'echo hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello$/m);
    assert.match(r.stdout, /verdict/);
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as Report).command, 'watch');
    const bad = await runCli(['watch', '--port', port(), '--json', join(dir, 'no', 'such', 'x.json'), '--', 'true']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cannot write --json .*no such directory.*\(KAL_ERR_FILE\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('run on a pipe: no progress, no colours, every column; --width 80 fits it', async () => {
  const whole = await runCli(['run', '--no-capture', '--requests', '3']);
  assert.equal(whole.code, 0, whole.stderr);
  assert.ok(!whole.stderr.includes('\r') && !whole.stdout.includes('\x1b['));
  assert.match(whole.stdout.split('\n')[0]!, /SYNs\s+closed first\s+TIME_WAIT\s+time\s+observers\s+verdict$/);
  const fitted = await runCli(['run', '--no-capture', '--requests', '3', '--width', '80']);
  for (const line of fitted.stdout.trimEnd().split('\n')) assert.ok(line.length <= 80, line);
  assert.match(fitted.stdout, /left out to fit 80 columns: /);
  const both = await runCli(['run', '--wide', '--width', '80']);
  assert.equal(both.code, 2);
});

/** script(1) from util-linux gives the command a pseudo-terminal. */
const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
const noScript = script.status === 0 ? false : 'script(1) is not installed (util-linux)';

test(
  'on a pseudo-terminal: the progress line shows, and is erased',
  { skip: process.env.CI ? false : noScript },
  () => {
    // watch with no command for 1.5 s: the progress line ("connections so far") shows after 1 s.
    const command = `${process.execPath} ${BIN} watch --port ${port()} --no-capture --duration 1.5`;
    const r = spawnSync('script', ['-qec', command, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', COLUMNS: '100' },
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    // eslint-disable-next-line no-control-regex
    assert.match(r.stdout, /\r\x1b\[Kwatch: tcp port \d+, \? \(no capture\) so far/);
    const after = r.stdout.slice(r.stdout.lastIndexOf('so far'));
    assert.ok(after.includes('\r\x1b[K'), 'erased before the report');
  },
);
