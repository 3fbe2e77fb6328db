/**
 * Real HTTPS clients that write a key log (the NSS format: SSLKEYLOGFILE for curl and Python, Node's
 * --tls-keylog), each run as a process of its own, and what each says of its own connections: the
 * truth a decrypted capture is held to beside tshark (test/integration/tls-keylog-real.test.ts).
 * Certificates are not checked (the servers' are self-signed and made at run time).
 *
 * - curl: `-w %{num_connects} %{http_version}` per URL (a URL with 1 opened a connection, 0 reused the
 *   last one), and its -v trace per connection: "SSL connection using TLSv1.3 / CIPHER", and a full
 *   handshake or a resumed one (the server sent a Certificate, or not).
 * - Node (node:https with a keep-alive Agent, global fetch, node:http2): a script given to `node -e`,
 *   which prints one JSON line of what the sockets said (getProtocol, getCipher, isSessionReused,
 *   reusedSocket; fetch: undici's `undici:client:connected` diagnostics channel).
 * - Python (http.client on one connection, urllib with one connection per request): the same, from
 *   SSLSocket.version(), cipher() and session_reused. ssl.create_default_context() writes the key log
 *   named by SSLKEYLOGFILE (Python 3.8 and later).
 * - openssl s_client (-keylogfile): "New, TLSv1.3, Cipher is ..." and a KEYUPDATE line per KeyUpdate.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { runTool, type ToolResult } from './record.js';

/** What a client says of one connection it made; null where it does not say. */
export interface ClientConnection {
  /** Requests it sent on this connection (HTTP/2: streams). */
  requests: number | null;
  /** "TLS 1.3", "TLS 1.2" (as the report and tshark write it). */
  version: string | null;
  /** IANA name ("TLS_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"). */
  cipherSuite: string | null;
  /** The TLS session was resumed (no Certificate from the server). */
  resumed: boolean | null;
}

/** A client run: its connections in the order it made them, and every request's status. */
export interface ClientAccount {
  connections: ClientConnection[];
  /** Requests in all (the sum over connections when each says). */
  requests: number;
  /** HTTP version it says it used ("1.1", "2"), or null. */
  httpVersion: string | null;
  /** Its exit code and what it printed on stderr (curl's -v trace), to explain a failure. */
  code: number | null;
  stderr: string;
}

/** Runs a command to completion with these environment variables added (runTool). */
const run = (command: string, args: readonly string[], env: Record<string, string>): Promise<ToolResult> =>
  runTool(command, args, 20_000, env);

/** "TLSv1.3" (OpenSSL, Node, Python) -> "TLS 1.3". */
export function versionName(openssl: string): string {
  return openssl.replace(/^TLSv/, 'TLS ');
}

/**
 * OpenSSL's names of the TLS 1.2 suites decrypted here -> IANA's (RFC 5289, RFC 7905); TLS 1.3 names
 * are IANA's already in OpenSSL.
 */
const IANA_BY_OPENSSL: Readonly<Record<string, string>> = {
  'ECDHE-ECDSA-AES128-GCM-SHA256': 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384': 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305': 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256': 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384': 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305': 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
};

export function ianaCipherName(openssl: string): string {
  return IANA_BY_OPENSSL[openssl] ?? openssl;
}

// ------------------------------------------------------------------------------------------------
// curl

/**
 * curl with `args` fetching `urls` (all in one run), writing its key log to `keylog`. Each URL's -w
 * line gives num_connects; the -v trace, each connection's TLS.
 */
export async function curlClient(
  args: readonly string[],
  urls: readonly string[],
  keylog: string,
): Promise<ClientAccount> {
  const each = urls.flatMap((u) => ['-o', '/dev/null', u]);
  const r = await run('curl', ['-sS', '-v', '-k', '-w', '%{num_connects} %{http_version}\\n', ...args, ...each], {
    SSLKEYLOGFILE: keylog,
  });
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  const requests: number[] = [];
  for (const line of lines) {
    if (line.startsWith('1 ') || requests.length === 0) requests.push(1);
    else requests[requests.length - 1]!++;
  }
  // The trace of each connection starts at "Connected to".
  const traces = r.stderr.split(/^\* Connected to /m).slice(1);
  const connections = traces.map((trace, i): ClientConnection => {
    const using = /^\* SSL connection using (TLSv[\d.]+) \/ (\S+)/m.exec(trace);
    return {
      requests: requests[i] ?? null,
      version: using ? versionName(using[1]!) : null,
      cipherSuite: using ? ianaCipherName(using[2]!) : null,
      resumed: using ? !/TLS handshake, Certificate \(11\)/.test(trace) : null,
    };
  });
  assert.equal(connections.length, requests.length, 'curl -v traced as many connections as %{num_connects} said');
  const versions = new Set(lines.map((l) => l.split(' ')[1]));
  return {
    connections,
    requests: lines.length,
    httpVersion: versions.size === 1 ? [...versions][0]! : null,
    code: r.code,
    stderr: r.stderr,
  };
}

// ------------------------------------------------------------------------------------------------
// Node

/**
 * node:https, one keep-alive Agent (maxSockets 1, or keepAlive off when asked), N requests one after
 * the other; per request what its socket said. Options: `{ keepAlive, maxVersion, n }`.
 */
const NODE_HTTPS = `
import https from 'node:https';
const [url, options] = [process.argv[1], JSON.parse(process.argv[2])];
const agent = new https.Agent({ keepAlive: options.keepAlive, maxSockets: 1, rejectUnauthorized: false,
  ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}) });
const out = [];
for (let i = 0; i < options.n; i++) {
  out.push(await new Promise((resolve, reject) => {
    const req = https.get(url, { agent }, (res) => {
      const s = res.socket;
      const said = { status: res.statusCode, port: s.localPort, version: s.getProtocol(),
        cipher: s.getCipher().standardName, resumed: s.isSessionReused(), http: res.httpVersion };
      res.resume();
      res.on('end', () => resolve(said));
    });
    req.on('error', reject);
  }));
}
agent.destroy();
console.log(JSON.stringify(out));
`;

/** global fetch, N requests one after the other; the connections undici says it made. */
const NODE_FETCH = `
import dc from 'node:diagnostics_channel';
const [url, options] = [process.argv[1], JSON.parse(process.argv[2])];
let connects = 0;
dc.subscribe('undici:client:connected', () => connects++);
const statuses = [];
for (let i = 0; i < options.n; i++) {
  const r = await fetch(url);
  await r.text();
  statuses.push(r.status);
}
console.log(JSON.stringify({ statuses, connects }));
`;

/**
 * node:http2, one session: N requests one after the other, then `concurrent` at once; what the
 * session's socket said.
 */
const NODE_HTTP2 = `
import http2 from 'node:http2';
const [url, options] = [process.argv[1], JSON.parse(process.argv[2])];
const session = http2.connect(url, { rejectUnauthorized: false });
session.on('error', () => undefined);
let connects = 0;
session.on('connect', () => connects++);
const get = (path) => new Promise((resolve, reject) => {
  const req = session.request({ ':path': path });
  let status = 0;
  req.on('response', (h) => (status = h[':status']));
  req.resume();
  req.on('end', () => resolve(status));
  req.on('error', reject);
});
const statuses = [];
for (let i = 0; i < options.n; i++) statuses.push(await get('/' + i));
statuses.push(...(await Promise.all(Array.from({ length: options.concurrent }, (_, i) => get('/c' + i)))));
const s = session.socket;
const said = { statuses, connects, alpn: session.alpnProtocol, version: s.getProtocol(),
  cipher: s.getCipher().standardName, resumed: s.isSessionReused() };
await new Promise((resolve) => session.close(resolve));
console.log(JSON.stringify(said));
`;

/** Runs a Node script with --tls-keylog and its options; its JSON line. */
async function node<T>(
  script: string,
  url: string,
  options: object,
  keylog: string,
  env = {},
): Promise<ToolResult & { said: T }> {
  const r = await run(
    process.execPath,
    ['--no-warnings', `--tls-keylog=${keylog}`, '--input-type=module', '-e', script, url, JSON.stringify(options)],
    env,
  );
  assert.equal(r.code, 0, `node client failed: ${r.stderr}`);
  return { ...r, said: JSON.parse(r.stdout) as T };
}

interface NodeHttpsSaid {
  status: number;
  port: number;
  version: string;
  cipher: string;
  resumed: boolean;
  http: string;
}

/** node:https: `n` requests, over one keep-alive connection or (keepAlive false) one connection each. */
export async function nodeHttpsClient(
  url: string,
  options: { n: number; keepAlive: boolean; maxVersion?: string },
  keylog: string,
): Promise<ClientAccount> {
  const r = await node<NodeHttpsSaid[]>(NODE_HTTPS, url, options, keylog);
  const connections: ClientConnection[] = [];
  let port = -1;
  for (const req of r.said) {
    assert.equal(req.status, 200);
    if (req.port !== port) {
      port = req.port;
      connections.push({
        requests: 0,
        version: versionName(req.version),
        cipherSuite: req.cipher,
        resumed: req.resumed,
      });
    }
    connections[connections.length - 1]!.requests!++;
  }
  return { connections, requests: r.said.length, httpVersion: '1.1', code: r.code, stderr: r.stderr };
}

/**
 * global fetch: `n` requests. undici says how many connections it made, not which request went on
 * which, nor their TLS.
 */
export async function nodeFetchClient(url: string, n: number, keylog: string): Promise<ClientAccount> {
  const r = await node<{ statuses: number[]; connects: number }>(NODE_FETCH, url, { n }, keylog, {
    NODE_TLS_REJECT_UNAUTHORIZED: '0',
  });
  assert.ok(r.said.statuses.every((s) => s === 200));
  const unknown: ClientConnection = { requests: null, version: null, cipherSuite: null, resumed: null };
  return {
    connections: Array.from({ length: r.said.connects }, () => ({ ...unknown })),
    requests: r.said.statuses.length,
    httpVersion: null,
    code: r.code,
    stderr: r.stderr,
  };
}

/** node:http2: one session, `n` requests one after the other, then `concurrent` at once. */
export async function nodeHttp2Client(
  url: string,
  options: { n: number; concurrent: number },
  keylog: string,
): Promise<ClientAccount> {
  const r = await node<{
    statuses: number[];
    connects: number;
    alpn: string;
    version: string;
    cipher: string;
    resumed: boolean;
  }>(NODE_HTTP2, url, options, keylog);
  assert.ok(r.said.statuses.every((s) => s === 200));
  assert.equal(r.said.connects, 1);
  return {
    connections: [
      {
        requests: r.said.statuses.length,
        version: versionName(r.said.version),
        cipherSuite: r.said.cipher,
        resumed: r.said.resumed,
      },
    ],
    requests: r.said.statuses.length,
    httpVersion: r.said.alpn === 'h2' ? '2' : r.said.alpn,
    code: r.code,
    stderr: r.stderr,
  };
}

// ------------------------------------------------------------------------------------------------
// Python

/**
 * http.client: `n` requests on one HTTPSConnection; then urllib.request.urlopen `n` times (each its
 * own connection: urllib sends Connection: close). The key log comes from SSLKEYLOGFILE, which
 * ssl.create_default_context() reads; checks are then turned off for the self-signed certificate.
 */
const PYTHON = `
import http.client, json, ssl, sys, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
statuses = []
for _ in range(n):
    conn.request("GET", "/")
    r = conn.getresponse()
    r.read()
    statuses.append(r.status)
one = dict(statuses=statuses, version=conn.sock.version(), cipher=conn.sock.cipher()[0], resumed=conn.sock.session_reused)
conn.close()
each = []
for _ in range(n):
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=ctx) as r:
        r.read()
        each.append(r.status)
print(json.dumps(dict(keylog=ctx.keylog_filename, one=one, each=each)))
`;

/** Python: one http.client connection with `n` requests, then `n` urllib connections of one request each. */
export async function pythonClient(port: number, n: number, keylog: string): Promise<ClientAccount> {
  const r = await run('python3', ['-c', PYTHON, String(port), String(n)], { SSLKEYLOGFILE: keylog });
  assert.equal(r.code, 0, `python3 failed: ${r.stderr}`);
  const said = JSON.parse(r.stdout) as {
    keylog: string | null;
    one: { statuses: number[]; version: string; cipher: string; resumed: boolean };
    each: number[];
  };
  assert.equal(said.keylog, keylog, 'ssl.create_default_context() took SSLKEYLOGFILE');
  assert.ok([...said.one.statuses, ...said.each].every((s) => s === 200));
  const one: ClientConnection = {
    requests: said.one.statuses.length,
    version: versionName(said.one.version),
    cipherSuite: ianaCipherName(said.one.cipher),
    resumed: said.one.resumed,
  };
  // urllib's connections: one request each; their TLS is not reported back.
  const each = said.each.map((): ClientConnection => ({
    requests: 1,
    version: null,
    cipherSuite: null,
    resumed: null,
  }));
  return {
    connections: [one, ...each],
    requests: said.one.statuses.length + said.each.length,
    httpVersion: '1.1',
    code: r.code,
    stderr: r.stderr,
  };
}

// ------------------------------------------------------------------------------------------------
// openssl s_client

/**
 * `openssl s_client -tls1_3 -keylogfile FILE`, one connection: a request, then its command `K` (a
 * KeyUpdate that asks the server to update too: both sides move to their next traffic secret, RFC
 * 8446 4.6.3) and a request, then `k` (the client's keys only) and a request, each sent once the last
 * response came. Commands are read at the start of a line of its stdin (not with -ign_eof); -crlf
 * ends the request lines as HTTP wants. It prints KEYUPDATE for each command it carried out.
 */
export function sClientKeyUpdates(port: number, keylog: string, timeoutMs = 20_000): Promise<ClientAccount> {
  const request = 'GET / HTTP/1.1\nHost: localhost\n\n';
  const child = spawn(
    'openssl',
    [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-servername',
      'localhost',
      '-tls1_3',
      '-crlf',
      '-keylogfile',
      keylog,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let stderr = '';
  const count = (re: RegExp) => ((out + stderr).match(re) ?? []).length;
  const waiters: (() => void)[] = [];
  const more = (d: Buffer, to: 'out' | 'err') => {
    if (to === 'out') out += d.toString();
    else stderr += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout.on('data', (d: Buffer) => more(d, 'out'));
  child.stderr.on('data', (d: Buffer) => more(d, 'err'));
  // A write after s_client has gone (EPIPE) is an uncaught exception without this; `printed` then
  // says that s_client ended.
  child.stdin.on('error', () => undefined);
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  /** Until s_client has printed `n` lines like `re` (responses, KEYUPDATE). */
  const printed = async (re: RegExp, n: number): Promise<void> => {
    while (count(re) < n) {
      const next = new Promise<void>((resolve) => waiters.push(resolve));
      if ((await Promise.race([next.then(() => false), closed.then(() => true)])) && count(re) < n)
        throw new Error(`s_client ended after printing ${count(re)} of ${n} ${re.source}: ${stderr.slice(-500)}`);
    }
  };
  const response = /^HTTP\/1\.1 200/gm;
  const keyUpdate = /^KEYUPDATE$/gm;
  return (async () => {
    try {
      // A command and the request after it go in two writes: s_client reads a chunk of stdin at a
      // time and, when the chunk starts with a command, does it and drops the rest of the chunk.
      child.stdin.write(request);
      await printed(response, 1);
      child.stdin.write('K\n');
      await printed(keyUpdate, 1);
      child.stdin.write(request);
      await printed(response, 2);
      child.stdin.write('k\n');
      await printed(keyUpdate, 2);
      child.stdin.write(request);
      await printed(response, 3);
      child.stdin.end();
      const code = await closed;
      const all = out + stderr;
      const said = /^(New|Reused), (TLSv1\.3), Cipher is (\S+)/m.exec(all);
      assert.ok(said, `s_client said no "New, TLSv1.3, Cipher is": ${all.slice(-500)}`);
      return {
        connections: [
          { requests: 3, version: versionName(said[2]!), cipherSuite: said[3]!, resumed: said[1] === 'Reused' },
        ],
        requests: 3,
        httpVersion: '1.1',
        code,
        stderr,
      };
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  })();
}
