// The two-step IOVA API (Linux 6.16) on DmaDevice: try-alloc fails where the kernel's does (no IOMMU,
// identity domain), links land at the offsets given and become visible only after iovaSync(), unlink
// and destroy tear them down (copying bounced parts back for untrusted devices), and misuse is a coded
// error naming the rule; the state has an explicit life (unallocated, allocated, destroyed).
import { afterAll, describe, expect, it } from 'vitest';
import { DMA_ATTR_MMIO, DmaDirection, DmaSystem, IovaState } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const rng = testRng('iommu-iova-api');
const G = 4096;
const TOP = 2 ** 32;
const systems: DmaSystem[] = [];
afterAll(() => Promise.all(systems.map((s) => s.close())));

function rig(iommu: 'off' | 'identity' | 'strict' | 'lazy' = 'strict', untrusted = false) {
  const system = DmaSystem.create({ iommu: iommu === 'lazy' ? { mode: 'lazy', clock: 'manual' } : iommu, engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
  systems.push(system);
  const ram = system.ram[1]!;
  const pages = ram.allocate(32 * G, G);
  ram.view(pages).set(rng.fill(new Uint8Array(32 * G)));
  return { system, ram, pages, device: system.device('0000:04:00.0', { untrusted, minAlignMask: untrusted ? 0xfff : 0 }) };
}

describe('IOVA API', () => {
  it('try-alloc says no without a translating IOMMU; the caller falls back', async () => {
    for (const mode of ['off', 'identity'] as const) {
      const { device } = rig(mode);
      const state = device.iovaTryAlloc(0, 32 * G);
      expect(state.state).toBe('unallocated');
      expect(device.useIova(state)).toBe(false);
      await expect(device.iovaLink(state, 0, 0, G, DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_IOVA_STATE' });
    }
  });

  it('links 32 pages one by one, visible after sync, gone after destroy', async () => {
    const { ram, pages, device } = rig();
    const state = device.iovaTryAlloc(pages.phys, 32 * G);
    expect(state.state).toBe('allocated');
    expect(state.addr).toBe(TOP - 32 * G);
    expect(device.useIova(state)).toBe(true);
    // Offset i gets physical page 31 - i (the IOVA order is the caller's), linked in a random order.
    const order = Array.from({ length: 32 }, (_, i) => i).sort(() => rng.next() - 0.5);
    for (const i of order) await device.iovaLink(state, pages.phys + (31 - i) * G, i * G, G, DmaDirection.TO_DEVICE);
    expect(state.links.map((l) => l.offset)).toEqual(Array.from({ length: 32 }, (_, i) => i * G));
    expect(() => device.dma.read(state.addr, 1)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT', reason: 'not-present' }));
    device.iovaSync(state, 0, 32 * G);
    const view = ram.view(pages);
    for (const i of [0, 7, 31]) expect(Buffer.compare(device.dma.read(state.addr + i * G, G), view.subarray((31 - i) * G, (32 - i) * G))).toBe(0);
    await device.iovaDestroy(state, 32 * G, DmaDirection.TO_DEVICE);
    expect(state.state).toBe('destroyed');
    expect(() => device.dma.read(state.addr, 1)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
    await expect(device.iovaDestroy(state, 32 * G, DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_IOVA_STATE' });
    expect(device.iommuDomain!.table.mappedPages).toBe(0);
  });

  it('misuse is refused with the rule it breaks, and changes nothing', async () => {
    const { pages, device } = rig();
    const state = device.iovaTryAlloc(pages.phys + 0x100, 8 * G);
    expect(state.addr % G).toBe(0x100);
    const link = (phys: number, offset: number, size: number) => device.iovaLink(state, phys, offset, size, DmaDirection.TO_DEVICE);
    await expect(link(pages.phys, 0, G)).rejects.toMatchObject({ code: 'ERR_IOVA_RULE', rule: 'link-first-offset' });
    await link(pages.phys + 0x100, 0, G - 0x100);
    await expect(link(pages.phys + 4 * G, G, G)).rejects.toMatchObject({ code: 'ERR_IOVA_RULE', rule: 'link-start-boundary' });
    await expect(link(pages.phys + 4 * G + 8, G - 0x100, G)).rejects.toMatchObject({ code: 'ERR_IOVA_RULE', rule: 'link-start-aligned' });
    await expect(link(pages.phys + 4 * G, G - 0x100, 8 * G)).rejects.toMatchObject({ code: 'ERR_IOVA_RULE', rule: 'link-in-range' });
    await expect(link(pages.phys + 4 * G, 0, G)).rejects.toMatchObject({ code: 'ERR_IOVA_RULE' });
    // A range not ending on the boundary must be the last.
    await link(pages.phys + 4 * G, G - 0x100, 100);
    await expect(link(pages.phys + 5 * G, 2 * G - 0x100, G)).rejects.toMatchObject({ code: 'ERR_IOVA_RULE', rule: 'link-only-last-unaligned' });
    expect(device.iommuDomain!.table.mappedPages).toBe(2);
    await expect(device.iovaUnlink(state, 0, 10, DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_IOVA_RULE', rule: 'unlink-whole-links' });
    expect(() => device.iovaFree(state)).toThrow(expect.objectContaining({ code: 'ERR_IOVA_RULE', rule: 'free-after-unlink' }));
    await expect(device.iovaDestroy(state, G, DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_IOVA_RULE', rule: 'destroy-covers-links' });
    await device.iovaUnlink(state, G - 0x100, 100, DmaDirection.TO_DEVICE);
    await device.iovaUnlink(state, 0, G - 0x100, DmaDirection.TO_DEVICE);
    expect(device.iommuDomain!.table.mappedPages).toBe(0);
    device.iovaFree(state);
    expect(state.state).toBe('destroyed');
    const other = rig();
    const foreign = other.device.iovaTryAlloc(0, G);
    await expect(device.iovaLink(foreign, pages.phys, 0, G, DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(device.iovaLink({} as IovaState, pages.phys, 0, G, DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('an untrusted device bounces only the unaligned head and tail; unlink copies them back', async () => {
    const { system, ram, pages, device } = rig('strict', true);
    const phys = pages.phys + 0x300;
    const size = 3 * G;
    const state = device.iovaTryAlloc(phys, size);
    await device.iovaLink(state, phys, 0, size, DmaDirection.FROM_DEVICE);
    device.iovaSync(state, 0, size);
    // Head [0x300, 4K) and tail [.., +0x300) bounced; the two middle pages mapped in place.
    expect(system.swiotlb.stats().mappings).toBe(2);
    expect(device.dma.resolve(state.addr + G, 1, 'write').via).toBe('ram');
    expect(device.dma.resolve(state.addr, 1, 'write').via).toBe('swiotlb');
    const data = rng.fill(new Uint8Array(size));
    device.dma.write(state.addr, data);
    await device.iovaDestroy(state, size, DmaDirection.FROM_DEVICE);
    expect(system.swiotlb.stats().mappings).toBe(0);
    expect(Buffer.compare(ram.view(pages).subarray(0x300, 0x300 + size), data)).toBe(0);
    // MMIO cannot be bounced: -EPERM.
    const s2 = device.iovaTryAlloc(phys, 100);
    await expect(device.iovaLink(s2, phys, 0, 100, DmaDirection.TO_DEVICE, DMA_ATTR_MMIO)).rejects.toMatchObject({ code: 'ERR_DMA_MAPPING', errno: 'EPERM' });
  });

  it('destroy in lazy mode queues the IOVA: the window applies to the IOVA API too', async () => {
    const { system, pages, device } = rig('lazy');
    const state = device.iovaTryAlloc(pages.phys, 2 * G);
    await device.iovaLink(state, pages.phys, 0, 2 * G, DmaDirection.TO_DEVICE);
    device.iovaSync(state, 0, 2 * G);
    await device.iovaDestroy(state, 2 * G, DmaDirection.TO_DEVICE);
    expect(device.dma.read(state.addr, 1)).toHaveLength(1);
    system.iommu!.advanceTime(10);
    expect(() => device.dma.read(state.addr, 1)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
    // dma_iova_free() (and destroy with nothing linked) frees at once, not through the queue.
    const fq = device.iommuDomain!.flushQueue!;
    const s2 = device.iovaTryAlloc(pages.phys, G);
    device.iovaFree(s2);
    expect(fq.pending).toBe(0);
    const s3 = device.iovaTryAlloc(pages.phys, G);
    expect(s3.addr).toBe(s2.addr);
    await device.iovaDestroy(s3, 0, DmaDirection.TO_DEVICE);
    expect(fq.pending).toBe(0);
  });
});
