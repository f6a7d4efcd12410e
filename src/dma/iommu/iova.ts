// The IOVA allocator of drivers/iommu/iova.c: one ordered tree of allocated ranges per domain
// (pfns in granule units), searched top-down from the limit starting at a cached node (a second
// cached node for the space below 4 GiB), with the kernel's retry and max32_alloc_size rules,
// and the per-CPU range caches (magazines of 127 pfns, two per CPU, and a depot per size class)
// in front of it. The tree is an ordered set; nodes are remembered by object, never by position.
import { OrderedSet } from '@js-sdsl/ordered-set';
import { InvalidArgumentError } from '../../errors.js';
import { describe } from '../../fabric/input.js';
import type { IommuClock } from './clock.js';

/** log2 of the largest cached range in pages + 1: ranges of up to 32 pages go through the rcache. */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** pfns per magazine (a 1 KiB struct in the kernel). */
export const IOVA_MAG_SIZE = 127;
/** The depot trim work runs this long after a magazine was pushed to the depot. */
export const IOVA_DEPOT_DELAY_MS = 100;

/** One allocated (or reserved) range, inclusive pfns. */
export interface Iova {
  lo: number;
  hi: number;
}

/** The anchor node's pfns: above every usable address (~0UL). */
const IOVA_ANCHOR = Number.POSITIVE_INFINITY;

class Magazine {
  size = 0;
  readonly pfns = new Float64Array(IOVA_MAG_SIZE);

  full(): boolean {
    return this.size === IOVA_MAG_SIZE;
  }

  // models iova_magazine_pop(): the top-most pfn that fits, swapped out; 0 when none fits.
  pop(limitPfn: number): number {
    const pfns = this.pfns;
    let i = this.size - 1;
    while (pfns[i]! > limitPfn) {
      if (i === 0) return 0;
      i--;
    }
    const pfn = pfns[i]!;
    pfns[i] = pfns[--this.size]!;
    return pfn;
  }

  push(pfn: number): void {
    this.pfns[this.size++] = pfn;
  }
}

interface CpuRcache {
  loaded: Magazine;
  prev: Magazine;
}

interface Rcache {
  /** Full magazines, the top of the stack last. */
  readonly depot: Magazine[];
  readonly cpus: Map<number, CpuRcache>;
  work: unknown;
}

/** How an IovaDomain is made (init_iova_domain() and its rcaches). */
export interface IovaDomainOptions {
  /** Bytes per IOVA page: 4 KiB, 16 KiB or 64 KiB. */
  readonly granule: number;
  /** The lowest pfn handed out (at least 1: IOVA 0 is never valid). */
  readonly startPfn: number;
  /** Keep the per-CPU range caches (default true); false sends every free straight to the tree. */
  readonly rcache?: boolean;
  /** num_online_cpus(): the depot keeps this many magazines before its trim work frees one. Default 1. */
  readonly onlineCpus?: number;
  /** Runs the depot trim work; without one the depot is never trimmed. */
  readonly clock?: IommuClock;
}

/** Counts of an IovaDomain, for tests and reports. */
export interface IovaDomainStats {
  /** Ranges in the tree (reserved ones included, the anchor not). */
  readonly ranges: number;
  /** pfns held by the per-CPU magazines and the depots (still in the tree). */
  readonly cachedRanges: number;
  readonly depotMagazines: number;
  readonly max32AllocSize: number;
}

/** fls_long(x): the 1-based index of the highest set bit, 0 for 0. */
function fls(x: number): number {
  if (x <= 0) return 0;
  return x < 2 ** 32 ? 32 - Math.clz32(x) : Math.floor(Math.log2(x)) + 1;
}

/** order_base_2(n): ceil(log2(n)). */
export function orderBase2(n: number): number {
  return n <= 1 ? 0 : fls(n - 1);
}

/** roundup_pow_of_two(n). */
export function roundupPowOfTwo(n: number): number {
  return n <= 1 ? 1 : 2 ** fls(n - 1);
}

const byLo = (a: Iova, b: Iova): number => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0);

/**
 * struct iova_domain: the IOVA allocator of one domain. Methods return 0 or undefined where the
 * kernel's return 0 or NULL (no space); nothing here throws for a full space.
 */
export class IovaDomain {
  readonly granule: number;
  readonly shift: number;
  readonly startPfn: number;
  /** pfn of 4 GiB. */
  readonly dma32bitPfn: number;
  /** A 32-bit request of at least this many pages fails at once (reset by a free below 4 GiB). */
  max32AllocSize: number;
  readonly #tree = new OrderedSet<Iova>([], byLo);
  readonly #anchor: Iova = { lo: IOVA_ANCHOR, hi: IOVA_ANCHOR };
  #cached: Iova;
  #cached32: Iova;
  readonly #rcaches: Rcache[] | undefined;
  readonly #onlineCpus: number;
  readonly #clock: IommuClock | undefined;
  readonly #probe: Iova = { lo: 0, hi: 0 };

  // models init_iova_domain() and iova_domain_init_rcaches()
  constructor(options: IovaDomainOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('IovaDomain: options must be an object', { argument: 'options' });
    const { granule, startPfn, rcache, onlineCpus = 1, clock } = options;
    // init_iova_domain() BUG()s on a granule that is not a power of two.
    if (typeof granule !== 'number' || !Number.isInteger(granule) || granule < 4096 || granule > 2 ** 30 || (granule & (granule - 1)) !== 0) {
      throw new InvalidArgumentError(`IovaDomain: granule must be a power of two from 4096 to 1GiB, got ${describe(granule)}`, { argument: 'granule' });
    }
    checkPfn(startPfn, 'startPfn');
    if (rcache !== undefined) checkFlag(rcache, 'rcache');
    if (typeof onlineCpus !== 'number' || !Number.isInteger(onlineCpus) || onlineCpus < 1 || onlineCpus > 65536) {
      throw new InvalidArgumentError(`IovaDomain: onlineCpus must be an integer in 1..65536, got ${describe(onlineCpus)}`, { argument: 'onlineCpus' });
    }
    if (clock !== undefined && (typeof clock !== 'object' || clock === null)) throw new InvalidArgumentError('IovaDomain: clock must be an IommuClock', { argument: 'clock' });
    this.granule = granule;
    this.shift = Math.log2(granule);
    this.startPfn = startPfn;
    this.dma32bitPfn = 2 ** (32 - this.shift);
    this.max32AllocSize = this.dma32bitPfn;
    this.#tree.insert(this.#anchor);
    this.#cached = this.#anchor;
    this.#cached32 = this.#anchor;
    this.#onlineCpus = onlineCpus;
    this.#clock = clock;
    this.#rcaches = rcache === false ? undefined : Array.from({ length: IOVA_RANGE_CACHE_MAX_SIZE }, () => ({ depot: [], cpus: new Map(), work: undefined }));
  }

  /** Whether the per-CPU range caches are in use. */
  get rcacheEnabled(): boolean {
    return this.#rcaches !== undefined;
  }

  /**
   * models alloc_iova(): `size` pages at or below `limitPfn` (inclusive), top-down, aligned to
   * roundup_pow_of_two(size) when `sizeAligned`; undefined when nothing fits.
   */
  allocIova(size: number, limitPfn: number, sizeAligned = true): Iova | undefined {
    checkPages(size);
    checkPfn(limitPfn, 'limitPfn');
    checkFlag(sizeAligned, 'sizeAligned');
    return this.#allocAndInsert(size, limitPfn + 1, sizeAligned);
  }

  /**
   * models alloc_iova_fast(): the rcache first, then the tree; when the tree has no room and
   * `flushRcache`, every cached range goes back to the tree once and the tree is tried again.
   * Returns the first pfn, or 0 when nothing fits.
   */
  allocIovaFast(size: number, limitPfn: number, flushRcache: boolean, cpu = 0): number {
    checkPages(size);
    checkPfn(limitPfn, 'limitPfn');
    checkFlag(flushRcache, 'flushRcache');
    checkCpu(cpu);
    if (size < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1)) size = roundupPowOfTwo(size);
    const cached = this.#rcacheGet(size, limitPfn + 1, cpu);
    if (cached) return cached;
    for (;;) {
      const iova = this.allocIova(size, limitPfn, true);
      if (iova) return iova.lo;
      if (!flushRcache) return 0;
      flushRcache = false;
      this.flushRcaches();
    }
  }

  /** models free_iova_fast(): into the CPU's rcache if it has room, else out of the tree. */
  freeIovaFast(pfn: number, size: number, cpu = 0): void {
    checkPfn(pfn, 'pfn');
    checkPages(size);
    checkCpu(cpu);
    if (this.#rcacheInsert(pfn, size, cpu)) return;
    this.freeIova(pfn);
  }

  /** models free_iova(): removes the range holding `pfn`; does nothing when none does. */
  freeIova(pfn: number): void {
    checkPfn(pfn, 'pfn');
    const iova = this.findIova(pfn);
    if (iova) this.#remove(iova);
  }

  /** models find_iova(): the range holding `pfn`, or undefined. */
  findIova(pfn: number): Iova | undefined {
    checkPfn(pfn, 'pfn');
    const probe = this.#probe;
    probe.lo = pfn;
    const it = this.#tree.reverseLowerBound(probe);
    if (!it.isAccessible()) return undefined;
    const iova = it.pointer;
    return iova !== this.#anchor && pfn <= iova.hi ? iova : undefined;
  }

  /** models reserve_iova(): [lo, hi] is never handed out (merged with the ranges it overlaps). */
  reserveIova(lo: number, hi: number): void {
    checkPfn(lo, 'lo');
    checkPfn(hi, 'hi');
    if (hi < lo) throw new InvalidArgumentError(`IovaDomain: reserveIova needs lo <= hi, got ${lo} > ${hi}`, { argument: 'hi' });
    let overlap = false;
    for (const iova of [...this.#tree]) {
      if (iova === this.#anchor) break;
      if (lo <= iova.hi && hi >= iova.lo) {
        if (lo < iova.lo) iova.lo = lo;
        if (hi > iova.hi) lo = iova.hi + 1;
        if (lo >= iova.lo && hi <= iova.hi) return;
        overlap = true;
      } else if (overlap) {
        break;
      }
    }
    this.#tree.insert({ lo, hi });
  }

  /** models free_cpu_cached_iovas() for every CPU, then free_global_cached_iovas(). */
  flushRcaches(): void {
    const rcaches = this.#rcaches;
    if (!rcaches) return;
    const cpus = new Set<number>();
    for (const rcache of rcaches) for (const cpu of rcache.cpus.keys()) cpus.add(cpu);
    for (const cpu of [...cpus].sort((a, b) => a - b)) {
      for (const rcache of rcaches) {
        const c = rcache.cpus.get(cpu);
        if (!c) continue;
        this.#freeMagazine(c.loaded);
        this.#freeMagazine(c.prev);
      }
    }
    for (const rcache of rcaches) {
      while (rcache.depot.length > 0) this.#freeMagazine(rcache.depot.pop()!);
    }
  }

  /** Every range in the tree, lowest first (reserved ones included, the anchor not): a copy. */
  ranges(): Iova[] {
    const out: Iova[] = [];
    for (const iova of this.#tree) if (iova !== this.#anchor) out.push({ lo: iova.lo, hi: iova.hi });
    return out;
  }

  /** Ranges in the tree, ranges cached, depot magazines, max32_alloc_size. */
  stats(): IovaDomainStats {
    let cachedRanges = 0;
    let depotMagazines = 0;
    for (const rcache of this.#rcaches ?? []) {
      for (const c of rcache.cpus.values()) cachedRanges += c.loaded.size + c.prev.size;
      for (const mag of rcache.depot) cachedRanges += mag.size;
      depotMagazines += rcache.depot.length;
    }
    return { ranges: this.#tree.size() - 1, cachedRanges, depotMagazines, max32AllocSize: this.max32AllocSize };
  }

  /** Cancels the depot trim work (put_iova_domain()). */
  close(): void {
    for (const rcache of this.#rcaches ?? []) {
      if (rcache.work !== undefined) this.#clock?.cancel(rcache.work);
      rcache.work = undefined;
    }
  }

  // models __alloc_and_insert_iova_range(); limitPfn is exclusive here, as the kernel's is.
  #allocAndInsert(size: number, limitPfn: number, sizeAligned: boolean): Iova | undefined {
    const align = sizeAligned ? 2 ** fls(size - 1) : 1;
    let high = limitPfn;
    let low = this.startPfn;
    if (limitPfn <= this.dma32bitPfn && size >= this.max32AllocSize) return undefined;
    const tree = this.#tree;
    let curr: Iova | undefined = limitPfn <= this.dma32bitPfn ? this.#cached32 : this.#cached;
    let it = tree.find(curr);
    const retryPfn = curr.hi;
    let newPfn: number;
    for (;;) {
      do {
        high = Math.min(high, curr!.lo);
        newPfn = high < size ? IOVA_ANCHOR : Math.floor((high - size) / align) * align;
        if (curr === tree.front()) {
          curr = undefined;
        } else {
          it.pre();
          curr = it.pointer;
        }
      } while (curr !== undefined && newPfn <= curr.hi && newPfn >= low);
      if (high < size || newPfn < low) {
        if (low === this.startPfn && retryPfn < limitPfn) {
          high = limitPfn;
          low = retryPfn + 1;
          it = this.#findLimit(limitPfn);
          curr = it.pointer;
          continue;
        }
        this.max32AllocSize = size;
        return undefined;
      }
      break;
    }
    const iova: Iova = { lo: newPfn, hi: newPfn + size - 1 };
    tree.insert(iova);
    // models __cached_rbnode_insert_update()
    if (iova.hi < this.dma32bitPfn) this.#cached32 = iova;
    else this.#cached = iova;
    return iova;
  }

  // models iova_find_limit(): the lowest range ending at or above limitPfn (the anchor at worst).
  // The kernel's walk can also stop at the range after one that straddles the limit; the search
  // that follows then steps back onto the straddler, so the placement is the same.
  #findLimit(limitPfn: number) {
    const probe = this.#probe;
    probe.lo = limitPfn;
    const below = this.#tree.reverseUpperBound(probe);
    if (below.isAccessible() && below.pointer.hi >= limitPfn) return below;
    return this.#tree.lowerBound(probe);
  }

  // models remove_iova(): __cached_rbnode_delete_update() then rb_erase().
  #remove(free: Iova): void {
    const it = this.#tree.find(free);
    const next = it.copy().next().pointer;
    const cached32 = this.#cached32;
    if (free === cached32 || (free.hi < this.dma32bitPfn && free.lo >= cached32.lo)) this.#cached32 = next;
    if (free.lo < this.dma32bitPfn) this.max32AllocSize = this.dma32bitPfn;
    if (free.lo >= this.#cached.lo) this.#cached = next;
    this.#tree.eraseElementByIterator(it);
  }

  #cpuRcache(rcache: Rcache, cpu: number): CpuRcache {
    let c = rcache.cpus.get(cpu);
    if (!c) {
      c = { loaded: new Magazine(), prev: new Magazine() };
      rcache.cpus.set(cpu, c);
    }
    return c;
  }

  // models iova_rcache_insert() / __iova_rcache_insert().
  #rcacheInsert(pfn: number, size: number, cpu: number): boolean {
    const log = orderBase2(size);
    if (!this.#rcaches || log >= IOVA_RANGE_CACHE_MAX_SIZE) return false;
    const rcache = this.#rcaches[log]!;
    const c = this.#cpuRcache(rcache, cpu);
    if (c.loaded.full()) {
      if (!c.prev.full()) {
        [c.loaded, c.prev] = [c.prev, c.loaded];
      } else {
        rcache.depot.push(c.loaded);
        this.#scheduleDepotWork(rcache);
        c.loaded = new Magazine();
      }
    }
    c.loaded.push(pfn);
    return true;
  }

  // models iova_rcache_get() / __iova_rcache_get(); limitPfn is exclusive.
  #rcacheGet(size: number, limitPfn: number, cpu: number): number {
    const log = orderBase2(size);
    if (!this.#rcaches || log >= IOVA_RANGE_CACHE_MAX_SIZE) return 0;
    const rcache = this.#rcaches[log]!;
    const c = rcache.cpus.get(cpu);
    if (!c) {
      if (rcache.depot.length === 0) return 0;
      const fresh = this.#cpuRcache(rcache, cpu);
      fresh.loaded = rcache.depot.pop()!;
      return fresh.loaded.pop(limitPfn - size);
    }
    if (c.loaded.size === 0) {
      if (c.prev.size > 0) {
        [c.loaded, c.prev] = [c.prev, c.loaded];
      } else if (rcache.depot.length > 0) {
        c.loaded = rcache.depot.pop()!;
      } else {
        return 0;
      }
    }
    return c.loaded.pop(limitPfn - size);
  }

  // models schedule_delayed_work() of iova_depot_work_func(): one pending work per size class.
  #scheduleDepotWork(rcache: Rcache): void {
    if (!this.#clock || rcache.work !== undefined) return;
    rcache.work = this.#clock.schedule(IOVA_DEPOT_DELAY_MS, () => {
      rcache.work = undefined;
      if (rcache.depot.length > this.#onlineCpus) {
        this.#freeMagazine(rcache.depot.pop()!);
        this.#scheduleDepotWork(rcache);
      }
    });
  }

  // models iova_magazine_free_pfns(): every pfn goes back out of the tree.
  #freeMagazine(mag: Magazine): void {
    for (let i = 0; i < mag.size; i++) {
      const iova = this.findIova(mag.pfns[i]!);
      if (iova) this.#remove(iova);
    }
    mag.size = 0;
  }
}

// The entry points check what they are given first (the kernel trusts its callers): pfns are safe
// integers from 0, page counts from 1, flags booleans, CPUs integers in 0..2^32-1.
function checkPfn(value: unknown, name: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`IovaDomain: ${name} must be a pfn (a safe integer >= 0), got ${describe(value)}`, { argument: name });
  }
}

function checkPages(value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`IovaDomain: size must be a page count (a safe integer >= 1), got ${describe(value)}`, { argument: 'size' });
  }
}

function checkFlag(value: unknown, name: string): void {
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`IovaDomain: ${name} must be a boolean, got ${describe(value)}`, { argument: name });
}

function checkCpu(value: unknown): void {
  if (typeof value !== 'number' || value >>> 0 !== value) throw new InvalidArgumentError(`IovaDomain: cpu must be an integer in 0..2^32-1, got ${describe(value)}`, { argument: 'cpu' });
}
