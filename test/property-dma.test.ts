// Property: on a random topology, a random scatter-gather list mixing host RAM and p2pmem BARs, mapped for
// a random device (mask, forced bounce, min_align_mask, P2P policy) in a random direction, then read and
// written by the simulated device, synced and unmapped, leaves memory exactly as the reference model says:
// every segment gets the kind the reference predicts (or the call fails with the predicted code and
// changes nothing), the device reads the original bytes, its writes land (or do not, with SKIP_CPU_SYNC),
// guard bytes never change, and the swiotlb pool, the bounce records and the scratch area are back to zero.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DMA_ATTR_SKIP_CPU_SYNC,
  DmaDirection,
  DmaSystem,
  buildTopology,
  type MappedSg,
  type PciBar,
  type Region,
  type StreamingDirection,
} from '../dist/src/index.js';
import { FuzzRng, randomTopologySpec } from '../dist/bench/reliability/fuzz-topology.js';
import { classifyList, type RefOutcome } from './support/dma-reference.js';
import { GuardedBuffer } from './support/dma.js';
import { makeRng, testRng } from './support/random.js';

const seedRng = testRng('property-dma');
const NUM_RUNS = Number(process.env.DMA_BOUNCE_PROPERTY_RUNS ?? 50);
const POOL = { base: 0x0400_0000, size: 4 * 2 ** 20 };

const entryArb = fc.record({
  mem: fc.nat(),
  length: fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 4096 }), weight: 4 },
    { arbitrary: fc.integer({ min: 4097, max: 70_000 }), weight: 3 },
    { arbitrary: fc.integer({ min: 250_000, max: 300_000 }), weight: 1 },
  ),
  misalign: fc.integer({ min: 0, max: 300 }),
  write: fc.option(fc.record({ from: fc.double({ min: 0, max: 1, noNaN: true }), span: fc.double({ min: 0, max: 1, noNaN: true }) }), { freq: 3 }),
});

const opArb = fc.record({
  client: fc.nat(),
  dmaBits: fc.constantFrom(24, 32, 36, 40, 64, 64),
  forceBounce: fc.boolean(),
  minAlignMask: fc.constantFrom(0, 0, 0x3, 0xfff),
  policy: fc.constantFrom('reject' as const, 'bounce' as const),
  direction: fc.constantFrom(DmaDirection.TO_DEVICE, DmaDirection.FROM_DEVICE, DmaDirection.BIDIRECTIONAL) as fc.Arbitrary<StreamingDirection>,
  skipCpuSync: fc.boolean(),
  syncForCpu: fc.boolean(),
  duplicateForRead: fc.boolean(),
  cpu: fc.integer({ min: 0, max: 7 }),
  entries: fc.array(entryArb, { minLength: 1, maxLength: 6 }),
});

const caseArb = fc.record({
  topologySeed: fc.integer({ min: 0, max: 2 ** 31 }),
  inlineBelow: fc.constantFrom(0, 4096, 65536),
  ops: fc.array(opArb, { minLength: 1, maxLength: 6 }),
});

type Infer<A> = A extends fc.Arbitrary<infer T> ? T : never;
type Case = Infer<typeof caseArb>;
type Op = Infer<typeof opArb>;

const systems: DmaSystem[] = [];
afterAll(async () => {
  await Promise.all(systems.map((s) => s.close()));
});

let segmentsChecked = 0;
const kindsSeen = new Map<string, number>();

async function runCase(c: Case): Promise<void> {
  const spec = randomTopologySpec(new FuzzRng(c.topologySeed), { maxDevices: 12 });
  const topology = buildTopology(spec);
  const endpoints = topology.endpoints();
  if (endpoints.length === 0) return;
  const system = DmaSystem.create({
    topology,
    ram: [
      { name: 'ram-low', phys: 0x1000_0000, size: '16MiB' },
      { name: 'ram-high', phys: 0x1_0000_0000, size: '16MiB' },
    ],
    swiotlb: { size: POOL.size, phys: POOL.base },
    barBacking: '2MiB',
    engine: { workers: 1, inlineBelow: c.inlineBelow },
  });
  systems.push(system);
  try {
    const memories: { region: Region; bar: PciBar | undefined }[] = [
      ...system.ram.map((region) => ({ region, bar: undefined })),
      ...topology.providers().map((p) => ({ region: system.barMemory(p.bar.device.bdf, p.bar.index), bar: p.bar })),
    ];
    const scratchBefore = system.fabric.scratch.stats().allocations;
    const rng = makeRng(c.topologySeed ^ 0x9e3779b9);
    for (const op of c.ops) await runOp(system, endpoints[op.client % endpoints.length]!.bdf, memories, op, rng);
    expect(system.swiotlb.stats()).toMatchObject({ usedSlots: 0, mappings: 0, waiters: 0 });
    expect(system.fabric.scratch.stats().allocations).toBe(scratchBefore);
    for (const m of memories) expect(m.region.stats().allocations).toBe(0);
  } finally {
    systems.splice(systems.indexOf(system), 1);
    await system.close();
  }
}

async function runOp(system: DmaSystem, bdf: string, memories: { region: Region; bar: PciBar | undefined }[], op: Op, rng: ReturnType<typeof makeRng>): Promise<void> {
  const device = system.device(bdf, { dmaBits: op.dmaBits, forceBounce: op.forceBounce, minAlignMask: op.minAlignMask, p2pPolicy: op.policy, cpu: op.cpu });
  const buffers: { buffer: GuardedBuffer; bar: PciBar | undefined; write: Op['entries'][number]['write'] }[] = [];
  try {
    for (const e of op.entries) {
      let memory = memories[e.mem % memories.length]!;
      let length = memory.bar ? Math.min(e.length, 65536) : e.length;
      let buffer: GuardedBuffer;
      try {
        buffer = new GuardedBuffer(memory.region, rng, length, e.misalign);
      } catch (err) {
        // A small BAR is full: host RAM instead (every list still mixes kinds through the other entries).
        expect(err).toMatchObject({ code: 'ERR_ALLOC_EXHAUSTED' });
        memory = memories[1]!;
        length = e.length;
        buffer = new GuardedBuffer(memory.region, rng, length, e.misalign);
      }
      buffers.push({ buffer, bar: memory.bar, write: e.write });
    }
    // The device only reads in TO_DEVICE: the same memory may then appear twice in one list.
    if (op.direction === DmaDirection.TO_DEVICE && op.duplicateForRead) buffers.push({ ...buffers[0]!, write: null });
    const list = buffers.map((b) => ({ phys: b.buffer.phys, length: b.buffer.length, bar: b.bar }));
    const reference = classifyList({ pci: device.pci, dmaBits: op.dmaBits, forceBounce: op.forceBounce, minAlignMask: op.minAlignMask, policy: op.policy }, list, { base: POOL.base, end: POOL.base + POOL.size });
    const attrs = op.skipCpuSync ? DMA_ATTR_SKIP_CPU_SYNC : 0;

    if (reference.error) {
      await expect(device.mapSg(list, op.direction, attrs)).rejects.toMatchObject({ code: reference.error });
      expect(system.swiotlb.stats().usedSlots).toBe(0);
      expect(device.bounceMappings()).toBe(0);
      for (const b of buffers) b.buffer.check(`after a failed map (${reference.error})`);
      kindsSeen.set(reference.error, (kindsSeen.get(reference.error) ?? 0) + 1);
      return;
    }

    const sg: MappedSg = await device.mapSg(list, op.direction, attrs);
    expect(sg.nents).toBe(list.length);
    const pendingBounced: { buffer: GuardedBuffer; offset: number; data: Uint8Array }[] = [];
    for (const [i, segment] of sg.segments.entries()) {
      const want = reference.outcomes[i]! as Exclude<RefOutcome, { kind: 'error' }>;
      const { buffer, write } = buffers[i]!;
      expect(segment.kind).toBe(want.kind);
      expect(segment.length).toBe(buffer.length);
      kindsSeen.set(segment.kind, (kindsSeen.get(segment.kind) ?? 0) + 1);
      segmentsChecked++;
      if (want.kind === 'bounced') {
        expect(segment.reason).toBe(want.reason);
        if (op.minAlignMask) expect(segment.dmaAddress & op.minAlignMask).toBe(buffer.phys & op.minAlignMask);
      } else {
        expect(segment.dmaAddress).toBe(want.dma);
      }
      if (want.kind === 'bus-address' && !want.capable) {
        // Mainline hands out a bus address the device cannot drive: its DMA faults, nothing is touched.
        expect(() => device.dma.read(segment.dmaAddress, segment.length)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
        continue;
      }
      // In every direction the device sees the original bytes (swiotlb copies in at map time).
      expect(Buffer.compare(device.dma.read(segment.dmaAddress, segment.length), buffer.bytes()), `segment ${i} (${segment.kind}) read`).toBe(0);
      if (op.direction !== DmaDirection.TO_DEVICE && write) {
        const from = Math.min(buffer.length - 1, Math.floor(write.from * buffer.length));
        const len = Math.max(1, Math.floor(write.span * (buffer.length - from)));
        const data = rng.fill(new Uint8Array(len));
        device.dma.write(segment.dmaAddress + from, data);
        if (segment.kind === 'bounced') pendingBounced.push({ buffer, offset: from, data });
        else buffer.wrote(from, data);
      }
    }
    if (op.syncForCpu) {
      await device.syncSgForCpu(sg, op.direction);
      for (const p of pendingBounced.splice(0)) p.buffer.wrote(p.offset, p.data);
    }
    await device.unmapSg(sg, op.direction, attrs);
    if (!op.skipCpuSync) for (const p of pendingBounced) p.buffer.wrote(p.offset, p.data);
    for (const [i, b] of buffers.entries()) b.buffer.check(`segment ${i} after unmap`);
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    expect(device.bounceMappings()).toBe(0);
    for (const segment of sg.segments) {
      if (segment.kind === 'bounced') expect(() => device.dma.read(segment.dmaAddress, 1)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
    }
  } finally {
    const freed = new Set<GuardedBuffer>();
    for (const b of buffers) if (!freed.has(b.buffer)) { freed.add(b.buffer); b.buffer.free(); }
  }
}

describe('map → device DMA → unmap on random topologies', () => {
  it(`matches the reference model (fast-check seed ${seedRng.seed}, ${NUM_RUNS} runs)`, async () => {
    await fc.assert(fc.asyncProperty(caseArb, runCase), { numRuns: NUM_RUNS, seed: seedRng.seed | 0, endOnFailure: true });
    console.log(`[property-dma] ${segmentsChecked} segments checked; outcomes ${JSON.stringify(Object.fromEntries(kindsSeen))}`);
    // The generators must reach every outcome, or the property proves less than it says.
    for (const kind of ['direct', 'bounced']) expect(kindsSeen.get(kind) ?? 0).toBeGreaterThan(0);
  });
});
