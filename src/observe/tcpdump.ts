/**
 * tcpdump as a child we can trust with a count: it keeps every packet of a burst, and it ends
 * when we end it or when we die, whatever kills us. The wire observer (capture.ts) parses what it
 * writes; this file starts it (a worker thread runs and reads it: guarded-child.ts) and ends it.
 *
 * Why packets were lost (issue 8: `watch -- ab -n 20 -c 1` counted 8 to 17 connections of 20,
 * with "N packets dropped by kernel"). tcpdump reads packets from a ring the kernel fills
 * (PACKET_MMAP). In immediate mode libpcap uses TPACKET_V2, whose ring has fixed slots, one packet
 * each, sized for the largest packet the capture may hold: the snap length, capped by the MTU on
 * Ethernet-like interfaces only. On `any` (no MTU) a slot was sized for 256 KiB, so the ring
 * asked for (-B 32768: 32 MiB) had 128 slots; and on loopback every packet is seen twice by a
 * packet socket (going out, coming in), libpcap dropping the outgoing copy only after it has taken
 * a slot: 64 packets. An ab run makes ~200 packets in a few ms: tcpdump a few ms late (two busy
 * cores) and the kernel drops the rest. Measured by stopping tcpdump (SIGSTOP) while
 * `ab -n 300 -c 1` ran, then counting what it kept when resumed (libpcap 1.10.3, Linux 6.18):
 *   -i any, -s 262144 (the default), -B 32768           64 packets
 *   -i lo (libpcap caps the slot at the MTU + 18)       256 packets
 *   -i any, -s 65600                                    255 packets
 *   -i any, -s 65600, outgoing loopback copy filtered   511 packets
 *   the same with -B 131072 (what we run)              2044 packets
 * Then three more ways to lose packets under load, each measured beside `ab -n 2000 -c 50`
 * (~20,000 packets in 0.4 s) and `wrk -c 100 -d 2s` (~100,000 in 2 s): -U (a write(2) for every
 * packet) made tcpdump itself too slow (500-4,400 drops of ab's packets at -B 32768; without it,
 * none); parsing in the thread that read the pipe let the pipe fill, tcpdump block and its ring
 * overflow (5,000-16,000 drops of ab's; now parsed later: backlog.ts); and that thread's stalls
 * (30-600 ms on a loaded machine) did the same (7,000-31,000 drops of wrk's; now a thread of its
 * own reads, and it and tcpdump go first: OBSERVER_PRIORITY in guarded-child.ts, and where
 * permitted the real-time policy, OBSERVER_REALTIME_PRIORITY: beside `wrk -c 100` on two cores
 * that other test suites kept busy, runs with drops went from 27 of 30 to 6 of 30).
 * So: a snap length that fits the largest frame the interfaces can deliver (snapLength), the
 * outgoing loopback copy dropped in the kernel's filter (capturePlans), a 128 MiB ring (2044
 * slots: 256 MiB of kernel memory, as each 64 KiB slot takes a 128 KiB block), no -U (the
 * capture observer's markers push tcpdump's buffered output out when it needs it), and a reader
 * thread. TPACKET_V3 (without --immediate-mode) packs packets in blocks and would hold far more,
 * but it hands a block over only when full or after tcpdump's 1 s timeout, and the first block
 * of a capture waited for that timeout whatever filled it: every sync would cost up to seconds.
 * What is lost anyway (a machine whose every core is taken) is counted by the kernel, and the
 * report says its counts are lower bounds (`incomplete`).
 *
 * Why it ends with us: it runs under a guard shell that ends it when the pipe on its stdin
 * closes, which the kernel does when this process dies, SIGKILL included (guarded-child.ts,
 * child-reader.ts).
 */
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CaptureUnavailableError, KeepaliveLabError } from '../errors.js';
import { onAbort } from '../util/abort.js';
import { sleep } from '../util/time.js';
import type { ReaderMessage } from './child-reader.js';
import { GuardedChild } from './guarded-child.js';

/**
 * Linux sysfs: a directory per network interface, with its `mtu` and `ifindex`
 * (Documentation/ABI/testing/sysfs-class-net).
 */
const SYS_CLASS_NET = '/sys/class/net';
/** libpcap's pseudo-interface that captures on all of them (as Linux cooked SLL2). */
export const ANY_INTERFACE = 'any';
/** Linux's loopback interface. */
export const LOOPBACK_INTERFACE = 'lo';

/**
 * The largest packet GRO (receive) and GSO/TSO (send) build on Linux without BIG TCP: 64 KiB
 * (the gro_max_size and gso_max_size defaults; an IPv4 total length cannot say more than 65535).
 * A capture on the host sees these super-frames, not the MTU-sized packets on the wire.
 */
const OFFLOAD_MAX_PACKET = 65_536;
/**
 * Room for the link-layer header tcpdump writes before the IP packet: Ethernet with two 802.1Q
 * tags is 22 bytes, Linux cooked SLL2 20.
 */
const LINK_HEADER_ROOM = 64;
/** libpcap's largest snap length (MAXIMUM_SNAPLEN, pcap-int.h), and tcpdump's default. */
const MAXIMUM_SNAPLEN = 262_144;
/** The kernel ring, in KiB (tcpdump -B): 2044 slots at the snap length above (see the file's comment). */
const RING_KIB = 131_072;
/** How long tcpdump gets to say it is listening. */
const START_TIMEOUT_MS = 10_000;
/** How long tcpdump gets to print its statistics when asked (dropped()). */
const STATS_TIMEOUT_MS = 2000;
/**
 * The signal on which tcpdump prints its statistics and goes on capturing (tcpdump.c: SIGINFO where
 * there is one, else SIGNAL_REQ_INFO, SIGUSR1 by default: Linux); its guard ignores it (guarded-child.ts).
 */
const STATS_SIGNAL = 'SIGUSR1';
/** One line of tcpdump's statistics ("192 packets dropped by kernel"): printed on exit, and on STATS_SIGNAL. */
const DROPPED = /(\d+) packets? dropped by kernel/g;

/** Every count of dropped packets tcpdump printed on stderr ("192 packets dropped by kernel"), oldest first. */
export function droppedCounts(stderr: string): number[] {
  return [...stderr.matchAll(DROPPED)].map((m) => Number(m[1]));
}

/** The snap length that keeps every byte of any packet an interface with these MTUs can deliver to a capture. */
export function snapLength(mtus: readonly number[]): number {
  return Math.min(MAXIMUM_SNAPLEN, Math.max(OFFLOAD_MAX_PACKET, ...mtus) + LINK_HEADER_ROOM);
}

/** Where and with which filter tcpdump captures: the interface it is given and its BPF filter. */
export interface CapturePlan {
  interface: string;
  filter: string;
}

/**
 * How to capture `filter` on `iface`, best first: the later plans are for a tcpdump that refuses
 * the first (libpcap before 1.10 has no `ifindex`). A packet socket sees each loopback packet
 * twice, going out and coming in, and libpcap discards the outgoing copy only after it has taken
 * a slot of the ring; the first plans drop it in the kernel's filter instead. `inbound` tests the
 * packet type (SKF_AD_PKTTYPE), `ifindex` the interface (SKF_AD_IFINDEX): the kernel runs both.
 * On `lo` itself the kernel would run `inbound` too, but libpcap filters the first frames of a
 * capture again in user space (those the ring may have held before the filter was set), where an
 * Ethernet header says nothing of direction: the first SYN was lost. On `any`, Linux cooked
 * headers (SLL2) carry the packet type and the interface, so both places agree: loopback is
 * captured there, restricted to the loopback interface.
 */
export function capturePlans(iface: string, filter: string, loopbackIndex: number | null): CapturePlan[] {
  const plain = { interface: iface, filter };
  if (loopbackIndex === null) return [plain];
  if (iface === LOOPBACK_INTERFACE)
    return [{ interface: ANY_INTERFACE, filter: `(${filter}) and ifindex ${loopbackIndex} and inbound` }, plain];
  if (iface === ANY_INTERFACE)
    return [{ interface: ANY_INTERFACE, filter: `(${filter}) and not (outbound and ifindex ${loopbackIndex})` }, plain];
  return [plain];
}

/** tcpdump's arguments: pcap on stdout, no name resolution, packets handed over at once. */
export function tcpdumpArgs(o: { interface: string; filter: string; snapLength: number | null }): string[] {
  const snap = o.snapLength === null ? [] : ['-s', String(o.snapLength)];
  return ['-i', o.interface, '-n', '--immediate-mode', ...snap, '-B', String(RING_KIB), '-w', '-', o.filter];
}

/** Names of this machine's network interfaces, or null where there is no sysfs to ask (not Linux). */
export function networkInterfaces(): string[] | null {
  try {
    return readdirSync(SYS_CLASS_NET).sort();
  } catch {
    return null;
  }
}

function readNumber(iface: string, attribute: string): number | null {
  try {
    const n = Number(readFileSync(join(SYS_CLASS_NET, iface, attribute), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/**
 * Fails, naming the interfaces there are, when `iface` is not one of this machine's: tcpdump
 * would exit at once, and a watch that cannot look where it was told must not report nothing seen.
 */
export function checkInterface(iface: string): void {
  if (iface === ANY_INTERFACE) return;
  const names = networkInterfaces();
  if (names === null || names.includes(iface)) return;
  throw new KeepaliveLabError('KAL_ERR_INTERFACE', {
    option: 'interface',
    text: (name) =>
      `${name} names no network interface of this machine: ${iface} ` +
      `(there are: ${[...names, ANY_INTERFACE].join(', ')})`,
  });
}

const FIX_MISSING = 'install tcpdump (Debian/Ubuntu: apt-get install tcpdump)';
export const FIX_PERMISSION =
  'run as root, or let tcpdump capture: sudo setcap cap_net_raw,cap_net_admin=eip "$(command -v tcpdump)"';

/** The tcpdump binary to run, as a path: `given` (a path, or a name looked up on PATH), else `tcpdump` on PATH. */
export function resolveTcpdump(given: string | undefined, path = process.env.PATH ?? ''): string {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (given !== undefined && given.includes('/')) {
    const fix = `give the path of a tcpdump binary, or leave it out for tcpdump on PATH (${FIX_MISSING})`;
    if (!existsSync(given)) throw new CaptureUnavailableError(`${given} does not exist`, fix);
    if (!executable(given)) throw new CaptureUnavailableError(`${given} is not an executable file`, fix);
    return given;
  }
  const name = given ?? 'tcpdump';
  for (const dir of path.split(delimiter)) {
    if (dir !== '' && executable(join(dir, name))) return join(dir, name);
  }
  throw new CaptureUnavailableError(
    given === undefined ? 'tcpdump is not installed' : `${name} is not installed (not found on PATH)`,
    FIX_MISSING,
  );
}

export interface TcpdumpOptions {
  interface: string;
  filter: string;
  /** tcpdump binary: a path or a name on PATH (default `tcpdump`). */
  tcpdump?: string;
  startTimeoutMs?: number;
  /** tcpdump's stdout, chunk by chunk (pcap). */
  onData: (chunk: Buffer) => void;
  /** Aborted while tcpdump starts: it is ended, and start() rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A running tcpdump, listening; run and read by a worker thread of its own (guarded-child.ts). */
export class Tcpdump {
  private constructor(private readonly child: GuardedChild) {}

  /** What tcpdump wrote on stderr (its statistics at the end: "N packets dropped by kernel"), up to 64 KiB. */
  get stderr(): string {
    return this.child.stderr;
  }

  /** Resolves once tcpdump (and its guard) have exited and all they wrote has been handed to onData. */
  get exited(): Promise<void> {
    return this.child.exited;
  }

  get running(): boolean {
    return this.child.running;
  }

  /** Stops reading tcpdump's output: it blocks writing, and its kernel ring fills (then drops). */
  pause(): void {
    this.child.pause();
  }

  resume(): void {
    this.child.resume();
  }

  /**
   * Starts tcpdump and resolves once it is listening; rejects with a CaptureUnavailableError
   * saying why it cannot capture. Tries the plans of capturePlans in order: should this tcpdump
   * refuse the first (libpcap before 1.10), it starts again with the next.
   */
  static async start(options: TcpdumpOptions): Promise<Tcpdump> {
    const binary = resolveTcpdump(options.tcpdump);
    const names = networkInterfaces();
    const seen = options.interface === ANY_INTERFACE ? (names ?? []) : [options.interface];
    const mtus = seen.map((name) => readNumber(name, 'mtu')).filter((mtu) => mtu !== null);
    const snap = names === null ? null : snapLength(mtus);
    const plans = capturePlans(options.interface, options.filter, readNumber(LOOPBACK_INTERFACE, 'ifindex'));
    for (let i = 0; ; i++) {
      options.signal?.throwIfAborted();
      const args = tcpdumpArgs({ ...plans[i]!, snapLength: snap });
      try {
        return await Tcpdump.listening(
          new Tcpdump(new GuardedChild(binary, args, (chunk) => options.onData(chunk))),
          options,
        );
      } catch (error) {
        if (!(error instanceof CaptureUnavailableError) || i === plans.length - 1) throw error;
      }
    }
  }

  /** Resolves once `tcpdump` says it is listening; ends it and rejects when it cannot. */
  private static listening(tcpdump: Tcpdump, options: TcpdumpOptions): Promise<Tcpdump> {
    const startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
    return new Promise<Tcpdump>((resolve, reject) => {
      let offAbort = () => undefined as void;
      const fail = (error: unknown) => {
        cleanup();
        void tcpdump.stop().then(() => reject(error));
      };
      const timer = setTimeout(
        () =>
          fail(
            new CaptureUnavailableError(`tcpdump did not start listening within ${startTimeoutMs} ms`, FIX_PERMISSION),
          ),
        startTimeoutMs,
      );
      const onMessage = (m: ReaderMessage) => {
        if (m.type === 'stderr' && /listening on /.test(tcpdump.stderr)) {
          cleanup();
          resolve(tcpdump);
        } else if (m.type === 'error') {
          fail(new CaptureUnavailableError(`cannot run tcpdump: ${m.message}`, FIX_MISSING));
        } else if (m.type === 'exit' || m.type === 'closed') {
          const text = tcpdump.stderr.trim().split('\n').pop() ?? '';
          const denied = /permission|not permitted|privilege/i.test(tcpdump.stderr);
          fail(
            new CaptureUnavailableError(
              `tcpdump could not capture: ${text || 'it exited at once'}`,
              denied ? FIX_PERMISSION : 'check the interface name and filter',
            ),
          );
        }
      };
      const cleanup = () => {
        offAbort();
        clearTimeout(timer);
        tcpdump.child.messages.off('message', onMessage);
      };
      tcpdump.child.messages.on('message', onMessage);
      offAbort = onAbort(options.signal, () => fail(options.signal!.reason));
    });
  }

  /**
   * tcpdump's count of the packets the kernel dropped since it started (its ring was full): while
   * it runs, asked for (STATS_SIGNAL: it prints its statistics and goes on), once it has ended, its
   * last statistics. Null when it did not answer within 2 s. A count since the start, whoever asks:
   * libpcap adds up the kernel's (PACKET_STATISTICS resets them as it reads them).
   */
  async dropped(): Promise<number | null> {
    const before = droppedCounts(this.stderr).length;
    if (this.running && this.child.signal(STATS_SIGNAL)) {
      const deadline = performance.now() + STATS_TIMEOUT_MS;
      while (this.running && droppedCounts(this.stderr).length <= before) {
        if (performance.now() > deadline) return null;
        await sleep(2);
      }
    }
    const counts = droppedCounts(this.stderr);
    return counts.length > 0 ? counts.at(-1)! : this.running ? null : 0;
  }

  /**
   * Ends the capture: closes our end of the guard's pipe (the guard then sends tcpdump SIGTERM,
   * on which it prints its statistics and exits), and resolves once all it wrote has been
   * relayed. Should that take longer than 3 s, the guard's process group gets SIGKILL.
   */
  stop(): Promise<void> {
    return this.child.stop();
  }
}
