import type { TcpState } from '../decode/procnet.js';
import { filterSockets, readSocketTable } from '../observe/socket-table.js';
import { renderSocketTable } from '../report/sockets.js';
import { UsageError } from '../errors.js';
import { flag, parse, port, str } from './args.js';
import type { Command } from './command.js';
import { useColor } from './command.js';

const STATES: readonly TcpState[] = [
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];

export const sockets: Command = {
  name: 'sockets',
  usage: `Usage: keepalive-lab sockets [--port P] [--state S[,S...]] [--json]

Reads /proc/net/tcp and /proc/net/tcp6 (IPv4-mapped IPv6 addresses shown as IPv4).
  --port P        only sockets with P as local or remote port
  --state S       only these states, e.g. TIME_WAIT or time-wait,established
  --json          print the entries as JSON
  -h, --help      this help`,
  async run(argv, io) {
    const p = parse(argv, {
      port: { type: 'string' },
      state: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (flag(p, 'help')) {
      io.stdout.write(sockets.usage + '\n');
      return 0;
    }
    const filter: { port?: number; state?: TcpState[] } = {};
    const portValue = port(p);
    if (portValue !== undefined) filter.port = portValue;
    const stateText = str(p, 'state');
    if (stateText !== undefined) {
      filter.state = stateText.split(',').map((s) => {
        const name = s.trim().toUpperCase().replace(/-/g, '_') as TcpState;
        if (!STATES.includes(name)) throw new UsageError(`--state must be among ${STATES.join(', ')}, got '${s}'`);
        return name;
      });
    }
    const table = await readSocketTable(filter.port !== undefined ? { ports: [filter.port] } : {});
    const entries = filterSockets(table.entries, filter);
    for (const w of table.warnings) io.stderr.write(`warning: ${w.message}\n`);
    io.stdout.write(
      flag(p, 'json') ? JSON.stringify(entries, null, 2) + '\n' : renderSocketTable(entries, { color: useColor(io) }),
    );
    return 0;
  },
};
