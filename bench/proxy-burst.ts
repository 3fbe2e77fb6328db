/**
 * `npm run bench:proxy-burst`: a thousand connections at once through the proxy (issue 8, part 4:
 * "proxy accept backlog"). wrk opens `--connections` connections together and keeps them busy for
 * `--duration` seconds against nginx (test/support/nginx.ts: one worker, `return 200`), first
 * straight at nginx, then through `keepalive-lab proxy` (the built CLI, its own process, fresh for
 * each run). For each run it prints wrk's timeouts and other socket errors, the 99th percentile of
 * latency, the deepest the proxy's accept queue got (sampled every 20 ms from /proc/net/tcp, where a
 * listening socket's rx_queue is its accept queue; its backlog is ss's Send-Q) and how many times the
 * kernel dropped a connection because an accept queue was full (TcpExt ListenOverflows in
 * /proc/net/netstat, machine-wide: other programs' listeners count too). After each proxied run the
 * proxy is stopped (SIGINT) and its count of requests is checked against wrk's.
 *
 * Goal: 0 timeouts at 1000 connections, as straight at nginx.
 * Usage: npm run bench:proxy-burst [-- --runs N] [--connections N] [--duration S] [--timeout S]
 * Run it under the shared lock (flock /tmp/kal-suite.lock), alone on the machine.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startNginx } from '../test/support/nginx.js';
import { run, startProxyCli } from './proxy-cli.js';

const HOST = '127.0.0.1';
/** The accept queue is sampled this often while wrk runs. */
const SAMPLE_MS = 20;
/** TCP_LISTEN in /proc/net/tcp's st column (include/net/tcp_states.h). */
const TCP_LISTEN = '0A';

interface WrkResult {
  requests: number;
  timeouts: number;
  /** connect, read and write errors (wrk's "Socket errors" less the timeouts). */
  otherErrors: number;
  p99Ms: number;
  maxMs: number;
}

interface RunResult extends WrkResult {
  path: 'nginx' | 'proxy';
  overflows: number;
  /** Deepest accept queue of the proxy's listener seen, and its backlog (null: straight at nginx). */
  queueMax: number | null;
  backlog: number | null;
  /** Sampled time with the accept queue at 90% of the backlog or more (ms). */
  queueFullMs: number | null;
  counted: string | null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      connections: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '10' },
      timeout: { type: 'string', default: '5' },
    },
  });
  const runs = Math.max(1, Number(values.runs));
  const wrkArgs = (url: string) => [
    '-t2',
    `-c${values.connections}`,
    `-d${values.duration}s`,
    '--timeout',
    `${values.timeout}s`,
    '--latency',
    url,
  ];
  console.log(
    `bench:proxy-burst — wrk ${wrkArgs('URL').join(' ')}, nginx (1 worker), ${runs} run(s) each; ` +
      `somaxconn ${readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()}`,
  );
  const nginx = await startNginx(HOST);
  const results: RunResult[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      results.push(await direct(nginx.url, wrkArgs));
      results.push(await proxied(nginx.port, wrkArgs));
    }
  } finally {
    await nginx.stop();
  }
  const rows = [
    ['path', 'requests', 'timeouts', 'other errors', 'p99', 'max', 'ListenOverflows', 'accept queue max', 'counted'],
    ...results.map((r) => [
      r.path,
      String(r.requests),
      String(r.timeouts),
      String(r.otherErrors),
      `${r.p99Ms.toFixed(1)} ms`,
      `${r.maxMs.toFixed(1)} ms`,
      String(r.overflows),
      r.queueMax === null ? '-' : `${r.queueMax}/${r.backlog} (${r.queueFullMs} ms >= 90%)`,
      r.counted ?? '-',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows)
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  const proxiedRuns = results.filter((r) => r.path === 'proxy');
  const timeouts = proxiedRuns.map((r) => r.timeouts);
  console.log(
    `\ngoal: 0 timeouts through the proxy: ${timeouts.every((t) => t === 0) ? 'met' : 'MISSED'} ` +
      `(${timeouts.join(', ')})`,
  );
}

async function direct(url: string, wrkArgs: (url: string) => string[]): Promise<RunResult> {
  const before = listenOverflows();
  const wrk = await run('wrk', wrkArgs(url));
  const result = parseWrk(wrk);
  return {
    path: 'nginx',
    ...result,
    overflows: listenOverflows() - before,
    queueMax: null,
    backlog: null,
    queueFullMs: null,
    counted: null,
  };
}

async function proxied(targetPort: number, wrkArgs: (url: string) => string[]): Promise<RunResult> {
  const proxy = await startProxyCli(targetPort, ['--json']);
  try {
    const before = listenOverflows();
    const sampler = sampleQueue(proxy.port);
    const wrk = await run('wrk', wrkArgs(`http://${HOST}:${proxy.port}/`));
    const queue = sampler.stop();
    const overflows = listenOverflows() - before;
    await proxy.stop();
    const report = JSON.parse(proxy.stdout()) as {
      runs: { observers: { totals: { requests: number; connections: number } }[] }[];
    };
    const totals = report.runs[0]!.observers[0]!.totals;
    // wrk counts completed requests; up to one per connection may still be in flight when it stops.
    return {
      path: 'proxy',
      ...parseWrk(wrk),
      overflows,
      ...queue,
      counted: `${totals.requests} requests over ${totals.connections} connections`,
    };
  } finally {
    proxy.kill();
  }
}

/** Samples the accept queue of the listener on `port` until stop(). */
function sampleQueue(port: number): {
  stop(): { queueMax: number; backlog: number; queueFullMs: number };
} {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let queueMax = 0;
  const ss = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).stdout ?? '';
  const backlog = Number(ss.trim().split(/\s+/)[2] ?? NaN);
  let full = 0;
  const timer = setInterval(() => {
    for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(local) !== true || f[3] !== TCP_LISTEN) continue;
      const rx = parseInt(f[4]!.split(':')[1]!, 16);
      queueMax = Math.max(queueMax, rx);
      if (rx >= 0.9 * backlog) full++;
    }
  }, SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      return { queueMax, backlog, queueFullMs: full * SAMPLE_MS };
    },
  };
}

/** TcpExt ListenOverflows: connections dropped because an accept queue was full (machine-wide). */
function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i]!.startsWith('TcpExt:')) continue;
    const names = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/);
    const at = names.indexOf('ListenOverflows');
    if (at > 0) return Number(values[at]);
  }
  return 0;
}

function parseWrk(stdout: string): WrkResult {
  const total = /(\d+) requests in /.exec(stdout);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(stdout);
  const max = /^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/m.exec(stdout);
  if (!total || !p99 || !max) throw new Error(`cannot read wrk's output:\n${stdout}`);
  const [connect, read, write, timeout] = errors ? errors.slice(1).map(Number) : [0, 0, 0, 0];
  return {
    requests: Number(total[1]),
    timeouts: timeout!,
    otherErrors: connect! + read! + write!,
    p99Ms: toMs(p99[1]!, p99[2]!),
    maxMs: toMs(max[1]!, max[2]!),
  };
}

function toMs(value: string, unit: string): number {
  return Number(value) * (unit === 'us' ? 1e-3 : unit === 's' ? 1000 : 1);
}

await main();
