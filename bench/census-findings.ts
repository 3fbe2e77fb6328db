/**
 * `npm run census:findings`: which of the test suite's captures raise which finding (issue 9, "done
 * when": how many test captures raise each finding, false alarms: 0). Runs the test files with
 * KAL_FINDINGS_CENSUS set, so that the tshark check of each file (test/support/tshark-check.ts) writes
 * a line per capture it analyzed: the test file, where the capture was built, the findings raised.
 * Then prints, per finding code, how many captures raise it and which: a person checks each is one
 * the test meant to raise.
 *
 * Runs the suite: take the shared lock (`flock /tmp/kal-suite.lock npm run census:findings`).
 *
 * Usage: npm run census:findings [-- PATH...]   (test files or folders, default dist/test/)
 *        npm run census:findings -- --read FILE  (only print the table of a census written before)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { FINDING_CODES } from '../src/model/report.js';
import type { CensusLine } from '../test/support/tshark-check.js';

/** Runs the test files with the census on; resolves with node --test's exit code. */
function runSuite(paths: string[], census: string): Promise<number> {
  return new Promise((resolve, reject) => {
    // Source maps (the test processes inherit the flag, not the programs they start, whose start-up
    // times some tests count on): the census says where each capture was built in the .ts sources.
    const child = spawn(process.execPath, ['--enable-source-maps', '--test', '--test-concurrency=2', ...paths], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, KAL_FINDINGS_CENSUS: census },
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

export function readCensus(text: string): CensusLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CensusLine);
}

/** The table: per finding code, the captures raising it (with severity and connections), then the totals. */
export function censusTable(lines: readonly CensusLine[]): string {
  const out: string[] = [];
  const files = new Set(lines.map((l) => l.file));
  const quiet = lines.filter((l) => l.findings.length === 0).length;
  out.push(
    `${lines.length} captures analyzed in ${files.size} test files; ${quiet} raise no finding, ` +
      `${lines.length - quiet} raise at least one`,
    '',
    'finding          captures',
  );
  for (const code of FINDING_CODES) {
    const raising = lines.filter((l) => l.findings.some((f) => f.code === code));
    out.push(`${code.padEnd(16)} ${raising.length}`);
  }
  for (const code of FINDING_CODES) {
    // Captures built at the same place by the same test (a loop over link types, say) on one line each.
    const groups = new Map<string, number>();
    for (const l of lines) {
      const f = l.findings.find((x) => x.code === code);
      if (f === undefined) continue;
      const others = l.findings.filter((x) => x.code !== code).map((x) => x.code);
      const line =
        `  ${l.test || '(outside a test)'} [${l.origin}]: ${f.severity}, ${f.connections} of ${l.connections} ` +
        `connections${others.length > 0 ? `; also ${others.join(', ')}` : ''}${l.excluded ? ` (${l.excluded})` : ''}`;
      groups.set(line, (groups.get(line) ?? 0) + 1);
    }
    if (groups.size === 0) continue;
    out.push('', `${code}:`);
    for (const [line, n] of groups) out.push(n > 1 ? `${line}  (x${n})` : line);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { read: { type: 'string' } }, allowPositionals: true });
  let text: string;
  let code = 0;
  if (values.read !== undefined) {
    text = readFileSync(values.read, 'utf8');
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'kal-census-'));
    const census = join(dir, 'census.jsonl');
    try {
      code = await runSuite(positionals.length > 0 ? positionals : ['dist/test/'], census);
      try {
        text = readFileSync(census, 'utf8');
      } catch {
        text = '';
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const lines = readCensus(text);
  if (lines.length === 0) {
    console.error('census: no capture was analyzed (is tshark installed? the census rides on its check)');
    process.exitCode = 1;
    return;
  }
  console.log(`\n${censusTable(lines)}`);
  if (code !== 0) console.error(`\ncensus: the test run failed (exit ${code}); the table covers what ran`);
  process.exitCode = code;
}

// Run as a script (a unit test imports the table alone).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
