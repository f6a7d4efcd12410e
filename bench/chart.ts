// The bench report as a picture: one SVG made with vega-lite (rendered headless by vega, no
// canvas needed): kernel copy throughput against size per method, scatter-gather throughput,
// engine latency against piscina.run(), and the mapper's and engine's rates.
// vega and vega-lite (about half of a full install) are optional: a library install does not get
// them, so they load only when a chart is asked for.
import type { TopLevelSpec } from 'vega-lite';
import { MissingDependencyError } from '../src/cli/errors.js';
import type { BenchReport } from './report.js';
import { measureOf } from './report.js';

/** The packages the chart needs, as `npm install` takes them (the versions package.json asks for). */
export const CHART_PACKAGES = ['vega@~5.33.1', 'vega-lite@~5.23.0'] as const;

type Vega = typeof import('vega');
type VegaLite = typeof import('vega-lite');

/**
 * Loads vega and vega-lite. Resolves with both; rejects with MissingDependencyError
 * (ERR_MISSING_DEPENDENCY, `packages` what to install) when either is not installed.
 */
export async function loadChartLibraries(): Promise<{ vega: Vega; vegaLite: VegaLite }> {
  try {
    const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
    return { vega, vegaLite };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err;
    throw new MissingDependencyError(
      `the chart needs the optional packages vega and vega-lite, which are not installed: run npm install ${CHART_PACKAGES.join(' ')} (or leave out --out)`,
      { packages: CHART_PACKAGES, cause: err },
    );
  }
}

const GiB = 2 ** 30;

/** Renders the report's charts as one SVG document. Rejects with ERR_MISSING_DEPENDENCY when vega or vega-lite is missing. */
export async function renderChart(report: BenchReport): Promise<string> {
  const { vega, vegaLite } = await loadChartLibraries();
  const rows = report.cases.map((row) => {
    const [measure, value] = measureOf(row);
    return { name: row.name, measure, value };
  });
  const copy = rows
    .filter((r) => r.name.startsWith('kernel/copy/'))
    .map((r) => { const [, , method, size] = r.name.split('/'); return { method, size, bytes: sizeBytes(size!), gibps: r.value / GiB }; });
  const sg = rows
    .filter((r) => r.name.startsWith('kernel/sg/'))
    .map((r) => { const [, , method, label] = r.name.split('/'); return { method, segment: sgLabel(label!), gibps: r.value / GiB }; });
  const latency = rows.filter((r) => r.measure === 'latencySeconds').map((r) => ({ name: r.name, us: r.value * 1e6 }));
  const throughput = rows
    .filter((r) => r.measure === 'bytesPerSecond' && (r.name.startsWith('engine/') || r.name.startsWith('map/')))
    .map((r) => ({ name: r.name, gibps: r.value / GiB }));
  const rates = rows
    .filter((r) => r.measure === 'segmentsPerSecond' || r.measure === 'opsPerSecond')
    .map((r) => ({ name: r.name, millions: r.value / 1e6, unit: r.measure === 'segmentsPerSecond' ? 'segments/s' : 'map+unmap pairs/s' }));

  const panels: object[] = [];
  if (copy.length) {
    panels.push({
      title: 'Single copy: throughput against size (same shared memory, same run)',
      data: { values: copy },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'bytes', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'copy size (bytes)' },
        y: { field: 'gibps', type: 'quantitative', title: 'GiB/s' },
        color: { field: 'method', type: 'nominal' },
      },
      width: 520, height: 220,
    });
  }
  if (sg.length) panels.push(groupedBars('Scatter-gather tables', sg, 'segment', 'method', 'gibps', 'GiB/s'));
  if (latency.length) panels.push(bars('One 4 KiB copy, submit to completion (median)', latency, 'us', 'µs'));
  if (throughput.length) panels.push(bars('Engine and mapper throughput', throughput, 'gibps', 'GiB/s'));
  if (rates.length) panels.push(bars('Mapper and swiotlb rates', rates, 'millions', 'million per second'));

  const env = report.environment;
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'dma-bounce bench', subtitle: `node ${env.node}, ${env.cpus} x ${env.cpuModel}, ${env.date}${env.quick ? ' (quick)' : ''}` },
    vconcat: panels,
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    config: { font: 'sans-serif', axisY: { labelLimit: 320 } },
  } as unknown as TopLevelSpec;
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function bars(title: string, values: object[], field: string, axis: string): object {
  return {
    title,
    data: { values },
    mark: 'bar',
    encoding: {
      y: { field: 'name', type: 'nominal', sort: null, title: null },
      x: { field, type: 'quantitative', title: axis },
    },
    width: 520,
  };
}

function groupedBars(title: string, values: object[], group: string, color: string, field: string, axis: string): object {
  return {
    title,
    data: { values },
    mark: 'bar',
    encoding: {
      y: { field: color, type: 'nominal', title: null },
      x: { field, type: 'quantitative', title: axis },
      row: { field: group, type: 'nominal', title: null },
      color: { field: color, type: 'nominal', legend: null },
    },
    spacing: 4,
    width: 520,
  };
}

function sizeBytes(label: string): number {
  const m = /^(\d+)(B|KiB|MiB|GiB)$/.exec(label);
  if (!m) return Number.NaN;
  return Number(m[1]) * { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 }[m[2] as 'B' | 'KiB' | 'MiB' | 'GiB'];
}

// "4KiBx64" -> "64 x 4KiB"; a bare size means the contract's 1024 segments.
function sgLabel(label: string): string {
  const [size, count = '1024'] = label.split('x');
  return `${count} x ${size}`;
}
