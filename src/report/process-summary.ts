/**
 * The register's lines on stderr: per origin, requests, connections, the share of requests that
 * reused a connection, how connections closed, and the findings in one line each. Pure: a
 * ProcessView (observe/in-process/tracker.ts) in, a string out.
 */
import type { ProcessSummary } from '../model/process.js';
import type { Finding } from '../model/report.js';
import { plural } from '../util/text.js';

function percent(share: number | null): string {
  return share === null ? '-' : `${Math.round(share * 100)}%`;
}

export function renderProcessSummary(process: ProcessSummary, findings: readonly Finding[], why: string): string {
  const lines = [`keepalive-lab register (${why}): ${plural(process.origins.length, 'origin')}`];
  for (const o of process.origins) {
    const closes = Object.entries(o.closeReasons)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ');
    const errors = Object.entries(o.errors)
      .map(([code, n]) => `${code} ${n}`)
      .join(', ');
    lines.push(
      `  ${o.origin}: ${plural(o.requests, 'request')}, ${plural(o.connectionsOpened, 'connection')} ` +
        `(${o.connectionsOpen} open), reuse ${percent(o.reuseShare)}` +
        (closes === '' ? '' : `; closed: ${closes}`) +
        (errors === '' ? '' : `; errors: ${errors}`),
    );
  }
  for (const f of findings) lines.push(`  [${f.severity}] ${f.summary}`);
  if (process.missingChannels.length > 0)
    lines.push(`  (not measured: Node ${process.node} lacks ${process.missingChannels.join(', ')})`);
  return `${lines.join('\n')}\n`;
}
