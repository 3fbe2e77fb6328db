/**
 * A real browser for the HTML report's tests: Debian's chromium driven by playwright-core. CI installs
 * it (.ci/run), so there a missing chromium is a failure; on a user's machine the tests skip and say
 * why. `KAL_CHROMIUM` names another binary. Screenshots go to `KAL_ARTIFACTS` (default test-artifacts/
 * at the repository's root, ignored by git).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

/** The chromium binary: KAL_CHROMIUM, else `chromium` on PATH; null when there is none. */
export function chromiumPath(): string | null {
  const given = process.env.KAL_CHROMIUM;
  if (given !== undefined && given !== '') return existsSync(given) ? given : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'chromium');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return null;
}

/** For test options: skip (with the reason) only outside CI; in CI a missing chromium fails. */
export function browserSkip(): string | false {
  if (chromiumPath() !== null) return false;
  const problem = 'chromium is not installed (apt-get install chromium, or set KAL_CHROMIUM)';
  if (process.env.CI) throw new Error(`CI must be able to run a browser: ${problem}`);
  return problem;
}

/** Headless chromium (no sandbox: CI runs as root, where chromium refuses its sandbox). */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === null) throw new Error('chromium is not installed');
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
}

/** Where screenshots are kept after the run: KAL_ARTIFACTS, or test-artifacts/ at the repository's root. */
export function artifactsDir(): string {
  const dir = process.env.KAL_ARTIFACTS ?? fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  return dir;
}
