/// <reference lib="dom" />
// A machine with 400 endpoints (160,000 cells) in a real browser: the page stays usable. The matrix is drawn
// in a canvas the size of the window (no element per cell), every window of cells shows the verdicts of its
// pairs wherever the keyboard takes it, and the far corner is reached and explained. Speed is measured in
// bench/report-render.ts, not here.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedBrowser } from '../dist/bench/browser.js';
import { syntheticMachine } from '../dist/bench/report-machine.js';
import { buildTopology, mapType } from '../dist/src/pci/index.js';
import { testRng } from './support/random.js';
import { makeReport, matrixLayout, openReport, saveArtifact, visibleCellKinds, type OpenedReport } from './support/report-page.js';

const rng = testRng('report-large');
const ENDPOINTS = 400;
const seed = rng.int(1, 1e9);
const spec = syntheticMachine(ENDPOINTS, seed);
const topology = buildTopology(spec);
const endpoints = topology.endpoints();
const specFile = join(mkdtempSync(join(tmpdir(), 'dma-bounce-report-large-')), 'machine.json');
writeFileSync(specFile, JSON.stringify(spec));
const file = makeReport('--topology', specFile);

let browser: LaunchedBrowser;
let opened: OpenedReport;
beforeAll(async () => {
  browser = await launchChromium();
  opened = await openReport(browser, file);
}, 60_000);
afterAll(async () => {
  if (opened) await saveArtifact(opened.page, 'report-400-endpoints');
  await browser?.close();
});

async function checkWindow(): Promise<number> {
  const cells = await visibleCellKinds(opened.page);
  const layout = await matrixLayout(opened.page);
  expect(layout.rows).toBe(ENDPOINTS);
  for (const [key, kind] of cells) {
    const [r, c] = key.split(',').map(Number) as [number, number];
    const expected = r === c ? 'SELF' : mapType(endpoints[r]!, endpoints[c]!).type;
    expect(kind, `cell ${endpoints[r]!.bdf} -> ${endpoints[c]!.bdf}`).toBe(expected);
  }
  return cells.size;
}

describe(`a machine of ${ENDPOINTS} endpoints (seed ${seed})`, () => {
  it('loads with no console error and no request, and draws no element per cell', async () => {
    expect(endpoints).toHaveLength(ENDPOINTS);
    expect(opened.consoleErrors).toEqual([]);
    expect(opened.requests).toEqual([opened.url]);
    const { elements, canvasWidth, canvasHeight, viewport } = await opened.page.evaluate(() => {
      const canvas = document.getElementById('matrix-canvas') as HTMLCanvasElement;
      return { elements: document.getElementsByTagName('*').length, canvasWidth: canvas.width, canvasHeight: canvas.height, viewport: [innerWidth, innerHeight] };
    });
    expect(elements).toBeLessThan(20 * topology.devices().length); // the tree's elements, not the matrix's 160,000 cells
    expect(canvasWidth).toBeLessThanOrEqual(viewport[0]!);
    expect(canvasHeight).toBeLessThanOrEqual(viewport[1]!);
  });

  it('every window the keyboard reaches shows the verdicts of its pairs, out to the far corner', async () => {
    const { page } = opened;
    await page.locator('#matrix-canvas').blur();
    expect(await checkWindow()).toBeGreaterThan(100);
    await page.focus('#matrix-canvas');
    for (let jump = 0; jump < 4; jump++) {
      const downs = rng.int(1, 12);
      for (let k = 0; k < downs; k++) await page.keyboard.press('PageDown');
      const rights = rng.int(1, 40);
      for (let k = 0; k < rights; k++) await page.keyboard.press('ArrowRight');
      const said = (await page.textContent('#matrix-status'))!;
      const [, row, col] = /Row (\d+) of 400, column (\d+) of 400\./.exec(said)!.map(Number) as [number, number, number];
      const [p, c] = [endpoints[row - 1]!, endpoints[col - 1]!];
      if (p !== c) expect(said).toContain(`${mapType(p, c).type}, distance ${mapType(p, c).distance}`);
      await page.locator('#matrix-canvas').blur();
      expect(await checkWindow()).toBeGreaterThan(100);
      await page.focus('#matrix-canvas');
    }
    await page.keyboard.press('Control+End');
    expect(await page.textContent('#matrix-status')).toContain('Row 400 of 400, column 400 of 400.');
    await page.keyboard.press('ArrowLeft');
    const [p, c] = [endpoints[399]!, endpoints[398]!];
    expect(await page.textContent('#pair-headline')).toBe(`${p.bdf} -> ${c.bdf}: ${mapType(p, c).type}, distance ${mapType(p, c).distance}${mapType(p, c).acsRedirect ? ', ACS redirect' : ''}`);
    await page.locator('#matrix-canvas').blur();
    await checkWindow();
  });
});
