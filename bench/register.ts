/**
 * `npm run bench:register`: what the in-process tracker (register) costs an app. 10,000 sequential
 * keep-alive requests (default) with node:http and with fetch against the in-process lab server, each
 * with tracking off (the module loaded, nobody subscribed: Node's channels then have no subscriber and
 * none of our code runs), on (trackConnections, stack traces on, as the register runs it) and on
 * without stack traces (`stackTraces: false`), in
 * interleaved rounds in one process (off/on alternate, which goes first too). Prints the median time
 * and CPU per request of each and its ratio to off: per round (the modes of one round run back to
 * back, so a neighbour's load hits them alike), then the median of the rounds (target: at most 2%
 * CPU); then the memory per tracked
 * socket: the heap with N idle keep-alive sockets open, tracked and not (after a GC: run with
 * --expose-gc, as the npm script does).
 *
 * Usage: npm run bench:register [-- --requests N] [--rounds N] [--sockets N]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { startLabServer } from '../src/lab/server.js';
import { trackConnections } from '../src/observe/in-process/tracker.js';
import type { ConnectionTracker } from '../src/observe/in-process/tracker.js';

const TARGET_OVERHEAD = 0.02;

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
const socketsForMemory = Number(values.sockets);

type Client = 'node:http' | 'fetch';
type Mode = 'off' | 'on' | 'no-stacks';

interface Sample {
  wallMs: number;
  cpuMs: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const server = await startLabServer({ keepAliveTimeoutMs: 60_000, bodySize: 64 });
  const url = server.url;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise<void>((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  const fetchOne = async () => {
    const res = await fetch(url);
    await res.arrayBuffer();
  };
  const send: Record<Client, () => Promise<void>> = { 'node:http': get, fetch: fetchOne };

  async function round(client: Client, mode: Mode): Promise<Sample> {
    let tracker: ConnectionTracker | null = null;
    if (mode !== 'off') tracker = trackConnections({ stackTraces: mode === 'on' });
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) await send[client]();
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    tracker?.dispose();
    return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
  }

  // Warm-up: both clients, both modes (JIT, the sockets).
  for (const client of ['node:http', 'fetch'] as const)
    for (const mode of ['off', 'on', 'no-stacks'] as const) await round(client, mode);

  const samples = new Map<string, Sample[]>();
  for (let r = 0; r < rounds; r++)
    for (const client of ['node:http', 'fetch'] as const) {
      const order: Mode[] = r % 2 === 0 ? ['off', 'on', 'no-stacks'] : ['no-stacks', 'on', 'off'];
      for (const mode of order) {
        const key = `${client} ${mode}`;
        const list = samples.get(key) ?? [];
        list.push(await round(client, mode));
        samples.set(key, list);
      }
    }

  // Each round's modes ran back to back: the ratio of one round's on to the same round's off cancels
  // most of what the other processes on the machine do; the median of those ratios is the overhead.
  console.log(`${rounds} rounds x ${perRound} sequential keep-alive requests per client and mode (interleaved)`);
  console.log('client      mode       wall us/req  cpu us/req  ratio to off, median of rounds (wall, cpu)');
  const perRequest = (list: Sample[], pick: (s: Sample) => number) => (median(list.map(pick)) * 1000) / perRound;
  const ratio = (list: Sample[], off: Sample[], pick: (s: Sample) => number) =>
    median(list.map((x, i) => pick(x) / pick(off[i]!)));
  for (const client of ['node:http', 'fetch'] as const) {
    const off = samples.get(`${client} off`)!;
    const wOff = perRequest(off, (s) => s.wallMs);
    const cOff = perRequest(off, (s) => s.cpuMs);
    console.log(`${client.padEnd(11)} off        ${wOff.toFixed(1).padStart(11)}  ${cOff.toFixed(1).padStart(10)}`);
    for (const mode of ['on', 'no-stacks'] as const) {
      const list = samples.get(`${client} ${mode}`)!;
      const w = perRequest(list, (s) => s.wallMs);
      const c = perRequest(list, (s) => s.cpuMs);
      const rw = ratio(list, off, (s) => s.wallMs);
      const rc = ratio(list, off, (s) => s.cpuMs);
      const pct = (r: number) => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%`;
      console.log(
        `${client.padEnd(11)} ${mode.padEnd(10)} ${w.toFixed(1).padStart(11)}  ${c.toFixed(1).padStart(10)}  ` +
          `${rw.toFixed(3)} (${pct(rw)}), ${rc.toFixed(3)} (${pct(rc)})` +
          `  (target <= ${TARGET_OVERHEAD * 100}% CPU: ${rc - 1 <= TARGET_OVERHEAD ? 'met' : 'NOT met'})`,
      );
    }
  }
  console.log(
    'off = the module loaded, nobody subscribed: every channel has no subscriber, so none of the tracker runs ' +
      '(hasSubscribers is false; the same code path as without the module).',
  );
  agent.destroy();

  // Memory per tracked socket: N idle keep-alive sockets, without and with tracking.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    console.log('memory: run with node --expose-gc to measure it');
  } else {
    const heapWith = async (track: boolean): Promise<number> => {
      const tracker = track ? trackConnections() : null;
      const pool = new http.Agent({ keepAlive: true, maxFreeSockets: socketsForMemory });
      const one = () =>
        new Promise<void>((resolve, reject) => {
          http
            .get(url, { agent: pool }, (res) => {
              res.resume();
              res.on('end', resolve);
            })
            .on('error', reject);
        });
      // All at once: each request opens its own socket, idle in the pool afterwards.
      await Promise.all(Array.from({ length: socketsForMemory }, one));
      await new Promise((r) => setTimeout(r, 50));
      gc();
      const heap = process.memoryUsage().heapUsed;
      const open = tracker?.openConnections ?? socketsForMemory;
      pool.destroy();
      await new Promise((r) => setTimeout(r, 100));
      tracker?.dispose();
      if (track && open < socketsForMemory * 0.9) console.log(`(only ${open} sockets were open at once)`);
      return heap;
    };
    // Interleaved, twice each: the median difference.
    const diffs: number[] = [];
    for (let i = 0; i < 2; i++) {
      const without = await heapWith(false);
      const withTracking = await heapWith(true);
      diffs.push(withTracking - without);
    }
    const diff = median(diffs);
    console.log(
      `memory: ${socketsForMemory} idle keep-alive sockets, heap with tracking minus without: ` +
        `${Math.round(diff / 1024)} KB, ~${Math.round(diff / socketsForMemory)} bytes per tracked socket`,
    );
  }
  await server.close();
}

await main();
