/**
 * Can this machine capture packets? CI installs tcpdump and runs as root, so there a missing
 * capability is a failure, not a skip; on a user's machine tests that need it skip and say why.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export function tcpdumpProblem(): string | null {
  const which = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' });
  if (which.error) return 'tcpdump is not installed (apt-get install tcpdump)';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    // Not root: it may still work with file capabilities; try a capture that exits at once.
    const probe = spawnSync('tcpdump', ['-i', 'lo', '-c', '1', '-w', '/dev/null', 'tcp port 1'], {
      timeout: 2000,
      encoding: 'utf8',
    });
    if (/permission|not permitted/i.test(probe.stderr ?? ''))
      return 'tcpdump may not capture here (run as root or give it cap_net_raw)';
  }
  return null;
}

/** For t.test/test options: skip (with the reason) only outside CI. */
export function captureSkip(): string | false {
  const problem = tcpdumpProblem();
  if (problem === null) return false;
  if (process.env.CI) throw new Error(`CI must be able to capture packets: ${problem}`);
  return problem;
}

/**
 * A temporary directory for a test's captures, removed after the test; with KAL_KEEP_CAPTURES=1 kept
 * (and said where) to look at a failure with tcpdump -r or tshark.
 */
export async function captureDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (process.env.KAL_KEEP_CAPTURES) t.diagnostic(`captures kept in ${dir}`);
  else t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
