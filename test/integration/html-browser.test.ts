/**
 * The HTML report in a real browser (issue 12): Debian's chromium, headless, driven by playwright-core.
 * The page must load without a console error, draw as many lanes, bars and finding marks as the
 * report holds, show a request's method, path, status and times when the pointer is on its bar, keep
 * hostile text from the traffic as text (no dialog, no injected element), and open a report of 10,000
 * connections with only the rows in view as elements. Load times are printed, never asserted (the
 * figure is `npm run bench:html`'s). Screenshots are kept in test-artifacts/ (or KAL_ARTIFACTS).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { Report } from '../../src/model/report.js';
import { renderHtml } from '../../src/report/html.js';
import type { PageSummary } from '../../src/report/html/page.js';
import { artifactsDir, browserSkip, launchChromium } from '../support/browser.js';
import { expectedCounts, HOSTILE_FILE, HOSTILE_PATH, syntheticReport } from '../support/html-report.js';

const skip = browserSkip();

// What the page.evaluate callbacks below use of the browser's globals: they run in the page. This
// program has no DOM types (only html/browser.ts has them, tsconfig.browser.json), so these few are
// declared here, for this file only.
declare const window: { __kal: PageSummary; scrollTo(x: number, y: number): void };
declare const document: {
  body: { innerText: string };
  getElementById(id: string): { offsetTop: number } | null;
  querySelectorAll(selector: string): { length: number };
  getElementsByTagName(name: string): { length: number };
};

/** What went wrong on a page: console errors, uncaught exceptions, dialogs (alert() from injected text). */
interface PageTrouble {
  errors: string[];
  dialogs: string[];
}

async function openReport(browser: Browser, report: Report, dir: string, name: string) {
  const file = join(dir, `${name}.html`);
  writeFileSync(file, renderHtml(report));
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const trouble: PageTrouble = { errors: [], dialogs: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') trouble.errors.push(m.text());
  });
  page.on('pageerror', (e) => trouble.errors.push(e.message));
  page.on('dialog', (d) => {
    trouble.dialogs.push(d.message());
    void d.dismiss();
  });
  const before = Date.now();
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-rendered="true"]', { timeout: 60_000 });
  return { page, trouble, loadMs: Date.now() - before };
}

const summaryOf = (page: Page) =>
  page.evaluate(() => {
    const s = window.__kal;
    return {
      lanes: s.lanes,
      bars: s.bars,
      marks: s.marks,
      runs: s.runs,
      renderMs: s.renderMs,
      readyMs: s.readyMs,
      rows: s.tableRows(),
    };
  });

test('html report in chromium: counts, hover, hostile text, zoom, filter and sort', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kal-html-'));
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    // A demo: "before" (a connection per request) and "after" (reuse), on one time scale.
    const report = syntheticReport('demo', [
      { title: 'before: a connection per request', connections: 30, requestsPerConnection: 1, resetEvery: 10 },
      {
        title: 'after: keep-alive <b>reuse</b>',
        connections: 3,
        requestsPerConnection: 10,
        keepAliveTimeoutS: 1,
        idleMs: 600,
        origin: 1_700_000_100_000,
        hostile: true,
      },
    ]);
    const { page, trouble, loadMs } = await openReport(browser, report, dir, 'demo');
    t.diagnostic(`demo page rendered in ${loadMs} ms`);
    const expected = expectedCounts(report);
    const seen = await summaryOf(page);
    assert.deepEqual(
      { lanes: seen.lanes, bars: seen.bars, marks: seen.marks, runs: seen.runs, rows: seen.rows },
      { ...expected, runs: 2, rows: expected.lanes },
    );
    assert.deepEqual(expected, { lanes: 33, bars: 60, marks: 4 }, 'the report holds what was built');
    const canvas = page.locator('#kal-timeline');
    assert.equal(await canvas.getAttribute('data-lanes'), '33');
    assert.equal(await canvas.getAttribute('data-bars'), '60');
    const shots = artifactsDir();
    await page.screenshot({ path: join(shots, 'html-demo.png'), fullPage: true });

    // Hover: the first request of the second run's first connection, whose path is hostile.
    await page.evaluate(() => window.scrollTo(0, document.getElementById('kal-timeline')!.offsetTop - 40));
    const at = await page.evaluate(() => window.__kal.barAt(1, 1, 0));
    assert.ok(at, 'the bar is drawn');
    await page.mouse.move(at.x, at.y);
    const tooltip = page.locator('#kal-tooltip');
    await tooltip.waitFor({ state: 'visible' });
    const tip = await tooltip.textContent();
    assert.ok(tip?.includes(`request 1: GET ${HOSTILE_PATH} -> 200`), tip ?? '');
    assert.match(tip!, /#1 10\.0\.0\.1:40001 -> 10\.0\.0\.2:8080/);
    assert.match(tip!, /at [\d.]+ ms, took 1\.5 ms/);
    await page.screenshot({ path: join(shots, 'html-hover.png') });

    // Hostile text stayed text: no dialog, no element made of it, and shown as written.
    const injected = await page.evaluate(() => ({
      images: document.querySelectorAll('img').length,
      bold: document.querySelectorAll('b').length,
      scripts: document.querySelectorAll('script').length,
      text: document.body.innerText,
    }));
    assert.deepEqual(
      { images: injected.images, bold: injected.bold, scripts: injected.scripts },
      {
        images: 0,
        bold: 0,
        scripts: 2,
      },
    );
    assert.ok(injected.text.includes(HOSTILE_FILE), 'the file name shown as text');
    assert.ok(injected.text.includes(`race on ${HOSTILE_PATH}`), 'the finding shown as text');

    // The table: filter on the hostile path (one connection has it), sort by requests, descending.
    await page.fill('#kal-filter', '<script>');
    assert.equal((await summaryOf(page)).rows, 1);
    assert.equal(await page.locator('#kal-table-body .row').count(), 1);
    assert.ok((await page.locator('#kal-table-body .row').first().textContent())?.includes('10.0.0.1:40001'));
    await page.fill('#kal-filter', '');
    const requestsHead = page.locator('#kal-table-head > div', { hasText: /^requests$/ });
    await requestsHead.click();
    await requestsHead.click();
    assert.equal(await requestsHead.getAttribute('aria-sort'), 'descending');
    const firstRow = await page.locator('#kal-table-body .row').first().locator('div').allTextContents();
    assert.deepEqual([firstRow[0], firstRow[6]], ['2', '10'], 'the after run first, 10 requests');

    // Zoom and pan, then reset: the bar is where it was.
    const box = (await canvas.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + 60);
    await page.mouse.wheel(0, -400);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 - 120, box.y + 80, { steps: 4 });
    await page.mouse.up();
    await page.screenshot({ path: join(shots, 'html-zoomed.png') });
    await page.click('#kal-reset');
    const again = await page.evaluate(() => window.__kal.barAt(1, 1, 0));
    assert.deepEqual([again?.canvasX, again?.canvasY], [at.canvasX, at.canvasY]);

    assert.deepEqual(trouble, { errors: [], dialogs: [] });
    t.diagnostic(`screenshots in ${shots}`);
  } finally {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'html report in chromium: 10,000 connections open, with only the rows in view as elements',
  { skip },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kal-html-'));
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      const report = syntheticReport('analyze', [
        { title: 'ten thousand connections', connections: 10_000, requestsPerConnection: 2, resetEvery: 97 },
      ]);
      const { page, trouble, loadMs } = await openReport(browser, report, dir, 'ten-thousand');
      const seen = await summaryOf(page);
      t.diagnostic(
        `10,000 connections: drawn ${seen.readyMs.toFixed(0)} ms after the navigation began ` +
          `(script ${seen.renderMs.toFixed(0)} ms; goto() to drawn ${loadMs} ms)`,
      );
      const expected = expectedCounts(report);
      assert.deepEqual({ lanes: seen.lanes, bars: seen.bars, marks: seen.marks }, expected);
      assert.equal(expected.lanes, 10_000);
      const elements = await page.evaluate(() => ({
        rows: document.querySelectorAll('#kal-table-body .row').length,
        all: document.getElementsByTagName('*').length,
      }));
      assert.ok(elements.rows > 0 && elements.rows < 100, `${elements.rows} table rows as elements`);
      assert.ok(elements.all < 1000, `${elements.all} elements in the page`);
      // The last connection is reachable: its bar is drawn once scrolled to.
      const last = await page.evaluate(() => window.__kal.barAt(0, 10_000, 1));
      assert.ok(last, 'the last bar is drawn');
      await page.screenshot({ path: join(artifactsDir(), 'html-10k.png') });
      assert.deepEqual(trouble, { errors: [], dialogs: [] });
    } finally {
      await browser?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
