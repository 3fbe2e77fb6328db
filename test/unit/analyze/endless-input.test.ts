/**
 * Endless damaged input (issue 8): a capture that turns into zeros stops being read where it turns,
 * from a stream as from a file. `(head -c 128 capture.pcapng; cat /dev/zero) | keepalive-lab analyze -`
 * read forever; a pcap header followed by zero records read forever without a warning. Here the
 * "endless" streams are generators that would give 100 MB: the analysis must have stopped long before.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { CaptureWarning } from '../../../src/decode/capture.js';
import type { RunReport } from '../../../src/model/report.js';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import { buildPcap, buildPcapng } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';

const dir = await mkdtemp(join(tmpdir(), 'kal-endless-'));
test.after(() => rm(dir, { recursive: true, force: true }));

/** What an endless source would give, at most: far more than any damage check should let through. */
const ENDLESS = 100 * 1024 * 1024;
const CHUNK = 64 * 1024;
/** The analysis must stop within this many bytes of zeros (a few of its reads). */
const STOPS_WITHIN = 4 * 1024 * 1024;

function exchange(): Conversation {
  const c = new Conversation({ address: '10.0.0.1', port: 50000 }, { address: '10.0.0.2', port: 80 }).handshake();
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(200, 'ok'), { ack: true });
  return c.close('client');
}

/** `head` then zeros, up to ENDLESS bytes in all; `given()` says how many the stream handed out. */
function endless(head: Uint8Array): { stream: Readable; given: () => number } {
  let given = 0;
  const zeros = new Uint8Array(CHUNK);
  function* chunks(): Generator<Uint8Array> {
    given += head.length;
    yield head;
    while (given < ENDLESS) {
      given += CHUNK;
      yield zeros;
    }
  }
  return { stream: Readable.from(chunks(), { objectMode: false }), given: () => given };
}

function wire(run: RunReport): RunReport['observers'][number] {
  return run.observers[0]!;
}

for (const [name, build] of [
  ['pcapng', () => buildPcapng({ interfaces: [{ linkType: 1 }], blocks: exchange().packets })],
  ['pcap', () => buildPcap({ linkType: 1, packets: exchange().packets })],
] as const) {
  test(
    `endless input: a ${name} capture followed by endless zeros stops at the zeros, with a warning`,
    { timeout: 60_000 },
    async () => {
      const capture = build();
      const { stream, given } = endless(capture);
      const run = await analyzeCapture(stream, { subject: '-' });
      assert.ok(given() < STOPS_WITHIN, `stopped after ${given()} bytes`);
      assert.ok(stream.destroyed, 'the stream is let go');
      assert.equal(wire(run).totals.connections, 1, 'the capture before the zeros is analyzed');
      assert.equal(wire(run).totals.requests, 1);
      assert.deepEqual(
        wire(run).warnings.map((w) => w.code),
        [CaptureWarning.BAD_RECORD_LENGTH],
      );

      // A file with the same damage: the same report.
      const path = join(dir, `zeros.${name}`);
      await writeFile(path, Buffer.concat([capture, Buffer.alloc(8 * 1024 * 1024)]));
      const fromFile = await analyzeCapture(path, { subject: '-' });
      assert.deepEqual(wire(fromFile).warnings, wire(run).warnings);
      assert.deepEqual(wire(fromFile).connections, wire(run).connections);
      assert.ok(fromFile.capture!.bytes < STOPS_WITHIN, `read ${fromFile.capture!.bytes} bytes of the file`);
    },
  );
}

test(
  'endless input: the first 128 bytes of a pcapng, then zeros (the command of issue 8)',
  { timeout: 60_000 },
  async () => {
    const capture = buildPcapng({ interfaces: [{ linkType: 1 }], blocks: exchange().packets });
    const { stream, given } = endless(capture.subarray(0, 128));
    const run = await analyzeCapture(stream, { subject: '-' });
    assert.ok(given() < STOPS_WITHIN, `stopped after ${given()} bytes`);
    // The block cut at byte 128 and filled up with zeros is damaged; the zeros after it stop the reading.
    assert.deepEqual(
      wire(run).warnings.map((w) => w.code),
      [CaptureWarning.MALFORMED_BLOCK, CaptureWarning.BAD_RECORD_LENGTH],
    );
  },
);

test(
  'endless input: a pcap header then zero records, from a stream cut in pieces of any size',
  { timeout: 60_000 },
  async () => {
    const header = buildPcap({ linkType: 1, packets: [] });
    for (const size of [1, 7, 16, 4096]) {
      let given = 0;
      const piece = new Uint8Array(size);
      const pieces = function* (): Generator<Uint8Array> {
        given += header.length;
        yield header;
        while (given < ENDLESS) {
          given += size;
          yield piece;
        }
      };
      const run = await analyzeCapture(Readable.from(pieces(), { objectMode: false }), { subject: '-' });
      assert.ok(given < STOPS_WITHIN, `pieces of ${size}: stopped after ${given} bytes`);
      assert.equal(run.capture!.frames, 0);
      assert.deepEqual(
        wire(run).warnings.map((w) => w.message),
        ['a pcap record of 0 bytes, of 0 on the wire (zero fill): the file is damaged, reading stopped there'],
      );
    }
  },
);

test('endless input: a record that captured nothing of a frame on the wire is still a frame', async () => {
  // incl_len 0 with orig_len > 0 (a snap length of 0): odd, not damage.
  const header = buildPcap({ linkType: 1, packets: [] });
  const record = Buffer.alloc(16);
  record.writeUInt32LE(1_700_000_000, 0);
  record.writeUInt32LE(60, 12);
  const run = await analyzeCapture(Readable.from([header, record, record]), { subject: '-' });
  assert.equal(run.capture!.frames, 2);
  assert.ok(!wire(run).warnings.some((w) => w.code === CaptureWarning.BAD_RECORD_LENGTH));
});
