/**
 * The limit for `analyze` in bench/analyze.ts: a bare pcap record walk. It reads the file as
 * `analyze` does (src/observe/capture-file.ts: 1 MiB reads into two buffers that take turns, the
 * next read in flight while the current chunk is walked), steps over the 16-byte record headers and
 * decodes nothing. A separate node program, so that it pays the same process start-up as ours.
 *
 *   pcap  https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/ (24-byte file header, then records:
 *         ts seconds (4) | ts fraction (4) | incl_len (4) | orig_len (4) | incl_len bytes of frame)
 *
 * Prints the record count (bench/analyze.ts sends stdout to /dev/null). pcap only: the bench's
 * captures are pcap.
 *
 * Usage: node dist/bench/bare-walk.js FILE
 */
import { open } from 'node:fs/promises';

/** capture-file.ts's read size. */
const CHUNK = 1024 * 1024;
const FILE_HEADER = 24;
const RECORD_HEADER = 16;
const INCL_LEN_OFFSET = 8;
/** The magic number as read little-endian from a file written little-endian (µs or ns timestamps). */
const MAGIC_LE = [0xa1b2c3d4, 0xa1b23c4d];
const MAGIC_BE = [0xd4c3b2a1, 0x4d3cb2a1];

async function walk(path: string): Promise<number> {
  const handle = await open(path, 'r');
  let current = Buffer.allocUnsafe(CHUNK);
  let spare = Buffer.allocUnsafe(CHUNK);
  let reading: Promise<{ bytesRead: number }> | null = handle.read(current, 0, CHUNK, null);
  /** A record header split across chunks, and how much of it we have. */
  const header = Buffer.alloc(RECORD_HEADER);
  let headerHave = 0;
  /** Bytes still to skip: the file header, then the rest of the current record's frame. */
  let skip = FILE_HEADER;
  let littleEndian: boolean | null = null;
  let records = 0;
  try {
    for (;;) {
      const { bytesRead } = await reading;
      reading = null;
      if (bytesRead === 0) break;
      const chunk = current;
      reading = handle.read(spare, 0, CHUNK, null);
      let offset = 0;
      if (littleEndian === null) {
        if (bytesRead < FILE_HEADER) throw new Error('too short for a pcap file header');
        const magic = chunk.readUInt32LE(0);
        if (MAGIC_LE.includes(magic)) littleEndian = true;
        else if (MAGIC_BE.includes(magic)) littleEndian = false;
        else throw new Error(`not a pcap file (magic 0x${magic.toString(16)})`);
      }
      while (offset < bytesRead) {
        if (skip > 0) {
          const step = Math.min(skip, bytesRead - offset);
          skip -= step;
          offset += step;
          continue;
        }
        let included: number;
        if (headerHave === 0 && bytesRead - offset >= RECORD_HEADER) {
          const at = offset + INCL_LEN_OFFSET;
          included = littleEndian ? chunk.readUInt32LE(at) : chunk.readUInt32BE(at);
          offset += RECORD_HEADER;
        } else {
          // A header split across two chunks: gather it first.
          const take = Math.min(RECORD_HEADER - headerHave, bytesRead - offset);
          chunk.copy(header, headerHave, offset, offset + take);
          headerHave += take;
          offset += take;
          if (headerHave < RECORD_HEADER) break;
          headerHave = 0;
          included = littleEndian ? header.readUInt32LE(INCL_LEN_OFFSET) : header.readUInt32BE(INCL_LEN_OFFSET);
        }
        records++;
        skip = included;
      }
      current = spare;
      spare = chunk;
    }
  } finally {
    if (reading !== null) await reading.catch(() => undefined);
    await handle.close();
  }
  return records;
}

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('usage: node dist/bench/bare-walk.js FILE\n');
  process.exitCode = 2;
} else {
  process.stdout.write(`${await walk(path)} records\n`);
}
