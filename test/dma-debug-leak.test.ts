// dma-debug leak reports: mappings still live when a device is released or the system closed.
import { describe, expect, it } from 'vitest';
import { DmaDebugCode, DmaDirection, DmaSystem } from '../dist/src/index.js';

const NVME = '0000:04:00.0';
const NIC = '0000:05:00.0';
const NVME_FAR = '0000:81:00.0';
const { TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL } = DmaDirection;

describe('leak on release', () => {
  it('one report per device with the count and every live mapping; the tracker forgets them', async () => {
    const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 }, debug: { stacks: true } });
    try {
      const dev = system.device(NVME, { forceBounce: true });
      const a = system.allocRam(4096);
      const b = system.allocRam(8192);
      const single = await dev.mapSingle(a.phys, 4096, TO_DEVICE);
      const sg = await dev.mapSg([{ phys: b.phys, length: 4096 }, { phys: b.phys + 4096, length: 4096 }], FROM_DEVICE);
      // One mapping properly taken back: not part of the leak.
      const gone = await dev.mapSingle(a.phys, 1024, BIDIRECTIONAL);
      dev.mappingError(gone.dmaAddress);
      await dev.unmapSingle(gone.dmaAddress, 1024, BIDIRECTIONAL);
      expect(system.debug!.reports).toEqual([]);

      dev.release();
      const reports = system.debug!.reports;
      expect(reports).toHaveLength(1);
      const [leak] = reports;
      expect(leak).toMatchObject({ code: DmaDebugCode.LEAK, device: NVME, count: 3 });
      expect(leak!.message).toMatch(/3 DMA mapping/);
      expect(leak!.mappings!.map(({ stack: _s, ...m }) => m)).toEqual(expect.arrayContaining([
        { device: NVME, address: single.dmaAddress, phys: a.phys, size: 4096, direction: 'TO_DEVICE', kind: 'single' },
        { device: NVME, address: sg.segments[0]!.dmaAddress, phys: b.phys, size: 4096, direction: 'FROM_DEVICE', kind: 'sg', nents: 2 },
        { device: NVME, address: sg.segments[1]!.dmaAddress, phys: b.phys + 4096, size: 4096, direction: 'FROM_DEVICE', kind: 'sg', nents: 2 },
      ]));
      expect(leak!.mappings).toHaveLength(3);
      for (const m of leak!.mappings!) expect(m.stack).toMatch(/dma-debug-leak\.test\.ts/);
      expect(system.debug!.mappings()).toEqual([]);
      // As in the kernel, the leaked bounce slots stay taken: the driver never gave them back.
      expect(system.swiotlb.stats().usedSlots).toBeGreaterThan(0);

      // A second release reports nothing more, and the released device refuses calls.
      dev.release();
      expect(system.debug!.reports).toHaveLength(1);
      await expect(dev.mapSingle(a.phys, 64, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });

      // The system keeps working: a new device on the same function maps the same memory silently.
      const again = system.device(NVME);
      const m = await again.mapSingle(b.phys, 8192, FROM_DEVICE);
      again.mappingError(m.dmaAddress);
      await again.unmapSingle(m.dmaAddress, 8192, FROM_DEVICE);
      expect(system.debug!.reports).toHaveLength(1);
    } finally {
      await system.close();
    }
  });

  it('a device released with nothing mapped reports nothing', async () => {
    const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 }, debug: true });
    try {
      const dev = system.device(NVME);
      const span = system.allocRam(4096);
      const m = await dev.mapSingle(span.phys, 4096, TO_DEVICE);
      dev.mappingError(m.dmaAddress);
      await dev.unmapSingle(m.dmaAddress, 4096, TO_DEVICE);
      dev.release();
      expect(system.debug!.reports).toEqual([]);
    } finally {
      await system.close();
    }
    expect(system.debug!.reports).toEqual([]);
  });
});

describe('leak on close', () => {
  it('report mode: one report per device still holding mappings, and close resolves', async () => {
    const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 }, debug: true });
    const nvme = system.device(NVME);
    const nic = system.device(NIC);
    const far = system.device(NVME_FAR);
    const span = system.allocRam(16384);
    await nvme.mapSingle(span.phys, 4096, TO_DEVICE);
    await nvme.mapSingle(span.phys + 4096, 4096, FROM_DEVICE);
    await nic.mapSg([{ phys: span.phys + 8192, length: 4096 }], BIDIRECTIONAL);
    const clean = await far.mapSingle(span.phys + 12288, 4096, TO_DEVICE);
    far.mappingError(clean.dmaAddress);
    await far.unmapSingle(clean.dmaAddress, 4096, TO_DEVICE);
    await system.close();
    const reports = system.debug!.reports;
    expect(reports.map((r) => [r.code, r.device, r.count])).toEqual(expect.arrayContaining([
      [DmaDebugCode.LEAK, NVME, 2],
      [DmaDebugCode.LEAK, NIC, 1],
    ]));
    expect(reports).toHaveLength(2);
    expect(system.debug!.mappings()).toEqual([]);
  });

  it('throw mode: release throws after releasing; close finishes closing, then throws the first leak', async () => {
    const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 }, debug: { mode: 'throw' } });
    const span = system.allocRam(8192);
    const nvme = system.device(NVME);
    const m = await nvme.mapSingle(span.phys, 4096, FROM_DEVICE);
    expect(() => nvme.release()).toThrow(expect.objectContaining({ code: 'ERR_DMA_DEBUG', debugCode: DmaDebugCode.LEAK, device: NVME, count: 1, address: m.dmaAddress }));
    await expect(nvme.syncSingleForCpu(m.dmaAddress, 4096, FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });

    const nic = system.device(NIC);
    await nic.mapSingle(span.phys + 4096, 4096, TO_DEVICE);
    await expect(system.close()).rejects.toMatchObject({ code: 'ERR_DMA_DEBUG', debugCode: DmaDebugCode.LEAK, device: NIC, count: 1 });
    // Closed all the same: the engine is down, and a second close is a no-op.
    await expect(system.engine.copy(0, 0, 0)).rejects.toMatchObject({ code: 'ERR_ENGINE_CLOSED' });
    await system.close();
  });
});
