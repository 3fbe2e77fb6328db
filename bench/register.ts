/**
 * `npm run bench:register`: what the in-process tracker (register) costs an app. 10,000 sequential
 * keep-alive requests (default) with node:http and with fetch against an in-process lab server, in
 * one process per mode, each set up once for the whole run, as an app is:
 *  - `untracked`: the tracker's module never loaded (the reference);
 *  - `untracked-2`: the same again, in another process: what two processes differ by without any
 *    tracking (code layout, heap), the noise floor of the other rows;
 *  - `loaded`: the tracker's module loaded, nothing subscribed (Node's channels then have no
 *    subscriber, so none of our code runs: the "0% measurable when loaded");
 *  - `tracked`: trackConnections() with the register's defaults (call sites on);
 *  - `no-stacks`: trackConnections({ stackTraces: false }) (KEEPALIVE_LAB_STACKS=0).
 * A tracker is never subscribed and unsubscribed between rounds: a channel's subscribe changes its
 * prototype and V8 then re-optimizes node:http's and undici's code that checks it (in one process,
 * toggling tracking per round measured +10% where the steady state costs about 2%), a cost no app
 * pays. The parent asks each process for a round in turn (one at a time: they never run together;
 * the order rotates), so a neighbour's load hits the modes of one round alike. Per round, each
 * mode's CPU (process.cpuUsage: the client's and the in-process server's) is divided by the
 * untracked process's; the median of those per-round ratios is the overhead (target: at most 2%).
 * Then the memory per tracked socket (in a fresh process, after a GC: --expose-gc, as the npm script
 * runs it): N idle keep-alive sockets that carried one request, tracked and not; and sockets that
 * carried 1,000 requests each (the most a connection's record keeps).
 *
 * Usage: npm run bench:register [-- --requests N] [--rounds N] [--sockets N]
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { startLabServer } from '../src/lab/server.js';
import { CHANNELS } from '../src/observe/in-process/channels.js';

const TARGET_OVERHEAD = 0.02;
const CLIENTS = ['node:http', 'fetch'] as const;
type Client = (typeof CLIENTS)[number];
const MODES = ['untracked', 'untracked-2', 'loaded', 'tracked', 'no-stacks'] as const;
type Mode = (typeof MODES)[number];
/** Requests per socket of the second memory figure (the cap of a record's per-request lists). */
const REQUESTS_PER_LONG_SOCKET = 1000;
const LONG_SOCKETS = 10;

const WHAT: Record<Mode, string> = {
  untracked: 'module not loaded (reference)',
  'untracked-2': 'the same, another process: the noise floor',
  loaded: 'module loaded, nothing subscribed',
  tracked: 'trackConnections(), defaults (call sites on)',
  'no-stacks': 'trackConnections({ stackTraces: false })',
};

interface RoundRequest {
  client: Client;
  requests: number;
}
interface Sample {
  wallUs: number;
  cpuUs: number;
}

function median(list: number[]): number {
  const s = [...list].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function getter(url: string): (agent: http.Agent) => Promise<void> {
  return (agent) =>
    new Promise<void>((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
}

/** A process of one mode: answers each round request with its sample. */
async function child(mode: Mode): Promise<void> {
  if (mode === 'loaded') {
    await import('../src/observe/in-process/tracker.js');
    for (const name of Object.values(CHANNELS))
      if (dc.hasSubscribers(name)) throw new Error(`channel ${name} has a subscriber`);
  }
  if (mode === 'tracked' || mode === 'no-stacks') {
    const { trackConnections } = await import('../src/observe/in-process/tracker.js');
    trackConnections({ stackTraces: mode === 'tracked' });
  }
  const server = await startLabServer({ keepAliveTimeoutMs: 600_000, bodySize: 64 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = getter(server.url);
  const fetchOne = async () => {
    const res = await fetch(server.url);
    await res.arrayBuffer();
  };
  const send: Record<Client, () => Promise<void>> = { 'node:http': () => get(agent), fetch: fetchOne };
  process.on('message', (m: RoundRequest | 'exit') => {
    if (m === 'exit') {
      agent.destroy();
      void server.close().then(() => process.disconnect());
      return;
    }
    void (async () => {
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < m.requests; i++) await send[m.client]();
      const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      process.send!({ wallUs, cpuUs: cpu.user + cpu.system } satisfies Sample);
    })();
  });
  process.send!('ready');
}

/** Memory per tracked socket, in a process of its own (the heap with and without tracking, same process). */
async function memoryChild(sockets: number): Promise<void> {
  const { trackConnections } = await import('../src/observe/in-process/tracker.js');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    process.send!({ text: 'memory: run with node --expose-gc to measure it' });
    process.disconnect();
    return;
  }
  const server = await startLabServer({ keepAliveTimeoutMs: 600_000, bodySize: 64 });
  const get = getter(server.url);
  /** The heap with `count` idle keep-alive sockets open, each having carried `each` requests. */
  const heapWith = async (track: boolean, count: number, each: number): Promise<number> => {
    const tracker = track ? trackConnections() : null;
    const pool = new http.Agent({ keepAlive: true, maxSockets: count, maxFreeSockets: count });
    // All at once: each request of a batch has a socket of its own, idle in the pool afterwards.
    for (let i = 0; i < each; i++) await Promise.all(Array.from({ length: count }, () => get(pool)));
    await new Promise((r) => setTimeout(r, 50));
    gc();
    const heap = process.memoryUsage().heapUsed;
    const open = tracker?.openConnections ?? count;
    pool.destroy();
    await new Promise((r) => setTimeout(r, 100));
    tracker?.dispose();
    if (track && open < count * 0.9) process.send!({ text: `(only ${open} sockets were open at once)` });
    return heap;
  };
  // Interleaved, `times` each: the median difference per socket.
  const perSocket = async (count: number, each: number, times: number): Promise<number> => {
    const diffs: number[] = [];
    for (let i = 0; i < times; i++) {
      const without = await heapWith(false, count, each);
      const withTracking = await heapWith(true, count, each);
      diffs.push(withTracking - without);
    }
    return median(diffs) / count;
  };
  const idle = await perSocket(sockets, 1, 2);
  const long = await perSocket(LONG_SOCKETS, REQUESTS_PER_LONG_SOCKET, 1);
  process.send!({
    text:
      `memory per tracked socket (heap with tracking minus without, after a GC): ~${Math.round(idle)} bytes ` +
      `(${sockets} idle keep-alive sockets that carried one request each); ~${Math.round(long)} bytes ` +
      `(${LONG_SOCKETS} that carried ${REQUESTS_PER_LONG_SOCKET} requests each: their records' per-request ` +
      'lists, idle gaps and status codes, are full, the most a socket holds)',
  });
  await server.close();
  process.disconnect();
}

function start(args: string[]): Promise<ChildProcess> {
  const proc = fork(process.argv[1]!, args, {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`bench process ${args.join(' ')} exited with ${code}`)));
    proc.once('message', () => resolve(proc));
  });
}

/** One round in `proc`; rejects if it dies instead of answering (rather than waiting for ever). */
function ask(proc: ChildProcess, request: RoundRequest): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const died = (code: number | null) => reject(new Error(`bench process exited with ${code} during a round`));
    proc.once('exit', died);
    proc.once('message', (m: Sample) => {
      proc.off('exit', died);
      resolve(m);
    });
    proc.send(request);
  });
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '10000' },
      rounds: { type: 'string', default: '40' },
      sockets: { type: 'string', default: '1000' },
    },
  });
  const requests = Number(values.requests);
  const rounds = Number(values.rounds);
  const perRound = Math.max(1, Math.floor(requests / rounds));
  const procs = new Map<Mode, ChildProcess>();
  const samples = new Map<string, Sample[]>();
  try {
    for (const mode of MODES) procs.set(mode, await start(['--child', mode]));

    // Warm-up: every process, both clients (JIT, the sockets).
    for (const mode of MODES) for (const client of CLIENTS) await ask(procs.get(mode)!, { client, requests: 1000 });

    for (let r = 0; r < rounds; r++)
      for (const client of CLIENTS) {
        // The order rotates: each mode runs first, last and between as often.
        const order = MODES.map((_, i) => MODES[(i + r) % MODES.length]!);
        if (r % 2 === 1) order.reverse();
        for (const mode of order) {
          const key = `${client} ${mode}`;
          const list = samples.get(key) ?? [];
          list.push(await ask(procs.get(mode)!, { client, requests: perRound }));
          samples.set(key, list);
        }
      }
  } catch (error) {
    // One process failed: the others hold a server and the IPC channel, and would outlive the bench.
    for (const proc of procs.values()) proc.kill();
    throw error;
  }
  for (const proc of procs.values()) {
    proc.removeAllListeners('exit');
    proc.send('exit');
  }

  console.log(
    `${rounds} rounds x ${perRound} sequential keep-alive requests per client and mode, ` +
      'one process per mode, rounds interleaved',
  );
  console.log('client      mode          wall us/req  cpu us/req  cpu ratio (median of rounds)  target');
  const perRequest = (list: Sample[], pick: (s: Sample) => number) => median(list.map(pick)) / perRound;
  for (const client of CLIENTS) {
    const ref = samples.get(`${client} untracked`)!;
    for (const mode of MODES) {
      const list = samples.get(`${client} ${mode}`)!;
      const w = perRequest(list, (s) => s.wallUs);
      const c = perRequest(list, (s) => s.cpuUs);
      const line = `${client.padEnd(11)} ${mode.padEnd(12)} ${w.toFixed(1).padStart(12)}  ${c.toFixed(1).padStart(10)}`;
      if (mode === 'untracked') {
        console.log(`${line}  ${'1 (reference)'.padEnd(28)}  ${WHAT[mode]}`);
        continue;
      }
      const r = median(list.map((x, i) => x.cpuUs / ref[i]!.cpuUs)) - 1;
      const pct = `${r >= 0 ? '+' : ''}${(r * 100).toFixed(1)}% (${(r * c).toFixed(1)} us)`;
      const verdict =
        mode === 'untracked-2' ? '' : `<= ${TARGET_OVERHEAD * 100}%: ${r <= TARGET_OVERHEAD ? 'met' : 'NOT met'}; `;
      console.log(`${line}  ${pct.padEnd(28)}  ${verdict}${WHAT[mode]}`);
    }
  }

  const memory = fork(process.argv[1]!, ['--memory', values.sockets], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  memory.on('message', (m: { text: string }) => console.log(m.text));
  await new Promise((resolve) => memory.once('exit', resolve));
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') await child(argv[1] as Mode);
else if (argv[0] === '--memory') await memoryChild(Number(argv[1]));
else await parent();
