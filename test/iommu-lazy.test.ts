// Lazy mode (flush queue): an unmapped IOVA keeps translating until its flush-queue entry is flushed,
// by the 10 ms timer or by a full queue (255 entries per CPU), and is only then freed for reuse;
// strict mode ends the translation at unmap. Faults are logged as DMAR / AMD-Vi do and recorded on the
// system. Timers never keep the process alive and close() clears them.
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, type IommuFault } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const rng = testRng('iommu-lazy');
const G = 4096;
const TOP = 2 ** 32;
const systems: DmaSystem[] = [];
afterAll(() => Promise.all(systems.map((s) => s.close())));

function rig(mode: 'strict' | 'lazy', vendor: 'intel' | 'amd' = 'intel') {
  const system = DmaSystem.create({ iommu: { mode, clock: 'manual', vendor }, engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
  systems.push(system);
  const ram = system.ram[1]!;
  const buf = ram.allocate(G, G);
  const bytes = rng.fill(new Uint8Array(G));
  ram.view(buf).set(bytes);
  return { system, device: system.device('0000:04:00.0'), buf, bytes };
}

describe('lazy mode: the window between unmap and flush', () => {
  it('a freed IOVA still reads the old page until the 10 ms timer flushes it, then faults', async () => {
    const { system, device, buf, bytes } = rig('lazy');
    const m = await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE);
    expect(m.dmaAddress).toBe(TOP - G);
    await device.unmapSingle(m.dmaAddress, G, DmaDirection.TO_DEVICE);
    // The window: the device still reaches the page it was given.
    expect(Buffer.compare(device.dma.read(m.dmaAddress, G), bytes)).toBe(0);
    const domain = device.iommuDomain!;
    expect(domain.flushQueue!.pending).toBe(1);
    // Not reusable yet: a new map gets another IOVA.
    const other = await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE);
    expect(other.dmaAddress).toBe(TOP - 2 * G);
    system.iommu!.advanceTime(9);
    expect(device.dma.read(m.dmaAddress, 1)).toHaveLength(1);
    system.iommu!.advanceTime(1);
    expect(() => device.dma.read(m.dmaAddress, 1)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT', reason: 'not-present', access: 'read' }));
    expect(domain.flushQueue!.pending).toBe(0);
    // Freed into the rcache: the next one-page map reuses it.
    const again = await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE);
    expect(again.dmaAddress).toBe(TOP - G);
    await device.unmapSingle(again.dmaAddress, G, DmaDirection.TO_DEVICE);
    await device.unmapSingle(other.dmaAddress, G, DmaDirection.TO_DEVICE);
  });

  it('strict mode has no window', async () => {
    const { device, buf } = rig('strict');
    const m = await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE);
    await device.unmapSingle(m.dmaAddress, G, DmaDirection.TO_DEVICE);
    expect(() => device.dma.read(m.dmaAddress, 1)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
  });

  it('a full queue flushes at once: the 256th queued unmap flushes the 255 before it', async () => {
    const { system, device, buf } = rig('lazy');
    const addrs: number[] = [];
    for (let i = 0; i < 256; i++) addrs.push((await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE)).dmaAddress);
    const fq = device.iommuDomain!.flushQueue!;
    for (let i = 0; i < 255; i++) await device.unmapSingle(addrs[i]!, G, DmaDirection.TO_DEVICE);
    expect(fq.pending).toBe(255);
    expect(fq.flushes).toBe(0);
    expect(device.dma.read(addrs[0]!, 1)).toHaveLength(1);
    await device.unmapSingle(addrs[255]!, G, DmaDirection.TO_DEVICE);
    expect(fq.flushes).toBe(1);
    expect(fq.pending).toBe(1);
    expect(() => device.dma.read(addrs[0]!, 1)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
    // The flush invalidated the whole IOTLB, the range just unmapped too, but that one is freed only
    // after the next flush: its IOVA is not handed out again yet.
    expect(() => device.dma.read(addrs[255]!, 1)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
    expect(device.iommuDomain!.iovad.findIova(addrs[255]! / G)).toBeDefined();
    system.iommu!.flushQueues();
    expect(fq.pending).toBe(0);
  });

  it('faults are logged in the kernel formats and recorded on the system, with an event', async () => {
    const { system, device, buf } = rig('strict');
    const seen: IommuFault[] = [];
    const stop = system.iommu!.onFault((f) => seen.push(f));
    expect(() => device.dma.write(0x1234_5678, new Uint8Array(4))).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
    const m = await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE);
    expect(() => device.dma.write(m.dmaAddress + 8, new Uint8Array(4))).toThrow(expect.objectContaining({ reason: 'permission' }));
    stop();
    expect(seen.map((f) => f.message)).toEqual([
      'DMAR: [DMA Write NO_PASID] Request device [04:00.0] fault addr 0x12345000 [fault reason 0x05] PTE Write access is not set',
      'DMAR: [DMA Write NO_PASID] Request device [04:00.0] fault addr 0xfffff000 [fault reason 0x05] PTE Write access is not set',
    ]);
    expect(system.iommu!.faults).toHaveLength(2);
    await device.unmapSingle(m.dmaAddress, G, DmaDirection.TO_DEVICE);
    const amd = rig('strict', 'amd');
    expect(() => amd.device.dma.read(0xabc0, 2)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
    expect(amd.system.iommu!.faults[0]!.message).toBe('pci 0000:04:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0xabc0 flags=0x0000]');
  });

  it('real timers do not keep the process alive and close() clears them', async () => {
    const system = DmaSystem.create({ iommu: 'lazy', engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
    const device = system.device('0000:04:00.0');
    const buf = system.ram[1]!.allocate(G, G);
    // Only timers that hold the process open are listed.
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const m = await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE);
    await device.unmapSingle(m.dmaAddress, G, DmaDirection.TO_DEVICE);
    expect(timers()).toBe(before);
    await system.close();
    // Cleared: the flush never runs after close().
    await new Promise((r) => setTimeout(r, 40));
    expect(device.iommuDomain!.staleTranslations).toBe(1);
    // With a real clock, time cannot be advanced by hand.
    const s2 = DmaSystem.create({ iommu: 'lazy', engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
    systems.push(s2);
    expect(() => s2.iommu!.advanceTime(10)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });

  it('the real 10 ms timer flushes by itself', async () => {
    const system = DmaSystem.create({ iommu: 'lazy', engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
    systems.push(system);
    const device = system.device('0000:04:00.0');
    const buf = system.ram[1]!.allocate(G, G);
    const m = await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE);
    await device.unmapSingle(m.dmaAddress, G, DmaDirection.TO_DEVICE);
    expect(device.iommuDomain!.staleTranslations).toBe(1);
    await new Promise((r) => setTimeout(r, 40));
    expect(device.iommuDomain!.staleTranslations).toBe(0);
  });
});
