/** Small text helpers shared by the renderers. */

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const esc = (code: number) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
export const COLOR: Style = { bold: esc(1), dim: esc(2), red: esc(31), green: esc(32), yellow: esc(33), cyan: esc(36) };
const id = (s: string) => s;
export const PLAIN: Style = { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };

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

/** A whole cell in one style (`s.red(text)`): its opening code and the text inside, for wrapping. */
// eslint-disable-next-line no-control-regex
const STYLED = /^(\x1b\[[0-9;]*m)([^\x1b]*)\x1b\[0m$/;

/**
 * `text` in lines of at most `width` visible characters, broken between words (a word longer than
 * the width is cut). A cell in one style keeps it on every line.
 */
export function wrapLines(text: string, width: number): string[] {
  const styled = STYLED.exec(text);
  if (styled) return wrapLines(styled[2]!, width).map((line) => `${styled[1]}${line}\x1b[0m`);
  if (visibleLength(text) <= width) return [text];
  const lines: string[] = [];
  let line = '';
  for (let word of text.split(' ')) {
    while (visibleLength(word) > width) {
      if (line !== '') lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = '';
    }
    if (line === '') line = word;
    else if (visibleLength(line) + 1 + visibleLength(word) <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}

/**
 * Every line of `text` that is wider than `width` wrapped between words, its continuation lines
 * indented two more than it (findings, notes and totals under a fitted table); undefined: as it is.
 */
export function fitLines(text: string, width: number | undefined): string {
  if (width === undefined) return text;
  return text
    .split('\n')
    .map((line) => {
      if (visibleLength(line) <= width) return line;
      const lead = /^ */.exec(line)![0];
      // A line indented past half the width starts again at the margin.
      const margin = lead.length < width / 2 ? lead : '';
      const lines = wrapLines(line.slice(lead.length), width - margin.length - 2);
      return lines.map((l, i) => (i === 0 ? margin : `${margin}  `) + l).join('\n');
    })
    .join('\n');
}

/** A column of a table that may have to fit a terminal (fitTable). */
export interface Column {
  align: Align;
  /** Left out when the table cannot fit otherwise: the highest first; never when absent. */
  drop?: number;
  /** The narrowest this column is wrapped to before columns are left out (default: its longest word). */
  min?: number;
}

/** The longest word of a cell (what it can be wrapped down to). */
function longestWord(cell: string): number {
  return Math.max(
    ...cell
      .replace(ANSI, '')
      .split(' ')
      .map((w) => w.length),
  );
}

/**
 * Rows laid out as table() does, fitted into `width` visible characters: cells wrap between words,
 * the widest first; when even the narrowest layout is too wide, columns are left out by their `drop`
 * (their headers, without style, are returned in `dropped` for the caller to say so). Without
 * `width` (a pipe, `--wide`): table() as it is.
 */
export function fitTable(
  rows: readonly (readonly string[])[],
  columns: readonly Column[],
  width: number | undefined,
  gap = 2,
): { text: string; dropped: string[] } {
  const align = columns.map((c) => c.align);
  const natural: number[] = columns.map((_, i) => Math.max(0, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const sum = (ws: readonly number[], cols: readonly number[]) =>
    cols.reduce((total, i) => total + ws[i]!, 0) + gap * Math.max(0, cols.length - 1);
  let active = columns.map((_, i) => i);
  if (width === undefined || sum(natural, active) <= width) return { text: table(rows, align, gap), dropped: [] };
  const min = columns.map((c, i) =>
    Math.min(natural[i]!, Math.max(c.min ?? 0, ...rows.map((r) => longestWord(r[i] ?? '')))),
  );
  const dropped: number[] = [];
  while (sum(min, active) > width) {
    const next = active
      .filter((i) => columns[i]!.drop !== undefined)
      .sort((a, b) => columns[b]!.drop! - columns[a]!.drop!)[0];
    if (next === undefined) break;
    dropped.push(next);
    active = active.filter((i) => i !== next);
  }
  // Narrow the column with the most room above its minimum first; then, if need be, the widest
  // below it (words are cut).
  const widths = [...natural];
  for (const floor of [min, columns.map(() => 1)]) {
    while (sum(widths, active) > width) {
      const roomiest = active
        .filter((i) => widths[i]! > floor[i]!)
        .sort((a, b) => widths[b]! - floor[b]! - (widths[a]! - floor[a]!))[0];
      if (roomiest === undefined) break;
      widths[roomiest]!--;
    }
  }
  const lines: string[] = [];
  for (const row of rows) {
    const cells = active.map((i) => wrapLines(row[i] ?? '', widths[i]!));
    const height = Math.max(...cells.map((c) => c.length));
    for (let l = 0; l < height; l++) {
      const parts = active.map((i, k) => {
        const cell = cells[k]![l] ?? '';
        const pad = ' '.repeat(Math.max(0, widths[i]! - visibleLength(cell)));
        return align[i] === 'right' ? pad + cell : cell + pad;
      });
      lines.push(parts.join(' '.repeat(gap)).trimEnd());
    }
  }
  const names = dropped.sort((a, b) => a - b).map((i) => (rows[0]?.[i] ?? '').replace(ANSI, ''));
  return { text: lines.join('\n'), dropped: names };
}
