// A device's DMA properties (dma_set_mask(), dma_set_max_seg_size(), ...), read once from the
// caller's options object, validated, and kept as plain settings.
import { InvalidArgumentError } from '../errors.js';
import { describe } from '../fabric/input.js';
import { parseSize, type Size } from '../size.js';
import type { P2pPolicy } from './direct.js';

export interface DmaDeviceOptions {
  /** Width of the DMA mask (dma_set_mask), 20..64 bits; default 64. */
  readonly dmaBits?: number;
  /** The bus's own limit (bus_dma_limit), an address; default none. */
  readonly busDmaLimit?: number;
  /** dma_set_max_seg_size(), 1 byte to 4 GiB - 1; default 64KiB. Checked by dma-debug, not by the mapping (as in the kernel). */
  readonly maxSegmentSize?: Size;
  /** dma_set_seg_boundary(), 2^n - 1; default 0xffffffff. Checked by dma-debug. */
  readonly segmentBoundaryMask?: number;
  /** dma_set_min_align_mask(): bounce addresses keep these low bits of the original (NVMe: 0xfff). 2^n - 1 below 128 KiB; default 0. */
  readonly minAlignMask?: number;
  /** Cache-coherent DMA; default true. Non-coherent devices need the syncs for correctness on real hardware. */
  readonly coherent?: boolean;
  /** Bounce every streaming mapping, as swiotlb=force and SEV/TDX guests do; default false. */
  readonly forceBounce?: boolean;
  /** What to do with P2P the topology cannot do: 'reject' (mainline, -EREMOTEIO) or 'bounce'; default 'reject'. */
  readonly p2pPolicy?: P2pPolicy;
  /** The CPU the driver runs on, 0..8191 (NR_CPUS): selects the swiotlb area a search starts in; default 0. */
  readonly cpu?: number;
  /**
   * When the swiotlb pool is full: false (fail, as the kernel does) or wait up to this many ms,
   * 0..2147483647 (the longest timer), or Infinity (no limit). Default false.
   */
  readonly waitForSpace?: false | number;
  /**
   * The device is untrusted (pdev->untrusted): its IOMMU group gets a strict DMA domain, it maps
   * entry by entry and bounces unaligned ranges. Default: the PCI model's own flag (a device below
   * an external-facing port), false when the topology says nothing. Only matters with an IOMMU.
   */
  readonly untrusted?: boolean;
}

/** The validated settings of one device. */
export interface DeviceSettings {
  readonly dmaBits: number;
  /** min(dma_mask, bus_dma_limit). */
  readonly dmaLimit: number;
  readonly maxSegmentSize: number;
  readonly segmentBoundaryMask: number;
  readonly minAlignMask: number;
  readonly coherent: boolean;
  readonly forceBounce: boolean;
  readonly p2pPolicy: P2pPolicy;
  readonly cpu: number;
  readonly waitForSpace: false | number;
  /** Undefined when the option was not given (the PCI model decides). */
  readonly untrusted: boolean | undefined;
}

const KEYS: ReadonlySet<string> = new Set(['dmaBits', 'busDmaLimit', 'maxSegmentSize', 'segmentBoundaryMask', 'minAlignMask', 'coherent', 'forceBounce', 'p2pPolicy', 'cpu', 'waitForSpace', 'untrusted']);
/** NR_CPUS at its largest on x86-64. */
export const MAX_CPUS = 8192;
/** The longest wait setTimeout() honours. */
const MAX_WAIT_MS = 2 ** 31 - 1;
const MAX_SAFE_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * Reads `options` once (each property exactly once, through a copy) and validates it. Throws
 * InvalidArgumentError (ERR_INVALID_ARGUMENT, `argument` naming the option) or InvalidSizeError
 * (ERR_INVALID_SIZE) for maxSegmentSize; an unknown key is an error too (a typo must not pass).
 */
export function deviceSettings(options: unknown): DeviceSettings {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new InvalidArgumentError('options must be an object', { argument: 'options' });
  const o: Record<string, unknown> = { ...options };
  for (const key of Object.keys(o)) if (!KEYS.has(key)) throw new InvalidArgumentError(`unknown device option "${key}" (known: ${[...KEYS].join(', ')})`, { argument: key });
  const fail = (argument: string, message: string): never => { throw new InvalidArgumentError(message, { argument }); };

  const dmaBits = o.dmaBits ?? 64;
  if (typeof dmaBits !== 'number' || !Number.isInteger(dmaBits) || dmaBits < 20 || dmaBits > 64) fail('dmaBits', `dmaBits ${describe(dmaBits)} must be an integer in 20..64`);
  const bus = o.busDmaLimit ?? MAX_SAFE_LIMIT;
  if (typeof bus !== 'number' || !Number.isSafeInteger(bus) || bus < 0) fail('busDmaLimit', 'busDmaLimit must be a non-negative safe integer');
  const maxSegmentSize = parseSize((o.maxSegmentSize ?? 65536) as Size, 'maxSegmentSize');
  if (maxSegmentSize < 1 || maxSegmentSize > 2 ** 32 - 1) fail('maxSegmentSize', `maxSegmentSize ${maxSegmentSize} must be 1 byte to 4 GiB - 1 (an unsigned int, as the kernel keeps it)`);
  const minAlignMask = o.minAlignMask ?? 0;
  if (!isLowMask(minAlignMask) || minAlignMask >= 2 ** 17) fail('minAlignMask', `minAlignMask ${describe(minAlignMask)} must be 2^n - 1 below 128KiB`);
  const boundary = o.segmentBoundaryMask ?? 0xffffffff;
  if (!isLowMask(boundary)) fail('segmentBoundaryMask', 'segmentBoundaryMask must be 2^n - 1');
  const policy = o.p2pPolicy ?? 'reject';
  if (policy !== 'reject' && policy !== 'bounce') fail('p2pPolicy', `p2pPolicy must be 'reject' or 'bounce'`);
  const cpu = o.cpu ?? 0;
  if (typeof cpu !== 'number' || !Number.isInteger(cpu) || cpu < 0 || cpu >= MAX_CPUS) fail('cpu', `cpu ${describe(cpu)} must be an integer in 0..${MAX_CPUS - 1}`);
  const wait = o.waitForSpace ?? false;
  if (wait !== false && !(typeof wait === 'number' && ((wait >= 0 && wait <= MAX_WAIT_MS) || wait === Infinity))) {
    fail('waitForSpace', `waitForSpace must be false, a number of ms in 0..${MAX_WAIT_MS}, or Infinity`);
  }
  for (const flag of ['coherent', 'forceBounce', 'untrusted'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') fail(flag, `${flag} must be a boolean`);
  }
  const bits = dmaBits as number;
  return {
    dmaBits: bits,
    dmaLimit: Math.min(bits >= 53 ? MAX_SAFE_LIMIT : 2 ** bits - 1, bus as number),
    maxSegmentSize,
    segmentBoundaryMask: boundary as number,
    minAlignMask: minAlignMask as number,
    coherent: (o.coherent as boolean | undefined) ?? true,
    forceBounce: (o.forceBounce as boolean | undefined) ?? false,
    p2pPolicy: policy as P2pPolicy,
    cpu: cpu as number,
    waitForSpace: wait as false | number,
    untrusted: o.untrusted as boolean | undefined,
  };
}

function isLowMask(mask: unknown): mask is number {
  // 2^n - 1: all ones from bit 0 up.
  return typeof mask === 'number' && Number.isSafeInteger(mask) && mask >= 0 && Number.isInteger(Math.log2(mask + 1));
}
