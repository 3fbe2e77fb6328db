/**
 * Lab scenarios that reproduce a finding (issue 9): each runs real programs on loopback, configured
 * to cause it, and returns the run's report with the finding raised from what was observed.
 *
 * Placeholder of the interface only (the branch that adds the list, `scen`, holds the full file):
 * path-order.ts needs the interface; its scenario is not listed here yet.
 */
import type { FindingCode, RunReport } from '../../model/report.js';

export interface FindingScenarioOptions {
  /** Ends the scenario at once: everything it opened is closed, and the promise rejects with the reason. */
  signal?: AbortSignal;
  /** Capture packets with tcpdump (default true). */
  capture?: boolean;
  /** Read the kernel socket table (default true), where the scenario can. */
  kernel?: boolean;
  tcpdump?: string;
}

export interface FindingScenario {
  name: string;
  title: string;
  finding: FindingCode;
  run(options: FindingScenarioOptions): Promise<RunReport>;
}

export const FINDING_SCENARIOS: FindingScenario[] = [];
