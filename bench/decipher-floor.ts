/**
 * What decryption alone costs, for bench/analyze.ts's https capture: the records `analyze --keylog`
 * opened (as many, as large in total, per cipher suite; from its --json report), opened one by one
 * with TlsRecordCipher.open, the very
 * code `analyze --keylog` runs per record (src/decode/tls-crypto.ts: one createDecipheriv, setAAD,
 * setAuthTag, update and final each, node:crypto only). Nothing is parsed, no file is read: this is
 * the part of `analyze --keylog` that no change outside node:crypto can remove on one thread.
 *
 * A record's cost is a fixed part (the decipher's set-up) plus a part per byte, so records of the
 * average size cost what the capture's records cost in total.
 *
 * Prints the seconds the opening took (start-up and sealing excluded), then `records` and `bytes`.
 *
 * Usage: node dist/bench/decipher-floor.js SUITE:RECORDS:BYTES ...
 *        (SUITE by its IANA name, e.g. TLS_AES_128_GCM_SHA256; a TLS 1.3 suite)
 */
import { TlsRecordCipher, decryptableSuites } from '../src/decode/tls-crypto.js';
import { TlsContentType } from '../src/decode/tls.js';

/** A traffic secret is as long as the suite's hash (RFC 8446 7.1). */
const SECRET_LENGTH = { sha256: 32, sha384: 48 } as const;

/** Records sealed once and opened again and again: the memory stays small, as in `analyze`. */
const POOL = 64;

interface Batch {
  /** A new opener for each round over the pool (its sequence numbers start at 0 again). */
  opener: () => TlsRecordCipher;
  pool: { header: Uint8Array; body: Uint8Array }[];
  records: number;
}

function batch(name: string, records: number, bytes: number): Batch {
  const suite = decryptableSuites().find((s) => s.name === name && s.tls13);
  if (suite === undefined) throw new Error(`not a decryptable TLS 1.3 suite: ${name}`);
  const secret = new Uint8Array(SECRET_LENGTH[suite.hash]).fill(7);
  const seal = TlsRecordCipher.tls13(suite.suite, secret)!;
  // The average record's plaintext: its body less the inner type (1) and the tag (16).
  const size = Math.max(0, Math.min(16384, Math.round(bytes / records) - 17));
  const plaintext = new Uint8Array(size).fill(0x61);
  const pool: Batch['pool'] = [];
  for (let i = 0; i < POOL; i++) {
    const record = seal.seal(TlsContentType.APPLICATION_DATA, plaintext);
    pool.push({ header: record.subarray(0, 5), body: record.subarray(5) });
  }
  return { opener: () => TlsRecordCipher.tls13(suite.suite, secret)!, pool, records };
}

const specs = process.argv.slice(2).map((arg) => {
  const [suite = '', ...counts] = arg.split(':');
  const [records, bytes] = counts.map(Number) as [number, number];
  if (counts.length !== 2 || !(records > 0 && bytes > 0)) throw new Error(`bad argument: ${arg}`);
  return { suite, records, bytes };
});
if (specs.length === 0) {
  process.stderr.write('usage: node dist/bench/decipher-floor.js SUITE:RECORDS:BYTES ...\n');
  process.exitCode = 2;
} else {
  const batches = specs.map((s) => batch(s.suite, s.records, s.bytes));
  const started = performance.now();
  let opened = 0;
  for (const b of batches) {
    let open = b.opener();
    for (let i = 0; i < b.records; i++) {
      const k = i % POOL;
      if (k === 0 && i > 0) open = b.opener();
      if (open.open(b.pool[k]!.header, b.pool[k]!.body) !== null) opened++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const records = specs.reduce((n, s) => n + s.records, 0);
  if (opened !== records) throw new Error(`only ${opened} of ${records} records opened`);
  const bytes = specs.reduce((n, s) => n + s.bytes, 0);
  process.stdout.write(`${seconds.toFixed(4)} s ${records} records ${bytes} bytes\n`);
}
