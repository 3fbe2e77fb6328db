/**
 * `probe`'s report as text: what the server speaks, its idle timeout (± precision, how it closes,
 * next to what it advertises), its request cap, TLS and HTTP/2, then the client settings. Pure: a
 * ProbeReport in, a string out; `--json` prints the same object.
 */
import type { CloseKind, IdleTrial, ProbeReport } from '../model/probe.js';
import { COLOR, PLAIN, formatMs, table, type Style } from './text.js';

const CLOSE_WORDS: Record<CloseKind, string> = { fin: 'FIN', rst: 'RST', silent: 'no answer (silently dropped?)' };

/** One trial in a few words: `4 s closed (FIN at 3.00 s)`. */
function trialText(t: IdleTrial): string {
  const at = t.closedAfterMs === undefined ? '' : ` at ${formatMs(t.closedAfterMs)}`;
  switch (t.outcome) {
    case 'answered':
      return `${formatMs(t.gapMs)} ok`;
    case 'closed':
      return `${formatMs(t.gapMs)} closed (${CLOSE_WORDS[t.closeKind ?? 'fin']}${at})`;
    case 'failed':
      return `${formatMs(t.gapMs)} failed in flight (${CLOSE_WORDS[t.closeKind ?? 'fin']}${at})`;
    case 'no-answer':
      return `${formatMs(t.gapMs)} no answer`;
  }
}

const yesNo = (b: boolean, s: Style) => (b ? s.green('yes') : s.yellow('no'));

export function renderProbe(report: ProbeReport, options: { color?: boolean } = {}): string {
  const s = options.color ? COLOR : PLAIN;
  const rows: string[][] = [];
  const row = (label: string, value: string) => rows.push([label, value]);
  const { http1, idleTimeout: idle, requestCap, tls, http2, recommendation: rec, budget } = report;

  row('response', `${http1.responseVersion}${http1.server === null ? '' : `, Server: ${http1.server}`}`);
  row(
    'keep-alive',
    `HTTP/1.1: ${yesNo(http1.keepAlive11, s)}; HTTP/1.0 with Connection: keep-alive: ${yesNo(http1.keepAlive10, s)}`,
  );
  row('Keep-Alive header', http1.advertised === null ? 'none' : `${http1.advertised.raw} (advertised)`);
  row(
    'Connection: close',
    `${http1.connectionClose.echoed ? 'echoed' : 'not echoed'}, then ${
      http1.connectionClose.closeKind === null
        ? 'left open'
        : `closed with ${CLOSE_WORDS[http1.connectionClose.closeKind]}`
    }`,
  );
  row(
    'pipelining',
    `${http1.pipelining.sent} requests in one write: ${http1.pipelining.answered} answered (${
      http1.pipelining.accepted ? 'accepted' : 'not accepted'
    })`,
  );

  if (idle.timeoutMs !== null) {
    const advertised =
      http1.advertised?.timeoutS == null ? 'none advertised' : `advertised timeout=${http1.advertised.timeoutS}`;
    row(
      'idle timeout',
      `${s.bold(`${formatMs(idle.timeoutMs)} ± ${formatMs(idle.precisionMs!)}`)} (${advertised}; ` +
        `a connection idle ${formatMs(idle.interval.aliveMs)} was reused, ` +
        `one idle ${formatMs(idle.interval.closedMs!)} was not)`,
    );
    const how: string[] = [];
    if (idle.closeKind !== null) how.push(`closed with ${CLOSE_WORDS[idle.closeKind]}`);
    if (idle.observedCloseMs !== null)
      how.push(`the close arrived ${formatMs(idle.observedCloseMs)} into the idle gap (median)`);
    if (idle.afterClose !== null)
      how.push(
        'a request written after the FIN: ' +
          (idle.afterClose === 'reset' ? 'answered with RST (ECONNRESET/EPIPE)' : 'no response'),
      );
    if (how.length > 0) row('how it closes', how.join('; '));
    row(
      'in flight',
      idle.inFlight.failed === 0
        ? 'no request sent before the close arrived failed'
        : `${idle.inFlight.failed} request(s) sent before the close arrived failed with it`,
    );
  } else {
    row('idle timeout', idle.note ?? 'not measured');
  }
  idle.trials.forEach((round, i) =>
    row(i === 0 ? 'idle trials' : '', `round ${i + 1}: ${round.map(trialText).join(', ')}`),
  );
  if (idle.timeoutMs !== null && idle.note !== undefined) row('', s.yellow(idle.note));

  row(
    'requests/connection',
    requestCap.requests === null
      ? requestCap.maxRequests === 0
        ? 'not measured'
        : `no cap up to ${requestCap.maxRequests}`
      : `${s.bold(String(requestCap.requests))} (${
          requestCap.how === 'connection-close'
            ? 'Connection: close on the last response'
            : 'closed without Connection: close'
        })`,
  );

  if (tls !== null) {
    row('TLS versions', tls.versions.map((v) => `${v.version} ${v.accepted ? `yes (${v.cipher})` : 'no'}`).join(', '));
    row('ALPN', tls.alpn === null ? 'none chosen' : tls.alpn);
    for (const r of tls.resumption) {
      const later = r.later === null ? '' : `, after ${formatMs(r.later.afterMs)}: ${r.later.resumed ? 'yes' : 'no'}`;
      const life = r.ticketLifetimeS === null ? '' : ` (lifetime ${r.ticketLifetimeS} s)`;
      row(
        `resumption ${r.version}`,
        r.mechanism === null
          ? 'no session given'
          : `${r.mechanism}${life}: resumed at once: ${r.immediate ? 'yes' : 'no'}${later}`,
      );
    }
  }
  if (http2 !== null) {
    row('h2 max streams', http2.maxConcurrentStreams === null ? 'not limited' : String(http2.maxConcurrentStreams));
    row(
      'h2 idle GOAWAY',
      http2.idleGoaway === null
        ? `none within ${formatMs(http2.waitedMs)}`
        : `after ${s.bold(formatMs(http2.idleGoaway.afterMs))} (error code ${http2.idleGoaway.errorCode})` +
            (http2.idleGoaway.closeKind === null ? '' : `, then ${CLOSE_WORDS[http2.idleGoaway.closeKind]}`),
    );
  }

  const head =
    `${s.bold(`probe ${report.url}`)} (${formatMs(report.elapsedMs)}, ${budget.connections}/${budget.maxConnections} ` +
    `connections, ${budget.requests}/${budget.maxRequests} requests)`;
  const recLines = [
    s.bold('Client settings') +
      `: ${rec.clientIdleMs === null ? 'no idle timeout to set' : `idle timeout ${rec.clientIdleMs} ms`}` +
      ` (${rec.basis})`,
    ...Object.entries(rec.settings).map(([client, text]) => `  ${client}: ${text}`),
    ...rec.notes.map((n) => `  - ${n}`),
  ];
  return [
    head,
    table(rows, ['left', 'left']),
    '',
    ...recLines,
    ...report.warnings.map((w) => s.yellow(`warning: ${w}`)),
    '',
  ].join('\n');
}
