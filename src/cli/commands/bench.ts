// dma-bounce bench: the throughput report (kernels, engine, mapper) with baselines from the same run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { loadChartLibraries, renderChart } from '../../../bench/chart.js';
import { formatMeasure, measureOf, ratioContradicted, runBench, selectCases, type BenchReport } from '../../../bench/report.js';
import { parseOptions } from '../args.js';
import type { Command, Io } from '../command.js';
import { EXIT, UsageError } from '../errors.js';
import { formatTable } from '../output.js';
import { checkOutputPath } from '../output-path.js';
import { writeDefaultMachineReport } from '../../report/index.js';

const usage = `Usage: dma-bounce bench [--quick] [--json] [--out DIR] [--only PREFIX,...]

Runs the benchmark.js suites in one process: kernel copies against Buffer.copy, copyWithin and
TypedArray.set; the copy engine against piscina.run() and inline copies; the DMA mapper. Every
ratio compares two figures measured in this run: a case and its baselines run together, five
rounds over (one with --quick), and the ratio shown is the median of the per-round ratios, with
their range in brackets. A ratio marked "?" had rounds on both sides of 1; such ratios, figures
with a high relative error, rounds that disagree and a busy machine are listed as warnings on
stderr (and under "warnings" in the JSON).

Options:
  --quick            short runs, no 64 MiB cases
  --json             print the report { environment, cases } as one JSON document
  --out DIR          also write DIR/report.json, DIR/chart.svg (the figures as charts) and
                     DIR/report.html (the default machine and these charts, as dma-bounce report
                     writes it); the charts need the optional packages vega and vega-lite
  --only PREFIX,...  only cases whose name starts with one of these (e.g. kernel/,engine/roundtrip)
  -h, --help         show this help
`;

async function run(argv: string[], io: Io): Promise<number> {
  const values = parseOptions('bench', argv, {
    quick: { type: 'boolean' },
    json: { type: 'boolean' },
    out: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(usage);
    return EXIT.OK;
  }
  const quick = values.quick ?? false;
  const only = values.only !== undefined ? values.only.split(',').filter(Boolean) : [];
  if (values.only !== undefined && selectCases(quick, only).length === 0) {
    const families = [...new Set(selectCases(quick, []).map((c) => c.name.split('/')[0] + '/'))].join(', ');
    throw new UsageError(`bench: --only ${values.only} matches no case${quick ? ' of --quick' : ''} (names start with ${families}): nothing to run`, { flag: '--only' });
  }
  // Before the long run: where the report goes, and what the chart needs.
  const out = values.out !== undefined ? checkOutputPath(values.out, '--out', 'directory') : undefined;
  if (out !== undefined) await loadChartLibraries();
  let stop = false;
  const onSignal = () => {
    stop = true;
    io.stderr('\nstopping after the current case (Ctrl-C again to abort)\n');
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: 'bench [{bar}] {value}/{total} {case}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  let report: BenchReport;
  try {
    report = await runBench({
      quick,
      only,
      shouldStop: () => stop,
      onProgress: (done, total, name) => {
        if (bar) {
          if (done === 0) bar.start(total, 0, { case: name });
          bar.update(done, { case: name });
        } else if (name) {
          io.stderr(`[${done + 1}/${total}] ${name}\n`);
        }
      },
    });
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', onSignal);
  }
  const done = stop ? EXIT.INTERRUPTED : EXIT.OK;
  if (report.cases.length === 0) {
    io.stderr('bench: stopped before any case finished: nothing to report\n');
    return stop ? EXIT.INTERRUPTED : EXIT.FAILURE;
  }
  if (out !== undefined) {
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(out, 'chart.svg'), await renderChart(report));
    await writeDefaultMachineReport(out, report);
  }
  for (const warning of report.warnings) io.stderr(`bench: warning: ${warning}\n`);
  if (values.json) {
    io.stdout(JSON.stringify(report, null, 2) + '\n');
    return done;
  }
  const rows = report.cases.map((row) => {
    const [measure, value] = measureOf(row);
    const against = row.baseline
      ? `${row.baseline.ratio.toFixed(2)}x${ratioContradicted(row.baseline.ratios) ? '?' : ''}${spread(row.baseline.ratios)} vs ${row.baseline.name}`
      : '';
    return [row.name, formatMeasure(measure, value), `±${row.rme.toFixed(1)}%`, String(row.samples), against];
  });
  const env = report.environment;
  io.stdout(`node ${env.node} on ${env.cpus} x ${env.cpuModel}${env.quick ? ' (quick)' : ''}${env.complete ? '' : ' (stopped early)'}\n\n`);
  io.stdout(formatTable(['CASE', 'RESULT', 'RME', 'SAMPLES', 'AGAINST THE SAME RUN'], rows, ['left', 'right', 'right', 'right', 'left']));
  if (report.warnings.length > 0) io.stdout(`\n${report.warnings.length} warning(s) on stderr: treat the figures they name with care\n`);
  return done;
}

// The per-round ratios' range, when there was more than one round: " (3.61-4.20)".
function spread(ratios: readonly number[]): string {
  if (ratios.length < 2) return '';
  return ` (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`;
}

export const command: Command = {
  name: 'bench',
  summary: 'throughput of kernels, copy engine and DMA mapper against baselines from the same run',
  usage,
  run,
};
