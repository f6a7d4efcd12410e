// Several drivers share one small swiotlb pool and never await each other: each maps, lets its
// device read and write, syncs, unmaps, and now and then misuses the API the way a racing driver
// would (a second unmap before the first settles, an unmap or sync of another device's mapping,
// a sync after the unmap began). fast-check's scheduler picks the interleaving of every step.
// Against a model of each buffer: no byte of one device's mapping reaches another buffer, every
// misuse gets its code and changes nothing, every promise settles, and the pool ends empty.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DMA_ATTR_SKIP_CPU_SYNC, DmaDirection, DmaSystem, type MappedSegment, type StreamingDirection } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { makeRng, testRng } from './support/random.js';

const seedRng = testRng('dma-concurrency');
const RUNS = Number(process.env.DMA_BOUNCE_PROPERTY_RUNS ?? 30);
const DEVICES = ['0000:04:00.0', '0000:05:00.0', '0000:81:00.0'];
const { TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL } = DmaDirection;

const jobArb = fc.record({
  length: fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 20_000, max: 70_000 })),
  misalign: fc.integer({ min: 0, max: 100 }),
  direction: fc.constantFrom(TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL) as fc.Arbitrary<StreamingDirection>,
  writes: fc.integer({ min: 0, max: 3 }),
  syncForCpu: fc.boolean(),
  skipCpuSync: fc.boolean(),
  // The misuse this job tries, if any.
  misuse: fc.constantFrom('none', 'none', 'double-unmap', 'foreign-unmap', 'foreign-sync', 'sync-after-unmap'),
  // Keep the mapping until the driver's last job is done (the pool fills up).
  keep: fc.boolean(),
});
const driverArb = fc.record({ device: fc.nat({ max: DEVICES.length - 1 }), jobs: fc.array(jobArb, { minLength: 1, maxLength: 5 }) });
const caseArb = fc.record({ seed: fc.integer(), drivers: fc.array(driverArb, { minLength: 2, maxLength: 4 }) });

// Codes a well-formed call may end with when the pool is contended.
const CONTENDED = new Set(['ERR_SWIOTLB_FULL']);

let interleavings = 0;
const seen = { full: 0, misuse: 0, jobs: 0 };
const systems = new Map<number, DmaSystem>();
function systemFor(inlineBelow: number): DmaSystem {
  let system = systems.get(inlineBelow);
  if (!system) {
    // One 128-slot segment: four drivers with jobs of up to 35 slots overfill it, so maps fail and slots are reused.
    system = DmaSystem.create({ swiotlb: { size: '256KiB' }, engine: { workers: 1, inlineBelow } });
    systems.set(inlineBelow, system);
  }
  return system;
}
afterAll(async () => {
  console.log(`[dma-concurrency] ${interleavings} interleavings tried: ${seen.jobs} jobs, ${seen.full} maps refused by a full pool, ${seen.misuse} misuses refused`);
  for (const system of systems.values()) await system.close();
});

async function settledCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    expect(typeof code, `an uncoded error: ${String(error)}`).toBe('string');
    return code as string;
  }
}

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

async function runCase(system: DmaSystem, s: fc.Scheduler, spec: Case): Promise<void> {
  const rng = makeRng(spec.seed);
  const ram = system.ram[0]!;
  const drivers = spec.drivers.map((d, i) => ({ ...d, index: i, dev: system.device(DEVICES[d.device]!, { forceBounce: true, cpu: i }) }));
  const buffers: GuardedBuffer[] = [];
  const step = (label: string) => s.schedule(Promise.resolve(label));

  const runDriver = async (driver: (typeof drivers)[number]): Promise<void> => {
    const { dev, index } = driver;
    const other = drivers[(index + 1) % drivers.length]!;
    const kept: (() => Promise<void>)[] = [];
    for (const job of driver.jobs) {
      await step(`d${index} map`);
      const buf = new GuardedBuffer(ram, rng, job.length, job.misalign);
      buffers.push(buf);
      let mapped: MappedSegment | undefined;
      const mapCode = await settledCode(dev.mapSingle(buf.phys, job.length, job.direction).then((m) => { mapped = m; }));
      seen.jobs++;
      if (mapCode !== undefined) {
        seen.full++;
        expect(CONTENDED.has(mapCode), `map failed with ${mapCode}`).toBe(true);
        continue;
      }
      const m = mapped!;
      // The device reads what the buffer held at map time (swiotlb copies in, whatever the direction).
      await step(`d${index} read`);
      expect(dev.dma.read(m.dmaAddress, job.length)).toEqual(buf.bytes());
      const writes = job.direction === TO_DEVICE ? 0 : job.writes;
      const slotExpect = buf.bytes();
      for (let w = 0; w < writes; w++) {
        await step(`d${index} write`);
        const at = rng.int(0, job.length - 1);
        const bytes = rng.fill(new Uint8Array(rng.int(1, job.length - at)));
        dev.dma.write(m.dmaAddress + at, bytes);
        slotExpect.set(bytes, at);
      }
      if (job.misuse === 'foreign-unmap' || job.misuse === 'foreign-sync') {
        await step(`d${index} misuse`);
        const call = job.misuse === 'foreign-unmap' ? other.dev.unmapSingle(m.dmaAddress, job.length, job.direction) : other.dev.syncSingleForCpu(m.dmaAddress, job.length, job.direction);
        // Another device's driver naming this mapping: refused (it is not that device's), nothing changes.
        expect(await settledCode(call)).toBe('ERR_INVALID_ARGUMENT');
      }
      if (job.syncForCpu && job.direction !== TO_DEVICE) {
        await step(`d${index} sync`);
        await dev.syncSingleForCpu(m.dmaAddress, job.length, job.direction);
        buf.wrote(0, slotExpect);
      }
      const finish = async (): Promise<void> => {
        await step(`d${index} unmap`);
        const attrs = job.skipCpuSync ? DMA_ATTR_SKIP_CPU_SYNC : 0;
        const unmap = dev.unmapSingle(m.dmaAddress, job.length, job.direction, attrs);
        if (job.misuse !== 'none') seen.misuse++;
        if (job.misuse === 'double-unmap') expect(await settledCode(dev.unmapSingle(m.dmaAddress, job.length, job.direction))).toBe('ERR_MAPPING_STATE');
        if (job.misuse === 'sync-after-unmap') expect(await settledCode(dev.syncSingleForDevice(m.dmaAddress, job.length, job.direction))).toBe('ERR_MAPPING_STATE');
        await step(`d${index} unmapped`);
        expect(await settledCode(unmap)).toBeUndefined();
        if (job.direction !== TO_DEVICE && !job.skipCpuSync) buf.wrote(0, slotExpect);
        buf.check(`driver ${index} job`);
      };
      if (job.keep) kept.push(finish);
      else await finish();
    }
    for (const finish of kept) await finish();
  };

  const all = Promise.allSettled(drivers.map(runDriver));
  await s.waitFor(all);
  for (const outcome of await all) if (outcome.status === 'rejected') throw outcome.reason;
  for (const buf of buffers) buf.check('at the end');
  for (const buf of buffers) buf.free();
  for (const d of drivers) expect(d.dev.bounceMappings()).toBe(0);
  expect(system.swiotlb.stats()).toMatchObject({ usedSlots: 0, mappings: 0, waiters: 0 });
  for (const d of drivers) d.dev.release();
}

describe('drivers racing on one pool', () => {
  for (const inlineBelow of [65536, 0]) {
    it(`every interleaving keeps each device's bytes its own (copies ${inlineBelow === 0 ? 'on a worker' : 'inline when short'})`, async () => {
      const seed = seedRng.int(0, 2 ** 31 - 1);
      console.log(`[dma-concurrency] fast-check seed ${seed}, ${RUNS} runs, inlineBelow ${inlineBelow}`);
      const system = systemFor(inlineBelow);
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), caseArb, async (s, spec) => {
          interleavings++;
          await runCase(system, s, spec);
        }),
        { seed, numRuns: RUNS },
      );
    }, 120_000);
  }
});
