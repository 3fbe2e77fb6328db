/**
 * Nothing left behind, checked on the system itself (the library keeps no registry of what it
 * opened): no tcpdump started by this process, and a port that can be listened on again.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';

/** Pids of this process's children running `name` (a zombie counts: it was not waited for). */
export function childrenNamed(name: string): number[] {
  const r = spawnSync('pgrep', ['-P', String(process.pid), '-x', name], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(Number);
}

/**
 * Pids of the processes named `name` below `root` (this process by default), at any depth (a
 * zombie counts). tcpdump and `ss -E` run under a guard shell (src/observe/child-reader.ts): grandchildren.
 */
export function descendantsNamed(name: string, root = process.pid): number[] {
  const children = new Map<number, number[]>();
  const names = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read from the last ')'.
    const close = stat.lastIndexOf(')');
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    names.set(Number(entry), stat.slice(stat.indexOf('(') + 1, close));
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      if (names.get(child) === name) found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Pids of the tcpdumps this process started (they run under a guard shell: grandchildren). */
export function tcpdumpChildren(): number[] {
  return descendantsNamed('tcpdump');
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

/** Whether a process with this pid runs (a zombie, dead and not yet reaped, does not). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
