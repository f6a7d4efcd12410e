// The report's charts, rendered to SVG when the page is built (vega-lite compiled, vega's headless SVG
// renderer), so the page carries pictures and no chart library. The bench charts are bench/chart.ts's own.
// vega and vega-lite are optional packages: they load (through bench/chart.ts) only when a chart is drawn.
import type { TopLevelSpec } from 'vega-lite';
import { loadChartLibraries, renderChart } from '../../bench/chart.js';
import type { BenchReport } from '../../bench/report.js';
import type { PolicyReport } from '../../bench/policies/run.js';
import type { ReplayReport } from './inputs.js';
import { occupancyPoints } from './occupancy.js';
import { SERIES_COLOURS } from './palette.js';

const CONFIG = {
  font: 'system-ui, sans-serif',
  background: 'white',
  range: { category: [...SERIES_COLOURS] },
  axisY: { labelLimit: 320 },
  legend: { orient: 'bottom' },
};

// Rejects with MissingDependencyError (ERR_MISSING_DEPENDENCY) when vega or vega-lite is not installed.
async function renderSpec(spec: object, description: string): Promise<string> {
  const { vega, vegaLite } = await loadChartLibraries();
  const full = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', description, config: CONFIG, ...spec } as unknown as TopLevelSpec;
  const view = new vega.View(vega.parse(vegaLite.compile(full).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** bench/chart.ts's charts of a bench report, as one SVG document. */
export function benchChartSvg(report: BenchReport): Promise<string> {
  return renderChart(report);
}

/** Throughput, latency percentiles and bytes copied per route and policy, as one SVG document. */
export function policiesChartSvg(report: PolicyReport): Promise<string> {
  const rows = report.results.map((r) => ({
    route: `${r.route} (${r.client})`,
    policy: r.policy,
    ok: r.ok,
    mibps: r.ok ? r.bytesPerSecond / 2 ** 20 : 0,
    copiedMiB: r.bytesCopied / 2 ** 20,
  }));
  const latency = report.results
    .filter((r) => r.ok)
    .flatMap((r) => (['p50', 'p90', 'p99'] as const).map((p) => ({ run: `${r.route} ${r.policy}`, percentile: p, us: r.latencyUs[p] })));
  const bars = (field: string, title: string) => ({
    title,
    data: { values: rows },
    mark: 'bar',
    encoding: {
      y: { field: 'route', type: 'nominal', title: null, sort: null },
      yOffset: { field: 'policy', sort: null },
      x: { field, type: 'quantitative', title: title.split(': ')[1] },
      color: { field: 'policy', type: 'nominal', sort: null, title: 'policy' },
    },
    width: 520,
  });
  return renderSpec(
    {
      title: { text: 'P2P policies', subtitle: `${report.workload.ios} I/Os of ${report.workload.ioSize} bytes, queue depth ${report.workload.queueDepth}` },
      vconcat: [
        bars('mibps', 'Throughput: MiB/s'),
        {
          title: 'Latency percentiles (successful runs)',
          data: { values: latency },
          layer: [
            { mark: { type: 'line', color: '#888' }, encoding: { y: { field: 'run', type: 'nominal', title: null, sort: null }, x: { field: 'us', type: 'quantitative' }, detail: { field: 'run' } } },
            {
              mark: { type: 'point', filled: true, size: 70 },
              encoding: {
                y: { field: 'run', type: 'nominal', title: null, sort: null },
                x: { field: 'us', type: 'quantitative', title: 'µs per I/O' },
                color: { field: 'percentile', type: 'nominal', title: 'percentile' },
                shape: { field: 'percentile', type: 'nominal' },
              },
            },
          ],
          width: 520,
        },
        bars('copiedMiB', 'Bytes the CPU copied: MiB'),
      ],
      resolve: { scale: { color: 'independent', shape: 'independent' }, legend: { color: 'independent' } },
    },
    'Throughput, latency percentiles and bytes copied for each P2P route under each policy',
  );
}

/** swiotlb slots in use over time (peaks kept when the samples are folded), as one SVG document. */
export function occupancyChartSvg(report: ReplayReport): Promise<string> {
  const points = occupancyPoints(report.poolOccupancy);
  const x = { field: 't', type: 'quantitative', title: 'seconds from the start' };
  return renderSpec(
    {
      title: report.title ?? 'swiotlb pool occupancy',
      data: { values: points },
      width: 640,
      height: 220,
      layer: [
        { mark: { type: 'area', opacity: 0.3, color: SERIES_COLOURS[0], interpolate: 'step-after' }, encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'used' } } },
        { mark: { type: 'line', color: SERIES_COLOURS[0], interpolate: 'step-after' }, encoding: { x, y: { field: 'used', type: 'quantitative', title: 'slots (2 KiB each)' } } },
        { mark: { type: 'line', color: SERIES_COLOURS[5], strokeDash: [6, 4], interpolate: 'step-after' }, encoding: { x, y: { field: 'total', type: 'quantitative' } } },
      ],
    },
    'swiotlb slots in use over time (solid) against the pool size (dashed)',
  );
}
