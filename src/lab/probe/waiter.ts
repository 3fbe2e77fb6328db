import { onAbort } from '../../util/abort.js';

/**
 * Waits on a condition that events make true: `until(done, ms)` resolves once `done()` holds (checked
 * at each `wake()`) or after `ms`, and rejects with the signal's reason on abort. One wait at a time.
 */
export class EventWaiter {
  private wakeUp: (() => void) | null = null;
  constructor(private readonly signal: AbortSignal) {}

  wake(): void {
    this.wakeUp?.();
  }

  until(done: () => boolean, ms: number): Promise<void> {
    if (done()) return Promise.resolve();
    const { signal } = this;
    return new Promise<void>((resolve, reject) => {
      const settle = (error?: unknown) => {
        clearTimeout(timer);
        off();
        this.wakeUp = null;
        if (error === undefined) resolve();
        else reject(error);
      };
      const timer = setTimeout(() => settle(), ms);
      const off = onAbort(signal, () => settle(signal.reason ?? new Error('aborted')));
      this.wakeUp = () => {
        if (done()) settle();
      };
    });
  }
}
