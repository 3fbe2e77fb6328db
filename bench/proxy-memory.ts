/**
 * `npm run bench:proxy-memory`: does the proxy's memory follow its open connections, not the total
 * (issue 8, part 4: "a proxy after 1,000,000 connections: peak RSS <= 150 MiB")?
 *
 * `keepalive-lab proxy` (the built CLI, its own process) forwards to nginx (test/support/nginx.ts);
 * ab (C, no keep-alive: HTTP/1.0, one connection per request, closed by the server) drives
 * `--connections` connections through it in `--steps` runs of `-c --concurrency`. After each run
 * the proxy's resident memory is read from /proc/PID/status (VmRSS now, VmHWM the peak so far).
 * With `--json` (the default mode) the report goes to a temporary file, each record as its
 * connection closes; at the end the file's records are counted and its totals read, then it is
 * removed. `--mode terminal` prints the terminal report instead (it keeps the last 50 records).
 *
 * Usage: npm run bench:proxy-memory [-- --connections N] [--steps N] [--concurrency N] [--mode json|terminal]
 * It takes minutes (1,000,000 connections: about 5 on 2 cores) and leaves up to
 * net.ipv4.tcp_max_tw_buckets sockets in TIME_WAIT for a minute. Run it under the shared lock
 * (flock /tmp/kal-suite.lock), alone on the machine.
 */
import { createReadStream, mkdtempSync, openSync, readFileSync, rmSync, statSync, closeSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startNginx } from '../test/support/nginx.js';
import { run, startProxyCli } from './proxy-cli.js';
import type { ProxyProcess } from './proxy-cli.js';

const HOST = '127.0.0.1';
/** The goal of issue 8. */
const GOAL_MIB = 150;
/** A record's first field in the report file (report/json-stream.ts: records at depth 6, fields at 7). */
const RECORD_START = `\n${'  '.repeat(7)}"id": `;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '1000000' },
      steps: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '50' },
      mode: { type: 'string', default: 'json' },
    },
  });
  const total = Number(values.connections);
  const steps = Math.max(1, Number(values.steps));
  const concurrency = Number(values.concurrency);
  const json = values.mode !== 'terminal';
  const perStep = Math.ceil(total / steps);
  console.log(
    `bench:proxy-memory — ${total.toLocaleString('en-US')} connections through keepalive-lab proxy ` +
      `(${json ? '--json to a file' : 'terminal report'}), ab -c ${concurrency} in ${steps} runs, nginx behind`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'kal-bench-proxy-memory-'));
  const reportPath = join(dir, 'report.json');
  const nginx = await startNginx(HOST);
  let proxy: ProxyProcess | null = null;
  const started = Date.now();
  try {
    const out = openSync(reportPath, 'w');
    try {
      proxy = await startProxyCli(nginx.port, json ? ['--json'] : [], out);
    } finally {
      closeSync(out);
    }
    const pid = proxy.pid;
    console.log(`step  connections  seconds  conn/s   failed  VmRSS MiB  VmHWM MiB  report file MiB`);
    const before = memory(pid);
    console.log(
      `   0            0        -       -        -  ${mib(before.rss).padStart(9)}  ${mib(before.hwm).padStart(9)}`,
    );
    let done = 0;
    let failed = 0;
    for (let step = 1; step <= steps && done < total; step++) {
      const n = Math.min(perStep, total - done);
      const t0 = Date.now();
      const ab = await run('ab', [
        '-q',
        '-r',
        '-n',
        String(n),
        '-c',
        String(concurrency),
        `http://${HOST}:${proxy.port}/`,
      ]);
      const seconds = (Date.now() - t0) / 1000;
      const complete = Number(/Complete requests:\s+(\d+)/.exec(ab)?.[1] ?? NaN);
      failed += Number(/Failed requests:\s+(\d+)/.exec(ab)?.[1] ?? 0);
      done += complete;
      const m = memory(pid);
      console.log(
        `${String(step).padStart(4)}  ${String(done).padStart(11)}  ${seconds.toFixed(1).padStart(7)}  ` +
          `${Math.round(complete / seconds)
            .toString()
            .padStart(6)}  ${String(failed).padStart(7)}  ${mib(m.rss).padStart(9)}  ${mib(m.hwm).padStart(9)}  ` +
          `${mib(statSync(reportPath).size).padStart(15)}`,
      );
    }
    // The peak includes the stop (the report is built and written then): sample until the process ends.
    let peak = memory(pid).hwm;
    const stopped = proxy.stop();
    while (proxy.child.exitCode === null) {
      try {
        // A process that is exiting has no VmHWM line any more (NaN).
        const hwm = memory(pid).hwm;
        if (Number.isFinite(hwm)) peak = Math.max(peak, hwm);
      } catch {
        break; // gone
      }
      await delay(20);
    }
    await stopped;
    const minutes = (Date.now() - started) / 60_000;
    console.log(`\n${done.toLocaleString('en-US')} connections in ${minutes.toFixed(1)} min; ab failed: ${failed}`);
    if (json) {
      const records = await countRecords(reportPath);
      const counted = /"totals": \{\s+"connections": (\d+)/.exec(tail(reportPath, 64 * 1024))?.[1];
      console.log(
        `report file: ${mib(statSync(reportPath).size)} MiB, ${records.toLocaleString('en-US')} records, ` +
          `totals.connections ${counted} (ab completed ${done} requests)`,
      );
    }
    console.log(
      `peak RSS of the proxy (VmHWM): ${mib(peak)} MiB — goal <= ${GOAL_MIB} MiB: ` +
        `${peak <= GOAL_MIB * 1024 * 1024 ? 'met' : 'MISSED'}`,
    );
  } finally {
    proxy?.kill();
    await nginx.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Resident memory of `pid` now and at its peak, in bytes (/proc/PID/status). */
function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/** How many records the report file holds, read in chunks (it is hundreds of MB). */
async function countRecords(path: string): Promise<number> {
  let count = 0;
  let carry = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const text = carry + (chunk as string);
    let at = text.indexOf(RECORD_START);
    while (at !== -1) {
      count++;
      at = text.indexOf(RECORD_START, at + RECORD_START.length);
    }
    // A match cut by the chunk's end is found in the next one; one wholly inside the carry is not.
    carry = text.slice(-(RECORD_START.length - 1));
  }
  return count;
}

function tail(path: string, bytes: number): string {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(bytes, size));
    readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    return buffer.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

await main();
