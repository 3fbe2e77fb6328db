/**
 * Decoding speed: CaptureReader + PacketDecoder over a ~100 MB synthetic capture held in memory.
 * Not part of npm test. Run: npx tsc -p . && node dist/bench/decode.js [megabytes]
 *
 * The capture mimics HTTP/1.1 keep-alive traffic: handshakes, small requests, responses of a few
 * hundred bytes to a full 1500-byte MTU, pure ACKs, FINs; 1000 client ports, a tenth over IPv6.
 * It is pushed in 64 KiB chunks, as a file stream delivers it, so records straddle chunks.
 */
import { CaptureReader } from '../src/decode/capture.js';
import { PacketDecoder } from '../src/decode/packet.js';
import { LT, buildPcapng, pcapRecord, tcpIpFrame, type TcpPacketSpec } from '../test/support/capture-builder.js';

const MEGABYTES = Number(process.argv[2] ?? 100);
const CHUNK = 64 * 1024;
const RUNS = 3;

function templates(): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const request = 'GET /api/items?page=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n';
  for (let c = 0; c < 1000; c++) {
    const v6 = c % 10 === 0;
    const client = v6 ? `2001:db8::${(c + 1).toString(16)}` : `10.0.${c >> 8}.${c & 255}`;
    const server = v6 ? '2001:db8::80' : '10.0.255.80';
    const port = 40000 + c;
    const out = (p: Partial<TcpPacketSpec>): TcpPacketSpec => ({
      src: client,
      dst: server,
      srcPort: port,
      dstPort: 8080,
      ...p,
    });
    const back = (p: Partial<TcpPacketSpec>): TcpPacketSpec => ({
      src: server,
      dst: client,
      srcPort: 8080,
      dstPort: port,
      ...p,
    });
    const body = 'x'.repeat(c % 3 === 0 ? 1400 : 200 + (c % 7) * 50);
    const packets = [
      out({
        flags: 'S',
        seq: 1,
        tcpOptions: Uint8Array.of(2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7),
      }),
      back({ flags: 'SA', seq: 1000, ack: 2 }),
      out({ flags: 'A', seq: 2, ack: 1001 }),
      out({ flags: 'PA', seq: 2, ack: 1001, payload: request }),
      back({ flags: 'A', seq: 1001, ack: 2 + request.length }),
      back({
        flags: 'PA',
        seq: 1001,
        ack: 2 + request.length,
        payload: `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      }),
      out({ flags: 'A', seq: 2 + request.length, ack: 3000 }),
      out({ flags: 'FA', seq: 2 + request.length, ack: 3000 }),
    ];
    for (const p of packets) frames.push(tcpIpFrame(LT.ETHERNET, p));
  }
  return frames;
}

function buildPcapFile(bytes: number, frames: Uint8Array[]): { file: Uint8Array; packets: number } {
  const records = frames.map((frame) => pcapRecord('le', false, 262144, { ts: 0, frame }));
  const file = new Uint8Array(bytes);
  const view = new DataView(file.buffer);
  file.set([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, LT.ETHERNET, 0, 0, 0]);
  let offset = 24;
  let packets = 0;
  const ts = 1_700_000_000;
  for (;;) {
    const record = records[packets % records.length]!;
    if (offset + record.length > bytes) break;
    file.set(record, offset);
    view.setUint32(offset, ts + (packets >>> 16), true);
    view.setUint32(offset + 4, (packets * 7) % 1_000_000, true);
    offset += record.length;
    packets++;
  }
  return { file: file.subarray(0, offset), packets };
}

function buildPcapngFile(bytes: number, frames: Uint8Array[]): { file: Uint8Array; packets: number } {
  const sample = buildPcapng({ interfaces: [{ linkType: LT.ETHERNET }], blocks: frames.map((frame) => ({ frame })) });
  // Section header (28 bytes) + interface description (20 bytes), then EPBs repeated to the size.
  const head = sample.subarray(0, 48);
  const blocks = sample.subarray(48);
  const file = new Uint8Array(bytes);
  file.set(head);
  let offset = head.length;
  let copies = 0;
  while (offset + blocks.length <= bytes) {
    file.set(blocks, offset);
    offset += blocks.length;
    copies++;
  }
  return { file: file.subarray(0, offset), packets: copies * frames.length };
}

function run(file: Uint8Array): { seconds: number; tcp: number; frames: number } {
  const decoder = new PacketDecoder();
  let payloadBytes = 0;
  const reader = new CaptureReader({
    frame(f) {
      const p = decoder.decode(f);
      if (p !== null) payloadBytes += p.payload.length;
    },
  });
  const start = process.hrtime.bigint();
  for (let i = 0; i < file.length; i += CHUNK) reader.push(file.subarray(i, i + CHUNK));
  reader.end();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (payloadBytes === 0) throw new Error('nothing decoded');
  return { seconds, tcp: decoder.stats.tcp, frames: reader.frames };
}

function measure(name: string, file: Uint8Array, packets: number): void {
  run(file.subarray(0, Math.min(file.length, 8 * 1024 * 1024))); // warm-up
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const r = run(file);
    if (r.frames !== packets || r.tcp !== packets)
      throw new Error(`${name}: ${r.frames} frames, ${r.tcp} TCP, expected ${packets}`);
    best = Math.min(best, r.seconds);
  }
  const mb = file.length / 1e6;
  console.log(
    `${name.padEnd(7)} ${mb.toFixed(0)} MB, ${packets} packets: best of ${RUNS} ${(best * 1000).toFixed(0)} ms = ` +
      `${Math.round(packets / best).toLocaleString('en-US')} packets/s, ${(mb / best).toFixed(0)} MB/s`,
  );
}

const frames = templates();
const pcap = buildPcapFile(MEGABYTES * 1e6, frames);
measure('pcap', pcap.file, pcap.packets);
const pcapng = buildPcapngFile(MEGABYTES * 1e6, frames);
measure('pcapng', pcapng.file, pcapng.packets);
