/**
 * `npm run bench:analyze`: how fast `keepalive-lab analyze` reads a capture, next to tcpdump and
 * tshark on the same file in the same run (issue 3, "Performance").
 *
 * Two captures of at least 200 MB each are generated into bench/out/ (git-ignored; kept and reused
 * while their generator version and size match):
 *   keepalive  few connections, many requests each, responses of a few KiB (large packets);
 *   churn      `ab` without -k: a connection per request, ten small packets each.
 * Then, on each file, best of 3 runs, the tools taking turns (tshark once when it is slow):
 *   ours         node dist/src/cli/main.js analyze FILE > /dev/null          (full HTTP framing, the table)
 *   ours --json  node dist/src/cli/main.js analyze FILE --json > /dev/null   (every record written out)
 *   bare walk    node dist/bench/bare-walk.js FILE > /dev/null  (the limit: read as ours does, step over
 *                the pcap record headers, decode nothing; bench/bare-walk.ts)
 *   tcpdump      tcpdump -n -r FILE > /dev/null
 *   tshark       tshark -r FILE -q -z conv,tcp > /dev/null
 * with MB/s, packets/s, each process's peak RSS (/usr/bin/time's %M, the kernel's ru_maxrss; else
 * VmHWM polled from /proc) and ours (table and --json) against the targets of issue 7: at least 0.5x
 * the bare walk's packets/s, 4x tcpdump's and 10x tshark's; peak RSS at most 150 MiB on a 1 GB
 * capture (checked when --size is 1000 or more). Finally ours, both ways, on the first 50 MB, 100 MB
 * and the whole file through stdin (`head -c N FILE | ... analyze -`): peak memory must stay flat as
 * the file grows (it follows the connections open at once, issue 3).
 * Then `syn-flood`: 300,000 SYNs never answered (21 MB), ours both ways: peak RSS at most 150 MiB
 * (issue 8: handshakes that never complete expire, memory follows the connections open at once).
 * Last, `https` (issue 10, "Speed"): a TLS 1.3 capture of ~100 MB (--https-size) and its NSS key log
 * (bench/synthetic-https.ts: half the connections HTTP/1.1 keep-alive, half HTTP/2), best of 3 runs:
 *   ours --keylog       analyze FILE --keylog KEYLOG [--json]   (decrypts every record, counts requests)
 *   ours without keys   analyze FILE                            (what decryption costs)
 *   bare walk           as above
 *   tshark conv,tcp     tshark -o tls.keylog_file:KEYLOG -r FILE -q -z conv,tcp  (decrypts too: the TLS
 *                       dissector runs whatever the tap, ~40% more CPU than without the key log)
 *   tshark counting     tshark -o tls.keylog_file:KEYLOG -r FILE -q -z io,stat,0,COUNT(http.request.method)..,
 *                       COUNT(http2.headers.method)..  (counts what it decrypted: 0 and 0 without the key log)
 *   node start-up       node -e 0                               (the part of the bare walk that is not reading)
 * with the target of at least 10x each tshark, table and --json; and, once, whether ours (--json, per
 * connection), tshark (the counting run's output) and the generator agree on the HTTP/1.1 requests, the
 * HTTP/2 streams and the connections decrypted: a decryption that did not happen measures nothing.
 * Then what bounds ours on one thread: the bare walk plus node:crypto opening the same records alone
 * (bench/decipher-floor.ts, best of the runs), and the best ratio to tshark that leaves.
 * The https capture comes in two shapes, each with its own rows: `https`, segments of up to 32 KiB as
 * captured on loopback, and `https-mtu`, the same generator's connections (as many as fit in the
 * size) cut into packets of at most 1448 bytes of payload (1514-byte Ethernet frames, as a capture on
 * a network card holds them).
 *
 * Usage: npm run bench:analyze [-- --size MB] [--only keepalive|churn|syn-flood|https] [--runs N] [--regenerate]
 *        [--https-size MB] (the https capture's size, default 100)
 *        [--skip-growth] (no stdin runs on prefixes of the file)
 *        [--baseline DIR] (also an earlier build, DIR/dist/src/cli/main.js, taking turns with the
 *        others: a before/after comparison in one run, e.g. of a copy of dist/ made before a change)
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { ConnectionRecord, Report } from '../src/model/report.js';
import {
  GENERATOR_VERSION,
  writeChurnCapture,
  writeKeepAliveCapture,
  writeSynFloodCapture,
  type CaptureMeta,
  type CaptureSpec,
} from './synthetic-capture.js';
import { ETHERNET_MSS, HTTPS_GENERATOR_VERSION, writeHttpsCapture, type HttpsCaptureMeta } from './synthetic-https.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'bench', 'out');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const BARE_WALK = join(ROOT, 'dist', 'bench', 'bare-walk.js');
const DECIPHER_FLOOR = join(ROOT, 'dist', 'bench', 'decipher-floor.js');
const TIME = '/usr/bin/time';
const MB = 1e6;
/** tshark is run once only when a single run takes longer than this. */
const SLOW_SECONDS = 20;
/** Targets of issue 7 for ours (table and --json), in packets/s on the same file in the same run. */
const TARGET_VS_BARE = 0.5;
const TARGET_VS_TCPDUMP = 4;
const TARGET_VS_TSHARK = 10;
/** Peak RSS target of issue 7, KiB, on a capture of at least RSS_TARGET_BYTES. */
const TARGET_RSS_KB = 150 * 1024;
const RSS_TARGET_BYTES = 1000 * MB;
const PREFIXES = [50 * MB, 100 * MB];
/** The SYN flood of issue 8 and its memory target. */
const FLOOD_SYNS = 300_000;
const TARGET_FLOOD_RSS_MIB = 150;

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '210' },
    'https-size': { type: 'string', default: '100' },
    only: { type: 'string' },
    runs: { type: 'string', default: '3' },
    regenerate: { type: 'boolean', default: false },
    'skip-growth': { type: 'boolean', default: false },
    baseline: { type: 'string' },
  },
});
const RUNS = Math.max(1, Number(args.runs));
const BASELINE_CLI = args.baseline === undefined ? undefined : join(args.baseline, 'dist', 'src', 'cli', 'main.js');

interface Measure {
  seconds: number;
  /** User + system CPU time, seconds (NaN without /usr/bin/time): steadier than wall time on a busy machine. */
  cpu: number;
  /** Peak resident set size, KiB. */
  rssKb: number;
}

interface Tool {
  name: string;
  command: string[];
  /** Where its standard output goes (default /dev/null): a tool whose output is read afterwards. */
  stdout?: string;
}

const tmp = mkdtempSync(join(tmpdir(), 'kal-bench-'));
const hasTime = existsSync(TIME);

/**
 * Runs `argv` (stdin from `stdinCommand` or nothing, stdout to `stdoutFile` or /dev/null) and returns
 * wall time and peak RSS.
 */
async function measure(argv: string[], stdinCommand?: string[], stdoutFile = '/dev/null'): Promise<Measure> {
  const timeFile = join(tmp, 'time');
  const wrapped = hasTime ? [TIME, '-f', '%M %U %S', '-o', timeFile, ...argv] : argv;
  const devNull = openSync(stdoutFile, 'w');
  try {
    const feeder = stdinCommand
      ? spawn(stdinCommand[0]!, stdinCommand.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
      : null;
    const started = performance.now();
    const child = spawn(wrapped[0]!, wrapped.slice(1), {
      stdio: [feeder ? feeder.stdout! : 'ignore', devNull, 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    let hwm = 0;
    const poll = hasTime
      ? null
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) hwm = Math.max(hwm, Number(m[1]));
          } catch {
            // exited
          }
        }, 5);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const seconds = (performance.now() - started) / 1000;
    if (poll) clearInterval(poll);
    if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}: ${stderr}`);
    if (!hasTime) return { seconds, cpu: NaN, rssKb: hwm };
    const [rssKb, user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) as [
      number,
      number,
      number,
    ];
    return { seconds, cpu: user + system, rssKb };
  } finally {
    closeSync(devNull);
  }
}

type Best = Measure & { runs: number };

/**
 * Best of `runs` runs of each tool, the tools taking turns (ours, tcpdump, tshark, ours, ...) so that
 * a busy spell of the machine hits them alike. A tool slower than `slowSeconds` runs once.
 */
async function bestOfEach(tools: Tool[], runs: number, slowSeconds: (tool: Tool) => number): Promise<Best[]> {
  const best: Best[] = tools.map(() => ({ seconds: Infinity, cpu: Infinity, rssKb: 0, runs: 0 }));
  for (let i = 0; i < runs; i++) {
    for (const [k, tool] of tools.entries()) {
      const b = best[k]!;
      if (b.runs > 0 && b.seconds > slowSeconds(tool)) continue;
      const m = await measure(tool.command, undefined, tool.stdout);
      b.runs++;
      if (m.seconds < b.seconds) {
        b.seconds = m.seconds;
        b.cpu = m.cpu;
      }
      b.rssKb = Math.max(b.rssKb, m.rssKb);
    }
  }
  return best;
}

function ensureCapture<M extends CaptureMeta>(
  name: string,
  write: (spec: CaptureSpec) => M,
  sizeMb = args.size,
  version = GENERATOR_VERSION,
): { path: string; meta: M } {
  mkdirSync(OUT, { recursive: true });
  // The size in the name: `--size` makes another file rather than replacing the usual one.
  const path = join(OUT, `${name}-${sizeMb}MB.pcap`);
  const metaPath = `${path}.json`;
  const targetBytes = Number(sizeMb) * MB;
  if (!args.regenerate && existsSync(path) && existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as M & { keylog?: string };
    if (
      meta.generator === version &&
      meta.bytes === statSync(path).size &&
      meta.bytes >= targetBytes &&
      (meta.keylog === undefined || existsSync(meta.keylog))
    ) {
      console.log(`${name}: reusing ${path} (${(meta.bytes / MB).toFixed(1)} MB)`);
      return { path, meta };
    }
  }
  const started = performance.now();
  const meta = write({ path, targetBytes });
  writeFileSync(metaPath, JSON.stringify(meta, null, 2) + '\n');
  console.log(
    `${name}: wrote ${path} (${(meta.bytes / MB).toFixed(1)} MB) ` +
      `in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return { path, meta };
}

const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mib = (kb: number): string => `${fmt(kb / 1024, 0)} MiB`;

interface Row {
  name: string;
  m: Best;
}

/** What ours found in the file, from one run's JSON (outside the timed runs). */
async function whatOursSees(path: string): Promise<string> {
  const out = join(tmp, 'report.json');
  const fd = openSync(out, 'w');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'analyze', path, '--json'], { stdio: ['ignore', fd, 'inherit'] });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`analyze exited with ${code}`))));
  });
  closeSync(fd);
  const report = JSON.parse(await withoutRecords(out)) as {
    runs: {
      capture: { frames: number; tcpPackets: number };
      observers: { totals: { connections: number; requests: number; responses: number } }[];
      verdict: { summary?: string; kind?: string };
    }[];
  };
  rmSync(out);
  const run = report.runs[0]!;
  const t = run.observers[0]!.totals;
  return (
    `${fmt(run.capture.frames)} frames, ${fmt(t.connections)} connections, ` +
    `${fmt(t.requests)} requests, ${fmt(t.responses)} responses`
  );
}

/**
 * The JSON report in `file` with its `connections` arrays emptied, read line by line: the records of
 * a 1 GB capture make a document longer than a string can be. The report is indented by two spaces
 * (renderJson), so an array ends on a line of its own with the indentation of its key.
 */
async function withoutRecords(file: string): Promise<string> {
  const kept: string[] = [];
  let closing: string | null = null;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (closing !== null) {
      if (line === closing || line === `${closing},`) {
        kept.push(`${kept.pop()!}]${line.endsWith(',') ? ',' : ''}`);
        closing = null;
      }
      continue;
    }
    const open = /^(\s*)"connections": \[$/.exec(line);
    if (open !== null) closing = `${open[1]!}]`;
    kept.push(line);
  }
  return kept.join('\n');
}

/** The tools' figures side by side: time, CPU, MB/s and packets/s on `meta`'s file, peak RSS. */
function printTable(rows: Row[], meta: CaptureMeta): void {
  const header = ['tool', 'runs', 'best s', 'cpu s', 'MB/s', 'packets/s', 'peak RSS'];
  const table = rows.map((r) => [
    r.name,
    String(r.m.runs),
    r.m.seconds.toFixed(3),
    r.m.cpu.toFixed(2),
    fmt(meta.bytes / MB / r.m.seconds, 1),
    fmt(meta.packets / r.m.seconds),
    mib(r.m.rssKb),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    '   ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const row of table) console.log(line(row));
}

async function benchCapture(name: string, path: string, meta: CaptureMeta): Promise<boolean> {
  console.log(`\n== ${name}: ${path}`);
  console.log(`   ${meta.description}`);
  console.log(
    `   ${(meta.bytes / MB).toFixed(1)} MB, ${fmt(meta.packets)} packets ` +
      `(${fmt(meta.bytes / meta.packets)} bytes/packet), ` +
      `${fmt(meta.connections)} connections, ${fmt(meta.requests)} requests`,
  );
  console.log(`   ours reports: ${await whatOursSees(path)}`);
  const tools: Tool[] = [
    { name: 'keepalive-lab analyze', command: [process.execPath, CLI, 'analyze', path] },
    { name: 'keepalive-lab analyze --json', command: [process.execPath, CLI, 'analyze', path, '--json'] },
    { name: 'bare walk (the limit)', command: [process.execPath, BARE_WALK, path] },
    { name: 'tcpdump -n -r', command: ['tcpdump', '-n', '-r', path] },
    { name: 'tshark -q -z conv,tcp', command: ['tshark', '-r', path, '-q', '-z', 'conv,tcp'] },
  ];
  if (BASELINE_CLI !== undefined) {
    tools.push(
      { name: 'baseline analyze', command: [process.execPath, BASELINE_CLI, 'analyze', path] },
      { name: 'baseline analyze --json', command: [process.execPath, BASELINE_CLI, 'analyze', path, '--json'] },
    );
  }
  const bests = await bestOfEach(tools, RUNS, (tool) => (tool.name.startsWith('tshark') ? SLOW_SECONDS : Infinity));
  const rows: Row[] = tools.map((tool, k) => ({ name: tool.name, m: bests[k]! }));
  printTable(rows, meta);
  // The first five rows, in the order of `tools`.
  const [ours, oursJson, bare, tcpdump, tshark] = rows.slice(0, 5).map((r) => r.m.seconds) as [
    number,
    number,
    number,
    number,
    number,
  ];
  // The same packets for every tool: a ratio of packets/s is the inverse ratio of the times.
  let ok = true;
  for (const [label, limit, target] of [
    ['bare walk', bare, TARGET_VS_BARE],
    ['tcpdump  ', tcpdump, TARGET_VS_TCPDUMP],
    ['tshark   ', tshark, TARGET_VS_TSHARK],
  ] as const) {
    const table = limit / ours;
    const json = limit / oursJson;
    const met = table >= target && json >= target;
    ok &&= met;
    const digits = target < 1 ? 2 : 1;
    console.log(
      `   ours / ${label} = ${table.toFixed(digits)}x, --json ${json.toFixed(digits)}x ` +
        `(target >= ${target}x) ${met ? 'ok' : 'MISSED'}`,
    );
  }
  if (rows.length > 5) {
    const [before, beforeJson] = rows.slice(5).map((r) => r.m.seconds) as [number, number];
    console.log(`   ours / baseline = ${(before / ours).toFixed(2)}x, --json ${(beforeJson / oursJson).toFixed(2)}x`);
  }
  const rss = Math.max(rows[0]!.m.rssKb, rows[1]!.m.rssKb);
  if (meta.bytes >= RSS_TARGET_BYTES) {
    const met = rss <= TARGET_RSS_KB;
    ok &&= met;
    console.log(`   peak RSS of ours = ${mib(rss)} (target <= ${mib(TARGET_RSS_KB)} on 1 GB) ${met ? 'ok' : 'MISSED'}`);
  } else {
    console.log(`   peak RSS of ours = ${mib(rss)} (the 150 MiB target is checked on 1 GB: --size 1000)`);
  }
  if (args['skip-growth']) return ok;

  console.log('   peak RSS as the file grows (ours, through stdin: head -c N FILE | analyze - [--json] > /dev/null):');
  console.log(`     ${'first'.padStart(7)}  ${'analyze'.padStart(18)}  ${'analyze --json'.padStart(18)}`);
  const peaks: number[][] = [[], []];
  for (const bytes of [...PREFIXES, meta.bytes]) {
    const n = Math.min(bytes, meta.bytes);
    const cells: string[] = [];
    for (const [k, extra] of [[], ['--json']].entries()) {
      const m = await measure([process.execPath, CLI, 'analyze', '-', ...extra], ['head', '-c', String(n), path]);
      peaks[k]!.push(m.rssKb);
      cells.push(`${mib(m.rssKb)} (${m.seconds.toFixed(2)} s)`.padStart(18));
    }
    console.log(`     ${`${(n / MB).toFixed(0)} MB`.padStart(7)}  ${cells.join('  ')}`);
  }
  const growth = (p: number[]): string => `${((p[p.length - 1]! / p[0]! - 1) * 100).toFixed(0)}%`;
  console.log(
    `     growth from ${(PREFIXES[0]! / MB).toFixed(0)} MB to the whole file: ` +
      `${growth(peaks[0]!)} (analyze), ${growth(peaks[1]!)} (--json)`,
  );
  return ok;
}

/** Ours on a tiny capture: node start-up, module loading and the report, the fixed part of every run. */
async function startup(path: string): Promise<void> {
  const tiny = join(tmp, 'tiny.pcap');
  const head = Buffer.alloc(64 * 1024);
  const fd = openSync(path, 'r');
  const n = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  writeFileSync(tiny, head.subarray(0, n));
  let best = Infinity;
  for (let i = 0; i < RUNS; i++)
    best = Math.min(best, (await measure([process.execPath, CLI, 'analyze', tiny])).seconds);
  console.log(`ours on the first 64 KiB of ${path} (start-up, module loading, report): ${best.toFixed(3)} s`);
}

/** Peak RSS of ours, both ways, on FLOOD_SYNS unanswered SYNs: at most TARGET_FLOOD_RSS_MIB. */
async function benchSynFlood(): Promise<boolean> {
  mkdirSync(OUT, { recursive: true });
  const path = join(OUT, `syn-flood-${FLOOD_SYNS}.pcap`);
  const meta = writeSynFloodCapture({ path, connections: FLOOD_SYNS });
  console.log(`\nsyn-flood: ${meta.description} (${(meta.bytes / MB).toFixed(1)} MB)`);
  let ok = true;
  for (const json of [false, true]) {
    const m = await measure(['node', CLI, 'analyze', path, ...(json ? ['--json'] : [])]);
    const met = m.rssKb / 1024 <= TARGET_FLOOD_RSS_MIB;
    ok &&= met;
    console.log(
      `  ours${json ? ' --json' : '       '}  ${m.seconds.toFixed(2)} s  peak RSS ${mib(m.rssKb)} ` +
        `(target <= ${TARGET_FLOOD_RSS_MIB} MiB: ${met ? 'met' : 'MISSED'})`,
    );
  }
  return ok;
}

/** The fields tshark counts in the https capture: HTTP/1.x requests, HTTP/2 header blocks with a :method. */
const TSHARK_COUNTED = ['http.request.method', 'http2.headers.method'] as const;
const TSHARK_COUNT_STAT = `io,stat,0,${TSHARK_COUNTED.map((f) => `COUNT(${f})${f}`).join(',')}`;

/** What tshark's `-z io,stat,0,COUNT(a)a,COUNT(b)b` printed: the one interval's counts, or null. */
function tsharkCounts(output: string): [number, number] | null {
  const m = /^\|[^|\n]*<>[^|\n]*\|\s*(\d+)\s*\|\s*(\d+)\s*\|/m.exec(output);
  return m === null ? null : [Number(m[1]), Number(m[2])];
}

/** What ours found in the https capture with its key log (one run's JSON, outside the timed runs). */
async function oursDecrypted(
  path: string,
  keylog: string,
): Promise<{
  connections: number;
  decrypted: number;
  http1: number;
  http2: number;
  requests: number;
  /** Records opened and their bodies' bytes (application data), per cipher suite: decipher-floor's arguments. */
  suites: string[];
}> {
  const out = join(tmp, 'https-report.json');
  const fd = openSync(out, 'w');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'analyze', path, '--keylog', keylog, '--json'], {
      stdio: ['ignore', fd, 'inherit'],
    });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`analyze exited with ${code}`))));
  });
  closeSync(fd);
  // A few hundred connections at most: the whole report fits in a string.
  const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
  rmSync(out);
  const observer = report.runs[0]!.observers[0]!;
  const records = observer.connections;
  const sum = (list: ConnectionRecord[]): number => list.reduce((n, r) => n + r.requests, 0);
  return {
    connections: records.length,
    decrypted: records.filter((r) => r.tls?.decryption?.status === 'decrypted').length,
    http1: sum(records.filter((r) => r.http2 === undefined)),
    http2: sum(records.filter((r) => r.http2 !== undefined)),
    requests: observer.totals.requests,
    suites: recordsPerSuite(records),
  };
}

/** `SUITE:RECORDS:BYTES` per cipher suite: the records the key log opened and their application data's bytes. */
function recordsPerSuite(records: ConnectionRecord[]): string[] {
  const per = new Map<string, { records: number; bytes: number }>();
  for (const r of records) {
    const t = r.tls;
    if (t?.cipherSuite == null || t.decryption === undefined) continue;
    const n = per.get(t.cipherSuite) ?? { records: 0, bytes: 0 };
    n.records += t.decryption.recordsOpened;
    n.bytes += t.applicationData.client.bytes + t.applicationData.server.bytes;
    per.set(t.cipherSuite, n);
  }
  return [...per].filter(([, n]) => n.records > 0).map(([suite, n]) => `${suite}:${n.records}:${n.bytes}`);
}

/** Seconds decipher-floor took to open `suites`' records (start-up excluded), best of `runs`. */
function decipherSeconds(suites: string[], runs: number): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, [DECIPHER_FLOOR, ...suites], { encoding: 'utf8' });
    best = Math.min(best, Number.parseFloat(out));
  }
  return best;
}

/** The https capture's shapes: the same generator's connections and records, cut into packets two ways. */
const HTTPS_SHAPES: readonly { name: string; mss?: number; title: string }[] = [
  { name: 'https', title: 'segments of up to 32 KiB, as captured on loopback' },
  {
    name: 'https-mtu',
    mss: ETHERNET_MSS,
    title: `Ethernet MTU: at most ${ETHERNET_MSS} bytes of payload a packet (1514-byte frames), as on a network card`,
  },
];

/**
 * The https capture (issue 10, "Speed"), in each shape: ours with the key log against tshark with the
 * same key log, at least 10x each tshark row; ours without the key log beside them (what decryption
 * costs), and what bounds ours on one thread (start-up and reading, and node:crypto opening the same
 * records, bench/decipher-floor.ts). First, whether ours, tshark and the generator agree on what was
 * decrypted.
 */
async function benchHttps(shape: (typeof HTTPS_SHAPES)[number]): Promise<boolean> {
  const { path, meta } = ensureCapture<HttpsCaptureMeta>(
    shape.name,
    (spec) =>
      writeHttpsCapture({
        ...spec,
        keylog: spec.path.replace(/\.pcap$/, '.keylog'),
        ...(shape.mss === undefined ? {} : { mss: shape.mss }),
      }),
    args['https-size'],
    HTTPS_GENERATOR_VERSION,
  );
  const keylog = meta.keylog;
  console.log(`\n== ${shape.name} (${shape.title}): ${path}\n   key log ${keylog}`);
  console.log(`   ${meta.description}`);
  console.log(
    `   ${(meta.bytes / MB).toFixed(1)} MB, ${fmt(meta.packets)} packets ` +
      `(${fmt(meta.bytes / meta.packets)} bytes/packet), ${fmt(meta.connections)} connections, ` +
      `${fmt(meta.http1.requests)} HTTP/1.1 requests, ${fmt(meta.http2.streams)} HTTP/2 streams`,
  );
  const ours = await oursDecrypted(path, keylog);
  const tsharkOut = join(tmp, 'tshark-counts.txt');
  const tsharkKeys = ['-o', `tls.keylog_file:${keylog}`];
  const tools: Tool[] = [
    { name: 'ours analyze --keylog', command: [process.execPath, CLI, 'analyze', path, '--keylog', keylog] },
    {
      name: 'ours analyze --keylog --json',
      command: [process.execPath, CLI, 'analyze', path, '--keylog', keylog, '--json'],
    },
    { name: 'ours analyze (no key log)', command: [process.execPath, CLI, 'analyze', path] },
    { name: 'bare walk (the limit)', command: [process.execPath, BARE_WALK, path] },
    { name: 'node start-up (node -e 0)', command: [process.execPath, '-e', '0'] },
    { name: 'tshark keylog -z conv,tcp', command: ['tshark', ...tsharkKeys, '-r', path, '-q', '-z', 'conv,tcp'] },
    {
      name: 'tshark keylog counting',
      command: ['tshark', ...tsharkKeys, '-r', path, '-q', '-z', TSHARK_COUNT_STAT],
      stdout: tsharkOut,
    },
  ];
  if (BASELINE_CLI !== undefined) {
    tools.push(
      { name: 'baseline --keylog', command: [process.execPath, BASELINE_CLI, 'analyze', path, '--keylog', keylog] },
      { name: 'baseline (no key log)', command: [process.execPath, BASELINE_CLI, 'analyze', path] },
    );
  }
  const bests = await bestOfEach(tools, RUNS, (tool) => (tool.name.startsWith('tshark') ? SLOW_SECONDS : Infinity));
  const rows: Row[] = tools.map((tool, k) => ({ name: tool.name, m: bests[k]! }));
  printTable(rows, meta);
  // By the row's whole name: 'ours analyze --keylog' is also the start of its --json row's.
  const seconds = (name: string): number => {
    const row = rows.find((r) => r.name === name);
    if (row === undefined) throw new Error(`no row ${name}`);
    return row.m.seconds;
  };

  // Agreement: a bench of a decryption that did not happen measures nothing.
  const counted = tsharkCounts(readFileSync(tsharkOut, 'utf8'));
  const [tsharkHttp1, tsharkHttp2] = counted ?? [NaN, NaN];
  const agree =
    ours.decrypted === meta.connections &&
    ours.connections === meta.connections &&
    ours.http1 === meta.http1.requests &&
    ours.http2 === meta.http2.streams &&
    tsharkHttp1 === meta.http1.requests &&
    tsharkHttp2 === meta.http2.streams;
  console.log(
    `   decrypted and counted: generator ${fmt(meta.http1.requests)} HTTP/1.1 requests + ${fmt(meta.http2.streams)} ` +
      `HTTP/2 streams on ${fmt(meta.connections)} connections; ours --keylog ${fmt(ours.http1)} + ${fmt(ours.http2)} ` +
      `(${fmt(ours.decrypted)} of ${fmt(ours.connections)} connections decrypted); tshark ` +
      `${counted === null ? '(no counts in its output)' : `${fmt(tsharkHttp1)} + ${fmt(tsharkHttp2)}`} ` +
      `(${TSHARK_COUNTED.join(', ')}): ${agree ? 'agree' : 'DISAGREE'}`,
  );
  const withKeys = seconds('ours analyze --keylog');
  const withKeysJson = seconds('ours analyze --keylog --json');
  const withoutKeys = seconds('ours analyze (no key log)');
  console.log(
    `   decryption costs ours ${(withKeys / withoutKeys).toFixed(2)}x the time without the key log ` +
      `(${withKeys.toFixed(3)} s against ${withoutKeys.toFixed(3)} s)`,
  );
  if (BASELINE_CLI !== undefined) {
    console.log(
      `   baseline / ours: --keylog ${(seconds('baseline --keylog') / withKeys).toFixed(2)}x, ` +
        `no key log ${(seconds('baseline (no key log)') / withoutKeys).toFixed(2)}x`,
    );
  }
  let ok = agree;
  const tsharkRows = rows.filter((r) => r.name.startsWith('tshark'));
  for (const row of tsharkRows) {
    const table = row.m.seconds / withKeys;
    const json = row.m.seconds / withKeysJson;
    const met = table >= TARGET_VS_TSHARK && json >= TARGET_VS_TSHARK;
    ok &&= met;
    console.log(
      `   ours --keylog / ${row.name} = ${table.toFixed(1)}x, --json ${json.toFixed(1)}x ` +
        `(target >= ${TARGET_VS_TSHARK}x) ${met ? 'ok' : 'MISSED'}`,
    );
  }
  // What no change to our parsing can remove on one thread: start-up and reading (the bare walk),
  // and node:crypto opening the same records (one decipher each: GCM's tag is checked per record).
  const walk = seconds('bare walk (the limit)');
  const decipher = decipherSeconds(ours.suites, RUNS);
  const floor = walk + decipher;
  const records = ours.suites.reduce((n, s) => n + Number(s.split(':')[1]), 0);
  const atBest = tsharkRows.map((r) => `${(r.m.seconds / floor).toFixed(1)}x ${r.name}`).join(', ');
  console.log(
    `   what bounds ours --keylog on one thread: the bare walk ${walk.toFixed(3)} s (start-up ` +
      `${seconds('node start-up (node -e 0)').toFixed(3)} s, reading) + opening its ${fmt(records)} records alone ` +
      `${decipher.toFixed(3)} s (bench/decipher-floor.ts: TlsRecordCipher.open, node:crypto) = ` +
      `${floor.toFixed(3)} s, with no parsing at all: at best ${atBest}`,
  );
  return ok;
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}; ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; peak RSS and CPU from ${hasTime ? `${TIME} -f '%M %U %S'` : '/proc/PID/status VmHWM (polled)'}`,
  );
  const captures: [string, (spec: CaptureSpec) => CaptureMeta][] = [
    ['keepalive', writeKeepAliveCapture],
    ['churn', writeChurnCapture],
  ];
  let ok = true;
  for (const [name, write] of captures) {
    if (args.only !== undefined && args.only !== name) continue;
    const { path, meta } = ensureCapture(name, write);
    if (name === 'keepalive' || args.only !== undefined) await startup(path);
    ok = (await benchCapture(name, path, meta)) && ok;
  }
  if (args.only === undefined || args.only === 'syn-flood') ok = (await benchSynFlood()) && ok;
  if (args.only === undefined || args.only === 'https') {
    for (const shape of HTTPS_SHAPES) ok = (await benchHttps(shape)) && ok;
  }
  rmSync(tmp, { recursive: true, force: true });
  console.log(ok ? '\nall targets met' : '\nsome targets missed');
}

await main();
