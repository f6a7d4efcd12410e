// The kernel's struct io_tlb_mem: one software IO TLB as a device sees it, with its list of
// pools. Static (no CONFIG_SWIOTLB_DYNAMIC) it is the default pool alone. Dynamic, it also holds
// the pools a background work item adds when the others are full (swiotlb_dyn_alloc()) and the
// transient pools that each hold exactly one mapping (swiotlb_find_slots()). A restricted DMA pool
// (swiotlb-restricted.ts) is an io_tlb_mem of its own. Like SwiotlbPool it knows no callers and
// holds no bytes: the memory of added pools comes from the owner's callbacks (swiotlb-pool-memory.ts).
import { InvalidArgumentError, InvalidStateError, SwiotlbFullError } from '../errors.js';
import { describe } from '../fabric/input.js';
import type { Size } from '../size.js';
import {
  IO_TLB_DEFAULT_SIZE,
  IO_TLB_MIN_SLABS,
  SwiotlbPool,
  type SwiotlbAreaState,
  type SwiotlbFullEvent,
  type SwiotlbMapRequest,
  type SwiotlbMapping,
  type SwiotlbMappingInfo,
  type SwiotlbStats,
  type SwiotlbWaitOptions,
} from './swiotlb.js';
import {
  CHECK_RELEASE,
  CLAIM,
  IO_TLB_SIZE,
  KIND_ALLOC,
  KIND_MAP,
  LAST_MAPPING,
  MEM_RESTRICTED,
  NO_PHYS_LIMIT,
  PAGE_SHIFT,
  PAGE_SIZE,
  POOL_SHAPE,
  RECORD_KIND,
  RELEASE,
  SEGMENT_BYTES,
  adjustNareas,
  allocBytesOf,
  checkBoundaryMask,
  checkCpu,
  checkMapAddress,
  checkMapRequest,
  checkPhysLimit,
  checkUint32,
  checkWait,
  hex,
  nrSlots,
  nrSlots32,
  type CheckedRequest,
  type RecordKind,
  type RestrictedShape,
} from './swiotlb-internal.js';
import { allocPool, givePoolMemory, type AllocPoolMemory, type FreePoolMemory, type PoolMemory } from './swiotlb-pool-memory.js';
import { SpaceWaiters } from './swiotlb-wait.js';
import { WorkItem, type WorkMode } from './swiotlb-work.js';

/** x86-64's MAX_PAGE_ORDER: one buddy block is at most 2^10 pages, so an added pool is at most 4 MiB. */
export const DEFAULT_MAX_PAGE_ORDER = 10;
/** x86-64's ARCH_LOW_ADDRESS_LIMIT: where the default io_tlb_mem's added pools must end. */
export const DEFAULT_SWIOTLB_PHYS_LIMIT = 0xffff_ffff;

/** Options of `new SwiotlbMem`: the default pool, as for `new SwiotlbPool`, and the dynamic mode. */
export interface SwiotlbMemOptions {
  /** DMA (= CPU physical) address of the default pool. Page aligned. */
  readonly base: number;
  /** Default pool size, a whole number of 256 KiB segments. Default 64 MiB. */
  readonly size?: Size;
  /** CPUs of the modelled machine (num_possible_cpus); sets default_nareas. Default 1. */
  readonly cpus?: number;
  /** default_nareas as `swiotlb=,N` gives it; overrides `cpus`. Rounded up to a power of two. */
  readonly areas?: number;
  /** `swiotlb=force`: every streaming map of the devices using this swiotlb bounces (force_bounce). Default false. */
  readonly force?: boolean;
  /** Called on every failed map, where the kernel prints its rate-limited "swiotlb buffer is full" warning. */
  readonly onFull?: (event: SwiotlbFullEvent) => void;
  /** CONFIG_SWIOTLB_DYNAMIC. Omitted: the static build (the default pool alone, the non-dynamic search). */
  readonly dynamic?: SwiotlbDynamicOptions;
}

/** CONFIG_SWIOTLB_DYNAMIC: the memory callbacks and how the mem grows (see docs/swiotlb.md). */
export interface SwiotlbDynamicOptions {
  /** Memory for added and transient pools (see swiotlb-pool-memory.ts). Required when canGrow. */
  readonly allocPoolMemory?: AllocPoolMemory;
  /** Gives back what allocPoolMemory returned. Required when canGrow. */
  readonly freePoolMemory?: FreePoolMemory;
  /**
   * io_tlb_mem.can_grow: true when the default pool was set up without a remap hook (the kernel
   * clears it for Xen, or when a driver asked default_swiotlb_base()). False keeps the dynamic
   * search order but never adds a pool. Default true.
   */
  readonly canGrow?: boolean;
  /** io_tlb_mem.phys_limit: where pools added in the background must end, inclusive. Default 0xffffffff. */
  readonly physLimit?: number;
  /** When the background growth runs: on the next turn of the event loop ('auto', default), or only at flushGrowth() ('manual'). */
  readonly growth?: WorkMode;
  /** MAX_PAGE_ORDER: an added pool holds at most 2^(order+1) slots. 6..20, default 10 (4 MiB). */
  readonly maxPageOrder?: number;
}

/** A map request to a SwiotlbMem: a SwiotlbMapRequest and the device's DMA limit for a transient pool. */
export interface SwiotlbMemMapRequest extends SwiotlbMapRequest {
  /** min_not_zero(dma_mask, bus_dma_limit) of the device: where a transient pool must end, inclusive. Default: no limit. */
  readonly physLimit?: number;
}

/** What a pool of a SwiotlbMem is: the default one, one the growth added, a transient one (one mapping), or a restricted DMA pool. */
export type SwiotlbPoolKind = 'default' | 'dynamic' | 'transient' | 'restricted';

/** Where a SwiotlbMem put a mapping: the SwiotlbMapping and the pool holding it. */
export interface SwiotlbMemMapping extends SwiotlbMapping {
  /** Base of the pool that holds the mapping; `index` counts slots from here. */
  readonly poolBase: number;
  /** True when a transient pool was made for it (freed at its unmap). */
  readonly transient: boolean;
}

/** A live mapping or allocation of a SwiotlbMem, with its pool. */
export interface SwiotlbMemMappingInfo extends SwiotlbMappingInfo {
  /** 'map' for a streaming mapping, 'alloc' for a swiotlb_alloc() allocation. */
  readonly kind: 'map' | 'alloc';
  readonly poolBase: number;
  readonly poolKind: SwiotlbPoolKind;
}

/** One pool's figures, as SwiotlbMem.stats() and flushGrowth() report them. */
export interface SwiotlbPoolInfo {
  readonly kind: SwiotlbPoolKind;
  readonly base: number;
  /** One past the last byte. */
  readonly end: number;
  /** nslabs. */
  readonly totalSlots: number;
  /** The sum of its areas' `used` (mem_pool_used()). */
  readonly usedSlots: number;
  readonly areas: number;
  /** area_nslabs. */
  readonly areaSlots: number;
  /** Live mappings and allocations in it. */
  readonly mappings: number;
}

/** A read-only view of one pool (what swiotlb_find_pool() finds). */
export interface SwiotlbPoolView {
  readonly kind: SwiotlbPoolKind;
  readonly base: number;
  readonly end: number;
  readonly totalSlots: number;
  readonly areas: number;
  readonly areaSlots: number;
  /** Its figures now. */
  info(): SwiotlbPoolInfo;
  /** Next-fit index and use of one area. Throws ERR_INVALID_ARGUMENT for no such area. */
  areaState(area: number): SwiotlbAreaState;
  /** The kernel's per-slot `list` (slot counted from this pool's base). Throws ERR_INVALID_ARGUMENT for no such slot. */
  freeRunAt(slot: number): number;
}

/** SwiotlbMem.stats(): the io_tlb_mem's debugfs counters, per-pool figures and the dynamic mode's. */
export interface SwiotlbMemStats extends SwiotlbStats {
  /** The debugfs directory: "swiotlb" for the default io_tlb_mem, the reserved-memory node's name for a restricted pool. */
  readonly name: string;
  /** Every pool, in the order the kernel searches them (the newest added pool first, the default pool last), then the transient pools, oldest first. */
  readonly pools: readonly SwiotlbPoolInfo[];
  readonly dynamic: SwiotlbDynamicStats;
}

/** The dynamic mode's figures in SwiotlbMem.stats(). */
export interface SwiotlbDynamicStats {
  readonly enabled: boolean;
  readonly canGrow: boolean;
  /** 'scheduled' while the growth work is queued and has not run. */
  readonly growth: 'idle' | 'scheduled';
  /** Pools the growth work added. */
  readonly poolsAdded: number;
  /** Growth runs that got no memory even at IO_TLB_MIN_SLABS ("Failed to allocate new pool"), or whose callback broke its contract. */
  readonly growthFailures: number;
  /** Live transient pools (one mapping each). */
  readonly transientPools: number;
  /** Transient pools made so far. */
  readonly transientMade: number;
  /** Maps that found no room and got no transient pool (no memory, or its slots did not suit the alignment). */
  readonly transientFailures: number;
  /** The code of the last contract error of a pool-memory callback, if any. */
  readonly lastError: string | undefined;
}

/** Options of SwiotlbMem.alloc(): what the device contributes to the search. */
export interface SwiotlbAllocOptions {
  /** The CPU the caller runs on. Default 0. */
  readonly cpu?: number;
  /** The device's min_align_mask: with no original address it only changes the search stride. Default 0. */
  readonly minAlignMask?: number;
  /** The device's segment boundary mask, 2^k - 1. Default: no boundary. */
  readonly boundaryMask?: number;
}

/** One pool of the mem, with what the mem knows about it. */
interface PoolEntry {
  readonly pool: SwiotlbPool;
  readonly kind: SwiotlbPoolKind;
  readonly view: SwiotlbPoolView;
}

/**
 * An io_tlb_mem: the default pool, and in dynamic mode the pools added later and the transient
 * ones. Methods that fail leave every pool as it was (counters of failures aside).
 */
export class SwiotlbMem {
  /** The debugfs directory name. */
  readonly name: string;
  /** force_bounce: every streaming map of a device using this mem bounces (swiotlb=force, and every restricted pool). */
  readonly forceBounce: boolean;
  /** for_alloc: a restricted pool, which also serves the device's coherent allocations (alloc()/free()). */
  readonly forAlloc: boolean;
  /** CONFIG_SWIOTLB_DYNAMIC. */
  readonly dynamic: boolean;
  /** io_tlb_mem.can_grow: map() may make transient pools and schedule growth. */
  readonly canGrow: boolean;
  /** default_nareas: the dynamic search tries this many area offsets; added pools get this many areas (limited). */
  readonly defaultAreas: number;
  /** The default pool (io_tlb_default_mem.defpool, or the restricted pool). */
  readonly defaultPool: SwiotlbPoolView;

  readonly #default: PoolEntry;
  /** mem->pools: search order, newest first (list_add_rcu puts a new pool at the head). */
  #pools: PoolEntry[];
  /** The transient pools (the kernel keeps them on the device's dma_io_tlb_pools), oldest first. */
  readonly #transient = new Set<PoolEntry>();
  /** Every pool, sorted by base, for swiotlb_find_pool(). */
  #byBase: PoolEntry[];
  readonly #memory: PoolMemory | undefined;
  readonly #physLimit: number;
  readonly #maxPageOrder: number;
  readonly #onFull: ((event: SwiotlbFullEvent) => void) | undefined;
  readonly #work: WorkItem<SwiotlbPoolInfo | undefined>;
  readonly #waiters: SpaceWaiters<CheckedRequest, SwiotlbMemMapping>;

  /** mem->nslabs: slots of the default and added pools (not the transient ones). */
  #nslabs: number;
  /** total_used: every used slot, transient ones included. */
  #used = 0;
  #hiwater = 0;
  /** transient_nslabs. */
  #transientSlots = 0;
  #live = 0;
  #fullCount = 0;
  #poolsAdded = 0;
  #growthFailures = 0;
  #transientMade = 0;
  #transientFailures = 0;
  #lastError: string | undefined;
  #closed = false;
  /** Inside a pool-memory callback: calls that change the mem are refused. */
  #inCallback = false;
  #lastEntry: PoolEntry | undefined;
  #lastAllocBytes = 0;
  /** The last masks, cpu, boundary and physLimit tryMap() found valid (NaN: none yet, equal to nothing). */
  readonly #checkedOwner = { minAlignMask: NaN, allocAlignMask: NaN, cpu: NaN, boundaryMask: NaN, physLimit: NaN };

  /**
   * Builds the io_tlb_mem with its default pool. Throws InvalidArgumentError
   * (ERR_INVALID_ARGUMENT, field `argument`) for bad options, as `new SwiotlbPool` does for the
   * pool's, and for bad `dynamic` options (callbacks missing when the pool can grow, a bad
   * physLimit, growth mode or maxPageOrder); InvalidSizeError (ERR_INVALID_SIZE) for a size that is
   * not a size. Nothing is built when it throws.
   */
  // models swiotlb_init_remap() with add_mem_pool() of the default pool
  constructor(options: SwiotlbMemOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('SwiotlbMem: options must be an object', { argument: 'options' });
    }
    const { base, size = IO_TLB_DEFAULT_SIZE, cpus = 1, areas, force = false, onFull, dynamic } = options;
    const restricted = (options as { [MEM_RESTRICTED]?: RestrictedShape })[MEM_RESTRICTED];
    if (typeof force !== 'boolean') throw new InvalidArgumentError('SwiotlbMem: force must be a boolean', { argument: 'force' });
    if (onFull !== undefined && typeof onFull !== 'function') throw new InvalidArgumentError('SwiotlbMem: onFull must be a function', { argument: 'onFull' });
    if (dynamic !== undefined && (typeof dynamic !== 'object' || dynamic === null)) {
      throw new InvalidArgumentError('SwiotlbMem: dynamic must be an object', { argument: 'dynamic' });
    }
    const { allocPoolMemory, freePoolMemory, canGrow = true, physLimit = DEFAULT_SWIOTLB_PHYS_LIMIT, growth = 'auto', maxPageOrder = DEFAULT_MAX_PAGE_ORDER } = dynamic ?? {};
    if (typeof canGrow !== 'boolean') throw new InvalidArgumentError('SwiotlbMem: dynamic.canGrow must be a boolean', { argument: 'canGrow' });
    const grows = dynamic !== undefined && canGrow;
    if (grows && (typeof allocPoolMemory !== 'function' || typeof freePoolMemory !== 'function')) {
      throw new InvalidArgumentError('SwiotlbMem: a dynamic swiotlb that can grow needs allocPoolMemory and freePoolMemory functions', { argument: 'allocPoolMemory' });
    }
    if (!Number.isSafeInteger(physLimit) || physLimit < 0) {
      throw new InvalidArgumentError(`SwiotlbMem: dynamic.physLimit must be an address, got ${describe(physLimit)}`, { argument: 'physLimit', value: physLimit });
    }
    if (growth !== 'auto' && growth !== 'manual') {
      throw new InvalidArgumentError(`SwiotlbMem: dynamic.growth must be 'auto' or 'manual', got ${describe(growth)}`, { argument: 'growth', value: growth });
    }
    if (!Number.isInteger(maxPageOrder) || maxPageOrder < 6 || maxPageOrder > 20) {
      throw new InvalidArgumentError(`SwiotlbMem: dynamic.maxPageOrder must be an integer 6..20, got ${describe(maxPageOrder)}`, { argument: 'maxPageOrder', value: maxPageOrder });
    }
    // The pool checks base, size, cpus and areas.
    const pool = restricted === undefined
      ? new SwiotlbPool({ base, size, cpus, ...(areas === undefined ? {} : { areas }) })
      : new SwiotlbPool({ base, [POOL_SHAPE]: { slots: restricted.slots, areas: 1 } } as never);
    this.name = restricted === undefined ? 'swiotlb' : restricted.name;
    this.forceBounce = restricted !== undefined || force;
    this.forAlloc = restricted !== undefined;
    this.dynamic = restricted === undefined && dynamic !== undefined;
    this.canGrow = this.dynamic && canGrow;
    this.defaultAreas = restricted === undefined ? adjustNareas(areas ?? cpus) : 1;
    this.#memory = this.canGrow ? { alloc: allocPoolMemory!, free: freePoolMemory! } : undefined;
    this.#physLimit = physLimit;
    this.#maxPageOrder = maxPageOrder;
    this.#onFull = onFull;
    this.#default = entryOf(pool, restricted === undefined ? 'default' : 'restricted');
    this.defaultPool = this.#default.view;
    this.#pools = [this.#default];
    this.#byBase = [this.#default];
    this.#nslabs = pool.totalSlots;
    this.#work = new WorkItem(() => this.#grow(), growth);
    this.#waiters = new SpaceWaiters<CheckedRequest, SwiotlbMemMapping>({
      attempt: (r) => {
        const tlbAddr = this.#mapSlots(r.origAddr, r.size, r.minAlignMask, r.allocAlignMask, r.cpu, r.boundaryMask, r.physLimit);
        return tlbAddr < 0 ? undefined : this.#lastMapping(tlbAddr);
      },
      cannotEverFit: () => this.#used === 0 && !this.#work.pending,
      reportFull: (r) => this.#reportFull(r.size, allocBytesOf(r.origAddr, r.size, r.minAlignMask, r.allocAlignMask)),
      fullError: (r, timeout) => {
        const allocBytes = allocBytesOf(r.origAddr, r.size, r.minAlignMask, r.allocAlignMask);
        const fields = { size: allocBytes, mappingSize: r.size, totalSlots: this.#nslabs, usedSlots: this.#used };
        return timeout !== undefined
          ? new SwiotlbFullError(`${this.#fullMessage(allocBytes)}; gave up after ${timeout} ms`, { ...fields, timedOut: true, timeout })
          : new SwiotlbFullError(`${this.#fullMessage(allocBytes)}; it cannot fit even in the empty pools`, { ...fields, neverFits: true });
      },
    });
  }

  /** io_tlb_used: the slots in use now (stats().usedSlots without building the rest). */
  get usedSlots(): number {
    return this.#used;
  }

  /** 'open', or 'closed' once close() has finished. */
  get state(): 'open' | 'closed' {
    return this.#closed ? 'closed' : 'open';
  }

  /**
   * Allocates slots for one mapping: in the default and added pools as the kernel searches them,
   * else (dynamic, can grow) in a transient pool of exactly the mapping's slots, scheduling the
   * background growth. Returns where the data goes and which pool holds it. Throws
   * SwiotlbFullError (ERR_SWIOTLB_FULL, the kernel's message; fields `size`, `mappingSize`,
   * `totalSlots` (io_tlb_nslabs), `usedSlots` (io_tlb_used)) when there is no room;
   * InvalidArgumentError (ERR_INVALID_ARGUMENT) for a bad request, including one whose allocation
   * is larger than a segment (the kernel fails it too, and does not grow for it);
   * SwiotlbPoolMemoryError (ERR_SWIOTLB_POOL_MEMORY) when a memory callback breaks its contract;
   * InvalidStateError (ERR_INVALID_STATE) after close() or from inside a memory callback. Leaves
   * every pool unchanged when it throws (the failure counters and a scheduled growth aside, as in
   * the kernel).
   */
  // models swiotlb_tbl_map_single() up to the copy-in, with swiotlb_find_slots()
  map(request: SwiotlbMemMapRequest): SwiotlbMemMapping {
    this.#checkUsable('map');
    if (typeof request !== 'object' || request === null) {
      throw new InvalidArgumentError('swiotlb map: request must be an object', { argument: 'request' });
    }
    const { origAddr, size, minAlignMask = 0, allocAlignMask = 0, cpu = 0, boundaryMask = -1, physLimit = NO_PHYS_LIMIT } = request;
    checkMapRequest(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask);
    checkPhysLimit(physLimit);
    const tlbAddr = this.#mapSlots(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask, physLimit);
    if (tlbAddr < 0) {
      const message = this.#reportFull(size, this.#lastAllocBytes);
      throw new SwiotlbFullError(message, { size: this.#lastAllocBytes, mappingSize: size, totalSlots: this.#nslabs, usedSlots: this.#used });
    }
    return this.#lastMapping(tlbAddr);
  }

  /**
   * map() without the result object: the bounce address, or -1 when there is no room (counted in
   * `fullEvents`, `onFull` called). Throws as map() does for everything else.
   */
  tryMap(origAddr: number, size: number, minAlignMask = 0, allocAlignMask = 0, cpu = 0, boundaryMask = -1, physLimit = NO_PHYS_LIMIT): number {
    this.#checkUsable('map');
    // A device maps with the same masks, cpu and limit every time: numbers that passed once
    // pass again, so only the mapping's own address and size are checked then.
    const owner = this.#checkedOwner;
    if (minAlignMask === owner.minAlignMask && allocAlignMask === owner.allocAlignMask && cpu === owner.cpu && boundaryMask === owner.boundaryMask && physLimit === owner.physLimit) {
      checkMapAddress(origAddr, size, minAlignMask, allocAlignMask);
    } else {
      checkMapRequest(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask);
      checkPhysLimit(physLimit);
      owner.minAlignMask = minAlignMask;
      owner.allocAlignMask = allocAlignMask;
      owner.cpu = cpu;
      owner.boundaryMask = boundaryMask;
      owner.physLimit = physLimit;
    }
    const tlbAddr = this.#mapSlots(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask, physLimit);
    if (tlbAddr < 0) this.#reportFull(size, this.#lastAllocBytes);
    return tlbAddr;
  }

  /**
   * Frees the mapping whose data starts at `tlbAddr` (`size` and `minAlignMask` as given to map):
   * its slots, or, for a transient pool, the whole pool and its memory (freePoolMemory); then
   * serves mapWait() callers. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT; `reason`:
   * 'outside-pool' (in no pool), 'not-mapped', 'not-mapping-start', 'kind-mismatch' (an alloc()
   * allocation), 'size-mismatch', 'min-align-mask-mismatch'), SwiotlbPoolMemoryError when
   * freePoolMemory throws, InvalidStateError after close() or from inside a memory callback; and
   * changes nothing when it throws.
   */
  // models swiotlb_tbl_unmap_single() after the copy-back: swiotlb_del_transient() or swiotlb_release_slots()
  unmap(tlbAddr: number, size: number, minAlignMask = 0): void {
    this.#checkUsable('unmap');
    const entry = this.#entryAt(tlbAddr);
    if (entry === undefined) throw notInPool('unmap', tlbAddr);
    const data = entry.pool[CHECK_RELEASE](tlbAddr, size, minAlignMask, KIND_MAP);
    this.#release(entry, data, tlbAddr);
    if (this.#waiters.length !== 0) this.#waiters.drain();
  }

  /**
   * Like map(), but when there is no room waits for an unmap or an added pool instead of failing
   * (beyond the kernel; see SwiotlbPool.mapWait). Rejects as SwiotlbPool.mapWait does, and with
   * InvalidStateError when the mem closes while it waits.
   */
  mapWait(request: SwiotlbMemMapRequest, options: SwiotlbWaitOptions = {}): Promise<SwiotlbMemMapping> {
    try {
      this.#checkUsable('mapWait');
      const { checked, timeout, signal } = checkWait(request, options);
      return this.#waiters.wait(checked, timeout, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * mapWait() that answers at once, with the mapping and no promise, when nobody waits and the
   * request fits (the common case: a bounce costs no microtask per segment). Throws what mapWait()
   * rejects with when it would reject before waiting (bad request or options, a mapping that can
   * never fit, a closed mem); otherwise returns mapWait()'s promise.
   */
  mapWaitOrNow(request: SwiotlbMemMapRequest, options: SwiotlbWaitOptions = {}): SwiotlbMemMapping | Promise<SwiotlbMemMapping> {
    this.#checkUsable('mapWait');
    const { checked, timeout, signal } = checkWait(request, options);
    return this.#waiters.waitOrNow(checked, timeout, signal);
  }

  /**
   * Allocates `size` bytes of pages for a coherent allocation from a restricted pool: aligned to
   * the power-of-two page order of `size`, in nr_slots(size) slots. Returns the allocation
   * (`tlbAddr` is its page-aligned address). Throws SwiotlbFullError when the pool has no room
   * (the kernel returns NULL and prints nothing, so `fullEvents` is not counted);
   * InvalidArgumentError for a bad size (0, above 256 KiB) or options; InvalidStateError when this
   * mem is not a restricted pool, after close() or from inside a memory callback. Changes nothing
   * when it throws.
   */
  // models swiotlb_alloc()
  alloc(size: number, options: SwiotlbAllocOptions = {}): SwiotlbMemMapping {
    this.#checkUsable('alloc');
    if (!this.forAlloc) {
      throw new InvalidStateError(`swiotlb alloc: ${this.name} is not a restricted DMA pool; only those serve coherent allocations`, { state: 'not-for-alloc' });
    }
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('swiotlb alloc: options must be an object', { argument: 'options' });
    const { cpu = 0, minAlignMask = 0, boundaryMask = -1 } = options;
    if (!Number.isSafeInteger(size) || size < 1 || size > SEGMENT_BYTES) {
      throw new InvalidArgumentError(`swiotlb alloc: size must be 1..${SEGMENT_BYTES} bytes (one segment; the kernel returns NULL for more), got ${describe(size)}`, { argument: 'size', value: size });
    }
    checkUint32(minAlignMask, 'minAlignMask');
    checkCpu(cpu);
    checkBoundaryMask(boundaryMask);
    // align = (1 << (get_order(size) + PAGE_SHIFT)) - 1; the size itself is not rounded up to it.
    const align = 2 ** (getOrder(size) + PAGE_SHIFT) - 1;
    const tlbAddr = this.#find(0, size, minAlignMask, align, cpu, boundaryMask, NO_PHYS_LIMIT, size, KIND_ALLOC);
    if (tlbAddr < 0) {
      throw new SwiotlbFullError(`swiotlb alloc: no room for ${size} bytes in ${this.name}, total ${this.#nslabs} (slots), used ${this.#used} (slots)`, {
        size, mappingSize: size, totalSlots: this.#nslabs, usedSlots: this.#used,
      });
    }
    return this.#lastMapping(tlbAddr);
  }

  /**
   * Frees an allocation made by alloc() (`size` as given to it), then serves mapWait() callers.
   * Throws InvalidArgumentError (`reason` as unmap(); 'kind-mismatch' for a streaming mapping),
   * InvalidStateError as alloc(); changes nothing when it throws.
   */
  // models swiotlb_free()
  free(tlbAddr: number, size: number): void {
    this.#checkUsable('free');
    if (!this.forAlloc) {
      throw new InvalidStateError(`swiotlb free: ${this.name} is not a restricted DMA pool`, { state: 'not-for-alloc' });
    }
    const entry = this.#entryAt(tlbAddr);
    if (entry === undefined) throw notInPool('free', tlbAddr);
    const data = entry.pool[CHECK_RELEASE](tlbAddr, size, 0, KIND_ALLOC);
    this.#release(entry, data, tlbAddr);
    if (this.#waiters.length !== 0) this.#waiters.drain();
  }

  /** The pool holding `addr`, or undefined (swiotlb_find_pool(); a non-number finds nothing). */
  // models swiotlb_find_pool()
  findPool(addr: number): SwiotlbPoolView | undefined {
    return this.#entryAt(addr)?.view;
  }

  /** True when `addr` lies in one of the pools (is_swiotlb_buffer()). */
  // models is_swiotlb_buffer()
  isSwiotlbBuffer(addr: number): boolean {
    return this.#entryAt(addr) !== undefined;
  }

  /** True when [addr, addr + len) lies inside one pool. */
  contains(addr: number, len = 1): boolean {
    const entry = this.#entryAt(addr);
    return entry !== undefined && typeof len === 'number' && len >= 0 && addr + len <= entry.pool.end;
  }

  /** True when [addr, addr + len) touches any pool, even in part (a device access there must stay inside one mapping). */
  overlaps(addr: number, len: number): boolean {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0) return false;
    return this.#overlaps(addr, addr + Math.max(len, 1));
  }

  /** The live mapping or allocation whose data starts exactly at `tlbAddr`, or undefined. */
  mappingAt(tlbAddr: number): SwiotlbMemMappingInfo | undefined {
    const entry = this.#entryAt(tlbAddr);
    const info = entry?.pool.mappingAt(tlbAddr);
    return info === undefined ? undefined : this.#memInfo(entry!, info);
  }

  /** The live mapping or allocation whose slots (padding included) hold `addr`, or undefined. */
  mappingContaining(addr: number): SwiotlbMemMappingInfo | undefined {
    const entry = this.#entryAt(addr);
    const info = entry?.pool.mappingContaining(addr);
    return info === undefined ? undefined : this.#memInfo(entry!, info);
  }

  /**
   * The debugfs counters of this io_tlb_mem (io_tlb_nslabs, io_tlb_used, io_tlb_used_hiwater,
   * io_tlb_transient_nslabs), the default pool's areas, and per-pool and dynamic figures.
   */
  stats(): SwiotlbMemStats {
    const pools = [...this.#pools, ...this.#transient].map((e) => e.view.info());
    return {
      name: this.name,
      totalSlots: this.#nslabs,
      usedSlots: this.#used,
      highWaterSlots: this.#hiwater,
      transientSlots: this.#transientSlots,
      areas: this.#default.pool.areas,
      areaSlots: this.#default.pool.areaSlots,
      fullEvents: this.#fullCount,
      mappings: this.#live,
      waiters: this.#waiters.length,
      pools,
      dynamic: {
        enabled: this.dynamic,
        canGrow: this.canGrow,
        growth: this.#work.pending ? 'scheduled' : 'idle',
        poolsAdded: this.#poolsAdded,
        growthFailures: this.#growthFailures,
        transientPools: this.#transient.size,
        transientMade: this.#transientMade,
        transientFailures: this.#transientFailures,
        lastError: this.#lastError,
      },
    };
  }

  /** Writes 0 to io_tlb_used_hiwater: it reads 0 until the next map raises it. */
  // models io_tlb_hiwater_set()
  resetHighWater(): void {
    this.#hiwater = 0;
  }

  /**
   * Runs a scheduled background growth now (in 'manual' mode the only way it runs) and resolves
   * with the pool it added, or undefined when none was scheduled, it was cancelled, or it got no
   * memory. Rejects with SwiotlbPoolMemoryError when a memory callback broke its contract.
   */
  // models flush_work(&mem->dyn_alloc)
  flushGrowth(): Promise<SwiotlbPoolInfo | undefined> {
    if (this.#inCallback) return Promise.reject(inCallbackError('flushGrowth'));
    return this.#work.flush();
  }

  /**
   * Closes the mem: cancels a scheduled growth, rejects waiting mapWait() callers with
   * InvalidStateError, and gives back the memory of every added pool (freePoolMemory). Resolves
   * when done; a second call resolves at once. Rejects with InvalidStateError (ERR_INVALID_STATE,
   * `mappings`) and changes nothing while mappings or allocations are live, or from inside a memory
   * callback; with SwiotlbPoolMemoryError when freePoolMemory threw (the mem is closed then, and
   * every other pool was given back).
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#inCallback) return Promise.reject(inCallbackError('close'));
    if (this.#live > 0) {
      return Promise.reject(new InvalidStateError(`swiotlb close: ${this.#live} mappings are still live; unmap them first`, { state: 'busy', mappings: this.#live }));
    }
    this.#closed = true;
    this.#work.cancel();
    this.#waiters.rejectAll(() => closedError('mapWait'));
    let failure: unknown;
    for (const entry of this.#pools) {
      if (entry.kind !== 'dynamic') continue;
      try {
        this.#withMemory(() => givePoolMemory(this.#memory!, entry.pool.base, entry.pool.size, false));
      } catch (error) {
        failure ??= error;
      }
    }
    this.#pools = [this.#default];
    this.#byBase = [this.#default];
    this.#nslabs = this.#default.pool.totalSlots;
    return failure === undefined ? Promise.resolve() : Promise.reject(failure);
  }

  // ---- internals

  #checkUsable(op: string): void {
    if (this.#closed) throw closedError(op);
    if (this.#inCallback) throw inCallbackError(op);
  }

  /** Searches for a checked request; returns tlbAddr or -1. `#lastAllocBytes` is set either way. */
  #mapSlots(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number, cpu: number, boundaryMask: number, physLimit: number): number {
    const allocBytes = allocBytesOf(origAddr, size, minAlignMask, allocAlignMask);
    this.#lastAllocBytes = allocBytes;
    return this.#find(origAddr, size, minAlignMask, allocAlignMask, cpu, boundaryMask, physLimit, allocBytes, KIND_MAP);
  }

  // models swiotlb_find_slots(): the non-dynamic one, or the CONFIG_SWIOTLB_DYNAMIC one
  #find(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number, cpu: number, boundaryMask: number, physLimit: number, allocBytes: number, kind: RecordKind): number {
    if (!this.dynamic) {
      // The default pool alone, from the caller's area round-robin (swiotlb_pool_find_slots()).
      const pool = this.#default.pool;
      const nareas = pool.areas;
      const start = cpu & (nareas - 1);
      let area = start;
      do {
        const tlbAddr = pool[CLAIM](area, origAddr, size, minAlignMask, allocAlignMask, boundaryMask, allocBytes, kind);
        if (tlbAddr >= 0) return this.#claimed(this.#default, tlbAddr, allocBytes);
        if (++area >= nareas) area = 0;
      } while (area !== start);
      return -1;
    }
    // Area offset by area offset, each pool newest first (swiotlb_search_area()); a pool with fewer
    // areas than the offset is skipped, and the area is (cpu + offset) & (nareas - 1), so a pool
    // whose area count is not a power of two has areas this never reaches.
    const pools = this.#pools;
    for (let offset = 0; offset < this.defaultAreas; offset++) {
      for (let p = 0; p < pools.length; p++) {
        const entry = pools[p]!;
        const nareas = entry.pool.areas;
        if (offset >= nareas) continue;
        const tlbAddr = entry.pool[CLAIM]((cpu + offset) & (nareas - 1), origAddr, size, minAlignMask, allocAlignMask, boundaryMask, allocBytes, kind);
        if (tlbAddr >= 0) return this.#claimed(entry, tlbAddr, allocBytes);
      }
    }
    if (!this.canGrow) return -1;
    this.#work.schedule();
    return this.#makeTransient(origAddr, size, minAlignMask, allocAlignMask, boundaryMask, physLimit, allocBytes, kind);
  }

  /** A transient pool of exactly the mapping's slots, in one area (GFP_NOWAIT: it may fail); the mapping's address, or -1. */
  #makeTransient(origAddr: number, size: number, minAlignMask: number, allocAlignMask: number, boundaryMask: number, physLimit: number, allocBytes: number, kind: RecordKind): number {
    const slots = nrSlots(allocBytes);
    const memory = this.#memory!;
    const got = this.#withMemory(() => allocPool(memory, slots, slots, 1, physLimit, true, this.#maxPageOrder, (phys, end) => this.#overlaps(phys, end)));
    if (got === undefined) {
      this.#transientFailures++;
      return -1;
    }
    const entry = entryOf(new SwiotlbPool({ base: got.phys, [POOL_SHAPE]: { slots: got.slots, areas: got.areas } } as never), 'transient');
    const tlbAddr = entry.pool[CLAIM](0, origAddr, size, minAlignMask, allocAlignMask, boundaryMask, allocBytes, kind);
    if (tlbAddr < 0) {
      // Exactly its slots, so an alignment that slot 0 does not meet cannot be had: swiotlb_dyn_free().
      this.#withMemory(() => givePoolMemory(memory, got.phys, got.slots * IO_TLB_SIZE, true));
      this.#transientFailures++;
      return -1;
    }
    this.#transient.add(entry);
    this.#insertByBase(entry);
    this.#transientSlots += got.slots; // models inc_transient_used()
    this.#transientMade++;
    return this.#claimed(entry, tlbAddr, allocBytes);
  }

  #claimed(entry: PoolEntry, tlbAddr: number, allocBytes: number): number {
    this.#used += nrSlots32(allocBytes); // allocBytes is at most one segment
    if (this.#used > this.#hiwater) this.#hiwater = this.#used; // models inc_used_and_hiwater()
    this.#live++;
    this.#lastEntry = entry;
    return tlbAddr;
  }

  #release(entry: PoolEntry, data: number, tlbAddr: number): void {
    if (entry.kind === 'transient') {
      // models swiotlb_del_transient(): the pool goes with its one mapping. Its memory is given
      // back first, so that a throwing callback leaves the mapping live.
      const pool = entry.pool;
      this.#withMemory(() => givePoolMemory(this.#memory!, pool.base, pool.size, true));
      this.#transient.delete(entry);
      this.#removeByBase(entry);
      this.#used -= pool.totalSlots; // dec_used(mem, pool->nslabs)
      this.#transientSlots -= pool.totalSlots; // dec_transient_used()
    } else {
      this.#used -= entry.pool[RELEASE](data, tlbAddr); // dec_used()
    }
    this.#live--;
  }

  // models swiotlb_dyn_alloc(): a default-size pool (at most one buffer of 2^MAX_PAGE_ORDER pages), halving to IO_TLB_MIN_SLABS
  #grow(): SwiotlbPoolInfo | undefined {
    if (this.#closed) return undefined;
    let got;
    try {
      got = this.#withMemory(() =>
        allocPool(this.#memory!, IO_TLB_MIN_SLABS, this.#default.pool.totalSlots, this.defaultAreas, this.#physLimit, false, this.#maxPageOrder, (phys, end) => this.#overlaps(phys, end)),
      );
    } catch (error) {
      this.#growthFailures++;
      this.#lastError = (error as { code?: string }).code;
      throw error;
    }
    if (got === undefined) {
      this.#growthFailures++; // pr_warn_ratelimited("Failed to allocate new pool")
      return undefined;
    }
    const entry = entryOf(new SwiotlbPool({ base: got.phys, [POOL_SHAPE]: { slots: got.slots, areas: got.areas } } as never), 'dynamic');
    // models add_mem_pool(): at the head of the list, and counted in io_tlb_nslabs
    this.#pools.unshift(entry);
    this.#insertByBase(entry);
    this.#nslabs += got.slots;
    this.#poolsAdded++;
    this.#waiters.drain();
    return entry.view.info();
  }

  /** Runs a memory callback with the mem closed to re-entrant changes; contract errors are recorded. */
  #withMemory<T>(call: () => T): T {
    this.#inCallback = true;
    try {
      return call();
    } catch (error) {
      this.#lastError = (error as { code?: string }).code;
      throw error;
    } finally {
      this.#inCallback = false;
    }
  }

  #lastMapping(tlbAddr: number): SwiotlbMemMapping {
    const entry = this.#lastEntry!;
    // Fields written out: an object spread here cost more than the slot search itself.
    const m = entry.pool[LAST_MAPPING](tlbAddr);
    return { tlbAddr: m.tlbAddr, index: m.index, nslots: m.nslots, padSlots: m.padSlots, offset: m.offset, poolBase: entry.pool.base, transient: entry.kind === 'transient' };
  }

  #memInfo(entry: PoolEntry, info: SwiotlbMappingInfo): SwiotlbMemMappingInfo {
    // Written out field by field: with `{ ...info, kind, poolBase, poolKind }` (a spread followed
    // by more keys) Node 20's V8 took 2.5 us a mappingContaining() call, against 105 ns this way,
    // and this runs on every sync and every iommu-dma unmap of a bounced mapping.
    return {
      tlbAddr: info.tlbAddr,
      index: info.index,
      nslots: info.nslots,
      padSlots: info.padSlots,
      offset: info.offset,
      origAddr: info.origAddr,
      size: info.size,
      minAlignMask: info.minAlignMask,
      allocAlignMask: info.allocAlignMask,
      kind: entry.pool[RECORD_KIND](info.tlbAddr) === KIND_ALLOC ? 'alloc' : 'map',
      poolBase: entry.pool.base,
      poolKind: entry.kind,
    };
  }

  /** The pool holding `addr`: the default pool first, then a binary search by base. */
  #entryAt(addr: number): PoolEntry | undefined {
    // Numbers only: a compare would coerce anything else (an object's valueOf() runs) or throw (a Symbol).
    if (typeof addr !== 'number') return undefined;
    const main = this.#default.pool;
    if (addr >= main.base && addr < main.end) return this.#default;
    if (!(addr >= 0)) return undefined;
    const sorted = this.#byBase;
    let lo = 0;
    let hi = sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const pool = sorted[mid]!.pool;
      if (addr < pool.base) hi = mid - 1;
      else if (addr >= pool.end) lo = mid + 1;
      else return sorted[mid];
    }
    return undefined;
  }

  /** True when [phys, end) overlaps a pool: the pools are disjoint, so only the last one starting below `end` can. */
  #overlaps(phys: number, end: number): boolean {
    const before = this.#firstAtOrAbove(end) - 1;
    return before >= 0 && this.#byBase[before]!.pool.end > phys;
  }

  #insertByBase(entry: PoolEntry): void {
    this.#byBase.splice(this.#firstAtOrAbove(entry.pool.base), 0, entry);
  }

  #removeByBase(entry: PoolEntry): void {
    const at = this.#firstAtOrAbove(entry.pool.base);
    if (this.#byBase[at] === entry) this.#byBase.splice(at, 1);
  }

  /** Index of the first pool whose base is at or above `addr` (binary search of #byBase). */
  #firstAtOrAbove(addr: number): number {
    const sorted = this.#byBase;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]!.pool.base < addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #fullMessage(allocBytes: number): string {
    return `swiotlb buffer is full (sz: ${allocBytes} bytes), total ${this.#nslabs} (slots), used ${this.#used} (slots)`;
  }

  #reportFull(mappingSize: number, allocBytes: number): string {
    const message = this.#fullMessage(allocBytes);
    this.#fullCount++;
    this.#onFull?.({ size: allocBytes, mappingSize, totalSlots: this.#nslabs, usedSlots: this.#used, message });
    return message;
  }
}

function entryOf(pool: SwiotlbPool, kind: SwiotlbPoolKind): PoolEntry {
  return { pool, kind, view: new PoolView(pool, kind) };
}

/** What findPool() hands out: a window on one pool that cannot change it. */
class PoolView implements SwiotlbPoolView {
  readonly #pool: SwiotlbPool;
  readonly kind: SwiotlbPoolKind;
  readonly base: number;
  readonly end: number;
  readonly totalSlots: number;
  readonly areas: number;
  readonly areaSlots: number;

  constructor(pool: SwiotlbPool, kind: SwiotlbPoolKind) {
    this.#pool = pool;
    this.kind = kind;
    this.base = pool.base;
    this.end = pool.end;
    this.totalSlots = pool.totalSlots;
    this.areas = pool.areas;
    this.areaSlots = pool.areaSlots;
  }

  info(): SwiotlbPoolInfo {
    const s = this.#pool.stats();
    return { kind: this.kind, base: this.base, end: this.end, totalSlots: this.totalSlots, usedSlots: s.usedSlots, areas: this.areas, areaSlots: this.areaSlots, mappings: s.mappings };
  }

  areaState(area: number): SwiotlbAreaState {
    return this.#pool.areaState(area);
  }

  freeRunAt(slot: number): number {
    return this.#pool.freeRunAt(slot);
  }
}

// models get_order(): the power-of-two page order that holds `size` bytes
function getOrder(size: number): number {
  return Math.max(0, Math.ceil(Math.log2(Math.ceil(size / PAGE_SIZE))));
}

function notInPool(op: string, tlbAddr: number): InvalidArgumentError {
  return new InvalidArgumentError(`swiotlb ${op}: 0x${hex(tlbAddr)} is in no swiotlb pool`, { argument: 'tlbAddr', reason: 'outside-pool', tlbAddr });
}

function closedError(op: string): InvalidStateError {
  return new InvalidStateError(`swiotlb ${op}: the swiotlb is closed`, { state: 'closed' });
}

function inCallbackError(op: string): InvalidStateError {
  return new InvalidStateError(`swiotlb ${op}: called from inside a pool-memory callback`, { state: 'in-callback' });
}
