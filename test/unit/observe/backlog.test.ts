/** Backlog: every chunk handed over once, in order, in slices; the source paused past the high-water mark. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { Backlog } from '../../../src/observe/backlog.js';

test('backlog: chunks come out in order, later, and the source pauses and resumes around the mark', async () => {
  const out: number[] = [];
  const events: string[] = [];
  const backlog = new Backlog({
    consume: (chunk) => out.push(chunk[0]!),
    highWaterBytes: 10,
    pause: () => events.push(`pause at ${backlog.bytes}`),
    resume: () => events.push(`resume at ${backlog.bytes}`),
  });
  for (let i = 0; i < 4; i++) backlog.push(Buffer.from([i, 0, 0, 0]));
  assert.deepEqual(out, [], 'nothing is handed over in push()');
  assert.equal(backlog.bytes, 16);
  assert.deepEqual(events, ['pause at 12']);
  while (backlog.bytes > 0) await tick();
  assert.deepEqual(out, [0, 1, 2, 3]);
  assert.deepEqual(events, ['pause at 12', 'resume at 4']);
});

test('backlog: drain() hands over everything at once; thousands of chunks keep their order', () => {
  const out: number[] = [];
  const backlog = new Backlog({
    consume: (chunk) => out.push(chunk.readUInt32LE(0)),
    highWaterBytes: Infinity,
    pause: () => assert.fail('no pause below the mark'),
    resume: () => undefined,
  });
  const n = 5000;
  for (let i = 0; i < n; i++) {
    const chunk = Buffer.alloc(4);
    chunk.writeUInt32LE(i);
    backlog.push(chunk);
  }
  backlog.drain();
  assert.equal(backlog.bytes, 0);
  assert.deepEqual(
    out,
    Array.from({ length: n }, (_, i) => i),
  );
});
