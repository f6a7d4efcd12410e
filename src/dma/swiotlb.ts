// One swiotlb bounce pool (the kernel's struct io_tlb_pool): slot accounting only, as
// kernel/dma/swiotlb.c (v6.10+) keeps it. The pool moves no bytes and knows nothing of its
// callers: it hands out runs of 2 KiB slots over a contiguous range whose DMA (= physical)
// base is given, and takes them back. Used alone it is also the whole allocator of a kernel
// without CONFIG_SWIOTLB_DYNAMIC (one pool); SwiotlbMem (swiotlb-mem.ts) searches several.
// Placement follows the kernel slot for slot; see docs/swiotlb.md for what differs and why.
import { InvalidArgumentError, SwiotlbFullError } from '../errors.js';
import { describe } from '../fabric/input.js';
import { parseSize, type Size } from '../size.js';
import {
  CHECK_RELEASE,
  CLAIM,
  IO_TLB_SEGSIZE,
  IO_TLB_SHIFT,
  IO_TLB_SIZE,
  KIND_ALLOC,
  KIND_MAP,
  LAST_MAPPING,
  PAGE_SIZE,
  POOL_SHAPE,
  RECORD_KIND,
  RELEASE,
  SEGMENT_BYTES,
  SLOT_MASK,
  adjustNareas,
  alignOffset,
  allocBytesOf,
  checkMapRequest,
  checkUint32,
  hex,
  limitNareas,
  maxMappingSizeOf,
  nrSlots,
  nrSlots32,
  checkWait,
  type CheckedRequest,
  type PoolShape,
  type RecordKind,
} from './swiotlb-internal.js';
import { SpaceWaiters } from './swiotlb-wait.js';

export { IO_TLB_SHIFT, IO_TLB_SIZE, IO_TLB_SEGSIZE, PAGE_SHIFT, PAGE_SIZE, nrSlots } from './swiotlb-internal.js';
/** The default pool size, 64 MiB. */
export const IO_TLB_DEFAULT_SIZE = 64 * 2 ** 20;
/** The smallest pool the kernel bothers with (1 MiB): the floor of a dynamic pool's halving. */
export const IO_TLB_MIN_SLABS = (1 << 20) >> IO_TLB_SHIFT;

// The fabric is wasm32: a pool never exceeds 4 GiB.
const MAX_POOL_BYTES = 2 ** 32;

export interface SwiotlbPoolOptions {
  /** DMA (= CPU physical) address of slot 0. Page aligned; may lie above 4 GiB. */
  readonly base: number;
  /** Pool size, a multiple of one segment (256 KiB). Default 64 MiB. */
  readonly size?: Size;
  /** CPUs of the modelled machine (num_possible_cpus); sets the default area count. Default 1. */
  readonly cpus?: number;
  /** Area count, as `swiotlb=,N` gives it; overrides `cpus`. Rounded up to a power of two, then limited. */
  readonly areas?: number;
  /** Called on every failed map, where the kernel prints its rate-limited "swiotlb buffer is full" warning. */
  readonly onFull?: (event: SwiotlbFullEvent) => void;
}

export interface SwiotlbFullEvent {
  /** The kernel's `sz`: mapping size plus alignment offset, rounded up to alloc_align_mask + 1. */
  readonly size: number;
  /** The requested mapping size. */
  readonly mappingSize: number;
  readonly totalSlots: number;
  readonly usedSlots: number;
  /** The kernel's warning text. */
  readonly message: string;
}

export interface SwiotlbMapRequest {
  /** Address of the original buffer; its low bits under `minAlignMask` are kept in the bounce address. */
  readonly origAddr: number;
  /**
   * Bytes, 1 .. 256 KiB. Above maxMappingSize(minAlignMask) (the limit drivers are told) the
   * mapping is still placed when its slots fit one segment, as swiotlb_tbl_map_single() does; an
   * allocation (size plus alignment offset, rounded up to allocAlignMask + 1) larger than one
   * segment is refused with ERR_INVALID_ARGUMENT.
   */
  readonly size: number;
  /** The device's min_align_mask (dma_get_min_align_mask). Default 0. */
  readonly minAlignMask?: number;
  /** Alignment of the allocation, 0 or 2^k - 1 (the IOMMU bounce path passes its granule - 1). Default 0. */
  readonly allocAlignMask?: number;
  /** The CPU the caller runs on; the search starts in area `cpu & (areas - 1)`. Default 0. */
  readonly cpu?: number;
  /** The device's segment boundary mask (dma_get_seg_boundary), 2^k - 1. Default: no boundary. */
  readonly boundaryMask?: number;
}

export interface SwiotlbMapping {
  /** Bounce address of the first data byte; equals origAddr in every bit of minAlignMask (unless origAddr is 0, a kernel quirk). */
  readonly tlbAddr: number;
  /** First allocated slot (the first padding slot when padSlots > 0), counted from the base of the pool holding it. */
  readonly index: number;
  /** Slots allocated, padding included. */
  readonly nslots: number;
  /** Whole slots of padding before the data (from allocAlignMask with a min_align_mask offset). */
  readonly padSlots: number;
  /** Bytes from the start of slot `index` to tlbAddr. */
  readonly offset: number;
}

export interface SwiotlbMappingInfo extends SwiotlbMapping {
  readonly origAddr: number;
  /** The mapping size given to map(). */
  readonly size: number;
  readonly minAlignMask: number;
  readonly allocAlignMask: number;
}

export interface SwiotlbStats {
  /** io_tlb_nslabs: every slot of the pool, also those past the last whole area. */
  readonly totalSlots: number;
  /** io_tlb_used. */
  readonly usedSlots: number;
  /** io_tlb_used_hiwater. */
  readonly highWaterSlots: number;
  /** io_tlb_transient_nslabs: always 0 for a lone pool (transient pools belong to a dynamic SwiotlbMem). */
  readonly transientSlots: number;
  readonly areas: number;
  /** area_nslabs. */
  readonly areaSlots: number;
  /** Failed maps (each one a "swiotlb buffer is full" warning in the kernel). */
  readonly fullEvents: number;
  /** Live mappings. */
  readonly mappings: number;
  /** mapWait() callers waiting for space. */
  readonly waiters: number;
}

export interface SwiotlbAreaState {
  /** Next-fit start index, relative to the area. */
  readonly index: number;
  readonly used: number;
  /** First slot of the area. */
  readonly start: number;
  readonly slots: number;
}

export interface SwiotlbWaitOptions {
  /** Milliseconds to wait for space; then SwiotlbFullError with `timedOut: true`. Default: no limit. */
  readonly timeout?: number;
  readonly signal?: AbortSignal;
}

/**
 * Largest mapping a device with this min_align_mask is told it may bounce (what
 * dma_max_mapping_size() reports): one segment (256 KiB) less roundup(minAlignMask, IO_TLB_SIZE)
 * when the mask is non-zero; 0 when the mask eats the segment. The pool itself places larger
 * mappings when their slots fit a segment. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT)
 * for a mask that is not a 32-bit unsigned integer.
 */
// models swiotlb_max_mapping_size()
export function maxMappingSize(minAlignMask = 0): number {
  checkUint32(minAlignMask, 'minAlignMask');
  return maxMappingSizeOf(minAlignMask);
}

/**
 * A swiotlb pool: 2 KiB slots in 128-slot segments, split into areas each with its own
 * next-fit index, searched the way the kernel does. Methods that fail leave the pool unchanged.
 */
export class SwiotlbPool {
  readonly base: number;
  /** Bytes. */
  readonly size: number;
  /** One past the last byte. */
  readonly end: number;
  readonly totalSlots: number;
  readonly areas: number;
  /** Slots per area (area_nslabs); slots past areas * areaSlots are never used. */
  readonly areaSlots: number;

  // Kernel state (struct io_tlb_slot, struct io_tlb_area).
  /**
   * One bit per slot, set while the slot is in use. The kernel stores each slot's `list` (free
   * slots from there to the end of its free run, never past the segment end or the pool end) and
   * rewrites the free slots before a run on every allocation and free (up to 127 of them); here
   * `list` is computed from this bitmap when asked (freeRun()): the same values, with no walks.
   * The bitmap covers whole segments; bits past the pool's last slot stay set, so that a free run
   * stops at the pool end as the kernel's initial `list` does.
   */
  private readonly inUse: Uint32Array;
  /** The kernel's alloc_size: bytes from the slot's start (less the in-slot offset) to the allocation's end. */
  private readonly allocSize: Int32Array;
  /** pad_slots, kept at the first data slot. */
  private readonly pad: Int32Array;
  /** log2(areaSlots) when that is a power of two (slot -> area is a shift), else -1. */
  private readonly areaShift: number;
  private readonly areaIndex: Int32Array;
  private readonly areaUsed: Int32Array;
  private used = 0;
  private hiwater = 0;

  // Beyond the kernel: one record per live mapping, at its first data slot, so unmap can be checked.
  /** Mapping size; 0 = no mapping starts at this slot; negated for a swiotlb_alloc() allocation (KIND_ALLOC). */
  private readonly recSize: Int32Array;
  private readonly recOrig: Float64Array;
  private readonly recMinAlign: Uint32Array;
  private readonly recAllocAlign: Uint32Array;
  /** Per slot: first data slot of the live mapping that holds it, or -1. */
  private readonly owner: Int32Array;
  private live = 0;
  private fullCount = 0;
  private readonly onFull: ((event: SwiotlbFullEvent) => void) | undefined;
  /** mapWait() callers; made at the first one (a transient pool never has any). */
  private waiters: SpaceWaiters<CheckedRequest, SwiotlbMapping> | undefined;

  // Result of the last successful claim, read by map() without allocating on the hot path.
  private lastIndex = 0;
  private lastNslots = 0;
  private lastPad = 0;
  private lastOffset = 0;
  private lastAllocBytes = 0;

  // searchPoolArea()'s values for the last boundary mask it was given (NaN: none yet).
  private boundaryFor = NaN;
  private boundaryTblDma = 0;
  private boundaryMaxSlots = 0;
  private boundaryShift = 0;

  /**
   * Builds an empty pool. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, field `argument`)
   * for a bad base, cpus, areas or a size that is not a whole number of segments, and
   * InvalidSizeError (ERR_INVALID_SIZE) for a size that is not a size at all.
   */
  // models swiotlb_init_io_tlb_pool(), with the area count of swiotlb_adjust_nareas() and limit_nareas()
  constructor(options: SwiotlbPoolOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('SwiotlbPool: options must be an object', { argument: 'options' });
    }
    const { base, cpus = 1, areas, onFull } = options;
    const shape = (options as { [POOL_SHAPE]?: PoolShape })[POOL_SHAPE];
    if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE !== 0) {
      throw new InvalidArgumentError(`SwiotlbPool: base must be a page-aligned address, got ${describe(base)}`, { argument: 'base', value: base });
    }
    let size: number;
    let nareas: number;
    if (shape !== undefined) {
      // A pool the kernel builds itself: any slot count, the area count as given.
      const { slots, areas: shapeAreas } = shape;
      if (!Number.isSafeInteger(slots) || slots < 1 || slots > MAX_POOL_BYTES / IO_TLB_SIZE) {
        throw new InvalidArgumentError(`SwiotlbPool: a pool holds 1..${MAX_POOL_BYTES / IO_TLB_SIZE} slots, got ${describe(slots)}`, { argument: 'size', value: slots });
      }
      if (!Number.isSafeInteger(shapeAreas) || shapeAreas < 1 || shapeAreas > slots) {
        throw new InvalidArgumentError(`SwiotlbPool: areas must be 1..${slots}, got ${describe(shapeAreas)}`, { argument: 'areas', value: shapeAreas });
      }
      size = slots * IO_TLB_SIZE;
      nareas = shapeAreas;
    } else {
      size = parseSize(options.size ?? IO_TLB_DEFAULT_SIZE, 'size');
      if (size === 0 || size % SEGMENT_BYTES !== 0 || size > MAX_POOL_BYTES) {
        throw new InvalidArgumentError(`SwiotlbPool: size must be a whole number of 256KiB segments, at most 4GiB, got ${size}`, { argument: 'size', value: size });
      }
      if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > 65536) {
        throw new InvalidArgumentError(`SwiotlbPool: cpus must be an integer 1..65536, got ${describe(cpus)}`, { argument: 'cpus', value: cpus });
      }
      if (areas !== undefined && (!Number.isSafeInteger(areas) || areas < 1 || areas > 65536)) {
        throw new InvalidArgumentError(`SwiotlbPool: areas must be an integer 1..65536, got ${describe(areas)}`, { argument: 'areas', value: areas });
      }
      nareas = limitNareas(adjustNareas(areas ?? cpus), size / IO_TLB_SIZE);
    }
    if (!Number.isSafeInteger(base + size)) {
      throw new InvalidArgumentError('SwiotlbPool: base + size is beyond 2^53', { argument: 'base', value: base });
    }
    if (onFull !== undefined && typeof onFull !== 'function') {
      throw new InvalidArgumentError('SwiotlbPool: onFull must be a function', { argument: 'onFull' });
    }
    const nslabs = size / IO_TLB_SIZE;
    this.base = base;
    this.size = size;
    this.end = base + size;
    this.totalSlots = nslabs;
    this.areas = nareas;
    this.areaSlots = Math.floor(nslabs / nareas);
    this.areaShift = (this.areaSlots & (this.areaSlots - 1)) === 0 ? 31 - Math.clz32(this.areaSlots) : -1;
    this.onFull = onFull;

    const segments = Math.ceil(nslabs / IO_TLB_SEGSIZE);
    this.inUse = new Uint32Array(segments * (IO_TLB_SEGSIZE / 32));
    // models the initial list = min(IO_TLB_SEGSIZE - io_tlb_offset(i), nslabs - i): runs end at the pool end
    if (nslabs % IO_TLB_SEGSIZE !== 0) this.markSlots(nslabs, segments * IO_TLB_SEGSIZE - nslabs, true);
    this.allocSize = new Int32Array(nslabs);
    this.pad = new Int32Array(nslabs);
    this.areaIndex = new Int32Array(this.areas);
    this.areaUsed = new Int32Array(this.areas);
    this.recSize = new Int32Array(nslabs);
    this.recOrig = new Float64Array(nslabs);
    this.recMinAlign = new Uint32Array(nslabs);
    this.recAllocAlign = new Uint32Array(nslabs);
    this.owner = new Int32Array(nslabs).fill(-1);
  }

  /**
   * Allocates slots for one mapping. Returns where the data goes.
   * Throws SwiotlbFullError (ERR_SWIOTLB_FULL; fields `size` (the kernel's sz), `mappingSize`,
   * `totalSlots`, `usedSlots`) when no area has room, with the kernel's message; and
   * InvalidArgumentError (ERR_INVALID_ARGUMENT, field `argument`) for a bad request, including an
   * allocation larger than one segment (size above 256 KiB, or made so by the alignment offset and
   * allocAlignMask). Sizes above maxMappingSize(minAlignMask) are placed when their slots fit.
   * Leaves the pool unchanged when it throws (except the `fullEvents` counter).
   */
  // models swiotlb_tbl_map_single() up to the copy-in (the mapper copies)
  map(request: SwiotlbMapRequest): SwiotlbMapping {
    if (typeof request !== 'object' || request === null) {
      throw new InvalidArgumentError('swiotlb map: request must be an object', { argument: 'request' });
    }
    const { origAddr, size, minAlignMask = 0, allocAlignMask = 0, cpu = 0, boundaryMask = -1 } = request;
    const tlbAddr = this.mapSlots(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask);
    if (tlbAddr < 0) throw this.fullError(size, this.lastAllocBytes);
    return this.lastMapping(tlbAddr);
  }

  /**
   * The non-allocating map: same search and checks as map(), but returns the bounce address,
   * or -1 when the pool is full (counted in `fullEvents`, `onFull` called, nothing thrown).
   * Throws InvalidArgumentError for a bad request, leaving the pool unchanged.
   */
  tryMap(origAddr: number, size: number, minAlignMask = 0, allocAlignMask = 0, cpu = 0, boundaryMask = -1): number {
    const tlbAddr = this.mapSlots(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask);
    if (tlbAddr < 0) this.reportFull(size, this.lastAllocBytes);
    return tlbAddr;
  }

  /**
   * Frees the mapping whose data starts at `tlbAddr`, padding slots included, and wakes mapWait() callers.
   * `size` and `minAlignMask` must be those given to map(). Throws InvalidArgumentError
   * (ERR_INVALID_ARGUMENT; fields `argument`, `reason`: 'outside-pool', 'not-mapped',
   * 'not-mapping-start', 'size-mismatch', 'min-align-mask-mismatch') and leaves the pool unchanged
   * when the address is not the start of a live mapping or the size or mask differ.
   */
  // models swiotlb_tbl_unmap_single() and swiotlb_release_slots() after the copy-back
  unmap(tlbAddr: number, size: number, minAlignMask = 0): void {
    this.release(this.checkRelease(tlbAddr, size, minAlignMask, KIND_MAP), tlbAddr);
    const waiters = this.waiters;
    if (waiters !== undefined && waiters.length !== 0) waiters.drain();
  }

  /**
   * Like map(), but when the pool is full waits for an unmap to make room instead of failing.
   * Resolves with the mapping. Rejects with SwiotlbFullError with `timedOut: true` after
   * `timeout` ms; with SwiotlbFullError with `neverFits: true` at once when nothing is mapped and
   * it still does not fit; with AbortError (ERR_ABORTED) when `signal` aborts; with
   * InvalidArgumentError for a bad request. A waiter that gives up leaves no trace.
   * Waiters are served strictly first come, first served (see docs/swiotlb.md).
   */
  // beyond the kernel: QEMU's address_space_map() + cpu_register_map_client()
  mapWait(request: SwiotlbMapRequest, options: SwiotlbWaitOptions = {}): Promise<SwiotlbMapping> {
    try {
      const { checked, timeout, signal } = checkWait(request, options);
      return (this.waiters ??= this.makeWaiters()).wait(checked, timeout, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** True when [dmaAddr, dmaAddr + len) lies inside the pool (is_swiotlb_buffer for a range). */
  contains(dmaAddr: number, len = 1): boolean {
    // Numbers only: a compare would coerce anything else, or throw (a Symbol, a BigInt in the sum).
    return typeof dmaAddr === 'number' && typeof len === 'number' && dmaAddr >= this.base && len >= 0 && dmaAddr + len <= this.end;
  }

  /** Index of the slot holding `addr`, or -1 outside the pool. */
  slotIndexOf(addr: number): number {
    if (typeof addr !== 'number' || !(addr >= this.base && addr < this.end)) return -1;
    return Math.floor((addr - this.base) / IO_TLB_SIZE);
  }

  /** The live mapping whose data starts exactly at `tlbAddr`, or undefined. */
  mappingAt(tlbAddr: number): SwiotlbMappingInfo | undefined {
    const slot = this.slotIndexOf(tlbAddr);
    if (slot < 0 || this.recSize[slot] === 0) return undefined;
    const info = this.infoAt(slot);
    return info.tlbAddr === tlbAddr ? info : undefined;
  }

  /** The live mapping whose allocation (padding included) holds `addr`, or undefined. */
  mappingContaining(addr: number): SwiotlbMappingInfo | undefined {
    const slot = this.slotIndexOf(addr);
    if (slot < 0) return undefined;
    const head = this.owner[slot]!;
    return head < 0 ? undefined : this.infoAt(head);
  }

  /** Counters as debugfs shows them, plus the model's own. */
  stats(): SwiotlbStats {
    return {
      totalSlots: this.totalSlots,
      usedSlots: this.used,
      highWaterSlots: this.hiwater,
      transientSlots: 0,
      areas: this.areas,
      areaSlots: this.areaSlots,
      fullEvents: this.fullCount,
      mappings: this.live,
      waiters: this.waiters?.length ?? 0,
    };
  }

  /**
   * Writes 0 to the high-water mark, as `echo 0 > io_tlb_used_hiwater` does: it reads 0 (not the
   * current use) until the next map raises it.
   */
  // models io_tlb_hiwater_set()
  resetHighWater(): void {
    this.hiwater = 0;
  }

  /** Next-fit index and use of one area (for tests and debugging). Throws ERR_INVALID_ARGUMENT for no such area. */
  areaState(area: number): SwiotlbAreaState {
    if (!Number.isInteger(area) || area < 0 || area >= this.areas) {
      throw new InvalidArgumentError(`swiotlb: no area ${describe(area)}`, { argument: 'area' });
    }
    return { index: this.areaIndex[area]!, used: this.areaUsed[area]!, start: area * this.areaSlots, slots: this.areaSlots };
  }

  /**
   * The kernel's per-slot `list`: free slots from `slot` to the end of its free run inside its
   * segment (and the pool); 0 when used. Throws ERR_INVALID_ARGUMENT for no such slot.
   */
  freeRunAt(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.totalSlots) {
      throw new InvalidArgumentError(`swiotlb: no slot ${describe(slot)}`, { argument: 'slot' });
    }
    return this.freeRun(slot);
  }

  // ---- hooks for SwiotlbMem (swiotlb-internal.ts documents them)

  /** @internal SwiotlbMem's hook: one area's search and record (swiotlb-internal.ts). */
  [CLAIM](area: number, origAddr: number, size: number, minAlignMask: number, allocAlignMask: number, boundaryMask: number, allocBytes: number, kind: RecordKind): number {
    return this.claim(area, origAddr, size, minAlignMask, allocAlignMask, boundaryMask, allocBytes, kind);
  }

  /** @internal SwiotlbMem's hook: the checked first data slot of a record. */
  [CHECK_RELEASE](tlbAddr: number, size: number, minAlignMask: number, kind: RecordKind): number {
    return this.checkRelease(tlbAddr, size, minAlignMask, kind);
  }

  /** @internal SwiotlbMem's hook: frees a checked record. */
  [RELEASE](data: number, tlbAddr: number): number {
    return this.release(data, tlbAddr);
  }

  /** @internal SwiotlbMem's hook: the last claim's mapping. */
  [LAST_MAPPING](tlbAddr: number): SwiotlbMapping {
    return this.lastMapping(tlbAddr);
  }

  /** @internal SwiotlbMem's hook: the kind of the record at an address. */
  [RECORD_KIND](tlbAddr: number): number {
    const slot = this.slotIndexOf(tlbAddr);
    const recorded = slot < 0 ? 0 : this.recSize[slot]!;
    return recorded === 0 ? 0 : recorded > 0 ? KIND_MAP : KIND_ALLOC;
  }

  // ---- internals

  private makeWaiters(): SpaceWaiters<CheckedRequest, SwiotlbMapping> {
    return new SpaceWaiters<CheckedRequest, SwiotlbMapping>({
      attempt: (r) => {
        const tlbAddr = this.mapSlots(r.origAddr, r.size, r.minAlignMask, r.allocAlignMask, r.cpu, r.boundaryMask);
        return tlbAddr < 0 ? undefined : this.lastMapping(tlbAddr);
      },
      cannotEverFit: () => this.used === 0,
      reportFull: (r) => {
        this.reportFull(r.size, allocBytesOf(r.origAddr, r.size, r.minAlignMask, r.allocAlignMask));
      },
      fullError: (r, timeout) => {
        const allocBytes = allocBytesOf(r.origAddr, r.size, r.minAlignMask, r.allocAlignMask);
        if (timeout !== undefined) {
          return new SwiotlbFullError(`${this.fullMessage(allocBytes)}; gave up after ${timeout} ms`, {
            size: allocBytes, mappingSize: r.size, totalSlots: this.totalSlots, usedSlots: this.used, timedOut: true, timeout,
          });
        }
        return new SwiotlbFullError(`${this.fullMessage(allocBytes)}; it cannot fit even in the empty pool`, {
          size: allocBytes, mappingSize: r.size, totalSlots: this.totalSlots, usedSlots: 0, neverFits: true,
        });
      },
    });
  }

  private claim(area: number, origAddr: number, size: number, minAlignMask: number, allocAlignMask: number, boundaryMask: number, allocBytes: number, kind: RecordKind): number {
    // allocBytes is at most one segment (checked), so the slot arithmetic stays in small integers.
    const nslots = nrSlots32(allocBytes);
    const index = this.searchPoolArea(area, origAddr, allocBytes, nslots, allocAlignMask, minAlignMask, boundaryMask);
    if (index < 0) return -1;
    const offset = alignOffset(minAlignMask, allocAlignMask, origAddr);
    const padSlots = offset >>> IO_TLB_SHIFT;
    const data = index + padSlots;
    const inSlot = offset & SLOT_MASK; // swiotlb_align_offset(dev, 0, orig_addr)
    const allocSize = this.allocSize;
    const owner = this.owner;
    for (let i = index, k = 0; k < nslots; i++, k++) {
      allocSize[i] = allocBytes - (inSlot + k * IO_TLB_SIZE);
      owner[i] = data;
    }
    // The kernel also rewrites `list` of the free slots just before the run; freeRun() sees it.
    this.markSlots(index, nslots, true);
    this.areaUsed[area] = this.areaUsed[area]! + nslots;
    const used = this.used += nslots;
    if (used > this.hiwater) this.hiwater = used; // models inc_used_and_hiwater()
    this.pad[data] = padSlots;
    this.recSize[data] = kind === KIND_MAP ? size : -size;
    this.recOrig[data] = origAddr;
    this.recMinAlign[data] = minAlignMask;
    this.recAllocAlign[data] = allocAlignMask;
    this.live++;
    this.lastIndex = index;
    this.lastNslots = nslots;
    this.lastPad = padSlots;
    this.lastOffset = offset;
    return this.base + data * IO_TLB_SIZE + inSlot;
  }

  // Beyond the kernel (which trusts the caller and corrupts its free lists otherwise): the record
  // must start exactly here, with the size, mask and kind it was made with. For an allocation the
  // mask is not compared: swiotlb_free() is given none, and an allocation's offset is always 0.
  private checkRelease(tlbAddr: number, size: number, minAlignMask: number, kind: RecordKind): number {
    const map = kind === KIND_MAP;
    // Numbers only, tested first: a compare or a shift would coerce anything else, or throw a TypeError.
    if (
      typeof tlbAddr === 'number' && tlbAddr >= this.base && tlbAddr < this.end && Number.isSafeInteger(tlbAddr) &&
      (!map || (typeof minAlignMask === 'number' && minAlignMask >>> 0 === minAlignMask)) && typeof size === 'number' && size > 0
    ) {
      // tlbAddr - base is below 4 GiB: the quotient has at most 21 bits.
      const head = this.owner[((tlbAddr - this.base) / IO_TLB_SIZE) | 0]!;
      if (head >= 0) {
        const mappedMask = this.recMinAlign[head]!;
        const start = this.base + head * IO_TLB_SIZE + (this.recOrig[head]! & mappedMask & SLOT_MASK);
        const recorded = this.recSize[head]!;
        // A map's record holds +size, an allocation's -size; an allocation's mask is not compared.
        if (start === tlbAddr && (map ? recorded === size && mappedMask === minAlignMask : recorded === -size)) return head;
      }
    }
    return this.releaseRefusal(tlbAddr, size, minAlignMask, kind);
  }

  // The refusal of checkRelease(), worked out again from the start: off the hot path, so that the
  // accepting test stays small enough for V8 to inline.
  private releaseRefusal(tlbAddr: number, size: number, minAlignMask: number, kind: RecordKind): never {
    if (!Number.isSafeInteger(tlbAddr) || tlbAddr < this.base || tlbAddr >= this.end) {
      throw unmapError(`swiotlb unmap: 0x${hex(tlbAddr)} is outside the pool`, 'outside-pool', tlbAddr);
    }
    if (kind === KIND_MAP) checkUint32(minAlignMask, 'minAlignMask');
    // tlbAddr - base is below 4 GiB: the quotient has at most 21 bits.
    const head = this.owner[((tlbAddr - this.base) / IO_TLB_SIZE) | 0]!;
    if (head < 0) throw unmapError(`swiotlb unmap: nothing is mapped at 0x${hex(tlbAddr)}`, 'not-mapped', tlbAddr);
    const mappedMask = this.recMinAlign[head]!;
    const start = this.base + head * IO_TLB_SIZE + (this.recOrig[head]! & mappedMask & SLOT_MASK);
    if (start !== tlbAddr) {
      throw unmapError(`swiotlb unmap: 0x${hex(tlbAddr)} is not the start of a mapping (the mapping there starts at 0x${hex(start)})`, 'not-mapping-start', tlbAddr);
    }
    const recorded = this.recSize[head]!;
    if (recorded > 0 !== (kind === KIND_MAP)) {
      throw unmapError(
        kind === KIND_MAP ? `swiotlb unmap: 0x${hex(tlbAddr)} is a swiotlb_alloc() allocation; free it with free()` : `swiotlb free: 0x${hex(tlbAddr)} is a streaming mapping; unmap it`,
        'kind-mismatch', tlbAddr,
      );
    }
    if (kind === KIND_MAP && mappedMask !== minAlignMask) {
      throw unmapError(`swiotlb unmap: min_align_mask 0x${hex(minAlignMask)} differs from 0x${hex(mappedMask)} used to map`, 'min-align-mask-mismatch', tlbAddr);
    }
    // Every other check passed, so the size is what checkRelease() refused.
    throw unmapError(`swiotlb unmap: size ${describe(size)} differs from the mapped size ${Math.abs(recorded)}`, 'size-mismatch', tlbAddr);
  }

  // models swiotlb_release_slots()
  private release(data: number, tlbAddr: number): number {
    // The kernel finds the first slot from the address and the device's min_align_mask alone:
    // tlb_addr & min_align_mask & (IO_TLB_SIZE - 1), which for the checked start of a record is
    // the address's offset in its slot (the base is page aligned).
    const offset = (tlbAddr - this.base) & SLOT_MASK; // ToInt32 keeps the low bits of any safe integer
    const index = data - this.pad[data]!;
    const allocSize = this.allocSize;
    const nslots = nrSlots32(allocSize[index]! + offset);
    const area = this.areaShift >= 0 ? index >>> this.areaShift : Math.floor(index / this.areaSlots);
    const owner = this.owner;
    for (let i = index, last = index + nslots; i < last; i++) {
      allocSize[i] = 0;
      owner[i] = -1;
    }
    // The kernel's two merges (with the free runs after and before, inside the segment) are what
    // freeRun() computes from the bitmap.
    this.markSlots(index, nslots, false);
    this.pad[data] = 0;
    this.recSize[data] = 0;
    this.areaUsed[area] = this.areaUsed[area]! - nslots;
    this.used -= nslots; // models dec_used()
    this.live--;
    return nslots;
  }

  private lastMapping(tlbAddr: number): SwiotlbMapping {
    return { tlbAddr, index: this.lastIndex, nslots: this.lastNslots, padSlots: this.lastPad, offset: this.lastOffset };
  }

  /** Validates, searches and records; returns tlbAddr or -1 (full). `lastAllocBytes` is set either way. */
  // models swiotlb_tbl_map_single() and swiotlb_find_slots() (non-dynamic)
  private mapSlots(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number, cpu: number, boundaryMask: number): number {
    checkMapRequest(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask);
    const allocBytes = allocBytesOf(origAddr, size, minAlignMask, allocAlignMask);
    this.lastAllocBytes = allocBytes;
    const nareas = this.areas;
    const start = cpu & (nareas - 1);
    let area = start;
    do {
      const tlbAddr = this.claim(area, origAddr, size, minAlignMask, allocAlignMask, boundaryMask, allocBytes, KIND_MAP);
      if (tlbAddr >= 0) return tlbAddr;
      if (++area >= nareas) area = 0;
    } while (area !== start);
    return -1;
  }

  /** First slot of a run of `nslots` (for `allocBytes`) in one area, with the area's next-fit index moved past it; or -1. claim() takes it. */
  // models swiotlb_search_pool_area()
  private searchPoolArea(area: number, origAddr: number, allocBytes: number, nslots: number, allocAlignMask: number, minAlignMask: number, boundaryMask: number): number {
    const areaSlots = this.areaSlots;
    const used = this.areaUsed[area]!;
    // An area without enough free slots is not searched at all. (This check also keeps `used` at
    // most area_nslabs, even when runs straddle into the next area's slots.)
    if (nslots > areaSlots - used) return -1;

    let iotlbAlignMask = minAlignMask;
    // Historic default: a page or more with no other alignment requirement is page aligned.
    if (allocAlignMask === 0 && iotlbAlignMask === 0 && allocBytes >= PAGE_SIZE) allocAlignMask = PAGE_SIZE - 1;
    allocAlignMask = (allocAlignMask | SLOT_MASK) >>> 0;
    iotlbAlignMask = (iotlbAlignMask & ~allocAlignMask) >>> 0;
    // models get_max_slots(): aligned slots are stepped by the alignment stride
    const stride = (Math.max(allocAlignMask, iotlbAlignMask) >>> IO_TLB_SHIFT) + 1;
    const checkOrig = origAddr !== 0;
    const origBits = origAddr & iotlbAlignMask;

    // tbl_dma_addr: the pool's DMA address under the segment boundary mask. A device maps with
    // one mask, so the last mask's values are kept (a float modulo and two divisions a map).
    const bounded = boundaryMask !== -1;
    if (boundaryMask !== this.boundaryFor) {
      const tblDma = bounded ? this.base % (boundaryMask + 1) : this.base;
      this.boundaryMaxSlots = bounded ? Math.floor(boundaryMask / IO_TLB_SIZE) + 1 : 0;
      this.boundaryShift = bounded ? nrSlots(tblDma) : 0;
      this.boundaryTblDma = tblDma;
      this.boundaryFor = boundaryMask;
    }
    const tblDma = this.boundaryTblDma;
    const maxSlots = this.boundaryMaxSlots;
    const boundaryShift = this.boundaryShift;

    const slotBase = area * areaSlots;
    let index = this.areaIndex[area]!;
    let slot = 0;
    let found = false;
    for (let checked = 0; checked < areaSlots;) {
      slot = slotBase + index;
      const tlbAddr = tblDma + slot * IO_TLB_SIZE;
      if ((tlbAddr & allocAlignMask) !== 0 || (checkOrig && (tlbAddr & iotlbAlignMask) !== origBits)) {
        index = index + 1 >= areaSlots ? 0 : index + 1; // models wrap_area_index()
        checked++;
        continue;
      }
      // models iommu_is_span_boundary()
      if (!bounded || ((boundaryShift + slot) % maxSlots) + nslots <= maxSlots) {
        if (this.freeRun(slot) >= nslots) {
          found = true;
          break;
        }
      }
      index = index + stride >= areaSlots ? 0 : index + stride;
      checked += stride;
    }
    if (!found) return -1;
    this.areaIndex[area] = index + nslots >= areaSlots ? 0 : index + nslots;
    return slot;
  }

  /** The kernel's slots[slot].list: free slots from `slot` to the next used slot or the segment end. */
  private freeRun(slot: number): number {
    const inUse = this.inUse;
    let word = slot >>> 5;
    let bits = inUse[word]! & (-1 << (slot & 31));
    // The last word of the slot's segment (a segment is a whole number of words, aligned).
    const lastWord = word | (IO_TLB_SEGSIZE / 32 - 1);
    while (bits === 0) {
      if (word === lastWord) return ((word + 1) << 5) - slot;
      bits = inUse[++word]!;
    }
    return (word << 5) + (31 - Math.clz32(bits & -bits)) - slot;
  }

  /** Sets (inUse) or clears the bits of slots [first, first + count), which lie in one segment. */
  private markSlots(first: number, count: number, inUse: boolean): void {
    const words = this.inUse;
    for (let slot = first, end = first + count; slot < end;) {
      const word = slot >>> 5;
      const at = slot & 31;
      const n = Math.min(32 - at, end - slot);
      const mask = (n === 32 ? -1 : ((1 << n) - 1) << at) | 0;
      words[word] = inUse ? words[word]! | mask : words[word]! & ~mask;
      slot += n;
    }
  }

  private infoAt(data: number): SwiotlbMappingInfo {
    const padSlots = this.pad[data]!;
    const index = data - padSlots;
    const minAlignMask = this.recMinAlign[data]!;
    const allocAlignMask = this.recAllocAlign[data]!;
    const origAddr = this.recOrig[data]!;
    const offset = alignOffset(minAlignMask, allocAlignMask, origAddr);
    return {
      tlbAddr: this.base + data * IO_TLB_SIZE + (offset & SLOT_MASK),
      index,
      // as swiotlb_release_slots() counts them (an allocation's slots are not rounded to its alignment)
      nslots: nrSlots(this.allocSize[index]! + (offset & SLOT_MASK)),
      padSlots,
      offset,
      origAddr,
      size: Math.abs(this.recSize[data]!),
      minAlignMask,
      allocAlignMask,
    };
  }

  private fullMessage(allocBytes: number): string {
    return `swiotlb buffer is full (sz: ${allocBytes} bytes), total ${this.totalSlots} (slots), used ${this.used} (slots)`;
  }

  private reportFull(mappingSize: number, allocBytes: number): string {
    const message = this.fullMessage(allocBytes);
    this.fullCount++;
    this.onFull?.({ size: allocBytes, mappingSize, totalSlots: this.totalSlots, usedSlots: this.used, message });
    return message;
  }

  private fullError(mappingSize: number, allocBytes: number): SwiotlbFullError {
    const message = this.reportFull(mappingSize, allocBytes);
    return new SwiotlbFullError(message, { size: allocBytes, mappingSize, totalSlots: this.totalSlots, usedSlots: this.used });
  }
}

function unmapError(message: string, reason: string, tlbAddr: number): InvalidArgumentError {
  return new InvalidArgumentError(message, { argument: 'tlbAddr', reason, tlbAddr });
}

