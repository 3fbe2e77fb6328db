/**
 * Records real captures for integration tests: real tcpdump on a real interface while real clients
 * (curl, ab) talk to a real server, and tshark's own counts of the same file to compare with.
 *
 * tcpdump runs with --immediate-mode (without it nothing is written before it is killed), -U (each
 * packet is flushed to the file) and -B 16384: `-i any` cannot know the MTU and sizes its ring for
 * 256 KiB frames, so the default 2 MiB buffer holds 8 of them and a burst of loopback packets is
 * "dropped by kernel"; -s 4096 (these tests' packets are small) makes each ring frame 4 KiB, and
 * even then tshark is asked whether segments went missing. Every process started here is stopped
 * before the call returns, or by the returned close().
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerCaptureFile } from './tshark-check.js';

export interface Recording {
  path: string;
  /** tcpdump's own summary: "N packets captured", "M packets dropped by kernel". */
  captured: number;
  dropped: number;
}

export interface RecordOptions {
  /** Output file. */
  path: string;
  /** Captured with the BPF filter `tcp port P`... */
  port: number;
  /** ...and these ports too (the hops of a path: a load balancer's port, then its backend's). */
  morePorts?: number[];
  /** 'lo' (Ethernet framing, link type 1) or 'any' (Linux cooked v2, link type 276). */
  iface?: string;
  /** Longest the whole recording may take. */
  timeoutMs?: number;
  /** tcpdump -s: bytes kept of each frame (default 4096; 96 keeps 30 bytes of a loopback segment's payload). */
  snaplen?: number;
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion (killed after `timeoutMs`), never through a shell; `env` is added to
 * this process's environment.
 */
export function runTool(
  command: string,
  args: readonly string[],
  timeoutMs = 20_000,
  env: Record<string, string> = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Why these tools cannot run here, or false. In CI a missing tool is a failure, not a skip. */
export function toolSkip(...tools: string[]): string | false {
  const missing = tools.filter((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).error !== undefined);
  if (missing.length === 0) return false;
  const reason = `not installed: ${missing.join(', ')}`;
  if (process.env.CI) throw new Error(`CI must have the capture tools: ${reason}`);
  return reason;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`; resolves once it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/** Waits until the file has not grown for `quietMs` (the last FIN/ACKs are written), at most `maxMs`. */
async function settle(path: string, quietMs = 200, maxMs = 3000): Promise<void> {
  let size = -1;
  let since = Date.now();
  for (const end = Date.now() + maxMs; Date.now() < end; await sleep(25)) {
    const now = (await stat(path).catch(() => null))?.size ?? 0;
    if (now !== size) {
      size = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
  }
}

/** Starts tcpdump, waits until it listens, runs `traffic`, lets the last packets in, stops it. */
export async function recordTraffic(options: RecordOptions, traffic: () => Promise<void>): Promise<Recording> {
  const args = [
    '-i',
    options.iface ?? 'lo',
    '-n',
    '--immediate-mode',
    '-U',
    '-B',
    '16384',
    '-s',
    String(options.snaplen ?? 4096),
    '-w',
    options.path,
    [options.port, ...(options.morePorts ?? [])].map((p) => `tcp port ${p}`).join(' or '),
  ];
  const child = spawn('tcpdump', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const deadline = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = () => {
        if (/listening on/.test(stderr)) done(null);
      };
      const onExit = () => done(new Error(`tcpdump exited before listening: ${stderr.trim()}`));
      const timer = setTimeout(() => done(new Error(`tcpdump did not listen within 10 s: ${stderr.trim()}`)), 10_000);
      const done = (error: Error | null) => {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        child.off('exit', onExit);
        if (error) reject(error);
        else resolve();
      };
      child.stderr!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', (e) => done(e));
    });
    await traffic();
    await settle(options.path);
  } finally {
    await stopProcess(child);
    clearTimeout(deadline);
  }
  const captured = /(\d+) packets? captured/.exec(stderr);
  const dropped = /(\d+) packets? dropped by kernel/.exec(stderr);
  if (!captured) throw new Error(`tcpdump said no packet count: ${stderr.trim()}`);
  registerCaptureFile(options.path);
  return { path: options.path, captured: Number(captured[1]), dropped: dropped ? Number(dropped[1]) : 0 };
}

/** Resolves once something accepts connections on 127.0.0.1:port (polling, at most `timeoutMs`). */
export async function waitForListener(port: number, timeoutMs = 10_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; ; await sleep(50)) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
  }
}

/**
 * `python3 -m http.server` (HTTP/1.0: one connection per request) serving `dir`, on a port the
 * kernel picks (port 0; read back from its banner). Picking a "free" port first and passing it
 * races with every other test binding ephemeral ports: under load another test's server got it,
 * and our clients' requests landed there.
 */
export async function startPythonServer(dir: string): Promise<{ port: number; close(): Promise<void> }> {
  const child = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('python3 -m http.server did not start within 10 s')), 10_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = / port (\d+) /.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`python3 -m http.server exited with ${code}`));
      });
    });
    child.stdout!.resume();
    await waitForListener(port);
    return { port, close: () => stopProcess(child) };
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
}

/** tshark's view of one TCP connection (a tcp.stream). */
export interface TsharkStream {
  clientPort: number;
  /** SYNs without ACK in the stream. */
  syns: number;
  /** HTTP requests tshark dissected (http.request). */
  requests: number;
  statusCodes: number[];
  /** Who sent the first FIN, by the server's port. */
  firstFin: 'client' | 'server' | null;
  resets: number;
}

export interface TsharkView {
  /** Lines of `-z conv,tcp`: one per TCP conversation. */
  conversations: number;
  streams: TsharkStream[];
  frames: number;
  /** Frames tshark flags with "Previous segment(s) not captured" or "ACKed segment that wasn't captured". */
  lostSegments: number;
}

/**
 * One tshark pass over the file: per-frame fields (tcp.stream, flags, http.request,
 * http.response.code) with the server port decoded as HTTP, and the `-z conv,tcp` table.
 */
export async function tsharkView(path: string, serverPort: number): Promise<TsharkView> {
  const fields = [
    'tcp.stream',
    'tcp.flags.syn',
    'tcp.flags.ack',
    'tcp.flags.fin',
    'tcp.flags.reset',
    'tcp.srcport',
    'tcp.dstport',
    'http.request',
    'http.response.code',
    '_ws.expert.message',
  ];
  const args = [
    '-r',
    path,
    '-n',
    '-d',
    `tcp.port==${serverPort},http`,
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=a',
    ...fields.flatMap((f) => ['-e', f]),
    '-z',
    'conv,tcp',
  ];
  const r = await runTool('tshark', args, 60_000);
  if (r.code !== 0) throw new Error(`tshark failed (${r.code}): ${r.stderr}`);
  const streams = new Map<number, TsharkStream>();
  let conversations = 0;
  let frames = 0;
  let lostSegments = 0;
  for (const line of r.stdout.split('\n')) {
    if (line.includes('<->')) {
      conversations++;
      continue;
    }
    const cols = line.split('\t');
    if (cols.length !== fields.length || !/^\d+$/.test(cols[0]!)) continue;
    frames++;
    const [stream, syn, ack, fin, rst, src, dst, request, status, expert] = cols as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (/not captured|wasn't captured/.test(expert)) lostSegments++;
    const fromServer = Number(src) === serverPort;
    let s = streams.get(Number(stream));
    if (s === undefined) {
      s = {
        clientPort: fromServer ? Number(dst) : Number(src),
        syns: 0,
        requests: 0,
        statusCodes: [],
        firstFin: null,
        resets: 0,
      };
      streams.set(Number(stream), s);
    }
    const on = (v: string) => v === '1' || v === 'True';
    if (on(syn) && !on(ack)) s.syns++;
    if (on(fin) && s.firstFin === null) s.firstFin = fromServer ? 'server' : 'client';
    if (on(rst)) s.resets++;
    if (request !== '') s.requests += request.split(',').length;
    if (status !== '') s.statusCodes.push(...status.split(',').map(Number));
  }
  return { conversations, streams: [...streams.values()], frames, lostSegments };
}
