/** Small text helpers shared by the renderers. */

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

const esc = (code: number) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
export const COLOR: Style = { bold: esc(1), dim: esc(2), red: esc(31), green: esc(32), yellow: esc(33) };
const id = (s: string) => s;
export const PLAIN: Style = { bold: id, dim: id, red: id, green: id, yellow: id };

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
export function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

export type Align = 'left' | 'right';

/** Lay out rows as aligned columns; the header row is the first. */
export function table(rows: readonly (readonly string[])[], align: readonly Align[], gap = 2): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  const lines = rows.map((row) =>
    row
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i]! - visibleLength(cell));
        const last = i === row.length - 1;
        return align[i] === 'right' ? pad + cell : last ? cell : cell + pad;
      })
      .join(' '.repeat(gap))
      .trimEnd(),
  );
  return lines.join('\n');
}

/** Before a count that is a lower bound (its observer missed evidence): "≥11". */
export const AT_LEAST = '≥';

export function formatMs(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  // 999.6 ms is "1.00 s", not "1000 ms".
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function formatNumber(n: number, digits = 1): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}
