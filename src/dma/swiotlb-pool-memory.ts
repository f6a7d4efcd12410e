// Where a dynamic swiotlb gets the memory for the pools it adds: the kernel takes pages from the
// buddy allocator (swiotlb_alloc_tlb); the model asks its owner through two callbacks, so that
// the mapper can back new pools with fabric memory. This file holds that interface, the checks
// of what the callbacks return, and the kernel's sizing of a new pool (swiotlb_alloc_pool()).
import { SwiotlbPoolMemoryError } from '../errors.js';
import { describe } from '../fabric/input.js';
import { IO_TLB_SEGSIZE, IO_TLB_SIZE, PAGE_SHIFT, PAGE_SIZE, hex, limitNareas } from './swiotlb-internal.js';

/** What allocPoolMemory is told besides the byte count. */
export interface SwiotlbPoolMemoryRequest {
  /**
   * True for a transient pool: one mapping's slots, asked for from inside the map call (the
   * kernel's GFP_NOWAIT: it must not wait, and it may fail). False for the default-size pool the
   * background work adds (GFP_KERNEL).
   */
  readonly transient: boolean;
  /** The highest physical address the memory may reach, inclusive. */
  readonly physLimit: number;
}

/**
 * The page allocator of a dynamic swiotlb. Returns `{ phys }`: the physical (= DMA) address of
 * `bytes` of memory that belongs to no swiotlb pool yet, page aligned (the kernel's buddy
 * allocator also aligns a block to its power-of-two size), ending at or below
 * `request.physLimit`; or undefined (or null) when there is none. It is called synchronously from
 * inside map() (transient) or the growth work, and must not call back into the swiotlb.
 */
export type AllocPoolMemory = (bytes: number, request: SwiotlbPoolMemoryRequest) => { readonly phys: number } | undefined | null;

/** Gives back memory allocPoolMemory returned: the same `phys` and `bytes`. Must not call back into the swiotlb. */
export type FreePoolMemory = (phys: number, bytes: number, request: { readonly transient: boolean }) => void;

/** The two callbacks, as SwiotlbMem keeps them. */
export interface PoolMemory {
  readonly alloc: AllocPoolMemory;
  readonly free: FreePoolMemory;
}

/** A pool's memory and shape, as swiotlb_alloc_pool() settles them. */
export interface AllocatedPool {
  readonly phys: number;
  readonly slots: number;
  readonly areas: number;
}

/** SLABS_PER_PAGE: slots in one page. */
const SLABS_PER_PAGE = 1 << (PAGE_SHIFT - 11);

/**
 * Allocates a pool of `slots` slots (fewer, halving down to `minSlots`, when memory is short) in
 * at most `2^maxPageOrder` pages. Returns undefined when even `minSlots` cannot be had. Throws
 * SwiotlbPoolMemoryError (ERR_SWIOTLB_POOL_MEMORY) when a callback breaks its contract; memory
 * already given back stays given back.
 */
// models swiotlb_alloc_pool() and swiotlb_alloc_tlb()
export function allocPool(
  memory: PoolMemory,
  minSlots: number,
  slots: number,
  areas: number,
  physLimit: number,
  transient: boolean,
  maxPageOrder: number,
  overlapsPool: (phys: number, end: number) => boolean,
): AllocatedPool | undefined {
  // One buddy block holds at most 2^MAX_PAGE_ORDER pages (4 MiB on x86-64).
  const maxSlots = SLABS_PER_PAGE << maxPageOrder;
  if (slots > maxSlots) {
    slots = maxSlots;
    areas = limitNareas(areas, slots);
  }
  for (;;) {
    const phys = takePoolMemory(memory, slots * IO_TLB_SIZE, transient, physLimit, overlapsPool);
    // A pool never has more areas than slots (the kernel would divide by a zero area_nslabs).
    if (phys !== undefined) return { phys, slots, areas: Math.max(1, Math.min(areas, slots)) };
    if (slots <= minSlots) return undefined;
    slots = Math.ceil((slots >>> 1) / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
    areas = limitNareas(areas, slots);
  }
}

/**
 * One call of allocPoolMemory, its result checked: the address, or undefined when there was no
 * memory. Memory above `physLimit` is given back and counts as none, as alloc_dma_pages() frees
 * pages that landed too high.
 */
function takePoolMemory(memory: PoolMemory, bytes: number, transient: boolean, physLimit: number, overlapsPool: (phys: number, end: number) => boolean): number | undefined {
  let result: unknown;
  try {
    result = memory.alloc(bytes, { transient, physLimit });
  } catch (cause) {
    throw new SwiotlbPoolMemoryError(`swiotlb: allocPoolMemory(${bytes}) threw`, { reason: 'threw', bytes, cause });
  }
  if (result === undefined || result === null) return undefined;
  if (typeof result !== 'object') {
    throw new SwiotlbPoolMemoryError(`swiotlb: allocPoolMemory(${bytes}) returned ${typeof result}, not { phys } or undefined`, { reason: 'bad-result', bytes });
  }
  const { phys } = result as { phys?: unknown }; // read once
  if (typeof phys !== 'number' || !Number.isSafeInteger(phys) || phys < 0 || !Number.isSafeInteger(phys + bytes)) {
    throw new SwiotlbPoolMemoryError(`swiotlb: allocPoolMemory(${bytes}) returned phys ${describe(phys)}, not an address`, { reason: 'bad-result', bytes, phys });
  }
  if (phys % PAGE_SIZE !== 0) {
    throw new SwiotlbPoolMemoryError(`swiotlb: allocPoolMemory(${bytes}) returned 0x${hex(phys)}, not page aligned`, { reason: 'unaligned', bytes, phys });
  }
  if (overlapsPool(phys, phys + bytes)) {
    throw new SwiotlbPoolMemoryError(`swiotlb: allocPoolMemory(${bytes}) returned 0x${hex(phys)}, which overlaps a pool already in use`, { reason: 'overlap', bytes, phys });
  }
  if (phys + bytes - 1 > physLimit) {
    givePoolMemory(memory, phys, bytes, transient);
    return undefined;
  }
  return phys;
}

/** One call of freePoolMemory; throws SwiotlbPoolMemoryError (reason 'threw') when it throws. */
export function givePoolMemory(memory: PoolMemory, phys: number, bytes: number, transient: boolean): void {
  try {
    memory.free(phys, bytes, { transient });
  } catch (cause) {
    throw new SwiotlbPoolMemoryError(`swiotlb: freePoolMemory(0x${hex(phys)}, ${bytes}) threw`, { reason: 'threw', bytes, phys, cause });
  }
}
