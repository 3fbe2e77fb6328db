/**
 * Endpoints as text: `HOST:PORT` parsed and printed in one place, IPv6 in brackets (RFC 3986
 * section 3.2.2: `[::1]:8080`), and the canonical text of an address (RFC 5952 for IPv6), so that
 * any spelling of an address matches the one the decoders print.
 */
import { isIP } from 'node:net';
import { invalidOption } from '../errors.js';
import type { Endpoint } from './report.js';

export interface HostPort {
  host: string;
  port: number;
}

/** The rules that differ from one use of an address to the next. */
export interface ParseHostPortOptions {
  /** The option the text came from (`target`, `server`): errors name it (the CLI shows its flag). */
  option: string;
  /** Accept port 0 (listening: the system picks a free port). Default false. */
  allowPortZero?: boolean;
  /** A bare `PORT` means this host (listening). Without it, the host is required. */
  defaultHost?: string;
  /**
   * Only an IP address (or `localhost`, read as 127.0.0.1), returned in canonical form: for matching
   * packets, which carry addresses, never names. Without it, host names are accepted as given.
   */
  requireIp?: boolean;
}

/** A URL scheme at the start (`http://...`): a common slip where an address is expected. */
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
/** Characters of a host name or an IPv4 address (RFC 1123 section 2.1 names, plus `_` seen in the wild). */
const HOST_NAME = /^[A-Za-z0-9._-]+$/;
const MAX_PORT = 65535;

/**
 * `HOST:PORT`, `[IPv6]:PORT`, or (with `defaultHost`) a bare `PORT`. Anything else is a UsageError
 * naming `option` and, for the usual slips (a URL, an IPv6 address without brackets), the fix.
 */
export function parseHostPort(text: string, options: ParseHostPortOptions): HostPort {
  const value = text.trim();
  const { option } = options;
  const bad = (why: string) =>
    invalidOption(
      option,
      options.requireIp
        ? `must be HOST:PORT (or [IPv6]:PORT), got '${text}': ${why}`
        : `must be HOST:PORT${options.defaultHost ? ' or PORT' : ''} (${why}), got '${text}'`,
    );
  const notIp = (host: string) => invalidOption(option, `needs an IP address (or localhost), got '${host}'`);
  if (URL_SCHEME.test(value)) {
    let hint = '';
    try {
      const url = new URL(value);
      const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
      if (port) hint = `: try ${url.hostname}:${port}`;
    } catch {
      // no hint
    }
    throw bad(`an address, not a URL${hint}`);
  }
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':') throw bad('expected [IPv6]:PORT');
    host = value.slice(1, close);
    portText = value.slice(close + 2);
    if (isIP(host) !== 6) throw options.requireIp ? notIp(host) : bad(`'${host}' is not an IPv6 address`);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) {
      if (options.defaultHost === undefined) throw bad('the port is missing');
      host = options.defaultHost;
      portText = value;
    } else {
      host = value.slice(0, colon);
      portText = value.slice(colon + 1);
      if (host.includes(':')) throw bad('put an IPv6 address in brackets, e.g. [::1]:9000');
      if (host === '')
        throw bad(
          options.defaultHost === undefined
            ? 'the host is missing'
            : 'the host is missing; 0.0.0.0 listens on every interface, 127.0.0.1 on loopback only',
        );
      if (!HOST_NAME.test(host)) throw options.requireIp ? notIp(host) : bad(`'${host}' is not a host name or address`);
    }
  }
  const min = options.allowPortZero ? 0 : 1;
  if (!/^\d{1,5}$/.test(portText))
    throw bad(portText === '' ? 'the port is missing' : `'${portText}' is not a port number, ${min} to ${MAX_PORT}`);
  const port = Number(portText);
  if (port < min || port > MAX_PORT) throw bad(`the port must be between ${min} and ${MAX_PORT}`);
  if (!options.requireIp) return { host, port };
  const address = host === 'localhost' ? '127.0.0.1' : canonicalAddress(host);
  if (address === null) throw notIp(host);
  return { host: address, port };
}

/**
 * An endpoint to match packets against (`analyze --server`): `parseHostPort` with `requireIp`, as
 * the model's Endpoint (`address` canonical).
 */
export function parseEndpoint(text: string, options: { option: string }): Endpoint {
  const { host, port } = parseHostPort(text, { option: options.option, requireIp: true });
  return { address: host, port };
}

/** `a.b.c.d:port`, `name:port` or `[v6]:port` (the port may be a placeholder such as `*`). */
export function formatHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `formatHostPort` of an Endpoint. */
export function formatEndpoint(e: Endpoint): string {
  return formatHostPort(e.address, e.port);
}

/** '::ffff:127.0.0.1' -> '127.0.0.1', as the kernel table and the wire show an IPv4 peer of a dual-stack socket. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * A loopback address as Linux tells one (tcp_twsk_unique for tcp_tw_reuse=2): 127.0.0.0/8 (RFC 1122
 * section 3.2.1.3), ::1 (RFC 4291 section 2.5.3), or 127.0.0.0/8 mapped into IPv6.
 */
export function isLoopbackAddress(address: string): boolean {
  const v4 = normalizeAddress(address);
  return v4.startsWith('127.') || v4 === '::1';
}

/**
 * An IP address as the decoders print it (dotted quad; RFC 5952 for IPv6, zone dropped), so that
 * any spelling of it matches the packets; null when `host` is not an IP address.
 */
export function canonicalAddress(host: string): string | null {
  const family = isIP(host);
  if (family === 4) return host;
  if (family !== 6) return null;
  return canonicalIpv6(host);
}

/**
 * An IPv6 address known to be one (isIP says 6, or the system gave it as such), canonical (RFC 5952),
 * zone dropped. Without isIP: its regular expression costs tens of milliseconds the first times it
 * runs, and `analyze` reads this machine's addresses at every start (observe/host-facts.ts).
 */
export function canonicalIpv6(host: string): string {
  const groups = (part: string): number[] => {
    const out: number[] = [];
    for (const g of part === '' ? [] : part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d); // a trailing IPv4 part: two groups
      } else {
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const [head = '', tail] = host.replace(/%.*$/, '').split('::');
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...new Array<number>(IPV6_GROUPS - front.length - back.length).fill(0), ...back];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return formatIpv6(bytes, 0);
}

/** The 16-bit groups of an IPv6 address. */
const IPV6_GROUPS = 8;
/** ::ffff:0:0/96, IPv4-mapped addresses (RFC 4291 section 2.5.5.2): shown as ::ffff:a.b.c.d. */
const V4_MAPPED_PREFIX_GROUP = 0xffff;

function group(data: Uint8Array, offset: number, g: number): number {
  return (data[offset + 2 * g]! << 8) | data[offset + 2 * g + 1]!;
}

/**
 * The 16 bytes at `offset` as RFC 5952 section 4 text: lowercase hex, no leading zeros, the longest
 * run of two or more zero groups (the first one on a tie) replaced by "::"; IPv4-mapped addresses
 * in mixed notation (section 5).
 */
export function formatIpv6(data: Uint8Array, offset: number): string {
  let mapped = group(data, offset, 5) === V4_MAPPED_PREFIX_GROUP;
  for (let i = 0; mapped && i < 10; i++) if (data[offset + i] !== 0) mapped = false;
  if (mapped) {
    return `::ffff:${data[offset + 12]!}.${data[offset + 13]!}.${data[offset + 14]!}.${data[offset + 15]!}`;
  }
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not compressed (section 4.2.2)
  let runStart = -1;
  for (let g = 0; g <= IPV6_GROUPS; g++) {
    const zero = g < IPV6_GROUPS && group(data, offset, g) === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
    } else if (runStart >= 0) {
      if (g - runStart > bestLength) {
        bestStart = runStart;
        bestLength = g - runStart;
      }
      runStart = -1;
    }
  }
  let text = '';
  for (let g = 0; g < IPV6_GROUPS; g++) {
    if (g === bestStart) {
      text += '::';
      g += bestLength - 1;
      continue;
    }
    if (text.length > 0 && !text.endsWith(':')) text += ':';
    text += group(data, offset, g).toString(16);
  }
  return text;
}
