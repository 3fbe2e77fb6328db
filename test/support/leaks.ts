/**
 * Nothing left behind, checked on the system itself (the library keeps no registry of what it
 * opened): no tcpdump child of this process, and a port that can be listened on again.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';

/** Pids of this process's children running `name` (a zombie counts: it was not waited for). */
export function childrenNamed(name: string): number[] {
  const r = spawnSync('pgrep', ['-P', String(process.pid), '-x', name], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(Number);
}

/** Pids of this process's tcpdump children. */
export function tcpdumpChildren(): number[] {
  return childrenNamed('tcpdump');
}

/** True when `host:port` can be listened on (nothing of ours holds it). */
export async function portIsFree(host: string, port: number): Promise<boolean> {
  const server = net.createServer();
  const free = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
  if (free) await new Promise<void>((resolve) => server.close(() => resolve()));
  return free;
}

/** No tcpdump left running, and (when given) the port free again. */
export async function assertNothingLeft(where?: { host: string; port: number }): Promise<void> {
  assert.deepEqual(tcpdumpChildren(), [], 'no tcpdump left running');
  if (where !== undefined)
    assert.ok(await portIsFree(where.host, where.port), `${where.host}:${where.port} is free again`);
}
