/**
 * `register` for a command `watch` runs: every Node process the command starts (the command itself,
 * `npm run`'s children...) loads it through NODE_OPTIONS (`--import`), counts its own requests, and at
 * exit writes its report as `<pid>.json` into a private directory (KEEPALIVE_LAB_REPORT_DIR, made by
 * mkdtemp, mode 0700), quietly (KEEPALIVE_LAB_SUMMARY=0: the command's stderr stays its own). `report()`
 * merges those files (process-views.ts) into one observer, `process`, beside the wire and the kernel's
 * table, and the run's `process` summary with the processes' own findings, keeping only the
 * connections and origins of the watched port (a process reports every origin it talked to).
 *
 * No file is not an error: the command was not Node.js, or it died of SIGKILL or of a signal other than
 * SIGINT and SIGTERM (no 'exit' event, no report; register.ts reports before those two). (A Node.js
 * without `--import`, before 18.19 and 20.6, refuses to start with it in NODE_OPTIONS: `--no-register`
 * is for those.) The observer is then unavailable, with the reason. The directory is removed by
 * `remove()`, which the caller runs in a `finally` (every way out, Ctrl-C included), as the key log's.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Report, Warning } from '../model/report.js';
import { RECORDS_ENV, REPORT_DIR_ENV, SIGNAL_ENV, SUMMARY_ENV } from './in-process/register-env.js';
import { nodeOption, withNodeOptions } from './node-options.js';
import { mergeProcessViews } from './process-views.js';
import type { MergedProcessView, ProcessReportView } from './process-views.js';

export interface CommandRegister {
  /** The directory the command's Node processes write their reports to. */
  readonly dir: string;
  /** The command's environment: `base` with the register in NODE_OPTIONS and its report directory. */
  env(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /**
   * The `process` observer and the run's `process` summary with its findings: the reports found,
   * merged, to the watched port only (after the command exited).
   */
  report(): Promise<MergedProcessView>;
  /** Removes the directory and the reports in it; never throws. */
  remove(): Promise<void>;
}

/** The register module, as a file URL (NODE_OPTIONS' --import takes one; no space in it to quote). */
export const REGISTER_URL = new URL('../register.js', import.meta.url).href;

/**
 * Closed connections each process keeps as records under watch (the register's default is 1000): as
 * many as the lab's own process observer keeps, so that the records are every connection of a watch.
 */
const WATCH_RECORDS = 100_000;

/** A private report directory for a command watched on `port`. */
export async function commandRegister(port: number): Promise<CommandRegister> {
  const dir = await mkdtemp(join(tmpdir(), 'kal-register-'));
  return {
    dir,
    env: (base) =>
      withNodeOptions(
        {
          ...base,
          [REPORT_DIR_ENV]: dir,
          [SUMMARY_ENV]: '0',
          [RECORDS_ENV]: String(WATCH_RECORDS),
          // watch's Ctrl-C (SIGINT to the command) then still gives the report; a user's 0 stays.
          [SIGNAL_ENV]: base[SIGNAL_ENV] === '0' ? '0' : 'all',
        },
        nodeOption('import', REGISTER_URL),
      ),
    report: () => readReports(dir, port),
    remove: () => rm(dir, { recursive: true, force: true }).catch(() => {}),
  };
}

async function readReports(dir: string, port: number): Promise<MergedProcessView> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const warnings: Warning[] = [];
  const views: ProcessReportView[] = [];
  for (const file of files) {
    const pid = file.slice(0, -'.json'.length);
    try {
      const run = (JSON.parse(await readFile(join(dir, file), 'utf8')) as Report).runs[0];
      const observer = run?.observers.find((o) => o.observer === 'process');
      if (observer === undefined) throw new Error('no process observer in it');
      views.push({ pid, observer, ...(run!.process ? { process: run!.process, findings: run!.findings } : {}) });
    } catch (error) {
      // A process killed while it wrote: what the others saw still counts.
      warnings.push({
        code: 'KAL_WARN_REGISTER_REPORT',
        message: `the report of the command's process ${pid} cannot be read: ${(error as Error).message}`,
      });
    }
  }
  return mergeProcessViews(views, port, WATCH_RECORDS, warnings);
}
