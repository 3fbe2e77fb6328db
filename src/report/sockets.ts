/**
 * The kernel socket table as aligned text, in the columns of `ss -tan` (plus ss -o's timer). Pure:
 * entries in, string out; rows keep the order they are given in.
 */
import type { SocketEntry, TcpState } from '../decode/socket-entry.js';
import { formatHostPort } from '../model/endpoint.js';
import type { Endpoint } from '../model/report.js';

const HEADERS = ['State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port', 'Timer'] as const;
/** Columns aligned to the right (the queue sizes); the others to the left. */
const RIGHT_ALIGNED: ReadonlySet<number> = new Set([1, 2]);
const GAP = '  ';

/** SGR escape sequences (ECMA-48 8.3.117). */
const SGR = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  cyan: '\x1b[36m',
};

/** States worth picking out at a glance in the connection-reuse story. */
const STATE_COLORS: Partial<Record<TcpState, string>> = {
  ESTABLISHED: SGR.green,
  LISTEN: SGR.cyan,
  /** Held by the side that closed first. */
  TIME_WAIT: SGR.yellow,
  /** The peer closed and the application has not: often a leaked connection. */
  CLOSE_WAIT: SGR.red,
};

/**
 * One header line and one line per entry:
 * `State Recv-Q Send-Q Local Address:Port Peer Address:Port Timer`. IPv6 addresses are shown as
 * [addr]:port, port 0 (an unconnected peer) as `*`, the timer as ss -o does: kind,time,retransmits,
 * or `-` when off. `color` adds ANSI colors to the header and to a few states. Ends with a newline.
 */
export function renderSocketTable(entries: SocketEntry[], options?: { color?: boolean }): string {
  const color = options?.color ?? false;
  const rows: string[][] = [
    [...HEADERS],
    ...entries.map((e) => [
      e.state,
      String(e.rxQueue),
      String(e.txQueue),
      formatEndpoint(e.local),
      formatEndpoint(e.remote),
      formatTimer(e),
    ]),
  ];
  const widths = HEADERS.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  const lines = rows.map((row, index) => {
    const line = row
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return RIGHT_ALIGNED.has(column) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join(GAP)
      .trimEnd();
    if (!color) return line;
    if (index === 0) return `${SGR.bold}${line}${SGR.reset}`;
    const state = row[0] ?? '';
    const stateColor = STATE_COLORS[state as TcpState];
    // Colour the state name only, after padding, so escape codes never count towards a width.
    return stateColor === undefined ? line : `${stateColor}${state}${SGR.reset}${line.slice(state.length)}`;
  });
  return `${lines.join('\n')}\n`;
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
