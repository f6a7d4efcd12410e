// Seeded random map/unmap workloads against a plain reference model of the kernel search.
// Every placement, every full pool, every counter and every free run must agree.
import { describe, expect, it } from 'vitest';
import { SwiotlbPool, maxMappingSize } from '../dist/src/dma/index.js';
import { testRng, type Rng } from './support/random.js';
import { SwiotlbReference, type RefRequest } from './support/swiotlb-reference.js';
import { BASE, errorOf } from './support/swiotlb-helpers.js';

const rng = testRng('swiotlb-stress');
const SEGMENT = 256 * 1024;

function allocBytes(r: RefRequest): bigint {
  const offset = BigInt(r.origAddr) & BigInt(r.minAlignMask) & (BigInt(r.allocAlignMask) | 2047n);
  const granule = BigInt(r.allocAlignMask) + 1n;
  return (BigInt(r.size) + offset + granule - 1n) / granule * granule;
}

function randomRequest(rng: Rng): RefRequest {
  const minAlignMask = rng.pick([0, 0, 0, 0x7ff, 0xfff, 0xfff, 0x3fff]);
  const allocAlignMask = rng.pick([0, 0, 0, 0xfff, 0x1fff]);
  const max = maxMappingSize(minAlignMask);
  const roll = rng.next();
  const size = roll < 0.7 ? rng.int(1, 8192) : roll < 0.95 ? rng.int(1, 65536) : rng.int(1, max);
  const origAddr = rng.next() < 0.05 ? 0 : rng.int(0, 2 ** 40);
  return { origAddr, size, minAlignMask, allocAlignMask, cpu: rng.int(0, 7) };
}

function checkAgainst(pool: SwiotlbPool, ref: SwiotlbReference, full: boolean): void {
  const s = pool.stats();
  expect([s.usedSlots, s.highWaterSlots, s.mappings]).toEqual([ref.usedSlots, ref.hiwater, ref.live.size]);
  let sum = 0;
  for (const m of ref.live.values()) sum += m.nslots;
  expect(s.usedSlots).toBe(sum);
  for (let a = 0; a < pool.areas; a++) {
    const st = pool.areaState(a);
    expect([st.index, st.used]).toEqual([ref.areaIndex[a], ref.areaUsed[a]]);
  }
  if (full) for (let i = 0; i < pool.totalSlots; i++) if (pool.freeRunAt(i) !== ref.freeRun(i)) expect({ slot: i, run: pool.freeRunAt(i) }).toEqual({ slot: i, run: ref.freeRun(i) });
}

describe.each([
  ['1MiB', 1],
  ['1MiB', 4],
  ['768KiB', 4], // 3 areas
  ['1280KiB', 4], // areas straddle segments
  ['2MiB', 2],
] as const)('random workload on %s with %d cpus', (size, cpus) => {
  it('places, fails and frees exactly as the reference model', () => {
    const pool = new SwiotlbPool({ base: BASE, size, cpus });
    const ref = new SwiotlbReference(BASE, pool.totalSlots, pool.areas);
    let maps = 0;
    let fulls = 0;
    for (let step = 0; step < 3000; step++) {
      const roll = rng.next();
      if (ref.live.size === 0 || roll < 0.55) {
        const req = randomRequest(rng);
        if (allocBytes(req) > BigInt(SEGMENT)) {
          const before = pool.stats();
          expect(errorOf(() => pool.tryMap(req.origAddr, req.size, req.minAlignMask, req.allocAlignMask, req.cpu))?.code).toBe('ERR_INVALID_ARGUMENT');
          expect(pool.stats()).toEqual(before);
          continue;
        }
        const tlbAddr = pool.tryMap(req.origAddr, req.size, req.minAlignMask, req.allocAlignMask, req.cpu);
        const expected = ref.map(req);
        if (expected === undefined) {
          expect({ step, tlbAddr }).toEqual({ step, tlbAddr: -1 });
          fulls++;
        } else {
          expect({ step, tlbAddr }).toEqual({ step, tlbAddr: expected.tlbAddr });
          const info = pool.mappingAt(tlbAddr)!;
          expect([info.index, info.nslots, info.padSlots, info.offset]).toEqual([expected.index, expected.nslots, expected.padSlots, expected.offset]);
          // (origAddr 0 skips the check in the kernel, so only the in-slot bits are kept then)
          if (req.origAddr !== 0) expect(tlbAddr & req.minAlignMask).toBe(req.origAddr & req.minAlignMask);
          maps++;
        }
      } else if (roll < 0.6) {
        // A bogus unmap: refused, nothing changes.
        const addr = BASE + rng.int(0, pool.size - 1);
        const live = ref.live.get(addr);
        const size = live ? live.size + 1 : rng.int(1, 4096);
        const before = pool.stats();
        expect(errorOf(() => pool.unmap(addr, size, live?.minAlignMask ?? 0))?.code).toBe('ERR_INVALID_ARGUMENT');
        expect(pool.stats()).toEqual(before);
      } else {
        const keys = [...ref.live.keys()];
        const m = ref.unmap(keys[rng.int(0, keys.length - 1)]!);
        pool.unmap(m.tlbAddr, m.size, m.minAlignMask);
      }
      checkAgainst(pool, ref, step % 50 === 0);
    }
    expect(maps).toBeGreaterThan(100);
    expect(fulls).toBeGreaterThan(0); // the workload did fill the pool
    expect(pool.stats().fullEvents).toBe(fulls);
    const keys = [...ref.live.keys()];
    while (keys.length > 0) {
      const [key] = keys.splice(rng.int(0, keys.length - 1), 1);
      const m = ref.unmap(key!);
      pool.unmap(m.tlbAddr, m.size, m.minAlignMask);
    }
    checkAgainst(pool, ref, true);
    expect(pool.stats()).toMatchObject({ usedSlots: 0, mappings: 0 });
    for (let i = 0; i < pool.totalSlots; i++) if (pool.freeRunAt(i) !== 128 - (i % 128)) expect([i, pool.freeRunAt(i)]).toEqual([i, 128 - (i % 128)]);
  });
});
