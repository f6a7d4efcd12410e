// swiotlb placement: where the kernel (v6.10+ swiotlb_search_pool_area / swiotlb_find_slots)
// puts each mapping, slot for slot. Expected slots are worked out by hand from the kernel source.
import { describe, expect, it } from 'vitest';
import { IO_TLB_SEGSIZE, IO_TLB_SIZE, PAGE_SIZE, SwiotlbPool, maxMappingSize } from '../dist/src/dma/swiotlb.js';
import { BASE, SLOT, errorOf, makePool, slotOf } from './support/swiotlb-helpers.js';

const ORIG = 0x2_0000_0000; // page-aligned original buffer above 4 GiB

describe('SwiotlbPool construction', () => {
  it('defaults to 64 MiB in one area', () => {
    const p = new SwiotlbPool({ base: BASE });
    expect([p.totalSlots, p.areas, p.areaSlots, p.size, p.end]).toEqual([32768, 1, 32768, 64 * 2 ** 20, BASE + 64 * 2 ** 20]);
    expect([IO_TLB_SIZE, IO_TLB_SEGSIZE, PAGE_SIZE]).toEqual([2048, 128, 4096]);
  });

  it.each([
    // [size, cpus, areas option, expected areas, expected area slots]
    ['1MiB', 1, undefined, 1, 512],
    ['1MiB', 2, undefined, 2, 256],
    ['1MiB', 3, undefined, 4, 128], // rounded up to a power of two
    ['1MiB', 8, undefined, 4, 128], // limit_nareas: at least one segment per area
    ['768KiB', 4, undefined, 3, 128], // limited to 3: not a power of two, as the kernel leaves it
    ['64MiB', 1, 5, 8, 4096], // swiotlb=,5 → 8 areas; `areas` overrides cpus
    ['1280KiB', 4, undefined, 4, 160], // 5 segments in 4 areas: areas straddle segments
  ] as const)('size %s with cpus %d, areas %s → %d areas of %d slots', (size, cpus, areas, nareas, areaSlots) => {
    const p = new SwiotlbPool({ base: BASE, size, cpus, ...(areas === undefined ? {} : { areas }) });
    expect([p.areas, p.areaSlots]).toEqual([nareas, areaSlots]);
  });

  it.each([
    [{ base: 0x1800 }, 'ERR_INVALID_ARGUMENT', 'base'],
    [{ base: -4096 }, 'ERR_INVALID_ARGUMENT', 'base'],
    [{ base: BASE, size: '100KiB' }, 'ERR_INVALID_ARGUMENT', 'size'],
    [{ base: BASE, size: 0 }, 'ERR_INVALID_ARGUMENT', 'size'],
    [{ base: BASE, size: '8GiB' }, 'ERR_INVALID_ARGUMENT', 'size'],
    [{ base: BASE, size: '64MB' }, 'ERR_INVALID_SIZE', undefined],
    [{ base: BASE, cpus: 0 }, 'ERR_INVALID_ARGUMENT', 'cpus'],
    [{ base: BASE, areas: 1.5 }, 'ERR_INVALID_ARGUMENT', 'areas'],
    [{ base: BASE, onFull: 'warn' }, 'ERR_INVALID_ARGUMENT', 'onFull'],
  ])('rejects %j with %s naming %s', (options, code, argument) => {
    const err = errorOf(() => new SwiotlbPool(options as never));
    expect(err?.code).toBe(code);
    if (argument) expect(err.argument).toBe(argument);
  });
});

describe('next-fit inside one area', () => {
  it('moves just past the last allocation and does not reuse a freed hole before it wraps', () => {
    const p = makePool({ size: '256KiB' }); // one segment, one area
    const maps = Array.from({ length: 10 }, (_, i) => p.map({ origAddr: ORIG + i * SLOT, size: SLOT }));
    expect(maps.map((m) => m.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(p.areaState(0).index).toBe(10);
    p.unmap(maps[2]!.tlbAddr, SLOT);
    expect(p.map({ origAddr: ORIG, size: SLOT }).index).toBe(10); // not the hole at 2
    for (let slot = 11; slot < 128; slot++) expect(p.map({ origAddr: ORIG, size: SLOT }).index).toBe(slot);
    expect(p.areaState(0).index).toBe(0); // wrapped to 0 past the end
    expect(p.map({ origAddr: ORIG, size: SLOT }).index).toBe(2); // the hole, found after the wrap
    expect(p.areaState(0).index).toBe(3);
  });

  it('takes the first slot that fits from the next-fit index, skipping runs that are too short', () => {
    const p = makePool(); // 512 slots
    const a = p.map({ origAddr: ORIG, size: 100 * SLOT }); // 0..99 (page aligned)
    const b = p.map({ origAddr: ORIG, size: 64 * SLOT }); // 28 free left in segment 0: goes to 128
    expect([a.index, a.nslots, b.index, b.nslots]).toEqual([0, 100, 128, 64]);
    expect(p.freeRunAt(100)).toBe(28);
    expect(p.areaState(0).index).toBe(192);
    const c = p.map({ origAddr: ORIG, size: 28 * SLOT }); // fits in 192.. before the hole at 100
    expect(c.index).toBe(192);
  });
});

describe('areas', () => {
  it.each([
    [0, 0], [1, 128], [2, 256], [3, 384], [5, 128], [7, 384], [2 ** 31 + 2, 256],
  ])('cpu %d starts in its area: first slot %d', (cpu, slot) => {
    const p = makePool({ cpus: 4 });
    expect(p.map({ origAddr: ORIG, size: SLOT, cpu }).index).toBe(slot);
  });

  it('picks the start area by cpu & (areas - 1) even when the limited count is not a power of two', () => {
    const p = makePool({ size: '768KiB', cpus: 4 }); // 3 areas
    expect(p.map({ origAddr: ORIG, size: SLOT, cpu: 1 }).index).toBe(0); // 1 & 2 = 0
    expect(p.map({ origAddr: ORIG, size: SLOT, cpu: 3 }).index).toBe(256); // 3 & 2 = 2
  });

  it('skips full areas round-robin and wraps to area 0', () => {
    const p = makePool({ cpus: 4 });
    const seg = IO_TLB_SEGSIZE * SLOT;
    expect(p.map({ origAddr: ORIG, size: seg, cpu: 2 }).index).toBe(256);
    expect(p.map({ origAddr: ORIG, size: SLOT, cpu: 2 }).index).toBe(384); // area 2 full → 3
    // Page aligned: 385 is skipped, 386..511 taken; area 3 has one slot (385) left.
    expect(p.map({ origAddr: ORIG, size: 126 * SLOT, cpu: 3 }).index).toBe(386);
    expect(p.areaState(3).used).toBe(127);
    expect(p.map({ origAddr: ORIG, size: 2 * SLOT, cpu: 3 }).index).toBe(0); // 3 cannot fit 2 → 0
    expect(p.map({ origAddr: ORIG, size: SLOT, cpu: 3 }).index).toBe(385); // 3 still has one
    expect(p.areaState(3).used).toBe(128);
  });

  it('skips an area at once when its free-slot count is short, even if a run would fit', () => {
    const p = makePool({ size: '1280KiB', cpus: 4 }); // 4 areas of 160 slots: area 0 straddles segment 1
    p.map({ origAddr: ORIG, size: 128 * SLOT }); // 0..127
    p.map({ origAddr: ORIG, size: 22 * SLOT }); // 128..149: area 0 has 10 slots left by count
    expect(p.freeRunAt(150)).toBe(106); // ...but a run of 106 starts at 150 (into area 1's slots)
    expect(p.map({ origAddr: ORIG, size: 20 * SLOT }).index).toBe(160); // area 1, not 150
  });

  it('wraps the next-fit index to 0, not modulo the area size (wrap_area_index)', () => {
    const p = makePool({ size: '1280KiB', cpus: 4 }); // area 0 = slots 0..159
    const a = p.map({ origAddr: ORIG, size: 127 * SLOT }); // 0..126
    const b = p.map({ origAddr: ORIG, size: SLOT }); // 127; area 0 index 128
    p.map({ origAddr: ORIG, size: SLOT, cpu: 1 }); // 160: the run at 128 is now 32 long
    p.unmap(a.tlbAddr, 127 * SLOT);
    p.unmap(b.tlbAddr, SLOT);
    // 128 KiB alignment: stride 64. 128 is aligned but short; 128 + 64 is past the area → 0.
    const m = p.map({ origAddr: ORIG, size: 4096, allocAlignMask: 0x1ffff });
    expect([m.index, m.nslots]).toEqual([0, 64]);
  });

  it('never uses the slots past the last whole area', () => {
    // 257 segments in 256 areas of one segment: the last 128 slots belong to no area.
    const p = new SwiotlbPool({ base: BASE, size: 257 * 256 * 1024, cpus: 256 });
    expect([p.areas, p.areaSlots, p.totalSlots]).toEqual([256, 128, 32896]);
    for (let cpu = 0; cpu < 256; cpu++) expect(p.map({ origAddr: ORIG, size: 128 * SLOT, cpu }).index).toBe(cpu * 128);
    const err = errorOf(() => p.map({ origAddr: ORIG, size: SLOT }));
    expect(err.message).toBe('swiotlb buffer is full (sz: 2048 bytes), total 32896 (slots), used 32768 (slots)');
    expect(p.freeRunAt(32768)).toBe(128);
  });
});

describe('alignment', () => {
  it.each([
    // [what, request, expected first slot, expected tlbAddr offset from BASE]
    ['below a page: any slot', { size: 3000 }, 1, 1 * SLOT],
    ['a page: page aligned', { size: 4096 }, 2, 2 * SLOT],
    ['a page with min_align_mask 0x7ff: the page default is off', { size: 4096, minAlignMask: 0x7ff, origAddr: ORIG + 0x100 }, 1, SLOT + 0x100],
    ['NVMe 0xfff, bit 11 clear', { size: 4096, minAlignMask: 0xfff, origAddr: ORIG + 0x234 }, 2, 2 * SLOT + 0x234],
    ['NVMe 0xfff, bit 11 set', { size: 4096, minAlignMask: 0xfff, origAddr: ORIG + 0xa34 }, 1, SLOT + 0x234],
    ['orig 0 skips the min_align check (kernel quirk)', { size: 4096, minAlignMask: 0xfff, origAddr: 0 }, 1, SLOT],
    ['min_align_mask 0xffff keeps 16 bits', { size: 4096, minAlignMask: 0xffff, origAddr: ORIG + 0x5234 }, 10, 0x5234],
  ] as [string, { size: number; minAlignMask?: number; origAddr?: number }, number, number][])('%s', (_what, req, slot, tlbOffset) => {
    const p = makePool();
    p.map({ origAddr: ORIG, size: SLOT }); // slot 0; next-fit index 1
    const m = p.map({ origAddr: ORIG, ...req });
    expect(m.index).toBe(slot);
    expect(m.tlbAddr - BASE).toBe(tlbOffset);
    const mask = req.minAlignMask ?? 0;
    if (req.origAddr) expect(m.tlbAddr & mask).toBe(req.origAddr & mask);
  });

  it.each([
    // [origAddr low bits, minAlignMask, allocAlignMask, size, padSlots, nslots, offset]
    ['orig +0x1a34, min 0xfff, align 0xfff', 0x1a34, 0xfff, 0xfff, 4096, 1, 4, 0xa34],
    ['orig +0x1234, min 0xfff, align 0xfff (tail rounded up to the granule)', 0x1234, 0xfff, 0xfff, 4096, 0, 4, 0x234],
    ['orig +0x3a34, min 0x3fff, align 0x3fff', 0x3a34, 0x3fff, 0x3fff, 4096, 7, 16, 0x3a34],
    ['orig +0, min 0xfff, align 0xfff', 0x0000, 0xfff, 0xfff, 1, 0, 2, 0],
    ['orig +0xa34, no min_align_mask, align 0xfff', 0x0a34, 0, 0xfff, 4096, 0, 2, 0],
  ])('alloc_align_mask: %s, %d bytes → %d padding slots, %d slots', (_what, low, minAlignMask, allocAlignMask, size, padSlots, nslots, offset) => {
    const p = makePool();
    p.map({ origAddr: ORIG, size: SLOT }); // push the next-fit index off alignment
    const origAddr = ORIG + low;
    const m = p.map({ origAddr, size, minAlignMask, allocAlignMask });
    expect({ padSlots: m.padSlots, nslots: m.nslots, offset: m.offset }).toEqual({ padSlots, nslots, offset });
    expect((BASE + m.index * SLOT) % (allocAlignMask + 1)).toBe(0);
    expect(m.tlbAddr).toBe(BASE + m.index * SLOT + offset);
    expect(m.tlbAddr & minAlignMask).toBe(origAddr & minAlignMask);
    expect(p.stats().usedSlots).toBe(1 + nslots);
    p.unmap(m.tlbAddr, size, minAlignMask);
    expect(p.stats().usedSlots).toBe(1); // the padding slots went back too
    expect(p.freeRunAt(1)).toBe(127);
  });

  it('never crosses a 128-slot segment', () => {
    const p = makePool();
    p.map({ origAddr: ORIG, size: 127 * SLOT - 1 }); // 0..126, the page default aligns it at 0
    const m = p.map({ origAddr: ORIG, size: 2 * SLOT }); // 127 is free but 1 short: goes to 128
    expect(m.index).toBe(128);
    expect(p.freeRunAt(127)).toBe(1);
  });

  it('keeps to the device segment boundary (iommu_is_span_boundary) when one is given', () => {
    const base = 0xfff0_1000; // slot 510 starts at 4 GiB
    const run = (boundaryMask?: number) => {
      const p = new SwiotlbPool({ base, size: '2MiB' });
      for (let i = 0; i < 508; i++) p.map({ origAddr: ORIG, size: SLOT });
      return p.map({ origAddr: ORIG, size: 4 * SLOT, ...(boundaryMask === undefined ? {} : { boundaryMask }) }).index;
    };
    expect(run()).toBe(508); // 508..511 crosses 4 GiB: no boundary given, allowed
    expect(run(0xffff_ffff)).toBe(512);
  });
});

describe('max mapping size', () => {
  it.each([
    ['0', 0, 262144], ['0x1', 0x1, 260096], ['0x7ff', 0x7ff, 260096], ['0xfff', 0xfff, 258048], ['0xffff', 0xffff, 196608], ['0x3ffff', 0x3ffff, 0],
  ])('min_align_mask %s → %d bytes', (_label, mask, bytes) => {
    expect(maxMappingSize(mask)).toBe(bytes);
  });

  it.each([0, 0x7ff, 0xfff, 0xffff])('a mapping of exactly the max size fits an empty pool for any orig (mask %d)', (mask) => {
    for (const low of [0, 1, 0x7ff, 0x800, 0xfff, 0xa34, 0xffff]) {
      const p = makePool({ size: '256KiB' });
      const origAddr = ORIG + low;
      const m = p.map({ origAddr, size: maxMappingSize(mask), minAlignMask: mask });
      expect(m.tlbAddr & mask).toBe(origAddr & mask);
      expect(m.index + m.nslots).toBeLessThanOrEqual(128);
    }
  });

  it('rejects allocations larger than one segment as invalid arguments, changing nothing', () => {
    const p = makePool();
    expect(errorOf(() => p.map({ origAddr: ORIG, size: 262145 }))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'size', maxMappingSize: 262144 });
    expect(errorOf(() => p.map({ origAddr: ORIG + 0x234, size: 262144, minAlignMask: 0xfff }))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'size', allocBytes: 262144 + 0x234, maxMappingSize: 258048 });
    expect(errorOf(() => p.map({ origAddr: ORIG, size: 4096, allocAlignMask: 0x7ffff }))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'allocAlignMask' });
    expect(p.stats()).toMatchObject({ usedSlots: 0, fullEvents: 0, mappings: 0 });
  });

  it('places a mapping above the max mapping size when its slots fit a segment (swiotlb_tbl_map_single does not check it)', () => {
    const p = makePool();
    expect(p.map({ origAddr: ORIG, size: 258049, minAlignMask: 0xfff })).toMatchObject({ index: 0, nslots: 127 });
    expect(p.map({ origAddr: ORIG, size: 1, minAlignMask: 0x3ffff })).toMatchObject({ index: 128, nslots: 1 }); // orig bits 17..11 are 0
    expect(maxMappingSize(0x3ffff)).toBe(0); // what drivers are told stays the same
  });
});
