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
/** How many closed connections are kept as records for the report (default 1000; totals count them all). */
export const RECORDS_ENV = 'KEEPALIVE_LAB_RECORDS';

/** The record cap RECORDS_ENV asks for: a positive integer up to 1,000,000, else undefined (the default). */
export function recordsFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= 1 && n <= 1_000_000 ? n : undefined;
}
