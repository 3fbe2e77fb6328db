/**
 * What a terminal allows: colours, and its width. No dependency: the rules are short.
 * Colours (https://no-color.org, https://force-color.org, as Node's own tty module reads them):
 * FORCE_COLOR set to anything but `0` or `false` forces them, even on a pipe; FORCE_COLOR=0 turns
 * them off; else NO_COLOR set and not empty turns them off; else only on a TTY whose TERM is not `dumb`.
 */
export interface TtyStream {
  isTTY?: boolean;
  columns?: number;
}

export function colorEnabled(stream: TtyStream, env: NodeJS.ProcessEnv): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

/** A terminal that tells no width is taken to have the classic 80 columns. */
export const DEFAULT_COLUMNS = 80;

/** The width to fit tables into: a TTY's columns; undefined on a pipe or file (every column, whole). */
export function terminalColumns(stream: TtyStream): number | undefined {
  if (!stream.isTTY) return undefined;
  return stream.columns !== undefined && stream.columns > 0 ? stream.columns : DEFAULT_COLUMNS;
}
