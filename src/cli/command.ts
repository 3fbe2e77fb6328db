import { colorEnabled } from '../util/tty.js';
import type { TtyStream } from '../util/tty.js';
import type { Interrupt } from './interrupts.js';

export interface Io {
  stdout: NodeJS.WritableStream & TtyStream;
  stderr: NodeJS.WritableStream & TtyStream;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  usage: string;
  /** Library options this command sets through a flag of another name (see flagFor), for error messages. */
  flags?: Readonly<Record<string, string>>;
  /** Signals that, the first time, ask this command to stop and report rather than end at once. */
  stopsOn?: readonly NodeJS.Signals[];
  /**
   * Resolves to the exit code. Throws UsageError for bad input (exit 2). Passes `interrupt` down to
   * the library, which closes what it opened when a signal aborts.
   */
  run(argv: string[], io: Io, interrupt: Interrupt): Promise<number>;
}

/** Colours on stdout: only on a terminal, NO_COLOR and FORCE_COLOR honoured (util/tty.ts). */
export function useColor(io: Io): boolean {
  return colorEnabled(io.stdout, io.env);
}
