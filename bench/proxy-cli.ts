/**
 * What the proxy benchmarks share: the built `keepalive-lab proxy` started in its own process, and a
 * load generator run to its end.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';
const CLI = join(fileURLToPath(new URL('../../', import.meta.url)), 'dist', 'src', 'cli', 'main.js');

export interface ProxyProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** What it printed on stdout (empty when stdout went to a file). */
  stdout(): string;
  /** SIGINT, as Ctrl-C: it reports and exits; rejects unless it exits with 0. */
  stop(): Promise<void>;
  /** SIGKILL if it still runs (for finally blocks). */
  kill(): void;
}

/**
 * `keepalive-lab proxy --listen 127.0.0.1:0 --target 127.0.0.1:PORT ...args`, once it listens.
 * `stdout`: a file descriptor for its report, or 'pipe' to keep it in memory.
 */
export async function startProxyCli(
  targetPort: number,
  args: string[],
  stdout: number | 'pipe' = 'pipe',
): Promise<ProxyProcess> {
  const child = spawn(
    process.execPath,
    [CLI, 'proxy', '--listen', `${HOST}:0`, '--target', `${HOST}:${targetPort}`, ...args],
    {
      stdio: ['ignore', stdout, 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const kill = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  let port = 0;
  for (let i = 0; i < 500 && port === 0; i++) {
    const m = /listening on [\d.]+:(\d+)/.exec(err);
    if (m) port = Number(m[1]);
    else if (child.exitCode !== null) break;
    else await delay(10);
  }
  if (port === 0) {
    kill();
    throw new Error(`keepalive-lab proxy did not start:\n${err}`);
  }
  return {
    child,
    pid: child.pid!,
    port,
    stdout: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const code = await exited;
      if (code !== 0) throw new Error(`keepalive-lab proxy exited with ${code}:\n${err}`);
    },
    kill,
  };
}

/** Runs `command` to its end; its stdout, or an error with both outputs when it fails. */
export async function run(command: string, args: string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${out}\n${err}`);
  return out;
}
