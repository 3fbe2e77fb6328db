/**
 * docs/errors.md has one table of error codes and one of warning codes: exactly the code's, in its order.
 * readFailure: the one wording of a file that cannot be read.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, KeepaliveLabError, UsageError, invalidOption, readFailure } from '../../src/errors.js';
import { WARNING_CODES } from '../../src/model/report.js';

const DOC = readFileSync(fileURLToPath(new URL('../../../docs/errors.md', import.meta.url)), 'utf8');

/** The codes in the first column of the table under the heading that starts with `heading`. */
function tableCodes(heading: string): string[] {
  const section = DOC.split(/^## /m).find((s) => s.startsWith(heading));
  assert.ok(section, `docs/errors.md has a section "${heading}"`);
  return section
    .split('\n')
    .filter((line) => /^\| `KAL_/.test(line))
    .map((line) => {
      const cell = line.split('|')[1]!.trim();
      assert.match(cell, /^`KAL_[A-Z0-9_]+`$/, `one code per row: ${line}`);
      return cell.slice(1, -1);
    });
}

test('docs/errors.md: the errors table is ERROR_CODES', () => {
  assert.deepEqual(tableCodes('Errors'), [...ERROR_CODES]);
});

test('docs/errors.md: the warnings table is WARNING_CODES', () => {
  assert.deepEqual(tableCodes('Warnings'), [...WARNING_CODES]);
});

test('errors: an error about an option names it; messageFor puts another name (a flag) in its place', () => {
  const e = invalidOption('maxSockets', 'must be at least 1, got 0');
  assert.ok(e instanceof UsageError && e instanceof KeepaliveLabError);
  assert.equal(e.code, 'KAL_ERR_USAGE');
  assert.equal(e.option, 'maxSockets');
  assert.equal(e.message, 'maxSockets must be at least 1, got 0');
  assert.equal(e.messageFor('--max-sockets'), '--max-sockets must be at least 1, got 0');
  const plain = new UsageError('give a capture file');
  assert.equal(plain.option, undefined);
  assert.equal(plain.messageFor('--x'), 'give a capture file');
});

test('readFailure: the words for a file that cannot be read, from the system error a real open throws', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kal-read-failure-'));
  try {
    const failure = (path: string) =>
      readFile(path).then(
        () => assert.fail(`${path} was read`),
        (e: unknown) => e,
      );
    const missing = await failure(join(dir, 'missing'));
    assert.equal(readFailure(missing), 'no such file');
    const directory = await failure(dir);
    assert.equal(readFailure(directory), 'it is a directory');
    assert.equal(readFailure(directory, 'a capture'), 'is a directory, not a capture');
    assert.equal(readFailure(Object.assign(new Error('EACCES: denied'), { code: 'EACCES' })), 'permission denied');
    assert.equal(readFailure(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })), 'EIO: i/o error');
    assert.equal(readFailure('not an error'), 'not an error');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
