// Mappings larger than swiotlb_max_mapping_size(): swiotlb_tbl_map_single() does not check it and
// places them when their slots fit one 128-slot segment; dma_max_mapping_size() (maxMappingSize)
// stays the limit drivers are told. Cases at the segment edge, worked out by hand.
import { describe, expect, it } from 'vitest';
import { SwiotlbMem, SwiotlbPool, maxMappingSize } from '../dist/src/dma/index.js';
import { FakePoolMemory } from './support/swiotlb-memory.js';
import { BASE, SLOT, errorOf, makePool } from './support/swiotlb-helpers.js';

const ORIG = 0x2_0000_0000;
const SEG = 128 * SLOT;
const LO = 0x8000_0000;

describe('the segment edge', () => {
  it('exactly 128 slots fit at a segment start; one byte more is refused, changing nothing', () => {
    const p = makePool();
    p.map({ origAddr: ORIG, size: SLOT }); // slot 0; the next-fit index is 1
    expect(p.map({ origAddr: ORIG, size: SEG })).toMatchObject({ index: 128, nslots: 128, tlbAddr: BASE + SEG });
    const before = p.stats();
    expect(errorOf(() => p.map({ origAddr: ORIG, size: SEG + 1 }))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'size', reason: 'larger-than-segment' });
    expect(errorOf(() => p.tryMap(ORIG, SEG + 1))?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(p.stats()).toEqual(before); // not a full event: no search can ever place it
  });

  it('127 slots and one byte take the whole next segment', () => {
    const p = makePool();
    p.map({ origAddr: ORIG, size: SLOT });
    expect(p.map({ origAddr: ORIG, size: 127 * SLOT + 1 })).toMatchObject({ index: 128, nslots: 128 });
    expect(p.freeRunAt(1)).toBe(127);
  });
});

describe('above swiotlb_max_mapping_size()', () => {
  it('NVMe (min_align_mask 0xfff, max mapping 252 KiB): placed when the slots fit, refused or full when not', () => {
    expect(maxMappingSize(0xfff)).toBe(258048); // what dma_max_mapping_size() tells the driver
    const size = 260096; // 127 slots, above the max
    // orig offset 0: 127 slots from an even slot (bit 11 clear).
    expect(makePool().map({ origAddr: ORIG, size, minAlignMask: 0xfff })).toMatchObject({ index: 0, nslots: 127, tlbAddr: BASE });
    // offset 0x7ff: size + 0x7ff = 262143 bytes, 128 slots from an even slot, the data 0x7ff into it.
    expect(makePool().map({ origAddr: ORIG + 0x7ff, size, minAlignMask: 0xfff })).toMatchObject({ index: 0, nslots: 128, tlbAddr: BASE + 0x7ff });
    // bit 11 set, offset 0: 127 slots from an odd slot; slot 1 has 127 to the segment end.
    expect(makePool().map({ origAddr: ORIG + 0x800, size, minAlignMask: 0xfff })).toMatchObject({ index: 1, nslots: 127, tlbAddr: BASE + SLOT });
    // bit 11 set and offset 0x7ff: 128 slots from an odd slot: no segment has them. The pool is
    // empty, so the kernel fails it ("swiotlb buffer is full") and mapWait knows it never fits.
    const p = makePool();
    expect(errorOf(() => p.map({ origAddr: ORIG + 0xfff, size, minAlignMask: 0xfff }))).toMatchObject({ code: 'ERR_SWIOTLB_FULL', size: 262143, usedSlots: 0 });
    return p.mapWait({ origAddr: ORIG + 0xfff, size, minAlignMask: 0xfff }).then(
      () => expect.fail('it cannot fit'),
      (err: unknown) => expect(err).toMatchObject({ code: 'ERR_SWIOTLB_FULL', neverFits: true }),
    );
  });

  it('a mask that leaves no max mapping size at all still places what fits (min_align_mask 0x3ffff)', () => {
    expect(maxMappingSize(0x3ffff)).toBe(0);
    const p = makePool(); // base 0x1000_0000: slot s matches bits 17..11 of orig when s % 128 does
    expect(p.map({ origAddr: ORIG + 0x1_f800, size: SLOT, minAlignMask: 0x3ffff })).toMatchObject({ index: 63, tlbAddr: BASE + 0x1_f800 });
    expect(p.map({ origAddr: ORIG + 0x3_f800, size: SLOT, minAlignMask: 0x3ffff })).toMatchObject({ index: 127 });
    expect(errorOf(() => p.map({ origAddr: ORIG + 0x3_f800, size: 2 * SLOT, minAlignMask: 0x3ffff }))?.code).toBe('ERR_SWIOTLB_FULL'); // would cross the segment
  });

  it('in a dynamic swiotlb a large mapping that no pool holds gets a transient pool; one that no segment can hold does not', () => {
    const memory = new FakePoolMemory({ lo: LO, hi: LO + 2 ** 20 });
    const mem = new SwiotlbMem({ base: BASE, size: '256KiB', dynamic: { growth: 'manual', allocPoolMemory: memory.alloc, freePoolMemory: memory.free } });
    mem.map({ origAddr: ORIG, size: SLOT });
    // 128 slots no longer fit the default pool: a 128-slot transient pool at LO (256 KiB aligned).
    expect(mem.map({ origAddr: ORIG + 0x7ff, size: 260096, minAlignMask: 0xfff })).toMatchObject({ tlbAddr: LO + 0x7ff, nslots: 128, transient: true });
    // 128 slots from an odd slot: the transient pool's slot 1 has only 127.
    expect(mem.tryMap(ORIG + 0xfff, 260096, 0xfff)).toBe(-1);
    expect(memory.calls.map((c) => [c.op, c.bytes])).toEqual([['alloc', SEG], ['alloc', SEG], ['free', SEG]]);
    const before = mem.stats();
    expect(errorOf(() => mem.tryMap(ORIG, SEG + 1))?.code).toBe('ERR_INVALID_ARGUMENT'); // swiotlb_find_slots returns before growing
    expect(mem.stats()).toEqual(before);
    expect(memory.calls).toHaveLength(3);
  });

  it('an allocAlignMask that rounds a mapping past one segment is refused naming it', () => {
    const p = new SwiotlbPool({ base: BASE, size: '1MiB' });
    expect(errorOf(() => p.map({ origAddr: ORIG, size: SEG - 100, allocAlignMask: 0x7ffff })))
      .toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'allocAlignMask', allocBytes: 0x80000 });
    // The offset alone pushing it past: named as the size.
    expect(errorOf(() => p.map({ origAddr: ORIG + 0x800, size: SEG - 0x800 + 1, minAlignMask: 0xfff, allocAlignMask: 0xfff })))
      .toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'size', allocBytes: SEG + 4096 });
    expect(p.stats().usedSlots).toBe(0);
  });
});
