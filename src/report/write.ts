// Writing DIR/report.html so that a failure leaves nothing behind: the page is rendered first, then written
// to a temporary file in DIR and renamed over report.html; a directory this call created is removed again.
import { mkdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from '../../bench/report.js';
import { OutputPathError } from '../cli/errors.js';
import { checkOutputPath } from '../cli/output-path.js';
import { DEFAULT_TOPOLOGY } from '../dma/default-topology.js';
import { buildTopology } from '../pci/topology.js';
import { renderReportHtml, type ReportInputs } from './page.js';

/** The report's file name inside the output directory. */
export const REPORT_FILE = 'report.html';

/**
 * Renders the report and writes `dir/report.html` (creating `dir` if needed). Resolves with the file's path
 * and size. Rejects with OutputPathError (ERR_OUTPUT_PATH, `flag` '--out') when `dir` is not a directory or
 * cannot be written, and with MissingDependencyError (ERR_MISSING_DEPENDENCY) when a chart is asked for and
 * vega or vega-lite is missing; on failure no report.html is changed and no file or directory of this call
 * is left.
 */
export async function writeReport(dir: string, inputs: ReportInputs): Promise<{ readonly file: string; readonly bytes: number }> {
  checkOutputPath(dir, '--out', 'directory');
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
    throw new OutputPathError(`--out ${dir}: cannot write ${file}: ${(err as Error).message}`, { path: dir, flag: '--out', cause: err });
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
