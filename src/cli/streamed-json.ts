/**
 * `--json` written while the records come (report/json-stream.ts), for `analyze` (records as the
 * capture is read) and `proxy` (records as connections close): the head with the first record, the
 * records in writes of about WRITE_AT, the rest at the end. Memory holds at most WRITE_AT of text.
 */
import { once } from 'node:events';
import type { ConnectionRecord, RunReport } from '../model/report.js';
import { JsonReportStream, restOf } from '../report/json-stream.js';
import type { StreamHead } from '../report/json-stream.js';

/**
 * Records are written once this much text has gathered, without waiting for the chunk to end: a 1 MiB
 * chunk of a SYN flood ends 15,000 connections, 13 MB of JSON that would otherwise be held at once.
 */
const WRITE_AT = 64 * 1024;

export class StreamedJson {
  private readonly writer = new JsonReportStream();
  private pending = '';
  private begun = false;
  /** A write found stdout's buffer full: wait for 'drain' before the next chunk. */
  private full = false;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly head: StreamHead,
    private readonly signal: AbortSignal,
  ) {}

  record(record: ConnectionRecord): void {
    // The head goes out with the first record: an error before it (not a capture) leaves stdout empty.
    if (!this.begun) this.begin();
    this.pending += this.writer.record(record);
    if (this.pending.length >= WRITE_AT) this.write();
  }

  /** Writes what has gathered, without waiting (the proxy's records come while it runs). */
  writePending(): void {
    if (this.pending !== '') this.write();
  }

  /**
   * Writes what has gathered and, when stdout is slower than the records come (a pipe to a slow
   * reader), waits for 'drain': `analyze` waits before it reads the next chunk.
   */
  async flush(): Promise<void> {
    this.writePending();
    if (!this.full) return;
    this.full = false;
    await once(this.out, 'drain', { signal: this.signal });
  }

  private write(): void {
    if (!this.out.write(this.pending)) this.full = true;
    this.pending = '';
  }

  /**
   * The rest of the document, written without waiting for stdout to drain (the CLI drains it before
   * the process exits): the proxy's report must follow even once its abort signal has fired.
   */
  writeEnd(run: RunReport): void {
    if (!this.begun) this.begin();
    this.pending += this.writer.end(restOf(this.head, run));
    this.writePending();
  }

  async end(run: RunReport): Promise<void> {
    this.writeEnd(run);
    await this.flush();
  }

  private begin(): void {
    this.begun = true;
    this.pending += this.writer.begin(this.head);
  }
}
