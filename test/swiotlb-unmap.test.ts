// swiotlb release, free-run merging, lookups, the full error and debugfs-like statistics.
import { describe, expect, it, vi } from 'vitest';
import { SwiotlbMem, SwiotlbPool } from '../dist/src/dma/index.js';
import { BASE, SLOT, errorOf, makePool, snapshot } from './support/swiotlb-helpers.js';

const ORIG = 0x2_0000_0000;

describe('free runs (the kernel per-slot list)', () => {
  it('start as "slots to the end of the segment"', () => {
    const p = makePool();
    expect([0, 1, 127, 128, 200, 511].map((i) => p.freeRunAt(i))).toEqual([128, 127, 1, 128, 56, 1]);
  });

  it('an allocation cuts the run before it, inside its segment only', () => {
    const p = makePool();
    const first = p.map({ origAddr: ORIG, size: 10 * SLOT }); // 0..9
    p.unmap(first.tlbAddr, 10 * SLOT);
    const m = p.map({ origAddr: ORIG, size: SLOT }); // next-fit: slot 10
    expect(m.index).toBe(10);
    expect([0, 9, 10, 11].map((i) => p.freeRunAt(i))).toEqual([10, 1, 0, 117]);
  });

  it('merge with neighbours on release, never across a segment boundary', () => {
    const p = makePool();
    const maps = Array.from({ length: 130 }, () => p.map({ origAddr: ORIG, size: SLOT })); // slots 0..129
    const free = (slot: number) => p.unmap(maps[slot]!.tlbAddr, SLOT);
    free(128);
    expect(p.freeRunAt(128)).toBe(1); // 129 still used
    free(127);
    expect([p.freeRunAt(127), p.freeRunAt(128)]).toEqual([1, 1]); // 127 ends segment 0: no merge with 128
    free(126);
    expect([p.freeRunAt(126), p.freeRunAt(127)]).toEqual([2, 1]);
    free(129);
    expect([p.freeRunAt(126), p.freeRunAt(127), p.freeRunAt(128), p.freeRunAt(129)]).toEqual([2, 1, 128, 127]);
    free(124);
    expect(p.freeRunAt(124)).toBe(1); // 125 still used
    free(125);
    expect([124, 125, 126, 127].map((i) => p.freeRunAt(i))).toEqual([4, 3, 2, 1]);
  });

  it('are all whole again when everything is unmapped', () => {
    const p = makePool({ cpus: 2 });
    const maps = [3000, 4096, 70000, 2048, 100].map((size, i) => {
      const minAlignMask = i % 2 ? 0xfff : 0;
      return { size, minAlignMask, m: p.map({ origAddr: ORIG + i * 0x1234, size, minAlignMask, cpu: i }) };
    });
    expect(p.stats().usedSlots).toBeGreaterThan(0);
    for (const { size, minAlignMask, m } of maps.reverse()) p.unmap(m.tlbAddr, size, minAlignMask);
    for (let i = 0; i < p.totalSlots; i++) expect(p.freeRunAt(i)).toBe(128 - (i % 128));
    expect(p.stats()).toMatchObject({ usedSlots: 0, mappings: 0 });
  });
});

describe('unmap checks (beyond the kernel)', () => {
  function setup() {
    const p = makePool();
    p.map({ origAddr: ORIG, size: SLOT }); // slot 0
    const m = p.map({ origAddr: ORIG + 0x1a34, size: 4096, minAlignMask: 0xfff, allocAlignMask: 0xfff }); // padded
    return { p, m };
  }

  it.each([
    ['below the pool', () => [BASE - 1, 4096, 0xfff], 'outside-pool'],
    ['past the pool', () => [BASE + 2 ** 20, 4096, 0xfff], 'outside-pool'],
    ['not a number', () => [Number.NaN, 4096, 0xfff], 'outside-pool'],
    ['a free slot', () => [BASE + 100 * SLOT, 4096, 0xfff], 'not-mapped'],
    ['inside the mapping', (m: { tlbAddr: number }) => [m.tlbAddr + 1, 4096, 0xfff], 'not-mapping-start'],
    ['its padding slot', (m: { tlbAddr: number }) => [m.tlbAddr - SLOT, 4096, 0xfff], 'not-mapping-start'],
    ['another size', (m: { tlbAddr: number }) => [m.tlbAddr, 4095, 0xfff], 'size-mismatch'],
    ['another min_align_mask', (m: { tlbAddr: number }) => [m.tlbAddr, 4096, 0x7ff], 'min-align-mask-mismatch'],
  ] as const)('refuses %s and changes nothing', (_what, args, reason) => {
    const { p, m } = setup();
    const before = snapshot(p);
    const [addr, size, mask] = args(m) as [number, number, number];
    expect(errorOf(() => p.unmap(addr, size, mask))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'tlbAddr', reason });
    expect(snapshot(p)).toEqual(before);
    p.unmap(m.tlbAddr, 4096, 0xfff); // still unmappable afterwards
  });

  it('refuses a double unmap', () => {
    const { p, m } = setup();
    p.unmap(m.tlbAddr, 4096, 0xfff);
    const before = snapshot(p);
    expect(errorOf(() => p.unmap(m.tlbAddr, 4096, 0xfff))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'not-mapped' });
    expect(snapshot(p)).toEqual(before);
  });

  it.each([
    ['null request', null],
    ['negative origAddr', { origAddr: -1, size: 10 }],
    ['size 0', { origAddr: ORIG, size: 0 }],
    ['fractional size', { origAddr: ORIG, size: 1.5 }],
    ['negative minAlignMask', { origAddr: ORIG, size: 10, minAlignMask: -1 }],
    ['allocAlignMask not 2^k - 1', { origAddr: ORIG, size: 10, allocAlignMask: 0x1000 }],
    ['negative cpu', { origAddr: ORIG, size: 10, cpu: -1 }],
    ['boundaryMask not 2^k - 1', { origAddr: ORIG, size: 10, boundaryMask: 0x10000 }],
  ])('map refuses %s and changes nothing', (_what, request) => {
    const { p } = setup();
    const before = snapshot(p);
    expect(errorOf(() => p.map(request as never))?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(snapshot(p)).toEqual(before);
  });
});

describe('lookups', () => {
  it('contains, slotIndexOf, mappingAt and mappingContaining', () => {
    const p = makePool();
    p.map({ origAddr: ORIG, size: SLOT });
    const m = p.map({ origAddr: ORIG + 0x1a34, size: 4096, minAlignMask: 0xfff, allocAlignMask: 0xfff });
    expect([p.contains(BASE, 2 ** 20), p.contains(BASE, 2 ** 20 + 1), p.contains(BASE - 1, 1), p.contains(m.tlbAddr, 4096)]).toEqual([true, false, false, true]);
    expect([p.slotIndexOf(BASE), p.slotIndexOf(BASE + 2047), p.slotIndexOf(BASE + 2048), p.slotIndexOf(BASE - 1), p.slotIndexOf(BASE + 2 ** 20)]).toEqual([0, 0, 1, -1, -1]);
    expect(p.mappingAt(m.tlbAddr)).toEqual({ ...m, origAddr: ORIG + 0x1a34, size: 4096, minAlignMask: 0xfff, allocAlignMask: 0xfff });
    expect(p.mappingAt(m.tlbAddr + 1)).toBeUndefined();
    expect(p.mappingContaining(BASE + m.index * SLOT)?.tlbAddr).toBe(m.tlbAddr); // the padding slot
    expect(p.mappingContaining(m.tlbAddr + 4095)?.tlbAddr).toBe(m.tlbAddr);
    expect(p.mappingContaining(BASE + 300 * SLOT)).toBeUndefined();
    p.unmap(m.tlbAddr, 4096, 0xfff);
    expect(p.mappingAt(m.tlbAddr)).toBeUndefined();
  });
});

describe('full pool', () => {
  it('fails with the kernel message and fields, counts the event, changes nothing', () => {
    const onFull = vi.fn();
    const p = new SwiotlbPool({ base: BASE, size: '256KiB', onFull });
    p.map({ origAddr: ORIG, size: 100 * SLOT });
    p.map({ origAddr: ORIG, size: 27 * SLOT });
    const before = snapshot(p);
    const err = errorOf(() => p.map({ origAddr: ORIG, size: 2 * SLOT }));
    expect(err).toMatchObject({ code: 'ERR_SWIOTLB_FULL', name: 'SwiotlbFullError', size: 4096, mappingSize: 4096, totalSlots: 128, usedSlots: 127 });
    expect(err.message).toBe('swiotlb buffer is full (sz: 4096 bytes), total 128 (slots), used 127 (slots)');
    expect(onFull).toHaveBeenCalledWith({ size: 4096, mappingSize: 4096, totalSlots: 128, usedSlots: 127, message: err.message });
    expect(snapshot(p)).toEqual(before);
    expect(p.tryMap(ORIG, 2 * SLOT)).toBe(-1);
    expect(p.stats().fullEvents).toBe(2);
    expect(p.tryMap(ORIG, SLOT)).toBe(BASE + 127 * SLOT); // the last slot still fits
  });

  it('reports the kernel sz: mapping size plus offset, rounded up to the allocation alignment', () => {
    const p = new SwiotlbPool({ base: BASE, size: '256KiB' });
    p.map({ origAddr: ORIG, size: 128 * SLOT });
    expect(errorOf(() => p.map({ origAddr: ORIG + 0x234, size: 1000, minAlignMask: 0xfff })).size).toBe(1000 + 0x234);
    expect(errorOf(() => p.map({ origAddr: ORIG + 0xa34, size: 100, minAlignMask: 0xfff, allocAlignMask: 0xfff })).message)
      .toBe('swiotlb buffer is full (sz: 4096 bytes), total 128 (slots), used 128 (slots)');
  });
});

describe('statistics', () => {
  it('track used slots and the high-water mark; reset writes 0 as debugfs does', () => {
    const p = makePool();
    const a = p.map({ origAddr: ORIG, size: 3 * SLOT - 100 }); // 3 slots, page aligned at 0
    const b = p.map({ origAddr: ORIG, size: 2 * SLOT });
    expect(p.stats()).toEqual({ totalSlots: 512, usedSlots: 5, highWaterSlots: 5, transientSlots: 0, areas: 1, areaSlots: 512, fullEvents: 0, mappings: 2, waiters: 0 });
    p.unmap(a.tlbAddr, 3 * SLOT - 100);
    expect(p.stats()).toMatchObject({ usedSlots: 2, highWaterSlots: 5, mappings: 1 });
    p.resetHighWater();
    expect(p.stats()).toMatchObject({ usedSlots: 2, highWaterSlots: 0 }); // 0 until the next map
    p.map({ origAddr: ORIG, size: SLOT });
    expect(p.stats()).toMatchObject({ usedSlots: 3, highWaterSlots: 3 });
    p.unmap(b.tlbAddr, 2 * SLOT);
    expect(p.stats()).toMatchObject({ usedSlots: 1, highWaterSlots: 3, mappings: 1 });
  });

  it('count used slots per area', () => {
    const p = makePool({ cpus: 4 });
    p.map({ origAddr: ORIG, size: 5000, cpu: 1 });
    p.map({ origAddr: ORIG, size: 100, cpu: 3 });
    expect([0, 1, 2, 3].map((a) => p.areaState(a).used)).toEqual([0, 3, 0, 1]);
    expect(p.areaState(1)).toEqual({ index: 3, used: 3, start: 128, slots: 128 });
    expect(errorOf(() => p.areaState(4))?.code).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('unmap arguments that are not numbers', () => {
  // Each one, in each position, is refused with a coded error before anything is compared or
  // coerced: an object's valueOf() never runs, a Symbol or a BigInt raises no TypeError, and the
  // mapping stays live.
  const trap = { valueOf: vi.fn(() => 4096), toString: vi.fn(() => '4096') };
  const odd: unknown[] = [Symbol('tlbAddr'), 4096n, '4096', trap, NaN, -1, 1.5, null, true, [4096]];

  it.each([
    ['SwiotlbPool', () => makePool()],
    ['SwiotlbMem', () => new SwiotlbMem({ base: BASE, size: '1MiB' })],
  ] as const)('%s.unmap(tlbAddr, size, minAlignMask)', (_, make) => {
    const pool = make();
    const m = pool.map({ origAddr: ORIG, size: 4096 });
    for (const bad of odd) {
      for (const args of [[bad, 4096, 0], [m.tlbAddr, bad, 0], [m.tlbAddr, 4096, bad]] as const) {
        const error = errorOf(() => pool.unmap(...(args as [number, number, number])));
        expect(error, String(typeof bad)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
        expect(pool.stats().mappings).toBe(1);
      }
    }
    expect(trap.valueOf).not.toHaveBeenCalled();
    expect(trap.toString).not.toHaveBeenCalled();
    pool.unmap(m.tlbAddr, 4096);
    expect(pool.stats().mappings).toBe(0);
  });

  it('SwiotlbMem lookups find nothing at a non-number', () => {
    const mem = new SwiotlbMem({ base: BASE, size: '1MiB' });
    for (const bad of odd) {
      expect(mem.findPool(bad as number)).toBeUndefined();
      expect(mem.isSwiotlbBuffer(bad as number)).toBe(false);
      expect(mem.contains(bad as number, 1)).toBe(false);
    }
    expect(trap.valueOf).not.toHaveBeenCalled();
  });
});
