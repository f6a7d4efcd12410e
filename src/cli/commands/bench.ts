// dma-bounce bench: the throughput report (kernels, engine, mapper) with baselines from the same run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { loadChartLibraries, renderChart } from '../../../bench/chart.js';
import { buildNative, type NativeCopier } from '../../../bench/native/addon.js';
import { formatMeasure, measureOf, ratioContradicted, runBench, selectCases, type BenchReport } from '../../../bench/report.js';
import { parseOptions } from '../args.js';
import type { Command, Io } from '../command.js';
import { EXIT, UsageError } from '../errors.js';
import { formatTable } from '../output.js';
import { checkOutputPath } from '../output-path.js';
import { writeDefaultMachineReport } from '../../report/index.js';

const usage = `Usage: dma-bounce bench [--quick] [--native] [--json] [--out DIR] [--only PREFIX,...]

Runs the benchmark.js suites in one process: kernel copies against Buffer.copy, copyWithin and
TypedArray.set; the copy engine against piscina.run() and inline copies; the DMA mapper. Every
ratio compares two figures measured in this run: a case and its baselines run together, five
rounds over (one with --quick), and the ratio shown is the median of the per-round ratios, with
their range in brackets. A ratio marked "?" had rounds on both sides of 1; such ratios, figures
with a high relative error, rounds that disagree and a busy machine are listed as warnings on
stderr (and under "warnings" in the JSON). The header shows a cache line's round trip between two
threads at the start and the end ("core-to-core round trip"); when it is above 300 ns, moved more
than 2x or could not be timed (a busy machine), the cases that hand work to a worker thread are
named in a warning, as they move with it.

Options:
  --quick            short runs, no 64 MiB cases
  --native           build a small native helper with the C compiler ($CC, else cc) and run
                     native code in the same rounds as the cases it bounds: each scatter-gather
                     table by glibc memcpy and by a 16-byte vector loop (kernel/sg/native-*), the
                     64 MiB copy by one and two threads (engine/parallel/64MiB/native-*); the
                     ratios show in the AGAINST NATIVE column. Without a compiler, or when the
                     build fails, the bench says so once and runs without them
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
    native: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(usage);
    return EXIT.OK;
  }
  const quick = values.quick ?? false;
  const only = values.only !== undefined ? values.only.split(',').filter(Boolean) : [];
  // Native baselines: built before anything runs; a machine without a compiler runs without them.
  let native: NativeCopier | undefined;
  let nativeNote = 'off';
  if (values.native) {
    const built = buildNative();
    if (built.ok) {
      native = built.native;
      nativeNote = `built with ${built.compiler}`;
    } else {
      nativeNote = built.reason;
      io.stderr(`bench: --native: ${built.reason}: running without native baselines\n`);
    }
  }
  if (values.only !== undefined && selectCases(quick, only, native).length === 0) {
    const families = [...new Set(selectCases(quick, [], native).map((c) => c.name.split('/')[0] + '/'))].join(', ');
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
      ...(native ? { native } : {}),
      nativeNote,
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
  const withNative = report.cases.some((row) => row.ceiling);
  const against = (c: { ratio: number; ratios: readonly number[]; name: string } | undefined) =>
    c ? `${c.ratio.toFixed(2)}x${ratioContradicted(c.ratios) ? '?' : ''}${spread(c.ratios)} vs ${c.name}` : '';
  const rows = report.cases.map((row) => {
    const [measure, value] = measureOf(row);
    const cells = [row.name, formatMeasure(measure, value), `±${row.rme.toFixed(1)}%`, String(row.samples), against(row.baseline)];
    return withNative ? [...cells, against(row.ceiling)] : cells;
  });
  const env = report.environment;
  io.stdout(`node ${env.node} on ${env.cpus} x ${env.cpuModel}${env.quick ? ' (quick)' : ''}${env.complete ? '' : ' (stopped early)'}${env.native === 'off' ? '' : `; native: ${env.native}`}${roundTripText(env.coreRoundTripNs)}\n\n`);
  const head = ['CASE', 'RESULT', 'RME', 'SAMPLES', 'AGAINST THE SAME RUN'];
  const align = ['left', 'right', 'right', 'right', 'left'] as const;
  io.stdout(withNative ? formatTable([...head, 'AGAINST NATIVE'], rows, [...align, 'left']) : formatTable(head, rows, [...align]));
  if (report.warnings.length > 0) io.stdout(`\n${report.warnings.length} warning(s) on stderr: treat the figures they name with care\n`);
  return done;
}

// "; core-to-core round trip 112 -> 118 ns" (start -> end), or nothing when it was not measured.
function roundTripText(ns: { readonly start: number | null; readonly end: number | null } | undefined): string {
  if (!ns || ns.start === null || ns.end === null) return '';
  return `; core-to-core round trip ${Math.round(ns.start)} -> ${Math.round(ns.end)} ns`;
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
