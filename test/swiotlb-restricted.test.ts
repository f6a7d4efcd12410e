// Restricted DMA pools (the device tree's restricted-dma-pool; rmem_swiotlb_device_init(),
// swiotlb_alloc(), swiotlb_free()), worked out by hand from kernel/dma/swiotlb.c.
import { describe, expect, it } from 'vitest';
import { SwiotlbMem, createRestrictedDmaPool } from '../dist/src/dma/index.js';
import { SLOT, errorOf } from './support/swiotlb-helpers.js';

const RBASE = 0x4000_0000;
const ORIG = 0x2_0000_0000;

function restricted(size: string | number = '256KiB') {
  return createRestrictedDmaPool({ name: 'restricted_dma_reserved', base: RBASE, size });
}

/** What a failed call must leave as it was. */
function state(mem: SwiotlbMem): unknown {
  const runs = Array.from({ length: mem.defaultPool.totalSlots }, (_, i) => mem.defaultPool.freeRunAt(i));
  const { fullEvents: _f, ...stats } = mem.stats();
  return { stats, runs, area: mem.defaultPool.areaState(0) };
}

describe('a restricted DMA pool', () => {
  it('is an io_tlb_mem of one pool in one area that bounces everything and serves coherent allocations', () => {
    const mem = restricted('1MiB');
    expect([mem.name, mem.forceBounce, mem.forAlloc, mem.dynamic, mem.canGrow]).toEqual(['restricted_dma_reserved', true, true, false, false]);
    expect(mem.stats()).toMatchObject({ name: 'restricted_dma_reserved', totalSlots: 512, areas: 1, areaSlots: 512, transientSlots: 0 });
    expect(mem.stats().pools).toEqual([{ kind: 'restricted', base: RBASE, end: RBASE + 2 ** 20, totalSlots: 512, usedSlots: 0, areas: 1, areaSlots: 512, mappings: 0 }]);
    // One area: every CPU's search starts at the same next-fit index.
    expect([0, 1, 7].map((cpu) => mem.map({ origAddr: ORIG, size: SLOT, cpu }).index)).toEqual([0, 1, 2]);
    const plain = new SwiotlbMem({ base: 0x1000_0000, size: '1MiB', cpus: 4 });
    expect([plain.name, plain.forceBounce, plain.forAlloc, plain.defaultPool.areas]).toEqual(['swiotlb', false, false, 4]);
    expect(new SwiotlbMem({ base: 0x1000_0000, size: '1MiB', force: true }).forceBounce).toBe(true);
  });

  it('takes size >> 11 slots, and its free runs end at the pool end (list = min(128 - i % 128, nslabs - i))', () => {
    const mem = restricted('300KiB'); // 150 slots: one segment and 22 slots of the next
    expect(mem.defaultPool.totalSlots).toBe(150);
    expect([0, 127, 128, 149].map((i) => mem.defaultPool.freeRunAt(i))).toEqual([128, 1, 22, 1]);
    const big = mem.map({ origAddr: ORIG, size: 127 * SLOT }); // page aligned at 0, slots 0..126
    expect(errorOf(() => mem.map({ origAddr: ORIG, size: 23 * SLOT }))?.code).toBe('ERR_SWIOTLB_FULL'); // 127 has 1, 128.. has 22
    expect(mem.map({ origAddr: ORIG, size: 22 * SLOT }).index).toBe(128);
    mem.unmap(big.tlbAddr, 127 * SLOT);
    expect(restricted('100KiB').map({ origAddr: ORIG, size: 50 * SLOT })).toMatchObject({ index: 0, nslots: 50 });
    expect(errorOf(() => restricted('100KiB').map({ origAddr: ORIG, size: 51 * SLOT }))?.code).toBe('ERR_SWIOTLB_FULL');
  });

  it('allocates coherent memory aligned to its page order, in nr_slots(size) slots (swiotlb_alloc)', () => {
    const mem = restricted();
    // 4 KiB: order 0, align 0xfff, slots 0..1. 12 KiB: order 2 (16 KiB alignment), 6 slots (not 8) at slot 8.
    // 2 KiB: order 0, page aligned: slot 14 (28 KiB) is the next page after the index.
    const a = mem.alloc(4096);
    const b = mem.alloc(12288);
    const c = mem.alloc(2048);
    expect([a, b, c].map((m) => [m.tlbAddr - RBASE, m.index, m.nslots])).toEqual([[0, 0, 2], [0x4000, 8, 6], [0x7000, 14, 1]]);
    expect(mem.stats()).toMatchObject({ usedSlots: 9, mappings: 3 });
    expect(mem.mappingAt(b.tlbAddr)).toMatchObject({ kind: 'alloc', origAddr: 0, size: 12288, nslots: 6, allocAlignMask: 0x3fff, poolKind: 'restricted' });
    expect(mem.defaultPool.areaState(0).index).toBe(15);
    mem.free(b.tlbAddr, 12288);
    expect(mem.stats()).toMatchObject({ usedSlots: 3, mappings: 2 });
    expect(mem.defaultPool.freeRunAt(2)).toBe(12); // slots 2..13 free again, up to c at 14
  });

  it("lets the device's min_align_mask change an allocation's search stride, as the kernel does", () => {
    // All 64 page-sized slots pairs taken, then the pairs at slots 40 and 62 freed; the next-fit index is 0.
    const setup = () => {
      const mem = restricted();
      const maps = Array.from({ length: 64 }, () => mem.map({ origAddr: ORIG, size: 4096 }).tlbAddr);
      mem.unmap(maps[20]!, 4096);
      mem.unmap(maps[31]!, 4096);
      return mem;
    };
    expect(setup().alloc(4096).index).toBe(40); // stride 2 reaches slot 40
    // min_align_mask 0xffff: iotlb_align_mask 0xf000, stride get_max_slots(0xf000) = 31 from each
    // aligned slot: 0, 32, 64, 96 are taken, the slots in between are stepped over one at a time
    // only when misaligned (31, 63, 95, 127), and the area is done before 40 or 62 is looked at.
    const mem = setup();
    const before = state(mem);
    expect(errorOf(() => mem.alloc(4096, { minAlignMask: 0xffff }))).toMatchObject({ code: 'ERR_SWIOTLB_FULL', size: 4096 });
    expect(state(mem)).toEqual(before);
    expect(mem.stats().fullEvents).toBe(0); // swiotlb_alloc() prints no warning
  });

  it('keeps streaming maps and allocations apart: unmap refuses an allocation, free refuses a mapping', () => {
    const mem = restricted();
    const a = mem.alloc(4096);
    const m = mem.map({ origAddr: ORIG, size: 4096 });
    const before = state(mem);
    expect(errorOf(() => mem.unmap(a.tlbAddr, 4096))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'kind-mismatch' });
    expect(errorOf(() => mem.free(m.tlbAddr, 4096))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'kind-mismatch' });
    expect(errorOf(() => mem.free(a.tlbAddr, 8192))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'size-mismatch' });
    expect(errorOf(() => mem.free(a.tlbAddr + 2048, 4096))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'not-mapping-start' });
    expect(errorOf(() => mem.free(RBASE - 4096, 4096))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'outside-pool' });
    expect(state(mem)).toEqual(before);
    mem.free(a.tlbAddr, 4096);
    mem.unmap(m.tlbAddr, 4096);
    expect(mem.stats()).toMatchObject({ usedSlots: 0, mappings: 0 });
  });

  it.each([
    [0, 'size'], [256 * 1024 + 1, 'size'], [1.5, 'size'], [Number.NaN, 'size'],
  ])('refuses alloc(%s) with ERR_INVALID_ARGUMENT naming %s', (size, argument) => {
    const mem = restricted();
    expect(errorOf(() => mem.alloc(size))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument });
    expect(mem.stats().usedSlots).toBe(0);
  });

  it('is the only kind of swiotlb that allocates: the default one refuses with ERR_INVALID_STATE', () => {
    const mem = new SwiotlbMem({ base: 0x1000_0000, size: '256KiB' });
    expect(errorOf(() => mem.alloc(4096))).toMatchObject({ code: 'ERR_INVALID_STATE', state: 'not-for-alloc' });
    expect(errorOf(() => mem.free(0x1000_0000, 4096))).toMatchObject({ code: 'ERR_INVALID_STATE', state: 'not-for-alloc' });
  });

  it('cannot be closed while an allocation is live', async () => {
    const mem = restricted();
    const a = mem.alloc(8192);
    expect(await mem.close().catch((e: unknown) => e)).toMatchObject({ code: 'ERR_INVALID_STATE', mappings: 1 });
    mem.free(a.tlbAddr, 8192);
    await mem.close();
    expect(errorOf(() => mem.alloc(8192))).toMatchObject({ code: 'ERR_INVALID_STATE', state: 'closed' });
  });
});

describe('createRestrictedDmaPool', () => {
  it.each([
    ['reusable'], ['linux,cma-default'], ['linux,dma-default'], ['no-map'],
  ])('refuses a node with "%s" (rmem_swiotlb_setup returns -EINVAL)', (property) => {
    expect(errorOf(() => createRestrictedDmaPool({ name: 'r', base: RBASE, size: '1MiB', properties: ['dma-coherent', property] })))
      .toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'properties', property });
  });

  it.each([
    [null, 'node'],
    [{ name: '', base: RBASE, size: '1MiB' }, 'name'],
    [{ name: 'r', base: RBASE + 0x800, size: '1MiB' }, 'base'],
    [{ name: 'r', base: Number.NaN, size: '1MiB' }, 'base'],
    [{ name: 'r', base: RBASE, size: 1024 }, 'size'],
    [{ name: 'r', base: RBASE, size: '8GiB' }, 'size'],
    [{ name: 'r', base: RBASE, size: '1MiB', properties: 'no-map' }, 'properties'],
  ])('refuses %j naming %s', (node, argument) => {
    expect(errorOf(() => createRestrictedDmaPool(node as never))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument });
  });

  it('refuses a size that is not a size with ERR_INVALID_SIZE', () => {
    expect(errorOf(() => createRestrictedDmaPool({ name: 'r', base: RBASE, size: '1MB' }))?.code).toBe('ERR_INVALID_SIZE');
  });
});
