/**
 * Finding 2, idle timeouts out of order along a path (client -> load balancer -> backend): on each
 * hop the client side must give up an idle connection before the server side does; a load balancer
 * whose upstream pool keeps connections idle longer than its backend sends requests into connections
 * the backend is closing, and answers 502 (ingress-nginx#3099, envoy#14981); a client that keeps
 * connections to the load balancer longer than the balancer does meets the same race one hop
 * earlier.
 *
 * Each hop is a server endpoint with the connections to it: its server's idle closes (ServerTable),
 * its clients' own idle closes and the longest idle gap after which they reused a connection, and
 * the requests lost to the race there (RaceDetector). A hop is out of order when requests were lost
 * there (error), or when its server is the side that ends idle connections: it closed some and at
 * least as many as its clients did (warning: nothing failed yet).
 *
 * The path is given (`analyze --path`), or inferred where that cannot raise a false alarm: an
 * address, not loopback, that is a server's and the only client of another server (the balancer and
 * its backend); such a path names only the upstream hop, and only when requests were lost on it. On
 * loopback every process shares one address: there the path must be given.
 */
import type { ConnectionRecord, Endpoint, Finding, FindingEvidence, Warning } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { formatDuration, median, serverIdleCloseMs, serverKey, suggestedClientIdleMs } from './facts.js';
import { balancerClientSideFixes, upstreamIdleFixes } from './fixes.js';
import type { RaceDetector, RaceLost } from './race.js';
import { describeRace, raceOn } from './race.js';
import type { ServerFacts, ServerTable } from './servers.js';

/** How an inferred path was found, for the reasoning. */
const INFERRED = ' (inferred: its address serves one endpoint and is the only client of the next)';

/** A path, client-facing hop first, and how we know it. */
interface Path {
  hops: readonly Endpoint[];
  inferred: boolean;
}

/** 127.0.0.0/8 and ::1 (RFC 1122 3.2.1.3, RFC 4291 2.5.3): one host, whichever process. */
function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/**
 * The paths the capture shows without being told: a backend whose only client address is a
 * non-loopback address that also serves exactly one other endpoint, to clients of other addresses.
 */
export function inferPaths(servers: ServerTable): Endpoint[][] {
  const all = [...servers.all()];
  const out: Endpoint[][] = [];
  for (const backend of all) {
    if (backend.manyClients || backend.clientAddresses.size !== 1) continue;
    const [balancer] = backend.clientAddresses as Set<string>;
    if (balancer === undefined || balancer === backend.endpoint.address || isLoopback(balancer)) continue;
    const fronts = all.filter(
      (s) => s !== backend && s.endpoint.address === balancer && [...s.clientAddresses].some((a) => a !== balancer),
    );
    if (fronts.length === 1) out.push([fronts[0]!.endpoint, backend.endpoint]);
  }
  return out;
}

/** Who is who on a path, in words. */
class Roles {
  constructor(private readonly path: Path) {}

  /** An intermediate hop's server, without its address. */
  get balancerName(): string {
    return this.path.inferred ? 'the proxy' : 'the load balancer';
  }

  /** The server of hop `k` (0-based). */
  server(k: number): string {
    const e = formatEndpoint(this.path.hops[k]!);
    return k === this.path.hops.length - 1 ? `the backend ${e}` : `${this.balancerName} ${e}`;
  }

  /** The client side of hop `k`: the one before it is the previous hop's server. */
  client(k: number, clients: number): string {
    if (k > 0) return `${this.balancerName} ${formatEndpoint(this.path.hops[k - 1]!)}`;
    return clients === 1 ? 'the client' : 'the clients';
  }

  /** "the load balancer's upstream", "the client's" (for "... idle timeout"). */
  clientPossessive(k: number, clients: number): string {
    if (k > 0) return `${this.balancerName}'s upstream`;
    return clients === 1 ? "the client's" : "the clients'";
  }

  connections(k: number): string {
    return k > 0 ? 'upstream connections' : 'connections';
  }
}

export interface PathOrderOptions {
  /** The path, client-facing hop first (e.g. the load balancer's endpoint, then the backend's); else inferred. */
  path?: readonly Endpoint[];
}

export class PathOrderDetector implements FindingDetector {
  private readonly path: Path | null;
  /** Per hop of a given path (by server key): the server's idle closes of connections not raced, for the evidence. */
  private readonly idleCloses = new Map<string, EvidenceList>();

  constructor(
    private readonly race: RaceDetector,
    options: PathOrderOptions = {},
  ) {
    this.path = options.path === undefined ? null : { hops: options.path, inferred: false };
    for (const e of options.path ?? []) this.idleCloses.set(serverKey(e), new EvidenceList());
  }

  add(r: ConnectionRecord): void {
    const list = this.idleCloses.get(serverKey(r.server));
    // A raced connection is told with the requests lost (see finish).
    if (list === undefined || raceOn(r) !== null) return;
    const idle = serverIdleCloseMs(r);
    if (idle !== null)
      list.add(r.id, r.serverFinAt!, `the server closed it with a FIN after ${formatDuration(idle)} idle`);
  }

  finish(servers: ServerTable): Finding[] {
    const paths: Path[] =
      this.path !== null ? [this.path] : inferPaths(servers).map((hops) => ({ hops, inferred: true }));
    const out: Finding[] = [];
    for (const path of paths) {
      const facts = path.hops.map((e) => servers.get(e));
      if (facts.filter((f) => f !== undefined).length < 2) continue;
      // An inferred path names its upstream hop only: the first hop's race is the keep-alive race's.
      for (let k = path.inferred ? 1 : 0; k < path.hops.length; k++) {
        const finding = this.hop(path, facts, k);
        if (finding !== null) out.push(finding);
      }
    }
    return out;
  }

  /** A given path's hops that the capture holds no connection to: nothing can be said about them. */
  warnings(servers: ServerTable): Warning[] {
    if (this.path === null) return [];
    return this.path.hops
      .filter((e) => servers.get(e) === undefined)
      .map((e) => ({
        code: 'KAL_WARN_PATH_HOP_UNSEEN',
        message:
          `the path's hop to ${formatEndpoint(e)} has no connection in this capture: its idle timeouts cannot be ` +
          'compared (capture every hop, e.g. tcpdump -i any, or merge the captures with mergecap)',
      }));
  }

  private hop(path: Path, facts: readonly (ServerFacts | undefined)[], k: number): Finding | null {
    const server = facts[k];
    if (server === undefined) return null;
    const lost = this.race.lostTo(server.endpoint);
    const ownCloses = server.serverIdle.count;
    const serverFirst = ownCloses > 0 && ownCloses >= server.clientIdle.count;
    if (lost.length === 0 && (path.inferred || !serverFirst)) return null;
    const finIdles = lost.filter((l) => l.serverIdleMs !== null).map((l) => l.serverIdleMs!);
    const serverMs =
      server.idleTimeoutMs ??
      (finIdles.length > 0 ? median(finIdles) : (server.effectiveTimeoutMs ?? shortestIdle(lost)));
    const clientMs = suggestedClientIdleMs(serverMs);
    const roles = new Roles(path);
    const clients = server.clientAddresses.size;
    const requestsLost = lost.reduce((n, l) => n + l.requests, 0);
    const resets = lost.filter((l) => l.reset).length;
    const balancer = k > 0 ? facts[k - 1] : undefined;

    const list = new EvidenceList();
    for (const l of lost) list.add(l.id, l.requestAt, describeRace(l));
    const idleCloses = this.idleCloses.get(serverKey(server.endpoint));
    if (idleCloses !== undefined) list.absorb(idleCloses);

    const client = roles.client(k, clients);
    const keeps = client === 'the clients' ? 'keep' : 'keeps';
    const serverName = roles.server(k);
    const gateway = balancer === undefined ? '' : gatewayAnswers(balancer);
    const outcome =
      lost.length > 0
        ? `${plural(requestsLost, 'request')} met connections it had closed or was closing` +
          `${resets > 0 ? ` (${plural(resets, 'RST')})` : ''}` +
          `${gateway === '' ? '' : `, and ${roles.balancerName} answered ${gateway}`}`
        : `it closed ${plural(ownCloses, 'idle connection')} first; nothing failed yet, but a request sent as one ` +
          `closes fails${k > 0 ? ` (a 502 from ${roles.balancerName})` : ''}`;
    const summary =
      `idle timeouts out of order: ${client} ${keeps} ${roles.connections(k)} idle longer than ${serverName}, which ` +
      `closes them after ~${formatDuration(serverMs)}: ${outcome}; set ${roles.clientPossessive(k, clients)} idle ` +
      `timeout below ${formatDuration(serverMs)} (e.g. ${formatDuration(clientMs)})`;

    const reasoning = [
      `The path${path.inferred ? INFERRED : ''}: ` +
        `${roles.client(0, facts[0]?.clientAddresses.size ?? 1)} -> ` +
        path.hops.map((_, i) => roles.server(i)).join(' -> ') +
        ". Along it each hop's client must give up an idle connection before that hop's server does.",
      ...path.hops.map((_, i) => hopLine(i, facts[i], roles, this.race.lostTo(path.hops[i]!))),
      server.idleCloses > 0
        ? `On hop ${k + 1} ${serverName} ended idle connections itself: ${plural(ownCloses, 'idle close')} after ` +
          `${formatDuration(server.idleCloseMinMs)} to ${formatDuration(server.idleCloseMaxMs)}, while ${client} ` +
          `closed ${server.clientIdle.count === 0 ? 'none' : server.clientIdle.count} itself.`
        : `On hop ${k + 1} no idle close of ${serverName} was seen apart from the requests lost.`,
      lost.length > 0
        ? `${plural(requestsLost, 'request')} on hop ${k + 1} went into connections ${serverName} had closed or was ` +
          `closing (after its FIN, or crossing it): the request is lost (ECONNRESET, "socket hang up")` +
          `${k > 0 ? `, and ${roles.balancerName} answers 502 unless it retries on a new connection` : ''}.`
        : 'Nothing failed yet: each close reached an idle connection; a request taken from the pool in the instant ' +
          'the FIN is on its way is lost.',
      'A proxy that retries a request whose reused connection failed (nginx proxy_next_upstream, Envoy retry_on: ' +
        'reset, HAProxy retry-on) hides some of these failures, not those of a request it must not resend (a POST).',
    ];
    const values: FindingEvidence['values'] = {
      hop: k + 1,
      requestsLost,
      resets,
      serverIdleTimeoutMs: serverMs,
      suggestedClientIdleTimeoutMs: clientMs,
    };
    path.hops.forEach((e, i) => Object.assign(values, hopValues(i, e, facts[i], this.race.lostTo(e))));
    return {
      code: 'idle-timeout-order',
      severity: lost.length > 0 ? 'error' : 'warning',
      summary,
      reasoning,
      evidence: list.evidence(server.endpoint, values),
      fixes:
        k > 0
          ? upstreamIdleFixes(clientMs, serverMs)
          : balancerClientSideFixes(clientMs, serverMs, server.advertisedTimeoutS),
    };
  }
}

function shortestIdle(lost: readonly RaceLost[]): number {
  return Math.min(...lost.map((l) => l.idleBeforeRequestMs));
}

/** "3 requests with 502 Bad Gateway", or '' when the balancer answered none of them. */
function gatewayAnswers(balancer: ServerFacts): string {
  const parts: string[] = [];
  if (balancer.badGateway > 0) parts.push(`${plural(balancer.badGateway, 'request')} with 502 Bad Gateway`);
  if (balancer.serviceUnavailable > 0)
    parts.push(`${plural(balancer.serviceUnavailable, 'request')} with 503 Service Unavailable`);
  return parts.join(' and ');
}

/** One hop's measured figures, in words. */
function hopLine(i: number, facts: ServerFacts | undefined, roles: Roles, lost: readonly RaceLost[]): string {
  const head = `Hop ${i + 1}, to ${roles.server(i)}:`;
  if (facts === undefined) return `${head} no connection in the capture.`;
  const client = roles.client(i, facts.clientAddresses.size);
  const server =
    facts.idleTimeoutMs === null
      ? 'no idle close'
      : `idle closes after ~${formatDuration(facts.idleTimeoutMs)} (${plural(facts.idleCloses, 'connection')})`;
  const own =
    facts.clientIdle.medianMs === null
      ? `${client} closed no idle connection itself`
      : `${client} closed idle ones after ~${formatDuration(facts.clientIdle.medianMs)} ` +
        `(${plural(facts.clientIdle.count, 'connection')})`;
  const reuse =
    facts.longestReuseIdleMs > 0
      ? `, reused one after up to ${formatDuration(facts.longestReuseIdleMs)} idle`
      : ', never reused one after an idle gap';
  const failed = lost.length > 0 ? `; ${plural(lost.length, 'connection')} lost a request` : '';
  const gateway = gatewayAnswers(facts);
  const answers = gateway === '' ? '' : `; the server answered ${gateway}`;
  const count = plural(facts.connections, 'connection');
  return `${head} ${count}; the server: ${server}; ${own}${reuse}${failed}${answers}.`;
}

/** One hop's measured values, as evidence: `hop1Server`, `hop1ServerIdleTimeoutMs`, ... */
function hopValues(
  i: number,
  e: Endpoint,
  facts: ServerFacts | undefined,
  lost: readonly RaceLost[],
): FindingEvidence['values'] {
  const p = `hop${i + 1}`;
  return {
    [`${p}Server`]: formatEndpoint(e),
    [`${p}Connections`]: facts?.connections ?? 0,
    [`${p}ServerIdleCloses`]: facts?.idleCloses ?? 0,
    [`${p}ServerIdleTimeoutMs`]: facts?.idleTimeoutMs ?? null,
    [`${p}ClientIdleCloses`]: facts?.clientIdle.count ?? 0,
    [`${p}ClientIdleCloseMs`]: facts?.clientIdle.medianMs ?? null,
    [`${p}LongestReuseIdleMs`]: facts?.longestReuseIdleMs ?? null,
    [`${p}RequestsLost`]: lost.reduce((n, l) => n + l.requests, 0),
    [`${p}BadGateway`]: facts?.badGateway ?? 0,
    [`${p}ServiceUnavailable`]: facts?.serviceUnavailable ?? 0,
  };
}
