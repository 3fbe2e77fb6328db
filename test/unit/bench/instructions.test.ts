import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatOverhead,
  kilo,
  overhead,
  parseCallgrindWindow,
  percent,
  perRequest,
  seedRange,
  spread,
  verdict,
} from '../../../bench/instructions.js';

// A callgrind dump as `--dump-before` writes it (valgrind 3.19; --dump-instr=no --compress-strings=no
// --compress-pos=no), cut down: one object, functions of the app, of V8's runtime and of TurboFan, calls.
const CALLGRIND_DUMP = [
  '# callgrind format',
  'version: 1',
  'creator: callgrind-3.19.0',
  'pid: 6868',
  'cmd:  node --single-threaded dist/bench/register.js --child-insn tracked node:http 4000 4000',
  'part: 1',
  '',
  'desc: Trigger: --dump-before=node::os::GetUptime(v8::FunctionCallbackInfo<v8::Value> const&)',
  '',
  'positions: line',
  'events: Ir',
  'summary: 1000',
  '',
  'ob=/usr/bin/node',
  'fl=???',
  'fn=Builtins_LoadIC',
  '0 300',
  '0 20',
  'cfn=v8::internal::Runtime_LoadIC_Miss(int, unsigned long*, v8::internal::Isolate*)',
  'calls=3 0',
  '0 5000',
  '',
  'fn=v8::internal::compiler::GraphReducer::ReduceTop()',
  '0 400',
  'cfn=malloc',
  'calls=2 0',
  '0 60',
  '',
  'fn=v8::internal::maglev::MaglevGraphBuilder::BuildBody()',
  '0 7',
  '',
  'fn=malloc',
  '0 60',
  '',
  'fn=v8::internal::Runtime_LoadIC_Miss(int, unsigned long*, v8::internal::Isolate*)',
  '0 200',
  '+1 13',
  '',
  'totals: 1000',
  '',
].join('\n');

test("parseCallgrindWindow: every function's own cost, and the optimizing compilers' apart; null if not callgrind", () => {
  // 320 + 400 + 7 + 60 + 213: the call lines (5000, 60) are the callees' costs, counted where they are.
  assert.deepEqual(parseCallgrindWindow(CALLGRIND_DUMP), { total: 1000, compiler: 407 });
  // malloc called by TurboFan stays the app thread's: only the compilers' own functions are taken off.
  assert.equal(parseCallgrindWindow(CALLGRIND_DUMP.replace('fn=malloc\n0 60', 'fn=malloc\n0 61'))!.compiler, 407);
  assert.equal(parseCallgrindWindow('==30524== I   refs:      9,847,115,437\n'), null);
  assert.equal(parseCallgrindWindow(CALLGRIND_DUMP.replace('events: Ir', 'events: Ir Dr Dw')), null);
});

test('perRequest: the window over the measured requests, all of it or without the compilers', () => {
  assert.equal(perRequest({ total: 1_103_000_000, compiler: 34_000_000 }, 4000, 'all'), 275_750);
  assert.equal(perRequest({ total: 1_103_000_000, compiler: 34_000_000 }, 4000, 'app'), 267_250);
  assert.throws(() => perRequest({ total: 10, compiler: 0 }, 0, 'all'), RangeError);
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
