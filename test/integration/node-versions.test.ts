/**
 * The register and the in-process tracker on Node 22 and 24 (issue 11), beside the Node the suite runs
 * on (20): the tests that run them in real processes are run again, each file as it is, by `node22`
 * and `node24` (`--test`, one file at a time). Their children are `process.execPath`, so the app, the
 * register and the tracker all run on that release. What differs between releases is in the tests
 * themselves (e.g. tracker-call-site's reused socket) and in README "Node versions". A release's run is
 * killed after RUN_BOUND_MS (the test then fails); a failure names the failing tests.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { NODE_RELEASES, nodeReleaseSkip } from '../support/node-releases.js';

/** The compiled tests that run the register or the tracker against real sockets, under dist/test/. */
const FILES = [
  'cli/register.test.js',
  'integration/tracker-http.test.js',
  'integration/tracker-call-site.test.js',
  'integration/metrics-app.test.js',
  'integration/process-observer.test.js',
].map((f) => fileURLToPath(new URL(`../${f}`, import.meta.url)));

/** One release's run of FILES takes about 30 s on a loaded machine; one still running after this is killed. */
const RUN_BOUND_MS = 150_000;

interface TapRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** `bin --test` on FILES, TAP on stdout; its process group killed when the bound runs out. */
function runTests(bin: string): Promise<TapRun> {
  const env = { ...process.env };
  // Set by this suite's own runner: a runner that inherits it reports to a parent, not as TAP.
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(bin, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...FILES], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    // Its own process group: the bound kills the runner and the test processes it started.
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }, RUN_BOUND_MS);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

/** The TAP summary's count, e.g. `# pass 31`. */
function count(out: string, name: string): number {
  return Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(out)?.[1] ?? NaN);
}

for (const release of NODE_RELEASES) {
  test(
    `${release.bin}: the register's and the tracker's tests pass on Node ${release.major}`,
    { skip: nodeReleaseSkip(release) },
    async (t) => {
      const run = await runTests(release.bin);
      const failed = [...run.out.matchAll(/^\s*not ok \d+ - (.*)$/gm)]
        .map((m) => m[1]!)
        .filter((name) => !/# (SKIP|TODO)\b/.test(name));
      assert.equal(run.signal, null, `${release.bin} killed after ${RUN_BOUND_MS} ms\n${run.out.slice(-2000)}`);
      assert.deepEqual(failed, [], `failing on ${release.bin}:\n${failed.join('\n')}\n${run.err.slice(-2000)}`);
      assert.equal(run.code, 0, run.err.slice(-2000));
      t.diagnostic(`${release.bin}: ${count(run.out, 'pass')} passed, ${count(run.out, 'skipped')} skipped`);
      assert.ok(count(run.out, 'pass') > 0, 'tests ran');
      assert.equal(count(run.out, 'fail'), 0);
      // Under CI nothing may skip (a missing tcpdump fails there already); elsewhere a skip is said above.
      if (process.env.CI) assert.equal(count(run.out, 'skipped'), 0);
    },
  );
}
