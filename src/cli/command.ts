import type { Interrupt } from './interrupts.js';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
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

/** Colors only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor(io: Io): boolean {
  return Boolean(io.stdout.isTTY) && !io.env.NO_COLOR;
}
