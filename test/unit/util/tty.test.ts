/** util/tty.ts: colours by NO_COLOR / FORCE_COLOR / TTY; the width tables fit. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { colorEnabled, terminalColumns } from '../../../src/util/tty.js';

const tty = { isTTY: true, columns: 100 };
const pipe = {};

test('colours: on a TTY only, unless NO_COLOR turns them off or FORCE_COLOR decides', () => {
  assert.equal(colorEnabled(tty, {}), true);
  assert.equal(colorEnabled(pipe, {}), false);
  assert.equal(colorEnabled(tty, { NO_COLOR: '1' }), false);
  assert.equal(colorEnabled(tty, { NO_COLOR: '' }), true, 'an empty NO_COLOR is not set (no-color.org)');
  assert.equal(colorEnabled(tty, { TERM: 'dumb' }), false);
  assert.equal(colorEnabled(pipe, { FORCE_COLOR: '1' }), true);
  assert.equal(colorEnabled(pipe, { FORCE_COLOR: '' }), true);
  assert.equal(colorEnabled(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }), true, 'FORCE_COLOR wins, as in Node');
  assert.equal(colorEnabled(tty, { FORCE_COLOR: '0' }), false);
  assert.equal(colorEnabled(tty, { FORCE_COLOR: 'false' }), false);
});

test('width: a TTY its columns (80 when it says none); a pipe none', () => {
  assert.equal(terminalColumns(tty), 100);
  assert.equal(terminalColumns({ isTTY: true }), 80);
  assert.equal(terminalColumns(pipe), undefined);
});
