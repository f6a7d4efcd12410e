// A first-fit allocator of aligned ranges inside [base, base + size), with coalescing free.
// Used for every region's spans and for the fabric's scratch area. Failures throw and
// leave the allocator exactly as it was.
import { AllocationError, DoubleFreeError, ForeignSpanError, InvalidArgumentError } from '../errors.js';
import { describe } from './input.js';

/** Counters of one allocator. */
/**
 * What a region allocates with: physical addresses in, physical addresses out. A region may be
 * given one that another owner keeps (a BAR's p2pmem genpool), so that every allocation of those
 * bytes goes through one place.
 */
export interface PhysAllocator {
  /** The physical address of `length` free bytes aligned to `alignment`; throws a coded error when it has none. */
  allocate(length: number, alignment?: number): number;
  /** Frees what allocate() returned at `phys`; throws a coded error otherwise, changing nothing. */
  free(phys: number): void;
  /** What is in use and free now. */
  stats(): AllocatorStats;
}

/** An allocator's occupancy, in bytes. */
export interface AllocatorStats {
  readonly size: number;
  readonly used: number;
  readonly free: number;
  readonly allocations: number;
  /** The largest request that could be satisfied right now with alignment 1. */
  readonly largestFree: number;
}

/** First-fit allocation of aligned ranges in [base, base + size), with coalescing free; failures change nothing. */
export class RangeAllocator {
  readonly base: number;
  readonly size: number;
  // Free extents sorted by start, never adjacent (always coalesced).
  readonly #freeStarts: number[];
  readonly #freeLengths: number[];
  readonly #live = new Map<number, number>();
  // Recently freed offsets, to tell a double free from a foreign offset.
  readonly #freed = new Set<number>();
  #used = 0;

  constructor(base: number, size: number) {
    if (!Number.isSafeInteger(base) || base < 0) throw new InvalidArgumentError(`base ${describe(base)} is not a non-negative integer`, { argument: 'base' });
    if (!Number.isSafeInteger(size) || size <= 0) throw new InvalidArgumentError(`size ${describe(size)} is not a positive integer`, { argument: 'size' });
    this.base = base;
    this.size = size;
    this.#freeStarts = [base];
    this.#freeLengths = [size];
  }

  /**
   * Allocates `length` bytes aligned to `alignment` (a power of two). Returns the start.
   * Throws ERR_INVALID_ARGUMENT for a non-positive length or bad alignment, ERR_ALLOC_EXHAUSTED
   * when no free extent fits; the allocator is unchanged on failure.
   */
  allocate(length: number, alignment = 1): number {
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new InvalidArgumentError(`length ${describe(length)} is not a positive integer`, { argument: 'length' });
    }
    if (!isPowerOfTwo(alignment)) {
      throw new InvalidArgumentError(`alignment ${describe(alignment)} is not a power of two`, { argument: 'alignment' });
    }
    const starts = this.#freeStarts;
    const lengths = this.#freeLengths;
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i]!;
      const extent = lengths[i]!;
      const aligned = Math.ceil(start / alignment) * alignment;
      const end = start + extent;
      if (aligned + length > end) continue;
      const head = aligned - start;
      const tail = end - (aligned + length);
      if (head > 0 && tail > 0) {
        lengths[i] = head;
        starts.splice(i + 1, 0, aligned + length);
        lengths.splice(i + 1, 0, tail);
      } else if (head > 0) {
        lengths[i] = head;
      } else if (tail > 0) {
        starts[i] = aligned + length;
        lengths[i] = tail;
      } else {
        starts.splice(i, 1);
        lengths.splice(i, 1);
      }
      this.#live.set(aligned, length);
      this.#freed.delete(aligned);
      this.#used += length;
      return aligned;
    }
    throw new AllocationError(
      `cannot allocate ${length} bytes aligned to ${alignment}: ${this.size - this.#used} of ${this.size} bytes free, largest free extent ${this.#largest()}`,
      { requested: length, alignment, free: this.size - this.#used },
    );
  }

  /**
   * Frees the allocation that starts at `start`. Throws ERR_DOUBLE_FREE if it was already freed,
   * ERR_FOREIGN_SPAN if this allocator never returned it; unchanged on failure.
   */
  free(start: number): void {
    const length = this.#live.get(start);
    if (length === undefined) {
      if (this.#freed.has(start)) throw new DoubleFreeError(`offset ${start} was already freed`, { offset: start });
      if (typeof start !== 'number') throw new InvalidArgumentError(`start ${describe(start)} is not a number`, { argument: 'start' });
      throw new ForeignSpanError(`offset ${start} was not allocated here`, { offset: start });
    }
    this.#live.delete(start);
    this.#freed.add(start);
    if (this.#freed.size > 4096) this.#freed.delete(this.#freed.values().next().value!);
    this.#used -= length;
    this.#insertFree(start, length);
  }

  /** The length of the live allocation at `start`, or undefined. */
  lengthOf(start: number): number | undefined {
    return this.#live.get(start);
  }

  /** The counters now (bytes used and free, allocations, the largest free extent). Never throws. */
  stats(): AllocatorStats {
    return { size: this.size, used: this.#used, free: this.size - this.#used, allocations: this.#live.size, largestFree: this.#largest() };
  }

  #insertFree(start: number, length: number): void {
    const starts = this.#freeStarts;
    const lengths = this.#freeLengths;
    // First free extent after `start`.
    let lo = 0, hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! < start) lo = mid + 1; else hi = mid;
    }
    const mergesLeft = lo > 0 && starts[lo - 1]! + lengths[lo - 1]! === start;
    const mergesRight = lo < starts.length && start + length === starts[lo]!;
    if (mergesLeft && mergesRight) {
      lengths[lo - 1]! += length + lengths[lo]!;
      starts.splice(lo, 1);
      lengths.splice(lo, 1);
    } else if (mergesLeft) {
      lengths[lo - 1]! += length;
    } else if (mergesRight) {
      starts[lo] = start;
      lengths[lo]! += length;
    } else {
      starts.splice(lo, 0, start);
      lengths.splice(lo, 0, length);
    }
  }

  #largest(): number {
    let largest = 0;
    for (const length of this.#freeLengths) if (length > largest) largest = length;
    return largest;
  }
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}
