/** docs/errors.md has one table of error codes and one of warning codes: exactly the code's, in its order. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, KeepaliveLabError, UsageError, invalidOption } from '../../src/errors.js';
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
