// Writing DIR/report.html so that a failure leaves nothing behind: the page is rendered first, then written
// to a temporary file in DIR and renamed over report.html; a directory this call created is removed again.
import { mkdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from '../../bench/report.js';
import { DEFAULT_TOPOLOGY } from '../dma/default-topology.js';
import { InvalidArgumentError } from '../errors.js';
import { buildTopology } from '../pci/topology.js';
import { renderReportHtml, type ReportInputs } from './page.js';

/** The report's file name inside the output directory. */
export const REPORT_FILE = 'report.html';

/**
 * Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, argument 'out') when `dir` exists and is not a
 * directory. Never changes anything.
 */
export function checkOutputDir(dir: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    return; // missing: it will be created
  }
  if (!isDirectory) throw new InvalidArgumentError(`--out: ${dir} exists and is not a directory`, { argument: 'out' });
}

/**
 * Renders the report and writes `dir/report.html` (creating `dir` if needed). Returns the file's path and
 * size. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, argument 'out') when `dir` is not a directory or
 * cannot be written; on failure no report.html is changed and no file or directory of this call is left.
 */
export async function writeReport(dir: string, inputs: ReportInputs): Promise<{ readonly file: string; readonly bytes: number }> {
  checkOutputDir(dir);
  const html = await renderReportHtml(inputs);
  const file = join(dir, REPORT_FILE);
  const temporary = join(dir, `.${REPORT_FILE}.${process.pid}.tmp`);
  let created: string | undefined;
  try {
    created = mkdirSync(dir, { recursive: true });
    writeFileSync(temporary, html);
    renameSync(temporary, file);
  } catch (err) {
    try {
      unlinkSync(temporary);
    } catch {
      // never written
    }
    if (created !== undefined) rmSync(created, { recursive: true, force: true });
    throw new InvalidArgumentError(`--out: cannot write ${file}: ${(err as Error).message}`, { argument: 'out', cause: err });
  }
  return { file, bytes: Buffer.byteLength(html) };
}

/**
 * Writes `dir/report.html` for the embedded default machine with a bench report (what `dma-bounce bench --out`
 * adds). Returns and throws as writeReport().
 */
export function writeDefaultMachineReport(dir: string, bench: BenchReport): Promise<{ readonly file: string; readonly bytes: number }> {
  return writeReport(dir, { topology: buildTopology(DEFAULT_TOPOLOGY), source: 'the default machine', bench });
}
