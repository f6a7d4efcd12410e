// Concurrent map/unmap on one IOMMU domain in random interleavings (fast-check's scheduler): two
// DmaDevice handles of one function share the group's domain; lists mixing RAM and bounced BAR memory
// (so maps really wait for copies) are mapped, read by the device and unmapped while others run, and
// some unmaps are issued twice at once. Every live mapping keeps a range no other one overlaps, the
// device always reads its own bytes, a duplicate unmap is refused with a code, and at the end nothing is
// mapped, queued or held in swiotlb.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, type MappedSg } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const seedRng = testRng('iommu-concurrent');
const GPU = '0000:03:00.0';
const CLIENT = '0000:81:00.0';
const G = 4096;
const systems: DmaSystem[] = [];
afterAll(() => Promise.all(systems.map((s) => s.close())));

const taskArb = fc.record({
  entries: fc.array(fc.record({ bar: fc.boolean(), pages: fc.integer({ min: 1, max: 3 }), offset: fc.integer({ min: 0, max: 200 }) }), { minLength: 1, maxLength: 5 }),
  unmapTwice: fc.boolean(),
  handle: fc.integer({ min: 0, max: 1 }),
});

describe('concurrent map/unmap on one domain', () => {
  it(`random interleavings keep mappings disjoint and end clean (fast-check seed ${seedRng.seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(taskArb, { minLength: 2, maxLength: 6 }), fc.constantFrom('strict' as const, 'lazy' as const), async (s, tasks, mode) => {
        const system = DmaSystem.create({ iommu: { mode, clock: 'manual' }, engine: { workers: 1 }, swiotlb: { size: '2MiB' } });
        systems.push(system);
        try {
          const handles = [system.device(CLIENT, { p2pPolicy: 'bounce' }), system.device(CLIENT, { p2pPolicy: 'bounce' })];
          const domain = handles[0]!.iommuDomain!;
          expect(handles[1]!.iommuDomain).toBe(domain);
          const bar = system.barMemory(GPU, 1);
          const ram = system.ram[1]!;
          const checkDisjoint = () => {
            const ranges = [...domain.mappings.values()].map((m) => [m.pfn, m.pfn + m.pages] as const).sort((a, b) => a[0] - b[0]);
            for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]);
          };
          const refused: string[] = [];
          const run = async (task: (typeof tasks)[number], k: number) => {
            const device = handles[task.handle]!;
            const spans = task.entries.map((e) => {
              const region = e.bar ? bar : ram;
              const span = region.allocate(e.pages * G, G);
              region.view(span).fill(k * 16 + 1);
              return { span, phys: span.phys + e.offset, length: e.pages * G - e.offset };
            });
            await s.schedule(Promise.resolve(), `task ${k} map`);
            const sg: MappedSg = await device.mapSg(spans.map((x) => ({ phys: x.phys, length: x.length })), DmaDirection.TO_DEVICE);
            checkDisjoint();
            await s.schedule(Promise.resolve(), `task ${k} dma`);
            for (const seg of sg.segments) expect(device.dma.read(seg.dmaAddress, seg.length).every((b) => b === k * 16 + 1)).toBe(true);
            await s.schedule(Promise.resolve(), `task ${k} unmap`);
            const unmaps = [device.unmapSg(sg, DmaDirection.TO_DEVICE)];
            if (task.unmapTwice) unmaps.push(device.unmapSg(sg, DmaDirection.TO_DEVICE));
            const results = await Promise.allSettled(unmaps);
            expect(results[0]!.status).toBe('fulfilled');
            for (const r of results.slice(1)) {
              expect(r.status).toBe('rejected');
              refused.push((r as PromiseRejectedResult).reason.code);
            }
          };
          // The scheduler releases one waiting step at a time, in its random order; real copies
          // (engine workers) in between are waited for with a macrotask.
          let finished = false;
          const all = Promise.all(tasks.map((t, k) => run(t, k))).finally(() => { finished = true; });
          while (!finished) {
            if (s.count() > 0) await s.waitOne();
            else await new Promise((r) => setTimeout(r, 0));
          }
          await all;
          for (const code of refused) expect(['ERR_INVALID_ARGUMENT', 'ERR_MAPPING_STATE']).toContain(code);
          system.iommu!.flushQueues();
          expect(domain.mappings.size).toBe(0);
          expect(domain.table.mappedPages).toBe(0);
          expect(domain.flushQueue?.pending ?? 0).toBe(0);
          expect(system.swiotlb.stats().usedSlots).toBe(0);
        } finally {
          await system.close();
        }
      }),
      { numRuns: 40, seed: seedRng.seed | 0 },
    );
  });
});
