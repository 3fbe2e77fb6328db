/**
 * Finding 6, the port exhaustion outlook (TechEmpower/FrameworkBenchmarks#4092: connect() failing with
 * EADDRNOTAVAIL): a client that opens new connections to one server and closes them first keeps each
 * local port in TIME_WAIT for 60 s after the close, and Linux gives a connection to a server a local
 * port whose 4-tuple is free; at a high enough rate the ephemeral range runs out. Measured per client
 * address and server (one range of ports per server address and port): the rate of new connections
 * whose TIME_WAIT is on the client, at its busiest second and over its busiest 10 s, against the
 * client's ip_local_port_range and tcp_tw_reuse. Those are known for this machine (HostFacts, read
 * by observe/host-facts.ts) or given by the user; otherwise Linux's defaults are assumed, and the
 * finding says so. A server that closes first holds the TIME_WAIT itself: no port of the client's.
 */
import { formatEndpoint, isLoopbackAddress } from '../../model/endpoint.js';
import { LINUX_DEFAULT_PORTS, LINUX_TIME_WAIT_MS, SETTING_SOURCE_WORDS, portCount } from '../../model/host.js';
import type { ClientPortSettings, HostFacts } from '../../model/host.js';
import type { Finding, FindingSeverity } from '../../model/report.js';
import { formatCount, formatSeconds, plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { formatDelay } from './facts.js';
import { reuseConnectionFixes } from './fixes.js';
import type { ConnectionGroup, Timeline } from './timeline.js';
import {
  PORT_MIN_CONNECTIONS,
  PORT_OUTLOOK_MIN_SHARE,
  PORT_WARNING_SHARE,
  RATE_BURST_WINDOW_MS,
  RATE_SUSTAINED_WINDOW_MS,
} from './thresholds.js';

/** The settings that apply to one client, and whether it is this machine. */
interface ClientContext {
  settings: ClientPortSettings;
  thisMachine: boolean;
  /** Why Linux's defaults were assumed (empty when they were not). */
  assumedBecause: string;
}

export class PortExhaustionDetector implements FindingDetector {
  constructor(
    private readonly timeline: Timeline,
    private readonly host: HostFacts | undefined,
  ) {}

  add(): void {}

  finish(): Finding[] {
    const out: Finding[] = [];
    for (const g of this.timeline.all()) {
      const finding = this.outlook(g);
      if (finding !== null) out.push(finding);
    }
    return out;
  }

  private outlook(g: ConnectionGroup): Finding | null {
    const opened: { start: number; id: number }[] = [];
    g.clientTimeWaitStarts.forEach((start, i) => {
      if (!Number.isNaN(start)) opened.push({ start, id: g.ids[i]! });
    });
    if (opened.length < PORT_MIN_CONNECTIONS) return null;
    opened.sort((a, b) => a.start - b.start || a.id - b.id);
    const starts = opened.map((o) => o.start);
    const span = starts[starts.length - 1]! - starts[0]!;
    const windowMs = Math.min(RATE_SUSTAINED_WINDOW_MS, Math.max(RATE_BURST_WINDOW_MS, span));
    const rate = (busiestWindow(starts, windowMs).count * 1000) / windowMs;
    const busiest = busiestWindow(starts, RATE_BURST_WINDOW_MS);
    const burst = (busiest.count * 1000) / RATE_BURST_WINDOW_MS;

    const context = this.context(g.client);
    const { settings } = context;
    const ports = portCount(settings.portRange);
    const reuse =
      settings.twReuse === 1 ||
      (settings.twReuse === 2 && (isLoopbackAddress(g.client) || isLoopbackAddress(g.server.address)));
    const holdMs = reuse ? settings.twReuseDelayMs : LINUX_TIME_WAIT_MS;
    // Ports in TIME_WAIT at any moment at this rate: without tcp_tw_reuse, and with it where it applies.
    const heldWithoutReuse = (rate * LINUX_TIME_WAIT_MS) / 1000;
    const held = (rate * holdMs) / 1000;
    if (heldWithoutReuse < PORT_OUTLOOK_MIN_SHARE * ports) return null;
    const severity: FindingSeverity = held >= PORT_WARNING_SHARE * ports ? 'warning' : 'info';
    const exhaustionS = ports / rate;

    const server = formatEndpoint(g.server);
    const who = context.thisMachine ? 'this client' : `the client ${g.client}`;
    const perS = `${formatRate(rate)} new connections/s to ${server}`;
    const range = `${formatCount(ports)} ephemeral ports`;
    const tw = `TIME_WAIT held by the client for ${LINUX_TIME_WAIT_MS / 1000} s`;
    const reuseName = `tcp_tw_reuse=${settings.twReuse}${settings.twReuse === 2 ? ' (loopback)' : ''}`;
    const delay = formatDelay(settings.twReuseDelayMs);
    const assumed = context.assumedBecause === '' ? '' : `; Linux's default port range assumed`;
    let summary: string;
    if (severity === 'warning') {
      const hold = reuse ? `${tw}, or ${delay} with ${reuseName}` : tw;
      const inS = formatSeconds(exhaustionS);
      summary = `port exhaustion: at ${perS} ${who} runs out of its ${range} in ${inS} (${hold}${assumed})`;
    } else if (!reuse) {
      summary =
        `port outlook: at ${perS} ${who} keeps ~${formatCount(heldWithoutReuse)} of its ${range} in TIME_WAIT ` +
        `(${LINUX_TIME_WAIT_MS / 1000} s each${assumed}); at ${formatRate((ports * 1000) / LINUX_TIME_WAIT_MS)}/s ` +
        'it would run out';
    } else if (heldWithoutReuse >= ports) {
      summary =
        `port outlook: at ${perS} ${who} would run out of its ${range} in ${formatSeconds(exhaustionS)} if ` +
        `TIME_WAIT held them for ${LINUX_TIME_WAIT_MS / 1000} s; ${reuseName} lets it take them back ` +
        `after ${delay}${assumed}`;
    } else {
      summary =
        `port outlook: at ${perS} ${who} would keep ~${formatCount(heldWithoutReuse)} of its ${range} in ` +
        `TIME_WAIT (${LINUX_TIME_WAIT_MS / 1000} s each) without ${reuseName}, which lets it take them back ` +
        `after ${delay}${assumed}`;
    }

    const list = new EvidenceList();
    for (const o of opened) list.addConnection(o.id);
    // The busiest second, from its first connection to its last.
    const first = opened[busiest.first]!;
    const last = opened[busiest.first + busiest.count - 1]!;
    const inIt = `${busiest.count} connections opened within ${formatSeconds(RATE_BURST_WINDOW_MS / 1000)}`;
    list.addEvent(
      first.id,
      first.start,
      `the first of the busiest second: ${inIt}, each left in TIME_WAIT on the client`,
    );
    if (last !== first) list.addEvent(last.id, last.start, `the last of the busiest second (${inIt})`);
    const pool = Math.max(1, g.peak());
    return {
      code: 'port-exhaustion',
      severity,
      summary,
      reasoning: this.reasoning(g, context, {
        opened: opened.length,
        rate,
        burst,
        windowMs,
        ports,
        heldWithoutReuse,
        held,
        reuse,
        exhaustionS,
      }),
      evidence: list.evidence(g.server, {
        client: g.client,
        newConnections: opened.length,
        serverTimeWait: g.serverTimeWait,
        burstPerS: burst,
        ratePerS: rate,
        rateWindowMs: windowMs,
        ephemeralPorts: ports,
        portRangeLow: settings.portRange.low,
        portRangeHigh: settings.portRange.high,
        portRangeSource: settings.source.portRange,
        twReuse: settings.twReuse,
        twReuseSource: settings.source.twReuse,
        twReuseApplies: reuse ? 1 : 0,
        timeWaitMs: LINUX_TIME_WAIT_MS,
        portHoldMs: holdMs,
        portsHeld: Math.round(held),
        portsHeldWithoutReuse: Math.round(heldWithoutReuse),
        secondsToExhaustion: exhaustionS,
        concurrencySeen: pool,
      }),
      fixes: reuseConnectionFixes(pool, settings, reuse),
    };
  }

  /** The settings for a client: the user's, this machine's when it is this machine, else Linux's defaults. */
  private context(client: string): ClientContext {
    const host = this.host;
    const thisMachine = host !== undefined && (isLoopbackAddress(client) || host.localAddresses.includes(client));
    if (host?.clientPorts !== undefined) {
      const assumed = host.clientPorts.source.portRange === 'default' ? 'no port range was given' : '';
      return { settings: host.clientPorts, thisMachine, assumedBecause: assumed };
    }
    if (thisMachine) {
      const assumed = host.ports.source.portRange === 'default' ? "this machine's could not be read" : '';
      return { settings: host.ports, thisMachine, assumedBecause: assumed };
    }
    return {
      settings: LINUX_DEFAULT_PORTS,
      thisMachine,
      assumedBecause:
        host === undefined ? "the client machine's settings were not given" : `${client} is not this machine`,
    };
  }

  private reasoning(
    g: ConnectionGroup,
    context: ClientContext,
    m: {
      opened: number;
      rate: number;
      burst: number;
      windowMs: number;
      ports: number;
      heldWithoutReuse: number;
      held: number;
      reuse: boolean;
      exhaustionS: number;
    },
  ): string[] {
    const { settings } = context;
    const { low, high } = settings.portRange;
    const tw = LINUX_TIME_WAIT_MS / 1000;
    const from =
      context.assumedBecause !== ''
        ? `Linux's default, assumed: ${context.assumedBecause}`
        : SETTING_SOURCE_WORDS[settings.source.portRange];
    const share = (n: number) => {
      const percent = (100 * n) / m.ports;
      return percent < 1 ? 'less than 1%' : `${Math.round(percent)}%`;
    };
    const lines = [
      `${plural(m.opened, 'connection')} to ${formatEndpoint(g.server)} were opened by ${g.client} and closed by ` +
        'the client first, so each left its local port in TIME_WAIT on the client' +
        (g.serverTimeWait > 0
          ? ` (${g.serverTimeWait} others left their TIME_WAIT on the server, which costs the client no port).`
          : '.'),
      `They began at up to ${formatRate(m.burst)} per second (the busiest second), ${formatRate(m.rate)}/s over ` +
        `the busiest ${formatSeconds(m.windowMs / 1000)} (the rate projected).`,
      `Linux keeps a socket in TIME_WAIT for ${tw} s (TCP_TIMEWAIT_LEN, fixed: net.ipv4.tcp_fin_timeout is the ` +
        'FIN_WAIT_2 timeout), and connect() needs a local port whose 4-tuple to this server is free: ' +
        `${formatCount(m.ports)} ports in net.ipv4.ip_local_port_range ${low} ${high} (${from}).`,
      m.heldWithoutReuse < m.ports
        ? `At ${formatRate(m.rate)}/s about ${formatCount(m.heldWithoutReuse)} of them are in TIME_WAIT at any ` +
          `time (${share(m.heldWithoutReuse)} of the range)${m.reuse ? ` when each is held the ${tw} s` : ''}.`
        : m.reuse
          ? `At ${formatRate(m.rate)}/s, were each held the ${tw} s, they would all be in TIME_WAIT after ` +
            `${formatSeconds(m.exhaustionS)}, before the first is released, and connect() would fail with ` +
            'EADDRNOTAVAIL.'
          : `At ${formatRate(m.rate)}/s they are all in TIME_WAIT after ${formatSeconds(m.exhaustionS)}, before the ` +
            'first is released: then connect() fails with EADDRNOTAVAIL.',
    ];
    const source = SETTING_SOURCE_WORDS[settings.source.twReuse];
    if (m.reuse)
      lines.push(
        `net.ipv4.tcp_tw_reuse=${settings.twReuse} ` +
          `(${source}${settings.twReuse === 2 ? ', loopback only: this is loopback' : ''}): ` +
          `connect() may take a 4-tuple in TIME_WAIT once it is ${formatDelay(settings.twReuseDelayMs)} ` +
          `old, when both sides use TCP timestamps: about ${formatCount(m.held)} ports held ` +
          `(${share(m.held)} of the range).`,
      );
    else
      lines.push(
        settings.twReuse === 2
          ? `net.ipv4.tcp_tw_reuse=2 (${source}) reuses TIME_WAIT ports of loopback connections only: not these.`
          : `net.ipv4.tcp_tw_reuse=0 (${source}): no port in TIME_WAIT is taken back before its ${tw} s.`,
      );
    if (this.timeline.untracked > 0)
      lines.push(`Only the first ${this.timeline.tracked} connections of the capture were examined for this.`);
    return lines;
  }
}

/**
 * The window [t, t + windowMs) that holds the most of the sorted `times`: how many, and the index of
 * the first of them (the earliest such window).
 */
export function busiestWindow(times: readonly number[], windowMs: number): { count: number; first: number } {
  let best = { count: 0, first: 0 };
  let from = 0;
  for (let to = 0; to < times.length; to++) {
    while (times[to]! - times[from]! >= windowMs) from++;
    if (to - from + 1 > best.count) best = { count: to - from + 1, first: from };
  }
  return best;
}

/** A rate for a sentence: `1,000`, `47`, `2.5`. */
function formatRate(perS: number): string {
  return perS >= 10 ? formatCount(perS) : String(Number(perS.toFixed(1)));
}
