/**
 * What `node --import keepalive-lab/register` loads into every app: the tracker, its findings and the
 * summary, not the report's whole machinery (every finding detector, the stream decoders, the HTML
 * renderer), which register.ts imports only when a report file is asked for. Walked over the compiled
 * files' static imports (a dynamic import() is not followed: it is the lazy part).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Every file of ours that `entry` loads through static imports and re-exports, relative to dist/src. */
function staticGraph(entry: string): string[] {
  const seen = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)';/gms))
      walk(resolve(dirname(file), m[1]!));
    for (const m of text.matchAll(/^import\s+'(\.[^']+)';/gm)) walk(resolve(dirname(file), m[1]!));
  };
  walk(resolve(SRC, entry));
  return [...seen].map((f) => f.slice(SRC.length)).sort();
}

test('the register loads the tracker and the summary, and no detector, decoder or renderer of the full report', () => {
  const graph = staticGraph('register.js');
  for (const needed of ['observe/in-process/tracker.js', 'observe/in-process/findings.js', 'report/process-summary.js'])
    assert.ok(graph.includes(needed), `${needed} in ${graph.join(' ')}`);
  const heavy = graph.filter((f) =>
    /^(analyze\/findings\/index|analyze\/run-report|analyze\/streams\/|decode\/|report\/html|register-report)/.test(f),
  );
  assert.deepEqual(heavy, []);
  // The walk does follow imports: the report writer, loaded on demand, brings what the register leaves out.
  const writer = staticGraph('register-report.js');
  assert.ok(writer.includes('analyze/findings/index.js') && writer.includes('report/html.js'), writer.join(' '));
});
