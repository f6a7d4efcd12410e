// What the swiotlb pool (swiotlb.ts) and the io_tlb_mem that searches several pools
// (swiotlb-mem.ts) share, and nothing else imports: the kernel's arithmetic on masks and
// slots, request checks, and the symbol-keyed hooks by which a mem drives a pool's areas.
// The package index does not re-export this file, so the hooks are not public API.
import { InvalidArgumentError } from '../errors.js';
import { describe } from '../fabric/input.js';
import type { SwiotlbMapRequest, SwiotlbWaitOptions } from './swiotlb.js';
import { waitAborted } from './swiotlb-wait.js';

/** log2 of the slot size. */
export const IO_TLB_SHIFT = 11;
/** Bytes per slot. */
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
/** Slots per segment; no mapping crosses a segment. */
export const IO_TLB_SEGSIZE = 128;
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** Bytes of one segment, the most one allocation can take. */
export const SEGMENT_BYTES = IO_TLB_SIZE * IO_TLB_SEGSIZE;
export const SLOT_MASK = IO_TLB_SIZE - 1;
export const UINT32_MAX = 0xffff_ffff;

/** A live record made by a streaming map (swiotlb_tbl_map_single). */
export const KIND_MAP = 1;
/** A live record made by swiotlb_alloc() (restricted pools' coherent allocations). */
export const KIND_ALLOC = 2;
export type RecordKind = typeof KIND_MAP | typeof KIND_ALLOC;

/**
 * Constructor option key for pools the kernel builds itself (dynamic, transient, restricted):
 * `{ slots, areas }` taken exactly, where the public constructor wants whole segments and
 * derives the area count. Value type: PoolShape.
 */
export const POOL_SHAPE = Symbol('swiotlb.poolShape');
export interface PoolShape {
  /** nslabs: any count from 1 (a transient pool holds exactly one mapping's slots). */
  readonly slots: number;
  /** nareas, used as given (1 for transient and restricted pools). */
  readonly areas: number;
}

/**
 * pool[CLAIM](area, origAddr, size, minAlignMask, allocAlignMask, boundaryMask, allocBytes, kind):
 * searches one area for `allocBytes` (swiotlb_search_pool_area) and, when found, records the
 * mapping; returns its bounce address or -1. The request must already be checked.
 */
export const CLAIM = Symbol('swiotlb.claim');
/**
 * pool[CHECK_RELEASE](tlbAddr, size, minAlignMask, kind): the first data slot of the live record
 * starting at tlbAddr; throws InvalidArgumentError (ERR_INVALID_ARGUMENT, `reason`) and changes
 * nothing when there is none, or it was made with another size, mask or kind.
 */
export const CHECK_RELEASE = Symbol('swiotlb.checkRelease');
/** pool[RELEASE](dataSlot, tlbAddr): frees the record CHECK_RELEASE found at tlbAddr (swiotlb_release_slots); returns its slot count. */
export const RELEASE = Symbol('swiotlb.release');
/** pool[LAST_MAPPING](tlbAddr): the SwiotlbMapping of the last successful CLAIM. */
export const LAST_MAPPING = Symbol('swiotlb.lastMapping');
/** pool[RECORD_KIND](tlbAddr): the kind of the live record whose data starts at tlbAddr, or 0. */
export const RECORD_KIND = Symbol('swiotlb.recordKind');

// models swiotlb_adjust_nareas(): 0 counts as 1, others round up to a power of two
export function adjustNareas(nareas: number): number {
  if (nareas <= 1) return 1;
  return 2 ** Math.ceil(Math.log2(nareas));
}

// models limit_nareas(): every area gets at least one segment; the result need not be a power of two
export function limitNareas(nareas: number, nslots: number): number {
  if (nslots < nareas * IO_TLB_SEGSIZE) return Math.floor(nslots / IO_TLB_SEGSIZE);
  return nareas;
}

/** Slots needed for `bytes`. */
// models nr_slots()
export function nrSlots(bytes: number): number {
  return Math.ceil(bytes / IO_TLB_SIZE);
}

/** nrSlots() in integer arithmetic, for the hot paths: `bytes` below 2^32 (an allocation is at most one segment). */
export function nrSlots32(bytes: number): number {
  return (bytes + SLOT_MASK) >>> IO_TLB_SHIFT;
}

// models swiotlb_align_offset(): bytes before the data, from the min_align_mask bits the slot choice does not keep
export function alignOffset(minAlignMask: number, allocAlignMask: number, addr: number): number {
  if (minAlignMask === 0) return 0; // the common case, without truncating a large address
  return (addr & minAlignMask & (allocAlignMask | SLOT_MASK)) >>> 0;
}

/** ALIGN(value, mask + 1) for a mask 2^k - 1. */
export function alignUp(value: number, mask: number): number {
  if (mask === 0) return value;
  return Math.ceil(value / (mask + 1)) * (mask + 1);
}

/** The kernel's `size` in swiotlb_tbl_map_single(): mapping size plus offset, rounded up to the allocation alignment. */
export function allocBytesOf(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number): number {
  return alignUp(size + alignOffset(minAlignMask, allocAlignMask, origAddr), allocAlignMask);
}

export function isPow2(n: number): boolean {
  if (!(n > 0) || !Number.isSafeInteger(n)) return false;
  // The bit trick covers 31 bits (it is on the map hot path); halve larger values first.
  while (n > 0x4000_0000) {
    if (n % 2 !== 0) return false;
    n /= 2;
  }
  return (n & (n - 1)) === 0;
}

export function checkUint32(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw new InvalidArgumentError(`swiotlb: ${name} must be a 32-bit unsigned integer, got ${describe(value)}`, { argument: name, value });
  }
}

/**
 * Checks one streaming map request; throws InvalidArgumentError (ERR_INVALID_ARGUMENT, field
 * `argument`) for a bad one, including an allocation (size plus alignment offset, rounded up to
 * allocAlignMask + 1) larger than one segment: the kernel can never place that (see docs/swiotlb.md).
 * Sizes above swiotlb_max_mapping_size() are accepted: swiotlb_tbl_map_single() places them when
 * their slots fit a segment.
 */
export function checkMapRequest(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number, cpu: number, boundaryMask: number): void {
  if (!Number.isSafeInteger(origAddr) || origAddr < 0) {
    throw new InvalidArgumentError(`swiotlb map: origAddr must be an address, got ${describe(origAddr)}`, { argument: 'origAddr', value: origAddr });
  }
  if (minAlignMask === 0 && allocAlignMask === 0) {
    // The common case (no device alignment): one segment is the only limit.
    if (!Number.isSafeInteger(size) || size < 1 || size > SEGMENT_BYTES) checkSize(size, origAddr, 0, 0);
  } else {
    checkUint32(minAlignMask, 'minAlignMask');
    checkUint32(allocAlignMask, 'allocAlignMask');
    if ((allocAlignMask & (allocAlignMask + 1)) !== 0 && allocAlignMask !== UINT32_MAX) {
      throw new InvalidArgumentError(`swiotlb map: allocAlignMask must be 0 or 2^k - 1, got ${allocAlignMask}`, { argument: 'allocAlignMask', value: allocAlignMask });
    }
    checkSize(size, origAddr, minAlignMask, allocAlignMask);
  }
  // (the two checks inline: this runs on every map)
  if (!Number.isSafeInteger(cpu) || cpu < 0 || cpu > UINT32_MAX) checkCpu(cpu);
  if (boundaryMask !== -1) checkBoundaryMask(boundaryMask);
}

/**
 * checkMapRequest() for a request whose masks, cpu and boundary already passed it (the same
 * numbers, so the same verdict): only what depends on the mapping itself, origAddr and size, in
 * the same order and with the same errors.
 */
export function checkMapAddress(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number): void {
  if (!Number.isSafeInteger(origAddr) || origAddr < 0) {
    throw new InvalidArgumentError(`swiotlb map: origAddr must be an address, got ${describe(origAddr)}`, { argument: 'origAddr', value: origAddr });
  }
  if (minAlignMask === 0 && allocAlignMask === 0) {
    if (!Number.isSafeInteger(size) || size < 1 || size > SEGMENT_BYTES) checkSize(size, origAddr, 0, 0);
  } else {
    checkSize(size, origAddr, minAlignMask, allocAlignMask);
  }
}

export function checkPhysLimit(physLimit: number): void {
  if (!Number.isSafeInteger(physLimit) || physLimit < 0) {
    throw new InvalidArgumentError(`swiotlb map: physLimit must be an address, got ${describe(physLimit)}`, { argument: 'physLimit', value: physLimit });
  }
}

export function checkCpu(cpu: number): void {
  if (!Number.isSafeInteger(cpu) || cpu < 0 || cpu > UINT32_MAX) {
    throw new InvalidArgumentError(`swiotlb map: cpu must be a CPU number, got ${describe(cpu)}`, { argument: 'cpu', value: cpu });
  }
}

export function checkBoundaryMask(boundaryMask: number): void {
  if (boundaryMask !== -1 && (!Number.isSafeInteger(boundaryMask) || boundaryMask < SLOT_MASK || !isPow2(boundaryMask + 1))) {
    throw new InvalidArgumentError(`swiotlb map: boundaryMask must be 2^k - 1 with k >= ${IO_TLB_SHIFT}, got ${describe(boundaryMask)}`, {
      argument: 'boundaryMask', value: boundaryMask,
    });
  }
}

function checkSize(size: number, origAddr: number, minAlignMask: number, allocAlignMask: number): void {
  if (!Number.isSafeInteger(size) || size < 1 || size > SEGMENT_BYTES) {
    throw new InvalidArgumentError(`swiotlb map: size must be 1..${SEGMENT_BYTES} bytes (one segment), got ${describe(size)}`, {
      argument: 'size', value: size, maxMappingSize: maxMappingSizeOf(minAlignMask), ...(typeof size === 'number' && size > SEGMENT_BYTES ? { reason: 'larger-than-segment' } : {}),
    });
  }
  const allocBytes = allocBytesOf(origAddr, size, minAlignMask, allocAlignMask);
  if (allocBytes > SEGMENT_BYTES) {
    // The kernel fails this without a slot search ever succeeding: DMA_MAPPING_ERROR with its
    // "swiotlb buffer is full (sz: ...)" warning; the dynamic build returns before growing.
    // Name the rounding when the bytes alone would fit.
    const argument = allocAlignMask !== 0 && size + alignOffset(minAlignMask, allocAlignMask, origAddr) <= SEGMENT_BYTES ? 'allocAlignMask' : 'size';
    throw new InvalidArgumentError(
      `swiotlb map: ${size} bytes take ${allocBytes} with the alignment offset and rounding, more than a 128-slot segment (${SEGMENT_BYTES}); ` +
        `the kernel fails it ("swiotlb buffer is full (sz: ${allocBytes} bytes)")`,
      { argument, value: size, allocBytes, maxMappingSize: maxMappingSizeOf(minAlignMask), reason: 'larger-than-segment' },
    );
  }
}

/** swiotlb_max_mapping_size() without its argument check (swiotlb.ts exports the checked one). */
export function maxMappingSizeOf(minAlignMask: number): number {
  const minAlign = minAlignMask === 0 ? 0 : Math.ceil(minAlignMask / IO_TLB_SIZE) * IO_TLB_SIZE;
  return Math.max(0, SEGMENT_BYTES - minAlign);
}

export function hex(n: unknown): string {
  return typeof n === 'number' && Number.isFinite(n) ? n.toString(16) : describe(n);
}

/** A checked map request with its defaults filled in, as a waiter keeps it. */
export interface CheckedRequest {
  readonly origAddr: number;
  readonly size: number;
  readonly minAlignMask: number;
  readonly allocAlignMask: number;
  readonly cpu: number;
  readonly boundaryMask: number;
  /** Only SwiotlbMem reads it: the highest address a transient pool may reach. */
  readonly physLimit: number;
}

/**
 * Checks a mapWait() call; returns the request with its defaults and the wait options. Throws
 * InvalidArgumentError for bad ones and AbortError for a signal already aborted.
 */
export function checkWait(request: SwiotlbMapRequest, options: SwiotlbWaitOptions): { checked: CheckedRequest; timeout: number | undefined; signal: AbortSignal | undefined } {
  if (typeof request !== 'object' || request === null) {
    throw new InvalidArgumentError('swiotlb mapWait: request must be an object', { argument: 'request' });
  }
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('swiotlb mapWait: options must be an object', { argument: 'options' });
  }
  const { timeout, signal } = options;
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0) || timeout > 2 ** 31 - 1)) {
    throw new InvalidArgumentError(`swiotlb mapWait: timeout must be 0..2147483647 ms, got ${describe(timeout)}`, { argument: 'timeout' });
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('swiotlb mapWait: signal must be an AbortSignal', { argument: 'signal' });
  }
  const { origAddr, size, minAlignMask = 0, allocAlignMask = 0, cpu = 0, boundaryMask = -1, physLimit = NO_PHYS_LIMIT } = request as SwiotlbMapRequest & { physLimit?: number };
  checkMapRequest(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask);
  checkPhysLimit(physLimit);
  if (signal?.aborted) throw waitAborted(signal);
  return { checked: { origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask, physLimit }, timeout, signal };
}


/**
 * SwiotlbMem constructor option key for a restricted DMA pool (rmem_swiotlb_device_init()):
 * the mem's one pool takes `slots` slots in one area, serves swiotlb_alloc(), and bounces every
 * streaming map of its devices. Value type: RestrictedShape.
 */
export const MEM_RESTRICTED = Symbol('swiotlb.restricted');
export interface RestrictedShape {
  readonly name: string;
  readonly slots: number;
}

/** A physical-address limit meaning "none": the largest exact integer. */
export const NO_PHYS_LIMIT = Number.MAX_SAFE_INTEGER;
