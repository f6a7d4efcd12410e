// dma-bounce report: the machine, its P2P matrix and the measurements as one self-contained HTML page.
import { loadChartLibraries } from '../../../bench/chart.js';
import { loadInputChecks, readReportInput, writeReport, type ReportInputKinds } from '../../report/index.js';
import { parseOptions } from '../args.js';
import type { Command, Io } from '../command.js';
import { EXIT, MissingDependencyError, UsageError } from '../errors.js';
import { checkOutputPath } from '../output-path.js';
import { loadTopologySource, TOPOLOGY_OPTIONS, TOPOLOGY_USAGE } from '../topology-source.js';

const usage = `Usage: dma-bounce report (--topology FILE | --lspci FILE) [--acs-redirect BDF,...] [--cpu VENDOR:FAMILY]
                         [--bench REPORT.json] [--policies REPORT.json] [--replay REPORT.json] --out DIR

Writes DIR/report.html: one self-contained page (it opens from disk and makes no network request) with
the PCI tree, the P2P matrix of every provider/client pair (click or focus a cell for its explanation),
and, when given, the bench report's charts, the policies comparison and a replay's swiotlb occupancy.
See docs/report.md for what each input must look like.

Options:
${TOPOLOGY_USAGE}
  --bench FILE            the JSON of dma-bounce bench --json (or report.json of bench --out)
  --policies FILE         the JSON of dma-bounce policies --json
  --replay FILE           a replay's JSON with { "poolOccupancy": [ { "t", "usedSlots", "totalSlots" } ] }
  --out DIR               where report.html goes (created if missing)

The charts need the optional packages vega and vega-lite, and checking the measurement files the
optional package ajv; a page of the machine alone needs neither.
  -h, --help              show this help
`;

// The measurement sections need ajv (to check the files) and vega with vega-lite (to draw them): all the
// missing ones are named at once, before anything is read.
async function loadMeasurementPackages(): Promise<void> {
  const missing: string[] = [];
  let cause: unknown;
  for (const load of [loadInputChecks, loadChartLibraries]) {
    try {
      await load();
    } catch (err) {
      if (!(err instanceof MissingDependencyError)) throw err;
      missing.push(...err.packages);
      cause = err;
    }
  }
  if (missing.length > 0) {
    throw new MissingDependencyError(`report: --bench, --policies and --replay need optional packages that are not installed: run npm install ${missing.join(' ')} (or leave those flags out)`, { packages: missing, cause });
  }
}

async function run(argv: string[], io: Io): Promise<number> {
  const values = parseOptions('report', argv, {
    ...TOPOLOGY_OPTIONS,
    bench: { type: 'string' },
    policies: { type: 'string' },
    replay: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(usage);
    return EXIT.OK;
  }
  if (values.out === undefined) throw new UsageError('report: --out DIR is required (see dma-bounce report --help)', { flag: '--out' });
  if (values.out === '') throw new UsageError('report: --out needs a directory name', { flag: '--out' });
  for (const kind of ['bench', 'policies', 'replay'] as const) {
    if (values[kind] === '') throw new UsageError(`report: --${kind} needs a file name`, { flag: `--${kind}` });
  }
  // Everything is read and checked before anything is written.
  if (values.bench !== undefined || values.policies !== undefined || values.replay !== undefined) await loadMeasurementPackages();
  const { topology, source } = loadTopologySource('report', values);
  const read = <K extends keyof ReportInputKinds>(kind: K): Promise<ReportInputKinds[K] | undefined> => {
    const file = values[kind];
    return file === undefined ? Promise.resolve(undefined) : readReportInput(kind, file);
  };
  const bench = await read('bench');
  const policies = await read('policies');
  const replay = await read('replay');
  checkOutputPath(values.out, '--out', 'directory');
  const written = await writeReport(values.out, {
    topology,
    source,
    ...(bench ? { bench } : {}),
    ...(policies ? { policies } : {}),
    ...(replay ? { replay } : {}),
  });
  const n = topology.endpoints().length;
  io.stdout(`wrote ${written.file} (${Math.ceil(written.bytes / 1024)} KiB): ${n} endpoints, ${n * n} matrix cells${bench ? ', bench' : ''}${policies ? ', policies' : ''}${replay ? ', replay' : ''}\n`);
  return EXIT.OK;
}

export const command: Command = {
  name: 'report',
  summary: 'the machine, its P2P matrix and the measurements as one self-contained HTML page',
  usage,
  run,
};
