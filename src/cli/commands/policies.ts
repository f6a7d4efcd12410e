// dma-bounce policies: reject vs bounce vs staged, measured on the model.
import { createWriteStream, type WriteStream } from 'node:fs';
import { MAX_ROUNDS, runPolicies, type PolicyReport, type PolicyResult } from '../../../bench/policies/run.js';
import { InvalidArgumentError } from '../../errors.js';
import { loadLspci, parseBdf, type Topology } from '../../pci/index.js';
import { parseSize } from '../../size.js';
import { traceHeader } from '../../trace/index.js';
import { parseOptions } from '../args.js';
import type { Command, Io } from '../command.js';
import { EXIT, NothingToReportError, OutputPathError, UsageError } from '../errors.js';
import { readInput } from '../input.js';
import { formatTable } from '../output.js';
import { checkOutputPath } from '../output-path.js';

const usage = `Usage: dma-bounce policies [--topology FILE | --lspci FILE] [--provider BDF[:BAR]] [--client BDF,...] [--size SIZE] [--qd N] [--ios N] [--rounds N] [--iommu MODE] [--trace FILE] [--json]

The P2PDMA debate measured: a client device reads and writes data that lives in a provider's
BAR, for each route the topology offers (BUS_ADDR, THRU_HOST_BRIDGE, NOT_SUPPORTED), under
three policies:
  reject  mainline: NOT_SUPPORTED fails the mapping with -EREMOTEIO
  bounce  the DMA mapper bounces what it cannot map through swiotlb
  staged  the submitter copies BAR <-> host buffer with the copy engine, then does normal DMA
Half the I/Os are writes (the device reads the BAR), half reads (the device writes it); every
I/O's data is checked. Default topology: the embedded one (GPU 0000:03:00.0 as provider).

Options:
  --topology FILE  topology JSON with a p2pmem BAR (default: the embedded topology); - reads stdin
  --lspci FILE     a real machine: lspci -tvnn or -vvv output, - reads stdin (give --provider: lspci shows no p2pmem)
  --provider BDF[:BAR]  the device whose memory the clients use; its BAR (default: the largest
                   prefetchable one) becomes p2pmem for the run
  --client BDF,... the devices doing DMA (default: one per route the machine has); repeatable
  --size SIZE      bytes per I/O (default 128KiB, at most 256KiB: swiotlb's largest mapping)
  --qd N           I/Os in flight (default 8)
  --ios N          I/Os per route and policy (default 2000; per round with --rounds)
  --rounds N       run every route and policy N times (1..${MAX_ROUNDS}, default 1), the policies in a
                   turning order, and report each row's median round, with a VS STAGED column: the
                   median of the per-round ratios to staged on the same route, and their range
  --iommu MODE     off (default), strict, lazy or identity: the IOMMU the DMA mapper runs behind
  --trace FILE     write every run's dma:/swiotlb: events to FILE (ftrace format)
  --json           print { workload, results } as one JSON document
  -h, --help       show this help
`;

async function run(argv: string[], io: Io): Promise<number> {
  const values = parseOptions('policies', argv, {
    topology: { type: 'string' },
    lspci: { type: 'string' },
    provider: { type: 'string' },
    client: { type: 'string', multiple: true },
    size: { type: 'string' },
    qd: { type: 'string' },
    ios: { type: 'string' },
    rounds: { type: 'string' },
    iommu: { type: 'string' },
    trace: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(usage);
    return 0;
  }
  const whole = (name: string, text: string | undefined, lo: number, hi: number) => {
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text) || Number(text) < lo || Number(text) > hi) throw new UsageError(`policies: --${name} must be a whole number in ${lo}..${hi}, got "${text}"`);
    return Number(text);
  };
  const ioSize = values.size === undefined ? undefined : parseSize(values.size, '--size');
  if (ioSize !== undefined && (ioSize < 1 || ioSize > 256 * 1024)) throw new UsageError(`policies: --size must be 1B..256KiB, got ${values.size}`);
  const queueDepth = whole('qd', values.qd, 1, 256);
  const ios = whole('ios', values.ios, 1, 1_000_000);
  const rounds = whole('rounds', values.rounds, 1, MAX_ROUNDS);
  const iommu = values.iommu;
  if (iommu !== undefined && iommu !== 'off' && iommu !== 'strict' && iommu !== 'lazy' && iommu !== 'identity') throw new UsageError(`policies: --iommu must be off, strict, lazy or identity, got "${iommu}"`, { flag: '--iommu' });
  if (values.topology !== undefined && values.lspci !== undefined) throw new UsageError('policies: give at most one of --topology FILE and --lspci FILE');
  let provider: { bdf: string; bar?: number } | undefined;
  if (values.provider !== undefined) {
    const [bdf = '', bar, extra] = values.provider.trim().toLowerCase().split(/:(?=[0-5]$)/);
    if (!parseBdf(bdf) || extra !== undefined) throw new InvalidArgumentError(`--provider: expected BDF[:BAR] such as 0000:03:00.0:1, got "${values.provider.slice(0, 60)}"`, { argument: 'provider' });
    provider = bar === undefined ? { bdf } : { bdf, bar: Number(bar) };
  }
  let clients: string[] | undefined;
  if (values.client !== undefined) {
    clients = values.client.flatMap((list) => list.split(',')).map((bdf) => bdf.trim().toLowerCase()).filter((bdf) => bdf !== '');
    const bad = clients.find((bdf) => !parseBdf(bdf));
    if (bad !== undefined || clients.length === 0) throw new InvalidArgumentError(`--client: expected BDF,... such as 0000:04:00.0, got "${(bad ?? '').slice(0, 60)}"`, { argument: 'client' });
  }
  let topology: string | Topology | undefined;
  if (values.topology !== undefined) topology = readInput(values.topology);
  else if (values.lspci !== undefined) topology = loadLspci(readInput(values.lspci));
  if (values.lspci !== undefined && provider === undefined) throw new UsageError('policies: --lspci needs --provider BDF[:BAR] (lspci output publishes no p2pmem)');
  const traceOut = values.trace === undefined ? undefined : await openTrace(values.trace);
  let stop = false;
  const onSignal = () => { stop = true; io.stderr('\nstopping after the current run\n'); };
  process.once('SIGINT', onSignal);
  let report: PolicyReport;
  try {
    report = await runPolicies({
      ...(topology !== undefined ? { topology } : {}),
      ...(provider !== undefined ? { provider } : {}),
      ...(clients !== undefined ? { clients } : {}),
      ...(ioSize !== undefined ? { ioSize } : {}),
      ...(queueDepth !== undefined ? { queueDepth } : {}),
      ...(ios !== undefined ? { ios } : {}),
      ...(rounds !== undefined ? { rounds } : {}),
      ...(iommu !== undefined ? { iommu } : {}),
      shouldStop: () => stop,
      ...(traceOut ? { trace: { sink: traceOut, header: false, comm: 'dma-bounce' } } : {}),
      onProgress: (done, total, label) => { if (label) io.stderr(`[${done + 1}/${total}] ${label}\n`); },
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    if (traceOut) await new Promise<void>((resolve) => traceOut.end(resolve));
  }
  if (report.results.length === 0 && !stop) {
    throw new NothingToReportError('policies: the topology publishes no p2pmem BAR (a BAR with "p2pmem": true), so there is no route to measure');
  }
  if (values.json) {
    io.stdout(JSON.stringify(report, null, 2) + '\n');
    return stop ? EXIT.INTERRUPTED : EXIT.OK;
  }
  const w = report.workload;
  const rounded = (w.rounds ?? 1) > 1;
  const inRounds = rounded ? `, ${w.rounds} rounds (MiB/s: the median round; latency and COPIED: every round's I/Os)` : '';
  io.stdout(`workload: ${w.ios} I/Os of ${w.ioSize} bytes, queue depth ${w.queueDepth}, half device reads, half device writes${report.iommu !== 'off' ? `, IOMMU ${report.iommu}` : ''}${inRounds}\n\n`);
  const head = ['ROUTE', 'CLIENT', 'POLICY', 'RESULT', 'MiB/s', 'p50 µs', 'p99 µs', 'COPIED', 'SWIOTLB HIGH', 'BAD'];
  const align = ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'] as const;
  const rows = report.results.map((r) => {
    const cells = [
      r.route, r.client, r.policy, r.ok ? 'ok' : r.error!,
      r.ok ? (r.bytesPerSecond / 2 ** 20).toFixed(0) : '-',
      r.ok ? r.latencyUs.p50.toFixed(1) : '-', r.ok ? r.latencyUs.p99.toFixed(1) : '-',
      `${(r.bytesCopied / 2 ** 20).toFixed(1)} MiB`, `${(r.bounceHighWaterBytes / 1024).toFixed(0)} KiB`, String(r.corrupted),
    ];
    return rounded ? [...cells, vsStaged(r)] : cells;
  });
  io.stdout(rounded ? formatTable([...head, 'VS STAGED'], rows, [...align, 'left']) : formatTable(head, rows, [...align]));
  return stop ? EXIT.INTERRUPTED : EXIT.OK;
}

// "0.95x (0.82-1.12)": the median of the per-round ratios to staged, and their range.
function vsStaged(r: PolicyResult): string {
  if (!r.vsStaged) return '';
  const { ratio, ratios } = r.vsStaged;
  return `${ratio.toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`;
}

// The trace file, truncated, with the ftrace header once (each run's system writes lines only).
async function openTrace(path: string): Promise<WriteStream> {
  const file = checkOutputPath(path, '--trace', 'file');
  const out = createWriteStream(file);
  await new Promise<void>((resolve, reject) => {
    out.once('open', () => resolve());
    out.once('error', (err) => reject(new OutputPathError(`--trace ${path}: ${err.message}`, { path, flag: '--trace', cause: err })));
  });
  out.write(traceHeader('ftrace', 1));
  return out;
}

export const command: Command = {
  name: 'policies',
  summary: 'the P2P debate measured: reject vs bounce vs staged copies, per route',
  usage,
  run,
};
