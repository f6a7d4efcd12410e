// Restricted DMA pools behind the mapper (the device tree's restricted-dma-pool): the devices a
// pool serves bounce every streaming map through it and take their coherent allocations from it;
// other devices never reach it, and it never reaches theirs. And coherent allocations from RAM.
import { describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, type MappedSegment } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const NVME = '0000:04:00.0';
const NIC = '0000:05:00.0';
const NVME_FAR = '0000:81:00.0';
const { TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL } = DmaDirection;
const rng = testRng('dma-restricted');
const POOL_PHYS = 0x0800_0000;

function makeSystem() {
  return DmaSystem.create({
    swiotlb: { size: '1MiB' },
    restrictedPools: [{ name: 'restricted_dma_reserved', phys: POOL_PHYS, size: '512KiB', devices: [NVME, NIC] }],
    engine: { workers: 1 },
  });
}

describe('restricted DMA pools', () => {
  it('every streaming map of a served device bounces through its pool, bytes round-trip, and the system pool is untouched', async () => {
    await using system = makeSystem();
    const dev = system.device(NVME);
    expect(dev.forceBounce).toBe(true);
    const pool = system.restrictedPool('restricted_dma_reserved')!;
    const maps: MappedSegment[] = [];
    const bufs = Array.from({ length: 6 }, () => new GuardedBuffer(system.ram[0]!, rng, rng.int(1, 40_000), rng.int(0, 200)));
    for (const buf of bufs) maps.push(await dev.mapSingle(buf.phys, buf.length, BIDIRECTIONAL));
    for (const m of maps) {
      expect(m).toMatchObject({ kind: 'bounced', reason: 'forced' });
      expect(m.dmaAddress).toBeGreaterThanOrEqual(POOL_PHYS);
      expect(m.dmaAddress + m.length).toBeLessThanOrEqual(POOL_PHYS + 512 * 1024);
    }
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    expect(pool.stats().usedSlots).toBeGreaterThan(0);
    for (const [i, m] of maps.entries()) {
      expect(dev.dma.read(m.dmaAddress, m.length)).toEqual(bufs[i]!.bytes());
      const bytes = rng.fill(new Uint8Array(m.length));
      dev.dma.write(m.dmaAddress, bytes);
      await dev.unmapSingle(m.dmaAddress, m.length, BIDIRECTIONAL);
      bufs[i]!.wrote(0, bytes);
      bufs[i]!.check(`mapping ${i}`);
    }
    expect(pool.stats().usedSlots).toBe(0);
  });

  it('a device outside the pool cannot reach it, a device of the pool cannot reach the system pool, and neither can unmap the other\'s mapping', async () => {
    await using system = makeSystem();
    const inside = system.device(NVME);
    const outside = system.device(NVME_FAR, { forceBounce: true });
    const a = new GuardedBuffer(system.ram[0]!, rng, 4096);
    const b = new GuardedBuffer(system.ram[0]!, rng, 4096);
    const mi = await inside.mapSingle(a.phys, 4096, FROM_DEVICE);
    const mo = await outside.mapSingle(b.phys, 4096, FROM_DEVICE);
    expect(() => outside.dma.read(mi.dmaAddress, 16)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
    expect(() => inside.dma.read(mo.dmaAddress, 16)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
    await expect(outside.unmapSingle(mi.dmaAddress, 4096, FROM_DEVICE)).resolves.toBeUndefined(); // not a swiotlb address of its own: a direct unmap, nothing happens
    expect(inside.bounceMappings()).toBe(1);
    await expect(outside.mapSingle(mi.dmaAddress, 16, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_BAD_ADDRESS' });
    await inside.unmapSingle(mi.dmaAddress, 4096, FROM_DEVICE);
    await outside.unmapSingle(mo.dmaAddress, 4096, FROM_DEVICE);
    a.check();
    b.check();
  });

  it('coherent allocations of a served device come from its pool (page aligned, whole pages) and the device reaches them until they are freed', async () => {
    await using system = makeSystem();
    const dev = system.device(NIC);
    const pool = system.restrictedPool('restricted_dma_reserved')!;
    const c = dev.allocCoherent(5000);
    expect(c.size).toBe(8192);
    expect(c.phys % 4096).toBe(0);
    expect(c.dmaAddress).toBe(c.phys);
    expect(c.phys).toBeGreaterThanOrEqual(POOL_PHYS);
    const bytes = rng.fill(new Uint8Array(8192));
    dev.dma.write(c.dmaAddress, bytes);
    expect(dev.dma.read(c.dmaAddress, 8192)).toEqual(bytes);
    expect(() => system.device(NVME).dma.read(c.dmaAddress, 16)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
    expect(pool.stats().usedSlots).toBe(4);
    dev.freeCoherent(c);
    expect(() => dev.freeCoherent(c)).toThrow(expect.objectContaining({ code: 'ERR_MAPPING_STATE' }));
    expect(() => dev.dma.read(c.dmaAddress, 16)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
    expect(pool.stats().usedSlots).toBe(0);
  });

  it('coherent allocations of other devices come from host RAM below their mask, and freeRam cannot free them', async () => {
    await using system = makeSystem();
    const dev = system.device(NVME_FAR, { dmaBits: 32 });
    const used = system.ram[0]!.stats().used;
    const c = dev.allocCoherent(100);
    expect(c).toMatchObject({ size: 4096 });
    expect(c.phys + c.size - 1).toBeLessThanOrEqual(0xffff_ffff);
    expect(() => system.freeRam({ region: system.ram[0]!, phys: c.phys, offset: system.ram[0]!.physToOffset(c.phys), length: 4096 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    const bytes = rng.fill(new Uint8Array(4096));
    dev.dma.write(c.dmaAddress, bytes);
    expect(system.ram[0]!.view({ offset: system.ram[0]!.physToOffset(c.phys), length: 4096 })).toEqual(bytes);
    expect(() => system.device(NIC).freeCoherent(c)).toThrow(expect.objectContaining({ code: 'ERR_MAPPING_STATE' }));
    expect(() => dev.freeCoherent({ ...c, size: 8192 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    dev.freeCoherent(c);
    expect(system.ram[0]!.stats().used).toBe(used);
    expect(() => dev.allocCoherent(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'size' }));
  });

  it('refuses bad definitions with a code, building nothing', () => {
    const bad = [
      [{ name: 'p', phys: POOL_PHYS, size: '64KiB', devices: ['0000:99:00.0'] }, 'ERR_UNKNOWN_DEVICE'],
      [{ name: 'p', phys: POOL_PHYS, size: '64KiB', devices: ['0000:01:00.0'] }, 'ERR_INVALID_ARGUMENT'],
      [{ name: 'p', phys: POOL_PHYS + 1, size: '64KiB', devices: [NVME] }, 'ERR_INVALID_ARGUMENT'],
      [{ name: 'p', phys: POOL_PHYS, size: '64KiB', devices: [] }, 'ERR_INVALID_ARGUMENT'],
      [{ name: 'p', phys: POOL_PHYS, size: '64KiB', devices: [NVME], properties: ['no-map'] }, 'ERR_INVALID_ARGUMENT'],
      [{ name: 'p', phys: 0x0400_0000, size: '64KiB', devices: [NVME] }, 'ERR_REGION_CONFLICT'],
    ] as const;
    for (const [def, code] of bad) expect(() => DmaSystem.create({ restrictedPools: [def as never] }), JSON.stringify(def)).toThrow(expect.objectContaining({ code }));
    expect(() => DmaSystem.create({ restrictedPools: [{ name: 'a', phys: POOL_PHYS, size: '64KiB', devices: [NVME] }, { name: 'b', phys: POOL_PHYS + 65536, size: '64KiB', devices: [NVME] }] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
