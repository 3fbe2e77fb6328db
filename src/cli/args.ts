/**
 * Argument parsing on top of node:util parseArgs (strict): unknown flags and bad values become a
 * UsageError, which the CLI prints as one line plus the usage, with exit code 2.
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: Options, allowPositionals = false): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (error) {
    // parseArgs messages are good but long ("... To specify a positional argument starting with a '-' ..."):
    // keep the first sentence.
    const message = (error as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '');
    throw new UsageError(message);
  }
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/** `--x` / `--no-x` pairs: undefined when neither was given; the last one wins when both were. */
export function toggle(p: Parsed, argv: readonly string[], name: string): boolean | undefined {
  const yes = argv.lastIndexOf(`--${name}`);
  const no = argv.lastIndexOf(`--no-${name}`);
  if (yes < 0 && no < 0) return undefined;
  return yes > no;
}

export function int(p: Parsed, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`--${name} must be a whole number, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Sizes like 11, 16k, 16KB, 1m, 1MiB (binary multiples). */
export function size(p: Parsed, name: string, max = 1024 ** 3): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--${name} must be a size such as 11, 16k or 1m, got '${v}'`);
  const n = Number(m[1]) * 1024 ** 'xkmg'.indexOf((m[2] || 'x').toLowerCase());
  if (n > max) throw new UsageError(`--${name} must be at most ${max} bytes, got ${n}`);
  return n;
}

export function oneOf<T extends string>(p: Parsed, name: string, choices: readonly T[]): T | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v))
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${v}'`);
  return v as T;
}

export function port(p: Parsed, name = 'port'): number | undefined {
  return int(p, name, 1, 65535);
}

/**
 * The flag that sets a library option, for error messages: `--` and the option in kebab case,
 * without the unit suffix (`graceMs` -> `--grace`), unless the command names it otherwise
 * (`listenPort` -> `--listen`).
 */
export function flagFor(option: string, flags: Readonly<Record<string, string>> = {}): string {
  return flags[option] ?? `--${option.replace(/Ms$/, '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
