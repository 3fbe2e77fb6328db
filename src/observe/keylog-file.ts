/**
 * A TLS key log file (NSS format, as `SSLKEYLOGFILE` and Node's `--tls-keylog` write it) as a
 * TlsKeySource: read whole when opened, then, while a program runs and appends to it, read again on a
 * lookup that misses, from where the last read stopped (only the bytes appended), at most once per
 * `rereadIntervalMs` of lookups: a capture of many connections without keys asks on every
 * ClientHello, and a stat per ClientHello would cost more than the analysis.
 *
 * Reads are synchronous (secretsFor is called from the synchronous analysis); each is one open, one
 * fstat and, when the file grew, one read of the new bytes. The parsing is decode/tls-keylog.ts's.
 *
 * A line without its newline at the end of the file waits for the rest (a program may be writing
 * it); when a later re-read finds the file unchanged, the line is taken as the last one (a key log
 * written by hand, without a final newline).
 *
 * A file that cannot be read when opened is a KeyLogError (KAL_ERR_KEYLOG). A file that is read but is
 * not a key log is not an error here: `sessions` is 0 and `malformedLines` counts its lines (the caller
 * warns). A re-read that fails later (the file removed while a command ran) keeps what was read.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { KeyLog, type TlsKeySource, type TlsSessionSecrets } from '../decode/tls-keylog.js';
import { KeyLogError, readFailure } from '../errors.js';

/** The least time between two reads of the file on lookups that miss (see the top of this file). */
export const DEFAULT_KEYLOG_REREAD_MS = 50;
/** Bytes read at once. */
const READ_CHUNK = 1 << 20;

export interface KeyLogFileOptions {
  /** The least time between two re-reads on lookups that miss, in ms (default DEFAULT_KEYLOG_REREAD_MS). */
  rereadIntervalMs?: number;
  /** The option that named the file, for errors (default `keylog`; the CLI prints its flag). */
  option?: string;
}

export class KeyLogFile implements TlsKeySource {
  readonly path: string;
  readonly #log = new KeyLog();
  readonly #interval: number;
  /** Bytes of the file parsed so far. */
  #offset = 0;
  /** Reads of the file that found new bytes, the first (when opened) included. */
  #reads = 0;
  #lastRead = 0;
  /** The bytes read so far end inside a line; and whether they already did at the read before. */
  #midLine = false;
  #midLineBefore = false;

  /** Reads the whole file; throws KeyLogError (KAL_ERR_KEYLOG) when it cannot. */
  constructor(path: string, options: KeyLogFileOptions = {}) {
    this.path = path;
    this.#interval = options.rereadIntervalMs ?? DEFAULT_KEYLOG_REREAD_MS;
    try {
      this.#readAppended();
    } catch (error) {
      throw new KeyLogError(path, readFailure(error, 'a key log'), {
        cause: error,
        ...(options.option === undefined ? {} : { option: options.option }),
      });
    }
  }

  secretsFor(clientRandom: Uint8Array): TlsSessionSecrets | null {
    const found = this.#log.secretsFor(clientRandom);
    if (found !== null) return found;
    if (performance.now() - this.#lastRead < this.#interval) return null;
    this.refresh();
    return this.#log.secretsFor(clientRandom);
  }

  /**
   * Reads what was appended since the last read, now (no interval); a last line without its newline that
   * was already there at the read before is taken as whole. True when anything new was parsed.
   */
  refresh(): boolean {
    let grew: boolean;
    try {
      grew = this.#readAppended();
    } catch {
      // Removed or unreadable since: what was read stays.
      this.#lastRead = performance.now();
      return false;
    }
    if (!grew && this.#midLine && this.#midLineBefore) {
      this.#log.push('\n');
      this.#midLine = false;
      return true;
    }
    return grew;
  }

  /** Client randoms with at least one secret. */
  get sessions(): number {
    return this.#log.sessions;
  }

  /** Lines not understood (see decode/tls-keylog.ts); with `sessions` 0, the file is not a key log. */
  get malformedLines(): number {
    return this.#log.malformedLines;
  }

  get firstMalformed(): { line: number; reason: string } | null {
    return this.#log.firstMalformed;
  }

  /** Lines of labels this tool has no use for (EXPORTER_SECRET...). */
  get ignoredLines(): number {
    return this.#log.ignoredLines;
  }

  /** Reads of the file that found new bytes (the first, when opened, included). */
  get reads(): number {
    return this.#reads;
  }

  /** Bytes of the file read so far. */
  get bytesRead(): number {
    return this.#offset;
  }

  /** Reads the bytes past #offset, if any; throws the system's error. True when there were some. */
  #readAppended(): boolean {
    const fd = openSync(this.path, 'r');
    try {
      this.#lastRead = performance.now();
      const size = fstatSync(fd).size;
      this.#midLineBefore = this.#midLine;
      if (size < this.#offset) {
        // Truncated or replaced: read it again from the start (what was learnt stays; a line cut by
        // the truncation is ended first).
        if (this.#midLine) this.#log.push('\n');
        this.#midLine = false;
        this.#midLineBefore = false;
        this.#offset = 0;
      }
      if (size === this.#offset) return false;
      const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - this.#offset));
      while (this.#offset < size) {
        const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - this.#offset), this.#offset);
        if (n === 0) break;
        // latin1: a key log is ASCII; a byte that is not stays one character, and a chunk never splits one.
        this.#log.push(buffer.toString('latin1', 0, n));
        this.#offset += n;
        this.#midLine = buffer[n - 1] !== 0x0a;
      }
      this.#reads++;
      return true;
    } finally {
      closeSync(fd);
    }
  }
}
