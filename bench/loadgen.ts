/**
 * `npm run bench:loadgen`: is our load generator (src/lab/loadgen.ts, what `bench` runs) the
 * bottleneck? wrk, autocannon and ours, keep-alive, same connections and duration, one after the other
 * in one run, against two servers:
 *   nginx   nginx-light, one worker, `return 200` (test/support/nginx.ts)   target: ours >= 1.5x autocannon
 *   lab     the lab server (src/lab/server.ts) in a child process           target: ours >= autocannon
 * Every load generator and every server has a process of its own (ours too: this file run with
 * --ours), so none shares an event loop with another; on a 2-CPU machine they still share the CPUs.
 * wrk runs one thread (-t1), as the two Node ones do. Each (server, tool) is measured `--rounds`
 * times, the tools' order rotated each round; the table shows the median requests/s, and the CPU
 * time each tool's process spent per request (the Node ones report their own, process.cpuUsage(),
 * start-up included; wrk's is read from /proc/PID/stat every 20 ms), which what else runs on the
 * machine disturbs far less than requests/s: a load generator's cost, whatever the server's speed.
 * autocannon runs through its programmatic API in a child process (its bin would add its own
 * progress and table printing).
 *
 * Usage: npm run bench:loadgen [-- --duration S] [--connections N] [--rounds N] [--only nginx|lab]
 *        [--warmup S] [--prof]   (ours under node --cpu-prof; the directory is printed)
 * Run it under the lock: flock /tmp/kal-suite.lock npm run bench:loadgen
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad } from '../src/lab/loadgen.js';
import { startLabServer } from '../src/lab/server.js';
import { table } from '../src/report/text.js';
import { startNginx } from '../test/support/nginx.js';

const HOST = '127.0.0.1';
const SELF = fileURLToPath(import.meta.url);
/** Targets of issue 12: ours against autocannon. */
const TARGETS: Record<ServerName, number> = { nginx: 1.5, lab: 1.0 };

type ServerName = 'nginx' | 'lab';
type Tool = 'wrk' | 'autocannon' | 'ours';
const TOOLS: readonly Tool[] = ['wrk', 'autocannon', 'ours'];

interface Measure {
  rps: number;
  requests: number;
  errors: number;
  /** CPU time the load generator's process spent per request (user + system, all threads), µs. */
  cpuUsPerRequest: number;
}

let profileDir: string | null = null;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '1' },
      warmup: { type: 'string', default: '1' },
      only: { type: 'string' },
      prof: { type: 'boolean', default: false },
      // Internal: the child processes.
      ours: { type: 'string' },
      autocannon: { type: 'string' },
      'lab-server': { type: 'boolean', default: false },
    },
  });
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  if (values.ours !== undefined) return oursChild(values.ours, connections, duration);
  if (values.autocannon !== undefined) return autocannonChild(values.autocannon, connections, duration);
  if (values['lab-server']) return labServerChild();
  if (values.prof) profileDir = mkdtempSync(join(tmpdir(), 'kal-bench-loadgen-prof-'));
  const rounds = Math.max(1, Number(values.rounds));
  const warmup = Number(values.warmup);
  if (spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error !== undefined)
    throw new Error('bench:loadgen needs wrk (apt install wrk)');

  console.log(
    `bench:loadgen — node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? '?'}); ` +
      `keep-alive, ${connections} connections, ${duration} s per run, median of ${rounds} round(s)`,
  );
  console.log('each tool and each server in a process of its own; they share the CPUs (and with whatever else runs)\n');

  const rows: string[][] = [
    [
      'server',
      'wrk req/s',
      'autocannon req/s',
      'ours req/s',
      'ours/autocannon',
      'ours/wrk',
      'CPU µs/req: wrk',
      'autocannon',
      'ours',
    ],
  ];
  const verdicts: string[] = [];
  const spreads: string[] = [];
  const servers: { name: ServerName; start(): Promise<{ url: string; stop(): Promise<void> }> }[] = [
    // One worker, no master, `return 200` from memory; no cap on requests per connection (1000 by default).
    { name: 'nginx', start: () => startNginx(HOST, { keepaliveRequests: 1_000_000 }) },
    { name: 'lab', start: startLabChild },
  ];
  for (const server of servers) {
    if (values.only !== undefined && values.only !== server.name) continue;
    const running = await server.start();
    try {
      // Warm the server up (nginx's caches, the lab server's JIT) with the reference tool.
      await run('wrk', ['-t1', `-c${connections}`, `-d${warmup}s`, running.url]);
      const results: Record<Tool, Measure[]> = { wrk: [], autocannon: [], ours: [] };
      for (let round = 0; round < rounds; round++) {
        for (let k = 0; k < TOOLS.length; k++) {
          const tool = TOOLS[(round + k) % TOOLS.length]!;
          if (process.stderr.isTTY)
            process.stderr.write(`\r\x1b[K${server.name}: round ${round + 1}/${rounds}, ${tool}...`);
          const m = await measure(tool, running.url, connections, duration);
          if (m.errors > 0) console.error(`\n${server.name} ${tool}: ${m.errors} errors`);
          results[tool].push(m);
        }
      }
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      const med = (tool: Tool) => median(results[tool].map((m) => m.rps));
      const [wrk, autocannon, ours] = [med('wrk'), med('autocannon'), med('ours')];
      const cpu = (tool: Tool) => median(results[tool].map((m) => m.cpuUsPerRequest));
      rows.push([
        server.name,
        fmt(wrk),
        fmt(autocannon),
        fmt(ours),
        ratio(ours / autocannon),
        ratio(ours / wrk),
        cpu('wrk').toFixed(1),
        cpu('autocannon').toFixed(1),
        cpu('ours').toFixed(1),
      ]);
      spreads.push(
        `${server.name} runs: ` + TOOLS.map((t) => `${t} ${results[t].map((m) => fmt(m.rps)).join(', ')}`).join('; '),
      );
      const target = TARGETS[server.name];
      verdicts.push(
        `target ${server.name.padEnd(5)}: ours/autocannon ${ratio(ours / autocannon)} (>= ${ratio(target)}) ` +
          `${ours / autocannon >= target ? 'met' : 'MISSED'}; requests per CPU second, ours/autocannon ` +
          `${ratio(cpu('autocannon') / cpu('ours'))}, ours/wrk ${ratio(cpu('wrk') / cpu('ours'))}`,
      );
    } finally {
      await running.stop();
    }
  }
  console.log(table(rows, ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right']));
  console.log('');
  for (const line of spreads) console.log(line);
  console.log('');
  for (const line of verdicts) console.log(line);
  if (profileDir !== null) console.log(`\nCPU profiles of ours: ${profileDir}`);
}

async function measure(tool: Tool, url: string, connections: number, duration: number): Promise<Measure> {
  switch (tool) {
    case 'wrk': {
      let cpuTicks = 0;
      const out = await run('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, url], (pid) => {
        cpuTicks = Math.max(cpuTicks, cpuTicksOf(pid));
      });
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const total = /(\d+) requests in /.exec(out);
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
      if (!rps || !total) throw new Error(`cannot read wrk's output:\n${out}`);
      const errors = (socketErrors?.slice(1) ?? []).reduce((a, n) => a + Number(n), 0) + Number(non2xx?.[1] ?? 0);
      const requests = Number(total[1]);
      return { rps: Number(rps[1]), requests, errors, cpuUsPerRequest: (cpuTicks * US_PER_TICK) / requests };
    }
    case 'autocannon':
      return measureInChild([], '--autocannon', url, connections, duration);
    case 'ours': {
      const prof =
        profileDir === null
          ? []
          : ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `ours-${Date.now()}.cpuprofile`];
      return measureInChild(prof, '--ours', url, connections, duration);
    }
  }
}

/** Runs this script with `flag` (--autocannon, --ours) in a child Node process: the Measure it prints. */
async function measureInChild(
  nodeArgs: string[],
  flag: string,
  url: string,
  connections: number,
  duration: number,
): Promise<Measure> {
  const args = [...nodeArgs, SELF, flag, url, '--connections', String(connections), '--duration', String(duration)];
  return JSON.parse(await run(process.execPath, args)) as Measure;
}

/** --ours URL: our load generator, keep-alive, in this (child) process; prints a Measure. */
async function oursChild(url: string, connections: number, duration: number): Promise<void> {
  const { result } = await runLoad(new URL(url), { mode: 'keep-alive', connections, durationMs: duration * 1000 });
  const m: Measure = {
    rps: result.requestsPerSecond,
    requests: result.requests,
    errors: result.errors + result.non2xx,
    cpuUsPerRequest: cpuUs() / result.requests,
  };
  process.stdout.write(JSON.stringify(m) + '\n');
}

/** --autocannon URL: autocannon's programmatic API in this (child) process; prints a Measure. */
async function autocannonChild(url: string, connections: number, duration: number): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as (options: object) => Promise<AutocannonResult>;
  const r = await autocannon({ url, connections, duration });
  const m: Measure = {
    rps: r.requests.total / r.duration,
    requests: r.requests.total,
    errors: r.errors + r.non2xx,
    cpuUsPerRequest: cpuUs() / r.requests.total,
  };
  process.stdout.write(JSON.stringify(m) + '\n');
}

interface AutocannonResult {
  requests: { total: number };
  /** Seconds. */
  duration: number;
  errors: number;
  non2xx: number;
}

/** CPU time this process has used so far (user + system, every thread), µs: start-up included, as for the others. */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux). */
const US_PER_TICK = 10_000;

/** utime + stime of a process, in clock ticks (0 once it is gone). */
function cpuTicksOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5), counted from the state (field 3) here.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** --lab-server: the lab server (defaults, as `bench` starts it), its URL on stdout, until SIGTERM. */
async function labServerChild(): Promise<void> {
  const server = await startLabServer();
  process.stdout.write(`listening ${server.url}\n`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

async function startLabChild(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [SELF, '--lab-server'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('close', (code) => reject(new Error(`the lab server exited with ${code} before listening`)));
  });
  return {
    url,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** How often a tool's CPU time is read while it runs (the last read is at most this old when it exits). */
const CPU_POLL_MS = 20;

async function run(command: string, args: string[], poll?: (pid: number) => void): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = poll === undefined ? null : setInterval(() => poll(child.pid!), CPU_POLL_MS);
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (timer !== null) clearInterval(timer);
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${out}\n${err}`);
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const fmt = (n: number) => String(Math.round(n));
const ratio = (r: number) => `${r.toFixed(2)}x`;

await main();
