/**
 * The lab's reproductions of the findings (issue 9, "Lab"): each runs Node's clients against the
 * in-process server set up to cause one finding, and resolves with the run's report, which holds it.
 */
import type { FindingCode, RunReport } from '../../model/report.js';

export interface FindingScenarioOptions {
  signal?: AbortSignal;
  /** Capture packets with tcpdump (default true). */
  capture?: boolean;
  /** Read the kernel socket table (default true). */
  kernel?: boolean;
  tcpdump?: string;
}

export interface FindingScenario {
  name: string;
  title: string;
  /** The finding it reproduces. */
  finding: FindingCode;
  run(options: FindingScenarioOptions): Promise<RunReport>;
}

export const FINDING_SCENARIOS: readonly FindingScenario[] = [];
