/**
 * The findings the process itself can name, in the report's `Finding` shape (model/report.ts), with
 * the fixes and thresholds the wire's detectors use (analyze/findings/fixes.ts, thresholds.ts). What
 * the process knows that a capture cannot: the line of code that made a request whose body was never
 * read, the Agent's `maxFreeSockets` that destroyed a socket, the idle time of the socket a failed
 * request went out on, measured by the client. Pure: the counters come from origin.ts.
 */
import { formatDuration, suggestedClientIdleMs } from '../../analyze/findings/facts.js';
import { compareFindings } from '../../analyze/findings/order.js';
import {
  poolSizeFixes,
  readBodyFixes,
  reuseConnectionFixes,
  shorterClientIdleFixes,
} from '../../analyze/findings/fixes.js';
import {
  CHURN_MIN_CLOSES,
  CLOSE_AFTER_RESPONSE_MS,
  MAX_EVIDENCE_EVENTS,
  MAX_EVIDENCE_IDS,
  PORT_MIN_CONNECTIONS,
  PORT_OUTLOOK_MIN_SHARE,
  PORT_WARNING_SHARE,
} from '../../analyze/findings/thresholds.js';
import { isLoopbackAddress } from '../../model/endpoint.js';
import { LINUX_DEFAULT_PORTS, LINUX_TIME_WAIT_MS, portCount } from '../../model/host.js';
import type { HostFacts } from '../../model/host.js';
import type { Endpoint, Finding, FindingEvent } from '../../model/report.js';
import { formatCount, formatSeconds, plural } from '../../util/text.js';
import type { OriginStats, UnreadSite } from './origin.js';

export interface ProcessFindingsOptions {
  /** Responses unread right now (held longer than CLOSE_AFTER_RESPONSE_MS), per origin. */
  pending?: Map<OriginStats, { site: string | null; id: number; extra: number }[]>;
  hostFacts?: HostFacts;
}

export function processFindings(origins: readonly OriginStats[], options: ProcessFindingsOptions = {}): Finding[] {
  const out: Finding[] = [];
  for (const o of origins) {
    const unread = unreadBody(o, options.pending?.get(o) ?? []);
    if (unread !== null) out.push(unread);
    const churn = poolChurn(o);
    if (churn !== null) out.push(churn);
    const race = keepAliveRace(o);
    if (race !== null) out.push(race);
    const ports = portOutlook(o, options.hostFacts);
    if (ports !== null) out.push(ports);
  }
  return out.sort(compareFindings);
}

function server(o: OriginStats): Endpoint {
  return { address: o.serverAddress, port: o.serverPort };
}

/**
 * Unread body: responses whose body was neither read to its end nor cancelled while they held their
 * socket (at least CLOSE_AFTER_RESPONSE_MS), named by the app's line that made the request.
 */
function unreadBody(
  o: OriginStats,
  pending: readonly { site: string | null; id: number; extra: number }[],
): Finding | null {
  const sites = new Map<string, UnreadSite>();
  for (const [key, s] of o.unread) sites.set(key, { ...s, connections: [...s.connections] });
  for (const p of pending) {
    const key = p.site ?? '?';
    let s = sites.get(key);
    if (s === undefined)
      sites.set(key, (s = { site: p.site, responses: 0, extraConnections: 0, connections: [], firstAt: 0 }));
    s.responses++;
    s.extraConnections += p.extra;
    if (s.connections.length < MAX_EVIDENCE_EVENTS) s.connections.push(p.id);
  }
  if (sites.size === 0) return null;
  const all = [...sites.values()].sort((a, b) => b.responses - a.responses);
  const responses = all.reduce((n, s) => n + s.responses, 0);
  const extra = all.reduce((n, s) => n + s.extraConnections, 0);
  const top = all[0]!;
  // No frame of the app on the request's stack: stack traces off, a node:http request on a reused or
  // TLS socket on Node 20 (observe/in-process/channels.ts), every frame in node_modules, or the first
  // unread response of a loop (a stack is taken only once a body may be left unread): the summary
  // then names no place rather than "unknown"; the reasoning says why there is none.
  const where = top.site === null ? '' : ` (request made at ${top.site})`;
  const events: FindingEvent[] = [];
  const ids: number[] = [];
  for (const s of all)
    for (const id of s.connections) {
      if (ids.length < MAX_EVIDENCE_IDS) ids.push(id);
      if (events.length < MAX_EVIDENCE_EVENTS)
        events.push({ connection: id, at: s.firstAt, what: `response left unread, request made at ${s.site ?? '?'}` });
    }
  return {
    code: 'body-not-read',
    severity: 'warning',
    summary:
      `body not read: ${plural(responses, 'response')} from ${o.origin} held ${responses === 1 ? 'its' : 'their'} ` +
      `connection unread${where}, costing ${plural(extra, 'new connection')}; ` +
      'read or cancel every body',
    reasoning: [
      'The process saw the response headers, then neither the end of the body nor a cancel for at least ' +
        `${formatDuration(CLOSE_AFTER_RESPONSE_MS)}: the connection stayed busy and could not be reused.`,
      `Meanwhile the client opened ${plural(extra, 'new connection')} to ${o.origin}.`,
      ...all
        .slice(0, 5)
        .map(
          (s) =>
            `${s.site ?? 'no call site (stack traces off, or no frame of the app on the stack)'}: ` +
            `${plural(s.responses, 'response')} unread, ${s.extraConnections} extra.`,
        ),
    ],
    evidence: {
      server: server(o),
      count: responses,
      connections: ids.sort((a, b) => a - b),
      events,
      values: { callSite: top.site, unreadResponses: responses, extraConnections: extra, callSites: all.length },
    },
    fixes: readBodyFixes(),
  };
}

/** Pool churn: the http.Agent destroyed sockets as their response ended because its idle pool was full. */
function poolChurn(o: OriginStats): Finding | null {
  if (o.poolFullCloses < CHURN_MIN_CLOSES) return null;
  const size = o.maxFreeSockets ?? 0;
  const suggested = Math.max(size + 1, o.peakBusy);
  return {
    code: 'pool-churn',
    severity: 'warning',
    summary:
      `idle pool too small: the http.Agent's idle pool for ${o.origin} (maxFreeSockets ${size}) was full, so it ` +
      `destroyed ${plural(o.poolFullCloses, 'socket')} as their response ended and opened ` +
      `${plural(o.poolFullReopened, 'new connection')} soon after; raise maxFreeSockets to ${suggested}`,
    reasoning: [
      `When a response ends, node:http's Agent keeps the socket only if fewer than maxFreeSockets (${size}) ` +
        'sockets to that host are idle; otherwise it destroys it (lib/_http_agent.js).',
      `${plural(o.poolFullCloses, 'socket was', 'sockets were')} destroyed that way; ` +
        `${plural(o.poolFullReopened, 'new connection')} followed within a second.`,
      `Up to ${plural(o.peakBusy, 'request')} were in flight to ${o.origin} at once: an idle pool of ${suggested} ` +
        'keeps a socket for each.',
    ],
    evidence: {
      server: server(o),
      count: o.poolFullCloses,
      ...connectionEvents(
        o.poolFullEvents,
        (e) => `destroyed as its response ended: ${e.free} idle sockets already pooled (maxFreeSockets ${size})`,
      ),
      values: {
        maxFreeSockets: size,
        poolFullCloses: o.poolFullCloses,
        reopened: o.poolFullReopened,
        concurrencyBusy: o.peakBusy,
        suggestedIdlePool: suggested,
      },
    },
    fixes: poolSizeFixes(suggested),
  };
}

/** A finding's evidence connections and events, one event per recorded happening. */
function connectionEvents<E extends { connection: number; at: number }>(
  list: readonly E[],
  what: (e: E) => string,
): { connections: number[]; events: FindingEvent[] } {
  return {
    connections: list.map((e) => e.connection),
    events: list.map((e) => ({ connection: e.connection, at: e.at, what: what(e) })),
  };
}

/** The keep-alive race: requests that failed on a reused socket, each with the idle time before it. */
function keepAliveRace(o: OriginStats): Finding | null {
  if (o.raceCount === 0) return null;
  const hint = o.keepAliveHintS;
  const measured = o.serverIdleCloses > 0 ? o.serverIdleMinMs : null;
  const serverMs = hint !== null ? hint * 1000 : (measured ?? o.raceIdleMinMs);
  const clientMs = suggestedClientIdleMs(serverMs);
  const idle =
    o.raceIdleMinMs === o.raceIdleMaxMs
      ? formatDuration(o.raceIdleMinMs)
      : `${formatDuration(o.raceIdleMinMs)} to ${formatDuration(o.raceIdleMaxMs)}`;
  const serverSays =
    hint !== null
      ? `the server advertises Keep-Alive: timeout=${hint}`
      : measured !== null
        ? `the server sends no Keep-Alive hint and closed idle connections after ${formatDuration(measured)} or more`
        : 'the server sends no Keep-Alive hint';
  const client =
    o.clientIdleTimeoutMs !== null ? `the client's idle timeout is ${formatDuration(o.clientIdleTimeoutMs)}` : '';
  return {
    code: 'keepalive-race',
    severity: 'error',
    summary:
      `keep-alive race: ${plural(o.raceCount, 'request')} to ${o.origin} failed on a reused connection after ` +
      `${idle} idle (${serverSays}); make the client's idle timeout shorter than the server's`,
    reasoning: [
      'Each failed with a connection error (ECONNRESET, "socket hang up", UND_ERR_SOCKET) on a socket that had ' +
        'carried a response before and sat idle in the pool: the server closed it as the request left.',
      `${serverSays}${client === '' ? '' : `; ${client}`}.`,
      `A client idle timeout of ${formatDuration(clientMs)} closes the idle socket before the server does.`,
    ],
    evidence: {
      server: server(o),
      count: o.raceCount,
      ...connectionEvents(
        o.raceEvents,
        (e) => `${e.method} on a reused socket idle ${formatDuration(e.idleMs)} failed: ${e.code}`,
      ),
      values: {
        failedRequests: o.raceCount,
        idleMinMs: o.raceIdleMinMs,
        idleMaxMs: o.raceIdleMaxMs,
        keepAliveTimeoutS: hint,
        serverIdleCloseMs: measured,
        clientIdleTimeoutMs: o.clientIdleTimeoutMs,
        suggestedClientIdleMs: clientMs,
      },
    },
    fixes: shorterClientIdleFixes(clientMs, serverMs, hint),
  };
}

/** Port outlook: connections the client closed first (TIME_WAIT on this machine) per second, against its port range. */
function portOutlook(o: OriginStats, host: HostFacts | undefined): Finding | null {
  const closes = o.clientCloses;
  if (closes.total < PORT_MIN_CONNECTIONS) return null;
  const settings = host?.ports ?? LINUX_DEFAULT_PORTS;
  const ports = portCount(settings.portRange);
  const rate = closes.sustainedPerS();
  const reuse = settings.twReuse === 1 || (settings.twReuse === 2 && isLoopbackAddress(o.serverAddress));
  const heldWithoutReuse = (rate * LINUX_TIME_WAIT_MS) / 1000;
  if (heldWithoutReuse < PORT_OUTLOOK_MIN_SHARE * ports) return null;
  const held = (rate * (reuse ? settings.twReuseDelayMs : LINUX_TIME_WAIT_MS)) / 1000;
  const severity = held >= PORT_WARNING_SHARE * ports ? 'warning' : 'info';
  const assumed = settings.source.portRange === 'default' ? "; Linux's default port range assumed" : '';
  return {
    code: 'port-exhaustion',
    severity,
    summary:
      `port outlook: this process closes ${rate.toFixed(1)} connections/s to ${o.origin} first, keeping ` +
      `~${formatCount(heldWithoutReuse)} of its ${formatCount(ports)} ephemeral ports in TIME_WAIT ` +
      `(${LINUX_TIME_WAIT_MS / 1000} s each${assumed})` +
      (severity === 'warning' ? `; it runs out in ${formatSeconds(ports / rate)}` : ''),
    reasoning: [
      `${plural(closes.total, 'connection')} to ${o.origin} were closed by this process first; each leaves its ` +
        `local port in TIME_WAIT for ${LINUX_TIME_WAIT_MS / 1000} s.`,
      `Busiest second: ${closes.busiestSecond}; sustained: ${rate.toFixed(1)}/s.`,
      `ip_local_port_range ${settings.portRange.low}-${settings.portRange.high}, tcp_tw_reuse=${settings.twReuse}` +
        `${reuse ? ' (applies: a reuse delay of ' + formatDuration(settings.twReuseDelayMs) + ')' : ''}.`,
    ],
    evidence: {
      server: server(o),
      count: closes.total,
      connections: [],
      events: [],
      values: {
        clientCloses: closes.total,
        burstPerS: closes.busiestSecond,
        ratePerS: rate,
        ephemeralPorts: ports,
        twReuse: settings.twReuse,
        portsHeldWithoutReuse: Math.round(heldWithoutReuse),
        portsHeld: Math.round(held),
      },
    },
    fixes: reuseConnectionFixes(Math.max(1, o.peakBusy), settings, reuse),
  };
}
