import { afterAll, describe, expect, it } from 'vitest';
import { DMA_ATTR_SKIP_CPU_SYNC, DmaDirection, DmaSystem, MAP_COPY_BATCH, type MappedSegment, type Region } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const rng = testRng('dma-sg');
const system = DmaSystem.create({ swiotlb: { size: '4MiB' }, engine: { workers: 2, inlineBelow: 4096 } });
afterAll(() => system.close());
const GPU = '0000:03:00.0';
const NVME_FAR = '0000:81:00.0';
const NVME_NEAR = '0000:04:00.0';
const gpuBar = system.barMemory(GPU, 1);
const [ramLow, ramHigh] = system.ram as [Region, Region];

describe('randomised scatter-gather lists', () => {
  it('mixed RAM and BAR segments, random directions and devices, match the reference byte for byte', async () => {
    for (let round = 0; round < 40; round++) {
      const client = rng.pick([NVME_FAR, NVME_NEAR, '0000:05:00.0']);
      const device = system.device(client, { p2pPolicy: 'bounce', dmaBits: rng.pick([32, 64]), minAlignMask: rng.pick([0, 0xfff]) });
      const direction = rng.pick([DmaDirection.TO_DEVICE, DmaDirection.FROM_DEVICE, DmaDirection.BIDIRECTIONAL]);
      const buffers = Array.from({ length: rng.int(1, 12) }, () => new GuardedBuffer(rng.pick([ramLow, ramHigh, gpuBar, gpuBar]), rng, rng.int(1, 12000), rng.int(0, 100)));
      try {
        const sg = await device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), direction);
        expect(sg.nents).toBe(buffers.length);
        expect(sg.segments.map((s) => s.length)).toEqual(buffers.map((b) => b.length));
        for (const [i, segment] of sg.segments.entries()) {
          const buffer = buffers[i]!;
          if (segment.kind === 'bounced' && device.minAlignMask) expect(segment.dmaAddress & 0xfff).toBe(buffer.phys & 0xfff);
          if (direction !== DmaDirection.FROM_DEVICE) expect(Buffer.compare(device.dma.read(segment.dmaAddress, segment.length), buffer.bytes())).toBe(0);
          if (direction !== DmaDirection.TO_DEVICE && rng.next() < 0.8) {
            const from = rng.int(0, segment.length - 1);
            const data = rng.fill(new Uint8Array(rng.int(1, segment.length - from)));
            device.dma.write(segment.dmaAddress + from, data);
            buffer.wrote(from, data);
          }
        }
        await device.unmapSg(sg, direction);
        for (const b of buffers) b.check(`round ${round}`);
        expect(system.swiotlb.stats().usedSlots).toBe(0);
      } finally {
        for (const b of buffers) b.free();
      }
    }
  });
});

describe('failures midway through a list', () => {
  it('a NOT_SUPPORTED segment under policy reject fails the whole list, leaving nothing mapped', async () => {
    const device = system.device(NVME_FAR, { p2pPolicy: 'reject', dmaBits: 32 });
    const buffers = [new GuardedBuffer(ramHigh, rng, 5000), new GuardedBuffer(ramLow, rng, 300), new GuardedBuffer(gpuBar, rng, 4096), new GuardedBuffer(ramHigh, rng, 100)];
    try {
      await expect(device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.BIDIRECTIONAL)).rejects.toMatchObject({
        code: 'ERR_DMA_P2P_NOT_SUPPORTED',
        errno: 'EREMOTEIO',
        provider: GPU,
      });
      expect(system.swiotlb.stats().usedSlots).toBe(0);
      expect(device.bounceMappings()).toBe(0);
      for (const b of buffers) b.check();
    } finally {
      for (const b of buffers) b.free();
    }
  });

  it('a full pool at segment k releases the k slots already taken', async () => {
    const small = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 } });
    try {
      const device = small.device(NVME_FAR, { forceBounce: true });
      const buffers = Array.from({ length: 6 }, () => new GuardedBuffer(small.ram[0]!, rng, 200 * 1024));
      await expect(device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_SWIOTLB_FULL' });
      expect(small.swiotlb.stats().usedSlots).toBe(0);
      // And the pool works again.
      const sg = await device.mapSg(buffers.slice(0, 4).map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.TO_DEVICE);
      expect(small.swiotlb.stats().usedSlots).toBeGreaterThan(0);
      await device.unmapSg(sg, DmaDirection.TO_DEVICE);
      expect(small.swiotlb.stats().usedSlots).toBe(0);
      for (const b of buffers) b.check();
    } finally {
      await small.close();
    }
  });
});

describe('pool exhaustion and recovery', () => {
  it('fails with the kernel message when full, succeeds again after an unmap, and waits when asked', async () => {
    const small = DmaSystem.create({ swiotlb: { size: '512KiB' }, engine: { workers: 1 } });
    try {
      const failing = small.device(NVME_FAR, { forceBounce: true });
      const waiting = small.device(NVME_NEAR, { forceBounce: true, waitForSpace: 5000 });
      const buffer = new GuardedBuffer(small.ram[0]!, rng, 128 * 1024);
      const held: MappedSegment[] = [];
      for (let i = 0; i < 4; i++) held.push(await failing.mapSingle(buffer.phys, 128 * 1024, DmaDirection.TO_DEVICE));
      const err = await failing.mapSingle(buffer.phys, 128 * 1024, DmaDirection.TO_DEVICE).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_SWIOTLB_FULL' });
      expect((err as Error).message).toMatch(/swiotlb buffer is full \(sz: 131072 bytes\), total 256 \(slots\), used 256 \(slots\)/);
      const waited = waiting.mapSingle(buffer.phys, 128 * 1024, DmaDirection.TO_DEVICE);
      await new Promise((r) => setTimeout(r, 20));
      await failing.unmapSingle(held[0]!.dmaAddress, 128 * 1024, DmaDirection.TO_DEVICE);
      const got = await waited;
      expect(got.kind).toBe('bounced');
      for (const m of held.slice(1)) await failing.unmapSingle(m.dmaAddress, 128 * 1024, DmaDirection.TO_DEVICE);
      await waiting.unmapSingle(got.dmaAddress, 128 * 1024, DmaDirection.TO_DEVICE);
      expect(small.swiotlb.stats()).toMatchObject({ usedSlots: 0 });
      expect(small.swiotlb.stats().highWaterSlots).toBe(256);
      buffer.check();
    } finally {
      await small.close();
    }
  });
});

describe('sync and SKIP_CPU_SYNC', () => {
  it('syncs copy only in the directions the kernel copies, and may name part of a mapping', async () => {
    const device = system.device(NVME_NEAR, { forceBounce: true });
    const buffer = new GuardedBuffer(ramLow, rng, 8192);
    try {
      const m = await device.mapSingle(buffer.phys, 8192, DmaDirection.BIDIRECTIONAL);
      // Device writes; syncing part of it for the CPU brings exactly that part back.
      const data = rng.fill(new Uint8Array(8192));
      device.dma.write(m.dmaAddress, data);
      await device.syncSingleForCpu(m.dmaAddress + 1000, 500, DmaDirection.BIDIRECTIONAL);
      buffer.wrote(1000, data.subarray(1000, 1500));
      buffer.check('after syncSingleForCpu');
      // CPU changes the buffer; syncing for the device pushes it into the slot.
      const cpu = rng.fill(new Uint8Array(100));
      buffer.area.set(cpu, 256 + 4000);
      buffer.wrote(4000, cpu);
      await device.syncSingleForDevice(m.dmaAddress + 4000, 100, DmaDirection.BIDIRECTIONAL);
      expect(Buffer.compare(device.dma.read(m.dmaAddress + 4000, 100), cpu)).toBe(0);
      // SKIP_CPU_SYNC: unmap copies nothing back.
      device.dma.write(m.dmaAddress, rng.fill(new Uint8Array(8192)));
      await device.unmapSingle(m.dmaAddress, 8192, DmaDirection.BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
      buffer.check('after unmap with SKIP_CPU_SYNC');

      const t = await device.mapSingle(buffer.phys, 8192, DmaDirection.TO_DEVICE);
      device.dma.write(t.dmaAddress, rng.fill(new Uint8Array(8192)));
      await device.syncSingleForCpu(t.dmaAddress, 8192, DmaDirection.TO_DEVICE); // copies nothing
      await device.unmapSingle(t.dmaAddress, 8192, DmaDirection.TO_DEVICE); // copies nothing
      buffer.check('TO_DEVICE never copies back');
    } finally {
      buffer.free();
    }
  });

  it('FROM_DEVICE: stale bounce data never reaches the original on a partial device write', async () => {
    const device = system.device(NVME_NEAR, { forceBounce: true });
    const a = new GuardedBuffer(ramLow, rng, 4096);
    const b = new GuardedBuffer(ramLow, rng, 4096);
    try {
      // Leave a's bytes in the slot, then map b FROM_DEVICE into (very likely) the same slot.
      const first = await device.mapSingle(a.phys, 4096, DmaDirection.TO_DEVICE);
      await device.unmapSingle(first.dmaAddress, 4096, DmaDirection.TO_DEVICE);
      const m = await device.mapSingle(b.phys, 4096, DmaDirection.FROM_DEVICE);
      const data = rng.fill(new Uint8Array(100));
      device.dma.write(m.dmaAddress + 50, data);
      await device.unmapSingle(m.dmaAddress, 4096, DmaDirection.FROM_DEVICE);
      b.wrote(50, data);
      b.check();
      a.check();
    } finally {
      a.free();
      b.free();
    }
  });
});

describe('segment boundary', () => {
  it('bounce slots never cross the device segment boundary (swiotlb_find_slots honours it)', async () => {
    const device = system.device(NVME_NEAR, { forceBounce: true, segmentBoundaryMask: 0xffff });
    const buffers = Array.from({ length: 24 }, () => new GuardedBuffer(ramLow, rng, 12 * 1024));
    try {
      const sg = await device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.TO_DEVICE);
      for (const s of sg.segments) expect(Math.floor(s.dmaAddress / 0x10000)).toBe(Math.floor((s.dmaAddress + s.length - 1) / 0x10000));
      await device.unmapSg(sg, DmaDirection.TO_DEVICE);
      for (const b of buffers) b.check();
    } finally {
      for (const b of buffers) b.free();
    }
  });
});

describe('min_align_mask', () => {
  it.each([0x234, 0x1, 0xfff, 0])('keeps the low 12 bits (offset 0x%s) of the original in the bounce address', async (offset) => {
    const device = system.device(NVME_NEAR, { forceBounce: true, minAlignMask: 0xfff });
    const buffer = new GuardedBuffer(ramLow, rng, 6000, (offset - 256 + 4096) % 4096);
    try {
      expect(buffer.phys & 0xfff).toBe(offset);
      const m = await device.mapSingle(buffer.phys, 6000, DmaDirection.TO_DEVICE);
      expect(m.dmaAddress & 0xfff).toBe(offset);
      expect(Buffer.compare(device.dma.read(m.dmaAddress, 6000), buffer.bytes())).toBe(0);
      await device.unmapSingle(m.dmaAddress, 6000, DmaDirection.TO_DEVICE);
      buffer.check();
    } finally {
      buffer.free();
    }
  });
});

describe('simulated device faults', () => {
  it('refuses addresses the device cannot reach', async () => {
    const far = system.device(NVME_FAR);
    const near = system.device(NVME_NEAR);
    const narrow = system.device(NVME_NEAR, { dmaBits: 32 });
    const bar = gpuBar.allocate(4096);
    const high = ramHigh.allocate(4096);
    const bus = (await near.mapSingle(bar.phys, 16, DmaDirection.TO_DEVICE)).dmaAddress;
    expect(bus).not.toBe(bar.phys);
    expect(near.dma.resolve(bus, 16).via).toBe('bus-address');
    const fault = { code: 'ERR_DEVICE_FAULT' };
    expect(() => far.dma.read(bar.phys, 16)).toThrow(expect.objectContaining(fault)); // CPU address, host bridge refuses
    expect(() => far.dma.read(bus, 16)).toThrow(expect.objectContaining(fault)); // bus address, route not BUS_ADDR
    expect(() => narrow.dma.read(high.phys, 16)).toThrow(expect.objectContaining(fault)); // beyond 32 bits
    expect(() => near.dma.read(0x0400_0000, 16)).toThrow(expect.objectContaining(fault)); // a swiotlb slot not mapped for it
    expect(() => near.dma.read(0x7000_0000, 16)).toThrow(expect.objectContaining(fault)); // nothing there
    expect(near.dma.read(high.phys, 16)).toHaveLength(16);
    gpuBar.free(bar);
    ramHigh.free(high);
  });
});

describe('a bus address beyond the device mask', () => {
  it('mainline hands it out and the device faults; the bounce policy bounces it', async () => {
    const span = gpuBar.allocate(4096);
    try {
      const mainline = system.device(NVME_NEAR, { dmaBits: 32, p2pPolicy: 'reject' });
      const m = await mainline.mapSingle(span.phys, 4096, DmaDirection.TO_DEVICE);
      expect(m.kind).toBe('bus-address');
      expect(() => mainline.dma.read(m.dmaAddress, 16)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
      await mainline.unmapSingle(m.dmaAddress, 4096, DmaDirection.TO_DEVICE);
      const bouncing = system.device(NVME_NEAR, { dmaBits: 32, p2pPolicy: 'bounce' });
      const b = await bouncing.mapSingle(span.phys, 4096, DmaDirection.TO_DEVICE);
      expect([b.kind, b.reason]).toEqual(['bounced', 'dma-mask']);
      expect(Buffer.compare(bouncing.dma.read(b.dmaAddress, 4096), gpuBar.view(span))).toBe(0);
      await bouncing.unmapSingle(b.dmaAddress, 4096, DmaDirection.TO_DEVICE);
    } finally {
      gpuBar.free(span);
    }
  });
});

describe('bad input', () => {
  it('gets coded errors and changes nothing', async () => {
    const device = system.device(NVME_NEAR, { forceBounce: true });
    const buffer = new GuardedBuffer(ramLow, rng, 4096);
    try {
      const cases: [() => Promise<unknown>, string][] = [
        [() => device.mapSingle(buffer.phys, 4096, 3 as never), 'ERR_INVALID_ARGUMENT'],
        [() => device.mapSingle(buffer.phys, 4096, 1, 1 << 3), 'ERR_INVALID_ARGUMENT'],
        [() => device.mapSingle(buffer.phys, 0, 1), 'ERR_INVALID_ARGUMENT'],
        [() => device.mapSingle(-5, 10, 1), 'ERR_INVALID_ARGUMENT'],
        [() => device.mapSingle(Number.NaN, 10, 1), 'ERR_INVALID_ARGUMENT'],
        [() => device.mapSingle(0x7000_0000, 10, 1), 'ERR_BAD_ADDRESS'],
        [() => device.mapSingle(ramLow.physEnd - 10, 20, 1), 'ERR_BAD_ADDRESS'],
        [() => device.mapSingle(0x0400_0000, 10, 1), 'ERR_BAD_ADDRESS'],
        [() => device.mapSg([], 1), 'ERR_INVALID_ARGUMENT'],
        [() => device.mapSg([{ phys: buffer.phys }] as never, 1), 'ERR_INVALID_ARGUMENT'],
        [() => device.unmapSingle(0x0400_0000, 4096, 1), 'ERR_INVALID_ARGUMENT'],
        [() => device.unmapSg({} as never, 1), 'ERR_INVALID_ARGUMENT'],
      ];
      for (const [call, code] of cases) await expect(call()).rejects.toMatchObject({ code });
      expect(system.swiotlb.stats().usedSlots).toBe(0);
      const m = await device.mapSingle(buffer.phys, 4096, DmaDirection.FROM_DEVICE);
      await expect(device.unmapSingle(m.dmaAddress, 4000, DmaDirection.FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      const other = system.device(NVME_FAR);
      await expect(other.unmapSingle(m.dmaAddress, 4096, DmaDirection.FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await device.unmapSingle(m.dmaAddress, 4096, DmaDirection.FROM_DEVICE);
      await expect(device.unmapSingle(m.dmaAddress, 4096, DmaDirection.FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      expect(system.swiotlb.stats().usedSlots).toBe(0);
      expect(() => system.device('0000:99:00.0')).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_DEVICE' }));
      expect(() => system.device('0000:01:00.0')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      expect(() => system.device(NVME_NEAR, { dmaBits: 12 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      expect(() => system.device(NVME_NEAR, { minAlignMask: 0x1000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      expect(() => system.device(NVME_NEAR, { p2pPolicy: 'copy' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      buffer.check();
    } finally {
      buffer.free();
    }
  });
});

describe('copy-in pipelined with slot allocation', () => {
  const batch = MAP_COPY_BATCH;
  // A list pipelines when its bounced bytes reach the engine's splitAbove (2 MiB by default).
  const pipelined = DmaSystem.create({ swiotlb: { size: '4MiB' }, engine: { workers: 2, inlineBelow: 4096, splitAbove: '64KiB' } });
  afterAll(() => pipelined.close());

  function longList(on: DmaSystem) {
    const [low, high] = on.ram as [Region, Region];
    return Array.from({ length: 48 }, () => new GuardedBuffer(rng.pick([low, high]), rng, rng.int(1, 8192), rng.int(0, 64)));
  }

  it('a long bounced list is copied batch by batch through a worker, every slot holding its original', async () => {
    const device = pipelined.device(NVME_NEAR, { forceBounce: true });
    const buffers = longList(pipelined);
    const total = buffers.reduce((n, b) => n + b.length, 0);
    const before = pipelined.engine.stats().submitted;
    try {
      const sg = await device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.TO_DEVICE);
      // Every full batch but the last went to a worker while later slots were taken.
      expect(pipelined.engine.stats().submitted - before).toBeGreaterThanOrEqual(Math.floor(total / batch) - 1);
      for (const [i, segment] of sg.segments.entries()) {
        expect(segment.kind).toBe('bounced');
        expect(Buffer.compare(device.dma.read(segment.dmaAddress, segment.length), buffers[i]!.bytes()), `segment ${i}`).toBe(0);
      }
      await device.unmapSg(sg, DmaDirection.TO_DEVICE);
      for (const b of buffers) b.check();
      expect(pipelined.swiotlb.stats().usedSlots).toBe(0);
    } finally {
      for (const b of buffers) b.free();
    }
  });

  it('the same list below splitAbove is copied in the caller\'s thread in one op, no worker involved', async () => {
    const device = system.device(NVME_NEAR, { forceBounce: true });
    const buffers = longList(system);
    const total = buffers.reduce((n, b) => n + b.length, 0);
    expect(total).toBeGreaterThan(2 * batch);
    expect(total).toBeLessThan(system.engine.splitAbove);
    const before = system.engine.stats();
    try {
      const sg = await device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.TO_DEVICE);
      const after = system.engine.stats();
      expect([after.submitted - before.submitted, after.inline - before.inline]).toEqual([0, 1]);
      for (const [i, segment] of sg.segments.entries()) {
        expect(Buffer.compare(device.dma.read(segment.dmaAddress, segment.length), buffers[i]!.bytes()), `segment ${i}`).toBe(0);
      }
      await device.unmapSg(sg, DmaDirection.TO_DEVICE);
      for (const b of buffers) b.check();
      expect(system.swiotlb.stats().usedSlots).toBe(0);
    } finally {
      for (const b of buffers) b.free();
    }
  });

  it('a pool that fills after batches went to the worker frees every slot and leaves nothing behind', async () => {
    const small = DmaSystem.create({ swiotlb: { size: '256KiB' }, engine: { workers: 1, splitAbove: '64KiB' } });
    try {
      const ram = small.ram[1]!;
      const device = small.device(NVME_NEAR, { forceBounce: true });
      // 128 slots hold 64 mappings of 4 KiB: the 65th fails, after every 64 KiB before it went to the worker.
      const buffers = Array.from({ length: 80 }, () => new GuardedBuffer(ram, rng, 4096));
      const scratch = small.fabric.scratch.stats().allocations;
      const before = small.engine.stats().submitted;
      try {
        await expect(device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_SWIOTLB_FULL' });
        expect(small.engine.stats().submitted - before).toBe((64 * 4096) / batch);
        expect(small.swiotlb.stats().usedSlots).toBe(0);
        expect(device.bounceMappings()).toBe(0);
        expect(small.fabric.scratch.stats().allocations).toBe(scratch);
        for (const b of buffers) b.check();
        // The pool works again at once.
        const sg = await device.mapSg(buffers.slice(0, 64).map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.TO_DEVICE);
        expect(small.swiotlb.stats().usedSlots).toBe(128);
        await device.unmapSg(sg, DmaDirection.TO_DEVICE);
      } finally {
        for (const b of buffers) b.free();
      }
    } finally {
      await small.close();
    }
  });
});
