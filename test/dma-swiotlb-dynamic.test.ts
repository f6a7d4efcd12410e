// The mapper on a dynamic swiotlb (CONFIG_SWIOTLB_DYNAMIC): when the default pool is full a
// mapping gets a transient pool carved from host RAM and a new pool is added in the background;
// the device reaches only its own slots in either, bytes round-trip, and nothing is left behind.
import { describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, type MappedSegment } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const NVME = '0000:04:00.0';
const NIC = '0000:05:00.0';
const { TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL } = DmaDirection;
const rng = testRng('dma-swiotlb-dynamic');

describe('a dynamic swiotlb behind the mapper', () => {
  it('overflows into transient pools in host RAM, adds a pool, and every mapping keeps its own bytes', async () => {
    await using system = DmaSystem.create({ swiotlb: { size: '256KiB', dynamic: true }, engine: { workers: 1 } });
    const ram = system.ram[0]!;
    const dev = system.device(NVME, { forceBounce: true, dmaBits: 32 });
    const other = system.device(NIC, { forceBounce: true });
    const ramBefore = ram.stats().used;
    const bufs = Array.from({ length: 8 }, () => new GuardedBuffer(ram, rng, 60_000, rng.int(0, 300)));
    const maps: MappedSegment[] = [];
    for (const buf of bufs) maps.push(await dev.mapSingle(buf.phys, buf.length, BIDIRECTIONAL));
    const stats = system.swiotlb.stats();
    // 8 x 30 slots do not fit 128: some went to transient pools (in host RAM below the 32-bit mask).
    expect(stats.dynamic.transientMade).toBeGreaterThan(0);
    const outside = maps.filter((m) => !(m.dmaAddress >= system.swiotlb.defaultPool.base && m.dmaAddress < system.swiotlb.defaultPool.end));
    expect(outside.length).toBeGreaterThan(0);
    for (const m of outside) expect(system.swiotlb.findPool(m.dmaAddress)).toBeDefined();
    for (const m of maps) expect(m.dmaAddress + m.length - 1).toBeLessThanOrEqual(0xffff_ffff);
    // Each mapping holds its own original; another device cannot touch it.
    for (const [i, m] of maps.entries()) {
      expect(dev.dma.read(m.dmaAddress, m.length)).toEqual(bufs[i]!.bytes());
      expect(() => other.dma.read(m.dmaAddress, 16)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
      // A driver cannot map pool memory as if it were RAM.
      await expect(other.mapSingle(m.dmaAddress, 16, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_BAD_ADDRESS' });
    }
    for (const [i, m] of maps.entries()) {
      const bytes = rng.fill(new Uint8Array(m.length));
      dev.dma.write(m.dmaAddress, bytes);
      await dev.unmapSingle(m.dmaAddress, m.length, BIDIRECTIONAL);
      bufs[i]!.wrote(0, bytes);
      bufs[i]!.check(`mapping ${i}`);
    }
    const after = system.swiotlb.stats();
    expect(after).toMatchObject({ usedSlots: 0, transientSlots: 0, mappings: 0 });
    expect(after.dynamic.transientPools).toBe(0);
    for (const buf of bufs) buf.free();
    // Only pools the background work added may still hold host RAM; close() gives them back.
    await system.close();
    expect(ram.stats().used).toBe(ramBefore);
  });

  it('a static swiotlb fails the same overflow with ERR_SWIOTLB_FULL and changes nothing', async () => {
    await using system = DmaSystem.create({ swiotlb: { size: '256KiB' }, engine: { workers: 1 } });
    const dev = system.device(NVME, { forceBounce: true });
    const bufs = Array.from({ length: 5 }, () => new GuardedBuffer(system.ram[0]!, rng, 60_000));
    const maps: MappedSegment[] = [];
    for (const buf of bufs.slice(0, 4)) maps.push(await dev.mapSingle(buf.phys, buf.length, FROM_DEVICE));
    const used = system.swiotlb.stats().usedSlots;
    await expect(dev.mapSingle(bufs[4]!.phys, 60_000, FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_SWIOTLB_FULL' });
    expect(system.swiotlb.stats()).toMatchObject({ usedSlots: used, transientSlots: 0 });
    for (const m of maps) await dev.unmapSingle(m.dmaAddress, m.length, FROM_DEVICE);
    for (const buf of bufs) buf.check();
  });

  it('refuses a non-boolean dynamic option', () => {
    expect(() => DmaSystem.create({ swiotlb: { dynamic: 'yes' as never } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'swiotlb.dynamic' }));
  });
});
