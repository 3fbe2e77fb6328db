/**
 * TLS, on an https URL: which of TLS 1.2 and 1.3 the server accepts (one handshake each, nothing
 * sent), which protocol it picks by ALPN from `h2, http/1.1`, and whether a session resumes: at once,
 * how (a ticket, RFC 5077 / TLS 1.3 PSK, or a TLS 1.2 session id), with which ticket lifetime, and
 * again after the probe's longest wait (how long a session stays resumable, as a lower bound).
 */
import type { TlsBehaviour } from '../../model/probe.js';
import { ProbeConnection } from './connection.js';
import type { ProbeContext } from './context.js';

const VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
type Version = (typeof VERSIONS)[number];
/** How long to wait for a session (TLS 1.3 sends its tickets after the handshake). */
const SESSION_WAIT_MS = 1000;

interface Handshake {
  accepted: boolean;
  cipher: string | null;
  alpn: string | null;
  session: Buffer | null;
  /** When the session came (the context's clock). */
  sessionAt: number;
  ticket: boolean;
  reused: boolean;
}

/** One handshake of `version`, optionally resuming `session`; waits for the server's session (ticket). */
async function handshake(ctx: ProbeContext, version: Version, session?: Buffer): Promise<Handshake> {
  let got: Buffer | null = null;
  let gotAt = 0;
  let wake: (() => void) | null = null;
  let conn: ProbeConnection;
  try {
    conn = await ProbeConnection.open(ctx, {
      tls: {
        minVersion: version,
        maxVersion: version,
        ALPNProtocols: ['h2', 'http/1.1'],
        ...(session ? { session } : {}),
      },
      onSession: (s) => {
        got ??= s;
        gotAt = ctx.now();
        wake?.();
      },
    });
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    return { accepted: false, cipher: null, alpn: null, session: null, sessionAt: 0, ticket: false, reused: false };
  }
  try {
    const socket = conn.tlsSocket!;
    if (got === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SESSION_WAIT_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return {
      accepted: true,
      cipher: socket.getCipher()?.name ?? null,
      alpn: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null,
      session: got,
      sessionAt: gotAt,
      ticket: version === 'TLSv1.3' || socket.getTLSTicket() !== undefined,
      reused: socket.isSessionReused(),
    };
  } finally {
    conn.destroy();
  }
}

export interface TlsProbe {
  behaviour: TlsBehaviour;
  /** Tries the newest version's session again, after the probe's waits: fills `later`. */
  resumeLater(): Promise<void>;
}

export async function probeTls(ctx: ProbeContext): Promise<TlsProbe> {
  ctx.progress({ phase: 'tls', what: 'TLS versions, ALPN, session resumption' });
  const full = await Promise.all(VERSIONS.map((v) => handshake(ctx, v)));
  const resumed = await Promise.all(
    VERSIONS.map((v, i) => (full[i]!.session === null ? null : handshake(ctx, v, full[i]!.session!))),
  );
  const behaviour: TlsBehaviour = {
    versions: VERSIONS.map((version, i) => ({ version, accepted: full[i]!.accepted, cipher: full[i]!.cipher })),
    alpn: full.findLast((h) => h.accepted)?.alpn ?? null,
    resumption: VERSIONS.flatMap((version, i) => {
      const h = full[i]!;
      if (!h.accepted) return [];
      const r = resumed[i];
      return [
        {
          version,
          mechanism: h.session === null ? null : h.ticket ? ('ticket' as const) : ('session-id' as const),
          immediate: r?.reused ?? false,
          later: null,
          ticketLifetimeS: h.session === null ? null : ticketLifetimeHint(h.session),
        },
      ];
    }),
  };
  const newest = VERSIONS.map((_, i) => i).findLast((i) => full[i]!.session !== null && resumed[i]?.reused === true);
  return {
    behaviour,
    async resumeLater() {
      if (newest === undefined) return;
      const h = full[newest]!;
      const r = await handshake(ctx, VERSIONS[newest]!, h.session!);
      const entry = behaviour.resumption.find((e) => e.version === VERSIONS[newest]);
      if (entry !== undefined) entry.later = { afterMs: Math.round(ctx.now() - h.sessionAt), resumed: r.reused };
    },
  };
}

/**
 * The ticket lifetime hint (seconds) in an OpenSSL session, as Node hands it out (`session` event):
 * the DER of SSL_SESSION_ASN1 (OpenSSL ssl/ssl_asn1.c), a SEQUENCE whose field
 * `tlsext_tick_lifetime_hint` is [9] EXPLICIT INTEGER. Null when absent or not readable.
 */
export function ticketLifetimeHint(der: Buffer): number | null {
  const outer = readTlv(der, 0);
  if (outer === null || outer.tag !== 0x30) return null;
  let at = outer.start;
  while (at < outer.end) {
    const field = readTlv(der, at);
    if (field === null) return null;
    if (field.tag === 0xa9) {
      const int = readTlv(der, field.start);
      if (int === null || int.tag !== 0x02) return null;
      let n = 0;
      for (let i = int.start; i < int.end; i++) n = n * 256 + der[i]!;
      return n;
    }
    at = field.end;
  }
  return null;
}

/** One DER TLV at `at`: tag, where its content starts and ends (X.690 8.1: short and long lengths). */
function readTlv(b: Buffer, at: number): { tag: number; start: number; end: number } | null {
  if (at + 2 > b.length) return null;
  const tag = b[at]!;
  let length = b[at + 1]!;
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > b.length) return null;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + b[start + i]!;
    start += bytes;
  }
  return start + length > b.length ? null : { tag, start, end: start + length };
}
