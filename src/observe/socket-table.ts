/**
 * The kernel socket table (what `netstat -tn` / `ss -tan` show), read from /proc/net/tcp and
 * /proc/net/tcp6. Thin I/O around the pure parser in decode/procnet.ts.
 */
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { parseProcNetTcp, type SocketEntry, type TcpState } from '../decode/procnet.js';
import { FileError } from '../errors.js';
import type { Warning, WarningCode } from '../model/report.js';

/** Warning codes readSocketTable adds to the parser's. */
export const SocketTableWarning = {
  /** /proc/net/tcp6 exists but could not be read: only IPv4 sockets are listed. */
  TCP6_UNREADABLE: 'KAL_WARN_PROCNET_TCP6_UNREADABLE',
} as const satisfies Record<string, WarningCode>;

export interface SocketTableOptions {
  /** Where procfs is mounted; default '/proc'. Tests point it at a fixture directory. */
  root?: string;
  /** Parse only sockets with one of these local or remote ports (much cheaper on a busy host). */
  ports?: readonly number[];
}

/** The sockets, IPv4 first, and what could not be read. */
export interface SocketTable {
  entries: SocketEntry[];
  warnings: Warning[];
}

/** What filterSockets keeps: every criterion given must hold. */
export interface SocketFilter {
  port?: number;
  state?: TcpState | TcpState[];
}

/**
 * Reads and parses `<root>/net/tcp` and `<root>/net/tcp6` (IPv4 entries first). A missing tcp6 (IPv6
 * disabled, ipv6.disable=1) just yields the IPv4 table; tcp6 unreadable for another reason is a warning.
 * Throws FileError (KAL_ERR_FILE) when `<root>/net/tcp` cannot be read, e.g. not on Linux.
 */
export async function readSocketTable(options?: SocketTableOptions): Promise<SocketTable> {
  const root = options?.root ?? '/proc';
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
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      warnings.push({
        code: SocketTableWarning.TCP6_UNREADABLE,
        message: `cannot read ${tcp6Path}, IPv6 sockets not listed: ${errorText(cause)}`,
      });
    }
  }

  const v4 = parseProcNetTcp(tcpText, 4, byteOrder, options?.ports);
  const v6 = parseProcNetTcp(tcp6Text, 6, byteOrder, options?.ports);
  const where =
    (path: string) =>
    (w: Warning): Warning => ({ code: w.code, message: `${path}: ${w.message}` });
  warnings.push(...v4.warnings.map(where(tcpPath)), ...v6.warnings.map(where(tcp6Path)));
  return { entries: [...v4.entries, ...v6.entries], warnings };
}

/**
 * Entries matching every given criterion: `port` the local or the remote port, `state` one of the
 * states (an empty list matches nothing). Without criteria, all entries. Keeps the input order.
 */
export function filterSockets(entries: SocketEntry[], filter: SocketFilter): SocketEntry[] {
  const { port, state } = filter;
  const states = state === undefined ? null : new Set(Array.isArray(state) ? state : [state]);
  return entries.filter(
    (e) =>
      (port === undefined || e.local.port === port || e.remote.port === port) &&
      (states === null || states.has(e.state)),
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
