/**
 * Argument parsing on top of node:util parseArgs (strict): unknown flags and bad values become a
 * UsageError, which the CLI prints as one line and a pointer to `--help`, with exit code 2. Every
 * number a flag takes is checked by one of the parsers below, which say the allowed range whatever
 * the bad value was (negative ones included).
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';
import type { PortRange } from '../model/host.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** A value that starts like a negative number: `-1`, `-0.5`, `-.5`. */
const NEGATIVE_NUMBER = /^-\.?\d/;

export function parse(argv: string[], options: Options, allowPositionals = false): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: withNegativeValues(argv, options),
      options,
      allowPositionals,
      strict: true,
    });
    return { values: values as Parsed['values'], positionals };
  } catch (error) {
    // parseArgs messages are good but long ("... To specify a positional argument starting with a
    // '-' ..."): keep the first sentence.
    const message = (error as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '');
    throw new UsageError(message);
  }
}

/**
 * `--requests -1` as `--requests=-1`: parseArgs takes a value that starts with `-` for a flag
 * ("argument is ambiguous"), so a negative number would never reach the check that says the range.
 * Only a flag that takes a value, followed by what looks like a negative number, and not after `--`.
 */
function withNegativeValues(argv: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * A flag whose value may be left out (`--json` or `--json FILE`), declared as a string option:
 * `--NAME` with no value after it (the end, or the next flag) becomes `--NAME=` (the empty
 * string: "no file"). Only for commands without positionals before `--`, where a bare word after
 * the flag can only be its value.
 */
export function optionalValue(argv: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (argv[i] === `--${name}` && (next === undefined || next.startsWith('-'))) out.push(`--${name}=`);
    else out.push(argv[i]!);
    if (argv[i] === '--') {
      out.push(...argv.slice(i + 1));
      break;
    }
  }
  return out;
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

/** The allowed range in words: `between 1 and 65535`, or `, 0 or more` without a useful maximum. */
function range(min: number, max: number): string {
  return max >= Number.MAX_SAFE_INTEGER ? `, ${min} or more` : ` between ${min} and ${max}`;
}

/** A whole number from `min` to `max`; anything else (negative, decimal, text) says the range. */
export function int(p: Parsed, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be a whole number${range(min, max)}, got '${v}'`);
  return n;
}

/** A number (decimals allowed) of at least `min`. */
export function decimal(p: Parsed, name: string, min: number): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const n = /^\d+(\.\d+)?$|^\.\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= min)) throw new UsageError(`--${name} must be a number, ${min} or more, got '${v}'`);
  return n;
}

/** The longest --duration: a week (a typo in seconds should not mean forever). */
export const MAX_DURATION_S = 7 * 24 * 3600;

/**
 * A duration in seconds, decimals allowed (`30`, `0.5`), an `s` after it too (`5s`, as wrk and
 * autocannon take it), above 0 and at most `maxSeconds`; returned in milliseconds. Every
 * `--duration` is read by this one function.
 */
export function seconds(p: Parsed, name: string, maxSeconds = MAX_DURATION_S): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?|\.\d+)s?$/.exec(v.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n > 0 && n <= maxSeconds))
    throw new UsageError(`--${name} must be a number of seconds above 0 and at most ${maxSeconds}, got '${v}'`);
  return Math.round(n * 1000);
}

/** Sizes like 11, 16k, 16KB, 1m, 1MiB (binary multiples), at most `max` bytes. */
export function size(p: Parsed, name: string, max = 1024 ** 3): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(v.trim());
  const n = m ? Number(m[1]) * 1024 ** SIZE_UNITS.indexOf((m[2] || ' ').toLowerCase()) : NaN;
  if (!(n <= max))
    throw new UsageError(`--${name} must be a size such as 11, 16k or 1m, at most ${sizeText(max)}, got '${v}'`);
  return n;
}

/** Size suffixes by power of 1024 (none, k, m, g). */
const SIZE_UNITS = ' kmg';

/** `67108864` as `64m`, `1000` as `1000`: the largest unit that divides it. */
function sizeText(bytes: number): string {
  for (let power = SIZE_UNITS.length - 1; power > 0; power--) {
    if (bytes % 1024 ** power === 0) return `${bytes / 1024 ** power}${SIZE_UNITS[power]}`;
  }
  return String(bytes);
}

export function oneOf<T extends string>(p: Parsed, name: string, choices: readonly T[]): T | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v))
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${v}'`);
  return v as T;
}

/** A range of ports `LO-HI` (both included, LO <= HI), as net.ipv4.ip_local_port_range holds one. */
export function portRange(p: Parsed, name: string): PortRange | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(v.trim());
  const low = m ? Number(m[1]) : NaN;
  const high = m ? Number(m[2]) : NaN;
  if (!(low >= 1 && low <= high && high <= 65535))
    throw new UsageError(
      `--${name} must be LO-HI, two ports from 1 to 65535 with LO <= HI (e.g. 32768-60999), got '${v}'`,
    );
  return { low, high };
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
