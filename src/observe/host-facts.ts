/**
 * This machine's facts for the port outlook (model/host.ts): its addresses, and the kernel settings
 * that decide how many connections it can open to one server per minute, read from /proc/sys. A
 * setting that cannot be read (not Linux, a container without /proc/sys, a value out of range) is
 * Linux's default, marked so: the outlook then says it assumed it.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import type { NetworkInterfaceInfo } from 'node:os';
import { join } from 'node:path';
import { canonicalIpv6 } from '../model/endpoint.js';
import { LINUX_DEFAULT_PORTS } from '../model/host.js';
import type { ClientPortSettings, HostFacts, PortRange, TwReuse } from '../model/host.js';

/** Where the IPv4 sysctls are (ip_local_port_range applies to IPv6 sockets too). */
export const SYSCTL_IPV4_DIR = '/proc/sys/net/ipv4';

export interface HostFactsSources {
  /** The directory holding ip_local_port_range, tcp_tw_reuse and tcp_tw_reuse_delay (default SYSCTL_IPV4_DIR). */
  sysctlDir?: string;
  /** The machine's interfaces (default os.networkInterfaces). */
  interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
}

export async function readHostFacts(sources: HostFactsSources = {}): Promise<HostFacts> {
  const dir = sources.sysctlDir ?? SYSCTL_IPV4_DIR;
  const read = (name: string) => readFile(join(dir, name), 'utf8').catch(() => null);
  const texts = await Promise.all(SYSCTL_FILES.map(read));
  return hostFactsFrom(texts, sources);
}

/**
 * The same, read synchronously (the register reads them as the process exits, when no promise
 * runs any more; three small files of /proc).
 */
export function readHostFactsSync(sources: HostFactsSources = {}): HostFacts {
  const dir = sources.sysctlDir ?? SYSCTL_IPV4_DIR;
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return null;
    }
  };
  return hostFactsFrom(SYSCTL_FILES.map(read), sources);
}

const SYSCTL_FILES = ['ip_local_port_range', 'tcp_tw_reuse', 'tcp_tw_reuse_delay'] as const;

function hostFactsFrom(texts: (string | null)[], sources: HostFactsSources): HostFacts {
  const [rangeText, reuseText, delayText] = texts;
  const portRange = rangeText == null ? null : parsePortRange(rangeText);
  const twReuse = reuseText == null ? null : parseTwReuse(reuseText);
  // tcp_tw_reuse_delay came with Linux 6.13; before, the delay was a fixed second.
  const delay = delayText == null ? null : parseWhole(delayText);
  const ports: ClientPortSettings = {
    portRange: portRange ?? { ...LINUX_DEFAULT_PORTS.portRange },
    twReuse: twReuse ?? LINUX_DEFAULT_PORTS.twReuse,
    twReuseDelayMs: delay ?? LINUX_DEFAULT_PORTS.twReuseDelayMs,
    source: { portRange: portRange === null ? 'default' : 'host', twReuse: twReuse === null ? 'default' : 'host' },
  };
  return { localAddresses: localAddresses((sources.interfaces ?? networkInterfaces)()), ports };
}

/** "32768\t60999\n" (as /proc/sys prints it) -> { low, high }; null when it is not two ports in order. */
export function parsePortRange(text: string): PortRange | null {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 2) return null;
  const low = parseWhole(parts[0]!);
  const high = parseWhole(parts[1]!);
  if (low === null || high === null) return null;
  return low >= 1 && low <= high && high <= 65535 ? { low, high } : null;
}

/** "2\n" -> 2; null for anything but 0, 1 or 2. */
export function parseTwReuse(text: string): TwReuse | null {
  const n = parseWhole(text);
  return n === 0 || n === 1 || n === 2 ? n : null;
}

function parseWhole(text: string): number | null {
  const t = text.trim();
  return /^\d{1,9}$/.test(t) ? Number(t) : null;
}

/** Every address of the machine's interfaces, canonical (zone dropped), without repeats. */
function localAddresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  const out = new Set<string>();
  for (const list of Object.values(interfaces))
    for (const info of list ?? []) {
      // The system's own addresses need no check of their text (canonicalAddress's isIP is slow to start).
      out.add(info.family === 'IPv4' ? info.address : canonicalIpv6(info.address));
    }
  return [...out];
}
