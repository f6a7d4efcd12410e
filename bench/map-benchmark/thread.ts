// One benchmark thread (a worker_threads Worker): its own DmaSystem and buffer, looping
// fill / map / delay / unmap like map_benchmark_thread() until told to stop, then posting its
// latency sums. Bounce copies run inline here, as swiotlb_bounce() is a memcpy on the mapping CPU.
import { createWriteStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { DmaSystem, MAX_CPUS } from '../../src/dma/index.js';
import { emptySums, type MapBenchmarkOptions } from './options.js';

const NVME = '0000:04:00.0';
const PAGE = 4096;

interface ThreadData {
  readonly options: MapBenchmarkOptions;
  /** Int32Array over a SharedArrayBuffer: [0] = stop flag. */
  readonly control: SharedArrayBuffer;
  /** This thread's number (its CPU column in a trace). */
  readonly index: number;
  /** Append trace lines to `file`, timestamps in seconds since the main thread's time origin. */
  readonly trace: { readonly file: string; readonly clockBase: number } | undefined;
}

const { options, control, index, trace } = workerData as ThreadData;
// The kernel tool's threads are kthreads "dma-map-benchmark/N" (comm cut to 15 characters); lines are appended whole.
const traceStream = trace ? createWriteStream(trace.file, { flags: 'a' }) : undefined;
const stop = new Int32Array(control);
const size = options.granule * PAGE;
const system = DmaSystem.create({
  swiotlb: { size: '8MiB' },
  ram: [
    { name: 'ram-low', phys: 0x1000_0000, size: Math.max(size, PAGE) * 2 },
    { name: 'ram-high', phys: 0x1_0000_0000, size: Math.max(size, PAGE) * 2 },
  ],
  engine: { workers: 1, inlineBelow: '1GiB', spin: 0 },
  iommu: options.iommu,
  ...(traceStream && trace
    ? { trace: { sink: traceStream, header: false, comm: 'dma-map-benchmark', pid: process.pid + 1 + index, clock: () => (performance.timeOrigin + performance.now() - trace.clockBase) / 1000 } }
    : {}),
});
const device = system.device(NVME, { dmaBits: options.dmaBits, forceBounce: options.forceBounce, untrusted: options.untrusted, cpu: index % MAX_CPUS });
const region = options.buffer === 'low' ? system.ram[0]! : system.ram[1]!;
const buffer = region.allocate(size, PAGE);
const bytes = region.view(buffer);
const sums = emptySums();
let bounced = false;

const now = () => process.hrtime.bigint();
const in100ns = (from: bigint, to: bigint) => Number((to - from) / 100n);

while (Atomics.load(stop, 0) === 0) {
  // Stands for the kernel thread's memset of the buffer before a to-device mapping.
  if (options.dir !== 2) bytes.fill(0x66);
  const t0 = now();
  const mapped = await device.mapSingle(buffer.phys, size, options.dir);
  const t1 = now();
  bounced ||= mapped.kind === 'bounced';
  if (options.transNs > 0) {
    const until = t1 + BigInt(options.transNs);
    while (now() < until) { /* ndelay(): a busy wait, as the kernel's */ }
  }
  const t2 = now();
  await device.unmapSingle(mapped.dmaAddress, size, options.dir);
  const t3 = now();
  const map = in100ns(t0, t1);
  const unmap = in100ns(t2, t3);
  sums.loops++;
  sums.mapSum += map;
  sums.mapSumSq += map * map;
  sums.unmapSum += unmap;
  sums.unmapSumSq += unmap * unmap;
}
await system.close();
if (traceStream) await new Promise<void>((resolve) => traceStream.end(resolve));
parentPort!.postMessage({ sums, bounced });
