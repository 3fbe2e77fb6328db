/**
 * `npm run bench:html`: how long the HTML report of 10,000 connections takes to open in Chromium
 * (issue 12: under 2 s). Builds the report in code (test/support/html-report.ts: `--connections`
 * connections of `--requests` requests each), renders it (the time and the file's size are printed),
 * then opens it `--rounds` times in a fresh page of headless chromium (KAL_CHROMIUM, else chromium on
 * PATH) and prints, per round and as the median: the time from the start of the navigation to the
 * page's first complete drawing (performance.now() when the script marked the page rendered), the
 * script's own part, and the wall-clock time from goto() until the page said so.
 *
 * Usage: npm run bench:html [-- --connections N] [--requests N] [--rounds N]
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { renderHtml } from '../src/report/html.js';
import type { PageSummary } from '../src/report/html/page.js';
import { launchChromium } from '../test/support/browser.js';
import { syntheticReport } from '../test/support/html-report.js';

// What the page.evaluate callbacks use of the browser's globals (they run in the page; this program has no
// DOM types: only html/browser.ts has them, tsconfig.browser.json), declared for this file only.
declare const window: { __kal: PageSummary };
declare const document: { body: { dataset: Record<string, string | undefined> } | null };

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
  },
});
const connections = Number(values.connections);
const requests = Number(values.requests);
const rounds = Number(values.rounds);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const report = syntheticReport('analyze', [
  { title: `${connections} connections`, connections, requestsPerConnection: requests, resetEvery: 97 },
]);
let t = performance.now();
const html = renderHtml(report);
const renderMs = performance.now() - t;
const dir = mkdtempSync(join(tmpdir(), 'kal-bench-html-'));
const file = join(dir, 'report.html');
writeFileSync(file, html);
console.log(
  `${connections} connections, ${requests} requests each: rendered in ${renderMs.toFixed(0)} ms, ` +
    `${(statSync(file).size / 1e6).toFixed(1)} MB`,
);

let browser: Browser | undefined;
try {
  browser = await launchChromium();
  const ready: number[] = [];
  const script: number[] = [];
  const wall: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    t = performance.now();
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => document.body?.dataset.rendered === 'true', undefined, { polling: 'raf' });
    wall.push(performance.now() - t);
    const s = await page.evaluate(() => {
      const k = window.__kal;
      return { readyMs: k.readyMs, renderMs: k.renderMs, lanes: k.lanes };
    });
    if (s.lanes !== connections) throw new Error(`the page drew ${s.lanes} lanes, not ${connections}`);
    ready.push(s.readyMs);
    script.push(s.renderMs);
    console.log(
      `round ${round}: navigation to drawn ${s.readyMs.toFixed(0)} ms (script ${s.renderMs.toFixed(0)} ms), ` +
        `goto to drawn ${wall.at(-1)!.toFixed(0)} ms`,
    );
    await page.close();
  }
  console.log(
    `median of ${rounds}: navigation to drawn ${median(ready).toFixed(0)} ms ` +
      `(script ${median(script).toFixed(0)} ms), ` +
      `goto to drawn ${median(wall).toFixed(0)} ms; target: under 2000 ms`,
  );
} finally {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
}
