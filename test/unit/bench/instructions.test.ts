import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatOverhead,
  kilo,
  overhead,
  parseInstructionCount,
  percent,
  perMeasuredRequest,
  seedRange,
  spread,
  verdict,
} from '../../../bench/instructions.js';

// The end of what `valgrind --tool=cachegrind --cache-sim=no` writes to stderr (valgrind 3.19).
const CACHEGRIND_STDERR = [
  '==30524== Cachegrind, a cache and branch-prediction profiler',
  '==30524== Command: node --single-threaded dist/bench/register.js --child-insn untracked fetch 8000',
  '==30524== ',
  'a line of the app',
  '==30524== ',
  '==30524== I   refs:      9,847,115,437',
  '',
].join('\n');

test('parseInstructionCount: the I refs total, commas removed; null without a summary', () => {
  assert.equal(parseInstructionCount(CACHEGRIND_STDERR), 9_847_115_437);
  assert.equal(parseInstructionCount('==1== I   refs:      947\n'), 947);
  assert.equal(parseInstructionCount('==30524== Command: node app.js\nError: boom\n'), null);
  // An app printing the same words is not valgrind.
  assert.equal(parseInstructionCount('I   refs:      12\n'), null);
});

test('perMeasuredRequest: the warm-up-only count taken off, over the measured requests', () => {
  assert.equal(perMeasuredRequest(9_847_115_437, 7_262_030_707, 4000), 646_271.1825);
  assert.throws(() => perMeasuredRequest(10, 5, 0), RangeError);
});

test('spread: mean, min and max', () => {
  assert.deepEqual(spread([3, 1, 2]), { mean: 2, min: 1, max: 3 });
  assert.deepEqual(spread([5]), { mean: 5, min: 5, max: 5 });
  assert.throws(() => spread([]), RangeError);
});

test('overhead: ratio of the means, and the range of the per-seed ratios (seed against seed)', () => {
  const o = overhead([102, 106, 107], [100, 100, 103]);
  assert.ok(Math.abs(o.mean - (105 / 101 - 1)) < 1e-12);
  assert.ok(Math.abs(o.min - 0.02) < 1e-12);
  assert.ok(Math.abs(o.max - 0.06) < 1e-12);
  // Seed against seed, not min against min: the reference's seed 2 is the low one.
  const paired = overhead([110, 100], [100, 90]);
  assert.ok(Math.abs(paired.min - 0.1) < 1e-12 && Math.abs(paired.max - 1 / 9) < 1e-12);
  assert.throws(() => overhead([1, 2], [1]), RangeError);
});

test('verdict: met only when every seed is within the target; a straddling spread shows nothing', () => {
  assert.equal(verdict({ mean: 0.012, min: 0.009, max: 0.015 }, 0.02), 'met');
  assert.equal(verdict({ mean: 0.02, min: 0.02, max: 0.02 }, 0.02), 'met');
  assert.equal(verdict({ mean: 0.018, min: 0.015, max: 0.021 }, 0.02), 'not shown');
  assert.equal(verdict({ mean: 0.036, min: 0.021, max: 0.04 }, 0.02), 'NOT met');
});

test('formatting: signed percentages, the seed range, thousands', () => {
  assert.equal(percent(0.012), '+1.2%');
  assert.equal(percent(-0.003), '-0.3%');
  assert.equal(percent(0), '+0.0%');
  const o = { mean: 0.012, min: -0.009, max: 0.015 };
  assert.equal(seedRange(o), 'seeds -0.9..+1.5%');
  assert.equal(formatOverhead(o), '+1.2% (seeds -0.9..+1.5%)');
  assert.equal(kilo(270_512), '270.5k');
});
