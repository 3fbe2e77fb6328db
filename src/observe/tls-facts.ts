/**
 * A TLS socket's session as this side's OpenSSL tells it (version, cipher suite, SNI, ALPN chosen, full
 * or resumed handshake), in the wire decoder's words. Its own small module: the in-process tracker,
 * which every registered app loads, needs only this of the server's accounting.
 */
import type { TLSSocket } from 'node:tls';
import type { TlsFacts } from '../model/report.js';

/** 'TLSv1.3' as OpenSSL names it -> 'TLS 1.3' as the wire's decoder does (decode/tls.ts). */
function versionName(protocol: string | null): string | null {
  if (protocol === null) return null;
  const m = /^TLSv(\d)(?:\.(\d))?$/.exec(protocol);
  return m === null ? protocol : `TLS ${m[1]}.${m[2] ?? '0'}`;
}

/**
 * What one side of a TLS connection knows of it, from its own OpenSSL: the lab server's (server-accounting.ts), and the
 * in-process tracker's for its clients' sockets (observe/in-process/tracker.ts), whose OpenSSL tells
 * the same version, suite and resumption.
 */
export function tlsSocketFacts(socket: TLSSocket): TlsFacts {
  const version = versionName(socket.getProtocol());
  const alpn = typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null;
  const resumed = socket.isSessionReused();
  const facts: TlsFacts = {
    version,
    cipherSuite: socket.getCipher()?.standardName ?? null,
    sni: typeof socket.servername === 'string' ? socket.servername : null,
    alpnOffered: [],
    alpnChosen: alpn,
    handshake: resumed ? 'resumed' : 'full',
    resumptionOffered: null,
    handshakeMs: null,
    applicationData: { client: { records: 0, bytes: 0 }, server: { records: 0, bytes: 0 } },
    estimatedExchanges: 0,
  };
  if (alpn === null) facts.alpnChosenWhyNull = 'none-chosen';
  // TLS 1.3 resumes only with a pre-shared key (RFC 8446 2.2); below it, ticket or session id, which
  // the server's API does not tell apart.
  if (resumed && version === 'TLS 1.3') facts.resumedWith = 'psk';
  return facts;
}
