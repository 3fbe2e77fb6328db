/**
 * The thresholds the findings use, each with the reason for its value. Times in milliseconds.
 */

/**
 * A server FIN sent this soon after its last response is not an idle timeout (a cap, an error, its
 * own Connection: close): idle timeouts are set in whole seconds (nginx keepalive_timeout 75 s, Node
 * server.keepAliveTimeout 5 s, Apache KeepAliveTimeout 5 s) and even lab settings stay above 50 ms.
 */
export const MIN_IDLE_CLOSE_MS = 50;

/**
 * A request and a FIN "cross" when the request left before the FIN reached the client: at a capture
 * point near the client the request shows up to one round trip before the FIN, near the server up to
 * one round trip after it. Two handshake round trips allow for jitter...
 */
export const CROSSING_RTTS = 2;
/**
 * ...and never less than 5 ms: on loopback the round trip is microseconds, but a client's write and
 * a server's close are scheduled by two busy processes; 5 ms is still far below any idle timeout.
 */
export const CROSSING_MIN_MS = 5;

/**
 * A server closes up to this long after the idle timeout it advertises: Node's server waits
 * keepAliveTimeout + keepAliveTimeoutBuffer (1 s by default, 22.x and later) while its Keep-Alive
 * header says keepAliveTimeout. A request met by a RST without a FIN (the server closed with it
 * unread) is the keep-alive race only when its idle gap is where this server closes; far beyond, the
 * server did not close (no FIN came) and something on the path reset the flow: the idle reset.
 */
export const ADVERTISED_CLOSE_SLACK_MS = 1000;

/**
 * A RST after at least this long without traffic, with no FIN before it, is an idle reset by a
 * middlebox (or a server that resets idle connections): NAT gateways and load balancers drop idle
 * flows after 60 s (AWS ALB default) to 350 s (AWS NAT gateway); below 10 s a RST is rather a
 * server's or client's own doing, which the other findings name.
 */
export const MIDDLEBOX_IDLE_MIN_MS = 10_000;

/**
 * A RST that answers a request (a middlebox that lost the flow answering for the server) comes this
 * soon after it at most: a kernel answers within a round trip, a middlebox that is a program (HAProxy,
 * Envoy, nginx's stream module, the lab's proxy) on a busy host within a few milliseconds; 50 ms
 * allows both and is still far below any idle timeout.
 */
export const RESET_ANSWER_MS = 50;

/**
 * A client that closes this soon after a complete response decided to close when the response ended
 * (its pool was full, or the response never reached the pool), not after an idle timeout of its own
 * (Node's and Go's pools close at the response's end, within a millisecond; 100 ms allows a loaded host).
 */
export const CLOSE_AFTER_RESPONSE_MS = 100;

/**
 * ...and opened a new connection to the same server within this long: the close cost a handshake.
 * Without a new connection, a close is a program finishing its work, not churn.
 */
export const REOPEN_WITHIN_MS = 1000;

/** Churn is named when at least this many connections were closed and replaced that way... */
export const CHURN_MIN_CLOSES = 3;
/** ...and they are at least this share of the server's connections (a few closes are noise). */
export const CHURN_MIN_SHARE = 0.1;

/**
 * A server that closed at least this many connections after the same number of requests, and never
 * let a connection carry more, has a cap (nginx keepalive_requests, Apache MaxKeepAliveRequests).
 */
export const CAP_MIN_CONNECTIONS = 3;

/**
 * The client idle timeout a fix suggests: this share of the server's measured (or advertised) one.
 * The rest is the margin for the request's travel time and timer slack; undici and Node subtract a
 * fixed 1-2 s from the server's hint instead, which leaves nothing of a 1 s timeout.
 */
export const CLIENT_IDLE_SHARE = 0.75;

/**
 * Client addresses kept per server, to infer a load balancer from the capture: an address that is a
 * server's and the only client of another server. A backend behind a load balancer has a handful of
 * clients (the balancer's addresses); one with more is not inferred to be behind it.
 */
export const MAX_CLIENT_ADDRESSES = 16;

/** Connections whose ids and events a finding lists (it counts all of them). */
export const MAX_EVIDENCE_IDS = 20;
export const MAX_EVIDENCE_EVENTS = 10;
/** Idle closes kept per server to give the median (the count, minimum and maximum are over all). */
export const MAX_IDLE_SAMPLES = 1000;
/**
 * Connections whose start, end and client address are kept for the churn and port findings (about
 * 50 bytes each): beyond it they are judged on the first ones, and the findings say so.
 */
export const MAX_TRACKED_CONNECTIONS = 200_000;
/**
 * Busy periods (a request outstanding, one per request unless pipelined) kept for the churn finding's
 * concurrency (16 bytes each, 16 MB at most): beyond, a connection counts as busy from start to end.
 */
export const MAX_TRACKED_BUSY_PERIODS = 1_000_000;
/** Candidates a detector keeps until the end (when every server's timeout is known); beyond, counted only. */
export const MAX_CANDIDATES = 10_000;

/**
 * tls-no-reuse: named from this many full TLS handshakes to one server. Two connections are often a
 * redirect, a preconnect or a pair opened in parallel on purpose; three or more that each carry one
 * exchange are a client that opens a connection per request and resumes nothing.
 */
export const TLS_NO_REUSE_MIN_CONNECTIONS = 3;
/** ...each of them carrying at most this many estimated exchanges: one request and its response... */
export const TLS_NO_REUSE_MAX_EXCHANGES = 1;
/**
 * ...plus this many where the connection may carry HTTP/2 (h2 chosen, or offered and the choice
 * encrypted): its connection preface and SETTINGS are answered by the server's SETTINGS before the
 * first request's records, which the estimate counts as one exchange of their own.
 */
export const TLS_H2_SETUP_EXCHANGES = 1;
/** Handshake times kept per server for the median the finding quotes (the count is over all). */
export const MAX_HANDSHAKE_SAMPLES = 1000;

/**
 * The port outlook: a client that opened fewer connections to a server (each leaving its TIME_WAIT
 * on the client) has no outlook worth a finding: a rate measured on so few handshakes says little
 * about the next minute, and a program that opens a hundred connections has no port to run out of.
 */
export const PORT_MIN_CONNECTIONS = 100;
/**
 * New connections per second are counted at the client's busiest second (the burst, as load tools
 * report rates)...
 */
export const RATE_BURST_WINDOW_MS = 1000;
/**
 * ...and over its busiest 10 s (the sustained rate the outlook projects): a rate held that long is
 * a loop or a load a program keeps up, not a start-up burst, and 10 s is still a sixth of the 60 s
 * a port stays in TIME_WAIT. A capture whose connections began within less time is measured over
 * that span (at least the burst window).
 */
export const RATE_SUSTAINED_WINDOW_MS = 10_000;
/**
 * A warning when, at the sustained rate, the ports held in TIME_WAIT (rate x how long each is held)
 * reach this share of the client's ephemeral ports: the range runs out before the first port is
 * released, so the rate cannot be sustained (connect() fails with EADDRNOTAVAIL).
 */
export const PORT_WARNING_SHARE = 1;
/**
 * Information, below that, when the rate would keep this share of the ports in TIME_WAIT for the
 * whole 60 s (tcp_tw_reuse aside): a rate ten times higher, a traffic peak, would exhaust them;
 * below it the churn costs handshakes, not ports.
 */
export const PORT_OUTLOOK_MIN_SHARE = 0.1;

/**
 * uneven-spread: one HTTP/2 connection that carried at least this many streams... A load balancer
 * that balances by connection (a Kubernetes Service, an L4 balancer, AWS NLB) picks a backend once per
 * connection: a client that sends everything over one connection puts all its load on one backend.
 * A handful of requests on one connection is HTTP/2 working as meant (RFC 9113 9.1: clients SHOULD NOT
 * open more than one connection per origin); a hundred is a load worth spreading.
 */
export const SPREAD_MIN_STREAMS = 100;
/**
 * ...kept open at least this long (the capture's last packet of it counts, for one still open): a burst
 * sent at once finishes within seconds; a connection held 10 s (the sustained window of the port
 * outlook) is a program's steady traffic, and backends added meanwhile (a scale-out) get none of it.
 */
export const SPREAD_MIN_AGE_MS = 10_000;
/**
 * ...and carrying at least this share of the client's HTTP/2 streams to that server ("nearly all"): a
 * client that spreads its streams over several connections, or rotates them (a server's max connection
 * age), gives the balancer a choice for each.
 */
export const SPREAD_MIN_SHARE = 0.9;
/** The max connection age a fix suggests: a scale-out reaches the new backends within it. */
export const SUGGESTED_MAX_CONNECTION_AGE_MS = 60_000;

/**
 * goaway-churn: a server's GOAWAY after at most this many streams on the connection: every tenth
 * request (or more often) pays a new connection (a TCP handshake, TLS's, and HTTP/2's SETTINGS
 * exchange). nginx's default cap (keepalive_requests 1000) costs one in a thousand, which is noise.
 */
export const GOAWAY_CHURN_MAX_STREAMS = 10;
/**
 * ...named from this many such connections to one server, each followed by a new connection of the
 * same client (it came back and paid the handshake): one or two are a restart or a deploy draining.
 */
export const GOAWAY_CHURN_MIN_CONNECTIONS = 3;
/** The cap a fix suggests instead: nginx's default, keepalive_requests 1000 (since 1.19.10). */
export const SUGGESTED_STREAM_CAP = 1000;
