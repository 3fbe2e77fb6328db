/**
 * `npm run bench:busy-host`: the kernel observer on a busy host (issue #8, part 2). Makes 100,000
 * TIME_WAIT sockets on loopback, then times `keepalive-lab demo --json` (the built CLI) reading the
 * socket table with ss and with /proc (ss hidden from its PATH: the fallback), and checks that the
 * counts are exact: in every row all three observers (server, kernel, wire) are there and agree
 * (connections, the side that closed first, the side holding TIME_WAIT). Target: demo under 5 s
 * with 100,000 TIME_WAIT sockets, counts exact.
 *
 * The sockets: short connections from CLIENT_NET.1, .2, ... to a server on SERVER_ADDRESS, each
 * client bound to an explicit port below the ephemeral range (ip_local_port_range), and closing
 * first, so that each leaves a TIME_WAIT socket on its side for 60 s (TCP_TIMEWAIT_LEN). Distinct
 * addresses and ports outside the ephemeral range keep them out of everyone else's way: no 4-tuple
 * and no ephemeral port of other programs is taken. They still count towards
 * net.ipv4.tcp_max_tw_buckets (checked first) and load the kernel's tables, which is the point:
 * other tests running meanwhile see a busy host. Run it under the suite lock:
 *   flock /tmp/kal-suite.lock npm run bench:busy-host
 * At the end they are destroyed with `ss -K` (SOCK_DESTROY, which Linux accepts for TIME_WAIT
 * sockets in recent kernels), or else waited out (at most 60 s, still inside the lock).
 *
 * Usage: npm run bench:busy-host [-- --sockets N] [--runs N] [--keep]   (--keep: leave them to expire)
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Report } from '../src/model/report.js';
import { readSocketTable, type SocketTableSource } from '../src/observe/socket-table.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
/** 127.0.0.0/8 is all loopback (RFC 1122 3.2.1.3); these addresses are used by nothing else here. */
const SERVER_ADDRESS = '127.77.0.1';
const CLIENT_NET = '127.77.1';
/** The lowest client port: below it are the well-known and the commonly configured ones. */
const FIRST_PORT = 2000;
/** Connections in flight at once while making the sockets. */
const CONCURRENCY = 200;
/** Linux's TCP_TIMEWAIT_LEN (include/net/tcp.h): how long a TIME_WAIT socket stays. */
const TIME_WAIT_MS = 60_000;
const TARGET_DEMO_MS = 5000;

const { values } = parseArgs({
  options: {
    sockets: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
  },
});
const wanted = Number(values.sockets);
const runs = Number(values.runs);

function run(program: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(program, args, { maxBuffer: 1 << 30 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
  );
}

/** TIME_WAIT sockets on the whole host, and on our client addresses. */
async function timeWaitCount(): Promise<{ host: number; ours: number }> {
  const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '').length;
  const [host, ours] = await Promise.all([
    run('ss', ['-tanH', 'state', 'time-wait']),
    run('ss', ['-tanH', 'state', 'time-wait', `( src ${CLIENT_NET}.0/24 )`]),
  ]);
  return { host: lines(host), ours: lines(ours) };
}

function sysctl(name: string): string {
  return readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
}

/** Makes `count` TIME_WAIT sockets; resolves with how many connections were made and skipped. */
async function makeTimeWait(count: number): Promise<{ made: number; skipped: number; ms: number }> {
  const ephemeralLow = Number(sysctl('net.ipv4.ip_local_port_range').split(/\s+/)[0]);
  const portsPerAddress = ephemeralLow - FIRST_PORT;
  if (portsPerAddress < 1000) throw new Error(`ip_local_port_range starts at ${ephemeralLow}: too few ports below it`);
  const server = net.createServer({ allowHalfOpen: false }, (socket) => {
    socket.on('error', () => {});
    socket.resume();
  });
  server.listen(0, SERVER_ADDRESS);
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  let next = 0;
  let made = 0;
  let skipped = 0;
  const started = performance.now();
  const connectOne = (index: number) =>
    new Promise<void>((resolve) => {
      const localAddress = `${CLIENT_NET}.${1 + Math.floor(index / portsPerAddress)}`;
      const localPort = FIRST_PORT + (index % portsPerAddress);
      const socket = net.connect({ host: SERVER_ADDRESS, port, localAddress, localPort });
      socket.once('connect', () => socket.end()); // the client closes first: TIME_WAIT on its side
      socket.once('error', () => {
        skipped++; // a port taken by someone (EADDRINUSE): next one
        resolve();
      });
      socket.once('close', (hadError) => {
        if (!hadError) made++;
        resolve();
      });
    });
  const worker = async () => {
    while (made < count && next < count * 2) await connectOne(next++);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await new Promise((resolve) => server.close(resolve));
  return { made, skipped, ms: performance.now() - started };
}

/** A directory of links to every program on the PATH but ss: the demo then reads /proc. */
function pathWithoutSs(): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kal-no-ss-'));
  const seen = new Set<string>();
  for (const from of (process.env.PATH ?? '').split(delimiter)) {
    let names: string[] = [];
    try {
      names = readdirSync(from);
    } catch {
      continue;
    }
    for (const name of names) {
      if (name === 'ss' || seen.has(name)) continue;
      seen.add(name);
      symlinkSync(join(from, name), join(dir, name));
    }
  }
  return { path: dir, dir };
}

interface DemoResult {
  ms: number;
  exact: boolean;
  source: string;
  rows: string[];
}

async function demo(path: string | undefined): Promise<DemoResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'demo', '--json'], {
    env: path === undefined ? process.env : { ...process.env, PATH: path },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`demo exited with ${code}`);
  const report = JSON.parse(out) as Report;
  let exact = true;
  const sources = new Set<string>();
  const rows = report.runs.map((r) => {
    const seen = r.observers.filter((o) => o.available);
    const all = ['server', 'kernel', 'wire'].every((name) => seen.some((o) => o.observer === name));
    if (!all || !r.agreement.agree) exact = false;
    for (const o of r.observers) if (o.socketTable !== undefined) sources.add(o.socketTable);
    const counts = seen
      .map(
        (o) => `${o.observer} ${o.totals.connections} (tw ${o.totals.timeWait.client}c/${o.totals.timeWait.server}s)`,
      )
      .join(', ');
    return `  ${r.agreement.agree && all ? 'ok  ' : 'DIFF'} ${r.name.padEnd(22)} ${counts}${
      r.agreement.agree ? '' : ` -- ${r.agreement.differences.join('; ')}`
    }`;
  });
  return { ms, exact, source: [...sources].join(',') || 'none', rows };
}

/** Median milliseconds of `times` reads of one port's sockets. */
async function readMs(source: SocketTableSource, port: number, times: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await readSocketTable({ source, ports: [port] });
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)] ?? 0;
}

async function cleanUp(): Promise<void> {
  if (!values.keep) {
    // SOCK_DESTROY of our TIME_WAIT sockets; older kernels refuse (or lack CONFIG_INET_DIAG_DESTROY).
    await run('ss', ['-K', '-tanH', 'state', 'time-wait', `( src ${CLIENT_NET}.0/24 )`]).catch(() => '');
  }
  const deadline = Date.now() + TIME_WAIT_MS + 5000;
  let left = (await timeWaitCount()).ours;
  if (left > 0) console.log(`waiting for ${left} TIME_WAIT sockets to expire (at most 60 s)...`);
  while (left > 0 && Date.now() < deadline) {
    await delay(1000);
    left = (await timeWaitCount()).ours;
  }
  console.log(left === 0 ? 'cleaned up: none of our TIME_WAIT sockets left' : `${left} TIME_WAIT sockets left`);
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const limit = Number(sysctl('net.ipv4.tcp_max_tw_buckets'));
  const before = await timeWaitCount();
  console.log(`host: ${before.host} TIME_WAIT sockets already; tcp_max_tw_buckets ${limit}`);
  if (before.host + wanted > limit) {
    // Beyond the limit the kernel closes sockets without TIME_WAIT, for every program: others' tests
    // that count TIME_WAIT sockets would fail, and this run would not have its 100,000.
    console.log(`${before.host} + ${wanted} > tcp_max_tw_buckets: not run; try again when the host is quieter`);
    process.exitCode = 1;
    return;
  }
  const idle = await demo(undefined);
  console.log(`demo, idle host, ${idle.source}: ${fmt(idle.ms)}, counts ${idle.exact ? 'exact' : 'NOT EXACT'}`);

  const made = await makeTimeWait(wanted);
  const after = await timeWaitCount();
  console.log(
    `made ${made.made} connections in ${fmt(made.ms)} (${made.skipped} ports skipped): ` +
      `${after.ours} TIME_WAIT sockets of ours, ${after.host} on the host`,
  );
  const noSs = pathWithoutSs();
  const results: { label: string; result: DemoResult; timeWait: number }[] = [];
  try {
    const probePort = 80;
    console.log(
      `one read of a port's sockets (median of 20): ss ${(await readMs('ss', probePort, 20)).toFixed(1)} ms, ` +
        `/proc ${(await readMs('proc', probePort, 20)).toFixed(1)} ms`,
    );
    runs: for (let i = 0; i < runs; i++) {
      for (const [label, path] of [
        ['ss', undefined],
        ['/proc (no ss on the PATH)', noSs.path],
      ] as const) {
        // The first sockets made expire 60 s after they were made: on a loaded machine, before the runs end.
        const { ours, host } = await timeWaitCount();
        if (ours < wanted) {
          console.log(`only ${ours} of our TIME_WAIT sockets left (they expire after 60 s): no more runs`);
          break runs;
        }
        const result = await demo(path);
        const end = await timeWaitCount();
        results.push({ label, result, timeWait: Math.min(ours, end.ours) });
        console.log(
          `demo, ${host} -> ${end.host} TIME_WAIT on the host, ${label} [read: ${result.source}]: ` +
            `${fmt(result.ms)}, counts ${result.exact ? 'exact' : 'NOT EXACT'}`,
        );
        for (const row of result.rows) console.log(row);
      }
    }
  } finally {
    rmSync(noSs.dir, { recursive: true, force: true });
    await cleanUp();
  }
  const ss = results.filter((r) => r.label === 'ss');
  if (ss.length === 0) {
    console.log('target: not measured (no run had all its TIME_WAIT sockets)');
    process.exitCode = 1;
    return;
  }
  const worst = Math.max(...ss.map((r) => r.result.ms));
  const fewest = Math.min(...ss.map((r) => r.timeWait));
  const ok = ss.every((r) => r.result.exact && r.result.source === 'ss') && worst < TARGET_DEMO_MS;
  console.log(
    `target: demo < ${fmt(TARGET_DEMO_MS)} with ${wanted} TIME_WAIT sockets, counts exact: ` +
      `${ok ? 'met' : 'NOT met'} (ss: worst ${fmt(worst)}, ${fewest} of ours during each run at least)`,
  );
  process.exitCode = ok ? 0 : 1;
}

await main();
