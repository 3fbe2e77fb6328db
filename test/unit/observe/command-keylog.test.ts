/**
 * The key log a watched command writes (src/observe/command-keylog.ts): a private one in a directory
 * of its own (0700, the file 0600) that remove() takes away, the user's kept, and the environment
 * the command gets (SSLKEYLOGFILE, NODE_OPTIONS with --tls-keylog after what was there).
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { commandKeyLog, keyLogEnv } from '../../../src/observe/command-keylog.js';

test('command key log: private, 0700/0600, read as it grows, removed', async () => {
  const log = await commandKeyLog();
  const path = log.file.path;
  assert.equal(log.private, true);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(path)).mode & 0o777, 0o700);
  const random = 'ab'.repeat(32);
  await appendFile(path, `CLIENT_RANDOM ${random} ${'cd'.repeat(48)}\n`);
  log.file.refresh();
  assert.equal(log.file.secretsFor(Buffer.from(random, 'hex'))?.masterSecret?.length, 48);
  await log.remove();
  assert.equal(existsSync(dirname(path)), false);
  await log.remove(); // twice: nothing to do, no throw
});

test("command key log: the user's file is created when missing and never removed", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kal-keylog-user-'));
  try {
    const path = join(dir, 'mine.log');
    const log = await commandKeyLog(path);
    assert.equal(log.private, false);
    await log.remove();
    assert.equal(existsSync(path), true);
    await assert.rejects(commandKeyLog(join(dir, 'no', 'such', 'dir.log')), { code: 'KAL_ERR_KEYLOG' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('command key log: the environment keeps NODE_OPTIONS and quotes a path with spaces', () => {
  assert.deepEqual(keyLogEnv('/tmp/k.log', { PATH: '/bin' }), {
    PATH: '/bin',
    SSLKEYLOGFILE: '/tmp/k.log',
    NODE_OPTIONS: '--tls-keylog=/tmp/k.log',
  });
  assert.equal(
    keyLogEnv('/tmp/a b.log', { NODE_OPTIONS: '--max-old-space-size=100' }).NODE_OPTIONS,
    '--max-old-space-size=100 --tls-keylog="/tmp/a b.log"',
  );
});
