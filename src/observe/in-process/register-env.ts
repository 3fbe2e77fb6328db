/**
 * The environment variables `register` reads that `watch` sets for its command (observe/command-register.ts).
 * Here, not in register.ts: importing register.ts starts a tracker.
 */

/**
 * A directory: each Node process writes its JSON report there as `<pid>.json` (a command's child
 * processes inherit NODE_OPTIONS, and each needs a file of its own).
 */
export const REPORT_DIR_ENV = 'KEEPALIVE_LAB_REPORT_DIR';
/** KEEPALIVE_LAB_SUMMARY=0: no summary on stderr (warnings are still printed). */
export const SUMMARY_ENV = 'KEEPALIVE_LAB_SUMMARY';
/**
 * Which signals the register listens to. Unset: SIGUSR2 only (a report; the one change to the app's
 * signals). `0`: none. `all`: SIGUSR2, and SIGINT and SIGTERM when the app has no handler of its own
 * (the report, then the signal raised again): what `watch` sets, so that its Ctrl-C keeps the view. Not
 * the default: like any JS signal listener, ours runs only once the app's code yields, so an app busy in
 * synchronous code is not stopped at once, and one whose event loop then runs out exits 0.
 */
export const SIGNAL_ENV = 'KEEPALIVE_LAB_SIGNAL';

/** How many closed connections are kept as records for the report (default 1000; totals count them all). */
export const RECORDS_ENV = 'KEEPALIVE_LAB_RECORDS';

/** The record cap RECORDS_ENV asks for: a positive integer up to 1,000,000, else undefined (the default). */
export function recordsFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= 1 && n <= 1_000_000 ? n : undefined;
}
