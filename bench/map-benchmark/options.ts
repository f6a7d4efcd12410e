// The knobs of the kernel's dma_map_benchmark (kernel/dma/map_benchmark.c,
// tools/testing/selftests/dma/dma_map_benchmark.c), with its limits.
import { InvalidArgumentError } from '../../src/errors.js';

export interface MapBenchmarkOptions {
  /** Threads, each mapping and unmapping its own buffer (1..1024; default 1). */
  readonly threads: number;
  /** Seconds to run (1..300; default 20 in the kernel tool, 2 here). */
  readonly seconds: number;
  /** Buffer size in 4 KiB pages (1..1024; default 1). */
  readonly granule: number;
  /** 0 BIDIRECTIONAL, 1 TO_DEVICE, 2 FROM_DEVICE (default 0). */
  readonly dir: 0 | 1 | 2;
  /** The device's DMA mask width (20..64; default 32). */
  readonly dmaBits: number;
  /** Delay between map and unmap, ns (0..10 ms; default 0). */
  readonly transNs: number;
  /** Bounce every mapping, as booting with swiotlb=force does. */
  readonly forceBounce: boolean;
  /** Where the buffers live: 'low' (below 4 GiB, the default) or 'high' (above 4 GiB, so dma_bits 32 bounces). */
  readonly buffer: 'low' | 'high';
  /** The IOMMU: 'off' (dma-direct, the default), 'strict' or 'lazy' (iommu-dma). */
  readonly iommu: 'off' | 'strict' | 'lazy';
  /** Map for an untrusted device (behind an IOMMU: per-entry IOVAs, unaligned buffers bounced). */
  readonly untrusted: boolean;
}

export const MAP_BENCHMARK_DEFAULTS: MapBenchmarkOptions = {
  threads: 1, seconds: 2, granule: 1, dir: 0, dmaBits: 32, transNs: 0, forceBounce: false, buffer: 'low', iommu: 'off', untrusted: false,
};

const LIMITS = { threads: [1, 1024], seconds: [1, 300], granule: [1, 1024], dmaBits: [20, 64], transNs: [0, 10_000_000] } as const;

/** Fills defaults and checks every knob against the kernel's limits (ERR_INVALID_ARGUMENT naming the knob). */
export function mapBenchmarkOptions(input: Partial<MapBenchmarkOptions>): MapBenchmarkOptions {
  const o = { ...MAP_BENCHMARK_DEFAULTS, ...input };
  for (const [name, [lo, hi]] of Object.entries(LIMITS)) {
    const value = o[name as keyof typeof LIMITS];
    if (!Number.isInteger(value) || value < lo || value > hi) throw new InvalidArgumentError(`${name} must be an integer in ${lo}..${hi}, got ${String(value)}`, { argument: name });
  }
  if (o.dir !== 0 && o.dir !== 1 && o.dir !== 2) throw new InvalidArgumentError(`dir must be 0 (bidirectional), 1 (to device) or 2 (from device), got ${String(o.dir)}`, { argument: 'dir' });
  if (o.buffer !== 'low' && o.buffer !== 'high') throw new InvalidArgumentError(`buffer must be 'low' or 'high'`, { argument: 'buffer' });
  if (typeof o.forceBounce !== 'boolean') throw new InvalidArgumentError('forceBounce must be a boolean', { argument: 'forceBounce' });
  if (o.iommu !== 'off' && o.iommu !== 'strict' && o.iommu !== 'lazy') throw new InvalidArgumentError(`iommu must be 'off', 'strict' or 'lazy'`, { argument: 'iommu' });
  if (typeof o.untrusted !== 'boolean') throw new InvalidArgumentError('untrusted must be a boolean', { argument: 'untrusted' });
  return o;
}

/** Latency sums as the kernel keeps them: in units of 100 ns. */
export interface LatencySums {
  loops: number;
  mapSum: number;
  mapSumSq: number;
  unmapSum: number;
  unmapSumSq: number;
}

export function emptySums(): LatencySums {
  return { loops: 0, mapSum: 0, mapSumSq: 0, unmapSum: 0, unmapSumSq: 0 };
}
