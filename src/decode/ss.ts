/**
 * Parser for the TCP socket table as `ss` (iproute2) prints it: `ss -tanHOneo [state ...] [FILTER]`.
 * ss asks the kernel through netlink (NETLINK_SOCK_DIAG, inet_diag: net/ipv4/inet_diag.c) for the
 * same sockets /proc/net/tcp{,6} lists, and the kernel applies the state and port filter itself.
 * Pure: takes ss's standard output and returns the entries of decode/socket-entry.ts, as the /proc
 * parser (procnet.ts) does; spawning ss lives in observe/socket-table.ts.
 *
 * One line per socket (-O, one line; -H, no header; -n, numeric ports; -e, uid, inode and cookie;
 * -o, timer), columns separated by spaces, as printed by misc/ss.c (sock_state_print,
 * inet_addr_print, tcp_timer_print, sock_details_print):
 *
 *   State      Recv-Q Send-Q Local:Port          Peer:Port           [timer:(NAME,TIME,N)] [uid:U] ino:I sk:...
 *   ESTAB      0      0      127.0.0.1:5000      127.0.0.1:38800     ino:3042116 sk:19 cgroup:/ <->
 *   TIME-WAIT  0      0      [::1]:58708         [::1]:5000          timer:(timewait,59sec,0) ino:0 sk:21
 *   LISTEN     0      16     *:5001              *:*                 ino:3042111 sk:1c cgroup:/ v6only:0 <->
 *
 * Tokens after the peer other than timer, uid, ino and sk (cgroup, v6only, fwmark, the shutdown
 * arrows) are ignored. `sk:` is the socket's cookie in hex (the kernel's idiag_cookie, see
 * SocketEntry.cookie). The fixtures in test/fixtures/ss/ are real output of every state (capture.py).
 */
import { canonicalAddress, normalizeAddress } from '../model/endpoint.js';
import type { Endpoint, Warning, WarningCode } from '../model/report.js';
import { MAX_LINE_WARNINGS, parseTableLines } from './socket-entry.js';
import type { SocketEntry, TcpState, TcpTimerKind } from './socket-entry.js';

/** Warning codes this parser can put on its result. */
export const SsWarning = {
  /** A line that is not a socket line of ss: too few columns, a bad number or address. */
  MALFORMED_LINE: 'KAL_WARN_SS_MALFORMED_LINE',
  /** A well-formed line with a state name ss does not print for TCP (the line is skipped). */
  UNKNOWN_STATE: 'KAL_WARN_SS_UNKNOWN_STATE',
} as const satisfies Record<string, WarningCode>;

/**
 * State names as ss prints them (sstate_name in misc/ss.c), by kernel state. UNCONN is TCP_CLOSE
 * (the kernel answers bound-inactive sockets so, when asked); NEW-SYN-RECV is in the table of newer
 * ss but never printed: the kernel reports request sockets as SYN-RECV.
 */
const SS_STATE_NAMES: Readonly<Record<string, TcpState>> = {
  ESTAB: 'ESTABLISHED',
  'SYN-SENT': 'SYN_SENT',
  'SYN-RECV': 'SYN_RECV',
  'FIN-WAIT-1': 'FIN_WAIT1',
  'FIN-WAIT-2': 'FIN_WAIT2',
  'TIME-WAIT': 'TIME_WAIT',
  UNCONN: 'CLOSE',
  'CLOSE-WAIT': 'CLOSE_WAIT',
  'LAST-ACK': 'LAST_ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
  'NEW-SYN-RECV': 'NEW_SYN_RECV',
};

/**
 * The names ss's STATE-FILTER takes for each state (`ss state NAME`, scan_state in misc/ss.c).
 * CLOSE is absent on purpose: asking for `closed` also lists bound-inactive sockets (iproute2 6.8 on,
 * Linux 6.5 on), which /proc/net/tcp never lists; no TCP_CLOSE socket is in the kernel's lookup
 * tables otherwise. NEW_SYN_RECV sockets are asked for as syn-recv: the kernel adds them itself.
 */
export const SS_STATE_FILTER_NAMES: Readonly<Partial<Record<TcpState, string>>> = {
  ESTABLISHED: 'established',
  SYN_SENT: 'syn-sent',
  SYN_RECV: 'syn-recv',
  FIN_WAIT1: 'fin-wait-1',
  FIN_WAIT2: 'fin-wait-2',
  TIME_WAIT: 'time-wait',
  CLOSE_WAIT: 'close-wait',
  LAST_ACK: 'last-ack',
  LISTEN: 'listening',
  CLOSING: 'closing',
  NEW_SYN_RECV: 'syn-recv',
};

/**
 * ss's timer names (tmr_name in misc/ss.c), indexed as the kernel's idiag_timer
 * (inet_sk_diag_fill, inet_twsk_diag_fill, inet_req_diag_fill in net/ipv4/inet_diag.c): the same
 * codes as /proc's `tr` column.
 */
const SS_TIMER_NAMES: Readonly<Record<string, TcpTimerKind>> = {
  off: 'off', // 0  no timer pending (ss prints no timer:(...) then)
  on: 'retransmit', // 1  retransmission, loss probe, reordering; a request socket's SYN-ACK timer
  keepalive: 'keepalive', // 2  sk_timer: keepalive, or the FIN_WAIT2 timer
  timewait: 'timewait', // 3  a TIME_WAIT socket's timer
  persist: 'probe', // 4  zero-window probe (ICSK_TIME_PROBE0)
  unknown: 'unknown', // 5  anything else
};

/** Columns before the optional details: state, Recv-Q, Send-Q, local, peer. */
const MIN_COLUMNS = 5;

const DECIMAL = /^\d+$/;
/** A cookie as sock_details_print writes it: `sk:%llx`. */
const COOKIE = /^[0-9a-f]{1,16}$/;
/** `timer:(NAME,TIME,RETRANS)` of tcp_timer_print. */
const TIMER = /^timer:\(([a-z]+),([^,]*),(\d+)\)$/;
/**
 * The TIME of a timer, print_ms_timer in misc/ss.c: [Mmin][S(sec|.)][MMM(ms|sec)], empty for 0.
 * Seconds are dropped from 10 minutes on, milliseconds from 10 seconds or 1 minute on. "1.234ms" is
 * 1 second and 234 ms (the '.' separates the fields); a later patch prints it "1.234sec".
 */
const TIMER_TIME = /^(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)(ms|sec))?$/;

/**
 * Parses ss's output (IPv4 and IPv6 sockets in one text). Blank lines and a header line are skipped;
 * any other line that is not a socket line becomes a warning. Never throws.
 */
export function parseSs(text: string): { entries: SocketEntry[]; warnings: Warning[] } {
  return parseTableLines(text.split('\n'), ssLine, SsWarning.MALFORMED_LINE);
}

/** One line of ss's output: a socket, a warning (without line number), or null for a blank or header line. */
function ssLine(line: string): SocketEntry | Warning | null {
  const columns = line.trim().split(/\s+/);
  if (columns[0] === '' || columns[0] === 'State' || columns[0] === 'Netid') return null; // blank, header
  return parseLine(columns);
}

/**
 * `ss -tanHOneE` as it comes: with -E (--events) ss joins sock_diag's multicast groups of TCP
 * socket destruction (SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY; handle_follow_request in
 * misc/ss.c) and prints each socket as the kernel destroys it, in the lines of a snapshot: the
 * kernel fills the message as for a dump (inet_sk_diag_fill from sock_diag_broadcast_destroy, in
 * net/core/sock_diag.c), the cookie included, with the state it died in, CLOSE (ss: UNCONN), and
 * no inode. Only full sockets are destroyed so (__sk_free): a TIME_WAIT or a request socket ends
 * without an event. Lines may be cut anywhere between two chunks; each socket is handed over with
 * the time of the chunk that completed its line. Pure: the bytes come from observe/socket-events.ts.
 */
export class SsEventDecoder {
  /** Malformed lines, as parseSs reports them (the first 20, then one more that counts the rest). */
  readonly warnings: Warning[] = [];
  private readonly text = new TextDecoder('utf-8');
  private leftover = '';
  private lines = 0;
  private malformed = 0;

  constructor(private readonly onSocket: (entry: SocketEntry, at: number) => void) {}

  /** Bytes of ss's standard output, read at `at` (ms since the Unix epoch). */
  push(chunk: Uint8Array, at: number): void {
    const lines = (this.leftover + this.text.decode(chunk, { stream: true })).split('\n');
    this.leftover = lines.pop()!;
    for (const line of lines) this.line(line, at);
  }

  /** ss has exited: a last line without its newline is parsed too. */
  end(at: number): void {
    const rest = this.leftover + this.text.decode();
    this.leftover = '';
    if (rest !== '') this.line(rest, at);
    if (this.malformed > MAX_LINE_WARNINGS) {
      this.warnings.push({
        code: SsWarning.MALFORMED_LINE,
        message: `${this.malformed - MAX_LINE_WARNINGS} more malformed lines not listed`,
      });
    }
  }

  private line(line: string, at: number): void {
    this.lines++;
    const result = ssLine(line);
    if (result === null) return;
    if ('state' in result) return this.onSocket(result, at);
    if (result.code === SsWarning.MALFORMED_LINE && ++this.malformed > MAX_LINE_WARNINGS) return;
    this.warnings.push({ code: result.code, message: `line ${this.lines}: ${result.message}` });
  }
}

/** One line split on whitespace, or a warning (without line number) saying what is wrong. */
function parseLine(columns: string[]): SocketEntry | Warning {
  const malformed = (message: string): Warning => ({ code: SsWarning.MALFORMED_LINE, message });
  if (columns.length < MIN_COLUMNS) return malformed(`expected at least ${MIN_COLUMNS} columns, got ${columns.length}`);
  const [stateName, recvQ, sendQ, local, peer] = columns as [string, string, string, string, string];
  // ss prints no State column when its query named a single state: the caller must ask for two.
  if (DECIMAL.test(stateName)) return malformed(`no State column (ss asked for a single state?)`);
  if (!DECIMAL.test(recvQ)) return malformed(`bad Recv-Q "${recvQ}"`);
  if (!DECIMAL.test(sendQ)) return malformed(`bad Send-Q "${sendQ}"`);
  const localSide = parseAddressPort(local);
  if (typeof localSide === 'string') return malformed(`local address: ${localSide}`);
  const peerSide = parseAddressPort(peer);
  if (typeof peerSide === 'string') return malformed(`peer address: ${peerSide}`);
  let timer: SocketEntry['timer'] = { kind: 'off', expiresMs: 0 };
  let retransmits = 0;
  let uid = 0; // sock_details_print prints uid only when it is not 0
  let inode = 0;
  let cookie: string | undefined;
  for (let i = MIN_COLUMNS; i < columns.length; i++) {
    const token = columns[i] ?? '';
    if (token.startsWith('timer:')) {
      const match = TIMER.exec(token);
      const kind = match === null ? undefined : SS_TIMER_NAMES[match[1] ?? ''];
      const expiresMs = match === null ? null : timerMs(match[2] ?? '');
      if (kind === undefined || expiresMs === null) return malformed(`bad timer "${token}"`);
      timer = { kind, expiresMs };
      retransmits = Number(match?.[3]);
    } else if (token.startsWith('uid:') || token.startsWith('ino:')) {
      const value = token.slice(4);
      if (!DECIMAL.test(value)) return malformed(`bad "${token}"`);
      if (token.startsWith('uid:')) uid = Number(value);
      else inode = Number(value);
    } else if (token.startsWith('sk:')) {
      cookie = token.slice(3);
      if (!COOKIE.test(cookie)) return malformed(`bad "${token}"`);
    }
  }
  const state = SS_STATE_NAMES[stateName];
  if (state === undefined) {
    return {
      code: SsWarning.UNKNOWN_STATE,
      message: `state "${stateName}" is not a TCP state ss prints, line skipped`,
    };
  }
  return {
    family: localSide.family,
    local: localSide.endpoint,
    remote: peerSide.endpoint,
    state,
    txQueue: state === 'LISTEN' ? 0 : Number(sendQ), // a listener's Send-Q is its backlog, not bytes
    rxQueue: Number(recvQ),
    timer,
    retransmits,
    uid,
    inode,
    ...(cookie !== undefined ? { cookie } : {}),
  };
}

/** Milliseconds of print_ms_timer's text, or null when it is not of that shape. */
function timerMs(text: string): number | null {
  const match = TIMER_TIME.exec(text);
  if (match === null) return null;
  const [, minutes = '0', seconds = '0', , millis] = match;
  // "5.020ms" (old ss) and "5.020sec" (patched) are 5 s 20 ms; "20ms" alone is 20 ms.
  return Number(minutes) * 60_000 + Number(seconds) * 1000 + (millis === undefined ? 0 : Number(millis));
}

/**
 * `ADDRESS[%IFACE]:PORT` as inet_addr_print writes it: IPv4 dotted, IPv6 in brackets, `*` for the
 * IPv6 wildcard of a dual-stack socket (IPv4's is printed 0.0.0.0), port `*` for 0. The family is
 * the socket's: an IPv6 socket's IPv4-mapped address is in brackets too.
 */
function parseAddressPort(text: string): { family: 4 | 6; endpoint: Endpoint } | string {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return `"${text}" has no port`;
  const portText = text.slice(colon + 1);
  if (portText !== '*' && !(DECIMAL.test(portText) && Number(portText) <= 0xffff)) return `bad port in "${text}"`;
  const port = portText === '*' ? 0 : Number(portText);
  let host = text.slice(0, colon);
  const zone = host.lastIndexOf('%'); // bound to a device (SO_BINDTODEVICE): ADDRESS%IFACE
  if (zone > host.lastIndexOf(']')) host = host.slice(0, zone);
  if (host === '*') return { family: 6, endpoint: { address: '::', port } };
  const bracketed = host.startsWith('[') && host.endsWith(']');
  const address = canonicalAddress(bracketed ? host.slice(1, -1) : host);
  if (address === null || bracketed !== address.includes(':')) return `"${text}" is not an address:port of ss`;
  return { family: bracketed ? 6 : 4, endpoint: { address: normalizeAddress(address), port } };
}
