/**
 * AbortSignal helpers for the library's long calls: each takes a signal from its caller (the CLI
 * aborts one on Ctrl-C) and closes what it opened when the signal aborts or the call ends. Nothing
 * here is global: every listener is removed once its call is over.
 */

/** Calls `fn` once when `signal` aborts (at once if it already has); returns the function that stops listening. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (signal === undefined) return () => undefined;
  if (signal.aborted) {
    fn();
    return () => undefined;
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * `promise`, or a rejection with the signal's reason as soon as it aborts (the promise goes on in
 * the background: the caller closes what would make it settle; its late rejection is ignored).
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  promise.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const off = onAbort(signal, () => reject(signal.reason));
    promise.then(
      (value) => {
        off();
        resolve(value);
      },
      (error: unknown) => {
        off();
        reject(error);
      },
    );
  });
}

/** Resolves when the first of `signals` aborts, or after `ms` (when given); never rejects. */
export function untilAborted(signals: readonly (AbortSignal | undefined)[], ms?: number): Promise<void> {
  return new Promise((resolve) => {
    const offs: (() => void)[] = [];
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    // Keep the event loop alive while waiting for a signal only: the wait is what the caller is doing.
    const keepAlive = ms === undefined ? setInterval(() => undefined, 1 << 30) : undefined;
    for (const signal of signals) offs.push(onAbort(signal, done));
    function done() {
      clearTimeout(timer);
      clearInterval(keepAlive);
      for (const off of offs) off();
      resolve();
    }
  });
}
