// CONFIG_SWIOTLB_DYNAMIC, case by case, worked out by hand from kernel/dma/swiotlb.c (v6.10+):
// swiotlb_find_slots() / swiotlb_search_area() for the search order, swiotlb_alloc_pool() for
// transient pools and growth, swiotlb_dyn_alloc() for the background work, swiotlb_del_transient()
// for the unmap, and the debugfs counters (io_tlb_nslabs, io_tlb_used, io_tlb_transient_nslabs).
import { describe, expect, it } from 'vitest';
import { SwiotlbMem, SwiotlbPool, type SwiotlbMemOptions } from '../dist/src/dma/index.js';
import { FakePoolMemory, type FakePoolMemoryOptions } from './support/swiotlb-memory.js';
import { BASE, SLOT, errorOf } from './support/swiotlb-helpers.js';

const ORIG = 0x2_0000_0000;
const LO = 0x8000_0000;
const SEG = 128 * SLOT;
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

function dynamicMem(options: Partial<SwiotlbMemOptions> = {}, memoryOptions: Partial<FakePoolMemoryOptions> = {}, dynamic: Record<string, unknown> = {}) {
  const memory = new FakePoolMemory({ lo: LO, hi: LO + 64 * 2 ** 20, ...memoryOptions });
  const mem = new SwiotlbMem({
    base: BASE, size: '256KiB', ...options,
    dynamic: { growth: 'manual', allocPoolMemory: memory.alloc, freePoolMemory: memory.free, ...dynamic },
  });
  return { mem, memory };
}

/** Fills the default pool with page-sized mappings; returns their addresses. */
function fill(mem: SwiotlbMem, slots = mem.defaultPool.totalSlots): number[] {
  return Array.from({ length: slots / 2 }, (_, i) => mem.map({ origAddr: ORIG + i * 4096, size: 4096 }).tlbAddr);
}

/** Everything but the failure counters, to show a failed call changed nothing. */
function state(mem: SwiotlbMem): unknown {
  const { fullEvents: _f, dynamic, ...rest } = mem.stats();
  return { ...rest, poolsAdded: dynamic.poolsAdded, transientPools: dynamic.transientPools };
}

describe('transient pools', () => {
  it('give a mapping that finds no room a pool of exactly its slots, freed at its unmap', () => {
    const { mem, memory } = dynamicMem();
    fill(mem);
    // NVMe: 4096 bytes at offset 0x234 take 0x1234 bytes, 3 slots; the transient pool is 3 slots, one area.
    const m = mem.map({ origAddr: ORIG + 0x234, size: 4096, minAlignMask: 0xfff });
    expect(m).toEqual({ tlbAddr: LO + 0x234, index: 0, nslots: 3, padSlots: 0, offset: 0x234, poolBase: LO, transient: true });
    expect(memory.calls).toEqual([{ op: 'alloc', bytes: 3 * SLOT, transient: true, phys: LO, physLimit: NO_LIMIT }]);
    const s = mem.stats();
    // io_tlb_nslabs counts the default and added pools only; io_tlb_used counts the transient slots too.
    expect(s).toMatchObject({ totalSlots: 128, usedSlots: 131, highWaterSlots: 131, transientSlots: 3, mappings: 65 });
    expect(s.dynamic).toMatchObject({ growth: 'scheduled', transientPools: 1, transientMade: 1, transientFailures: 0, poolsAdded: 0 });
    expect(s.pools.at(-1)).toEqual({ kind: 'transient', base: LO, end: LO + 3 * SLOT, totalSlots: 3, usedSlots: 3, areas: 1, areaSlots: 3, mappings: 1 });
    expect(mem.findPool(m.tlbAddr)?.kind).toBe('transient');
    expect(mem.findPool(LO + 3 * SLOT)).toBeUndefined(); // the pool is its slots, not the 8 KiB block behind them
    expect(mem.mappingAt(m.tlbAddr)).toMatchObject({ kind: 'map', poolKind: 'transient', poolBase: LO, size: 4096, nslots: 3 });

    mem.unmap(m.tlbAddr, 4096, 0xfff);
    expect(memory.calls.at(-1)).toEqual({ op: 'free', bytes: 3 * SLOT, transient: true, phys: LO });
    expect(mem.stats()).toMatchObject({ usedSlots: 128, transientSlots: 0, highWaterSlots: 131, dynamic: { transientPools: 0 } });
    expect(mem.findPool(m.tlbAddr)).toBeUndefined();
    expect(errorOf(() => mem.unmap(m.tlbAddr, 4096, 0xfff))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'outside-pool' });
    expect(memory.outstanding).toBe(0);
  });

  it('fail when the mapping\'s alignment cannot start at slot 0 of its exact-size pool (NVMe with bit 11 set)', () => {
    const { mem, memory } = dynamicMem();
    fill(mem);
    const before = state(mem);
    // 0x1234 bytes again, 3 slots, but bit 11 of the original is set: slot 0 (page aligned) does
    // not match, slot 1 does and has list = min(127, 3 - 1) = 2 < 3, then the stride of 2 ends it.
    const err = errorOf(() => mem.map({ origAddr: ORIG + 0xa34, size: 4096, minAlignMask: 0xfff }));
    expect(err).toMatchObject({ code: 'ERR_SWIOTLB_FULL', size: 0x1234, mappingSize: 4096, totalSlots: 128, usedSlots: 128 });
    expect(err.message).toBe('swiotlb buffer is full (sz: 4660 bytes), total 128 (slots), used 128 (slots)');
    expect(memory.calls).toEqual([
      { op: 'alloc', bytes: 3 * SLOT, transient: true, phys: LO, physLimit: NO_LIMIT },
      { op: 'free', bytes: 3 * SLOT, transient: true, phys: LO }, // swiotlb_dyn_free()
    ]);
    expect(state(mem)).toEqual(before);
    expect(mem.stats()).toMatchObject({ fullEvents: 1, dynamic: { transientFailures: 1, growth: 'scheduled' } });
  });

  it('are page aligned for a page or more with no other alignment (the historic default applies to slot 0)', () => {
    const { mem } = dynamicMem();
    fill(mem);
    expect(mem.map({ origAddr: ORIG + 0x10, size: 5000 })).toMatchObject({ tlbAddr: LO, nslots: 3, transient: true });
  });

  it('fail when the allocator has no memory (GFP_NOWAIT), and growth is still scheduled', () => {
    const { mem, memory } = dynamicMem({}, { transientFailRate: 1 });
    fill(mem);
    expect(mem.tryMap(ORIG, 4096)).toBe(-1);
    expect(memory.calls).toEqual([{ op: 'alloc', bytes: 4096, transient: true, phys: undefined, physLimit: NO_LIMIT }]);
    expect(mem.stats()).toMatchObject({ fullEvents: 1, dynamic: { growth: 'scheduled', transientFailures: 1, transientPools: 0 } });
  });

  it('end below the device\'s DMA limit: memory above it is given back (alloc_dma_pages) and the map fails', () => {
    const { mem, memory } = dynamicMem({}, { ignoreLimit: true });
    fill(mem);
    const limit = LO + 4096 - 1; // the 2 slots would end at LO + 4095: fits exactly
    expect(mem.map({ origAddr: ORIG, size: 4096, physLimit: limit })).toMatchObject({ tlbAddr: LO, transient: true });
    expect(mem.tryMap(ORIG, 4096, 0, 0, 0, -1, LO + 8192 - 2)).toBe(-1); // the next block would end one byte too high
    expect(memory.calls.slice(1)).toEqual([
      { op: 'alloc', bytes: 4096, transient: true, phys: LO + 4096, physLimit: LO + 8192 - 2 },
      { op: 'free', bytes: 4096, transient: true, phys: LO + 4096 },
    ]);
  });

  it('count in the high-water mark, and the full message counts them as used', () => {
    const { mem } = dynamicMem({}, {});
    fill(mem);
    mem.map({ origAddr: ORIG + 0x234, size: 4096, minAlignMask: 0xfff }); // 3 transient slots
    mem.resetHighWater();
    expect(mem.stats().highWaterSlots).toBe(0);
    mem.map({ origAddr: ORIG, size: 2048 }); // one more transient slot
    expect(mem.stats()).toMatchObject({ highWaterSlots: 132, usedSlots: 132, transientSlots: 4 });
    expect(errorOf(() => mem.map({ origAddr: ORIG + 0xa34, size: 4096, minAlignMask: 0xfff })).message)
      .toBe('swiotlb buffer is full (sz: 4660 bytes), total 128 (slots), used 132 (slots)');
  });
});

describe('background growth (swiotlb_dyn_alloc)', () => {
  it('is scheduled once however many maps overflow, adds a default-size pool that is searched first', async () => {
    const { mem, memory } = dynamicMem();
    const defaults = fill(mem);
    const t1 = mem.map({ origAddr: ORIG, size: 4096 });
    const t2 = mem.map({ origAddr: ORIG, size: 4096 });
    expect([t1.tlbAddr, t2.tlbAddr]).toEqual([LO, LO + 4096]);
    expect(mem.stats().dynamic.growth).toBe('scheduled');
    const added = await mem.flushGrowth();
    // default_nslabs = 128, default_nareas = 1; the buddy block of 256 KiB is naturally aligned.
    expect(added).toEqual({ kind: 'dynamic', base: LO + 0x40000, end: LO + 0x80000, totalSlots: 128, usedSlots: 0, areas: 1, areaSlots: 128, mappings: 0 });
    expect(memory.calls.filter((c) => !c.transient)).toEqual([{ op: 'alloc', bytes: SEG, transient: false, phys: LO + 0x40000, physLimit: 0xffff_ffff }]);
    expect(await mem.flushGrowth()).toBeUndefined(); // nothing scheduled any more
    expect(mem.stats()).toMatchObject({ totalSlots: 256, dynamic: { growth: 'idle', poolsAdded: 1 } });
    expect(mem.stats().pools.map((p) => p.kind)).toEqual(['dynamic', 'default', 'transient', 'transient']);
    // The default pool has room again, but the newest pool is searched first (list_add_rcu at the head).
    mem.unmap(defaults[0]!, 4096);
    expect(mem.map({ origAddr: ORIG, size: 4096 })).toMatchObject({ tlbAddr: LO + 0x40000, poolBase: LO + 0x40000, transient: false });
    expect(mem.findPool(LO + 0x40000 + 4096)?.kind).toBe('dynamic');
  });

  it('takes at most 2^MAX_PAGE_ORDER pages and halves down to IO_TLB_MIN_SLABS when memory is short', async () => {
    // 64 MiB default pool, 8 CPUs: default_nareas 8. A new pool is capped at 2048 slots (4 MiB,
    // x86-64's MAX_PAGE_ORDER 10); 4 MiB and 2 MiB fail, 1 MiB (512 slots) is had; limit_nareas
    // leaves 8 areas for 2048 and 1024 slots, 4 for 512.
    const { mem, memory } = dynamicMem({ size: '64MiB', cpus: 8 }, { failFrom: 2 * 2 ** 20 });
    expect([mem.defaultAreas, mem.defaultPool.areas]).toEqual([8, 8]);
    for (let cpu = 0; cpu < 8; cpu++) for (let i = 0; i < 32; i++) mem.map({ origAddr: ORIG, size: SEG, cpu });
    expect(mem.stats().usedSlots).toBe(32768);
    mem.map({ origAddr: ORIG, size: 4096 }); // transient
    const added = await mem.flushGrowth();
    expect(memory.calls.filter((c) => !c.transient).map((c) => [c.bytes, c.phys !== undefined])).toEqual([[4 * 2 ** 20, false], [2 * 2 ** 20, false], [2 ** 20, true]]);
    expect(added).toMatchObject({ kind: 'dynamic', totalSlots: 512, areas: 4, areaSlots: 128 });
    expect(mem.stats().totalSlots).toBe(32768 + 512);
  });

  it('limits the areas of a capped pool (limit_nareas): 32 CPUs get 16 areas in 2048 slots', async () => {
    const { mem } = dynamicMem({ size: '64MiB', cpus: 32 });
    expect([mem.defaultAreas, mem.defaultPool.areas]).toEqual([32, 32]);
    for (let cpu = 0; cpu < 32; cpu++) for (let i = 0; i < 8; i++) mem.map({ origAddr: ORIG, size: SEG, cpu });
    mem.tryMap(ORIG, 2048);
    expect(await mem.flushGrowth()).toMatchObject({ totalSlots: 2048, areas: 16, areaSlots: 128 });
  });

  it('with a larger MAX_PAGE_ORDER takes more, and fails (counted) when even 1 MiB cannot be had', async () => {
    const { mem, memory } = dynamicMem({ size: '64MiB' }, { failFrom: 2 ** 20 }, { maxPageOrder: 11 });
    for (let i = 0; i < 256; i++) mem.map({ origAddr: ORIG, size: SEG });
    mem.tryMap(ORIG, 2048);
    expect(await mem.flushGrowth()).toBeUndefined();
    expect(memory.calls.filter((c) => !c.transient).map((c) => c.bytes)).toEqual([8, 4, 2, 1].map((m) => m * 2 ** 20));
    expect(mem.stats()).toMatchObject({ totalSlots: 32768, dynamic: { growthFailures: 1, poolsAdded: 0, growth: 'idle' } });
  });

  it('ends below io_tlb_mem.phys_limit', async () => {
    const { mem, memory } = dynamicMem({}, { ignoreLimit: true }, { physLimit: LO + SEG - 1 });
    fill(mem);
    mem.tryMap(ORIG, 4096); // transient at LO (4 KiB)
    expect(await mem.flushGrowth()).toBeUndefined(); // the 256 KiB block at LO + 256 KiB ends above the limit
    expect(memory.calls.slice(1)).toEqual([
      { op: 'alloc', bytes: SEG, transient: false, phys: LO + SEG, physLimit: LO + SEG - 1 },
      { op: 'free', bytes: SEG, transient: false, phys: LO + SEG },
    ]);
  });

  it("runs on the next turn of the event loop in 'auto' mode", async () => {
    const { mem } = dynamicMem({}, {}, { growth: 'auto' });
    fill(mem);
    mem.tryMap(ORIG, 4096);
    expect(mem.stats().dynamic.growth).toBe('scheduled');
    await new Promise((resolve) => setImmediate(resolve));
    expect(mem.stats()).toMatchObject({ totalSlots: 256, dynamic: { growth: 'idle', poolsAdded: 1 } });
  });

  it('serves a mapWait() caller that found no room, once the new pool is there', async () => {
    const { mem } = dynamicMem({}, { transientFailRate: 1 });
    fill(mem);
    let served: unknown;
    const pending = mem.mapWait({ origAddr: ORIG, size: 4096 }).then((m) => (served = m));
    await Promise.resolve();
    expect(served).toBeUndefined();
    expect(mem.stats()).toMatchObject({ waiters: 1, fullEvents: 1, dynamic: { growth: 'scheduled' } });
    const added = await mem.flushGrowth();
    await pending;
    expect(served).toEqual({ tlbAddr: added!.base, index: 0, nslots: 2, padSlots: 0, offset: 0, poolBase: added!.base, transient: false });
    expect(mem.stats().waiters).toBe(0);
  });
});

describe('the dynamic search order (swiotlb_find_slots / swiotlb_search_area)', () => {
  it('tries one area offset in every pool (newest first) before the next offset', async () => {
    // default 512 KiB, 2 CPUs: pool D has areas D0 (slots 0..127) and D1 (128..255). After one
    // growth pool P (256 slots, 2 areas), cpu 0 searches P0, D0, then P1, D1.
    const { mem } = dynamicMem({ size: '512KiB', cpus: 2 });
    const d0 = mem.map({ origAddr: ORIG, size: SEG, cpu: 0 });
    const d1 = mem.map({ origAddr: ORIG, size: SEG, cpu: 1 });
    expect([d0.tlbAddr, d1.tlbAddr]).toEqual([BASE, BASE + SEG]);
    const t = mem.map({ origAddr: ORIG, size: 4096 }); // transient at LO
    const p = (await mem.flushGrowth())!;
    expect(p).toMatchObject({ base: LO + 0x80000, totalSlots: 256, areas: 2, areaSlots: 128 });
    mem.unmap(d0.tlbAddr, SEG);
    expect(mem.map({ origAddr: ORIG, size: SEG, cpu: 0 }).tlbAddr).toBe(p.base); // P0 first
    expect(mem.map({ origAddr: ORIG, size: 4096, cpu: 0 }).tlbAddr).toBe(BASE); // P0 full: D0 before P1
    expect(mem.map({ origAddr: ORIG, size: 4096, cpu: 1 }).tlbAddr).toBe(p.base + SEG); // (1 + 0) & 1: P1
    mem.unmap(t.tlbAddr, 4096);
  });

  it('never reaches an area of a pool whose limited area count is not a power of two', () => {
    // 768 KiB with 4 CPUs: default_nareas 4, but limit_nareas leaves the pool 3 areas. The area is
    // (cpu + i) & (3 - 1), which is 0 or 2: area 1 (slots 128..255) is never searched.
    const mem = new SwiotlbMem({ base: BASE, size: '768KiB', cpus: 4, dynamic: { canGrow: false } });
    const pool = new SwiotlbPool({ base: BASE, size: '768KiB', cpus: 4 });
    for (const target of [mem, pool]) {
      target.map({ origAddr: ORIG, size: SEG, cpu: 0 }); // area 0
      target.map({ origAddr: ORIG, size: SEG, cpu: 2 }); // area 2
    }
    for (const cpu of [0, 1, 2, 3, 5]) expect(errorOf(() => mem.map({ origAddr: ORIG, size: 4096, cpu }))?.code).toBe('ERR_SWIOTLB_FULL');
    expect(pool.map({ origAddr: ORIG, size: 4096, cpu: 1 }).index).toBe(128); // the static search walks 0, 1, 2
    expect(mem.defaultPool.areaState(1)).toEqual({ index: 0, used: 0, start: 128, slots: 128 });
  });

  it('without can_grow keeps the dynamic order and never calls the allocator', () => {
    const mem = new SwiotlbMem({ base: BASE, size: '256KiB', dynamic: { canGrow: false } });
    fill(mem);
    expect(errorOf(() => mem.map({ origAddr: ORIG, size: 4096 }))).toMatchObject({ code: 'ERR_SWIOTLB_FULL', totalSlots: 128, usedSlots: 128 });
    expect(mem.stats().dynamic).toMatchObject({ enabled: true, canGrow: false, growth: 'idle', transientFailures: 0 });
  });

  it('refuses an allocation larger than a segment before growing or making a transient pool', () => {
    const { mem, memory } = dynamicMem();
    fill(mem);
    const before = mem.stats();
    expect(errorOf(() => mem.tryMap(ORIG, SEG + 1))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'size', reason: 'larger-than-segment' });
    expect(errorOf(() => mem.map({ origAddr: ORIG + 0x234, size: SEG, minAlignMask: 0xfff }))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', allocBytes: SEG + 0x234 });
    expect(mem.stats()).toEqual(before);
    expect(memory.calls).toEqual([]);
  });
});

describe('the pool-memory callbacks', () => {
  const ALIGNED = LO + 0x10_0000;
  it.each([
    ['returns a number', () => 5, 'bad-result'],
    ['returns a phys that is not a number', () => ({ phys: 'x' }), 'bad-result'],
    ['returns a negative phys', () => ({ phys: -4096 }), 'bad-result'],
    ['returns an unaligned phys', () => ({ phys: ALIGNED + 0x800 }), 'unaligned'],
    ['returns memory inside the default pool', () => ({ phys: BASE }), 'overlap'],
    ['throws', (): never => { throw new RangeError('no'); }, 'threw'],
  ] as [string, () => unknown, string][])('a callback that %s fails the map with ERR_SWIOTLB_POOL_MEMORY and changes nothing', (_what, alloc, reason) => {
    const frees: unknown[] = [];
    const mem = new SwiotlbMem({ base: BASE, size: '256KiB', dynamic: { growth: 'manual', allocPoolMemory: alloc as never, freePoolMemory: (...a) => frees.push(a) } });
    fill(mem);
    const before = state(mem);
    expect(errorOf(() => mem.map({ origAddr: ORIG, size: 4096 }))).toMatchObject({ code: 'ERR_SWIOTLB_POOL_MEMORY', reason });
    expect(state(mem)).toEqual(before);
    expect(frees).toEqual([]);
    expect(mem.stats().dynamic.lastError).toBe('ERR_SWIOTLB_POOL_MEMORY');
  });

  it('memory overlapping a pool from below is refused; memory just below it is fine', () => {
    for (const [phys, code] of [[BASE - 4096, 'ERR_SWIOTLB_POOL_MEMORY'], [BASE - 8192, undefined]] as const) {
      const mem = new SwiotlbMem({ base: BASE, size: '256KiB', dynamic: { growth: 'manual', allocPoolMemory: () => ({ phys }), freePoolMemory: () => {} } });
      fill(mem);
      const run = () => mem.map({ origAddr: ORIG + 0x10, size: 5000 }); // 3 slots, 6 KiB
      if (code) expect(errorOf(run)).toMatchObject({ code, reason: 'overlap', phys });
      else expect(run()).toMatchObject({ tlbAddr: phys, transient: true });
    }
  });

  it('a growth whose callback breaks its contract rejects flushGrowth and is counted', async () => {
    let calls = 0;
    const mem = new SwiotlbMem({ base: BASE, size: '256KiB', dynamic: { growth: 'manual', allocPoolMemory: (_b, r) => (r.transient ? undefined : ((calls++), { phys: BASE + 4096 })), freePoolMemory: () => {} } });
    fill(mem);
    mem.tryMap(ORIG, 4096);
    expect(await mem.flushGrowth().catch((e: unknown) => e)).toMatchObject({ code: 'ERR_SWIOTLB_POOL_MEMORY', reason: 'overlap' });
    expect([calls, mem.stats().dynamic.growthFailures, mem.stats().totalSlots]).toEqual([1, 1, 128]);
  });

  it('the result is read once', () => {
    let reads = 0;
    const mem = new SwiotlbMem({
      base: BASE, size: '256KiB',
      dynamic: { growth: 'manual', allocPoolMemory: () => ({ get phys() { reads++; return reads === 1 ? LO : 0x1001; } }), freePoolMemory: () => {} },
    });
    fill(mem);
    expect(mem.map({ origAddr: ORIG, size: 4096 }).tlbAddr).toBe(LO);
    expect(reads).toBe(1);
  });

  it('cannot call back into the swiotlb: the call is refused with ERR_INVALID_STATE', () => {
    let inner: unknown;
    const mem: SwiotlbMem = new SwiotlbMem({
      base: BASE, size: '256KiB',
      dynamic: {
        growth: 'manual',
        allocPoolMemory: () => {
          inner = errorOf(() => mem.map({ origAddr: ORIG, size: 16 }));
          return undefined;
        },
        freePoolMemory: () => {},
      },
    });
    fill(mem);
    expect(mem.tryMap(ORIG, 4096)).toBe(-1);
    expect(inner).toMatchObject({ code: 'ERR_INVALID_STATE', state: 'in-callback' });
    expect(mem.stats().usedSlots).toBe(128);
  });

  it('a free that throws at unmap leaves the transient mapping live; the next unmap frees it', () => {
    let failFree = true;
    const memory = new FakePoolMemory({ lo: LO, hi: LO + 2 ** 20 });
    const mem = new SwiotlbMem({
      base: BASE, size: '256KiB',
      dynamic: { growth: 'manual', allocPoolMemory: memory.alloc, freePoolMemory: (p, b, r) => { if (failFree) throw new Error('busy'); memory.free(p, b, r); } },
    });
    fill(mem);
    const t = mem.map({ origAddr: ORIG, size: 4096 });
    const before = state(mem);
    expect(errorOf(() => mem.unmap(t.tlbAddr, 4096))).toMatchObject({ code: 'ERR_SWIOTLB_POOL_MEMORY', reason: 'threw' });
    expect(state(mem)).toEqual(before);
    failFree = false;
    mem.unmap(t.tlbAddr, 4096);
    expect([memory.outstanding, mem.stats().transientSlots]).toEqual([0, 0]);
  });
});

describe('close()', () => {
  it('is refused while mappings are live, then gives back every added pool', async () => {
    const { mem, memory } = dynamicMem();
    const maps = fill(mem);
    const t = mem.map({ origAddr: ORIG, size: 4096 });
    await mem.flushGrowth();
    const before = state(mem);
    expect(await mem.close().catch((e: unknown) => e)).toMatchObject({ code: 'ERR_INVALID_STATE', state: 'busy', mappings: 65 });
    expect(state(mem)).toEqual(before);
    for (const addr of maps) mem.unmap(addr, 4096);
    mem.unmap(t.tlbAddr, 4096);
    expect(memory.outstanding).toBe(SEG); // the added pool
    await mem.close();
    expect([memory.outstanding, mem.state, mem.stats().totalSlots]).toEqual([0, 'closed', 128]);
    await mem.close(); // a second close resolves
    expect(await mem.flushGrowth()).toBeUndefined();
    for (const call of [() => mem.map({ origAddr: ORIG, size: 16 }), () => mem.tryMap(ORIG, 16), () => mem.unmap(BASE, 16)]) {
      expect(errorOf(call)).toMatchObject({ code: 'ERR_INVALID_STATE', state: 'closed' });
    }
    expect(await mem.mapWait({ origAddr: ORIG, size: 16 }).catch((e: unknown) => e)).toMatchObject({ code: 'ERR_INVALID_STATE' });
  });

  it('cancels a scheduled growth and rejects the callers still waiting', async () => {
    const { mem, memory } = dynamicMem({}, { transientFailRate: 1 });
    // 3 slots cannot fit a 4 KiB segment boundary anywhere: the waiter waits for a growth that never comes.
    const waiting = mem.mapWait({ origAddr: ORIG, size: 3 * SLOT, boundaryMask: 0xfff });
    await Promise.resolve();
    expect(mem.stats()).toMatchObject({ waiters: 1, dynamic: { growth: 'scheduled' } });
    await mem.close();
    expect(await waiting.catch((e: unknown) => e)).toMatchObject({ code: 'ERR_INVALID_STATE', state: 'closed' });
    expect(memory.calls.every((c) => c.transient)).toBe(true); // the growth never ran
    expect(mem.stats()).toMatchObject({ waiters: 0, dynamic: { growth: 'idle', poolsAdded: 0 } });
  });
});
