/** A run's `process` (model/process.ts) built in code: for the tests of its merge and of its renderers. */
import type { ProcessOrigin, ProcessSummary } from '../../src/model/process.js';
import type { Finding } from '../../src/model/report.js';

/** An origin with every count 0 but `counts`. */
export function processOrigin(origin: string, counts: Partial<ProcessOrigin> = {}): ProcessOrigin {
  return {
    origin,
    clients: ['node:http'],
    requests: 0,
    reusedRequests: 0,
    reuseShare: null,
    responses: 0,
    errors: {},
    connectionsOpened: 0,
    connectionsClosed: 0,
    connectionsOpen: 0,
    closeReasons: {},
    ttfbMs: null,
    keepAliveHintS: null,
    ...counts,
  };
}

/** A summary of Node 20.19.0 holding `origins`, no recent request, and `extra` (findings, pids...). */
export function processSummary(
  origins: ProcessOrigin[],
  extra: Partial<ProcessSummary> & { findings?: Finding[] } = {},
): ProcessSummary & { findings: Finding[] } {
  return { node: '20.19.0', missingChannels: [], origins, recentRequests: [], findings: [], ...extra };
}
