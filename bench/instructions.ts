/**
 * The instruction-count figures of `npm run bench:register` (pure: parsing valgrind's output and the
 * statistics; bench/register.ts runs the processes). A process of the bench runs W warm-up requests, then
 * N measured ones, under valgrind's callgrind, which counts the instructions it executes: its counters are
 * zeroed where the measured requests begin and written out where they end (two calls to native functions
 * that nothing else calls on the way: `os.loadavg()`, `--zero-before`, and `os.uptime()`, `--dump-before`).
 * So the window is counted inside one process: start-up, warm-up and exit are outside it. (Counting two
 * processes, W + N requests and W only, and subtracting did not do: V8 compiled the tracked app's first
 * requests a little differently from one process to the next, by ±50M instructions, and the difference
 * moved the figure per request by ±4% from seed to seed.) With ASLR off, one thread and fixed seeds two
 * runs of a window differ by about 0.02%, whatever the machine's load.
 *
 * What the window holds is split in two: V8's optimizing compilers' own functions (TurboFan, Maglev), and
 * everything else, the app's thread. With `--single-threaded` the compilers run on the one thread counted;
 * in a Node process they run on a helper thread (`--concurrent-recompilation`), and a function compiled
 * once stays compiled. Whether a recompile falls inside the window is what still moves a seed's total by a
 * few percent; the app's thread is what the app waits on.
 */

/** Functions of V8's optimizing compilers, by namespace (their calls to malloc or memcpy are not among them). */
const OPTIMIZING_COMPILER = /\bv8::internal::(?:compiler|maglev)::/;

/** One window's instructions: every one, and those of V8's optimizing compilers' own functions. */
export interface WindowCount {
  total: number;
  compiler: number;
}

/**
 * The costs of a callgrind dump (`--dump-instr=no`, event Ir only): the sum of every function's own cost
 * (the line after `calls=` is the cost of a call, counted in the callee, so skipped), and of the
 * optimizing compilers' functions. Null when the text is not a callgrind dump of Ir.
 */
export function parseCallgrindWindow(text: string): WindowCount | null {
  if (!text.startsWith('# callgrind format') || !/^events: Ir\s*$/m.test(text)) return null;
  let total = 0;
  let compiler = 0;
  let inCompiler = false;
  let callCost = false;
  for (const line of text.split('\n')) {
    if (callCost) {
      callCost = false;
      continue;
    }
    const c = line.charCodeAt(0);
    // A cost line: a position (a number, or +n/-n/* when positions are compressed) and the Ir.
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      const space = line.indexOf(' ');
      if (space < 0) continue;
      const ir = Number(line.slice(space + 1).split(' ', 1)[0]);
      if (!Number.isFinite(ir)) continue;
      total += ir;
      if (inCompiler) compiler += ir;
    } else if (line.startsWith('fn=')) inCompiler = OPTIMIZING_COMPILER.test(line);
    else if (line.startsWith('calls=')) callCost = true;
  }
  return { total, compiler };
}

/** Instructions per measured request, of the app's thread (the compilers' taken off) or of all. */
export function perRequest(window: WindowCount, measured: number, what: 'app' | 'all'): number {
  if (!(measured > 0)) throw new RangeError(`measured requests must be positive, got ${measured}`);
  return (what === 'all' ? window.total : window.total - window.compiler) / measured;
}

/** Mean and range of a list of per-seed figures. */
export interface Spread {
  mean: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError('spread of no values');
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { mean: sum / values.length, min, max };
}

/**
 * A mode's overhead against the reference, both measured with the same seeds (in the same order):
 * `mean` is the ratio of the means, min..max the range of the per-seed ratios (seed s of the mode
 * against seed s of the reference), each minus 1.
 */
export function overhead(mode: readonly number[], reference: readonly number[]): Spread {
  if (mode.length !== reference.length || mode.length === 0)
    throw new RangeError(
      `overhead needs as many figures per mode as per reference (${mode.length}, ${reference.length})`,
    );
  const perSeed = spread(mode.map((v, i) => v / reference[i]! - 1));
  return { mean: spread(mode).mean / spread(reference).mean - 1, min: perSeed.min, max: perSeed.max };
}

export type Verdict = 'met' | 'NOT met' | 'not shown';

/**
 * Met when every seed is within the target, NOT met when every seed is above it; a spread that straddles
 * the target shows neither.
 */
export function verdict(o: Spread, target: number): Verdict {
  if (o.max <= target) return 'met';
  if (o.min > target) return 'NOT met';
  return 'not shown';
}

/** A signed percentage with one decimal (`+1.2%`, `-0.3%`). */
export function percent(ratio: number): string {
  const text = (ratio * 100).toFixed(1);
  return `${text.startsWith('-') ? '' : '+'}${text}%`;
}

/** The per-seed range of an overhead: `seeds +0.9..+1.5%`. */
export function seedRange(o: Spread): string {
  return `seeds ${percent(o.min).slice(0, -1)}..${percent(o.max)}`;
}

/** An overhead as `+1.2% (seeds +0.9..+1.5%)`. */
export function formatOverhead(o: Spread): string {
  return `${percent(o.mean)} (${seedRange(o)})`;
}

/** Instructions in thousands with one decimal (`270.5k`). */
export function kilo(instructions: number): string {
  return `${(instructions / 1000).toFixed(1)}k`;
}
