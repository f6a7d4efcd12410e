// Where a bounce copy runs when the caller would only wait for it: a map whose copy-in is one batch
// (however long) and an unmap's copy-back run in the caller's thread, as swiotlb_bounce() runs on
// the mapping CPU; an engine told to run every copy on its workers (inlineBelow 0) gets them. The
// bytes arrive either way, guard bytes untouched.
import { describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem } from '../dist/src/index.js';
import { MAP_COPY_BATCH } from '../dist/src/dma/direct.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const rng = testRng('dma-bounce-copy-placement');
const NVME = '0000:04:00.0';

describe('bounce copies the caller waits for', () => {
  for (const inlineBelow of ['64KiB', 0] as const) {
    it(`inlineBelow ${inlineBelow}: a lone batch and the copy-back ${inlineBelow === 0 ? 'go to a worker' : 'run in this thread'}; the bytes arrive`, async () => {
      const system = DmaSystem.create({ engine: { workers: 1, inlineBelow } });
      try {
        const device = system.device(NVME, { forceBounce: true });
        // One segment longer than inlineBelow and the map batch, and a list of three under one batch
        // (a list of at least the engine's splitAbove sends its first batches to a worker by design).
        const third = Math.floor((MAP_COPY_BATCH - 1) / 3);
        for (const lengths of [[rng.int(65 * 1024, 256 * 1024 - 4096)], [rng.int(1, third), rng.int(1, third), rng.int(1, third)]]) {
          const buffers = lengths.map((n) => new GuardedBuffer(system.ram[0]!, rng, n, rng.int(0, 63)));
          const before = system.engine.stats();
          const sg = await device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.BIDIRECTIONAL);
          sg.segments.forEach((s, i) => expect(device.dma.read(s.dmaAddress, s.length)).toEqual(buffers[i]!.bytes()));
          const mapped = system.engine.stats();
          for (const [i, s] of sg.segments.entries()) {
            const data = rng.fill(new Uint8Array(s.length));
            device.dma.write(s.dmaAddress, data);
            buffers[i]!.wrote(0, data);
          }
          await device.unmapSg(sg, DmaDirection.BIDIRECTIONAL);
          const unmapped = system.engine.stats();
          const onWorker = inlineBelow === 0; // by default a lone batch never goes to a worker
          expect(mapped.submitted - before.submitted, 'copy-in on a worker').toBe(onWorker ? 1 : 0);
          expect(unmapped.submitted - mapped.submitted, 'copy-back on a worker').toBe(onWorker ? 1 : 0);
          expect(unmapped.inline - before.inline).toBe(onWorker ? 0 : 2);
          for (const b of buffers) { b.check(); b.free(); }
        }
        expect(system.swiotlb.stats()).toMatchObject({ usedSlots: 0, mappings: 0 });
      } finally {
        await system.close();
      }
    });
  }
});
