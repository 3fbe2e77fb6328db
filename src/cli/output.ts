import { open, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FileError, UsageError } from '../errors.js';
import type { Report } from '../model/report.js';
import { renderJson } from '../report/json.js';
import { renderTerminal } from '../report/terminal.js';
import { terminalColumns } from '../util/tty.js';
import { flag, int, str } from './args.js';
import type { Options, Parsed } from './args.js';
import { useColor, type Io } from './command.js';

/** How tables meet the terminal: every command that prints one takes these. */
export const TERMINAL_OPTIONS: Options = {
  wide: { type: 'boolean' },
  width: { type: 'string' },
};

export const TERMINAL_USAGE = `  --wide                every column at full width, however wide (the default on a pipe)
  --width N             fit tables into N columns (default: the terminal's width on a TTY)`;

/** The narrowest --width: the columns that are never left out still have to fit. */
const MIN_WIDTH = 40;

/**
 * Colours and the width tables are fitted to: `--wide` none; `--width N`; on a TTY its columns;
 * on a pipe none (a script or a file gets every column whole).
 */
export function terminalOptions(io: Io, p: Parsed): { color: boolean; width?: number } {
  const width = int(p, 'width', MIN_WIDTH, 10_000);
  if (flag(p, 'wide') && width !== undefined) throw new UsageError('--wide and --width: give one');
  const fit = flag(p, 'wide') ? undefined : (width ?? terminalColumns(io.stdout));
  return fit === undefined ? { color: useColor(io) } : { color: useColor(io), width: fit };
}

/** The flags that name a file a command writes (watch's `--json` without one: stdout). */
const OUTPUT_FLAGS = ['html', 'json'] as const;

/**
 * Before any work: can every file the command will write (`--html FILE`) be written? A typo in a
 * directory name found after a ten-minute watch would lose the run; found now, it is one line.
 */
export async function checkOutputs(p: Parsed): Promise<void> {
  for (const name of OUTPUT_FLAGS) {
    const path = str(p, name);
    if (path === undefined || (name === 'json' && path === '')) continue;
    if (path.trim() === '') throw new UsageError(`--${name} needs a file name`);
    await checkWritable(path, `--${name}`);
  }
}

/**
 * Throws a FileError naming `flag` unless `path` can be written: opened for appending (which
 * neither truncates an existing file nor changes it), and removed again if this made it. Only the
 * system can tell (permissions, ACLs, read-only or virtual file systems), so it is asked.
 */
async function checkWritable(path: string, flag: string): Promise<void> {
  const cannot = (why: string, cause?: unknown) =>
    new FileError(`cannot write ${flag} ${path}: ${why}`, cause === undefined ? {} : { cause });
  let existed = true;
  try {
    if ((await stat(path)).isDirectory()) throw cannot('it is a directory');
  } catch (error) {
    if (error instanceof FileError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw cannot(reason(error, path), error);
    existed = false;
  }
  try {
    await (await open(path, 'a')).close();
  } catch (error) {
    const dir = dirname(resolve(path));
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT' && !(await isDirectory(dir));
    throw cannot(missing ? `no such directory: ${dir}` : reason(error, existed ? path : dir), error);
  }
  if (!existed) await rm(path, { force: true });
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

function reason(error: unknown, path: string): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${path}`;
    case 'EROFS':
      return 'read-only file system';
    default:
      return (error as Error).message;
  }
}

/** `--html FILE`: write the HTML report next to what was printed. */
export async function writeHtmlReport(p: Parsed, report: Report): Promise<void> {
  const path = str(p, 'html');
  if (path === undefined) return;
  // Loaded only when asked for: a run without --html does not pay for the renderer's modules.
  const { renderHtml } = await import('../report/html.js');
  await writeFileOrFail(path, renderHtml(report));
}

/** Writes a report's file (`--html FILE`, `--json FILE`); a failure is a FileError. */
export async function writeFileOrFail(path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (error) {
    throw new FileError(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The report of a finished run (run, demo): JSON with --json, else the terminal's table (with the
 * connections under --connections, the reasoning of each finding under --explain); then --html.
 */
export async function writeRunReport(io: Io, p: Parsed, report: Report): Promise<void> {
  const options = { ...terminalOptions(io, p), connections: flag(p, 'connections'), explain: flag(p, 'explain') };
  io.stdout.write(flag(p, 'json') ? renderJson(report) : renderTerminal(report, options));
  await writeHtmlReport(p, report);
}
