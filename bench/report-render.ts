// How fast the report is for a large machine: building the page for N endpoints (N x N cells), and in
// headless Chromium, from navigation to the first drawn matrix ("interactive": the page's
// dma-bounce-report-ready mark), then a keyboard jump to the far corner and a long scroll, each until the
// next frame. Fresh page per round; the median round and the range are reported.
// Run: npm run bench:report [-- --endpoints 400 --rounds 5 --json]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildTopology } from '../src/pci/topology.js';
import { renderReportHtml } from '../src/report/page.js';
import { launchChromium } from './browser.js';
import { syntheticMachine } from './report-machine.js';
import { median } from './median.js';

interface Round {
  readonly buildMs: number;
  readonly interactiveMs: number;
  readonly keyToFrameMs: number;
  readonly scrollToFrameMs: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { endpoints: { type: 'string', default: '400' }, rounds: { type: 'string', default: '5' }, json: { type: 'boolean' } } });
  const endpoints = Number(values.endpoints);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(endpoints) || endpoints < 1 || !Number.isInteger(rounds) || rounds < 1) throw new Error('--endpoints and --rounds take whole numbers >= 1');
  const dir = mkdtempSync(join(tmpdir(), 'dma-bounce-report-bench-'));
  const browser = await launchChromium();
  const results: Round[] = [];
  let bytes = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const t0 = performance.now();
      const topology = buildTopology(syntheticMachine(endpoints, round + 1));
      const html = await renderReportHtml({ topology, source: `${endpoints} synthetic endpoints` });
      const buildMs = performance.now() - t0;
      bytes = Buffer.byteLength(html);
      const file = join(dir, `report-${round}.html`);
      writeFileSync(file, html);
      const page = await browser.context.newPage();
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector('html[data-ready="true"]', { timeout: 60_000 });
      const timing = await page.evaluate(async () => {
        const frame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));
        const ready = performance.getEntriesByName('dma-bounce-report-ready')[0]!.startTime;
        const canvas = document.getElementById('matrix-canvas')!;
        const scroller = document.getElementById('matrix-scroller')!;
        canvas.focus();
        await frame();
        let t = performance.now();
        canvas.dispatchEvent(new KeyboardEvent('keydown', { key: 'End', ctrlKey: true, bubbles: true }));
        await frame();
        const key = performance.now() - t;
        t = performance.now();
        scroller.scrollTop = 0;
        scroller.scrollLeft = 0;
        await frame();
        await frame();
        const scroll = performance.now() - t;
        return { ready, key, scroll };
      });
      await page.close();
      results.push({ buildMs, interactiveMs: timing.ready, keyToFrameMs: timing.key, scrollToFrameMs: timing.scroll });
    }
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = Object.fromEntries(
    (['buildMs', 'interactiveMs', 'keyToFrameMs', 'scrollToFrameMs'] as const).map((k) => {
      const xs = results.map((r) => r[k]);
      return [k, { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }];
    }),
  );
  if (values.json) {
    process.stdout.write(JSON.stringify({ endpoints, cells: endpoints * endpoints, htmlBytes: bytes, rounds, summary, results }, null, 2) + '\n');
    return;
  }
  const row = (label: string, k: keyof typeof summary) => `${label.padEnd(44)} ${summary[k]!.median.toFixed(0).padStart(6)} ms  (${summary[k]!.min.toFixed(0)}-${summary[k]!.max.toFixed(0)})`;
  process.stdout.write(
    `report page, ${endpoints} endpoints (${endpoints * endpoints} cells), ${(bytes / 2 ** 20).toFixed(2)} MiB of HTML, ${rounds} rounds (median, range)\n` +
      `${row('build the page (topology, matrix, HTML)', 'buildMs')}\n` +
      `${row('navigation to first matrix frame (interactive)', 'interactiveMs')}\n` +
      `${row('Ctrl+End to the far corner, until next frame', 'keyToFrameMs')}\n` +
      `${row('scroll back to the start, two frames', 'scrollToFrameMs')}\n`,
  );
}

await main();
