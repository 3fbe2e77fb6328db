/** Interrupts: a signal that comes while the command loads waits for it; the command's rules then apply. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Interrupts } from '../../../src/cli/interrupts.js';

test('a Ctrl-C while watch loads stops it once loaded (a report follows), as one after would', () => {
  const early = new Interrupts();
  assert.equal(early.signal('SIGINT'), false);
  assert.equal(early.stop.aborted, false, 'nothing known to stop yet');
  assert.equal(early.interrupted, true);
  early.stopsOn = ['SIGINT'];
  assert.equal(early.stop.aborted, true);
  assert.equal(early.abort.aborted, false);
  assert.equal(early.exitCode(0), 0, 'the command exit code, as after a stop');
});

test('a Ctrl-C while another command loads ends it once loaded; two end it at once', () => {
  const early = new Interrupts();
  early.signal('SIGINT');
  early.stopsOn = [];
  assert.equal(early.abort.aborted, true);
  assert.equal(early.exitCode(1), 130);
  const twice = new Interrupts();
  assert.equal(twice.signal('SIGINT'), false);
  assert.equal(twice.signal('SIGINT'), true);
  assert.equal(twice.abort.aborted, true);
  twice.stopsOn = ['SIGINT'];
  assert.equal(twice.exitCode(0), 130);
});
