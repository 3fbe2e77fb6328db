/** cli/progress.ts: one line on a TTY, redrawn in place, erased at the end; nothing at all elsewhere. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ProgressLine } from '../../../src/cli/progress.js';

function stream(isTTY: boolean, columns = 40): Writable & { isTTY: boolean; columns: number; writes: string[] } {
  const writes: string[] = [];
  const s = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString());
      done();
    },
  });
  return Object.assign(s, { isTTY, columns, writes });
}

test('progress on a TTY: drawn in place, cut to the width, not drawn again unchanged, erased when done', () => {
  const out = stream(true, 20);
  const p = new ProgressLine(out, { delayMs: 0 });
  p.update('[1/8] sequential, body never read...');
  // One column short of the terminal's 20.
  assert.deepEqual(out.writes, ['\r\x1b[K[1/8] sequential, b']);
  p.update('[1/8] sequential, body never read...');
  assert.equal(out.writes.length, 1, 'the same line is not drawn twice');
  p.done();
  assert.deepEqual(out.writes.at(-1), '\r\x1b[K');
  p.done();
  assert.equal(out.writes.length, 2, 'erased once');
});

test('progress on a pipe: nothing written, ever', () => {
  const out = stream(false);
  const p = new ProgressLine(out, { delayMs: 0 });
  p.update('[1/8] x');
  p.update('[2/8] y');
  p.done();
  assert.deepEqual(out.writes, []);
});

test('progress: work shorter than the delay shows nothing', () => {
  const out = stream(true);
  const p = new ProgressLine(out, { delayMs: 60_000 });
  p.update('[1/2] quick');
  p.update('[2/2] quick');
  p.done();
  assert.deepEqual(out.writes, []);
});
