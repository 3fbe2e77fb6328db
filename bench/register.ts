/**
 * `npm run bench:register`: what the in-process tracker (register) costs an app. 10,000 sequential
 * keep-alive requests (default) with node:http and with fetch against an in-process lab server, in
 * one process per mode, each set up once for the whole run, as an app is:
 *  - `untracked`: the tracker's module never loaded (the reference);
 *  - `untracked-2`: the same again, in another process: what two processes differ by without any
 *    tracking (code layout, heap), the noise floor of the other rows;
 *  - `loaded`: the tracker's module loaded, nothing subscribed (Node's channels then have no
 *    subscriber, so none of our code runs: the issue's "0% measurable when loaded");
 *  - `tracked`: trackConnections() with the register's defaults (call sites on);
 *  - `no-stacks`: trackConnections({ stackTraces: false }) (KEEPALIVE_LAB_STACKS=0).
 * A tracker is never subscribed and unsubscribed between rounds: a channel's subscribe changes its
 * prototype and V8 then re-optimizes node:http's and undici's code that checks it (in one process,
 * toggling tracking per round measured +10% where the steady state costs about 2%), a cost no app
 * pays. The parent asks each process for a round in turn (one at a time: they never run together;
 * the order rotates), so a neighbour's load hits the modes of one round alike. Per round, each
 * mode's CPU (process.cpuUsage: the client's and the in-process server's) is divided by the
 * untracked process's; the median of those per-round ratios is what a clock sees; two processes of the
 * same code (`untracked-2`) differ by about 5% here, so it cannot tell the issue's 2%.
 * Then the memory per tracked socket (in a fresh process, after a GC: --expose-gc, as the npm script
 * runs it): N idle keep-alive sockets that carried one request, tracked and not; and sockets that
 * carried 1,000 requests each (the most a connection's record keeps).
 * Last, the figure the 2% verdict comes from: instructions per request, counted by valgrind (callgrind)
 * in a process per client, mode and seed that runs the same app and request loop (`--child-insn`): W
 * warm-up requests, then N measured between two marks that zero the counters and write them out, so the
 * window is counted inside the process (bench/instructions.ts says why and how). This machine has no
 * hardware counters (`perf stat -e instructions` is not supported); valgrind's count repeats whatever the
 * load. At most two valgrind processes at a time; every process of the bench is killed if it fails or
 * is interrupted, and its files are removed.
 *
 * Usage: npm run bench:register [-- --requests N] [--rounds N] [--sockets N]
 *          [--no-instructions | --instructions-only] [--seeds N] [--warm-up W] [--measured N]
 *          [--insn-modes untracked,tracked,...] [--insn-clients node:http,fetch]
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLabServer } from '../src/lab/server.js';
import { CHANNELS } from '../src/observe/in-process/channels.js';
import {
  formatOverhead,
  kilo,
  overhead,
  parseCallgrindWindow,
  percent,
  perRequest,
  seedRange,
  spread,
  verdict,
} from './instructions.js';
import type { WindowCount } from './instructions.js';

const TARGET_OVERHEAD = 0.02;
const CLIENTS = ['node:http', 'fetch'] as const;
type Client = (typeof CLIENTS)[number];
const MODES = ['untracked', 'untracked-2', 'loaded', 'tracked', 'no-stacks'] as const;
type Mode = (typeof MODES)[number];
/** Requests per socket of the second memory figure (the cap of a record's per-request lists). */
const REQUESTS_PER_LONG_SOCKET = 1000;
/** Sockets of the second memory figure: ten read 1.6 KB once and 39 KB the next time (heap noise), forty hold. */
const LONG_SOCKETS = 40;

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

/** "The app" of every mode: the tracker as the mode wants it, the lab server, a keep-alive Agent, a request each. */
interface App {
  send: Record<Client, () => Promise<void>>;
  close(): Promise<void>;
}

async function startApp(mode: Mode): Promise<App> {
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
  return {
    send: { 'node:http': () => get(agent), fetch: fetchOne },
    close: () => {
      agent.destroy();
      return server.close();
    },
  };
}

/** The request loop: `count` sequential requests. */
async function requestLoop(send: () => Promise<void>, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await send();
}

/** A process of one mode: answers each round request with its sample. */
async function child(mode: Mode): Promise<void> {
  const app = await startApp(mode);
  process.on('message', (m: RoundRequest | 'exit') => {
    if (m === 'exit') {
      void app.close().then(() => process.disconnect());
      return;
    }
    void (async () => {
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await requestLoop(app.send[m.client], m.requests);
      const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      process.send!({ wallUs, cpuUs: cpu.user + cpu.system } satisfies Sample);
    })();
  });
  process.send!('ready');
}

/**
 * A process run under callgrind: `warmUp` requests, then `measured` ones between the two marks that zero
 * callgrind's counters and write them out (MARK_START, MARK_END: native functions nothing else calls).
 */
async function instructionChild(mode: Mode, client: Client, warmUp: number, measured: number): Promise<void> {
  const app = await startApp(mode);
  await requestLoop(app.send[client], warmUp);
  os.loadavg();
  await requestLoop(app.send[client], measured);
  os.uptime();
  await app.close();
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
  const long = await perSocket(LONG_SOCKETS, REQUESTS_PER_LONG_SOCKET, 3);
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

/** Every process the bench started and that has not exited: killed if the bench fails or is interrupted. */
const children = new Set<ChildProcess>();
function own(proc: ChildProcess): ChildProcess {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}
/** Directories of valgrind's files, removed when done, and when the bench fails or is interrupted. */
const tempDirs = new Set<string>();
function killChildren(): void {
  for (const proc of children) proc.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

function start(args: string[]): Promise<ChildProcess> {
  const proc = own(
    fork(process.argv[1]!, args, {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
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

/** The CPU-time rounds: per client and mode, the samples of every round. */
async function cpuRounds(perRound: number, rounds: number): Promise<Map<string, Sample[]>> {
  const procs = new Map<Mode, ChildProcess>();
  const samples = new Map<string, Sample[]>();
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
  for (const proc of procs.values()) {
    proc.removeAllListeners('exit');
    proc.send('exit');
  }
  return samples;
}

function printCpuRounds(samples: Map<string, Sample[]>, perRound: number, rounds: number): void {
  console.log(
    `${rounds} rounds x ${perRound} sequential keep-alive requests per client and mode, ` +
      "one process per mode, rounds interleaved: CPU time, what a clock sees (a neighbour's load included)",
  );
  console.log('client      mode          wall us/req  cpu us/req  cpu ratio (median of rounds)');
  const perRequest = (list: Sample[], pick: (s: Sample) => number) => median(list.map(pick)) / perRound;
  const floors: string[] = [];
  for (const client of CLIENTS) {
    const ref = samples.get(`${client} untracked`)!;
    const ratio = (mode: Mode) => median(samples.get(`${client} ${mode}`)!.map((x, i) => x.cpuUs / ref[i]!.cpuUs)) - 1;
    floors.push(`${percent(ratio('untracked-2'))} (${client})`);
    for (const mode of MODES) {
      const list = samples.get(`${client} ${mode}`)!;
      const w = perRequest(list, (s) => s.wallUs);
      const c = perRequest(list, (s) => s.cpuUs);
      const line = `${client.padEnd(11)} ${mode.padEnd(12)} ${w.toFixed(1).padStart(12)}  ${c.toFixed(1).padStart(10)}`;
      if (mode === 'untracked') {
        console.log(`${line}  ${'1 (reference)'.padEnd(28)}  ${WHAT[mode]}`);
        continue;
      }
      const r = ratio(mode);
      const pct = `${percent(r)} (${(r * c).toFixed(1)} us)`;
      console.log(`${line}  ${pct.padEnd(28)}  ${WHAT[mode]}`);
    }
  }
  console.log(
    `the noise floor of these rows: two processes of the same code differed by ${floors.join(' and ')}; ` +
      `CPU time cannot tell ${TARGET_OVERHEAD * 100}% here, the verdict comes from the instruction counts`,
  );
}

const INSN_MODES = MODES.filter((m) => m !== 'untracked-2');
/** The natives of os.loadavg() and os.uptime(): where the measured requests begin and end (instructionChild). */
const MARK_START = 'node::os::GetLoadAvg*';
const MARK_END = 'node::os::GetUptime*';
/**
 * callgrind counting instructions (no cache simulation, its default), zeroed at the first mark and
 * written out at the second (the file's `.1`), per function (no per-instruction lines, names in full).
 */
function valgrindArgs(outFile: string): string[] {
  return [
    'valgrind',
    '--tool=callgrind',
    `--callgrind-out-file=${outFile}`,
    `--zero-before=${MARK_START}`,
    `--dump-before=${MARK_END}`,
    '--dump-instr=no',
    '--compress-strings=no',
    '--compress-pos=no',
  ];
}
/**
 * Node as deterministic as it goes: no background threads (compilers, GC helpers), fixed seeds, a heap that
 * grows by fixed steps rather than by measured GC speeds (which follow the machine's load), and an old space
 * of 256 MB from the start, so that no major GC runs in a bench process (when one fell depended on the
 * heap, so on the code loaded: fetch's figure moved by 2% between variants of the tracker doing less work).
 * What is counted is then the code of the app and of the tracker and the young generation's GCs.
 */
function nodeFlags(seed: number): string[] {
  return [
    '--single-threaded',
    `--hash-seed=${seed}`,
    `--random-seed=${seed}`,
    '--predictable-gc-schedule',
    '--initial-old-space-size=256',
  ];
}

/** Whether valgrind and `setarch -R` (ASLR off) can run here. */
function canCountInstructions(): boolean {
  const ok = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  return ok('valgrind', ['--version']) && ok('setarch', ['-R', 'true']);
}

interface InsnRun {
  client: Client;
  mode: Mode;
  seed: number;
  warmUp: number;
  measured: number;
}

/**
 * The instructions of one process's measured requests (callgrind's window between the marks). setarch runs
 * valgrind (ASLR off must hold for valgrind itself, so it is outside). `dir` holds its files.
 */
function countInstructions(run: InsnRun, dir: string): Promise<WindowCount> {
  const outFile = join(dir, `${run.client.replace(':', '')}-${run.mode}-${run.seed}.out`);
  const args = [
    '-R',
    ...valgrindArgs(outFile),
    process.execPath,
    ...nodeFlags(run.seed),
    process.argv[1]!,
    '--child-insn',
    run.mode,
    run.client,
    String(run.warmUp),
    String(run.measured),
  ];
  const proc = own(spawn('setarch', args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  let output = '';
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    output = (output + chunk).slice(-65_536);
  });
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (code, signal) => {
      const what = `valgrind ${run.client} ${run.mode} seed ${run.seed}`;
      if (code !== 0) {
        const last =
          output
            .trim()
            .split('\n')
            .filter((l) => !l.startsWith('=='))
            .pop() ?? '';
        return reject(new Error(`${what}: exited with ${code ?? signal}: ${last}`));
      }
      let window: WindowCount | null = null;
      try {
        window = parseCallgrindWindow(readFileSync(`${outFile}.1`, 'latin1'));
      } catch {
        // No dump: the marks were not met (a node binary without symbols names neither function).
      }
      if (window === null)
        return reject(
          new Error(`${what}: no count of the measured requests (${MARK_START} and ${MARK_END} not met in this node?)`),
        );
      resolve(window);
    });
  });
}

/** Runs `jobs` at most `width` at a time; on a failure starts no more and rejects (the caller kills the rest). */
async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array<T>(jobs.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < jobs.length) {
      const i = next++;
      try {
        results[i] = await jobs[i]!();
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return results;
}

interface InsnOptions {
  /** The clients counted (`--insn-clients`, default both). */
  clients: Client[];
  modes: Mode[];
  seeds: number;
  /** Requests before the measured ones (V8 compiles node:http's and undici's code for a few thousand). */
  warmUp: number;
  measured: number;
}

/** Per client and mode, the measured window of each seed (seeds 1..S, in order). */
async function instructionCounts(o: InsnOptions): Promise<Map<string, WindowCount[]>> {
  const runs: InsnRun[] = [];
  // The longest first (fetch), so that two at a time end together.
  for (const client of (['fetch', 'node:http'] as const).filter((c) => o.clients.includes(c)))
    for (let seed = 1; seed <= o.seeds; seed++)
      for (const mode of o.modes) runs.push({ client, mode, seed, warmUp: o.warmUp, measured: o.measured });
  const dir = mkdtempSync(join(os.tmpdir(), 'kal-bench-insn-'));
  tempDirs.add(dir);
  let done = 0;
  const t0 = Date.now();
  try {
    const counts = await pool(
      runs.map((run) => async () => {
        const count = await countInstructions(run, dir);
        done++;
        process.stderr.write(
          `instructions ${done}/${runs.length}: ${run.client} ${run.mode} seed ${run.seed}: ` +
            `${count.total.toLocaleString('en')} in the window, ${count.compiler.toLocaleString('en')} of them ` +
            `the optimizing compiler's (${Math.round((Date.now() - t0) / 1000)} s)\n`,
        );
        return count;
      }),
      2,
    );
    // Runs go seed by seed: each list is in seed order.
    const windows = new Map<string, WindowCount[]>();
    runs.forEach((run, i) => {
      const key = `${run.client} ${run.mode}`;
      const list = windows.get(key) ?? [];
      list.push(counts[i]!);
      windows.set(key, list);
    });
    return windows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

function printInstructions(windows: Map<string, WindowCount[]>, o: InsnOptions): void {
  const seeds = `${o.seeds} seed${o.seeds === 1 ? '' : 's'}`;
  console.log(
    `instructions per measured request (valgrind callgrind, counted inside each process; ASLR off, one thread, ` +
      `no major GC; ${seeds}; ${o.warmUp} warm-up requests, then ${o.measured} measured: the same count whatever ` +
      'the load):',
  );
  console.log(
    'client      mode          app thread  overhead (seeds min..max)      target             ' +
      'all   overhead (seeds min..max)',
  );
  const verdicts: string[] = [];
  const figures = (client: Client, mode: Mode, what: 'app' | 'all') =>
    windows.get(`${client} ${mode}`)!.map((w) => perRequest(w, o.measured, what));
  for (const client of o.clients) {
    for (const mode of o.modes) {
      const app = figures(client, mode, 'app');
      const all = figures(client, mode, 'all');
      const head = `${client.padEnd(11)} ${mode.padEnd(12)} ${kilo(spread(app).mean).padStart(11)}`;
      const allHead = kilo(spread(all).mean).padStart(9);
      if (mode === 'untracked') {
        console.log(`${head}  ${'reference'.padEnd(29)}  ${''.padEnd(14)}  ${allHead}   reference`);
        continue;
      }
      const onApp = overhead(app, figures(client, 'untracked', 'app'));
      const onAll = overhead(all, figures(client, 'untracked', 'all'));
      const v = verdict(onApp, TARGET_OVERHEAD);
      console.log(
        `${head}  ${formatOverhead(onApp).padEnd(29)}  ${`<= ${TARGET_OVERHEAD * 100}%: ${v}`.padEnd(14)}  ` +
          `${allHead}   ${formatOverhead(onAll)}`,
      );
      if (mode === 'tracked' || mode === 'loaded')
        verdicts.push(
          `${client} ${mode}: ${percent(onApp.mean)} instructions on the app's thread (${seedRange(onApp)}) ` +
            `<= ${TARGET_OVERHEAD * 100}%: ${v}; all instructions ${formatOverhead(onAll)}`,
        );
    }
  }
  console.log(
    "app thread: every instruction but those of V8's optimizing compilers (TurboFan, Maglev), which a Node " +
      'process runs on a helper thread and --single-threaded puts on this one; a recompile inside the window ' +
      'moves a seed\'s "all" by a few percent (once compiled, code stays compiled)',
  );
  if (verdicts.length > 0)
    console.log(
      `the ${TARGET_OVERHEAD * 100}% target (issue 11), from the instruction counts:\n  ${verdicts.join('\n  ')}`,
    );
}

async function parent(): Promise<void> {
  // A flag it does not know, or one without its value, is a usage error too (exit 2), not a stack trace.
  const { values } = (() => {
    try {
      return parseArgs({
        options: {
          requests: { type: 'string', default: '10000' },
          rounds: { type: 'string', default: '40' },
          sockets: { type: 'string', default: '1000' },
          'no-instructions': { type: 'boolean', default: false },
          'instructions-only': { type: 'boolean', default: false },
          seeds: { type: 'string', default: '3' },
          'insn-modes': { type: 'string', default: 'untracked,tracked' },
          'insn-clients': { type: 'string', default: CLIENTS.join(',') },
          'warm-up': { type: 'string', default: '4000' },
          measured: { type: 'string', default: '4000' },
        },
      });
    } catch (error) {
      usage((error as Error).message.split('\n')[0]!);
    }
  })();
  const requests = positive('--requests', values.requests);
  const rounds = positive('--rounds', values.rounds);
  const sockets = positive('--sockets', values.sockets);
  const perRound = Math.max(1, Math.floor(requests / rounds));
  const insn: InsnOptions = {
    clients: values['insn-clients'].split(',').map((c) => {
      if (!(CLIENTS as readonly string[]).includes(c))
        usage(`--insn-clients: ${c} is not one of ${CLIENTS.join(', ')}`);
      return c as Client;
    }),
    modes: values['insn-modes'].split(',').map((m) => {
      if (!(INSN_MODES as string[]).includes(m)) usage(`--insn-modes: ${m} is not one of ${INSN_MODES.join(', ')}`);
      return m as Mode;
    }),
    seeds: positive('--seeds', values.seeds),
    warmUp: positive('--warm-up', values['warm-up']),
    measured: positive('--measured', values.measured),
  };
  if (!insn.modes.includes('untracked')) insn.modes.unshift('untracked');

  if (values['no-instructions'] && values['instructions-only'])
    usage('--no-instructions and --instructions-only leave nothing to run');
  if (!values['instructions-only']) await cpuAndMemory(perRound, rounds, sockets);

  if (values['no-instructions']) return;
  if (!canCountInstructions()) {
    console.log(
      'instructions: not counted, valgrind or setarch is missing (apt-get install valgrind); ' +
        `without them no figure here resolves the ${TARGET_OVERHEAD * 100}% target`,
    );
    return;
  }
  printInstructions(await instructionCounts(insn), insn);
}

/** The CPU-time rounds, then the memory per tracked socket. */
async function cpuAndMemory(perRound: number, rounds: number, sockets: number): Promise<void> {
  printCpuRounds(await cpuRounds(perRound, rounds), perRound, rounds);

  const memory = own(
    fork(process.argv[1]!, ['--memory', String(sockets)], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  memory.on('message', (m: { text: string }) => console.log(m.text));
  await new Promise((resolve) => memory.once('exit', resolve));
}

function usage(message: string): never {
  console.error(`KAL_ERR_USAGE: bench:register: ${message}`);
  process.exit(2);
}

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) usage(`${flag} wants a positive integer, got ${text}`);
  return n;
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') await child(argv[1] as Mode);
else if (argv[0] === '--child-insn')
  await instructionChild(argv[1] as Mode, argv[2] as Client, Number(argv[3]), Number(argv[4]));
else if (argv[0] === '--memory') await memoryChild(Number(argv[1]));
else {
  // Ctrl-C or a kill: no bench process (a valgrind runs for a minute) outlives the bench.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      killChildren();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  try {
    await parent();
  } catch (error) {
    killChildren();
    throw error;
  }
}
