import { timeWaitByRemote } from '../analyze/time-wait.js';
import { TCP_STATES, type SocketEntry, type TcpState } from '../decode/socket-entry.js';
import { readHostFacts } from '../observe/host-facts.js';
import { readSocketTable, type SocketTableSource } from '../observe/socket-table.js';
import { renderSocketTable, renderTimeWaitSummary } from '../report/sockets.js';
import { UsageError } from '../errors.js';
import { flag, int, parse, port, str } from './args.js';
import type { Command } from './command.js';
import { useColor } from './command.js';

const SOURCES: readonly ('auto' | SocketTableSource)[] = ['auto', 'ss', 'proc'];
/** Remote endpoints listed under the table (all of them with --by-remote, unless --top says). */
const TOP_UNDER_TABLE = 10;

export const sockets: Command = {
  name: 'sockets',
  usage: `Usage: keepalive-lab sockets [--port P] [--state S[,S...]] [--source auto|ss|proc] [--by-remote] [--top N]
                              [--json]

Lists the kernel's TCP sockets, read with ss (iproute2; the kernel filters by port and state), or from
/proc/net/tcp and /proc/net/tcp6 when ss cannot run (IPv4-mapped IPv6 addresses shown as IPv4). Under
the table, the TIME_WAIT sockets per remote endpoint (the 10 with most): on which side this machine
was (client: the local port is its own, from the ephemeral range unless bound; server: a listening
port), against this machine's net.ipv4.ip_local_port_range and tcp_tw_reuse.
  --port P        only sockets with P as local or remote port
  --state S       only these states, e.g. TIME_WAIT or time-wait,established
  --source S      auto (default: ss, else /proc), ss, or proc
  --by-remote     only the TIME_WAIT sockets per remote endpoint, all of them (with --json: that summary)
  --top N         at most N remote endpoints (default 10 under the table, all with --by-remote)
  --json          print the entries as JSON
  -h, --help      this help`,
  async run(argv, io) {
    const p = parse(argv, {
      port: { type: 'string' },
      state: { type: 'string' },
      source: { type: 'string' },
      'by-remote': { type: 'boolean' },
      top: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (flag(p, 'help')) {
      io.stdout.write(sockets.usage + '\n');
      return 0;
    }
    const portValue = port(p);
    const stateText = str(p, 'state');
    const states = stateText?.split(',').map((s) => {
      const name = s.trim().toUpperCase().replace(/-/g, '_') as TcpState;
      if (!TCP_STATES.includes(name))
        throw new UsageError(`--state must be among ${TCP_STATES.join(', ')}, got '${s}'`);
      return name;
    });
    const source = (str(p, 'source') ?? 'auto') as 'auto' | SocketTableSource;
    if (!SOURCES.includes(source))
      throw new UsageError(`--source must be one of ${SOURCES.join(', ')}, got '${source}'`);
    const byRemote = flag(p, 'by-remote');
    const limit = int(p, 'top', 1) ?? (byRemote ? undefined : TOP_UNDER_TABLE);
    const json = flag(p, 'json');
    const color = useColor(io);
    const table = await readSocketTable({
      source,
      ...(portValue !== undefined ? { ports: [portValue] } : {}),
      ...(states !== undefined ? { states } : {}),
    });
    for (const w of table.warnings) io.stderr.write(`warning: ${w.message}\n`);
    if (json && !byRemote) {
      io.stdout.write(JSON.stringify(table.entries, null, 2) + '\n');
      return 0;
    }
    const out: string[] = byRemote ? [] : [renderSocketTable(table.entries, { color })];
    if (byRemote || table.entries.some((e) => e.state === 'TIME_WAIT')) {
      const summary = timeWaitByRemote(table.entries, {
        ports: (await readHostFacts()).ports,
        listeningPorts: await listeningPorts(table.entries, source),
        ...(limit !== undefined ? { top: limit } : {}),
      });
      out.push(json ? JSON.stringify(summary, null, 2) + '\n' : renderTimeWaitSummary(summary, { color }));
    }
    io.stdout.write(out.join('\n'));
    return 0;
  },
};

/**
 * The ports this machine listens on, which tell its server sockets from its client ones: from the
 * entries when they hold the LISTEN sockets (no --state, or one with LISTEN), else read apart.
 */
async function listeningPorts(entries: readonly SocketEntry[], source: 'auto' | SocketTableSource): Promise<number[]> {
  if (entries.some((e) => e.state === 'LISTEN')) return [];
  const listening = await readSocketTable({ source, states: ['LISTEN'] });
  return listening.entries.map((e) => e.local.port);
}
