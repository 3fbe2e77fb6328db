/**
 * nginx (nginx-light, installed by .ci/run) as a server nobody here wrote: one worker, `return
 * 200` (or, with `upstream`, a load balancer in front of one server), on a free port of loopback,
 * from a config written to a temp dir that stop() removes. With `tls`, it serves HTTPS (and HTTP/2
 * when asked) with a certificate made at start by `openssl req` in that temp dir: no key material
 * is kept anywhere.
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
  /** Serve HTTPS: a fresh self-signed certificate (EC P-256, CN localhost, SAN 127.0.0.1). */
  tls?: NginxTlsOptions;
  /** Proxy every request to this server instead of answering it (nginx as a load balancer). */
  upstream?: NginxUpstream;
  /** Also serve the files of this directory under /files/ (large responses: many TLS records, many segments). */
  files?: string;
}

export interface NginxTlsOptions {
  /** ssl_protocols (default 'TLSv1.2 TLSv1.3'). */
  protocols?: string;
  /** ssl_session_tickets (default on, as nginx's). */
  sessionTickets?: boolean;
  /** ssl_session_cache (default 'shared:SSL:1m', so that TLS 1.2 session ids resume too). */
  sessionCache?: string;
  /** Also offer HTTP/2 by ALPN (`listen ... ssl http2`). */
  http2?: boolean;
  /**
   * ssl_ecdh_curve: the key-exchange groups nginx accepts (default OpenSSL's). A TLS 1.3 client whose
   * key share is for another group gets a HelloRetryRequest.
   */
  ecdhCurve?: string;
}

/** Why openssl cannot make a certificate here, or false. In CI a missing openssl is a failure. */
export function opensslSkip(): string | false {
  if (spawnSync('openssl', ['version'], { stdio: 'ignore' }).error === undefined) return false;
  if (process.env.CI) throw new Error('CI must have openssl (apt-get install openssl)');
  return 'openssl is not installed (apt-get install openssl)';
}

/** A self-signed certificate and its key, written into `dir` by openssl (cert.pem, key.pem). */
export function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 },
  );
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr?.toString().trim() ?? r.error?.message}`);
  return { cert, key };
}

/** The server block's TLS lines. */
function tlsLines(dir: string, tls: NginxTlsOptions): string {
  const { cert, key } = makeCertificate(dir);
  return [
    `    ssl_certificate ${cert};`,
    `    ssl_certificate_key ${key};`,
    `    ssl_protocols ${tls.protocols ?? 'TLSv1.2 TLSv1.3'};`,
    `    ssl_session_tickets ${tls.sessionTickets === false ? 'off' : 'on'};`,
    `    ssl_session_cache ${tls.sessionCache ?? 'shared:SSL:1m'};`,
    ...(tls.ecdhCurve === undefined ? [] : [`    ssl_ecdh_curve ${tls.ecdhCurve};`]),
    '',
  ].join('\n');
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
  let tls = '';
  try {
    if (options.tls) tls = tlsLines(dir, options.tls);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
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
    listen ${host}:${port}${options.tls ? ` ssl${options.tls.http2 ? ' http2' : ''}` : ''};
${tls}    location / { ${location(options.upstream)} }
${options.files === undefined ? '' : `    location /files/ { alias ${options.files}/; }\n`}  }
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
    // Bounded: an nginx that has not gone 5 s after SIGTERM (a loaded machine) is killed.
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 500 && child.exitCode === null; i++) {
    if (await accepts(host, port))
      return { host, port, url: `${options.tls ? 'https' : 'http'}://${host}:${port}/`, stop };
    await delay(10);
  }
  await stop();
  throw new Error(`nginx did not start listening on ${host}:${port}`);
}
