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
