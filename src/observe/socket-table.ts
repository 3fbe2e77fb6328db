/**
 * The kernel socket table (what `netstat -tn` / `ss -tan` show), read one of two ways, thin I/O
 * around pure parsers:
 * - `ss` (iproute2), the default: it asks the kernel through netlink sock_diag, and the kernel
 *   filters by state and port itself (decode/ss.ts). It walks its tables once and returns only the
 *   matching sockets, so 100,000 TIME_WAIT sockets elsewhere on the host cost it milliseconds, and
 *   an answer that fits in one netlink message (a hundred sockets or more) is one consistent pass. Each
 *   read starts a process: about 10 ms on a quiet machine, several times more on a loaded one.
 * - /proc/net/tcp and /proc/net/tcp6 (decode/procnet.ts), the fallback when ss cannot run: the
 *   kernel prints every socket of the host (about 150 bytes each) and the reader filters. It comes
 *   one page per read() call (about 27 sockets: seq_read_iter fills one page), and before each call
 *   the kernel resumes its walk by position (bucket and offset, tcp_seek_last_pos), so a socket can
 *   be missed or listed twice when others come and go in between: not an atomic snapshot, and on a
 *   busy host thousands of calls (the demo took 25 s among 95,000 TIME_WAIT sockets, issue #8).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { parseProcNetTcp } from '../decode/procnet.js';
import type { SocketEntry, TcpState } from '../decode/socket-entry.js';
import { SS_STATE_FILTER_NAMES, parseSs } from '../decode/ss.js';
import { FileError, KeepaliveLabError } from '../errors.js';
import type { Warning, WarningCode } from '../model/report.js';

/** Warning codes readSocketTable adds to the parsers'. */
export const SocketTableWarning = {
  /** /proc/net/tcp6 exists but could not be read: only IPv4 sockets are listed. */
  TCP6_UNREADABLE: 'KAL_WARN_PROCNET_TCP6_UNREADABLE',
  /** ss could not run (not installed, too old): the table was read from /proc instead. */
  FALLBACK: 'KAL_WARN_SOCKET_TABLE_FALLBACK',
} as const satisfies Record<string, WarningCode>;

/** Where a table was read: ss (netlink sock_diag) or /proc/net/tcp{,6}. */
export type SocketTableSource = 'ss' | 'proc';

export interface SocketTableOptions {
  /**
   * 'ss' or 'proc' to read only that way (ss failing is then an error); 'auto' (the default) reads
   * with ss and falls back to /proc, with a warning, when ss cannot run.
   */
  source?: 'auto' | SocketTableSource;
  /** Where procfs is mounted; default '/proc'. Tests point it at a fixture directory (implies 'proc'). */
  root?: string;
  /** The ss program: a path, or a name looked up on the PATH (default 'ss'). */
  ss?: string;
  /** Only sockets with one of these local or remote ports (with ss, the kernel filters). */
  ports?: readonly number[];
  /** Only sockets in one of these states (with ss, the kernel filters); an empty list matches nothing. */
  states?: readonly TcpState[];
}

/** The sockets (IPv4 first when read from /proc), what could not be read, and where it was read. */
export interface SocketTable {
  entries: SocketEntry[];
  warnings: Warning[];
  source: SocketTableSource;
}

/** What filterSockets keeps: every criterion given must hold. */
export interface SocketFilter {
  /** A port, or several (any of them), local or remote. */
  port?: number | readonly number[];
  state?: TcpState | readonly TcpState[];
}

/** What iproute2 is called on Debian and most distributions: what to install for ss. */
const IPROUTE2 = 'iproute2';
/**
 * States added to a one-state query so that ss prints its State column (sock_state_print shows it
 * only for more than one state): rare ones, their sockets are dropped by the exact filter after.
 */
const SS_COMPANION_STATE = 'closing';
const SS_OTHER_COMPANION_STATE = 'last-ack';
/** ss's output with 100,000 sockets unfiltered is about 13 MB; this leaves room for ten times more. */
const SS_MAX_OUTPUT = 256 * 1024 * 1024;

/**
 * Reads the kernel's TCP sockets, from ss or /proc as `options.source` says (see the top of the
 * file). Throws FileError (KAL_ERR_FILE) when /proc/net/tcp is to be read and cannot be, e.g. not on
 * Linux; with source 'ss', KAL_ERR_COMMAND_NOT_FOUND or KAL_ERR_COMMAND when ss cannot run.
 */
export async function readSocketTable(options: SocketTableOptions = {}): Promise<SocketTable> {
  const source = options.source ?? (options.root !== undefined ? 'proc' : 'auto');
  // Only CLOSE (or nothing) asked for: /proc lists no such socket, and ss is not asked (see SS_STATE_FILTER_NAMES).
  if (options.states !== undefined && !options.states.some((state) => SS_STATE_FILTER_NAMES[state] !== undefined)) {
    return { entries: [], warnings: [], source: source === 'ss' ? 'ss' : 'proc' };
  }
  if (source === 'proc') return readProc(options);
  try {
    return await readSs(options);
  } catch (error) {
    if (source === 'ss') throw error;
    const table = await readProc(options);
    table.warnings.unshift({
      code: SocketTableWarning.FALLBACK,
      message:
        `${(error as Error).message}: read /proc/net/tcp{,6} instead, which is slower and, on a busy host, ` +
        `not an atomic snapshot (install ${IPROUTE2} for ss)`,
    });
    return table;
  }
}

/**
 * The arguments of ss for these options: TCP (-t), numeric (-n), no header (-H), one line per
 * socket (-O), uid, inode and cookie (-e), timers (-o); the states asked for by name (every state /proc
 * lists when none is given) and the ports as a filter expression, both applied by the kernel.
 */
export function ssArguments(options: Pick<SocketTableOptions, 'ports' | 'states'>): string[] {
  const names = new Set<string>();
  for (const state of options.states ?? (Object.keys(SS_STATE_FILTER_NAMES) as TcpState[])) {
    const name = SS_STATE_FILTER_NAMES[state];
    if (name !== undefined) names.add(name);
  }
  // ss leaves out the State column when asked for one state: ask for a second one, filtered out after.
  if (names.size === 1) names.add(names.has(SS_COMPANION_STATE) ? SS_OTHER_COMPANION_STATE : SS_COMPANION_STATE);
  const args = ['-tanHOneo'];
  for (const name of names) args.push('state', name);
  const ports = options.ports ?? [];
  if (ports.length > 0) args.push(`( ${ports.map((p) => `sport = :${p} or dport = :${p}`).join(' or ')} )`);
  return args;
}

async function readSs(options: SocketTableOptions): Promise<SocketTable> {
  const program = options.ss ?? 'ss';
  const text = await new Promise<string>((resolve, reject) => {
    execFile(
      program,
      ssArguments(options),
      { encoding: 'utf8', maxBuffer: SS_MAX_OUTPUT, windowsHide: true },
      (error, stdout, stderr) => {
        if (error === null) return resolve(stdout);
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          return reject(new KeepaliveLabError('KAL_ERR_COMMAND_NOT_FOUND', `${program} not found`, { cause: error }));
        }
        const why = stderr.trim().split('\n')[0] || error.message;
        reject(new KeepaliveLabError('KAL_ERR_COMMAND', `${program} failed: ${why}`, { cause: error }));
      },
    );
  });
  const { entries, warnings } = parseSs(text);
  return { entries: filterSockets(entries, filterOf(options)), warnings, source: 'ss' };
}

async function readProc(options: SocketTableOptions): Promise<SocketTable> {
  const root = options.root ?? '/proc';
  // The kernel prints addresses as host-order words; this is the host whose kernel wrote them.
  const byteOrder = endianness() === 'BE' ? 'be' : 'le';
  const tcpPath = join(root, 'net', 'tcp');
  const tcp6Path = join(root, 'net', 'tcp6');

  let tcpText: string;
  try {
    tcpText = await readFile(tcpPath, 'utf8');
  } catch (cause) {
    throw new FileError(`cannot read the kernel socket table ${tcpPath}: ${errorText(cause)}`, { cause });
  }
  const warnings: Warning[] = [];
  let tcp6Text = '';
  try {
    tcp6Text = await readFile(tcp6Path, 'utf8');
  } catch (cause) {
    // A missing tcp6 (IPv6 disabled, ipv6.disable=1) just yields the IPv4 table.
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      warnings.push({
        code: SocketTableWarning.TCP6_UNREADABLE,
        message: `cannot read ${tcp6Path}, IPv6 sockets not listed: ${errorText(cause)}`,
      });
    }
  }

  // The parser's port filter is a cheap text search that spares splitting the whole table; exact below.
  const v4 = parseProcNetTcp(tcpText, 4, byteOrder, options.ports);
  const v6 = parseProcNetTcp(tcp6Text, 6, byteOrder, options.ports);
  const where =
    (path: string) =>
    (w: Warning): Warning => ({ code: w.code, message: `${path}: ${w.message}` });
  warnings.push(...v4.warnings.map(where(tcpPath)), ...v6.warnings.map(where(tcp6Path)));
  return { entries: filterSockets([...v4.entries, ...v6.entries], filterOf(options)), warnings, source: 'proc' };
}

/** The filterSockets criteria of the options. */
function filterOf(options: SocketTableOptions): SocketFilter {
  return {
    ...(options.ports !== undefined ? { port: options.ports } : {}),
    ...(options.states !== undefined ? { state: options.states } : {}),
  };
}

/**
 * Entries matching every given criterion: `port` the local or the remote port (or one of the
 * ports), `state` one of the states (an empty list matches nothing). Without criteria, all entries.
 * Keeps the input order.
 */
export function filterSockets(entries: SocketEntry[], filter: SocketFilter): SocketEntry[] {
  const { port, state } = filter;
  const ports = port === undefined ? null : new Set(typeof port === 'number' ? [port] : port);
  const states = state === undefined ? null : new Set(typeof state === 'string' ? [state] : state);
  if (ports === null && states === null) return entries;
  return entries.filter(
    (e) =>
      (ports === null || ports.has(e.local.port) || ports.has(e.remote.port)) &&
      (states === null || states.has(e.state)),
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
