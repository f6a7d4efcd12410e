/// <reference lib="dom" />
// Opening a generated report in headless Chromium the way a person would, and reading what they would see:
// console errors, every request the page makes, the matrix's cells by their pixels, screenshots.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import type { LaunchedBrowser } from '../../dist/bench/browser.js';
import { CELL_KINDS, CELL_STYLES, type CellKind } from '../../dist/src/report/index.js';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const example = (name: string) => join(root, 'examples', name);
export const ARTIFACTS = join(root, 'dist/test-artifacts');

/** Runs the CLI; returns exit code and output. */
export function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'dist/src/cli/main.js'), ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `dma-bounce report ...args --out <fresh dir>`; returns report.html's path (throws with stderr on failure). */
export function makeReport(...args: string[]): string {
  const out = mkdtempSync(join(tmpdir(), 'dma-bounce-report-'));
  const r = cli('report', ...args, '--out', out);
  if (r.code !== 0) throw new Error(`dma-bounce report failed (${r.code}): ${r.stderr}`);
  return join(out, 'report.html');
}

/** The p2p verdicts, keyed "provider>client". */
export function p2pVerdicts(...source: string[]): Map<string, { type: string; distance: number; acsRedirect: boolean; reasons: string[] }> {
  const r = cli('p2p', ...source, '--json');
  if (r.code !== 0) throw new Error(r.stderr);
  return new Map(JSON.parse(r.stdout).pairs.map((p: any) => [`${p.provider}>${p.client}`, p]));
}

/** An opened report, with what it printed to the console and every request it made. */
export interface OpenedReport {
  readonly page: Page;
  readonly url: string;
  readonly consoleErrors: string[];
  readonly requests: string[];
}

export async function openReport(browser: LaunchedBrowser, file: string): Promise<OpenedReport> {
  const page = await browser.context.newPage();
  const url = pathToFileURL(file).href;
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    // Chromium's hint about repeated getImageData() is about the tests' own pixel reads, not the page.
    if ((message.type() === 'error' || message.type() === 'warning') && !message.text().includes('willReadFrequently')) consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  page.on('request', (request) => requests.push(request.url()));
  // Anything but the page itself is refused (and recorded above), so a stray fetch cannot reach the network.
  await page.route('**/*', (route) => (route.request().url() === url ? route.continue() : route.abort()));
  await page.goto(url);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 20_000 });
  return { page, url, consoleErrors, requests };
}

/** The matrix's layout as the page publishes it on the canvas. */
export async function matrixLayout(page: Page) {
  return page.evaluate(() => {
    const canvas = document.getElementById('matrix-canvas') as HTMLCanvasElement;
    const scroller = document.getElementById('matrix-scroller')!;
    return {
      rowHeader: Number(canvas.dataset.rowHeader),
      colHeader: Number(canvas.dataset.colHeader),
      cell: Number(canvas.dataset.cell),
      rows: Number(canvas.dataset.rows),
      cols: Number(canvas.dataset.cols),
      scrollLeft: scroller.scrollLeft,
      scrollTop: scroller.scrollTop,
      width: canvas.width,
      height: canvas.height,
    };
  });
}

const hexRgb = (hex: string) => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
const BY_COLOUR = new Map(CELL_KINDS.map((kind) => [hexRgb(CELL_STYLES[kind].fill).join(','), kind]));

/**
 * The kind of every cell fully on screen, by the colour of a pixel inside it clear of letters and the focus
 * ring: a map "row,col" -> kind (or "unknown rgb" when the colour is no palette colour).
 */
export async function visibleCellKinds(page: Page): Promise<Map<string, CellKind | string>> {
  // Sampled inside the page: one pixel per cell crosses over, not the whole canvas.
  const samples = await page.evaluate(() => {
    const canvas = document.getElementById('matrix-canvas') as HTMLCanvasElement;
    const scroller = document.getElementById('matrix-scroller')!;
    const [rowHeader, colHeader, cell, rows, cols] = ['rowHeader', 'colHeader', 'cell', 'rows', 'cols'].map((key) => Number(canvas.dataset[key]));
    const { width, height } = canvas;
    const data = canvas.getContext('2d')!.getImageData(0, 0, width, height).data;
    const out: [number, number, string][] = [];
    const sx = scroller.scrollLeft;
    const sy = scroller.scrollTop;
    for (let row = Math.ceil(sy / cell!); row < rows! && colHeader! + (row + 1) * cell! - sy <= height; row++) {
      for (let col = Math.ceil(sx / cell!); col < cols! && rowHeader! + (col + 1) * cell! - sx <= width; col++) {
        const i = ((colHeader! + row * cell! - sy + 4) * width + rowHeader! + col * cell! - sx + 4) * 4;
        out.push([row, col, `${data[i]},${data[i + 1]},${data[i + 2]}`]);
      }
    }
    return out;
  });
  return new Map(samples.map(([row, col, rgb]) => [`${row},${col}`, BY_COLOUR.get(rgb) ?? `unknown ${rgb}`]));
}

/** Saves a full-page screenshot under dist/test-artifacts/. */
export async function saveArtifact(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
