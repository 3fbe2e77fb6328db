/**
 * `npm run bench:register`: what the in-process tracker (register) costs an app. 10,000 sequential
 * keep-alive requests (default) with node:http and with fetch against the in-process lab server, in
 * interleaved rounds in one process, per mode:
 *  - `untracked`: nothing subscribed (the reference);
 *  - `loaded`: the same, a second set of rounds: the tracker's module is loaded in this process and
 *    nobody subscribes, so Node's channels have no subscriber and none of our code runs (checked
 *    after every tracked round: every channel's `hasSubscribers` is false). Its ratio to `untracked`
 *    is the "0% measurable when loaded", and the noise floor of this bench;
 *  - `tracked`: trackConnections() with the register's defaults (call sites on);
 *  - `no-stacks`: trackConnections({ stackTraces: false }) (KEEPALIVE_LAB_STACKS=0).
 * Each round starts with perRound/2 requests not measured (see round()). The modes of one round run
 * back to back (the order rotates from round to round), so a neighbour's load hits them alike: per
 * round, each mode's CPU (process.cpuUsage: the client's and the in-process server's) is divided by
 * the same round's `untracked`; the median of those ratios is the overhead (target: at most 2% CPU).
 * Then the memory per tracked socket (after a GC: run with --expose-gc, as the npm script does): N
 * idle keep-alive sockets that carried one request, tracked and not; and sockets that carried 1,000
 * requests each (the most a connection's record keeps).
 *
 * Usage: npm run bench:register [-- --requests N] [--rounds N] [--sockets N]
 */
import dc from 'node:diagnostics_channel';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { startLabServer } from '../src/lab/server.js';
import { CHANNELS } from '../src/observe/in-process/channels.js';
import { trackConnections } from '../src/observe/in-process/tracker.js';
import type { ConnectionTracker } from '../src/observe/in-process/tracker.js';

const TARGET_OVERHEAD = 0.02;
const CLIENTS = ['node:http', 'fetch'] as const;
type Client = (typeof CLIENTS)[number];
const MODES = ['untracked', 'loaded', 'tracked', 'no-stacks'] as const;
type Mode = (typeof MODES)[number];
/** Requests per socket of the second memory figure (the cap of a record's per-request lists). */
const REQUESTS_PER_LONG_SOCKET = 1000;
const LONG_SOCKETS = 10;

const WHAT: Record<Mode, string> = {
  untracked: 'nothing subscribed (reference)',
  loaded: 'module loaded, nothing subscribed (the same code as untracked: the noise floor)',
  tracked: 'trackConnections(), defaults (call sites on)',
  'no-stacks': 'trackConnections({ stackTraces: false })',
};

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
const settle = Math.ceil(perRound / 2);
const socketsForMemory = Number(values.sockets);

interface Sample {
  wallUs: number;
  cpuUs: number;
}

function median(list: number[]): number {
  const s = [...list].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** After a tracker's dispose(): none of Node's channels may still call our code. */
function assertNothingSubscribed(): void {
  for (const name of Object.values(CHANNELS))
    if (dc.hasSubscribers(name)) throw new Error(`channel ${name} still has a subscriber`);
}

async function main(): Promise<void> {
  const server = await startLabServer({ keepAliveTimeoutMs: 60_000, bodySize: 64 });
  const url = server.url;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (pool: http.Agent) =>
    new Promise<void>((resolve, reject) => {
      http
        .get(url, { agent: pool }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  const fetchOne = async () => {
    const res = await fetch(url);
    await res.arrayBuffer();
  };
  const send: Record<Client, () => Promise<void>> = { 'node:http': () => get(agent), fetch: fetchOne };

  async function round(client: Client, mode: Mode): Promise<Sample> {
    let tracker: ConnectionTracker | null = null;
    if (mode === 'tracked' || mode === 'no-stacks') tracker = trackConnections({ stackTraces: mode === 'tracked' });
    // Not measured: a channel's first subscriber or last unsubscriber changes the channel's prototype,
    // so V8 re-optimizes node:http's and undici's code that checks it in the requests that follow (a
    // cost of this bench's switching, which an app whose register subscribes once never pays).
    for (let i = 0; i < settle; i++) await send[client]();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) await send[client]();
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (tracker !== null) {
      tracker.dispose();
      assertNothingSubscribed();
    }
    return { wallUs, cpuUs: cpu.user + cpu.system };
  }

  // Warm-up: both clients, every mode (JIT, the sockets).
  for (let i = 0; i < 3; i++) for (const client of CLIENTS) for (const mode of MODES) await round(client, mode);

  const samples = new Map<string, Sample[]>();
  for (let r = 0; r < rounds; r++)
    for (const client of CLIENTS) {
      // The order rotates: each mode runs first, last and between as often.
      const order = MODES.map((_, i) => MODES[(i + r) % MODES.length]!);
      if (r % 2 === 1) order.reverse();
      for (const mode of order) {
        const key = `${client} ${mode}`;
        const list = samples.get(key) ?? [];
        list.push(await round(client, mode));
        samples.set(key, list);
      }
    }

  console.log(`${rounds} rounds x ${perRound} sequential keep-alive requests per client and mode (interleaved)`);
  console.log('client      mode        wall us/req  cpu us/req  cpu ratio (median of rounds)  target');
  const perRequest = (list: Sample[], pick: (s: Sample) => number) => median(list.map(pick)) / perRound;
  for (const client of CLIENTS) {
    const ref = samples.get(`${client} untracked`)!;
    for (const mode of MODES) {
      const list = samples.get(`${client} ${mode}`)!;
      const w = perRequest(list, (s) => s.wallUs);
      const c = perRequest(list, (s) => s.cpuUs);
      const line = `${client.padEnd(11)} ${mode.padEnd(10)} ${w.toFixed(1).padStart(12)}  ${c.toFixed(1).padStart(10)}`;
      if (mode === 'untracked') {
        console.log(`${line}  ${'1 (reference)'.padEnd(28)}  ${WHAT[mode]}`);
        continue;
      }
      const r = median(list.map((x, i) => x.cpuUs / ref[i]!.cpuUs)) - 1;
      const pct = `${r >= 0 ? '+' : ''}${(r * 100).toFixed(1)}% (${(r * c).toFixed(1)} us)`;
      const verdict = `<= ${TARGET_OVERHEAD * 100}%: ${r <= TARGET_OVERHEAD ? 'met' : 'NOT met'}`;
      console.log(`${line}  ${pct.padEnd(28)}  ${verdict}; ${WHAT[mode]}`);
    }
  }
  agent.destroy();

  // Memory per tracked socket: idle keep-alive sockets, without and with tracking.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    console.log('memory: run with node --expose-gc to measure it');
  } else {
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
      if (track && open < count * 0.9) console.log(`(only ${open} sockets were open at once)`);
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
    const idle = await perSocket(socketsForMemory, 1, 2);
    const long = await perSocket(LONG_SOCKETS, REQUESTS_PER_LONG_SOCKET, 1);
    console.log(
      `memory per tracked socket (heap with tracking minus without, after a GC): ~${Math.round(idle)} bytes ` +
        `(${socketsForMemory} idle keep-alive sockets that carried one request each); ~${Math.round(long)} bytes ` +
        `(${LONG_SOCKETS} that carried ${REQUESTS_PER_LONG_SOCKET} requests each: their records' per-request ` +
        'lists, idle gaps and status codes, are full, the most a socket holds)',
    );
  }
  await server.close();
}

await main();
