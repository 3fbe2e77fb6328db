/**
 * The instruction-count figures of `npm run bench:register` (pure: parsing valgrind's output and the
 * statistics; bench/register.ts runs the processes). A process of the bench runs W warm-up requests and
 * then N measured ones under valgrind's cachegrind, which counts the instructions it executes; the same
 * process with W requests only is counted too, and (I(W+N) - I(W)) / N is the figure per measured request:
 * start-up, warm-up compilation and exit cancel out. With ASLR off, one thread and fixed seeds a count
 * repeats to about 0.01%, whatever the machine's load; what still moves is V8's garbage collection (when a
 * major GC falls depends on the heap, so on the code loaded and on the seeds), hence several seeds per mode,
 * and a spread beside each mean.
 */

/** The total of cachegrind's summary (`==123== I   refs:      4,514,240,529`), or null when absent. */
export function parseInstructionCount(valgrindOutput: string): number | null {
  const match = /^==\d+== I\s+refs:\s+([\d,]+)\s*$/m.exec(valgrindOutput);
  return match === null ? null : Number(match[1]!.replaceAll(',', ''));
}

/** Instructions per measured request: the warm-up-only count taken from the full one, over the measured requests. */
export function perMeasuredRequest(full: number, warmUpOnly: number, measured: number): number {
  if (!(measured > 0)) throw new RangeError(`measured requests must be positive, got ${measured}`);
  return (full - warmUpOnly) / measured;
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
