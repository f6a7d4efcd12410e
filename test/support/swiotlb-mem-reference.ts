// A plain model of the kernel's io_tlb_mem (v6.10+ kernel/dma/swiotlb.c), to check SwiotlbMem
// against: pools are SwiotlbReference instances (BigInt addresses, boolean slots, scanned free
// runs); the dynamic search, transient pools and background growth are written out as the kernel
// writes them, sharing no code with src/.
import type { FakePoolMemory } from './swiotlb-memory.js';
import { SwiotlbReference, type RefMapping, type RefRequest } from './swiotlb-reference.js';

const SLOT = 2048;
const SEG = 128;
const MIN_SLABS = 512;

export type RefKind = 'default' | 'dynamic' | 'transient';

export interface RefPool {
  readonly ref: SwiotlbReference;
  readonly kind: RefKind;
}

export interface RefMemMapping {
  readonly pool: RefPool;
  readonly m: RefMapping;
}

export interface RefMemOptions {
  readonly base: number;
  readonly slots: number;
  /** default_nareas. */
  readonly defaultAreas: number;
  readonly dynamic: boolean;
  readonly canGrow: boolean;
  readonly memory?: FakePoolMemory;
  readonly physLimit?: number;
  /** MAX_PAGE_ORDER. */
  readonly maxPageOrder?: number;
}

function limitAreas(nareas: number, slots: number): number {
  return slots < nareas * SEG ? Math.floor(slots / SEG) : nareas;
}

export class SwiotlbMemReference {
  /** mem->pools, newest first. */
  readonly pools: RefPool[] = [];
  readonly transient: RefPool[] = [];
  readonly live = new Map<number, RefMemMapping>();
  nslabs: number;
  used = 0;
  hiwater = 0;
  transientSlots = 0;
  growPending = false;

  constructor(private readonly o: RefMemOptions) {
    const areas = limitAreas(o.defaultAreas, o.slots);
    this.pools.push({ ref: new SwiotlbReference(o.base, o.slots, areas), kind: 'default' });
    this.nslabs = o.slots;
  }

  /** The mapping and its pool, or undefined when the kernel's map fails. The request's alloc_size must fit a segment. */
  map(req: RefRequest, physLimit = Number.MAX_SAFE_INTEGER): RefMemMapping | undefined {
    const total = SwiotlbReference.totalOf(req);
    const found = this.o.dynamic ? this.searchDynamic(req, total) : this.searchStatic(req, total);
    if (found) return this.took(found);
    if (!this.o.dynamic || !this.o.canGrow) return undefined;
    this.growPending = true;
    const slots = Number((total + BigInt(SLOT) - 1n) / BigInt(SLOT));
    const got = this.o.memory!.alloc(slots * SLOT, { transient: true, physLimit });
    if (!got) return undefined;
    if (got.phys + slots * SLOT - 1 > physLimit) {
      this.o.memory!.free(got.phys, slots * SLOT, { transient: true });
      return undefined;
    }
    const pool: RefPool = { ref: new SwiotlbReference(got.phys, slots, 1), kind: 'transient' };
    const m = pool.ref.mapInArea(0, req, total);
    if (!m) {
      this.o.memory!.free(got.phys, slots * SLOT, { transient: true });
      return undefined;
    }
    this.transient.push(pool);
    this.transientSlots += slots;
    return this.took({ pool, m });
  }

  unmap(tlbAddr: number): RefMemMapping {
    const found = this.live.get(tlbAddr);
    if (!found) throw new Error(`reference: nothing mapped at ${tlbAddr}`);
    this.live.delete(tlbAddr);
    if (found.pool.kind === 'transient') {
      const ref = found.pool.ref;
      this.o.memory!.free(ref.base, ref.totalSlots * SLOT, { transient: true });
      this.transient.splice(this.transient.indexOf(found.pool), 1);
      this.used -= ref.totalSlots;
      this.transientSlots -= ref.totalSlots;
    } else {
      this.used -= found.pool.ref.unmap(tlbAddr).nslots;
    }
    return found;
  }

  /** The background growth, when scheduled: the pool added, or undefined. */
  grow(): RefPool | undefined {
    if (!this.growPending) return undefined;
    this.growPending = false;
    const maxSlots = 2 << (this.o.maxPageOrder ?? 10);
    let slots = this.o.slots;
    let areas = this.o.defaultAreas;
    if (slots > maxSlots) {
      slots = maxSlots;
      areas = limitAreas(areas, slots);
    }
    for (;;) {
      const got = this.o.memory!.alloc(slots * SLOT, { transient: false, physLimit: this.o.physLimit ?? 0xffff_ffff });
      if (got && got.phys + slots * SLOT - 1 > (this.o.physLimit ?? 0xffff_ffff)) this.o.memory!.free(got.phys, slots * SLOT, { transient: false });
      else if (got) {
        const pool: RefPool = { ref: new SwiotlbReference(got.phys, slots, Math.max(1, Math.min(areas, slots))), kind: 'dynamic' };
        this.pools.unshift(pool);
        this.nslabs += slots;
        return pool;
      }
      if (slots <= MIN_SLABS) return undefined;
      slots = Math.ceil((slots >> 1) / SEG) * SEG;
      areas = limitAreas(areas, slots);
    }
  }

  /** Every pool, as SwiotlbMem.stats() lists them. */
  allPools(): RefPool[] {
    return [...this.pools, ...this.transient];
  }

  poolOf(addr: number): RefPool | undefined {
    return this.allPools().find((p) => addr >= p.ref.base && addr < p.ref.base + p.ref.totalSlots * SLOT);
  }

  private searchStatic(req: RefRequest, total: bigint): RefMemMapping | undefined {
    const pool = this.pools[this.pools.length - 1]!;
    const n = pool.ref.areas;
    const start = req.cpu & (n - 1);
    let area = start;
    do {
      const m = pool.ref.mapInArea(area, req, total);
      if (m) return { pool, m };
      area = (area + 1) % n;
    } while (area !== start);
    return undefined;
  }

  private searchDynamic(req: RefRequest, total: bigint): RefMemMapping | undefined {
    for (let i = 0; i < this.o.defaultAreas; i++) {
      for (const pool of this.pools) {
        if (i >= pool.ref.areas) continue;
        const m = pool.ref.mapInArea((req.cpu + i) & (pool.ref.areas - 1), req, total);
        if (m) return { pool, m };
      }
    }
    return undefined;
  }

  private took(found: RefMemMapping): RefMemMapping {
    this.live.set(found.m.tlbAddr, found);
    this.used += found.m.nslots;
    this.hiwater = Math.max(this.hiwater, this.used);
    return found;
  }
}
