// Coherent allocations (dma_alloc_coherent() / dma_free_coherent()): memory both the CPU and the
// device use for as long as it is allocated. As dma_direct_alloc() does: from the device's
// restricted DMA pool when it has one (swiotlb_alloc(), page-aligned size), else whole pages of
// host RAM the device can address (dma_coherent_ok()).
import { AllocationError, InvalidArgumentError, MappingStateError } from '../errors.js';
import { describe } from '../fabric/input.js';
import type { Span } from '../fabric/index.js';
import type { DmaContext } from './context.js';

/** One coherent allocation: its CPU physical address, the address the device uses, and its size (whole pages). */
export interface CoherentAllocation {
  readonly phys: number;
  readonly dmaAddress: number;
  readonly size: number;
}

/** What a coherent allocation took, kept by its system until it is freed. */
export interface CoherentRecord {
  readonly deviceId: number;
  readonly size: number;
  /** The RAM span, or undefined for one from a restricted pool. */
  readonly span: Span | undefined;
}

const PAGE = 4096;

/**
 * models dma_direct_alloc(): `size` rounded up to whole pages, from the restricted pool when the
 * device has one, else from host RAM below `dmaLimit`. Throws ERR_INVALID_ARGUMENT for a size
 * that is not 1 byte .. 1 GiB, ERR_SWIOTLB_FULL (restricted pool) or ERR_ALLOC_EXHAUSTED (no RAM
 * the device can address has room); nothing is taken then.
 */
export function allocCoherent(ctx: DmaContext, deviceId: number, cpu: number, dmaLimit: number, size: unknown): CoherentAllocation {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1 || size > 2 ** 30) throw new InvalidArgumentError(`size ${describe(size)} must be an integer in 1..1GiB`, { argument: 'size' });
  const bytes = Math.ceil(size / PAGE) * PAGE;
  if (ctx.pool.forAlloc) {
    // models swiotlb_alloc(): the pool's page-aligned allocation; the kernel frees it again when
    // it is not dma_coherent_ok(), as here.
    const taken = ctx.pool.alloc(bytes, { cpu });
    if (taken.tlbAddr + bytes - 1 > dmaLimit) {
      ctx.pool.free(taken.tlbAddr, bytes);
      throw new AllocationError(`the restricted pool's memory at 0x${taken.tlbAddr.toString(16)} is beyond the device's coherent mask`, { requested: bytes, alignment: PAGE, free: 0 });
    }
    ctx.coherent.set(taken.tlbAddr, { deviceId, size: bytes, span: undefined });
    return { phys: taken.tlbAddr, dmaAddress: taken.tlbAddr, size: bytes };
  }
  for (const region of ctx.ram) {
    if (region.phys + bytes - 1 > dmaLimit) continue;
    let span: Span;
    try {
      span = region.allocate(bytes, PAGE);
    } catch {
      continue;
    }
    if (span.phys + bytes - 1 > dmaLimit) {
      region.free(span);
      continue;
    }
    ctx.coherent.set(span.phys, { deviceId, size: bytes, span });
    return { phys: span.phys, dmaAddress: span.phys, size: bytes };
  }
  throw new AllocationError(`no host RAM the device can address (limit 0x${dmaLimit.toString(16)}) has ${bytes} bytes free`, { requested: bytes, alignment: PAGE, free: 0 });
}

/**
 * models dma_free_coherent(): gives back what allocCoherent() returned. Throws
 * ERR_INVALID_ARGUMENT (not a coherent allocation of this device, or another size) or
 * ERR_MAPPING_STATE (already freed), changing nothing.
 */
export function freeCoherent(ctx: DmaContext, deviceId: number, allocation: unknown): void {
  if (allocation === null || typeof allocation !== 'object') throw new InvalidArgumentError('expected the allocation allocCoherent() returned', { argument: 'allocation' });
  const { dmaAddress, size } = allocation as { dmaAddress?: unknown; size?: unknown };
  if (typeof dmaAddress !== 'number' || !Number.isSafeInteger(dmaAddress) || typeof size !== 'number') throw new InvalidArgumentError('expected the allocation allocCoherent() returned', { argument: 'allocation' });
  const record = ctx.coherent.get(dmaAddress);
  if (record === undefined) throw new MappingStateError(`0x${dmaAddress.toString(16)} is no coherent allocation (freed already, or never allocated)`, { dmaAddress, length: size, state: 'free' });
  if (record.deviceId !== deviceId || record.size !== Math.ceil(size / PAGE) * PAGE) throw new InvalidArgumentError(`0x${dmaAddress.toString(16)} was allocated ${record.deviceId !== deviceId ? 'for another device' : `with size ${record.size}`}`, { argument: 'allocation' });
  ctx.coherent.delete(dmaAddress);
  if (record.span) record.span.region.free(record.span);
  else ctx.pool.free(dmaAddress, record.size);
}
