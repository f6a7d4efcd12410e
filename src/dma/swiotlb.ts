// The swiotlb bounce pool: slot accounting only, as kernel/dma/swiotlb.c (v6.10+) keeps it.
// The pool moves no bytes and knows nothing of its callers: it hands out runs of 2 KiB slots
// over a contiguous range whose DMA (= physical) base is given, and takes them back.
// Placement follows the kernel slot for slot; see docs/swiotlb.md for what differs and why.
import { AbortError, InvalidArgumentError, SwiotlbFullError } from '../errors.js';
import { parseSize, type Size } from '../size.js';
import { WaitQueue, type WaitNode } from './swiotlb-wait.js';

/** log2 of the slot size. */
export const IO_TLB_SHIFT = 11;
/** Bytes per slot. */
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
/** Slots per segment; no mapping crosses a segment. */
export const IO_TLB_SEGSIZE = 128;
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** The default pool size, 64 MiB. */
export const IO_TLB_DEFAULT_SIZE = 64 * 2 ** 20;

const SEGMENT_BYTES = IO_TLB_SIZE * IO_TLB_SEGSIZE;
const SLOT_MASK = IO_TLB_SIZE - 1;
// The fabric is wasm32: a pool never exceeds 4 GiB.
const MAX_POOL_BYTES = 2 ** 32;
const UINT32_MAX = 0xffff_ffff;

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
  /** Bytes, 1 .. maxMappingSize(minAlignMask). */
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
  /** First allocated slot (the first padding slot when padSlots > 0). */
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
  /** io_tlb_transient_nslabs: always 0, the dynamic (transient pool) mode is not modelled. */
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
 * Largest mapping a device with this min_align_mask can bounce: one segment (256 KiB) less
 * roundup(minAlignMask, IO_TLB_SIZE) when the mask is non-zero. 0 when the mask eats the segment.
 * Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) for a mask that is not a 32-bit unsigned integer.
 */
// models swiotlb_max_mapping_size()
export function maxMappingSize(minAlignMask = 0): number {
  checkUint32(minAlignMask, 'minAlignMask');
  const minAlign = minAlignMask === 0 ? 0 : Math.ceil(minAlignMask / IO_TLB_SIZE) * IO_TLB_SIZE;
  return Math.max(0, SEGMENT_BYTES - minAlign);
}

/** Slots needed for `bytes`. */
// models nr_slots()
export function nrSlots(bytes: number): number {
  return Math.ceil(bytes / IO_TLB_SIZE);
}

interface Waiter {
  readonly origAddr: number;
  readonly size: number;
  readonly minAlignMask: number;
  readonly allocAlignMask: number;
  readonly cpu: number;
  readonly boundaryMask: number;
  resolve(mapping: SwiotlbMapping): void;
  reject(err: Error): void;
  /** Stops the timer and the abort listener. */
  cleanup(): void;
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
   * slots from there to the end of its free run, never past the segment end) and rewrites the
   * free slots before a run on every allocation and free (up to 127 of them); here `list` is
   * computed from this bitmap when asked (freeRun()): the same values, with no walks.
   */
  private readonly inUse: Uint32Array;
  /** The kernel's alloc_size: bytes from the slot's start (less the in-slot offset) to the allocation's end. */
  private readonly allocSize: Int32Array;
  /** pad_slots, kept at the first data slot. */
  private readonly pad: Int32Array;
  private readonly areaIndex: Int32Array;
  private readonly areaUsed: Int32Array;
  private used = 0;
  private hiwater = 0;

  // Beyond the kernel: one record per live mapping, at its first data slot, so unmap can be checked.
  /** Mapping size; 0 = no mapping starts at this slot. */
  private readonly recSize: Int32Array;
  private readonly recOrig: Float64Array;
  private readonly recMinAlign: Uint32Array;
  private readonly recAllocAlign: Uint32Array;
  /** Per slot: first data slot of the live mapping that holds it, or -1. */
  private readonly owner: Int32Array;
  private live = 0;
  private fullCount = 0;
  private readonly onFull: ((event: SwiotlbFullEvent) => void) | undefined;
  private readonly waiters = new WaitQueue<Waiter>();
  private draining = false;

  // Result of the last successful mapSlots(), read by map() without allocating on the hot path.
  private lastIndex = 0;
  private lastNslots = 0;
  private lastPad = 0;
  private lastOffset = 0;
  private lastAllocBytes = 0;

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
    if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE !== 0) {
      throw new InvalidArgumentError(`SwiotlbPool: base must be a page-aligned address, got ${String(base)}`, { argument: 'base', value: base });
    }
    const size = parseSize(options.size ?? IO_TLB_DEFAULT_SIZE, 'size');
    if (size === 0 || size % SEGMENT_BYTES !== 0 || size > MAX_POOL_BYTES) {
      throw new InvalidArgumentError(`SwiotlbPool: size must be a whole number of 256KiB segments, at most 4GiB, got ${size}`, { argument: 'size', value: size });
    }
    if (!Number.isSafeInteger(base + size)) {
      throw new InvalidArgumentError('SwiotlbPool: base + size is beyond 2^53', { argument: 'base', value: base });
    }
    if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > 65536) {
      throw new InvalidArgumentError(`SwiotlbPool: cpus must be an integer 1..65536, got ${String(cpus)}`, { argument: 'cpus', value: cpus });
    }
    if (areas !== undefined && (!Number.isSafeInteger(areas) || areas < 1 || areas > 65536)) {
      throw new InvalidArgumentError(`SwiotlbPool: areas must be an integer 1..65536, got ${String(areas)}`, { argument: 'areas', value: areas });
    }
    if (onFull !== undefined && typeof onFull !== 'function') {
      throw new InvalidArgumentError('SwiotlbPool: onFull must be a function', { argument: 'onFull' });
    }
    const nslabs = size / IO_TLB_SIZE;
    this.base = base;
    this.size = size;
    this.end = base + size;
    this.totalSlots = nslabs;
    this.areas = limitNareas(adjustNareas(areas ?? cpus), nslabs);
    this.areaSlots = Math.floor(nslabs / this.areas);
    this.onFull = onFull;

    this.inUse = new Uint32Array(nslabs / 32);
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
   * InvalidArgumentError (ERR_INVALID_ARGUMENT, field `argument`) for a bad request, including a
   * size above maxMappingSize(minAlignMask) or an allocAlignMask that makes it larger than a segment.
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
    this.releaseSlots(tlbAddr, size, minAlignMask);
    if (this.waiters.length !== 0) this.drainWaiters();
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
      if (typeof request !== 'object' || request === null) {
        throw new InvalidArgumentError('swiotlb mapWait: request must be an object', { argument: 'request' });
      }
      if (typeof options !== 'object' || options === null) {
        throw new InvalidArgumentError('swiotlb mapWait: options must be an object', { argument: 'options' });
      }
      const { timeout, signal } = options;
      if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0) || timeout > 2 ** 31 - 1)) {
        throw new InvalidArgumentError(`swiotlb mapWait: timeout must be 0..2147483647 ms, got ${String(timeout)}`, { argument: 'timeout' });
      }
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new InvalidArgumentError('swiotlb mapWait: signal must be an AbortSignal', { argument: 'signal' });
      }
      const { origAddr, size, minAlignMask = 0, allocAlignMask = 0, cpu = 0, boundaryMask = -1 } = request;
      this.checkRequest(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask);
      if (signal?.aborted) throw abortError(signal);
      return this.enqueue({ origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask }, timeout, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** True when [dmaAddr, dmaAddr + len) lies inside the pool (is_swiotlb_buffer for a range). */
  contains(dmaAddr: number, len = 1): boolean {
    return dmaAddr >= this.base && len >= 0 && dmaAddr + len <= this.end;
  }

  /** Index of the slot holding `addr`, or -1 outside the pool. */
  slotIndexOf(addr: number): number {
    if (!(addr >= this.base && addr < this.end)) return -1;
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
      waiters: this.waiters.length,
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

  /** Next-fit index and use of one area (for tests and debugging). */
  areaState(area: number): SwiotlbAreaState {
    if (!Number.isInteger(area) || area < 0 || area >= this.areas) {
      throw new InvalidArgumentError(`swiotlb: no area ${String(area)}`, { argument: 'area' });
    }
    return { index: this.areaIndex[area]!, used: this.areaUsed[area]!, start: area * this.areaSlots, slots: this.areaSlots };
  }

  /** The kernel's per-slot `list`: free slots from `slot` to the end of its free run inside its segment; 0 when used. */
  freeRunAt(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.totalSlots) {
      throw new InvalidArgumentError(`swiotlb: no slot ${String(slot)}`, { argument: 'slot' });
    }
    return this.freeRun(slot);
  }

  // ---- internals

  private checkRequest(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number, cpu: number, boundaryMask: number): void {
    if (!Number.isSafeInteger(origAddr) || origAddr < 0) {
      throw new InvalidArgumentError(`swiotlb map: origAddr must be an address, got ${String(origAddr)}`, { argument: 'origAddr', value: origAddr });
    }
    if (minAlignMask === 0 && allocAlignMask === 0) {
      // The common case (no device alignment): one segment is the only limit.
      if (!Number.isSafeInteger(size) || size < 1 || size > SEGMENT_BYTES) this.checkSize(size, 0);
    } else {
      this.checkAlignedRequest(origAddr, size, minAlignMask, allocAlignMask);
    }
    if (!Number.isSafeInteger(cpu) || cpu < 0 || cpu > UINT32_MAX) {
      throw new InvalidArgumentError(`swiotlb map: cpu must be a CPU number, got ${String(cpu)}`, { argument: 'cpu', value: cpu });
    }
    if (boundaryMask !== -1 && (!Number.isSafeInteger(boundaryMask) || boundaryMask < SLOT_MASK || !isPow2(boundaryMask + 1))) {
      throw new InvalidArgumentError(`swiotlb map: boundaryMask must be 2^k - 1 with k >= ${IO_TLB_SHIFT}, got ${String(boundaryMask)}`, {
        argument: 'boundaryMask', value: boundaryMask,
      });
    }
  }

  private checkSize(size: number, minAlignMask: number): void {
    const max = maxMappingSize(minAlignMask);
    if (!Number.isSafeInteger(size) || size < 1 || size > max) {
      throw new InvalidArgumentError(`swiotlb map: size must be 1..${max} bytes (swiotlb_max_mapping_size), got ${String(size)}`, {
        argument: 'size', value: size, maxMappingSize: max,
      });
    }
  }

  private checkAlignedRequest(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number): void {
    checkUint32(minAlignMask, 'minAlignMask');
    checkUint32(allocAlignMask, 'allocAlignMask');
    if ((allocAlignMask & (allocAlignMask + 1)) !== 0 && allocAlignMask !== UINT32_MAX) {
      throw new InvalidArgumentError(`swiotlb map: allocAlignMask must be 0 or 2^k - 1, got ${allocAlignMask}`, { argument: 'allocAlignMask', value: allocAlignMask });
    }
    this.checkSize(size, minAlignMask);
    if (nrSlots(alignUp(size + alignOffset(minAlignMask, allocAlignMask, origAddr), allocAlignMask)) > IO_TLB_SEGSIZE) {
      throw new InvalidArgumentError(`swiotlb map: allocAlignMask 0x${allocAlignMask.toString(16)} makes a ${size}-byte mapping larger than a segment`, {
        argument: 'allocAlignMask', value: allocAlignMask,
      });
    }
  }

  /** Validates, searches and records; returns tlbAddr or -1 (full). `lastAllocBytes` is set either way. */
  // models swiotlb_tbl_map_single() and swiotlb_find_slots() (non-dynamic)
  private mapSlots(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number, cpu: number, boundaryMask: number): number {
    this.checkRequest(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask);
    const offset = alignOffset(minAlignMask, allocAlignMask, origAddr);
    const allocBytes = alignUp(size + offset, allocAlignMask);
    this.lastAllocBytes = allocBytes;
    const nareas = this.areas;
    const start = cpu & (nareas - 1);
    let area = start;
    let index = -1;
    do {
      index = this.searchPoolArea(area, origAddr, allocBytes, allocAlignMask, minAlignMask, boundaryMask);
      if (index >= 0) break;
      if (++area >= nareas) area = 0;
    } while (area !== start);
    if (index < 0) return -1;

    const padSlots = offset >>> IO_TLB_SHIFT;
    const data = index + padSlots;
    const nslots = nrSlots(allocBytes);
    this.pad[data] = padSlots;
    this.recSize[data] = size;
    this.recOrig[data] = origAddr;
    this.recMinAlign[data] = minAlignMask;
    this.recAllocAlign[data] = allocAlignMask;
    const owner = this.owner;
    for (let i = index, last = index + nslots; i < last; i++) owner[i] = data;
    this.live++;
    this.lastIndex = index;
    this.lastNslots = nslots;
    this.lastPad = padSlots;
    this.lastOffset = offset;
    return this.base + data * IO_TLB_SIZE + (offset & SLOT_MASK);
  }

  /** First slot of a run for `allocBytes` in one area, taken; or -1. */
  // models swiotlb_search_pool_area()
  private searchPoolArea(area: number, origAddr: number, allocBytes: number, allocAlignMask: number, minAlignMask: number, boundaryMask: number): number {
    const areaSlots = this.areaSlots;
    const nslots = nrSlots(allocBytes);
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

    // tbl_dma_addr: the pool's DMA address under the segment boundary mask.
    const bounded = boundaryMask !== -1;
    const tblDma = bounded ? this.base % (boundaryMask + 1) : this.base;
    const maxSlots = bounded ? Math.floor(boundaryMask / IO_TLB_SIZE) + 1 : 0;
    const boundaryShift = bounded ? nrSlots(tblDma) : 0;

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

    const inSlot = origAddr & minAlignMask & SLOT_MASK; // swiotlb_align_offset(dev, 0, orig_addr)
    const allocSize = this.allocSize;
    for (let i = slot, k = 0; k < nslots; i++, k++) allocSize[i] = allocBytes - (inSlot + k * IO_TLB_SIZE);
    // The kernel also rewrites `list` of the free slots just before the run; freeRun() sees it.
    this.markSlots(slot, nslots, true);

    this.areaIndex[area] = index + nslots >= areaSlots ? 0 : index + nslots;
    this.areaUsed[area] = used + nslots;
    this.used += nslots;
    if (this.used > this.hiwater) this.hiwater = this.used; // models inc_used_and_hiwater()
    return slot;
  }

  // models swiotlb_release_slots(), refusing what the kernel would corrupt itself on
  private releaseSlots(tlbAddr: number, size: number, minAlignMask: number): void {
    if (!Number.isSafeInteger(tlbAddr) || tlbAddr < this.base || tlbAddr >= this.end) {
      throw unmapError(`swiotlb unmap: 0x${hex(tlbAddr)} is outside the pool`, 'outside-pool', tlbAddr);
    }
    checkUint32(minAlignMask, 'minAlignMask');
    // Beyond the kernel: the mapping must start exactly here, with the size and mask it was made with.
    const slot = Math.floor((tlbAddr - this.base) / IO_TLB_SIZE);
    const head = this.owner[slot]!;
    if (head < 0) throw unmapError(`swiotlb unmap: nothing is mapped at 0x${hex(tlbAddr)}`, 'not-mapped', tlbAddr);
    const mappedMask = this.recMinAlign[head]!;
    const start = this.base + head * IO_TLB_SIZE + (this.recOrig[head]! & mappedMask & SLOT_MASK);
    if (start !== tlbAddr) {
      throw unmapError(`swiotlb unmap: 0x${hex(tlbAddr)} is not the start of a mapping (the mapping there starts at 0x${hex(start)})`, 'not-mapping-start', tlbAddr);
    }
    if (mappedMask !== minAlignMask) {
      throw unmapError(`swiotlb unmap: min_align_mask 0x${hex(minAlignMask)} differs from 0x${hex(mappedMask)} used to map`, 'min-align-mask-mismatch', tlbAddr);
    }
    if (this.recSize[head] !== size) {
      throw unmapError(`swiotlb unmap: size ${String(size)} differs from the mapped size ${this.recSize[head]!}`, 'size-mismatch', tlbAddr);
    }
    // The kernel finds the first slot from the address and the device's min_align_mask alone.
    const offset = tlbAddr & minAlignMask & SLOT_MASK;
    const data = Math.floor((tlbAddr - offset - this.base) / IO_TLB_SIZE);
    const index = data - this.pad[data]!;
    const nslots = nrSlots(this.allocSize[index]! + offset);
    const area = Math.floor(index / this.areaSlots);
    const allocSize = this.allocSize;
    const owner = this.owner;
    for (let i = index + nslots - 1; i >= index; i--) {
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
      const from = slot & 31;
      const n = Math.min(32 - from, end - slot);
      const mask = (n === 32 ? -1 : ((1 << n) - 1) << from) | 0;
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
    const size = this.recSize[data]!;
    const offset = alignOffset(minAlignMask, allocAlignMask, origAddr);
    return {
      tlbAddr: this.base + data * IO_TLB_SIZE + (offset & SLOT_MASK),
      index,
      nslots: nrSlots(alignUp(size + offset, allocAlignMask)),
      padSlots,
      offset,
      origAddr,
      size,
      minAlignMask,
      allocAlignMask,
    };
  }

  private lastMapping(tlbAddr: number): SwiotlbMapping {
    return { tlbAddr, index: this.lastIndex, nslots: this.lastNslots, padSlots: this.lastPad, offset: this.lastOffset };
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

  private enqueue(w: Omit<Waiter, 'resolve' | 'reject' | 'cleanup'>, timeout: number | undefined, signal: AbortSignal | undefined): Promise<SwiotlbMapping> {
    return new Promise<SwiotlbMapping>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let onAbort: (() => void) | undefined;
      const waiter: Waiter = {
        ...w,
        resolve,
        reject,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer);
          if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
        },
      };
      const node = this.waiters.push(waiter);
      // Register first, then retry: the retry is the allocation attempt, so an unmap can never
      // fall between a failed attempt and the registration.
      this.drainWaiters();
      if (!node.queued) return;
      // Still queued: the pool is full for this request, the moment the kernel would warn.
      this.reportFull(w.size, alignUp(w.size + alignOffset(w.minAlignMask, w.allocAlignMask, w.origAddr), w.allocAlignMask));
      if (!node.queued) return; // onFull freed space and the unmap served us
      if (timeout !== undefined) {
        timer = setTimeout(() => {
          const allocBytes = alignUp(w.size + alignOffset(w.minAlignMask, w.allocAlignMask, w.origAddr), w.allocAlignMask);
          this.giveUp(node, new SwiotlbFullError(`${this.fullMessage(allocBytes)}; gave up after ${timeout} ms`, {
            size: allocBytes, mappingSize: w.size, totalSlots: this.totalSlots, usedSlots: this.used, timedOut: true, timeout,
          }));
        }, timeout);
      }
      if (signal !== undefined) {
        onAbort = () => this.giveUp(node, abortError(signal));
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /** Removes a waiter that timed out or aborted; those behind it may fit now. */
  private giveUp(node: WaitNode<Waiter>, err: Error): void {
    if (!node.queued) return;
    const wasHead = this.waiters.isHead(node);
    this.waiters.remove(node);
    node.value.cleanup();
    node.value.reject(err);
    if (wasHead) this.drainWaiters();
  }

  /** Serves waiters oldest first; stops at the first that does not fit (no overtaking). */
  private drainWaiters(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let node = this.waiters.peek(); node !== undefined; node = this.waiters.peek()) {
        const w = node.value;
        const tlbAddr = this.mapSlots(w.origAddr, w.size, w.minAlignMask, w.allocAlignMask, w.cpu, w.boundaryMask);
        if (tlbAddr < 0) {
          if (this.used !== 0) break;
          // Nothing is mapped, so no unmap can ever make room.
          this.waiters.remove(node);
          w.cleanup();
          w.reject(new SwiotlbFullError(`${this.fullMessage(this.lastAllocBytes)}; it cannot fit even in the empty pool`, {
            size: this.lastAllocBytes, mappingSize: w.size, totalSlots: this.totalSlots, usedSlots: 0, neverFits: true,
          }));
          continue;
        }
        this.waiters.remove(node);
        w.cleanup();
        w.resolve(this.lastMapping(tlbAddr));
      }
    } finally {
      this.draining = false;
    }
  }
}

// models swiotlb_adjust_nareas(): 0 counts as 1, others round up to a power of two
function adjustNareas(nareas: number): number {
  if (nareas <= 1) return 1;
  return 2 ** Math.ceil(Math.log2(nareas));
}

// models limit_nareas(): every area gets at least one segment; the result need not be a power of two
function limitNareas(nareas: number, nslots: number): number {
  if (nslots < nareas * IO_TLB_SEGSIZE) return Math.floor(nslots / IO_TLB_SEGSIZE);
  return nareas;
}

// models swiotlb_align_offset(): bytes before the data, from the min_align_mask bits the slot choice does not keep
function alignOffset(minAlignMask: number, allocAlignMask: number, addr: number): number {
  return (addr & minAlignMask & (allocAlignMask | SLOT_MASK)) >>> 0;
}

/** ALIGN(value, mask + 1) for a mask 2^k - 1. */
function alignUp(value: number, mask: number): number {
  return Math.ceil(value / (mask + 1)) * (mask + 1);
}

function isPow2(n: number): boolean {
  if (!(n > 0) || !Number.isSafeInteger(n)) return false;
  // The bit trick covers 31 bits (it is on the map hot path); halve larger values first.
  while (n > 0x4000_0000) {
    if (n % 2 !== 0) return false;
    n /= 2;
  }
  return (n & (n - 1)) === 0;
}

function checkUint32(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw new InvalidArgumentError(`swiotlb: ${name} must be a 32-bit unsigned integer, got ${String(value)}`, { argument: name, value });
  }
}

function unmapError(message: string, reason: string, tlbAddr: number): InvalidArgumentError {
  return new InvalidArgumentError(message, { argument: 'tlbAddr', reason, tlbAddr });
}

function abortError(signal: AbortSignal): AbortError {
  return new AbortError('swiotlb mapWait was aborted', { cause: signal.reason });
}

function hex(n: number): string {
  return Number.isFinite(n) ? n.toString(16) : String(n);
}
