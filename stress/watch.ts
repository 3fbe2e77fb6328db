/**
 * Does `watch` count every connection, run after run? The loads of issue 8 against nginx (one
 * worker, `return 200`, started here on a free loopback port), each repeated N times; a run is
 * exact when the wire counts what the load tool says it made (connections and requests), the
 * kernel the same connections, and tcpdump lost nothing (test/support/watch-load.ts judges).
 * Not part of `npm test` (a 20-run repetition of ab-20 is: test/integration/watch-counts.test.ts).
 *
 * Usage: npm run stress:watch [-- --runs N] [--load ab-20,duration,ab-200,ab-2000,wrk]
 *   --runs N    repetitions of each load (default: 200 of ab-20, 50 of the others)
 *   --load L    only these loads, comma-separated
 * Needs tcpdump (as root or with capabilities), ab, wrk and nginx. Run it alone on the machine
 * (`flock /tmp/kal-suite.lock npm run stress:watch`): it measures whether nothing is lost under
 * the load it makes, not under someone else's.
 */
import { parseArgs } from 'node:util';
import { startNginx } from '../test/support/nginx.js';
import { LOADS, allMisses } from '../test/support/watch-load.js';
import type { LoadRun } from '../test/support/watch-load.js';

const DEFAULT_RUNS: Record<string, number> = { 'ab-20': 200 };
const DEFAULT_OTHER_RUNS = 50;

const { values } = parseArgs({ options: { runs: { type: 'string' }, load: { type: 'string' } } });
const runsOption = values.runs === undefined ? undefined : Number(values.runs);
if (runsOption !== undefined && !(Number.isInteger(runsOption) && runsOption > 0)) {
  console.error(`--runs takes a positive integer, got '${values.runs}'`);
  process.exit(2);
}
const names = values.load?.split(',') ?? LOADS.map((l) => l.name);
const unknown = names.filter((n) => !LOADS.some((l) => l.name === n));
if (unknown.length > 0) {
  console.error(`unknown load ${unknown.join(', ')}: the loads are ${LOADS.map((l) => l.name).join(', ')}`);
  process.exit(2);
}

const nginx = await startNginx();
const rows: string[][] = [['load', 'exact', 'wire exact', 'kernel exact', 'runs with drops', 'what']];
try {
  for (const load of LOADS.filter((l) => names.includes(l.name))) {
    const runs = runsOption ?? DEFAULT_RUNS[load.name] ?? DEFAULT_OTHER_RUNS;
    let exact = 0;
    let wireExact = 0;
    let kernelExact = 0;
    let drops = 0;
    for (let i = 1; i <= runs; i++) {
      process.stderr.write(`\r\x1b[K${load.name}: run ${i}/${runs}, ${exact} exact so far`);
      let run: LoadRun;
      try {
        run = await load.run(nginx.url, nginx.port);
      } catch (error) {
        process.stderr.write(`\r\x1b[K${load.name} run ${i}: ${(error as Error).message}\n`);
        continue;
      }
      const misses = allMisses(run);
      if (misses.length === 0) exact++;
      if (run.misses.wire.length === 0) wireExact++;
      if (run.misses.kernel.length === 0) kernelExact++;
      if ((run.wire?.packetsDropped ?? 0) > 0) drops++;
      if (misses.length > 0) process.stderr.write(`\r\x1b[K${load.name} run ${i}: ${misses.join('; ')}\n`);
    }
    process.stderr.write('\r\x1b[K');
    const of = (n: number) => `${n}/${runs}`;
    rows.push([load.name, of(exact), of(wireExact), of(kernelExact), String(drops), load.title]);
  }
} finally {
  await nginx.stop();
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
