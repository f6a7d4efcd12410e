// dma-bounce replay: a captured DMA trace replayed through the model under chosen configurations.
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { InputFileError, OutputPathError, UsageError } from '../errors.js';
import { checkOutputPath } from '../output-path.js';
import { buildTopology, type Topology } from '../../pci/index.js';
import { DEFAULT_TOPOLOGY } from '../../dma/index.js';
import { replayCapture, type ReplayConfig, type ReplayResult, type ReplayRun } from '../../replay/index.js';
import { formatSize, parseSize } from '../../size.js';
import { checkTraceFormat, type TraceFormat } from '../../trace/index.js';
import type { Command, Io } from '../command.js';
import { formatTable, hexAddress } from '../output.js';
import { loadTopologySource, TOPOLOGY_OPTIONS, TOPOLOGY_USAGE } from '../topology-source.js';

const usage = `Usage: dma-bounce replay TRACE [--topology FILE | --lspci FILE] [--swiotlb SIZE[,SIZE...]]
                        [--force-bounce | --no-force-bounce] [--iommu MODE] [--p2p-policy reject|bounce]
                        [--provider BDF[:BAR]] [--compare "FLAGS"] [--lenient] [--trace FILE]
                        [--trace-format VERSION] [--json]

Replays a captured DMA trace (the dma: and swiotlb: events of /sys/kernel/tracing/trace,
trace_pipe, or trace-cmd report) through the model: each device's maps, syncs and unmaps, in
order, and reports per device and in total the calls, bytes, bytes bounced, the pool's high-water
mark, full events (with their time), failures by errno, unmaps of mappings the capture never
showed, and mappings still live at the end. Lines of other events are counted and skipped.

Options:
${TOPOLOGY_USAGE}
                          (default: the embedded topology; devices it lacks get a default device)
  --swiotlb SIZE[,SIZE]   pool size (default 64MiB); several sizes sweep: one replay per size, and
                          the smallest size with no full event
  --force-bounce          every device bounces (a confidential-computing guest); default: devices
                          bounce as the capture's swiotlb_bounced events say (FORCE)
  --no-force-bounce       no device bounces everything, whatever the capture says
  --p2p-policy POLICY     reject (mainline: -EREMOTEIO) or bounce (default reject)
  --iommu MODE            replay behind an IOMMU: strict, lazy or passthrough (iommu-dma; default none)
  --provider BDF[:BAR]    the p2pmem BAR the capture's MMIO mappings (DMA_ATTR_MMIO, dma_map_resource)
                          are placed in (default: the topology's first)
  --compare "FLAGS"       a second configuration side by side: --swiotlb SIZE, --force-bounce,
                          --no-force-bounce, --p2p-policy, --iommu (the rest as the first)
  --lenient               count and skip malformed dma:/swiotlb: lines (default: an error)
  --trace FILE            write the replayed model's own trace (ftrace format) to FILE
  --trace-format VERSION  6.12, 6.13, 6.18 or latest (default) for --trace
  --json                  print { title, poolOccupancy, capture, warnings, runs, sweep? } as one
                          JSON document (dma-bounce report --replay reads it)
  -h, --help              show this help
`;

/** swiotlb's pool is made of 128-slot segments of 2 KiB. */
const SEGMENT = 256 * 1024;
const IOMMU_MODES = ['strict', 'lazy', 'passthrough'] as const;

interface Flags {
  swiotlb?: string | undefined;
  'force-bounce'?: boolean | undefined;
  'no-force-bounce'?: boolean | undefined;
  'p2p-policy'?: string | undefined;
  iommu?: string | undefined;
}

// One configuration from flags, on top of `base`.
function configFrom(flags: Flags, base: ReplayConfig, where: string): ReplayConfig {
  if (flags['force-bounce'] && flags['no-force-bounce']) throw new UsageError(`replay: ${where}: --force-bounce and --no-force-bounce contradict`);
  const policy = flags['p2p-policy'];
  if (policy !== undefined && policy !== 'reject' && policy !== 'bounce') throw new UsageError(`replay: ${where}: --p2p-policy must be reject or bounce, got "${policy}"`);
  const mode = flags.iommu;
  if (mode !== undefined && !(IOMMU_MODES as readonly string[]).includes(mode)) throw new UsageError(`replay: ${where}: --iommu must be one of ${IOMMU_MODES.join(', ')}, got "${mode}"`);
  return {
    ...base,
    ...(flags.swiotlb !== undefined ? { swiotlb: checkedSize(flags.swiotlb, where) } : {}),
    ...(flags['force-bounce'] ? { forceBounce: true } : {}),
    ...(flags['no-force-bounce'] ? { forceBounce: false } : {}),
    ...(policy !== undefined ? { p2pPolicy: policy } : {}),
    ...(mode !== undefined ? { iommu: { mode } } : {}),
  };
}

function checkedSize(text: string, where: string): number {
  let bytes: number;
  try {
    bytes = parseSize(text, '--swiotlb');
  } catch {
    throw new UsageError(`replay: ${where}: --swiotlb "${text}" is no size (4MiB, 65536, ...)`);
  }
  if (bytes < SEGMENT || bytes > 2 ** 31 || bytes % SEGMENT !== 0) throw new UsageError(`replay: ${where}: --swiotlb must be a whole number of 256KiB segments up to 2GiB, got ${text}`);
  return bytes;
}

function parse(given: string[]) {
  // --compare's value is itself flags ("--force-bounce"), which parseArgs would take for an option.
  const argv: string[] = [];
  for (let i = 0; i < given.length; i++) {
    if (given[i] === '--compare' && i + 1 < given.length) argv.push(`--compare=${given[++i]!}`);
    else argv.push(given[i]!);
  }
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ...TOPOLOGY_OPTIONS,
        swiotlb: { type: 'string' },
        'force-bounce': { type: 'boolean' },
        'no-force-bounce': { type: 'boolean' },
        'p2p-policy': { type: 'string' },
        iommu: { type: 'string' },
        compare: { type: 'string' },
        provider: { type: 'string' },
        lenient: { type: 'boolean' },
        trace: { type: 'string' },
        'trace-format': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`replay: ${(err as Error).message.split('\n')[0]} (see dma-bounce replay --help)`);
  }
}

function parseCompare(text: string): Flags {
  const argv = text.trim().split(/\s+/).filter((s) => s !== '');
  if (argv.length === 0) throw new UsageError('replay: --compare needs flags, e.g. --compare "--swiotlb 16MiB --force-bounce"');
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { swiotlb: { type: 'string' }, 'force-bounce': { type: 'boolean' }, 'no-force-bounce': { type: 'boolean' }, 'p2p-policy': { type: 'string' }, iommu: { type: 'string' } },
    }).values;
  } catch (err) {
    throw new UsageError(`replay: --compare: ${(err as Error).message.split('\n')[0]}`);
  }
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help) {
    io.stdout(usage);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`replay: give exactly one TRACE file (got ${positionals.length}; see dma-bounce replay --help)`);
  const file = positionals[0]!;
  // The capture is streamed, not read whole (src/cli/input.ts caps whole reads): only its kind is checked here.
  let size: number;
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputFileError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { path: file, reason: code === 'ENOENT' ? 'not-found' : 'unreadable', cause: err });
  }
  if (!stat.isFile()) throw new InputFileError(`cannot read ${file}: not a regular file`, { path: file, reason: 'not-a-file' });
  size = stat.size;
  const topology: Topology = values.topology !== undefined || values.lspci !== undefined ? loadTopologySource('replay', values).topology : buildTopology(DEFAULT_TOPOLOGY);
  const sizes = values.swiotlb === undefined ? [undefined] : values.swiotlb.split(',').map((s) => checkedSize(s.trim(), '--swiotlb'));
  if (new Set(sizes).size !== sizes.length) throw new UsageError('replay: --swiotlb lists a size twice');
  if (sizes.length > 16) throw new UsageError('replay: --swiotlb sweeps at most 16 sizes');
  if (sizes.length > 1 && values.compare !== undefined) throw new UsageError('replay: --compare and a --swiotlb sweep do not combine: sweep, or compare two configurations');
  let traceFormat: TraceFormat = 'latest';
  if (values['trace-format'] !== undefined) {
    try {
      checkTraceFormat(values['trace-format']);
    } catch {
      throw new UsageError(`replay: --trace-format must be 6.12, 6.13, 6.18 or latest, got "${values['trace-format']}"`);
    }
    traceFormat = values['trace-format'] as TraceFormat;
    if (values.trace === undefined) throw new UsageError('replay: --trace-format needs --trace FILE');
  }
  const base = configFrom({ ...values, swiotlb: undefined }, {}, 'flags');
  const configs: ReplayConfig[] = sizes.map((bytes) => (bytes === undefined ? base : { ...base, swiotlb: bytes }));
  if (values.compare !== undefined) configs.push(configFrom(parseCompare(values.compare), { ...base, ...(sizes[0] !== undefined ? { swiotlb: sizes[0] } : {}) }, '--compare'));

  const out = values.trace !== undefined ? createWriteStream(checkOutputPath(values.trace, '--trace', 'file')) : undefined;
  if (out) {
    await new Promise<void>((resolve, reject) => {
      out.once('open', () => resolve());
      out.once('error', (err) => reject(new OutputPathError(`--trace ${values.trace}: ${err.message}`, { path: values.trace!, flag: '--trace', cause: err })));
    });
    configs[0] = { ...configs[0], trace: { sink: out, format: traceFormat, comm: 'dma-bounce' } };
  }
  let provider: { bdf: string; bar?: number } | undefined;
  if (values.provider !== undefined) {
    // SSSS:BB:DD.F has two colons; a third one starts the BAR index.
    const text = values.provider;
    const colons = text.split(':').length - 1;
    const cut = colons === 3 ? text.lastIndexOf(':') : -1;
    const bdf = cut < 0 ? text : text.slice(0, cut);
    const bar = cut < 0 ? undefined : text.slice(cut + 1);
    if (colons > 3 || (bar !== undefined && !/^[0-5]$/.test(bar))) throw new UsageError(`replay: --provider must be BDF or BDF:BAR (BAR 0..5), got "${text}"`);
    provider = { bdf, ...(bar !== undefined ? { bar: Number(bar) } : {}) };
  }
  const passes = configs.length + 1;
  const bar = process.stderr.isTTY && !values.json
    ? new cliProgress.SingleBar({ format: 'replay [{bar}] {percentage}% {pass}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  bar?.start(Math.max(1, size * passes), 0, { pass: 'scan' });
  let result: ReplayResult;
  try {
    result = await replayCapture(() => createReadStream(file, { highWaterMark: 1 << 20 }), configs, {
      topology,
      ...(provider ? { provider } : {}),
      lenient: values.lenient ?? false,
      onProgress: (pass, bytes) => bar?.update(pass * size + bytes, { pass: pass === 0 ? 'scan' : `run ${pass}/${configs.length}` }),
    });
  } finally {
    bar?.stop();
    if (out) await new Promise<void>((resolve) => out.end(resolve));
  }
  const sweep = sizes.length > 1 ? sweepOf(result.runs) : undefined;
  if (values.json) {
    // `title` and `poolOccupancy` (the first run's) at the top are what dma-bounce report --replay reads.
    const first = result.runs[0]!;
    const title = `${basename(file)}: swiotlb ${formatSize(first.config.swiotlbBytes)}${first.config.forceBounce === true ? ', force bounce' : ''}, p2p ${first.config.p2pPolicy}`;
    io.stdout(JSON.stringify({ title, poolOccupancy: first.poolOccupancy, ...result, ...(sweep ? { sweep } : {}) }, null, 2) + '\n');
    return 0;
  }
  for (const warning of result.warnings) io.stderr(`warning: ${warning}\n`);
  io.stdout(describeCapture(file, result));
  if (sweep) {
    io.stdout(`\nswiotlb sweep:\n`);
    io.stdout(formatTable(['SWIOTLB', 'FULL EVENTS', 'FAILURES', 'HIGH WATER', 'BOUNCED'], result.runs.map((r) => [
      formatSize(r.config.swiotlbBytes), String(r.pool.fullEvents), String(r.total.failures), formatSize(r.pool.highWaterBytes), formatSize(r.total.bytesBounced),
    ]), ['right', 'right', 'right', 'right', 'right']));
    io.stdout(sweep.smallestWithoutFull === null ? 'every size had full events\n' : `smallest swiotlb with no full event: ${formatSize(sweep.smallestWithoutFull)}\n`);
    return 0;
  }
  const [primary, compared] = result.runs;
  io.stdout(`\n${describeConfig(primary!)}\n`);
  io.stdout(deviceTable(primary!));
  if (compared) {
    io.stdout(`\ncompared with ${describeConfig(compared)}\n`);
    io.stdout(compareTable(primary!, compared));
  }
  return 0;
}

function sweepOf(runs: readonly ReplayRun[]): { sizes: number[]; smallestWithoutFull: number | null } {
  const sorted = [...runs].sort((a, b) => a.config.swiotlbBytes - b.config.swiotlbBytes);
  const ok = sorted.find((r) => r.pool.fullEvents === 0);
  return { sizes: sorted.map((r) => r.config.swiotlbBytes), smallestWithoutFull: ok ? ok.config.swiotlbBytes : null };
}

function describeCapture(file: string, r: ReplayResult): string {
  const s = r.capture.summary;
  return `${file}: ${s.lines} lines, ${s.events} dma/swiotlb events (${Object.entries(s.eventsByName).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}), ` +
    `${s.otherEvents} other events, ${r.capture.devices.length} devices; the capture shows ${r.capture.capturedFailures} failed maps and ${r.capture.capturedBounces} bounces\n`;
}

function describeConfig(run: ReplayRun): string {
  const c = run.config;
  const force = c.forceBounce === 'capture' ? 'bounce as captured' : c.forceBounce ? 'force bounce' : 'no forced bounce';
  return `swiotlb ${formatSize(c.swiotlbBytes)}, ${force}, p2p ${c.p2pPolicy}${c.iommu ? `, iommu ${c.iommu}` : ''}: ` +
    `pool high water ${run.pool.highWaterSlots}/${run.pool.totalSlots} slots, ${run.pool.fullEvents} full events${run.fullEvents[0] ? ` (first at ${run.fullEvents[0].t.toFixed(6)} s, ${run.fullEvents[0].device})` : ''}`;
}

function errnos(map: Record<string, number>): string {
  return Object.entries(map).map(([k, v]) => `${v} ${k}`).join(', ') || '0';
}

function deviceTable(run: ReplayRun): string {
  const rows = run.devices.map((d) => [
    d.device, d.replayedAs === d.device ? '' : d.replayedAs, String(d.calls), formatSize(d.bytes), formatSize(d.bytesBounced), formatSize(d.bounceHighWaterBytes),
    String(d.fullEvents), errnos(d.failuresByErrno), String(d.unmatchedUnmaps), `${d.liveAtEnd}`,
  ]);
  const t = run.total;
  rows.push(['total', '', String(t.calls), formatSize(t.bytes), formatSize(t.bytesBounced), formatSize(run.pool.highWaterBytes), String(t.fullEvents), errnos(t.failuresByErrno), String(t.unmatchedUnmaps), String(t.liveAtEnd)]);
  const table = formatTable(['DEVICE', 'AS', 'CALLS', 'BYTES', 'BOUNCED', 'HIGH WATER', 'FULL', 'FAILURES', 'UNMATCHED UNMAPS', 'LIVE AT END'], rows, ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'left', 'right', 'right']);
  const unmatched = run.unmatched.slice(0, 5).map((u) => `  line ${u.line}: ${u.event} of ${hexAddress(u.dmaAddr)} by ${u.device}: no such mapping in the capture\n`).join('');
  return table + unmatched;
}

function compareTable(a: ReplayRun, b: ReplayRun): string {
  const row = (name: string, f: (r: ReplayRun) => string) => [name, f(a), f(b)];
  return formatTable(['', 'FIRST', 'COMPARED'], [
    row('bytes bounced', (r) => formatSize(r.total.bytesBounced)),
    row('pool high water', (r) => `${r.pool.highWaterSlots}/${r.pool.totalSlots} slots`),
    row('full events', (r) => String(r.pool.fullEvents)),
    row('failures', (r) => errnos(r.total.failuresByErrno)),
    row('live at end', (r) => String(r.total.liveAtEnd)),
    ...a.devices.map((d, i) => [`${d.device} bounced`, formatSize(d.bytesBounced), formatSize(b.devices[i]?.bytesBounced ?? 0)]),
  ], ['left', 'right', 'right']);
}

export const command: Command = {
  name: 'replay',
  summary: 'a captured DMA trace replayed through the model: pool use, failures, what-if configurations',
  usage,
  run,
};
