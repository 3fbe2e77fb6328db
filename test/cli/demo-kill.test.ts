/**
 * The demo's one tcpdump and one ss -E (observe/shared.ts) run for all its experiments: a SIGKILL
 * of the demo, which runs no handler of ours, must end them too (issue 8: "SIGKILL of watch or demo
 * left tcpdump capturing"). Their guard (observe/guarded-child.ts) ends them when the kernel closes
 * our end of its pipe. Counted on the processes themselves, by pid.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { captureSkip } from '../support/capture-env.js';
import { startCli } from '../support/cli.js';
import { alive, descendantsNamed } from '../support/leaks.js';
import { ssSkip } from '../support/ss-env.js';

const BOUND_MS = 20_000;

test(
  'demo: SIGKILLed while its experiments run, its tcpdump and ss -E end',
  { skip: captureSkip() || ssSkip() },
  async () => {
    const { child, done } = startCli(['demo', '--json']);
    try {
      const deadline = Date.now() + BOUND_MS;
      let pids: number[] = [];
      // Both programs started (the kernel observer's snapshots are ss too: any ss below the demo will do).
      while (Date.now() < deadline) {
        const tcpdump = descendantsNamed('tcpdump', child.pid);
        const ss = descendantsNamed('ss', child.pid);
        if (tcpdump.length > 0 && ss.length > 0) {
          pids = [...tcpdump, ...ss];
          break;
        }
        if (child.exitCode !== null) break;
        await delay(5);
      }
      assert.ok(pids.length >= 2, 'the demo started tcpdump and ss');
      child.kill('SIGKILL');
      await done;
      while (pids.some(alive) && Date.now() < deadline + BOUND_MS) await delay(20);
      assert.deepEqual(pids.filter(alive), [], 'nothing the demo started is left running');
    } finally {
      child.kill('SIGKILL');
    }
  },
);
