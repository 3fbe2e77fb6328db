/**
 * Everything that must not outlive the command (tcpdump children, servers, client pools) registers
 * here while it lives. On SIGINT/SIGTERM the CLI closes them all before exiting, so Ctrl-C never
 * leaves a capture process or a listening socket behind.
 */
export interface Closeable {
  readonly label: string;
  close(): Promise<void> | void;
}

const live = new Set<Closeable>();

/** Track a resource until the returned function is called (call it when the resource is closed). */
export function track(resource: Closeable): () => void {
  live.add(resource);
  return () => {
    live.delete(resource);
  };
}

export function liveResources(): readonly Closeable[] {
  return [...live];
}

/** Close everything still tracked, newest first; errors are collected, not thrown. */
export async function closeAll(): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const resource of [...live].reverse()) {
    live.delete(resource);
    try {
      await resource.close();
    } catch (error) {
      errors.push(error);
    }
  }
  return errors;
}

let interruptHandler: (() => void) | null = null;

/**
 * A command that treats Ctrl-C as "stop observing and report" (watch, proxy) installs a handler
 * here while it runs; the CLI calls it on the first SIGINT instead of cleaning up and exiting.
 * Returns a function that removes it.
 */
export function onInterrupt(handler: () => void): () => void {
  interruptHandler = handler;
  return () => {
    if (interruptHandler === handler) interruptHandler = null;
  };
}

/** Called by the CLI's signal handler: true when a command took the interrupt. */
export function takeInterrupt(): boolean {
  const handler = interruptHandler;
  if (handler === null) return false;
  interruptHandler = null;
  handler();
  return true;
}
