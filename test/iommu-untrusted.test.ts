// Untrusted devices behind the IOMMU: one IOVA per entry and no merging (iommu_dma_map_sg_swiotlb());
// an entry whose address or length is not granule aligned is bounced through swiotlb with the
// granule's alignment, the bounce buffer's padding zeroed so the device never sees stale bytes;
// aligned entries are mapped in place. The group gets a strict domain whatever the system mode.
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const rng = testRng('iommu-untrusted');
const G = 4096;
const TOP = 2 ** 32;
const systems: DmaSystem[] = [];
afterAll(() => Promise.all(systems.map((s) => s.close())));

function rig(granule: 4096 | 16384 | 65536 = 4096, mode: 'strict' | 'lazy' | 'identity' = 'strict') {
  const system = DmaSystem.create({ iommu: { mode, granule }, engine: { workers: 1 }, swiotlb: { size: '4MiB' } });
  systems.push(system);
  return { system, device: system.device('0000:81:00.0', { untrusted: true }), ram: system.ram[1]! };
}

describe('untrusted devices', () => {
  it('map entry by entry: aligned entries in place, unaligned ones bounced with zeroed padding', async () => {
    const { system, device, ram } = rig();
    const a = ram.allocate(2 * G, G);
    const b = ram.allocate(G, G);
    ram.view(a).set(rng.fill(new Uint8Array(2 * G)));
    ram.view(b).set(rng.fill(new Uint8Array(G)));
    // Dirty the pool so stale bytes would show through unzeroed padding.
    const pool = system.fabric.region('swiotlb');
    pool.view({ offset: pool.offset, length: 64 * 1024 }).fill(0xee);
    const sg = await device.mapSg([{ phys: a.phys, length: G }, { phys: a.phys + G, length: G }, { phys: b.phys + 100, length: 200 }], DmaDirection.TO_DEVICE);
    // Three segments: no merging, each its own IOVA (top-down, one page each).
    expect(sg.segments.map((s) => [s.kind, s.dmaAddress, s.length])).toEqual([
      ['iommu', TOP - G, G],
      ['iommu', TOP - 2 * G, G],
      ['bounced', TOP - 3 * G, 200],
    ]);
    expect(sg.segments[2]!.reason).toBe('untrusted');
    const page = device.dma.read(TOP - 3 * G, G);
    expect(Buffer.compare(page.subarray(0, 200), ram.view(b).subarray(100, 300))).toBe(0);
    expect(page.subarray(200).every((x) => x === 0)).toBe(true);
    expect(Buffer.compare(device.dma.read(TOP - 2 * G, G), ram.view(a).subarray(G))).toBe(0);
    await device.unmapSg(sg, DmaDirection.TO_DEVICE);
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    // Strict: gone at once.
    expect(() => device.dma.read(TOP - G, 1)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
  });

  it('unmapSg of a scatterlist: every bounced segment copied back at once; a list naming a segment twice changes nothing', async () => {
    const { system, device, ram } = rig();
    const n = rng.int(3, 9);
    const buf = ram.allocate(n * G, G);
    const before = rng.fill(new Uint8Array(n * G));
    ram.view(buf).set(before);
    // Unaligned entries, each bounced, with the bytes around each one left as they were.
    const entries = Array.from({ length: n }, (_, i) => ({ phys: buf.phys + i * G + 64 + rng.int(0, 63), length: 1 + rng.int(0, 2000) }));
    const sg = await device.mapSg(entries, DmaDirection.FROM_DEVICE);
    expect(sg.segments.every((s) => s.kind === 'bounced')).toBe(true);
    const written = sg.segments.map((s) => rng.fill(new Uint8Array(s.length)));
    sg.segments.forEach((s, i) => device.dma.write(s.dmaAddress, written[i]!));
    const used = system.swiotlb.stats().usedSlots;

    const k = rng.int(0, n - 1);
    const twice = { ...sg, segments: [...sg.segments, sg.segments[k]!] };
    await expect(device.unmapSg(twice, DmaDirection.FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    // Nothing changed: every slot held, the original not written yet, every IOVA still mapped (the
    // device may still write there: FROM_DEVICE maps write-only).
    expect(system.swiotlb.stats().usedSlots).toBe(used);
    expect(Buffer.compare(ram.view(buf), before)).toBe(0);
    sg.segments.forEach((s, i) => device.dma.write(s.dmaAddress, written[i]!));

    await device.unmapSg(sg, DmaDirection.FROM_DEVICE);
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    const expected = before.slice();
    entries.forEach((e, i) => expected.set(written[i]!, e.phys - buf.phys));
    expect(Buffer.compare(ram.view(buf), expected)).toBe(0);
    for (const s of sg.segments) expect(() => device.dma.write(s.dmaAddress, new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
  });

  it('a bounced FROM_DEVICE entry copies back at unmap; guard bytes around it stay', async () => {
    const { device, ram } = rig();
    const buf = ram.allocate(G, G);
    const before = rng.fill(new Uint8Array(G));
    ram.view(buf).set(before);
    const m = await device.mapSingle(buf.phys + 512, 1000, DmaDirection.FROM_DEVICE);
    expect(m.kind).toBe('bounced');
    const data = rng.fill(new Uint8Array(1000));
    device.dma.write(m.dmaAddress, data);
    await device.unmapSingle(m.dmaAddress, 1000, DmaDirection.FROM_DEVICE);
    const after = ram.view(buf);
    expect(Buffer.compare(after.subarray(512, 1512), data)).toBe(0);
    expect(Buffer.compare(after.subarray(0, 512), before.subarray(0, 512))).toBe(0);
    expect(Buffer.compare(after.subarray(1512), before.subarray(1512))).toBe(0);
  });

  it('syncs copy between the original and the bounce buffer behind the IOVA, as swiotlb syncs do', async () => {
    const { device, ram } = rig();
    const buf = ram.allocate(G, G);
    const m = await device.mapSingle(buf.phys + 64, 300, DmaDirection.BIDIRECTIONAL);
    expect(m.kind).toBe('bounced');
    const fromDevice = rng.fill(new Uint8Array(300));
    device.dma.write(m.dmaAddress, fromDevice);
    expect(Buffer.compare(ram.view(buf).subarray(64, 364), fromDevice)).not.toBe(0);
    await device.syncSingleForCpu(m.dmaAddress, 300, DmaDirection.BIDIRECTIONAL);
    expect(Buffer.compare(ram.view(buf).subarray(64, 364), fromDevice)).toBe(0);
    const fromCpu = rng.fill(new Uint8Array(300));
    ram.view(buf).set(fromCpu, 64);
    await device.syncSingleForDevice(m.dmaAddress + 100, 200, DmaDirection.BIDIRECTIONAL);
    const seen = device.dma.read(m.dmaAddress, 300);
    expect(Buffer.compare(seen.subarray(100), fromCpu.subarray(100))).toBe(0);
    expect(Buffer.compare(seen.subarray(0, 100), fromDevice.subarray(0, 100))).toBe(0);
    await device.unmapSingle(m.dmaAddress, 300, DmaDirection.BIDIRECTIONAL);
    expect(Buffer.compare(ram.view(buf).subarray(164, 364), fromCpu.subarray(100))).toBe(0);
  });

  it('the bounce buffer is aligned to the granule (alloc_align_mask), with 64 KiB granules too', async () => {
    const { system, device, ram } = rig(65536);
    const buf = ram.allocate(128 * 1024, 65536);
    const m = await device.mapSingle(buf.phys + 3, 5000, DmaDirection.BIDIRECTIONAL);
    expect(m.kind).toBe('bounced');
    // The IOVA maps the slot; the slot itself starts on a 64 KiB boundary.
    const slotPhys = device.iommuDomain!.table.translate(m.dmaAddress)!.phys;
    expect(system.swiotlb.mappingContaining(slotPhys)!.tlbAddr).toBe(slotPhys);
    expect(slotPhys % 65536).toBe(0);
    expect(m.dmaAddress % 65536).toBe(0);
    expect(device.dma.read(m.dmaAddress + 5000, 65536 - 5000).every((x) => x === 0)).toBe(true);
    await device.unmapSingle(m.dmaAddress, 5000, DmaDirection.BIDIRECTIONAL);
  });

  it('an untrusted device gets a strict DMA domain even when the system is lazy or identity', () => {
    const lazy = rig(4096, 'lazy');
    expect(lazy.device.iommuDomain!.type).toBe('strict');
    const identity = rig(4096, 'identity');
    expect(identity.device.dmaOps).toBe('iommu');
    expect(identity.system.device('0000:04:00.0').dmaOps).toBe('direct');
  });

  it('a device option overrides the topology, and the permission of the direction is enforced', async () => {
    const { device, ram } = rig();
    const buf = ram.allocate(G, G);
    const m = await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE);
    expect(m.kind).toBe('iommu');
    expect(() => device.dma.write(m.dmaAddress, new Uint8Array([1]))).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT', access: 'write', reason: 'permission' }));
    await device.unmapSingle(m.dmaAddress, G, DmaDirection.TO_DEVICE);
  });
});
