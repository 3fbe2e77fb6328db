/**
 * A real Prometheus (Debian's `prometheus` package, installed by .ci/run) for a test: a temporary
 * config scraping the given targets every second and a temporary TSDB, on a free loopback port;
 * killed and its directory removed after the test. Queries go through its HTTP API (/api/v1/query).
 * Without the binary a test skips saying why; under CI it fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestContext } from 'node:test';

/** For test options: skip (with the reason) when prometheus is missing; under CI that is a failure. */
export function prometheusSkip(): string | false {
  const probe = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  if (!probe.error && probe.status === 0) return false;
  const problem = 'prometheus is not installed (apt-get install prometheus)';
  if (process.env.CI) throw new Error(`CI must have Prometheus: ${problem}`);
  return problem;
}

export interface ScrapeTarget {
  job: string;
  /** host:port of a /metrics endpoint. */
  address: string;
}

/** One sample of an instant query's vector result. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromQueryResponse {
  status: string;
  data: { resultType: string; result: PromSample[] };
}

export interface Prometheus {
  readonly url: string;
  /** An instant query, the JSON Prometheus returned. */
  query(promql: string): Promise<PromQueryResponse>;
  /**
   * Queries until `done` holds for the response (Prometheus scrapes every second; counts arrive
   * with a scrape), or `timeoutMs` passed: then resolves with the last response, for the test's assert.
   */
  queryUntil(promql: string, done: (r: PromQueryResponse) => boolean, timeoutMs?: number): Promise<PromQueryResponse>;
}

/** A free loopback port (Prometheus's --web.listen-address takes no port 0). */
async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The value of a query whose result is one sample (e.g. a sum()), or null when it has none. */
export function scalarOf(r: PromQueryResponse): number | null {
  const sample = r.data.result[0];
  return sample === undefined ? null : Number(sample.value[1]);
}

export async function startPrometheus(t: TestContext, targets: ScrapeTarget[]): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'kal-prometheus-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    ...targets.flatMap((target) => [
      `  - job_name: ${target.job}`,
      '    static_configs:',
      `      - targets: ['${target.address}']`,
    ]),
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
  });
  const url = `http://127.0.0.1:${port}`;
  // Ready once it answers /-/ready (a few hundred ms); bounded.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${stderr}`);
    try {
      const r = await fetch(`${url}/-/ready`);
      await r.arrayBuffer();
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (i >= 200) throw new Error(`prometheus not ready after 20 s: ${stderr}`);
    await delay(100);
  }
  const query = async (promql: string): Promise<PromQueryResponse> => {
    const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    return (await r.json()) as PromQueryResponse;
  };
  return {
    url,
    query,
    async queryUntil(promql, done, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await query(promql);
        if (done(r) || Date.now() > deadline) return r;
        await delay(250);
      }
    },
  };
}
