import { TCP_STATES, type TcpState } from '../decode/socket-entry.js';
import { readSocketTable, type SocketTableSource } from '../observe/socket-table.js';
import { renderSocketTable } from '../report/sockets.js';
import { UsageError } from '../errors.js';
import { flag, parse, port, str } from './args.js';
import type { Command } from './command.js';
import { useColor } from './command.js';

const SOURCES: readonly ('auto' | SocketTableSource)[] = ['auto', 'ss', 'proc'];

export const sockets: Command = {
  name: 'sockets',
  usage: `Usage: keepalive-lab sockets [--port P] [--state S[,S...]] [--source auto|ss|proc] [--json]

Lists the kernel's TCP sockets, read with ss (iproute2; the kernel filters by port and state), or from
/proc/net/tcp and /proc/net/tcp6 when ss cannot run (IPv4-mapped IPv6 addresses shown as IPv4).
  --port P        only sockets with P as local or remote port
  --state S       only these states, e.g. TIME_WAIT or time-wait,established
  --source S      auto (default: ss, else /proc), ss, or proc
  --json          print the entries as JSON
  -h, --help      this help`,
  async run(argv, io) {
    const p = parse(argv, {
      port: { type: 'string' },
      state: { type: 'string' },
      source: { type: 'string' },
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
    const table = await readSocketTable({
      source,
      ...(portValue !== undefined ? { ports: [portValue] } : {}),
      ...(states !== undefined ? { states } : {}),
    });
    for (const w of table.warnings) io.stderr.write(`warning: ${w.message}\n`);
    io.stdout.write(
      flag(p, 'json')
        ? JSON.stringify(table.entries, null, 2) + '\n'
        : renderSocketTable(table.entries, { color: useColor(io) }),
    );
    return 0;
  },
};
