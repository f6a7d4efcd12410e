/// <reference lib="dom" />
// The report page in a real browser (headless Chromium), checked as a person would look at it: the tree's
// counts, the matrix's colours against `dma-bounce p2p --json`, a cell's explanation, keyboard movement with
// its announcements, every control reachable by Tab, the filters, the measurements, both colour schemes;
// no console error and no request beyond the page itself. Screenshots go to dist/test-artifacts/.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedBrowser } from '../dist/bench/browser.js';
import { loadLspci } from '../dist/src/pci/index.js';
import { deviceFacts, treeCounts } from '../dist/src/report/index.js';
import { testRng } from './support/random.js';
import { randomBenchReport, randomPolicyReport, randomReplay } from './support/report-fixtures.js';
import { example, makeReport, matrixLayout, openReport, p2pVerdicts, root, saveArtifact, visibleCellKinds, type OpenedReport } from './support/report-page.js';

const rng = testRng('report-browser');
const LSPCI = example('lspci-two-domains.txt');
const topology = loadLspci(readFileSync(LSPCI, 'utf8'));
const endpoints = topology.endpoints();
const verdicts = p2pVerdicts('--lspci', LSPCI);
const LETTER: Record<string, string> = { BUS_ADDR: 'B', THRU_HOST_BRIDGE: 'H', NOT_SUPPORTED: 'N' };

const inputs = mkdtempSync(join(tmpdir(), 'dma-bounce-report-inputs-'));
const bench = randomBenchReport(rng);
const policies = randomPolicyReport(rng);
const replay = randomReplay(rng);
writeFileSync(join(inputs, 'bench.json'), JSON.stringify(bench));
writeFileSync(join(inputs, 'policies.json'), JSON.stringify(policies));
writeFileSync(join(inputs, 'replay.json'), JSON.stringify(replay));
const file = makeReport('--lspci', LSPCI, '--bench', join(inputs, 'bench.json'), '--policies', join(inputs, 'policies.json'), '--replay', join(inputs, 'replay.json'));

let browser: LaunchedBrowser;
let opened: OpenedReport;
let page: Page;
beforeAll(async () => {
  browser = await launchChromium();
  opened = await openReport(browser, file);
  page = opened.page;
});
afterAll(async () => {
  if (page) await saveArtifact(page, 'report-lspci-two-domains-light');
  await browser?.close();
});

const status = () => page.textContent('#matrix-status');

async function cellPoint(row: number, col: number) {
  await page.locator('#matrix-canvas').scrollIntoViewIfNeeded();
  const l = await matrixLayout(page);
  const box = (await page.locator('#matrix-canvas').boundingBox())!;
  return { x: box.x + l.rowHeader + col * l.cell - l.scrollLeft + l.cell / 2, y: box.y + l.colHeader + row * l.cell - l.scrollTop + l.cell / 2 };
}

describe('the report page of examples/lspci-two-domains.txt', () => {
  it('loads with no console error and asks for nothing but itself', () => {
    expect(opened.consoleErrors).toEqual([]);
    expect(opened.requests).toEqual([opened.url]);
  });

  it('the tree shows every function once, with counts that match the topology', async () => {
    const kinds = await page.$$eval('#pci-tree li.device', (items) => items.map((li) => `${li.getAttribute('data-bdf')} ${li.getAttribute('data-kind')}`));
    expect(kinds.sort()).toEqual(topology.devices().map((d) => `${d.bdf} ${d.kind}`).sort());
    expect(await page.locator('#pci-tree li.host-bridge').count()).toBe(topology.hostBridges.length);
    const shown = Object.fromEntries(await page.$$eval('[data-count]', (dds) => dds.map((dd) => [dd.getAttribute('data-count'), Number(dd.textContent)])));
    expect(shown).toEqual({ ...treeCounts(topology) });
    expect(shown.endpoints).toBe(13);
    // Each function's line names its kind, IDs and class, as text a person can select.
    for (const device of topology.devices()) {
      const item = `li.device[data-bdf="${device.bdf}"]`;
      const line = await page.locator(`${item} > details > summary, ${item} > .leaf`).innerText();
      const facts = deviceFacts(device);
      expect(line).toContain(device.bdf);
      expect(line).toContain(device.kind);
      if (facts.ids) expect(line).toContain(`[${facts.ids}]`);
      if (!device.isBridge) expect(line).toContain(facts.deviceClass);
    }
  });

  it('collapses and expands the tree', async () => {
    await page.click('#tree-collapse');
    expect(await page.locator('#pci-tree details[open]').count()).toBe(0);
    expect(await page.locator('li.device[data-bdf="0000:03:00.0"]').isVisible()).toBe(false);
    await page.click('#tree-expand');
    expect(await page.locator('#pci-tree details:not([open])').count()).toBe(0);
    expect(await page.locator('li.device[data-bdf="0000:03:00.0"]').isVisible()).toBe(true);
  });

  it('the matrix has one cell per ordered pair, coloured as dma-bounce p2p --json says', async () => {
    await page.locator('#matrix-canvas').blur();
    const cells = await visibleCellKinds(page);
    expect(cells.size).toBe(endpoints.length ** 2); // 13 x 13 fit on screen
    for (let r = 0; r < endpoints.length; r++) {
      for (let c = 0; c < endpoints.length; c++) {
        const expected = r === c ? 'SELF' : verdicts.get(`${endpoints[r]!.bdf}>${endpoints[c]!.bdf}`)!.type;
        expect(cells.get(`${r},${c}`), `cell ${endpoints[r]!.bdf} -> ${endpoints[c]!.bdf}`).toBe(expected);
      }
    }
    // The legend counts the same pairs.
    for (const type of ['BUS_ADDR', 'THRU_HOST_BRIDGE', 'NOT_SUPPORTED']) {
      const count = [...verdicts.values()].filter((v) => v.type === type).length;
      expect(Number(await page.textContent(`[data-pair-count="${type}"]`))).toBe(count);
    }
  });

  it('a clicked cell shows the same verdict and reasons as dma-bounce p2p --json', async () => {
    for (let k = 0; k < 12; k++) {
      const r = rng.int(0, endpoints.length - 1);
      let c = rng.int(0, endpoints.length - 2);
      if (c >= r) c++;
      const p = await cellPoint(r, c);
      await page.mouse.click(p.x, p.y);
      const verdict = verdicts.get(`${endpoints[r]!.bdf}>${endpoints[c]!.bdf}`)!;
      const headline = await page.textContent('#pair-headline');
      expect(headline).toBe(`${endpoints[r]!.bdf} -> ${endpoints[c]!.bdf}: ${verdict.type}, distance ${verdict.distance}${verdict.acsRedirect ? ', ACS redirect' : ''}`);
      const text = await page.innerText('#pair-text');
      for (const reason of verdict.reasons) expect(text).toContain(reason);
      expect(await status()).toContain(`${LETTER[verdict.type]}: ${verdict.type}, distance ${verdict.distance}`);
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('matrix-canvas');
    }
  });

  it('arrow keys move cell by cell, the live region announces each cell, and the focus ring is drawn', async () => {
    await page.focus('#matrix-canvas');
    await page.keyboard.press('Control+Home');
    const n = endpoints.length;
    const layout = await matrixLayout(page);
    const pageRows = Math.floor((layout.height - layout.colHeader) / layout.cell);
    let row = 0;
    let col = 0;
    const keys = ['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End', 'PageUp', 'PageDown', 'Control+End', 'Control+Home'];
    const clamp = (v: number) => Math.max(0, Math.min(n - 1, v));
    expect(await page.getAttribute('#matrix-status', 'aria-live')).toBe('polite');
    for (let k = 0; k < 40; k++) {
      const key = rng.pick(keys);
      await page.keyboard.press(key);
      if (key === 'ArrowUp') row = clamp(row - 1);
      else if (key === 'ArrowDown') row = clamp(row + 1);
      else if (key === 'ArrowLeft') col = clamp(col - 1);
      else if (key === 'ArrowRight') col = clamp(col + 1);
      else if (key === 'Home') col = 0;
      else if (key === 'End') col = n - 1;
      else if (key === 'PageUp') row = clamp(row - pageRows);
      else if (key === 'PageDown') row = clamp(row + pageRows);
      else if (key === 'Control+End') [row, col] = [n - 1, n - 1];
      else [row, col] = [0, 0];
      const said = (await status())!;
      expect(said, `after ${key}`).toContain(`Row ${row + 1} of ${n}, column ${col + 1} of ${n}.`);
      if (row === col) expect(said).toContain(`Same function: ${endpoints[row]!.bdf}`);
      else {
        const v = verdicts.get(`${endpoints[row]!.bdf}>${endpoints[col]!.bdf}`)!;
        expect(said).toContain(`${LETTER[v.type]}: ${v.type}, distance ${v.distance}`);
        expect(said).toContain(`Provider ${endpoints[row]!.bdf}`);
        expect(said).toContain(`client ${endpoints[col]!.bdf}`);
      }
    }
    // The ring: the focus colour on the focused cell's edge, the cell's own colour inside it.
    const l = await matrixLayout(page);
    const x = l.rowHeader + col * l.cell - l.scrollLeft;
    const y = l.colHeader + row * l.cell - l.scrollTop;
    const [edge, focus] = await page.evaluate(([px, py]) => {
      const canvas = document.getElementById('matrix-canvas') as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(px!, py!, 1, 1).data;
      return [`${d[0]},${d[1]},${d[2]}`, getComputedStyle(document.documentElement).getPropertyValue('--focus').trim()];
    }, [x + 1, y + 1 + Math.floor(l.cell / 2)]);
    const hex = focus.replace('#', '');
    expect(edge).toBe([0, 2, 4].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join(','));
  });

  it('Tab reaches every control on the page', async () => {
    await page.click('#tree-expand');
    const controls = await page.$$eval('a[href], button, select, summary, [tabindex]:not([tabindex="-1"])', (els) =>
      els.filter((el) => (el as HTMLElement).offsetParent !== null || el.tagName === 'SUMMARY').map((el, i) => {
        (el as HTMLElement).dataset.control = String(i);
        return String(i);
      }),
    );
    expect(controls.length).toBeGreaterThan(25);
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const reached = new Set<string>();
    for (let k = 0; k < controls.length + 3; k++) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.control);
      if (id !== undefined) reached.add(id);
    }
    expect([...reached].sort()).toEqual([...controls].sort());
  });

  it('filters rows and columns by device class and sorts by reach', async () => {
    const classOf = new Map(endpoints.map((d) => [d.bdf, deviceFacts(d).deviceClass]));
    await page.selectOption('#matrix-filter-provider', 'GPU');
    await page.selectOption('#matrix-filter-client', 'storage');
    await page.focus('#matrix-canvas');
    await page.keyboard.press('Control+End');
    const gpus = endpoints.filter((d) => classOf.get(d.bdf) === 'GPU');
    const drives = endpoints.filter((d) => classOf.get(d.bdf) === 'storage');
    expect(await status()).toContain(`Row ${gpus.length} of ${gpus.length}, column ${drives.length} of ${drives.length}.`);
    await page.locator('#matrix-canvas').blur();
    const cells = await visibleCellKinds(page);
    expect(cells.size).toBe(gpus.length * drives.length);
    gpus.forEach((g, r) => drives.forEach((s, c) => expect(cells.get(`${r},${c}`)).toBe(verdicts.get(`${g.bdf}>${s.bdf}`)!.type)));

    await page.selectOption('#matrix-filter-provider', '');
    await page.selectOption('#matrix-filter-client', '');
    await page.selectOption('#matrix-sort', 'reach');
    const reach = (bdf: string) => [...verdicts.entries()].filter(([key, v]) => v.type === 'BUS_ADDR' && key.split('>').includes(bdf)).length;
    const best = Math.max(...endpoints.map((d) => reach(d.bdf)));
    await page.focus('#matrix-canvas');
    await page.keyboard.press('Control+Home');
    const first = /^Same function: (\S+)/.exec((await status())!)![1]!; // the corner cell pairs the first row with itself
    expect(reach(first)).toBe(best);
    await page.selectOption('#matrix-sort', 'tree');
  });

  it('shows the bench charts, the policies comparison and the replay occupancy', async () => {
    expect(await page.locator('#bench svg').count()).toBe(1);
    expect(await page.locator('#bench tbody tr').count()).toBe(bench.cases.length);
    expect(await page.locator('#policies tbody tr').count()).toBe(policies.results.length);
    expect(await page.locator('#policies svg').count()).toBe(1);
    const failed = policies.results.find((r: any) => !r.ok);
    expect(await page.innerText('#policies tbody')).toContain(failed.error);
    const peak = Math.max(...replay.poolOccupancy.map((s) => s.usedSlots));
    expect(await page.innerText('#replay')).toContain(`${peak} of ${replay.poolOccupancy[0]!.totalSlots} slots`);
    expect(await page.locator('#replay svg').count()).toBe(1);
    expect(await page.innerText('nav')).toMatch(/Machine\s+P2P matrix\s+Bench\s+Policies\s+Replay/);
  });
});

describe('the report page in a dark colour scheme', () => {
  it('draws light text on a dark page and a dark matrix background, with the same cell colours', async () => {
    const dark = await launchChromium({ colorScheme: 'dark' });
    try {
      const { page: p, consoleErrors } = await openReport(dark, file);
      const luminance = (css: string) => { const [r, g, b] = css.match(/\d+/g)!.map(Number); return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!; };
      const [pageBg, text] = await p.evaluate(() => [getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).color]);
      expect(luminance(pageBg!)).toBeLessThan(60);
      expect(luminance(text!)).toBeGreaterThan(180);
      const corner = await p.evaluate(() => Array.from((document.getElementById('matrix-canvas') as HTMLCanvasElement).getContext('2d')!.getImageData(2, 2, 1, 1).data));
      expect(luminance(`${corner[0]},${corner[1]},${corner[2]}`)).toBeLessThan(60);
      const cells = await visibleCellKinds(p);
      expect(cells.size).toBe(endpoints.length ** 2);
      for (const [key, kind] of cells) {
        const [r, c] = key.split(',').map(Number) as [number, number];
        expect(kind).toBe(r === c ? 'SELF' : verdicts.get(`${endpoints[r]!.bdf}>${endpoints[c]!.bdf}`)!.type);
      }
      expect(consoleErrors).toEqual([]);
      await saveArtifact(p, 'report-lspci-two-domains-dark');
    } finally {
      await dark.close();
    }
  });
});

describe('the README screenshot', () => {
  it.runIf(process.env.DMA_BOUNCE_WRITE_DOCS)('is taken from this page (DMA_BOUNCE_WRITE_DOCS=1)', async () => {
    await page.focus('#matrix-canvas');
    await page.keyboard.press('Control+Home');
    for (const key of ['ArrowDown', 'ArrowDown', 'ArrowRight', 'ArrowRight', 'ArrowRight']) await page.keyboard.press(key);
    await page.locator('#matrix').scrollIntoViewIfNeeded();
    const shot = join(root, 'docs/report-screenshot.png');
    await page.locator('#matrix').screenshot({ path: shot });
    copyFileSync(shot, join(root, 'dist/test-artifacts/report-readme.png'));
  });
});
