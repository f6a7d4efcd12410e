// Dynamic swiotlb pools filling and draining: seeded random map/unmap/growth sequences on a
// SwiotlbMem against a plain reference of the kernel's io_tlb_mem. Every placement (pool and
// slot), every failure, every counter, every area and free run must agree; every address must be
// found in the pool that holds it; no transient slot or pool memory may be left behind.
import { describe, expect, it } from 'vitest';
import { SwiotlbMem, SwiotlbPool, maxMappingSize } from '../dist/src/dma/index.js';
import { testRng, type Rng } from './support/random.js';
import { FakePoolMemory } from './support/swiotlb-memory.js';
import { SwiotlbMemReference } from './support/swiotlb-mem-reference.js';
import { SwiotlbReference, type RefRequest } from './support/swiotlb-reference.js';
import { BASE, errorOf } from './support/swiotlb-helpers.js';

const rng = testRng('swiotlb-dynamic-stress');
const SEGMENT = 256 * 1024;
const ARENA = { lo: 0x8000_0000, hi: 0x8000_0000 + 24 * 2 ** 20 };

function randomRequest(r: Rng): RefRequest {
  const minAlignMask = r.pick([0, 0, 0, 0x7ff, 0xfff, 0xfff, 0x3fff]);
  const allocAlignMask = r.pick([0, 0, 0, 0xfff, 0x1fff]);
  const roll = r.next();
  // Mostly small; some above swiotlb_max_mapping_size() up to a whole segment.
  const size = roll < 0.7 ? r.int(1, 8192) : roll < 0.93 ? r.int(1, 65536) : roll < 0.97 ? r.int(1, maxMappingSize(minAlignMask) || 1) : r.int(maxMappingSize(minAlignMask) || 1, SEGMENT);
  const origAddr = r.next() < 0.05 ? 0 : r.int(0, 2 ** 40);
  return { origAddr, size, minAlignMask, allocAlignMask, cpu: r.int(0, 7) };
}

interface Shape {
  readonly size: string;
  readonly cpus: number;
  readonly canGrow: boolean;
  readonly transientFailRate: number;
  readonly growthFailRate: number;
  readonly maxPageOrder?: number;
}

function compare(mem: SwiotlbMem, ref: SwiotlbMemReference, step: number, deep: boolean): void {
  const s = mem.stats();
  expect({ step, used: s.usedSlots, hiwater: s.highWaterSlots, total: s.totalSlots, transient: s.transientSlots, mappings: s.mappings, growth: s.dynamic.growth })
    .toEqual({ step, used: ref.used, hiwater: ref.hiwater, total: ref.nslabs, transient: ref.transientSlots, mappings: ref.live.size, growth: ref.growPending ? 'scheduled' : 'idle' });
  const refPools = ref.allPools();
  expect(s.pools.map((p) => [p.kind, p.base, p.totalSlots, p.areas, p.usedSlots])).toEqual(refPools.map((p) => [p.kind, p.ref.base, p.ref.totalSlots, p.ref.areas, p.ref.usedSlots]));
  let sum = 0;
  for (const { m, pool } of ref.live.values()) {
    sum += m.nslots;
    // swiotlb_find_pool(): the address tells which pool holds the mapping.
    const view = mem.findPool(m.tlbAddr);
    if (view?.base !== pool.ref.base) expect({ step, tlbAddr: m.tlbAddr, found: view?.base }).toEqual({ step, tlbAddr: m.tlbAddr, found: pool.ref.base });
  }
  expect(s.usedSlots).toBe(sum);
  if (!deep) return;
  for (const p of refPools) {
    const view = mem.findPool(p.ref.base)!;
    for (let a = 0; a < p.ref.areas; a++) {
      const st = view.areaState(a);
      expect([step, p.ref.base, a, st.index, st.used]).toEqual([step, p.ref.base, a, p.ref.areaIndex[a], p.ref.areaUsed[a]]);
    }
    for (let i = 0; i < p.ref.totalSlots; i++) if (view.freeRunAt(i) !== p.ref.freeRun(i)) expect({ step, pool: p.ref.base, slot: i, run: view.freeRunAt(i) }).toEqual({ step, pool: p.ref.base, slot: i, run: p.ref.freeRun(i) });
  }
}

describe.each([
  { size: '256KiB', cpus: 1, canGrow: true, transientFailRate: 0.2, growthFailRate: 0.3 },
  { size: '768KiB', cpus: 4, canGrow: true, transientFailRate: 0.1, growthFailRate: 0.5 }, // 3 areas: the dynamic order skips one
  { size: '1280KiB', cpus: 4, canGrow: true, transientFailRate: 0.1, growthFailRate: 0.2, maxPageOrder: 8 }, // areas straddle segments; added pools capped at 512 slots
  { size: '512KiB', cpus: 2, canGrow: false, transientFailRate: 0, growthFailRate: 0 },
] as Shape[])('dynamic swiotlb, default pool $size, $cpus cpus, canGrow $canGrow', (shape) => {
  it('places, fails, grows and frees exactly as the reference; nothing leaks', async () => {
    const seed = rng.int(1, 2 ** 31);
    const memOptions = { ...ARENA, transientFailRate: shape.transientFailRate, growthFailRate: shape.growthFailRate, seed };
    const memory = new FakePoolMemory(memOptions);
    const refMemory = new FakePoolMemory(memOptions);
    const mem = new SwiotlbMem({
      base: BASE, size: shape.size, cpus: shape.cpus,
      dynamic: { canGrow: shape.canGrow, growth: 'manual', allocPoolMemory: memory.alloc, freePoolMemory: memory.free, ...(shape.maxPageOrder ? { maxPageOrder: shape.maxPageOrder } : {}) },
    });
    const ref = new SwiotlbMemReference({
      base: BASE, slots: mem.defaultPool.totalSlots, defaultAreas: mem.defaultAreas, dynamic: true, canGrow: shape.canGrow, memory: refMemory, ...(shape.maxPageOrder ? { maxPageOrder: shape.maxPageOrder } : {}),
    });
    let maps = 0;
    let fulls = 0;
    let transientMaps = 0;
    for (let step = 0; step < 2500; step++) {
      const roll = rng.next();
      if (ref.live.size === 0 || roll < 0.58) {
        const req = randomRequest(rng);
        const physLimit = rng.next() < 0.1 ? ARENA.lo + rng.int(0, 24) * 2 ** 20 - 1 : Number.MAX_SAFE_INTEGER;
        if (SwiotlbReference.totalOf(req) > BigInt(SEGMENT)) {
          const before = mem.stats();
          expect(errorOf(() => mem.tryMap(req.origAddr, req.size, req.minAlignMask, req.allocAlignMask, req.cpu, -1, physLimit))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'larger-than-segment' });
          expect(mem.stats()).toEqual(before); // no growth scheduled, no transient pool, nothing counted
          continue;
        }
        const tlbAddr = mem.tryMap(req.origAddr, req.size, req.minAlignMask, req.allocAlignMask, req.cpu, -1, physLimit);
        const expected = ref.map(req, physLimit);
        if (expected === undefined) {
          expect({ step, tlbAddr }).toEqual({ step, tlbAddr: -1 });
          fulls++;
        } else {
          expect({ step, tlbAddr, pool: mem.findPool(tlbAddr)?.kind }).toEqual({ step, tlbAddr: expected.m.tlbAddr, pool: expected.pool.kind });
          const info = mem.mappingAt(tlbAddr)!;
          expect([info.index, info.nslots, info.padSlots, info.offset, info.poolBase]).toEqual([expected.m.index, expected.m.nslots, expected.m.padSlots, expected.m.offset, expected.pool.ref.base]);
          if (expected.pool.kind === 'transient') {
            transientMaps++;
            expect(tlbAddr + req.size - 1).toBeLessThanOrEqual(physLimit);
          }
          maps++;
        }
      } else if (roll < 0.62) {
        const before = mem.stats();
        const addr = rng.pick([BASE, ...ref.allPools().map((p) => p.ref.base)]) + rng.int(0, 64 * 1024);
        const live = ref.live.get(addr);
        expect(errorOf(() => mem.unmap(addr, live ? live.m.size + 1 : rng.int(1, 4096), live?.m.minAlignMask ?? 0))?.code).toBe('ERR_INVALID_ARGUMENT');
        expect(mem.stats()).toEqual(before);
      } else if (roll < 0.67) {
        const added = await mem.flushGrowth();
        const expected = ref.grow();
        expect({ step, base: added?.base, slots: added?.totalSlots, areas: added?.areas }).toEqual({ step, base: expected?.ref.base, slots: expected?.ref.totalSlots, areas: expected?.ref.areas });
      } else {
        const keys = [...ref.live.keys()];
        const { m } = ref.unmap(keys[rng.int(0, keys.length - 1)]!);
        mem.unmap(m.tlbAddr, m.size, m.minAlignMask);
      }
      compare(mem, ref, step, step % 250 === 0);
    }
    expect(maps).toBeGreaterThan(200);
    expect(fulls + transientMaps).toBeGreaterThan(0); // the workload did overflow the static pool
    if (shape.canGrow) expect(transientMaps).toBeGreaterThan(0);
    else expect(memory.calls).toEqual([]);
    expect(mem.stats().fullEvents).toBe(fulls);
    // Drain: every transient slot and pool goes with its mapping.
    for (const key of [...ref.live.keys()]) {
      const { m } = ref.unmap(key);
      mem.unmap(m.tlbAddr, m.size, m.minAlignMask);
    }
    compare(mem, ref, -1, true);
    expect(mem.stats()).toMatchObject({ usedSlots: 0, transientSlots: 0, mappings: 0, dynamic: { transientPools: 0 } });
    expect(memory.calls).toEqual(refMemory.calls);
    const added = mem.stats().pools.filter((p) => p.kind === 'dynamic');
    expect(memory.outstanding).toBe(added.reduce((n, p) => n + p.totalSlots * 2048, 0));
    await mem.close();
    expect(memory.outstanding).toBe(0);
    expect(memory.live.size).toBe(0);
  });
});

describe('the dynamic search with power-of-two areas places as the static one', () => {
  // With nareas a power of two, (cpu + i) & (nareas - 1) for i < nareas visits the areas in the
  // static round-robin order; a dynamic mem that cannot grow must then agree map for map,
  // failures included.
  it.each([1, 2, 4, 8])('%d cpus: the same slots and failures as SwiotlbPool', (cpus) => {
    const mem = new SwiotlbMem({ base: BASE, size: '1MiB', cpus, dynamic: { canGrow: false } });
    const pool = new SwiotlbPool({ base: BASE, size: '1MiB', cpus });
    expect(mem.defaultPool.areas).toBe(pool.areas);
    const live: { tlbAddr: number; size: number; minAlignMask: number }[] = [];
    let fulls = 0;
    for (let step = 0; step < 2000; step++) {
      if (live.length === 0 || rng.next() < 0.55) {
        const req = randomRequest(rng);
        if (SwiotlbReference.totalOf(req) > BigInt(SEGMENT)) continue;
        const expected = pool.tryMap(req.origAddr, req.size, req.minAlignMask, req.allocAlignMask, req.cpu);
        expect({ step, tlbAddr: mem.tryMap(req.origAddr, req.size, req.minAlignMask, req.allocAlignMask, req.cpu) }).toEqual({ step, tlbAddr: expected });
        if (expected < 0) fulls++;
        else live.push({ tlbAddr: expected, size: req.size, minAlignMask: req.minAlignMask });
      } else {
        const [m] = live.splice(rng.int(0, live.length - 1), 1);
        pool.unmap(m!.tlbAddr, m!.size, m!.minAlignMask);
        mem.unmap(m!.tlbAddr, m!.size, m!.minAlignMask);
      }
    }
    expect(fulls).toBeGreaterThan(0);
    for (let a = 0; a < pool.areas; a++) expect(mem.defaultPool.areaState(a)).toEqual(pool.areaState(a));
    expect(mem.stats()).toMatchObject({ usedSlots: pool.stats().usedSlots, highWaterSlots: pool.stats().highWaterSlots, fullEvents: pool.stats().fullEvents });
  });
});
