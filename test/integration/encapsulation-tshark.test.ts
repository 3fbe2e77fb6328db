/**
 * Captures built in code from the specifications (test/support/capture-builder.ts, tunnel-builder.ts)
 * of every link type off the fast path, of tunnels (GRE, VXLAN, Geneve, IP in IP, PPTP, ERSPAN) and
 * of IP fragments, read by tshark and by analyze: both must find the same TCP connections (tshark's
 * tcp.stream and -z conv,tcp), the same requests and status codes on each, the same side sending the
 * first FIN, the same resets. tshark is the independent oracle: a builder and a decoder that shared
 * a misreading of a header would still disagree with it.
 *
 * Every case is one interface of one pcapng file (its connections on client ports of their own), so
 * that one tshark run reads them all. The few link types this tshark does not dissect down to TCP
 * (SLIP, netANALYZER in transparent mode, PPP_PPPD, the DSA switch tags) are read by tcpdump instead:
 * connections, first FIN and resets from its one-line summaries. The three that neither reads
 * (SHOWN_AS) are shown to tshark with an equivalent pseudo-header.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ConnectionRecord } from '../../src/model/report.js';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { LT, buildPcap, buildPcapng, ipPacket, linkFrame } from '../support/capture-builder.js';
import type { FrameSpec, PcapngBlockSpec, TcpPacketSpec } from '../support/capture-builder.js';
import { captureDir } from '../support/capture-env.js';
import { runTool, toolSkip, tsharkView } from '../support/record.js';
import { registerCapture, withoutTshark } from '../support/tshark-check.js';
import { Conversation, httpGet, httpResponse } from '../support/tcp-conversation.js';
import { encapsulate, fragmentIp, tunnelled, type TunnelSpec } from '../support/tunnel-builder.js';

const skip = toolSkip('tshark', 'tcpdump');
const SERVER_PORT = 8080;
/** Connections per case: IPv4 keep-alive (client closes), IPv6 (server closes), IPv4 reset by the client. */
const PER_CASE = 3;

/** The case's three connections, on client ports base, base + 1, base + 2. */
function conversation(base: number): TcpPacketSpec[] {
  const server = (address: string) => ({ address, port: SERVER_PORT });
  const a = new Conversation({ address: '10.1.0.5', port: base }, server('10.1.0.80')).handshake(0.2);
  a.send('client', httpGet('/a'), { ack: true });
  a.send('server', httpResponse(200, 1400), { ack: true });
  a.send('client', httpGet('/b'), { ack: true });
  a.send('server', httpResponse(404, 'gone'), { ack: true });
  a.close('client');
  const b = new Conversation({ address: 'fd00::5', port: base + 1 }, server('fd00::80'), { start: a.time + 1000 });
  b.handshake();
  b.send('client', httpGet('/c', { Connection: 'close' }), { ack: true });
  b.send('server', httpResponse(200, 900, { Connection: 'close' }), { ack: true });
  b.close('server');
  const c = new Conversation({ address: '10.1.0.6', port: base + 2 }, server('10.1.0.80'), { start: b.time + 1000 });
  c.handshake();
  c.send('client', httpGet('/d'), { ack: true });
  c.send('server', httpResponse(200, 'ok'), { ack: true });
  c.rst('client');
  return [...a.packets, ...b.packets, ...c.packets];
}

interface Case {
  name: string;
  linkType: number;
  frames: (packets: TcpPacketSpec[]) => PacketsOrFrames;
}
type PacketsOrFrames = (TcpPacketSpec | FrameSpec)[];

/** Every datagram an IP identification of its own, across cases (they share addresses). */
let nextId = 1;

function fragments(packets: TcpPacketSpec[], size: number, tunnels: TunnelSpec[] = []): FrameSpec[] {
  return packets.flatMap((p) =>
    fragmentIp(encapsulate(ipPacket(p), tunnels), { size, id: nextId++ & 0xffff })
      .reverse()
      .map((frame, i) => ({ ts: p.ts! + i, frame: linkFrame(LT.ETHERNET, frame) })),
  );
}

const VXLAN: TunnelSpec[] = [{ kind: 'vxlan', src: '192.0.2.1', dst: '192.0.2.2', vni: 42 }];
const TUNNELS: TunnelSpec[][] = [
  [{ kind: 'gre', src: '192.0.2.1', dst: '192.0.2.2', key: 7, seq: 1, checksum: true }],
  [{ kind: 'gre', src: '2001:db8::1', dst: '2001:db8::2', ethernet: true }],
  VXLAN,
  [{ kind: 'vxlan', src: '2001:db8::1', dst: '2001:db8::2', vni: 1 }],
  [{ kind: 'geneve', src: '192.0.2.1', dst: '192.0.2.2', vni: 77, optionBytes: 8 }],
  [{ kind: 'geneve', src: '192.0.2.1', dst: '192.0.2.2', vni: 78, ethernet: false }],
  [{ kind: 'ipip', src: '192.0.2.1', dst: '192.0.2.2' }],
  [{ kind: 'ipip', src: '2001:db8::1', dst: '2001:db8::2' }],
  [{ kind: 'pptp', src: '192.0.2.1', dst: '192.0.2.2', callId: 4 }],
  [{ kind: 'erspan', src: '192.0.2.1', dst: '192.0.2.2', session: 9 }],
  [{ kind: 'gre', src: '198.51.100.1', dst: '198.51.100.2', key: 1 }, ...VXLAN],
];

/** Link types this tshark (4.0) does not dissect down to TCP: tcpdump reads them instead. */
const TCPDUMP_ONLY = new Set<number>([
  LT.SLIP,
  LT.NETANALYZER_TRANSPARENT,
  LT.PPP_PPPD,
  LT.DSA_TAG_BRCM,
  LT.DSA_TAG_BRCM_PREPEND,
  LT.DSA_TAG_DSA,
  LT.DSA_TAG_EDSA,
]);
/**
 * Link types neither tshark 4.0 nor tcpdump 4.99 reads: tshark is shown the same frames as a link
 * type it reads, the pseudo-header replaced by that type's (the one direction byte of *_WITH_DIR
 * dropped, LINKTYPE_MPLS's label stack put after an Ethernet header with ethertype 0x8847); what
 * follows is the same bytes, read by both.
 */
const SHOWN_AS = new Map<number, [number, (frame: Uint8Array) => Uint8Array]>([
  [LT.C_HDLC_WITH_DIR, [LT.C_HDLC, (f) => f.subarray(1)]],
  [LT.FRELAY_WITH_DIR, [LT.FRELAY, (f) => f.subarray(1)]],
  [LT.MPLS, [LT.ETHERNET, (f) => Uint8Array.of(...new Uint8Array(12), 0x88, 0x47, ...f)]],
]);

function cases(): Case[] {
  const out: Case[] = [];
  for (const [name, linkType] of Object.entries(LT)) {
    // The single-version raw link types cannot carry the IPv6 connection; RAW (101) covers them.
    if (linkType === LT.IPV4 || linkType === LT.IPV6) continue;
    out.push({ name: `link type ${name}`, linkType, frames: (p) => p });
  }
  const ethernet = (name: string, frames: Case['frames']) => out.push({ name, linkType: LT.ETHERNET, frames });
  ethernet('PPPoE in Ethernet', (ps) => ps.map((p) => ({ ...p, pppoe: true })));
  ethernet('MPLS in Ethernet', (ps) => ps.map((p) => ({ ...p, mpls: [100, 200] })));
  out.push({
    name: '802.11 QoS, radiotap with data pad',
    linkType: LT.IEEE802_11_RADIOTAP,
    frames: (ps) => ps.map((p) => ({ ...p, wlan: { qos: true, dataPad: true, tsft: true } })),
  });
  for (const t of TUNNELS) ethernet(t.map((x) => x.kind).join(' in '), (ps) => tunnelled(ps, t));
  ethernet('IP fragments of 256, reversed', (ps) => fragments(ps, 256));
  ethernet('IP fragments of 1024, reversed', (ps) => fragments(ps, 1024));
  ethernet('fragmented VXLAN', (ps) => fragments(ps, 512, VXLAN));
  return out;
}

/** tcpdump's view of a file: per client port, whether a SYN was seen, who sent the first FIN, RSTs. */
async function tcpdumpView(path: string): Promise<Map<number, { firstFin: string | null; resets: number }>> {
  const r = await runTool('tcpdump', ['-nr', path]);
  assert.equal(r.code, 0, r.stderr);
  const flows = new Map<number, { firstFin: string | null; resets: number }>();
  // "12:00:00.000000 IP 10.1.0.5.20000 > 10.1.0.80.8080: Flags [S], seq ..." (IP6 alike).
  for (const m of r.stdout.matchAll(/ IP6? \S+\.(\d+) > \S+\.(\d+): Flags \[([^\]]*)\]/g)) {
    const [src, dst, flags] = [Number(m[1]), Number(m[2]), m[3]!];
    const fromServer = src === SERVER_PORT;
    const port = fromServer ? dst : src;
    let flow = flows.get(port);
    if (flow === undefined) flows.set(port, (flow = { firstFin: null, resets: 0 }));
    if (flags.includes('F') && flow.firstFin === null) flow.firstFin = fromServer ? 'server' : 'client';
    if (flags.includes('R')) flow.resets++;
  }
  return flows;
}

test('tshark agrees: link types, tunnels and fragments built from their specifications', { skip }, async (t) => {
  const dir = await captureDir(t, 'kal-encapsulation-');
  const all = cases();
  const caseOf = new Map<number, string>();
  // Ours and tshark's: the same frames, but for the link types tshark is shown as another (SHOWN_AS).
  const interfaces: { linkType: number }[] = [];
  const shownInterfaces: { linkType: number }[] = [];
  const blocks: PcapngBlockSpec[] = [];
  const shownBlocks: PcapngBlockSpec[] = [];
  const tcpdumpFiles: [string, string, number][] = [];
  for (const [i, c] of all.entries()) {
    const base = 20_000 + i * 10;
    for (let k = 0; k < PER_CASE; k++) caseOf.set(base + k, c.name);
    const frames = c
      .frames(conversation(base))
      .map((f): FrameSpec => ('frame' in f ? f : { ts: f.ts!, frame: linkFrame(c.linkType, ipPacket(f), f) }));
    if (TCPDUMP_ONLY.has(c.linkType)) {
      const path = join(dir, `${c.linkType}.pcap`);
      await writeFile(path, buildPcap({ linkType: c.linkType, packets: frames }));
      tcpdumpFiles.push([c.name, path, base]);
      continue;
    }
    const interfaceId = interfaces.length;
    const [shownType, show] = SHOWN_AS.get(c.linkType) ?? [c.linkType, (f: Uint8Array) => f];
    interfaces.push({ linkType: c.linkType });
    shownInterfaces.push({ linkType: shownType });
    for (const f of frames) {
      blocks.push({ ...f, interfaceId });
      shownBlocks.push({ ...f, frame: show(f.frame), interfaceId });
    }
  }
  const path = join(dir, 'all.pcapng');
  const shownPath = join(dir, 'all-for-tshark.pcapng');
  const shown = buildPcapng({ interfaces: shownInterfaces, blocks: shownBlocks });
  // The same for the suite's check (test/support/tshark-check.ts): tshark reads the shown form.
  const built = withoutTshark('the SHOWN_AS form is what tshark reads', () => buildPcapng({ interfaces, blocks }));
  registerCapture(built, { forTshark: shown });
  await writeFile(path, built);
  await writeFile(shownPath, shown);

  const disagreements: string[] = [];
  const expect = (ok: boolean, what: string) => {
    if (!ok) disagreements.push(what);
  };
  const ours = async (file: string): Promise<ConnectionRecord[]> =>
    (await analyzeCapture(file)).observers[0]!.connections;

  const tshark = await tsharkView(shownPath, SERVER_PORT);
  const mine = await ours(path);
  const checkedByTshark = all.length - tcpdumpFiles.length;
  expect(mine.length === PER_CASE * checkedByTshark, `we found ${mine.length} connections`);
  expect(tshark.streams.length === PER_CASE * checkedByTshark, `tshark has ${tshark.streams.length} tcp.streams`);
  expect(tshark.conversations === PER_CASE * checkedByTshark, `tshark -z conv,tcp has ${tshark.conversations}`);
  const byPort = new Map(tshark.streams.map((s) => [s.clientPort, s]));
  for (const c of mine) {
    const s = byPort.get(c.client.port);
    const on = `${caseOf.get(c.client.port) ?? '?'}, port ${c.client.port}`;
    if (s === undefined) {
      disagreements.push(`${on}: not in tshark's view`);
      continue;
    }
    expect(c.requests === s.requests, `${on}: ${c.requests} requests, tshark ${s.requests}`);
    expect(c.statusCodes.join() === s.statusCodes.join(), `${on}: status ${c.statusCodes}, tshark ${s.statusCodes}`);
    expect(c.closedFirstBy === s.firstFin, `${on}: first FIN ${c.closedFirstBy}, tshark ${s.firstFin}`);
    expect((c.resetBy !== null) === s.resets > 0, `${on}: reset ${c.resetBy}, tshark ${s.resets} RSTs`);
  }
  for (const port of byPort.keys()) {
    if (!mine.some((c) => c.client.port === port))
      disagreements.push(`${caseOf.get(port) ?? '?'}: tshark's ${port} not ours`);
  }

  for (const [name, file, base] of tcpdumpFiles) {
    const view = await tcpdumpView(file);
    const conns = await ours(file);
    expect(
      conns.length === PER_CASE && view.size === PER_CASE,
      `${name}: ${conns.length} connections, tcpdump ${view.size}`,
    );
    for (const c of conns) {
      const flow = view.get(c.client.port);
      expect(c.client.port >= base && c.client.port < base + PER_CASE, `${name}: port ${c.client.port}`);
      expect(
        flow?.firstFin === c.closedFirstBy,
        `${name}, ${c.client.port}: first FIN ${c.closedFirstBy}, tcpdump ${flow?.firstFin}`,
      );
      expect((c.resetBy !== null) === (flow?.resets ?? 0) > 0, `${name}, ${c.client.port}: reset`);
    }
  }
  assert.deepEqual(disagreements, []);
  t.diagnostic(
    `${checkedByTshark} captures (${PER_CASE * checkedByTshark} connections) checked against tshark, ` +
      `${tcpdumpFiles.length} against tcpdump: 0 disagreements`,
  );
});
