/**
 * One connection record as JSON text, for `analyze --json`, which writes hundreds of thousands of
 * them while the capture is read: the same text as `JSON.stringify(record, null, 2)` with `indent`
 * after every line break (the record's place in the document).
 *
 * JSON.stringify with an indent leaves V8's fast serializer, and indenting its result takes a second
 * pass and a second string; built with `+=` instead, the text is a tree of small strings that costs
 * as much to flatten. Here the text is written once, byte by byte, into one reused buffer, and read
 * back as one flat string: the bytes between the values (line break, indentation, quoted key) are
 * prepared once per key and depth, and the usual numbers are written digit by digit.
 *
 * The record's own keys are walked in their order, so any record (and any field added to the schema
 * later) comes out as JSON.stringify writes it: keys and strings quoted by JSON.stringify itself,
 * numbers as String() writes them (non-finite ones as null), members whose value is undefined, a
 * function or a symbol left out (null in an array). A value this does not write itself (anything but
 * plain objects without toJSON, arrays and primitives) is JSON.stringify's text, re-indented. A
 * string with a character beyond U+00FF (the buffer holds one byte per character), or a value that
 * JSON.stringify leaves out after calling its toJSON, sends the whole record to JSON.stringify.
 */
import type { ConnectionRecord } from '../model/report.js';

/** JSON.stringify's indent unit, as renderJson passes it. */
const STEP = '  ';
/** The buffer's first size; it doubles for a larger record (a long keep-alive connection's idle gaps). */
const INITIAL_BYTES = 16 * 1024;
/** Above this a character does not fit the buffer's one byte per character. */
const MAX_LATIN1 = 0xff;
/** Strings up to this long are quoted once and kept (addresses, side names, notes that recur)... */
const MAX_CACHED_LENGTH = 64;
/** ...up to this many of them; and at most this many object shapes are kept (see Shape). */
const MAX_CACHED = 4096;
const MAX_SHAPES = 64;
/**
 * Below 2^42 the doubles are at most 2^-11 apart, closer than thousandths (see writeNumber); 2^42
 * milliseconds since 1970 is the year 2109.
 */
const MAX_THOUSANDTHS = 2 ** 42;
/** Integers up to this one are written with 32-bit arithmetic. */
const MAX_INT32 = 0x7fffffff;
const BILLION = 1e9;
const DIGIT_0 = 0x30;
const DOT = 0x2e;

const latin1 = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const TRUE = latin1('true');
const FALSE = latin1('false');
const NULL = latin1('null');
const EMPTY_OBJECT = latin1('{}');
const EMPTY_ARRAY = latin1('[]');

/**
 * The keys of one kind of object (a record, an endpoint) and the bytes written before each of its
 * members at one depth: `{` or `,`, the line break, the indentation, the quoted key, `: `.
 */
interface Shape {
  keys: string[];
  before: Uint8Array[];
}

/** Everything prepared for one indent (the last one asked for: a document has one). */
interface Layout {
  indent: string;
  /** Per depth: the line break and indentation, then `}` or `]` (the end of an object or array at that depth). */
  closeObject: Uint8Array[];
  closeArray: Uint8Array[];
  /** Per depth: `[` or `,` and the line break and indentation before an item of an array at that depth. */
  firstItem: Uint8Array[];
  nextItem: Uint8Array[];
  /** Per depth: the shapes met there. */
  shapes: Shape[][];
}

let buf = Buffer.allocUnsafe(INITIAL_BYTES);
let pos = 0;
/** The record is not for this writer (see the header): JSON.stringify writes it. */
let fallback = false;
let layout: Layout = newLayout('');
/** JSON.stringify(s) as bytes, for strings that recur. */
const quoted = new Map<string, Uint8Array>();

/** `JSON.stringify(record, null, 2).replaceAll('\n', '\n' + indent)`, in one pass. */
export function jsonRecordText(record: ConnectionRecord, indent: string): string {
  if (layout.indent !== indent) layout = newLayout(indent);
  pos = 0;
  fallback = false;
  writeValue(record, 0);
  if (fallback) return JSON.stringify(record, null, STEP).replaceAll('\n', lineBreak(0));
  return buf.toString('latin1', 0, pos);
}

function newLayout(indent: string): Layout {
  return { indent, closeObject: [], closeArray: [], firstItem: [], nextItem: [], shapes: [] };
}

/** The line break and indentation before a line at `depth`. */
function lineBreak(depth: number): string {
  return `\n${layout.indent}${STEP.repeat(depth)}`;
}

/** The end of an object (`}`) or an array (`]`) at `depth`: the line break, the indentation, the bracket. */
function closing(table: Uint8Array[], bracket: string, depth: number): Uint8Array {
  return (table[depth] ??= latin1(`${lineBreak(depth)}${bracket}`));
}

/** What comes before an item of an array at `depth`: `[` or `,`, the line break, the indentation. */
function itemPrefix(table: Uint8Array[], bracket: string, depth: number): Uint8Array {
  return (table[depth] ??= latin1(`${bracket}${lineBreak(depth + 1)}`));
}

/** Room for `n` more bytes. */
function reserve(n: number): void {
  if (pos + n <= buf.length) return;
  let size = buf.length * 2;
  while (size < pos + n) size *= 2;
  const grown = Buffer.allocUnsafe(size);
  buf.copy(grown, 0, 0, pos);
  buf = grown;
}

/** Prepared bytes (TypedArray#set is a copy in native code: faster than a loop past a few bytes). */
function raw(bytes: Uint8Array): void {
  reserve(bytes.length);
  buf.set(bytes, pos);
  pos += bytes.length;
}

/** Writes `s` one byte per character (a character that does not fit sets `fallback`). */
function ascii(s: string): void {
  const n = s.length;
  reserve(n);
  const b = buf;
  let p = pos;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c > MAX_LATIN1) fallback = true;
    b[p++] = c;
  }
  pos = p;
}

function writeString(s: string): void {
  if (s.length > MAX_CACHED_LENGTH) {
    ascii(JSON.stringify(s));
    return;
  }
  const bytes = quoted.get(s);
  if (bytes !== undefined) {
    raw(bytes);
    return;
  }
  const text = JSON.stringify(s);
  ascii(text);
  // Only what fits one byte per character is kept (the rest falls back anyway).
  if (quoted.size < MAX_CACHED && !fallback) quoted.set(s, latin1(text));
}

/** Can `v` be written (true), or does JSON.stringify leave it out (undefined, functions, symbols)? */
function writable(v: unknown): boolean {
  const type = typeof v;
  return type !== 'undefined' && type !== 'function' && type !== 'symbol';
}

function writeValue(v: unknown, depth: number): void {
  switch (typeof v) {
    case 'number':
      writeNumber(v);
      return;
    case 'string':
      writeString(v);
      return;
    case 'boolean':
      raw(v ? TRUE : FALSE);
      return;
    case 'object':
      if (v === null) raw(NULL);
      else if (Array.isArray(v)) writeArray(v, depth);
      else if (isPlain(v)) writeObject(v as Record<string, unknown>, depth);
      else writeOther(v, depth);
      return;
    default:
      // bigint: JSON.stringify throws, and so does this.
      ascii(JSON.stringify(v));
  }
}

/**
 * Numbers as String() writes them. Two kinds are written digit by digit: integers up to 2^31 (ids,
 * ports, counts, bytes) and positive numbers of thousandths below MAX_THOUSANDTHS (milliseconds made
 * from microseconds: timestamps, durations). For the latter, n === m / 1000 for an integer m means
 * n is the double nearest to the decimal m/1000; every other decimal with at most three places is
 * another double (they are 0.001 apart, the doubles there at most 2^-11), so the shortest decimal
 * that reads back as n, which String() writes (ECMA-262 Number::toString), is m/1000 itself.
 */
function writeNumber(n: number): void {
  if (n >= 0 && n <= MAX_INT32 && (n | 0) === n) {
    writeInt32(n);
    return;
  }
  if (n > 0 && n < MAX_THOUSANDTHS) {
    const m = Math.round(n * 1000);
    if (m / 1000 === n) {
      const whole = Math.floor(m / 1000);
      let fraction = m - whole * 1000;
      if (whole <= MAX_INT32) writeInt32(whole);
      else writeWhole(whole);
      if (fraction !== 0) {
        reserve(4);
        const b = buf;
        b[pos++] = DOT;
        b[pos++] = DIGIT_0 + ((fraction / 100) | 0);
        fraction %= 100;
        if (fraction !== 0) {
          b[pos++] = DIGIT_0 + ((fraction / 10) | 0);
          fraction %= 10;
          if (fraction !== 0) b[pos++] = DIGIT_0 + fraction;
        }
      }
      return;
    }
  }
  ascii(Number.isFinite(n) ? String(n) : 'null');
}

/** 0 <= n <= 2^31 - 1, in decimal. */
function writeInt32(n: number): void {
  reserve(10);
  const b = buf;
  if (n < 10) {
    b[pos++] = DIGIT_0 + n;
    return;
  }
  let digits = 1;
  for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
  let p = pos + digits;
  pos = p;
  for (let x = n; x > 0; x = (x / 10) | 0) b[--p] = DIGIT_0 + (x % 10);
}

/** A whole number from 2^31 to 2^53, in decimal: the digits above the last nine, then those nine. */
function writeWhole(n: number): void {
  const high = Math.floor(n / BILLION);
  let low = n - high * BILLION;
  writeInt32(high);
  reserve(9);
  const b = buf;
  for (let p = pos + 8; p >= pos; p--) {
    b[p] = DIGIT_0 + (low % 10);
    low = (low / 10) | 0;
  }
  pos += 9;
}

function isWide(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > MAX_LATIN1) return true;
  return false;
}

function isPlain(o: object): boolean {
  return Object.getPrototypeOf(o) === Object.prototype && typeof (o as { toJSON?: unknown }).toJSON !== 'function';
}

/** Anything else (a Date and its toJSON, a boxed number, a class instance): JSON.stringify's text. */
function writeOther(v: object, depth: number): void {
  const text = JSON.stringify(v, null, STEP) as string | undefined;
  if (text === undefined) fallback = true;
  else ascii(text.replaceAll('\n', lineBreak(depth)));
}

/** The shape at `depth` whose first key is `first` (made from `o` the first time). */
function shapeOf(o: Record<string, unknown>, first: string, depth: number): Shape | null {
  const shapes = (layout.shapes[depth] ??= []);
  for (let k = 0; k < shapes.length; k++) if (shapes[k]!.keys[0] === first) return shapes[k]!;
  if (shapes.length >= MAX_SHAPES) return null;
  const keys = Object.keys(o);
  // A key that does not fit one byte per character is never prepared (memberPrefix falls back each time).
  if (keys.some(isWide)) return null;
  const shape: Shape = { keys, before: keys.map((key, i) => memberPrefix(key, i === 0, depth)) };
  shapes.push(shape);
  return shape;
}

function memberPrefix(key: string, first: boolean, depth: number): Uint8Array {
  if (isWide(key)) fallback = true;
  return latin1(`${first ? '{' : ','}${lineBreak(depth + 1)}${JSON.stringify(key)}: `);
}

function writeObject(o: Record<string, unknown>, depth: number): void {
  let shape: Shape | null = null;
  let i = 0;
  let written = 0;
  // JSON.stringify takes the own enumerable keys; for-in walks them in the same order (and those of
  // the prototype: a plain object's is Object.prototype, which has none).
  for (const key in o) {
    if (i === 0) shape = shapeOf(o, key, depth);
    // A key where the shape has it: its prefix is ready (the usual case, every member of every record).
    const before =
      shape !== null && shape.keys[i] === key && written === i
        ? shape.before[i]!
        : memberPrefix(key, written === 0, depth);
    i++;
    const member = o[key];
    if (!writable(member)) continue;
    raw(before);
    written++;
    writeValue(member, depth + 1);
  }
  if (written === 0) {
    raw(EMPTY_OBJECT);
    return;
  }
  raw(closing(layout.closeObject, '}', depth));
}

function writeArray(a: readonly unknown[], depth: number): void {
  const n = a.length;
  if (n === 0) {
    raw(EMPTY_ARRAY);
    return;
  }
  for (let i = 0; i < n; i++) {
    raw(i === 0 ? itemPrefix(layout.firstItem, '[', depth) : itemPrefix(layout.nextItem, ',', depth));
    const item = a[i];
    // In an array, what an object would leave out is written as null.
    if (writable(item)) writeValue(item, depth + 1);
    else raw(NULL);
  }
  raw(closing(layout.closeArray, ']', depth));
}
