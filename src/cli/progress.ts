/**
 * One progress line on stderr, for work that takes more than a second (demo's experiments, analyze
 * of a large file, watch, the proxy): drawn in place (`\r`, erase line), cut to the terminal's
 * width, erased when done. Only on a TTY: on a pipe or a file nothing of it is written, ever.
 */
import type { TtyStream } from '../util/tty.js';

/** Work shorter than this shows no progress at all (no flash of a line for a quick run). */
export const PROGRESS_DELAY_MS = 1000;
/** At most this often a redraw (analyze reads hundreds of 1 MiB chunks a second). */
const REDRAW_MS = 100;
/** Carriage return, then erase to the end of the line (ECMA-48 EL, CSI K). */
const ERASE = '\r\x1b[K';

export interface ProgressOptions {
  /** How long the work must have gone on before the line shows (default PROGRESS_DELAY_MS). */
  delayMs?: number;
}

export class ProgressLine {
  private readonly enabled: boolean;
  private readonly delayMs: number;
  private readonly started = Date.now();
  private text = '';
  private shown = '';
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: NodeJS.WritableStream & TtyStream,
    options: ProgressOptions = {},
  ) {
    this.enabled = Boolean(stream.isTTY);
    this.delayMs = options.delayMs ?? PROGRESS_DELAY_MS;
  }

  /** The line to show now; drawn once the work has lasted `delayMs`, at most every REDRAW_MS. */
  update(text: string): void {
    if (!this.enabled) return;
    this.text = text;
    const now = Date.now();
    const waited = now - this.started;
    if (waited < this.delayMs) {
      // Drawn when the delay is over, with whatever the line is then.
      this.timer ??= setTimeout(() => this.draw(), this.delayMs - waited);
      this.timer.unref();
      return;
    }
    if (now - this.lastDraw >= REDRAW_MS || this.shown === '') this.draw();
  }

  /** Erases the line (if it was drawn): what follows starts on a clean line. */
  done(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.shown !== '') this.stream.write(ERASE);
    this.shown = '';
    this.text = '';
  }

  private draw(): void {
    this.timer = undefined;
    if (this.text === '' || this.text === this.shown) return;
    // One character short of the width: a line that fills it would wrap on some terminals.
    const columns = this.stream.columns !== undefined && this.stream.columns > 1 ? this.stream.columns - 1 : 79;
    const line = this.text.length > columns ? this.text.slice(0, columns) : this.text;
    this.stream.write(ERASE + line);
    this.shown = this.text;
    this.lastDraw = Date.now();
  }
}
