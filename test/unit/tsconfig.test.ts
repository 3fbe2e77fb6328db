/**
 * The DOM's types are the browser script's only (tsconfig.browser.json): the main program (tsconfig.json,
 * what `npx tsc -p .` checks) has none, so server code that uses `document` or `window` does not compile.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function parsed(name: string): ts.ParsedCommandLine {
  const path = join(ROOT, name);
  const { config, error } = ts.readConfigFile(path, ts.sys.readFile);
  assert.equal(error, undefined);
  return ts.parseJsonConfigFileContent(config, ts.sys, dirname(path));
}

test('tsconfig.json: no DOM lib, and the browser script is not among its files', () => {
  const main = parsed('tsconfig.json');
  assert.deepEqual(main.errors, []);
  assert.ok(!(main.options.lib ?? []).some((l) => /dom/i.test(l)), String(main.options.lib));
  assert.ok(!main.fileNames.some((f) => f.endsWith('src/report/html/browser.ts')));
  assert.ok(main.fileNames.some((f) => f.endsWith('src/report/html.ts')));
  const browser = parsed('tsconfig.browser.json');
  assert.ok((browser.options.lib ?? []).some((l) => /dom/i.test(l)));
  assert.deepEqual(
    browser.fileNames.map((f) => f.slice(ROOT.length)),
    ['src/report/html/browser.ts'],
  );
});

test("tsconfig.json's options: code that uses document or window is an error", () => {
  const dir = mkdtempSync(join(tmpdir(), 'kal-tsconfig-'));
  try {
    const file = join(dir, 'server.ts');
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(file, 'export const title: string = document.title + String(window.length);\n');
    const { options } = parsed('tsconfig.json');
    const program = ts.createProgram([file], { ...options, noEmit: true, rootDir: dir, outDir: undefined });
    const codes = ts.getPreEmitDiagnostics(program).map((d) => d.code);
    // 2584: "Cannot find name 'document'... include 'dom'"; 2304: "Cannot find name 'window'".
    assert.deepEqual(codes.sort(), [2304, 2584]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
