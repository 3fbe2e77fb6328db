/**
 * KeyLogFile (src/observe/keylog-file.ts): a key log read whole, then re-read on a lookup that misses
 * when the file grew (only the appended bytes); the re-read interval (counted in reads, never timed);
 * a line written in two parts; a last line without its newline; a truncated file; a file that is not a
 * key log; a file that cannot be read (KAL_ERR_KEYLOG).
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KeepaliveLabError, KeyLogError } from '../../../src/errors.js';
import { KeyLogFile } from '../../../src/observe/keylog-file.js';

const dir = mkdtempSync(join(tmpdir(), 'kal-keylog-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A new file in the test's directory holding `text`. */
function file(text: string): string {
  const path = join(dir, `keylog-${files++}.txt`);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

function random(byte: number): Uint8Array {
  return new Uint8Array(32).fill(byte);
}

/** A CLIENT_RANDOM line for the random of `byte`, its master secret all `secret`. */
function line(byte: number, secret = 0x55): string {
  const hex = (b: number, n: number) => b.toString(16).padStart(2, '0').repeat(n);
  return `CLIENT_RANDOM ${hex(byte, 32)} ${hex(secret, 48)}\n`;
}

test('keylog file: read whole when opened', () => {
  const keys = new KeyLogFile(file(`# comment\n${line(1)}${line(2)}`));
  assert.equal(keys.sessions, 2);
  assert.equal(keys.reads, 1);
  assert.deepEqual([...(keys.secretsFor(random(2))?.masterSecret ?? [])], new Array(48).fill(0x55));
  assert.equal(keys.malformedLines, 0);
});

test('keylog file: a lookup that misses reads what was appended since, and only that', () => {
  const path = file(line(1));
  const keys = new KeyLogFile(path, { rereadIntervalMs: 0 });
  const before = keys.bytesRead;
  assert.equal(keys.secretsFor(random(2)), null);
  assert.equal(keys.reads, 1, 'the file did not grow: nothing read');
  appendFileSync(path, line(2) + line(3));
  assert.ok(keys.secretsFor(random(2)));
  assert.equal(keys.reads, 2);
  assert.equal(keys.bytesRead, before + 2 * line(2).length, 'the appended bytes');
  assert.ok(keys.secretsFor(random(3)), 'read by the same re-read');
  assert.equal(keys.reads, 2);
  assert.equal(keys.sessions, 3);
});

test('keylog file: a lookup that finds its random does not read the file', () => {
  const path = file(line(1));
  const keys = new KeyLogFile(path, { rereadIntervalMs: 0 });
  appendFileSync(path, line(1, 0x66));
  assert.equal(keys.secretsFor(random(1))?.masterSecret?.[0], 0x55, 'the secret read first');
  assert.equal(keys.reads, 1);
});

test('keylog file: within the re-read interval a miss does not read; refresh() does', () => {
  const path = file(line(1));
  const keys = new KeyLogFile(path, { rereadIntervalMs: 1e9 });
  appendFileSync(path, line(2));
  for (let i = 0; i < 100; i++) assert.equal(keys.secretsFor(random(2)), null);
  assert.equal(keys.reads, 1);
  assert.equal(keys.refresh(), true);
  assert.ok(keys.secretsFor(random(2)));
  assert.equal(keys.reads, 2);
});

test('keylog file: a line appended in two parts is read when whole', () => {
  const path = file('');
  const keys = new KeyLogFile(path, { rereadIntervalMs: 0 });
  const whole = line(4);
  appendFileSync(path, whole.slice(0, 50));
  assert.equal(keys.secretsFor(random(4)), null, 'half a line');
  assert.equal(keys.malformedLines, 0, 'not taken as a line yet');
  appendFileSync(path, whole.slice(50));
  assert.ok(keys.secretsFor(random(4)));
  assert.equal(keys.malformedLines, 0);
});

test('keylog file: a last line without its newline is taken when a re-read finds the file unchanged', () => {
  const keys = new KeyLogFile(file(line(1) + line(5).trimEnd()), { rereadIntervalMs: 0 });
  assert.equal(keys.sessions, 1, 'the last line waits');
  assert.ok(keys.secretsFor(random(5)));
  assert.equal(keys.sessions, 2);
  assert.equal(keys.malformedLines, 0);
});

test('keylog file: truncated and written again, it is read from the start', () => {
  const path = file(line(1) + line(2));
  const keys = new KeyLogFile(path, { rereadIntervalMs: 0 });
  truncateSync(path, 0);
  appendFileSync(path, line(6));
  assert.ok(keys.secretsFor(random(6)));
  assert.ok(keys.secretsFor(random(1)), 'what was read before stays');
});

test('keylog file: removed while in use, it keeps what it read', () => {
  const path = file(line(1));
  const keys = new KeyLogFile(path, { rereadIntervalMs: 0 });
  rmSync(path);
  assert.equal(keys.secretsFor(random(2)), null);
  assert.ok(keys.secretsFor(random(1)));
});

test('keylog file: a file that is not a key log: no session, its lines malformed', () => {
  const keys = new KeyLogFile(file('hello\nworld\n'));
  assert.equal(keys.sessions, 0);
  assert.equal(keys.malformedLines, 2);
  assert.deepEqual(keys.firstMalformed, { line: 1, reason: 'unknown label "hello"' });
});

test('keylog file: a missing file, a directory: KAL_ERR_KEYLOG, one line naming the file', () => {
  const missing = join(dir, 'no-such-file.txt');
  assert.throws(
    () => new KeyLogFile(missing),
    (error: unknown) => {
      assert.ok(error instanceof KeyLogError && error instanceof KeepaliveLabError);
      assert.equal(error.code, 'KAL_ERR_KEYLOG');
      assert.equal(error.option, 'keylog');
      assert.equal(error.path, missing);
      assert.equal(error.message, `keylog ${missing}: no such file`);
      assert.equal(error.messageFor('--keylog'), `--keylog ${missing}: no such file`);
      return true;
    },
  );
  assert.throws(
    () => new KeyLogFile(dir),
    (error: unknown) =>
      error instanceof KeyLogError && /is a directory/.test(error.message) && !/\n/.test(error.message),
  );
});
