/**
 * nginx (nginx-light, installed by .ci/run) as a server nobody here wrote: one worker, `return
 * 200` (or, with `upstream`, a load balancer in front of one server), on a free port of loopback,
 * from a config written to a temp dir that stop() removes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface Nginx {
  host: string;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** Why nginx cannot run here, or false. In CI a missing nginx is a failure, not a skip. */
export function nginxSkip(): string | false {
  if (spawnSync('nginx', ['-v'], { stdio: 'ignore' }).error === undefined) return false;
  if (process.env.CI) throw new Error('CI must have nginx (apt-get install nginx-light)');
  return 'nginx is not installed (apt-get install nginx-light)';
}

async function freePort(host: string): Promise<number> {
  const server = net.createServer().listen(0, host);
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface NginxOptions {
  /**
   * The keepalive_timeout directive's arguments, e.g. '1s' (idle connections closed after 1 s) or
   * '1s 1s' (and Keep-Alive: timeout=1 sent in responses). Default: nginx's own (75s, no header).
   */
  keepaliveTimeout?: string;
  /** The keepalive_requests directive: requests per connection before nginx closes it (default 1000). */
  keepaliveRequests?: number;
  /** Proxy every request to this server instead of answering it (nginx as a load balancer). */
  upstream?: NginxUpstream;
}

/** nginx's upstream block (ngx_http_upstream_module) for one server, with a keep-alive pool. */
export interface NginxUpstream {
  host: string;
  port: number;
  /** keepalive N: idle connections to the upstream kept per worker (default 8). */
  keepalive?: number;
  /** keepalive_timeout (nginx >= 1.15.3): how long an idle upstream connection is kept, e.g. '4s' (default 60s). */
  keepaliveTimeout?: string;
}

/**
 * The location's content: `return 200 "hello"`, or proxy_pass to the upstream over HTTP/1.1 with the
 * Connection header cleared, which keep-alive to an upstream needs (ngx_http_upstream_module, keepalive).
 */
function location(upstream: NginxUpstream | undefined): string {
  if (upstream === undefined) return 'default_type text/plain; return 200 "hello\\n";';
  return 'proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";';
}

function upstreamBlock(upstream: NginxUpstream | undefined): string {
  if (upstream === undefined) return '';
  const timeout = upstream.keepaliveTimeout === undefined ? '' : ` keepalive_timeout ${upstream.keepaliveTimeout};`;
  return (
    `  upstream backend { server ${upstream.host}:${upstream.port}; keepalive ${upstream.keepalive ?? 8};` +
    `${timeout} }\n`
  );
}

export async function startNginx(host = '127.0.0.1', options: NginxOptions = {}): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'kal-nginx-'));
  const port = await freePort(host);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
${options.keepaliveTimeout === undefined ? '' : `  keepalive_timeout ${options.keepaliveTimeout};\n`}  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${options.keepaliveRequests === undefined ? '' : `  keepalive_requests ${options.keepaliveRequests};\n`}${upstreamBlock(options.upstream)}  server {
    listen ${host}:${port};
    location / { ${location(options.upstream)} }
  }
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 500 && child.exitCode === null; i++) {
    if (await accepts(host, port)) return { host, port, url: `http://${host}:${port}/`, stop };
    await delay(10);
  }
  await stop();
  throw new Error(`nginx did not start listening on ${host}:${port}`);
}
