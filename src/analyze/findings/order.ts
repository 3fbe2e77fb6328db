/**
 * The order findings are listed in, everywhere (analyze, the lab, the in-process tracker, watch's
 * merged process views). Its own module, so that the tracker does not load every detector for it.
 */
import type { Finding, FindingSeverity } from '../../model/report.js';

/** Most severe first. */
const SEVERITY_ORDER: Record<FindingSeverity, number> = { error: 0, warning: 1, info: 2 };

/** The order findings are listed in: most severe first, then the one over most connections. */
export function compareFindings(a: Finding, b: Finding): number {
  return SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || b.evidence.count - a.evidence.count;
}
