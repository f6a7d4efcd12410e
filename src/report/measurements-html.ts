// The measurement sections: the bench report's charts and figures, the policies comparison, a replay's pool
// occupancy. Each chart is an SVG rendered when the page is built, with its numbers beside it as a table.
import { formatMeasure, measureOf, type BenchReport } from '../../bench/report.js';
import type { PolicyReport } from '../../bench/policies/run.js';
import { formatSize } from '../size.js';
import { benchChartSvg, occupancyChartSvg, policiesChartSvg } from './charts.js';
import { escapeHtml } from './html.js';
import type { ReplayReport } from './inputs.js';
import { occupancySummary } from './occupancy.js';

const SLOT_BYTES = 2048;

function figure(svg: string, caption: string): string {
  return `<figure class="chart"><div class="chart-card">${svg}</div><figcaption>${caption}</figcaption></figure>`;
}

/** The bench section: bench/chart.ts's charts and every case's figure. */
export async function benchSectionHtml(report: BenchReport): Promise<string> {
  const env = report.environment;
  const rows = report.cases.map((row) => {
    const [measure, value] = measureOf(row);
    const ratio = row.baseline ? `${row.baseline.ratio.toFixed(2)}x vs ${escapeHtml(row.baseline.name)}` : '';
    return `<tr><td><code>${escapeHtml(row.name)}</code></td><td class="num">${formatMeasure(measure, value)}</td><td class="num">${typeof row.rme === 'number' ? `±${row.rme.toFixed(1)}%` : ''}</td><td>${ratio}</td></tr>`;
  });
  return `<section id="bench" aria-labelledby="bench-title">
<h2 id="bench-title">Bench</h2>
<p>node ${escapeHtml(env.node)} on ${env.cpus} x ${escapeHtml(env.cpuModel)}, ${escapeHtml(env.date)}${env.quick ? ' (quick)' : ''}${env.complete === false ? ' (stopped early)' : ''}; ${report.cases.length} cases${roundTripHtml(env.coreRoundTripNs)}.</p>
${figure(await benchChartSvg(report), 'Every ratio compares figures measured in the same run.')}
<details><summary>The figures as a table</summary>
<table class="data"><thead><tr><th scope="col">case</th><th scope="col">result</th><th scope="col">RME</th><th scope="col">against the same run</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table></details>
</section>`;
}

// "; a cache line's round trip between two threads: 112 ns at the start, 118 ns at the end".
function roundTripHtml(ns: { readonly start: number | null; readonly end: number | null } | undefined): string {
  if (!ns || typeof ns.start !== 'number' || typeof ns.end !== 'number') return '';
  return `; a cache line's round trip between two threads: ${Math.round(ns.start)} ns at the start, ${Math.round(ns.end)} ns at the end`;
}

/** The policies section: per route and policy, throughput, latency percentiles and bytes copied. */
export async function policiesSectionHtml(report: PolicyReport): Promise<string> {
  const w = report.workload;
  const rows = report.results.map((r) => {
    const dash = '<td class="num">-</td>';
    const figures = r.ok
      ? `<td class="num">${(r.bytesPerSecond / 2 ** 20).toFixed(0)}</td><td class="num">${r.latencyUs.p50.toFixed(1)}</td><td class="num">${r.latencyUs.p90.toFixed(1)}</td><td class="num">${r.latencyUs.p99.toFixed(1)}</td>`
      : dash.repeat(4);
    return `<tr><td>${r.route}</td><td><code>${escapeHtml(r.provider)}</code> → <code>${escapeHtml(r.client)}</code></td><td>${escapeHtml(r.policy)}</td><td>${r.ok ? 'ok' : `failed: <code>${escapeHtml(r.error ?? 'unknown')}</code>`}</td>${figures}<td class="num">${(r.bytesCopied / 2 ** 20).toFixed(1)} MiB</td><td class="num">${(r.bounceHighWaterBytes / 1024).toFixed(0)} KiB</td><td class="num">${r.corrupted}</td></tr>`;
  });
  const chart = report.results.length > 0 ? figure(await policiesChartSvg(report), 'reject is mainline; bounce lets the DMA mapper bounce through swiotlb; staged copies through a host buffer with the copy engine.') : '<p>The report has no results.</p>';
  return `<section id="policies" aria-labelledby="policies-title">
<h2 id="policies-title">P2P policies</h2>
<p>${w.ios} I/Os of ${formatSize(w.ioSize)} per route and policy, queue depth ${w.queueDepth}, half device reads and half device writes.</p>
<table class="data"><thead><tr><th scope="col">route</th><th scope="col">provider → client</th><th scope="col">policy</th><th scope="col">result</th><th scope="col">MiB/s</th><th scope="col">p50 µs</th><th scope="col">p90 µs</th><th scope="col">p99 µs</th><th scope="col">copied</th><th scope="col">swiotlb high water</th><th scope="col">corrupted</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
${chart}
</section>`;
}

/** The replay section: swiotlb slots in use over time, with the peak. */
export async function replaySectionHtml(report: ReplayReport): Promise<string> {
  const s = occupancySummary(report.poolOccupancy);
  const pct = s.peakTotal > 0 ? ((100 * s.peakUsed) / s.peakTotal).toFixed(1) : '0';
  return `<section id="replay" aria-labelledby="replay-title">
<h2 id="replay-title">Replay: swiotlb pool occupancy</h2>
<dl class="counts">
<div><dt>samples</dt><dd>${s.samples}</dd></div>
<div><dt>time span</dt><dd>${s.start} s to ${s.end} s</dd></div>
<div><dt>peak</dt><dd>${s.peakUsed} of ${s.peakTotal} slots (${pct}%, ${formatSize(s.peakUsed * SLOT_BYTES)}) at ${s.peakAt} s</dd></div>
<div><dt>largest pool</dt><dd>${s.maxTotal} slots (${formatSize(s.maxTotal * SLOT_BYTES)})</dd></div>
</dl>
${figure(await occupancyChartSvg(report), 'Solid: slots in use (the shaded band spans the lowest and highest of the samples folded into each point). Dashed: slots in the pool.')}
</section>`;
}
