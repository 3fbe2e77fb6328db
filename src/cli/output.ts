import { writeFile } from 'node:fs/promises';
import { FileError } from '../errors.js';
import type { Report } from '../model/report.js';
import { renderHtml } from '../report/html.js';
import { str } from './args.js';
import type { Parsed } from './args.js';

/** `--html FILE`: write the HTML report next to what was printed. */
export async function writeHtmlReport(p: Parsed, report: Report): Promise<void> {
  const path = str(p, 'html');
  if (path === undefined) return;
  try {
    await writeFile(path, renderHtml(report));
  } catch (error) {
    throw new FileError(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
}
