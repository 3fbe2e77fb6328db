/**
 * The CLI owns the process's signals; the library registers none. A command gets two
 * AbortSignals and passes them down to the library's calls, which close what they opened (tcpdump,
 * servers, sockets, the watched command) when one aborts:
 *  - `stop`: stop and report. The first Ctrl-C on `watch` and `proxy` (and SIGTERM on `proxy`,
 *    whose report is printed then too): they take it as the normal way to end.
 *  - `abort`: end at once. Ctrl-C or SIGTERM on the other commands, a second signal on those.
 * The process then exits with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
 */

/** What a command is handed to stop by. */
export interface Interrupt {
  /** Stop and report (only for commands that declare `stopsOn`). */
  stop: AbortSignal;
  /** End at once: everything the command opened is closed; it need not print anything. */
  abort: AbortSignal;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };

export class Interrupts implements Interrupt {
  private readonly stopping = new AbortController();
  private readonly ending = new AbortController();
  readonly stop: AbortSignal = this.stopping.signal;
  readonly abort: AbortSignal = this.ending.signal;
  /** The signals that, the first time, mean "stop and report" for the running command; unknown until it is loaded. */
  private stopSignals: readonly NodeJS.Signals[] | undefined;
  /** A signal that came before the command was known (while it loads): it is the command's once it is. */
  private pending: NodeJS.Signals | null = null;
  /** The signal that stopped or ended the command, for the exit code. */
  private received: NodeJS.Signals | null = null;
  /** Ended without a signal, as Unix tools do when their reader goes away (EPIPE): exit 0. */
  private quiet = false;

  /**
   * Which signals stop the command (and report) rather than end it. Until this is set, a signal
   * waits: a Ctrl-C while `watch` loads is a Ctrl-C to `watch`, which stops and reports (it used
   * to end it at once, without a report: 10 of 70 Ctrl-Cs in the first 700 ms of a loaded machine).
   */
  set stopsOn(signals: readonly NodeJS.Signals[]) {
    this.stopSignals = signals;
    const pending = this.pending;
    this.pending = null;
    if (pending !== null) this.signal(pending);
  }

  get stopsOn(): readonly NodeJS.Signals[] {
    return this.stopSignals ?? [];
  }

  /** A SIGINT or SIGTERM: stop, or end; true when it ends the command (the caller says so on stderr). */
  signal(signal: NodeJS.Signals): boolean {
    if (this.stopSignals === undefined) {
      // The command is not known yet; the first signal waits for it, a second one ends at once.
      if (this.pending === null) {
        this.pending = signal;
        this.received = signal;
        return false;
      }
      this.pending = null;
      this.stopSignals = [];
    }
    if (this.stopsOn.includes(signal) && !this.stop.aborted) {
      this.received = signal;
      this.stopping.abort(signal);
      return false;
    }
    if (this.abort.aborted) return false;
    this.received = signal;
    this.ending.abort(signal);
    return true;
  }

  /** End at once, with exit code 0 (stdout's reader went away). */
  endQuietly(): void {
    if (this.abort.aborted) return;
    this.quiet = true;
    this.ending.abort('EPIPE');
  }

  /** Whether a signal (or EPIPE) came: the process then exits as soon as the command returns. */
  get interrupted(): boolean {
    return this.received !== null || this.quiet;
  }

  /**
   * The exit code: the command's own after a Ctrl-C that only stopped it (watch, proxy), 128 + the
   * signal's number after one that ended it or after SIGTERM, 0 when the reader went away.
   */
  exitCode(code: number): number {
    if (this.quiet) return 0;
    if (this.received === null || (!this.abort.aborted && this.received === 'SIGINT')) return code;
    return 128 + (SIGNAL_NUMBERS[this.received] ?? 0);
  }
}
