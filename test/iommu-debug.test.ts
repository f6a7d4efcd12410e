// dma-debug checks iommu-dma mappings as it checks dma-direct ones: the hooks in mapping.ts see the
// IOVA segments (merged or not), so a wrong size, a wrong direction, a double unmap, a leak and a merged
// segment longer than max_seg_size are reported; in 'throw' mode the refused call changes nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem } from '../dist/src/index.js';

const G = 4096;
const systems: DmaSystem[] = [];
afterAll(() => Promise.all(systems.map((s) => s.close().catch(() => {}))));

function rig(mode: 'report' | 'throw' = 'report', options = {}) {
  const system = DmaSystem.create({ iommu: 'strict', debug: { mode, ignore: ['DMA_DEBUG_MAPPING_ERROR_UNCHECKED' as never] }, engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
  systems.push(system);
  const ram = system.ram[1]!;
  return { system, device: system.device('0000:04:00.0', options), ram };
}

describe('dma-debug under iommu-dma', () => {
  it('reports a wrong-size unmap, a wrong direction and a double unmap of IOVA mappings', async () => {
    const { system, device, ram } = rig();
    const buf = ram.allocate(2 * G, G);
    const m = await device.mapSingle(buf.phys, 2 * G, DmaDirection.TO_DEVICE);
    await device.syncSingleForCpu(m.dmaAddress, G, DmaDirection.FROM_DEVICE).catch(() => {});
    await device.unmapSingle(m.dmaAddress, 2 * G, DmaDirection.TO_DEVICE);
    await device.unmapSingle(m.dmaAddress, 2 * G, DmaDirection.TO_DEVICE).catch(() => {});
    const codes = system.debug!.reports.map((r) => r.code);
    expect(codes).toContain('DMA_DEBUG_SYNC_DIRECTION');
    expect(codes).toContain('DMA_DEBUG_UNMAP_NOT_MAPPED');
  });

  it('checks the merged segments against max_seg_size, and a leak at release', async () => {
    const { system, device, ram } = rig('report', { maxSegmentSize: G });
    const a = ram.allocate(3 * G, G);
    const b = ram.allocate(G, G);
    // The kernel's unsigned-arithmetic merge makes a 16 KiB segment for a 4 KiB max_seg_size device.
    const sg = await device.mapSg([{ phys: a.phys, length: 3 * G }, { phys: b.phys, length: G }], DmaDirection.TO_DEVICE);
    expect(sg.segments).toHaveLength(1);
    expect(system.debug!.reports.map((r) => r.code)).toContain('DMA_DEBUG_SEGMENT_TOO_LONG');
    device.release();
    expect(system.debug!.reports.map((r) => r.code)).toContain('DMA_DEBUG_LEAK');
  });

  it("'throw' mode refuses a wrong-size unmap and leaves the IOVA mapped", async () => {
    const { device, ram } = rig('throw');
    const buf = ram.allocate(G, G);
    const m = await device.mapSingle(buf.phys, G, DmaDirection.TO_DEVICE);
    await expect(device.unmapSingle(m.dmaAddress, 100, DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_DMA_DEBUG' });
    expect(device.dma.read(m.dmaAddress, 4)).toHaveLength(4);
    await device.unmapSingle(m.dmaAddress, G, DmaDirection.TO_DEVICE);
  });
});
