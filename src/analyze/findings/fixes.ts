/**
 * What to change, per client or server runtime, with the exact option names of each. One function per
 * finding; the figures come from the capture. Every option name, default and behaviour is checked
 * against the runtime's documentation or source, cited next to it:
 *  - Node http.Agent: https://nodejs.org/api/http.html#new-agentoptions (keepAlive, keepAliveMsecs
 *    default 1000, maxFreeSockets default 256, timeout, agentKeepAliveTimeoutBuffer default 1000,
 *    added v24.7.0), http.globalAgent (keepAlive: true, timeout: 5000 since v19, nodejs/node#43522),
 *    request.reusedSocket (the retry example); the Keep-Alive hint: lib/_http_agent.js keepSocketAlive().
 *  - undici: docs/docs/api/Client.md (keepAliveTimeout default 4e3, keepAliveMaxTimeout default 600e3,
 *    keepAliveTimeoutThreshold default 2e3 since undici 6.14, 1e3 before: nodejs/undici#3145), the hint:
 *    lib/dispatcher/client-h1.js onHeadersComplete.
 *  - Go net/http: https://pkg.go.dev/net/http#Transport and src/net/http/transport.go (DefaultTransport
 *    IdleConnTimeout 90 s, MaxIdleConns 100, DefaultMaxIdleConnsPerHost 2, Dialer KeepAlive 30 s), the
 *    retry rule: Request.isReplayable in src/net/http/request.go.
 *  - requests/urllib3: https://requests.readthedocs.io/en/latest/api/#requests.adapters.HTTPAdapter
 *    (pool_maxsize default 10, max_retries default 0); https://urllib3.readthedocs.io/en/stable/reference/urllib3.util.html
 *    (Retry, allowed_methods default DELETE GET HEAD OPTIONS PUT TRACE); no idle expiry, only a check
 *    that the socket was not dropped before reuse (connectionpool.py _get_conn, is_connection_dropped).
 *  - httpx: https://www.python-httpx.org/advanced/resource-limits/ (max_keepalive_connections 20,
 *    keepalive_expiry 5 s).
 *  - OkHttp: https://square.github.io/okhttp/3.x/okhttp/okhttp3/ConnectionPool.html (5 idle
 *    connections, 5 minutes).
 *  - nginx: https://nginx.org/en/docs/http/ngx_http_upstream_module.html (keepalive N, keepalive_timeout
 *    default 60s since 1.15.3) and ngx_http_core_module (keepalive_requests 1000 since 1.19.10, 100 before).
 *  - As load balancers: nginx's proxy and upstream modules, Envoy's HttpProtocolOptions and retry
 *    policy, HAProxy's server and backend keywords, the AWS ALB's load balancer attributes.
 *  - HTTP/2: Node https://nodejs.org/api/http2.html (http2.connect, session.close(), session.goaway(),
 *    settings.maxConcurrentStreams, peerMaxConcurrentStreams default 100; a refused stream is an
 *    ERR_HTTP2_STREAM_ERROR on the request, not retried); undici docs/docs/api/Client.md (allowH2,
 *    maxConcurrentStreams default 100) and docs/docs/api/BalancedPool.md, RetryAgent.md; Go
 *    golang.org/x/net/http2 transport.go (canRetryError: REFUSED_STREAM and a GOAWAY are retried;
 *    StrictMaxConcurrentStreams) and google.golang.org/grpc/keepalive ServerParameters
 *    (MaxConnectionAge, MaxConnectionAgeGrace; default infinite); grpc-java NettyServerBuilder
 *    maxConnectionAge; gRPC core channel args grpc.max_connection_age_ms; gRPC's load-balancing guide
 *    (https://grpc.io/blog/grpc-load-balancing/: round_robin over the resolved addresses); nginx
 *    ngx_http_core_module keepalive_requests and keepalive_timeout (HTTP/2 too since 1.19.7, replacing
 *    http2_max_requests and http2_idle_timeout) and ngx_http_v2_module http2_max_concurrent_streams
 *    (default 128); Envoy's HttpProtocolOptions (max_requests_per_connection, max_connection_duration).
 *    The uneven load of one connection per client behind a balancer by connection: akka/akka-grpc#880.
 */
import type { ClientPortSettings } from '../../model/host.js';
import type { FixRuntime } from '../../model/report.js';
import { formatDelay } from './facts.js';

export type Fixes = Partial<Record<FixRuntime, string>>;

/** Milliseconds as Go writes a duration literal: 750 * time.Millisecond, 4 * time.Second. */
function goDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} * time.Second` : `${ms} * time.Millisecond`;
}

/** Milliseconds as nginx writes a time: 750ms, 4s. */
function nginxTime(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * The client's idle timeout must end before the server's: `clientMs` is the suggestion (below the
 * server's `serverMs`), `advertisedS` the server's Keep-Alive hint when it sends one.
 */
export function shorterClientIdleFixes(clientMs: number, serverMs: number, advertisedS: number | null): Fixes {
  // lib/_http_agent.js keepSocketAlive(): Node reads the hint since v19 (nodejs/node#43522); current
  // releases (20.x and later, nodejs/node#54863; seen in v20.20) take N s minus 1 s (the buffer is
  // agentKeepAliveTimeoutBuffer since v24.7), keep no socket when nothing is left, and otherwise apply
  // it only when shorter than `timeout`: without one (0) the hint changes nothing.
  const nodeHint =
    advertisedS === null
      ? 'this server sends no Keep-Alive: timeout=N, so nothing else shortens it'
      : advertisedS <= 1
        ? `this server advertises timeout=${advertisedS}: current Node releases do not pool its ` +
          'connections at all (N s minus the 1 s buffer leaves nothing), so a Node client racing it is older, ' +
          'or uses another pool'
        : `this server advertises timeout=${advertisedS}: Node shortens \`timeout\` to it (minus 1 s, ` +
          'agentKeepAliveTimeoutBuffer, in current releases) when that is shorter, but without a `timeout` it ' +
          'keeps idle sockets without limit whatever the hint';
  const server = `the server closes idle connections after ~${(serverMs / 1000).toFixed(2)} s`;
  return {
    // https://nodejs.org/api/http.html#new-agentoptions: `timeout` is set on each socket; a pooled socket
    // that times out is destroyed (lib/_http_agent.js installListeners onTimeout). The retry pattern is
    // the one of https://nodejs.org/api/http.html#requestreusedsocket.
    'node-http':
      `new http.Agent({ keepAlive: true, timeout: ${clientMs} }): an idle pooled socket then closes ` +
      `after ${clientMs} ms, ` +
      `before the server's (${server}); ${nodeHint}. Retry idempotent requests that fail with ECONNRESET ` +
      'when req.reusedSocket is true.',
    // undici docs/docs/api/Client.md; client-h1.js: with a hint, the idle timeout becomes
    // min(N s - keepAliveTimeoutThreshold, keepAliveMaxTimeout), whatever keepAliveTimeout says.
    undici:
      `new Agent({ keepAliveTimeout: ${clientMs}, keepAliveMaxTimeout: ${clientMs} }), and for fetch ` +
      'setGlobalDispatcher() with it: keepAliveTimeout (default 4000 ms) applies when the server sends no ' +
      'Keep-Alive: timeout=N; when it does, undici uses N s minus keepAliveTimeoutThreshold (2000 ms since ' +
      'undici 6.14, 1000 ms before) capped by keepAliveMaxTimeout (default 600000 ms), which this cap keeps ' +
      'below the server.',
    // https://pkg.go.dev/net/http#Transport; Request.isReplayable (src/net/http/request.go).
    go:
      `&http.Transport{IdleConnTimeout: ${goDuration(clientMs)}} (DefaultTransport keeps idle connections 90 s). ` +
      'Go retries a request that failed on a reused connection only when it is replayable (GET, HEAD, OPTIONS, ' +
      'TRACE, or an Idempotency-Key or X-Idempotency-Key header; and no body, or one GetBody can replay).',
    // requests HTTPAdapter (max_retries default 0) and urllib3 Retry (allowed_methods); urllib3 keeps a
    // pooled connection until it is found dropped (connectionpool.py _get_conn): no idle expiry.
    'python-requests':
      'urllib3 has no idle timeout for pooled connections (it only checks, before reuse, whether the socket was ' +
      'already closed): retry with HTTPAdapter(max_retries=Retry(total=2)) mounted on the Session (Retry retries ' +
      "idempotent methods only, see allowed_methods), or close the Session's idle connections before the server does.",
    // https://www.python-httpx.org/advanced/resource-limits/
    httpx: `httpx.Client(limits=httpx.Limits(keepalive_expiry=${clientMs / 1000})) (default 5 s).`,
    // https://square.github.io/okhttp/3.x/okhttp/okhttp3/ConnectionPool.html
    okhttp:
      `OkHttpClient.Builder().connectionPool(ConnectionPool(5, ${clientMs}, TimeUnit.MILLISECONDS)) ` +
      '(the default pool keeps 5 idle connections for 5 minutes).',
    // https://nginx.org/en/docs/http/ngx_http_upstream_module.html#keepalive_timeout
    'nginx-upstream':
      `in the upstream block: keepalive_timeout ${nginxTime(clientMs)}; ` + '(nginx >= 1.15.3, default 60s).',
    server:
      "or give the server an idle timeout longer than every client's (nginx keepalive_timeout, Node " +
      'server.keepAliveTimeout, Apache KeepAliveTimeout), and send Keep-Alive: timeout=N so clients can follow it.',
  };
}

/** Seconds as Envoy's YAML writes a Duration: 0.75s, 4s. */
function envoyDuration(ms: number): string {
  return `${ms / 1000}s`;
}

/**
 * A load balancer's upstream pool keeps idle connections longer than its backend (`serverMs`):
 * `clientMs` is the upstream idle timeout to set instead.
 */
export function upstreamIdleFixes(clientMs: number, serverMs: number): Fixes {
  const backend = `the backend closes idle connections after ~${(serverMs / 1000).toFixed(2)} s`;
  return {
    'nginx-upstream':
      `in the upstream block: keepalive_timeout ${nginxTime(clientMs)}; (nginx >= 1.15.3, default 60s; ${backend}). ` +
      'nginx passes an idempotent request that failed on a cached connection to the next server ' +
      '(proxy_next_upstream error, the default); a POST only with proxy_next_upstream non_idempotent.',
    envoy:
      'on the cluster: typed_extension_protocol_options: envoy.extensions.upstreams.http.v3.HttpProtocolOptions: ' +
      `common_http_protocol_options: idle_timeout: ${envoyDuration(clientMs)} (default 1 hour), ` +
      'and a route retry_policy with retry_on: reset for the requests that still meet a closing connection.',
    haproxy:
      `on the server line: pool-purge-delay ${nginxTime(clientMs)} (half of the idle server connections are ` +
      'closed every delay; default 5s); keep http-reuse safe (the default: a first request never goes over a ' +
      'reused connection) and add retry-on conn-failure empty-response to the backend.',
    'aws-alb':
      'the ALB closes idle target connections after its idle timeout (attribute idle_timeout.timeout_seconds, ' +
      'default 60 s; one setting for client and target connections): give every target a keep-alive timeout ' +
      'longer than it, as AWS advises.',
    server:
      "or raise the backend's idle timeout above the load balancer's (Node server.keepAliveTimeout, nginx " +
      'keepalive_timeout, Apache KeepAliveTimeout, gunicorn --keep-alive): the load balancer then always closes first.',
  };
}

/**
 * Clients keep connections to a load balancer idle longer than it does (`serverMs`): the client-side
 * fixes, and the balancer's own idle timeout for its clients, which must be the longer one.
 */
export function balancerClientSideFixes(clientMs: number, serverMs: number, advertisedS: number | null): Fixes {
  return {
    ...shorterClientIdleFixes(clientMs, serverMs, advertisedS),
    envoy:
      "or raise the load balancer's own: on the http_connection_manager, common_http_protocol_options: idle_timeout " +
      '(default 1 hour).',
    haproxy: "or raise the load balancer's own: timeout http-keep-alive (or timeout client) in the frontend.",
    'aws-alb':
      "or raise the load balancer's own: the ALB's idle timeout, attribute idle_timeout.timeout_seconds " +
      '(default 60 s).',
  };
}

/** An idle flow dropped by a middlebox after about `idleMs`. */
export function idleResetFixes(clientMs: number): Fixes {
  const probes =
    "or turn on TCP keep-alive probes more often than the middlebox's idle timeout " +
    '(net.ipv4.tcp_keepalive_time is 7200 s by default on Linux)';
  return {
    // https://nodejs.org/api/http.html#new-agentoptions: keepAliveMsecs (default 1000) is the initial
    // delay of the TCP keep-alive probes the Agent turns on for its sockets.
    'node-http':
      `new http.Agent({ keepAlive: true, timeout: ${clientMs}, keepAliveMsecs: 30000 }) ` +
      "(keepAliveMsecs: the TCP probes' initial delay).",
    undici: `new Agent({ keepAliveTimeout: ${clientMs}, keepAliveMaxTimeout: ${clientMs} }).`,
    // src/net/http/transport.go: DefaultTransport dials with net.Dialer{KeepAlive: 30 * time.Second}.
    go:
      `&http.Transport{IdleConnTimeout: ${goDuration(clientMs)}}, and net.Dialer{KeepAlive: 30 * time.Second} ` +
      "for the probes (DefaultTransport's dialer).",
    'python-requests':
      'urllib3 cannot expire idle connections: retry with HTTPAdapter(max_retries=Retry(total=2)), ' + `${probes}.`,
    httpx: `httpx.Limits(keepalive_expiry=${clientMs / 1000}).`,
    okhttp: `ConnectionPool(5, ${clientMs}, TimeUnit.MILLISECONDS).`,
    'nginx-upstream': `keepalive_timeout ${nginxTime(clientMs)}; in the upstream block.`,
    server: `On the path: raise the load balancer's or NAT gateway's idle timeout, ${probes}.`,
  };
}

/** Responses not read to their end, so the connection could not be reused. */
export function readBodyFixes(): Fixes {
  return {
    // https://nodejs.org/api/http.html#class-httpclientrequest: the response data must be consumed
    // (.resume() will do); the socket is freed at the response's end.
    'node-http':
      'read every response to its end (res.resume() when the body is not wanted): the Agent returns a socket to ' +
      "its pool only after the response's end.",
    // undici docs/docs/api/Dispatcher.md (body.dump()) and its README, "Garbage Collection".
    undici: 'consume or cancel every body (await body.dump(), or res.body.cancel() with fetch) before moving on.',
    // https://pkg.go.dev/net/http#Client.Do: a body not read to EOF and closed keeps the connection from reuse.
    go: 'io.Copy(io.Discard, resp.Body) then resp.Body.Close(): a body closed before its end closes the connection.',
    'python-requests':
      'read r.content (or iterate the stream to its end) and call r.close() when stream=True: an unread streamed ' +
      'body keeps the connection from going back to the pool.',
    httpx: 'read the response (response.read(), or iterate a stream to its end) before closing it.',
    okhttp:
      'read the ResponseBody to its end and close() it (use { }): an unread body keeps the connection out of the pool.',
    'nginx-upstream':
      'nginx reads upstream bodies itself: check proxy_buffering and client aborts (proxy_ignore_client_abort).',
  };
}

/** The idle pool keeps fewer connections than the client runs at once: `pool` would keep them all. */
export function poolSizeFixes(pool: number): Fixes {
  return {
    // https://nodejs.org/api/http.html#new-agentoptions: maxFreeSockets, per host, default 256.
    'node-http': `new http.Agent({ keepAlive: true, maxFreeSockets: ${pool} }) (the idle pool per host; default 256).`,
    // undici docs/docs/api/Pool.md: `connections` (default null: no limit) caps the Clients a Pool opens;
    // none of them is closed for lack of room, only after keepAliveTimeout.
    undici:
      `undici has no idle-pool cap: a Pool keeps every connection until keepAliveTimeout; if \`connections\` ` +
      `is set, keep it at ${pool} or more.`,
    go:
      `&http.Transport{MaxIdleConnsPerHost: ${pool}} (DefaultMaxIdleConnsPerHost is 2), ` +
      'and MaxIdleConns above the sum over hosts.',
    // urllib3 logs "Connection pool is full, discarding connection" when it drops one (connectionpool.py _put_conn).
    'python-requests':
      `HTTPAdapter(pool_maxsize=${pool}) mounted on the Session (default 10; "Connection pool is full, discarding ` +
      'connection" is this).',
    httpx: `httpx.Limits(max_keepalive_connections=${pool}) (default 20).`,
    okhttp: `ConnectionPool(${pool}, 5, TimeUnit.MINUTES) (default 5 idle connections).`,
    // https://nginx.org/en/docs/http/ngx_http_upstream_module.html#keepalive: idle connections cached per worker.
    'nginx-upstream': `keepalive ${pool}; in the upstream block (idle connections kept per worker).`,
  };
}

/** The client asks to close every connection: keep-alive off on the client side. */
export function clientKeepAliveFixes(): Fixes {
  return {
    // https://nodejs.org/api/http.html#httpglobalagent (keepAlive: true since v19, nodejs/node#43522).
    'node-http': 'new http.Agent({ keepAlive: true }) (the default global agent keeps sockets alive since Node 19).',
    // undici docs/docs/api/Dispatcher.md: the request option `reset` (default false) closes after the request.
    undici: 'undici keeps connections alive unless a request sets the Connection: close header or reset: true.',
    go: '&http.Transport{DisableKeepAlives: false}, and no req.Close = true.',
    'python-requests': 'send the requests through one requests.Session() instead of requests.get() each time.',
    httpx: 'reuse one httpx.Client() for all requests.',
    okhttp: 'share one OkHttpClient; do not add a Connection: close header.',
    'nginx-upstream':
      'keepalive N; in the upstream block, with proxy_http_version 1.1; and proxy_set_header Connection "";',
  };
}

/** The server closes after N requests: a cap, harmless when announced with Connection: close. */
export function capFixes(requests: number): Fixes {
  // https://nginx.org/en/docs/http/ngx_http_core_module.html#keepalive_requests (1000 since 1.19.10);
  // Apache https://httpd.apache.org/docs/2.4/mod/core.html#maxkeepaliverequests (default 100);
  // Node https://nodejs.org/api/http.html#servermaxrequestspersocket (default 0: no limit).
  return {
    server:
      'raise the cap if the reconnections matter: nginx keepalive_requests ' +
      '(1000 by default since 1.19.10, 100 before; ' +
      `seen: ${requests}), Apache MaxKeepAliveRequests, Node server.maxRequestsPerSocket.`,
  };
}

/**
 * A new TLS connection per request with a full handshake each time: reuse the connection (keep-alive
 * in one client object), and resume TLS sessions on the connections that must be new. `declined`:
 * the client offered sessions and the server resumed none (its session cache or tickets are off).
 */
export function tlsReuseFixes(declined: boolean): Fixes {
  const fixes: Fixes = {
    'node-http':
      'send every request through one agent: new https.Agent({ keepAlive: true, maxCachedSessions: 100 }) ' +
      '(keepAlive reuses connections; maxCachedSessions, 100 by default, resumes TLS sessions on new ones); ' +
      'agent: false or a new Agent per request loses both.',
    undici:
      'share one Agent (or the global dispatcher) for all requests: it keeps connections alive and caches TLS ' +
      'sessions per origin (new Agent({ connect: { maxCachedSessions: 100 } })); a new Client or Agent per ' +
      'request loses both.',
    go:
      'share one http.Client (one Transport) and read every body to its end; resume sessions on new ' +
      'connections with &http.Transport{TLSClientConfig: &tls.Config{ClientSessionCache: ' +
      'tls.NewLRUClientSessionCache(0)}} (Go keeps no session cache unless given one).',
    'python-requests':
      'send the requests through one requests.Session(): its pool keeps the TLS connection; requests.get() ' +
      'opens a new one (and a full handshake) every time.',
    httpx: 'reuse one httpx.Client() for all requests (its pool keeps the TLS connections).',
    okhttp: 'share one OkHttpClient: its ConnectionPool keeps the TLS connections and its session cache resumes.',
    curl:
      'give all URLs to one curl run (curl URL1 URL2 ...), or reuse one libcurl easy handle (or a share handle ' +
      'with CURL_LOCK_DATA_SSL_SESSION and CURL_LOCK_DATA_CONNECT): each curl process starts with no ' +
      'connection and no session to resume.',
  };
  if (declined)
    fixes.server =
      'the client offered sessions the server did not resume: nginx ssl_session_cache shared:SSL:10m; and ' +
      'ssl_session_tickets on; (sessions live ssl_session_timeout, 5m by default); behind several servers, share ' +
      'the cache or the ticket keys (ssl_session_ticket_key).';
  return fixes;
}

/**
 * New connections at a rate that ties up the client's ephemeral ports in TIME_WAIT: reuse connections
 * (keep-alive, bodies read, an idle pool as large as the `pool` connections used at once), or give
 * the client machine more room (`settings`, its current ones; `reuseApplies`: tcp_tw_reuse already
 * covers these connections).
 */
export function reuseConnectionFixes(pool: number, settings: ClientPortSettings, reuseApplies: boolean): Fixes {
  const { low, high } = settings.portRange;
  const reuse = reuseApplies
    ? `tcp_tw_reuse=${settings.twReuse} already lets these connections take a 4-tuple in TIME_WAIT`
    : 'net.ipv4.tcp_tw_reuse=1 lets connect() take a 4-tuple still in TIME_WAIT';
  return {
    'node-http':
      `new http.Agent({ keepAlive: true, maxFreeSockets: ${pool} }) shared by every request (the global agent ` +
      'keeps sockets alive since Node 19), and each response read to its end (res.resume()): a socket is reused ' +
      "only after its response's end.",
    undici:
      'one Agent (or the global dispatcher) for every request, no Connection: close header nor reset: true, and ' +
      'every body consumed (await body.dump(), or res.body.cancel() with fetch): undici keeps connections alive.',
    go:
      `one http.Client for every request, with &http.Transport{MaxIdleConnsPerHost: ${pool}} ` +
      '(DefaultMaxIdleConnsPerHost is 2, golang/go#13801) and DisableKeepAlives false; read resp.Body to EOF and ' +
      'close it.',
    'python-requests':
      `one requests.Session() for every request (requests.get() opens a connection each time), with ` +
      `HTTPAdapter(pool_maxsize=${pool}) mounted on it.`,
    httpx: `one httpx.Client() for every request, with httpx.Limits(max_keepalive_connections=${pool}).`,
    okhttp:
      `one OkHttpClient shared by every request (each new client has a pool of its own), with ` +
      `ConnectionPool(${pool}, 5, TimeUnit.MINUTES).`,
    'nginx-upstream':
      `keepalive ${pool}; in the upstream block, with proxy_http_version 1.1; and proxy_set_header Connection ""; ` +
      '(without them nginx opens a connection to the upstream for every request).',
    host:
      `On the client machine: widen net.ipv4.ip_local_port_range (now ${low} ${high}; e.g. 1024 65535, and ` +
      'list the ports servers listen on in that range in net.ipv4.ip_local_reserved_ports); ' +
      `${reuse} once it is ${formatDelay(settings.twReuseDelayMs)} old (net.ipv4.tcp_tw_reuse_delay, Linux 6.13+), ` +
      'when both sides use TCP timestamps ' +
      '(net.ipv4.tcp_timestamps, on by default); the kernel documentation asks for expert advice before changing ' +
      'it. More client addresses or server ports multiply the 4-tuples. TIME_WAIT itself lasts 60 s whatever ' +
      'the settings (net.ipv4.tcp_fin_timeout is the FIN_WAIT_2 timeout), and tcp_tw_recycle, removed in ' +
      'Linux 4.12, broke clients behind NAT.',
  };
}

/**
 * All of a client's streams to a server on one long-lived HTTP/2 connection: a balancer that picks a
 * backend per connection gives that backend all of them. Rotate connections from the server (a max
 * connection age: GOAWAY, then the client reconnects and the balancer picks again), or spread from the
 * client (several connections, or a balancer per request: client-side, or an L7 proxy). `ageMs`: the
 * age to suggest.
 */
export function unevenSpreadFixes(ageMs: number): Fixes {
  const s = ageMs / 1000;
  return {
    // https://nodejs.org/api/http2.html: session.close() sends GOAWAY and ends the session once its
    // streams are done; a client calls http2.connect again for the next requests.
    'node-http2':
      `server: session.setTimeout is idle-only, so end each session after an age of its own: server.on('session', ` +
      `(s) => setTimeout(() => s.close(), ${ageMs}).unref()) (GOAWAY, then the client reconnects); client: open ` +
      'several sessions (http2.connect per backend address, or a few per origin) and spread requests over them, ' +
      "reconnecting on 'goaway'.",
    undici:
      'with allowH2 every request to an origin shares one connection: spread over the backends with ' +
      'new BalancedPool([url1, url2, ...]) (one upstream per backend address), or rotate from the server side.',
    go:
      `net/http's HTTP/2 transport keeps one connection per host while the server allows the streams ` +
      `(StrictMaxConcurrentStreams): rotate from the server (grpc-go MaxConnectionAge: ${goDuration(ageMs)}), or ` +
      'dial each backend address yourself; it reconnects after a GOAWAY by itself.',
    grpc:
      `server: a max connection age, grpc-go grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: ` +
      `${goDuration(ageMs)}, MaxConnectionAgeGrace: 10 * time.Second}), grpc-java ` +
      `NettyServerBuilder.maxConnectionAge(${s}, TimeUnit.SECONDS), gRPC core grpc.max_connection_age_ms=${ageMs} ` +
      '(all infinite by default); client: balance per call over every backend, a dns:/// target of a headless ' +
      'service with the round_robin policy (grpc-go WithDefaultServiceConfig(`{"loadBalancingConfig": ' +
      '[{"round_robin":{}}]}`), grpc-java defaultLoadBalancingPolicy("round_robin")); akka-grpc#880 is this.',
    nginx:
      `as the server: keepalive_requests (1000 by default) and keepalive_timeout also end HTTP/2 connections ` +
      '(since 1.19.7), but only an idle one or after that many streams; as a balancer in front of the backends, ' +
      'grpc_pass or proxy_pass to an upstream block picks a backend per request, not per connection.',
    envoy:
      `in front of the backends Envoy balances HTTP/2 per request; on a listener facing these clients, ` +
      `common_http_protocol_options: max_connection_duration: ${s}s rotates their connections.`,
    server:
      `give connections a maximum age (about ${s} s: a scale-out then reaches new backends within it) after which ` +
      'the server sends GOAWAY, or put a balancer per request (L7: Envoy, nginx, Linkerd, a service mesh) in front ' +
      'of the backends instead of one per connection (a Kubernetes Service, an L4 or network balancer).',
  };
}

/**
 * The server ends HTTP/2 connections with GOAWAY after `streams` streams or fewer, so the client pays
 * a new connection every few requests: raise the cap (or the age) on the server. `cap`: the cap to
 * suggest.
 */
export function goawayChurnFixes(streams: number, cap: number): Fixes {
  return {
    nginx:
      `keepalive_requests ${cap}; (the default; HTTP/2 connections follow it since 1.19.7, http2_max_requests ` +
      `before) and a keepalive_timeout longer than the gaps between requests: these connections ended after ` +
      `${streams} streams or fewer.`,
    'node-http2':
      'Node ends a session only when the program calls session.close() or session.goaway(), or on ' +
      'server.setTimeout (idle): call them after minutes, not after a few streams.',
    grpc:
      'raise the max connection age (grpc-go keepalive.ServerParameters MaxConnectionAge, grpc-java ' +
      'maxConnectionAge, gRPC core grpc.max_connection_age_ms) to minutes: it exists to rebalance, and a few ' +
      'seconds makes clients reconnect all the time; and MaxConnectionIdle above the gaps between calls.',
    envoy:
      `common_http_protocol_options: max_requests_per_connection: ${cap} (or none), and a max_connection_duration ` +
      'of minutes.',
    server:
      `let an HTTP/2 connection carry ${cap} streams or more, and live minutes: a GOAWAY after ${streams} or fewer ` +
      'makes the client open a connection (TCP, TLS and HTTP/2 setup) every few requests.',
  };
}

/**
 * Streams the server refused (REFUSED_STREAM, or above its GOAWAY's last stream id), or clients that
 * reached its limit of concurrent streams (`limit`; null when it announced none).
 */
export function refusedStreamsFixes(limit: number | null, refused: boolean): Fixes {
  const seen = limit === null ? '' : ` (this server allows ${limit})`;
  const fixes: Fixes = {
    'node-http2':
      `wait for the server's SETTINGS ('remoteSettings') before a burst, and keep to ` +
      `session.remoteSettings.maxConcurrentStreams${seen}: streams beyond it sent earlier are refused, and Node ` +
      'does not retry them (ERR_HTTP2_STREAM_ERROR, NGHTTP2_REFUSED_STREAM); retry a refused idempotent ' +
      'request on a new session; server: http2.createServer({ settings: { maxConcurrentStreams: N } }).',
    undici:
      `new Agent({ allowH2: true, maxConcurrentStreams: N }) keeps at most N streams per connection (default 100)` +
      `${seen}; RetryAgent retries failed idempotent requests.`,
    go:
      'the x/net/http2 transport retries a refused stream and the streams above a GOAWAY by itself; with ' +
      'StrictMaxConcurrentStreams false (the default) it opens another connection instead of queuing beyond the ' +
      "server's limit.",
    grpc:
      'gRPC retries a call the server never processed (transparent retry, REFUSED_STREAM and streams above a ' +
      'GOAWAY); raise the limit on the server (grpc-go grpc.MaxConcurrentStreams, grpc-java ' +
      'NettyServerBuilder.maxConcurrentCallsPerConnection) or let the client open more connections.',
    nginx: `http2_max_concurrent_streams (default 128)${seen}: raise it if clients queue behind it.`,
    server:
      `raise the server's SETTINGS_MAX_CONCURRENT_STREAMS${seen} if its clients wait behind it, or have clients ` +
      'open more connections; a GOAWAY with a last stream id below streams the client had sent drops them: ' +
      'drain with a first GOAWAY of last stream id 2^31-1, then the real one (RFC 9113 6.8).',
  };
  if (!refused) delete fixes.go;
  return fixes;
}
