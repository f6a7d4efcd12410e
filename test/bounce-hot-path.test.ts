// The bounced map/unmap hot path's shortcuts keep every rule: SwiotlbMem.tryMap() checks a
// device's masks, cpu, boundary and limit once while they stay the same, and must still refuse
// any of them that changes to a bad value; an unmap that copies nothing back still leaves its
// mappings 'unmapping' for the calls made right after it.
import { afterEach, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, SwiotlbMem } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';
import { BASE, errorOf } from './support/swiotlb-helpers.js';

const rng = testRng('bounce-hot-path');
const NVME = '0000:04:00.0';
const { TO_DEVICE } = DmaDirection;

describe('SwiotlbMem.tryMap() after a good request with the same owner values', () => {
  // Each bad value, given after a good map with otherwise the same owner: [argument, args].
  const GOOD = { minAlignMask: 0xfff, allocAlignMask: 0, cpu: 1, boundaryMask: 0xffff_ffff, physLimit: 2 ** 40 };
  const BAD: [string, Partial<typeof GOOD>][] = [
    ['minAlignMask', { minAlignMask: -1 }],
    ['minAlignMask', { minAlignMask: 0.5 }],
    ['allocAlignMask', { allocAlignMask: 6 }],
    ['cpu', { cpu: -1 }],
    ['cpu', { cpu: NaN }],
    ['boundaryMask', { boundaryMask: 1023 }],
    ['boundaryMask', { boundaryMask: 0x3000 }],
    ['physLimit', { physLimit: -1 }],
    ['physLimit', { physLimit: NaN }],
  ];
  const call = (mem: SwiotlbMem, origAddr: number, size: number, o: typeof GOOD) => mem.tryMap(origAddr, size, o.minAlignMask, o.allocAlignMask, o.cpu, o.boundaryMask, o.physLimit);

  it.each(BAD)('refuses a bad %s and changes nothing, then maps with the good values again', (argument, bad) => {
    const mem = new SwiotlbMem({ base: BASE, size: '1MiB', cpus: 2 });
    const orig = 0x1_0000_0000 + Math.floor(rng.next() * 2 ** 20) * 16;
    const size = 1 + Math.floor(rng.next() * 8192);
    expect(call(mem, orig, size, GOOD)).toBeGreaterThanOrEqual(BASE);
    const before = mem.stats();
    expect(errorOf(() => call(mem, orig, size, { ...GOOD, ...bad }))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument });
    expect(mem.stats()).toEqual(before);
    // A bad call in between does not make the good values unchecked-bad or the bad ones good.
    expect(call(mem, orig + 4096, size, GOOD)).toBeGreaterThanOrEqual(BASE);
    expect(errorOf(() => call(mem, orig, size, { ...GOOD, ...bad }))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument });
  });

  it('still checks the address and size of every map with the same owner values', () => {
    const mem = new SwiotlbMem({ base: BASE, size: '1MiB' });
    const orig = 0x1_0000_0000 + Math.floor(rng.next() * 2 ** 20) * 4096;
    expect(call(mem, orig, 4096, GOOD)).toBeGreaterThanOrEqual(BASE);
    const before = mem.stats();
    expect(errorOf(() => call(mem, -4096, 4096, GOOD))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'origAddr' });
    expect(errorOf(() => call(mem, orig, 0, GOOD))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'size' });
    expect(errorOf(() => call(mem, orig, 256 * 1024 + 1, GOOD))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'larger-than-segment' });
    // 256 KiB at 0x400 into a slot, kept under min_align_mask 0xfff, needs one slot more than a segment.
    expect(errorOf(() => call(mem, orig + 0x400, 256 * 1024, GOOD))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'larger-than-segment', allocBytes: 256 * 1024 + 0x400 });
    expect(mem.stats()).toEqual(before);
  });
});

describe('an unmap that copies nothing back', () => {
  let system: DmaSystem | undefined;
  afterEach(async () => { await system?.close(); system = undefined; });

  it('leaves its mappings unmapping for a second unmap or a sync issued right after it, then frees every slot', async () => {
    system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 } });
    const device = system.device(NVME, { forceBounce: true });
    const count = 2 + Math.floor(rng.next() * 30);
    const buffers = Array.from({ length: count }, () => new GuardedBuffer(system!.ram[1]!, rng, 1 + Math.floor(rng.next() * 4096)));
    const sg = await device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), TO_DEVICE);
    const first = device.unmapSg(sg, TO_DEVICE);
    const second = device.unmapSg(sg, TO_DEVICE);
    const sync = device.syncSgForDevice(sg, TO_DEVICE);
    await expect(second).rejects.toMatchObject({ code: 'ERR_MAPPING_STATE', state: 'unmapping' });
    await expect(sync).rejects.toMatchObject({ code: 'ERR_MAPPING_STATE', state: 'unmapping' });
    await first;
    expect(system.swiotlb.stats()).toMatchObject({ usedSlots: 0, mappings: 0 });
    // Once it settled the mappings are gone: a late unmap is a bad argument, not a state error.
    await expect(device.unmapSg(sg, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    for (const b of buffers) b.check();
  });
});
