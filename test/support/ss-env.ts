/**
 * Is iproute2's ss here, recent enough for the flags the socket table uses (-O needs iproute2 5.x)?
 * CI installs it (.ci/run), so there its absence is a failure; on a user's machine tests skip.
 */
import { spawnSync } from 'node:child_process';

export function ssProblem(): string | null {
  const probe = spawnSync('ss', ['-tanHOneo', 'state', 'listening', 'state', 'closing', '( sport = :1 )'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  if (probe.error) return 'ss is not installed (apt-get install iproute2)';
  if (probe.status !== 0) return `ss cannot run: ${(probe.stderr ?? '').trim().split('\n')[0] ?? ''}`;
  return null;
}

/** For test options: skip (with the reason) only outside CI. */
export function ssSkip(): string | false {
  const problem = ssProblem();
  if (problem === null) return false;
  if (process.env.CI) throw new Error(`CI must have ss: ${problem}`);
  return problem;
}
