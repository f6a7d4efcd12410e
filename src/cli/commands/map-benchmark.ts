// dma-bounce map-benchmark: the kernel's dma_map_benchmark on the model.
import { mapBenchmarkOptions } from '../../../bench/map-benchmark/options.js';
import { runMapBenchmark, type MapBenchmarkReport } from '../../../bench/map-benchmark/run.js';
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../errors.js';
import { traceHeader } from '../../trace/index.js';
import { checkOutputPath } from '../output-path.js';
import { parseOptions } from '../args.js';
import type { Command, Io } from '../command.js';
import { EXIT, OutputPathError, UsageError } from '../errors.js';

const usage = `Usage: dma-bounce map-benchmark [--threads N] [--seconds S] [--granule PAGES] [--dir 0|1|2]
                                [--dma-bits B] [--trans-ns NS] [--force-bounce] [--buffer low|high]
                                [--iommu strict|lazy] [--untrusted] [--trace FILE] [--json]

The kernel's dma_map_benchmark (kernel/dma/map_benchmark.c) on the model: N threads each map and
unmap their own buffer through the streaming DMA API for S seconds, and the report is the kernel
tool's: average and standard deviation of map and unmap latency (kept in 100 ns units, shown in µs).
The device is the default topology's NVMe drive 0000:04:00.0.

Options:
  --threads N        threads, 1..1024 (default 1)
  --seconds S        1..300 (default 2)
  --granule PAGES    buffer size in 4 KiB pages, 1..1024 (default 1)
  --dir 0|1|2        0 bidirectional, 1 to device, 2 from device (default 0)
  --dma-bits B       the device's DMA mask, 20..64 (default 32)
  --trans-ns NS      delay between map and unmap, at most 10000000 (default 0)
  --force-bounce     bounce every mapping (the kernel tool needs swiotlb=force at boot for this)
  --buffer low|high  buffers below 4 GiB (default) or above, so that --dma-bits 32 bounces them
  --iommu MODE       map through an IOMMU (iommu-dma): strict (invalidate at unmap) or lazy
                     (flush queue); default none (dma-direct)
  --untrusted        the device is untrusted (iommu-dma maps it strictly and bounces unaligned buffers)
  --trace FILE       write every thread's dma:/swiotlb: events to FILE (ftrace format; slows the loop)
  --json             print the report as one JSON document
  -h, --help         show this help
`;

function integer(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,15}$/.test(text)) throw new UsageError(`map-benchmark: --${name} needs a whole number, got "${text}"`, { flag: `--${name}` });
  return Number(text);
}

// The benchmark's option names, as flags.
const FLAG_OF: Readonly<Record<string, string>> = { threads: '--threads', seconds: '--seconds', granule: '--granule', dir: '--dir', dmaBits: '--dma-bits', transNs: '--trans-ns', buffer: '--buffer', forceBounce: '--force-bounce' };

async function run(argv: string[], io: Io): Promise<number> {
  const values = parseOptions('map-benchmark', argv, {
    threads: { type: 'string' },
    seconds: { type: 'string' },
    granule: { type: 'string' },
    dir: { type: 'string' },
    'dma-bits': { type: 'string' },
    'trans-ns': { type: 'string' },
    'force-bounce': { type: 'boolean' },
    buffer: { type: 'string' },
    iommu: { type: 'string' },
    untrusted: { type: 'boolean' },
    trace: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(usage);
    return 0;
  }
  const dir = integer('dir', values.dir);
  if (dir !== undefined && dir !== 0 && dir !== 1 && dir !== 2) throw new UsageError(`map-benchmark: --dir must be 0, 1 or 2, got ${dir}`, { flag: '--dir' });
  if (values.buffer !== undefined && values.buffer !== 'low' && values.buffer !== 'high') throw new UsageError(`map-benchmark: --buffer must be low or high`, { flag: '--buffer' });
  if (values.iommu !== undefined && values.iommu !== 'strict' && values.iommu !== 'lazy') throw new UsageError(`map-benchmark: --iommu must be strict or lazy, got "${values.iommu}"`, { flag: '--iommu' });
  const input = {
    ...(values.threads !== undefined ? { threads: integer('threads', values.threads)! } : {}),
    ...(values.seconds !== undefined ? { seconds: integer('seconds', values.seconds)! } : {}),
    ...(values.granule !== undefined ? { granule: integer('granule', values.granule)! } : {}),
    ...(dir !== undefined ? { dir: dir as 0 | 1 | 2 } : {}),
    ...(values['dma-bits'] !== undefined ? { dmaBits: integer('dma-bits', values['dma-bits'])! } : {}),
    ...(values['trans-ns'] !== undefined ? { transNs: integer('trans-ns', values['trans-ns'])! } : {}),
    ...(values['force-bounce'] ? { forceBounce: true } : {}),
    ...(values.buffer !== undefined ? { buffer: values.buffer as 'low' | 'high' } : {}),
    ...(values.iommu !== undefined ? { iommu: values.iommu as 'strict' | 'lazy' } : {}),
    ...(values.untrusted ? { untrusted: true } : {}),
  };
  // Every value against the benchmark's limits before anything runs: a bad one is a usage error.
  try {
    mapBenchmarkOptions(input);
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    const flag = FLAG_OF[err.argument ?? ''] ?? err.argument ?? 'an option';
    throw new UsageError(`map-benchmark: ${flag}: ${err.message} (see dma-bounce map-benchmark --help)`, { flag, cause: err });
  }
  if (values.trace !== undefined) {
    const file = checkOutputPath(values.trace, '--trace', 'file');
    try {
      writeFileSync(file, traceHeader('ftrace', 1));
    } catch (err) {
      throw new OutputPathError(`--trace ${values.trace}: ${(err as Error).message}`, { path: values.trace, flag: '--trace', cause: err });
    }
  }
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    io.stderr('\nstopping: reporting what was measured so far\n');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  let report: MapBenchmarkReport;
  try {
    report = await runMapBenchmark(input, {
      stopSignal: abort.signal,
      ...(values.trace !== undefined ? { traceFile: values.trace } : {}),
      onProgress: (elapsed, total) => { if (process.stderr.isTTY) io.stderr(`\rmap-benchmark: ${elapsed.toFixed(0)}/${total} s`); },
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    if (process.stderr.isTTY) io.stderr('\n');
  }
  const done = interrupted ? EXIT.INTERRUPTED : EXIT.OK;
  if (values.json) {
    io.stdout(JSON.stringify(report, null, 2) + '\n');
    return done;
  }
  const o = report.options;
  const dirName = ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE'][o.dir];
  io.stdout(
    `dma mapping benchmark: threads:${o.threads} seconds:${o.seconds} node:-1 dir:${dirName} granule: ${o.granule}\n` +
      `  dma_bits:${o.dmaBits} trans_ns:${o.transNs} buffer:${o.buffer}${o.forceBounce ? ' force-bounce' : ''}${o.iommu !== 'off' ? ` iommu:${o.iommu}` : ''}${o.untrusted ? ' untrusted' : ''} loops:${report.loops} ${report.bounced ? 'bounced through swiotlb' : o.iommu !== 'off' ? 'iommu-dma' : 'direct'}${report.complete ? '' : ' (stopped early)'}\n` +
      `average map latency(us):${report.map.averageUs.toFixed(1)} standard deviation:${report.map.stddevUs.toFixed(1)}\n` +
      `average unmap latency(us):${report.unmap.averageUs.toFixed(1)} standard deviation:${report.unmap.stddevUs.toFixed(1)}\n`,
  );
  return done;
}

export const command: Command = {
  name: 'map-benchmark',
  summary: "the kernel's dma_map_benchmark on the model: map/unmap latency per thread",
  usage,
  run,
};
