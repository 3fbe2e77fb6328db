import { setTimeout as sleep } from 'node:timers/promises';
import { TimeoutError } from '../errors.js';

export { sleep };

/**
 * Poll `condition` every `everyMs` until it holds or `timeoutMs` passes; resolves to whether it held.
 * Used to wait for events we cannot subscribe to (a socket in the kernel table, a packet on the wire).
 * An aborted `signal` ends the wait at once (with whether the condition holds then).
 */
export async function waitFor(
  condition: () => boolean,
  timeoutMs: number,
  everyMs = 10,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline || signal?.aborted) return false;
    await sleep(everyMs, undefined, signal ? { signal } : undefined).catch(() => undefined);
  }
  return true;
}

/** Reject with a TimeoutError when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
