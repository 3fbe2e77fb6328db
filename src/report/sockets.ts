/**
 * The kernel socket table as aligned text, in the columns of `ss -tan` (plus ss -o's timer), and its
 * TIME_WAIT sockets per remote endpoint (analyze/time-wait.ts). Pure: entries (or the summary) in,
 * string out; rows keep the order they are given in.
 */
import type { TimeWaitPeer, TimeWaitSummary } from '../analyze/time-wait.js';
import type { SocketEntry, TcpState } from '../decode/socket-entry.js';
import { formatHostPort } from '../model/endpoint.js';
import { LINUX_TIME_WAIT_MS, SETTING_SOURCE_WORDS, portCount } from '../model/host.js';
import type { TwReuse } from '../model/host.js';
import type { Endpoint } from '../model/report.js';
import { formatCount, plural } from '../util/text.js';
import { COLOR, PLAIN, table } from './text.js';
import type { Align, Style } from './text.js';

const HEADERS = ['State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port', 'Timer'];
/** The queue sizes align to the right; the other columns to the left. */
const ALIGN: readonly Align[] = ['left', 'right', 'right', 'left', 'left', 'left'];

/** States worth picking out at a glance in the connection-reuse story. */
const STATE_STYLES: Partial<Record<TcpState, keyof Style>> = {
  ESTABLISHED: 'green',
  LISTEN: 'cyan',
  /** Held by the side that closed first. */
  TIME_WAIT: 'yellow',
  /** The peer closed and the application has not: often a leaked connection. */
  CLOSE_WAIT: 'red',
};

/**
 * One header line and one line per entry:
 * `State Recv-Q Send-Q Local Address:Port Peer Address:Port Timer`. IPv6 addresses are shown as
 * [addr]:port, port 0 (an unconnected peer) as `*`, the timer as ss -o does: kind,time,retransmits,
 * or `-` when off. `color` adds ANSI colors to the header and to a few states. Ends with a newline.
 */
export function renderSocketTable(entries: SocketEntry[], options?: { color?: boolean }): string {
  const s = options?.color ? COLOR : PLAIN;
  const rows = [
    HEADERS,
    ...entries.map((e) => {
      const style = STATE_STYLES[e.state];
      return [
        style === undefined ? e.state : s[style](e.state),
        String(e.rxQueue),
        String(e.txQueue),
        formatEndpoint(e.local),
        formatEndpoint(e.remote),
        formatTimer(e),
      ];
    }),
  ];
  const [header = '', ...lines] = table(rows, ALIGN).split('\n');
  return `${[s.bold(header), ...lines].join('\n')}\n`;
}

/** `a.b.c.d:port` or `[v6]:port`; `*` for port 0 as ss prints it. */
function formatEndpoint(endpoint: Endpoint): string {
  return formatHostPort(endpoint.address, endpoint.port === 0 ? '*' : endpoint.port);
}

/** `kind,time,retransmits` like ss -o's timer:(...), `-` when no timer is pending. */
function formatTimer(entry: SocketEntry): string {
  if (entry.timer.kind === 'off') return '-';
  return `${entry.timer.kind},${formatDuration(entry.timer.expiresMs)},${entry.retransmits}`;
}

/** 200ms, 7.5sec, 59sec, 1min30sec, 119min (seconds dropped from 10 minutes on, as ss does). */
function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${Math.floor(ms / 100) / 10}sec`;
  const totalSeconds = Math.floor(ms / 1000);
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  if (minutes === 0) return `${seconds}sec`;
  if (minutes >= 10 || seconds === 0) return `${minutes}min`;
  return `${minutes}min${seconds}sec`;
}

/** What tcp_tw_reuse does, in a few words. */
const TW_REUSE_WORDS: Record<TwReuse, string> = {
  0: `off: a port in TIME_WAIT is held ${LINUX_TIME_WAIT_MS / 1000} s`,
  1: 'on: connect() may take a port back from TIME_WAIT',
  2: 'loopback only: connect() may take a port back from TIME_WAIT on loopback',
};

/**
 * The TIME_WAIT sockets per remote endpoint, most first, under two lines that say how many there
 * are and this machine's ephemeral range and tcp_tw_reuse. Ends with a newline.
 */
export function renderTimeWaitSummary(summary: TimeWaitSummary, options?: { color?: boolean }): string {
  const s = options?.color ? COLOR : PLAIN;
  const { portRange, twReuse, twReuseDelayMs, source } = summary.ports;
  const ports = portCount(portRange);
  const delay = twReuse === 0 ? '' : ` after ${twReuseDelayMs} ms`;
  const lines = [
    s.bold(`TIME_WAIT by remote endpoint: ${plural(summary.timeWait, 'socket')}`),
    `ephemeral ports ${portRange.low}-${portRange.high} ` +
      `(${formatCount(ports)}, ${SETTING_SOURCE_WORDS[source.portRange]}); ` +
      `tcp_tw_reuse ${twReuse} (${TW_REUSE_WORDS[twReuse]}${delay}; ${SETTING_SOURCE_WORDS[source.twReuse]})`,
  ];
  if (summary.peers.length > 0) {
    const rows = [
      ['TIME_WAIT', 'this machine', 'Local Address:Port', 'Peer Address:Port', 'local ports'],
      ...summary.peers.map((p) => [
        formatCount(p.count),
        p.side,
        formatEndpoint(p.local),
        formatEndpoint(p.remote),
        localPorts(p),
      ]),
    ];
    lines.push(table(rows, ['right', 'left', 'left', 'left', 'left']));
  }
  if (summary.peersOmitted > 0) lines.push(`(${plural(summary.peersOmitted, 'more remote endpoint')})`);
  return `${lines.join('\n')}\n`;
}

/**
 * A client row: how many of its local ports are ephemeral and the share of the range they hold
 * towards that server; the others (bound ports) are counted apart. A server row: its listening port.
 */
function localPorts(p: TimeWaitPeer): string {
  const bound = p.count - p.ephemeral;
  if (p.side !== 'client') return p.ephemeral > 0 ? `${formatCount(p.ephemeral)} ephemeral` : '-';
  const percent = p.rangeShare === null ? null : p.rangeShare * 100;
  const share = percent === null ? '' : ` (${percent < 0.1 ? '<0.1' : percent.toFixed(1)}% of the range)`;
  return `${formatCount(p.ephemeral)} ephemeral${share}${bound > 0 ? `, ${formatCount(bound)} bound` : ''}`;
}
