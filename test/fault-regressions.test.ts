// Regressions for the bugs the reliability work found, one behaviour each.
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, Fabric, SgTable, createWorkerPool, runBatch } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const rng = testRng('fault-regressions');
const MiB = 2 ** 20;

describe('runBatch when its worker dies', () => {
  it('rejects with ERR_WORKER_DIED (was: piscina\'s plain Error, no code)', async () => {
    const fabric = new Fabric({ size: '160MiB', scratch: '4MiB' });
    const region = fabric.addRegion({ name: 'ram', kind: 'ram', phys: 0x1_0000_0000, size: 128 * MiB });
    rng.fill(region.view({ offset: region.offset, length: region.size }));
    const pool = createWorkerPool(fabric, 1);
    try {
      // 1 GiB of copies (the same 64 MiB sixteen times): far longer than the terminate takes to land.
      const table = new SgTable(fabric, 65536);
      for (let i = 0; i < 65536; i++) table.push(region.offset + 64 * MiB + (i % 4096) * 16384, region.offset + (i % 4096) * 16384, 16384);
      const batch = runBatch(pool, { table: table.offset, count: table.count });
      await pool.threads[0]!.terminate();
      const err = await batch.then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_WORKER_DIED', name: 'WorkerDiedError' });
      expect((err as { cause?: unknown }).cause).toBeInstanceOf(Error);
    } finally {
      await pool.destroy();
    }
  });
});

describe('a bounce longer than swiotlb_max_mapping_size()', () => {
  const system = DmaSystem.create({ swiotlb: { size: '4MiB' }, engine: { workers: 1 } });
  afterAll(() => system.close());
  const SEGMENT = 256 * 1024;

  // GuardedBuffer puts the buffer 256 bytes into a page, so with min_align_mask 0xfff the slot keeps
  // that offset and the data can use 256 KiB - 256 bytes of the segment.
  it.each([
    [0, SEGMENT],
    [0xfff, SEGMENT - 256],
  ])('minAlignMask %i: up to %i bytes are placed as swiotlb_tbl_map_single() places them (beyond swiotlb_max_mapping_size()); one more is ERR_DMA_MAPPING (EIO), nothing mapped, no wait', async (minAlignMask, fits) => {
    const buffer = new GuardedBuffer(system.ram[0]!, rng, fits + 1);
    try {
      for (const waitForSpace of [false, 5000] as const) {
        const device = system.device('0000:04:00.0', { forceBounce: true, minAlignMask, waitForSpace });
        const started = Date.now();
        await expect(device.mapSingle(buffer.phys, fits + 1, DmaDirection.FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_DMA_MAPPING', errno: 'EIO', maxMappingSize: minAlignMask ? SEGMENT - 4096 : SEGMENT });
        expect(Date.now() - started).toBeLessThan(1000); // a waiting device does not wait for what can never fit
        expect(system.swiotlb.stats()).toMatchObject({ usedSlots: 0, waiters: 0 });
        // One byte less is placed, even above the limit drivers are told.
        const m = await device.mapSingle(buffer.phys, fits, DmaDirection.TO_DEVICE);
        expect(device.dma.read(m.dmaAddress, fits)).toEqual(buffer.bytes(0, fits));
        await device.unmapSingle(m.dmaAddress, fits, DmaDirection.TO_DEVICE);
      }
      buffer.check();
    } finally {
      buffer.free();
    }
  });
});

describe('an unmap whose copy-back loses its worker', () => {
  it('retries the copy: the device writes reach the original and the unmap resolves (was: ERR_WORKER_DIED and the bytes lost)', async () => {
    const system = DmaSystem.create({ swiotlb: { size: '32MiB' }, ram: [{ name: 'ram', phys: 0x1000_0000, size: '40MiB' }], engine: { workers: 1, inlineBelow: 0 } });
    const channel = system.engine.channels[0]!;
    try {
      const device = system.device('0000:04:00.0', { forceBounce: true });
      let landed = 0;
      for (let attempt = 0; attempt < 20 && landed < 2; attempt++) {
        const buffers = Array.from({ length: 96 }, () => new GuardedBuffer(system.ram[0]!, rng, 256 * 1024 - 4096));
        const sg = await device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.FROM_DEVICE);
        for (const [i, segment] of sg.segments.entries()) {
          const data = rng.fill(new Uint8Array(buffers[i]!.length));
          device.dma.write(segment.dmaAddress, data);
          buffers[i]!.wrote(0, data);
        }
        const errors = system.engine.stats().errors;
        const unmapping = device.unmapSg(sg, DmaDirection.FROM_DEVICE);
        await channel.killWorker();
        await expect(unmapping).resolves.toBeUndefined();
        if (system.engine.stats().errors > errors) landed++;
        for (const b of buffers) { b.check(`attempt ${attempt}`); b.free(); }
        expect(system.swiotlb.stats()).toMatchObject({ usedSlots: 0, mappings: 0 });
      }
      // The kill must have hit a copy in flight at least once, or this test proved nothing.
      expect(landed).toBeGreaterThan(0);
    } finally {
      await system.close();
    }
  });
});
