// dma-debug: every check triggered by its misuse and silent for its legal neighbour, in both
// modes. Report mode: the call goes on as documented and the system keeps working. Throw mode:
// DmaDebugError with the report's fields, and nothing changed.
import { afterAll, describe, expect, it } from 'vitest';
import {
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_MAPPING_ERROR,
  DmaDebugCode,
  DmaDirection,
  DmaSystem,
  type DmaDebug,
  type DmaDevice,
  type DmaDeviceOptions,
  type MappedSegment,
  type MappedSg,
  type Span,
  type StreamingDirection,
} from '../dist/src/index.js';

const NVME = '0000:04:00.0';
const NIC = '0000:05:00.0';
const { TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL } = DmaDirection;

type Memory = 'direct' | 'bounced';

interface Rig {
  readonly system: DmaSystem;
  readonly debug: DmaDebug;
  readonly memory: Memory;
  /** The device under test and a second one, both bouncing everything in the 'bounced' variant. */
  readonly dev: DmaDevice;
  readonly other: DmaDevice;
  readonly spans: Span[];
  /** A fresh RAM buffer, page aligned. */
  buffer(length: number): Span;
  /** mapSingle + mappingError, as a careful driver does. */
  single(phys: number, length: number, direction: StreamingDirection, device?: DmaDevice): Promise<MappedSegment>;
}

interface State {
  m?: MappedSegment;
  sg?: MappedSg;
  /** A mapping the misuse made (map-time checks, report mode): unmapped by cleanup. */
  extra?: { device: DmaDevice; m?: MappedSegment; sg?: MappedSg; direction: StreamingDirection };
  phys?: number;
}

interface Case {
  readonly name: string;
  /** The reports the misuse makes, in order. */
  readonly codes: readonly DmaDebugCode[];
  readonly variants?: readonly Memory[];
  /** Whose call is misused (the report's device); default the device under test. */
  readonly culprit?: 'other';
  /** Options of the device under test. */
  readonly device?: DmaDeviceOptions;
  /** In report mode, the mapper's own error after the report, per variant; default: the call resolves. */
  readonly rejects?: Partial<Record<Memory, string>>;
  arrange(r: Rig): Promise<State>;
  misuse(r: Rig, s: State): Promise<unknown>;
  /** The legal call next to the misuse: no report. Runs on a fresh arrangement, which it must leave as it found it or clean up. */
  legal(r: Rig, s: State): Promise<unknown>;
  /** Legal teardown of what arrange (and a proceeding misuse) left mapped. */
  cleanup(r: Rig, s: State): Promise<void>;
}

const unmapM = async (r: Rig, s: State, direction: StreamingDirection) => { await r.dev.unmapSingle(s.m!.dmaAddress, s.m!.length, direction); };
const unmapSg = async (r: Rig, s: State, direction: StreamingDirection) => { await r.dev.unmapSg(s.sg!, direction); };
const cleanupExtra = async (s: State) => {
  const x = s.extra;
  if (!x) return;
  if (x.m) await x.device.unmapSingle(x.m.dmaAddress, x.m.length, x.direction);
  if (x.sg) await x.device.unmapSg(x.sg, x.direction);
};
const noState = async (): Promise<State> => ({});
const noop = async () => {};

const CASES: readonly Case[] = [
  {
    name: 'unmap of memory never mapped',
    codes: [DmaDebugCode.UNMAP_NOT_MAPPED],
    rejects: { bounced: 'ERR_INVALID_ARGUMENT' },
    arrange: async (r) => ({ phys: r.memory === 'direct' ? r.buffer(4096).phys : r.system.fabric.region('swiotlb').phys + 8192 }),
    misuse: (r, s) => r.dev.unmapSingle(s.phys!, 4096, TO_DEVICE),
    legal: async (r) => {
      const m = await r.single(r.buffer(4096).phys, 4096, TO_DEVICE);
      await r.dev.unmapSingle(m.dmaAddress, 4096, TO_DEVICE);
    },
    cleanup: noop,
  },
  {
    name: 'unmap of DMA_MAPPING_ERROR',
    codes: [DmaDebugCode.UNMAP_MAPPING_ERROR],
    variants: ['direct'],
    arrange: noState,
    misuse: (r) => r.dev.unmapSingle(DMA_MAPPING_ERROR, 4096, TO_DEVICE),
    legal: async (r) => {
      const m = await r.dev.mapSingle(r.buffer(4096).phys, 4096, TO_DEVICE);
      expect(r.dev.mappingError(m.dmaAddress)).toBe(false);
      expect(r.dev.mappingError(DMA_MAPPING_ERROR)).toBe(true);
      await r.dev.unmapSingle(m.dmaAddress, 4096, TO_DEVICE);
    },
    cleanup: noop,
  },
  {
    name: 'unmap by another device',
    codes: [DmaDebugCode.UNMAP_WRONG_DEVICE],
    culprit: 'other',
    rejects: { bounced: 'ERR_INVALID_ARGUMENT' },
    arrange: async (r) => ({ m: await r.single(r.buffer(4096).phys, 4096, FROM_DEVICE) }),
    misuse: (r, s) => r.other.unmapSingle(s.m!.dmaAddress, 4096, FROM_DEVICE),
    legal: (r, s) => unmapM(r, s, FROM_DEVICE),
    cleanup: (r, s) => unmapM(r, s, FROM_DEVICE),
  },
  {
    name: 'unmap with a different size',
    codes: [DmaDebugCode.UNMAP_SIZE],
    rejects: { bounced: 'ERR_INVALID_ARGUMENT' },
    arrange: async (r) => ({ m: await r.single(r.buffer(8192).phys, 8192, TO_DEVICE) }),
    misuse: (r, s) => r.dev.unmapSingle(s.m!.dmaAddress, 4096, TO_DEVICE),
    legal: (r, s) => unmapM(r, s, TO_DEVICE),
    cleanup: (r, s) => unmapM(r, s, TO_DEVICE),
  },
  {
    name: 'unmap with a different direction',
    codes: [DmaDebugCode.UNMAP_DIRECTION],
    arrange: async (r) => ({ m: await r.single(r.buffer(4096).phys, 4096, TO_DEVICE) }),
    misuse: (r, s) => r.dev.unmapSingle(s.m!.dmaAddress, 4096, BIDIRECTIONAL),
    legal: (r, s) => unmapM(r, s, TO_DEVICE),
    cleanup: (r, s) => unmapM(r, s, TO_DEVICE),
  },
  {
    name: 'unmapSingle of an sg mapping',
    codes: [DmaDebugCode.UNMAP_KIND],
    arrange: async (r) => ({ sg: await r.dev.mapSg([{ phys: r.buffer(4096).phys, length: 4096 }], FROM_DEVICE) }),
    misuse: (r, s) => r.dev.unmapSingle(s.sg!.segments[0]!.dmaAddress, 4096, FROM_DEVICE),
    legal: (r, s) => unmapSg(r, s, FROM_DEVICE),
    cleanup: (r, s) => unmapSg(r, s, FROM_DEVICE),
  },
  {
    name: 'unmapSg of a single mapping',
    codes: [DmaDebugCode.UNMAP_KIND],
    arrange: async (r) => ({ m: await r.single(r.buffer(4096).phys, 4096, FROM_DEVICE) }),
    misuse: (r, s) => r.dev.unmapSg({ direction: FROM_DEVICE, nents: 1, segments: [s.m!] }, FROM_DEVICE),
    legal: (r, s) => unmapM(r, s, FROM_DEVICE),
    cleanup: (r, s) => unmapM(r, s, FROM_DEVICE),
  },
  {
    name: 'unmapSg with a different entry count',
    codes: [DmaDebugCode.UNMAP_NENTS, DmaDebugCode.UNMAP_NENTS],
    arrange: async (r) => ({ sg: await r.dev.mapSg([{ phys: r.buffer(4096).phys, length: 4096 }, { phys: r.buffer(2048).phys, length: 2048 }], BIDIRECTIONAL) }),
    misuse: (r, s) => r.dev.unmapSg({ ...s.sg!, nents: 3 }, BIDIRECTIONAL),
    legal: (r, s) => unmapSg(r, s, BIDIRECTIONAL),
    cleanup: (r, s) => unmapSg(r, s, BIDIRECTIONAL),
  },
  {
    name: 'unmap of a single mapping never checked with mappingError()',
    codes: [DmaDebugCode.MAPPING_ERROR_UNCHECKED],
    arrange: async (r) => ({ m: await r.dev.mapSingle(r.buffer(4096).phys, 4096, TO_DEVICE) }),
    misuse: (r, s) => r.dev.unmapSingle(s.m!.dmaAddress, 4096, TO_DEVICE),
    legal: async (r, s) => {
      expect(r.dev.mappingError(s.m!.dmaAddress)).toBe(false);
      await unmapM(r, s, TO_DEVICE);
    },
    cleanup: async (r, s) => {
      r.dev.mappingError(s.m!.dmaAddress);
      await unmapM(r, s, TO_DEVICE);
    },
  },
  {
    name: 'sync of memory not mapped',
    codes: [DmaDebugCode.SYNC_NOT_MAPPED],
    culprit: 'other',
    rejects: { bounced: 'ERR_INVALID_ARGUMENT' },
    arrange: async (r) => ({ m: await r.single(r.buffer(4096).phys, 4096, FROM_DEVICE) }),
    // The other device holds no mapping there.
    misuse: (r, s) => r.other.syncSingleForCpu(s.m!.dmaAddress, 4096, FROM_DEVICE),
    legal: (r, s) => r.dev.syncSingleForCpu(s.m!.dmaAddress, 4096, FROM_DEVICE),
    cleanup: (r, s) => unmapM(r, s, FROM_DEVICE),
  },
  {
    name: 'sync past the end of the mapping',
    codes: [DmaDebugCode.SYNC_OUT_OF_RANGE],
    rejects: { bounced: 'ERR_INVALID_ARGUMENT' },
    arrange: async (r) => ({ m: await r.single(r.buffer(8192).phys, 4096, FROM_DEVICE) }),
    misuse: (r, s) => r.dev.syncSingleForCpu(s.m!.dmaAddress + 2048, 4096, FROM_DEVICE),
    legal: (r, s) => r.dev.syncSingleForCpu(s.m!.dmaAddress + 2048, 2048, FROM_DEVICE),
    cleanup: (r, s) => unmapM(r, s, FROM_DEVICE),
  },
  {
    name: 'sync with another direction',
    codes: [DmaDebugCode.SYNC_DIRECTION],
    arrange: async (r) => ({ m: await r.single(r.buffer(4096).phys, 4096, FROM_DEVICE) }),
    misuse: (r, s) => r.dev.syncSingleForCpu(s.m!.dmaAddress, 4096, BIDIRECTIONAL),
    legal: (r, s) => r.dev.syncSingleForCpu(s.m!.dmaAddress, 4096, FROM_DEVICE),
    cleanup: (r, s) => unmapM(r, s, FROM_DEVICE),
  },
  {
    name: 'a BIDIRECTIONAL mapping synced in another direction is legal; a TO_DEVICE one is not',
    codes: [DmaDebugCode.SYNC_DIRECTION],
    arrange: async (r) => ({ m: await r.single(r.buffer(4096).phys, 4096, TO_DEVICE), extra: { device: r.dev, m: await r.single(r.buffer(4096).phys, 4096, BIDIRECTIONAL), direction: BIDIRECTIONAL } }),
    misuse: (r, s) => r.dev.syncSingleForDevice(s.m!.dmaAddress, 4096, BIDIRECTIONAL),
    legal: async (r, s) => {
      await r.dev.syncSingleForDevice(s.extra!.m!.dmaAddress, 4096, TO_DEVICE);
      await r.dev.syncSingleForCpu(s.extra!.m!.dmaAddress, 4096, FROM_DEVICE);
    },
    cleanup: async (r, s) => { await unmapM(r, s, TO_DEVICE); await cleanupExtra(s); },
  },
  {
    name: 'sync of TO_DEVICE memory for the CPU',
    codes: [DmaDebugCode.SYNC_DIRECTION, DmaDebugCode.SYNC_TO_DEVICE_FOR_CPU],
    arrange: async (r) => ({ m: await r.single(r.buffer(4096).phys, 4096, TO_DEVICE) }),
    misuse: (r, s) => r.dev.syncSingleForCpu(s.m!.dmaAddress, 4096, FROM_DEVICE),
    legal: (r, s) => r.dev.syncSingleForCpu(s.m!.dmaAddress, 4096, TO_DEVICE),
    cleanup: (r, s) => unmapM(r, s, TO_DEVICE),
  },
  {
    name: 'sync of FROM_DEVICE memory for the device',
    codes: [DmaDebugCode.SYNC_DIRECTION, DmaDebugCode.SYNC_FROM_DEVICE_FOR_DEVICE],
    arrange: async (r) => ({ sg: await r.dev.mapSg([{ phys: r.buffer(4096).phys, length: 4096 }], FROM_DEVICE) }),
    misuse: (r, s) => r.dev.syncSgForDevice(s.sg!, TO_DEVICE),
    legal: (r, s) => r.dev.syncSgForDevice(s.sg!, FROM_DEVICE),
    cleanup: (r, s) => unmapSg(r, s, FROM_DEVICE),
  },
  {
    name: 'syncSg with a different entry count',
    codes: [DmaDebugCode.SYNC_NENTS],
    arrange: async (r) => ({ sg: await r.dev.mapSg([{ phys: r.buffer(4096).phys, length: 4096 }, { phys: r.buffer(4096).phys, length: 4096 }], FROM_DEVICE) }),
    // Half the list, nents left as mapped: the list's own length disagrees.
    misuse: (r, s) => r.dev.syncSgForCpu({ ...s.sg!, segments: s.sg!.segments.slice(1) }, FROM_DEVICE),
    legal: (r, s) => r.dev.syncSgForCpu(s.sg!, FROM_DEVICE),
    cleanup: (r, s) => unmapSg(r, s, FROM_DEVICE),
  },
  {
    name: 'sg segment longer than the max segment size',
    codes: [DmaDebugCode.SEGMENT_TOO_LONG],
    device: { maxSegmentSize: '4KiB' },
    arrange: noState,
    misuse: async (r, s) => { s.extra = { device: r.dev, sg: await r.dev.mapSg([{ phys: r.buffer(8192).phys, length: 8192 }], TO_DEVICE), direction: TO_DEVICE }; },
    legal: async (r) => {
      const phys = r.buffer(8192).phys;
      const sg = await r.dev.mapSg([{ phys, length: 4096 }, { phys: phys + 4096, length: 4096 }], TO_DEVICE);
      await r.dev.unmapSg(sg, TO_DEVICE);
      // The kernel checks sg segments only: a long single mapping is fine.
      const m = await r.single(phys, 8192, TO_DEVICE);
      await r.dev.unmapSingle(m.dmaAddress, 8192, TO_DEVICE);
    },
    cleanup: (_r, s) => cleanupExtra(s),
  },
  {
    name: 'sg segment across the segment boundary',
    codes: [DmaDebugCode.SEGMENT_BOUNDARY],
    variants: ['direct'],
    device: { segmentBoundaryMask: 0xfff },
    arrange: noState,
    misuse: async (r, s) => { s.extra = { device: r.dev, sg: await r.dev.mapSg([{ phys: r.buffer(8192).phys + 2048, length: 4096 }], TO_DEVICE), direction: TO_DEVICE }; },
    legal: async (r) => {
      const sg = await r.dev.mapSg([{ phys: r.buffer(8192).phys + 4096, length: 4096 }], TO_DEVICE);
      await r.dev.unmapSg(sg, TO_DEVICE);
    },
    cleanup: (_r, s) => cleanupExtra(s),
  },
  {
    name: 'overlapping mappings the devices write',
    codes: [DmaDebugCode.OVERLAP],
    culprit: 'other',
    arrange: arrangeOverlap,
    misuse: async (r, s) => { s.extra = { device: r.other, m: await r.single(s.phys! + 1000, 100, FROM_DEVICE, r.other), direction: FROM_DEVICE }; },
    legal: async (r, s) => {
      // Next cacheline, a TO_DEVICE mapping of the same bytes, and SKIP_CPU_SYNC: all silent.
      const next = await r.single(s.phys! + 4096, 64, BIDIRECTIONAL, r.other);
      const reads = await r.single(s.phys!, 4096, TO_DEVICE, r.other);
      const skip = await r.other.mapSingle(s.phys!, 4096, FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
      r.other.mappingError(skip.dmaAddress);
      await r.other.unmapSingle(next.dmaAddress, 64, BIDIRECTIONAL);
      await r.other.unmapSingle(reads.dmaAddress, 4096, TO_DEVICE);
      await r.other.unmapSingle(skip.dmaAddress, 4096, FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    },
    cleanup: async (r, s) => { await unmapM(r, s, FROM_DEVICE); await cleanupExtra(s); },
  },
  {
    name: 'two writing mappings sharing one cacheline',
    codes: [DmaDebugCode.OVERLAP],
    variants: ['direct'],
    arrange: async (r) => {
      const phys = r.buffer(4096).phys;
      return { phys, m: await r.single(phys, 32, FROM_DEVICE) };
    },
    misuse: async (r, s) => { s.extra = { device: r.dev, m: await r.single(s.phys! + 32, 32, FROM_DEVICE), direction: FROM_DEVICE }; },
    legal: async (r, s) => {
      const m = await r.single(s.phys! + 64, 32, FROM_DEVICE);
      await r.dev.unmapSingle(m.dmaAddress, 32, FROM_DEVICE);
    },
    cleanup: async (r, s) => {
      await r.dev.unmapSingle(s.m!.dmaAddress, 32, FROM_DEVICE);
      await cleanupExtra(s);
    },
  },
];

async function arrangeOverlap(r: Rig): Promise<State> {
  const phys = r.buffer(8192).phys;
  return { phys, m: await r.single(phys, 4096, FROM_DEVICE) };
}

function rigFor(system: DmaSystem, memory: Memory, options: DmaDeviceOptions = {}): Rig {
  const spans: Span[] = [];
  const bounce = memory === 'bounced';
  const dev = system.device(NVME, { ...options, forceBounce: bounce });
  return {
    system,
    debug: system.debug!,
    memory,
    dev,
    other: system.device(NIC, { forceBounce: bounce }),
    spans,
    buffer(length) {
      const span = system.allocRam(length, { alignment: 4096 });
      spans.push(span);
      return span;
    },
    async single(phys, length, direction, device = dev) {
      const m = await device.mapSingle(phys, length, direction);
      expect(device.mappingError(m.dmaAddress)).toBe(false);
      return m;
    },
  };
}

async function finish(r: Rig): Promise<void> {
  for (const span of r.spans) r.system.freeRam(span);
  r.dev.release();
  r.other.release();
}

// After every case: nothing tracked, nothing in the pool, no reports, and a legal cycle stays silent.
async function expectHealthy(r: Rig): Promise<void> {
  expect(r.debug.mappings()).toEqual([]);
  expect(r.system.swiotlb.stats().usedSlots).toBe(0);
  const span = r.buffer(4096);
  const m = await r.single(span.phys, 4096, BIDIRECTIONAL);
  await r.dev.syncSingleForCpu(m.dmaAddress, 4096, BIDIRECTIONAL);
  await r.dev.unmapSingle(m.dmaAddress, 4096, BIDIRECTIONAL);
  expect(r.debug.reports).toEqual([]);
  expect(r.system.swiotlb.stats().usedSlots).toBe(0);
}

const culpritOf = (r: Rig, c: Case) => (c.culprit === 'other' ? r.other : r.dev);
const codes = (debug: DmaDebug) => debug.reports.map((x) => x.code);
const variantsOf = (c: Case) => (c.variants ?? ['direct', 'bounced']).map((memory) => [c, memory] as const);
const table = CASES.flatMap(variantsOf);

describe('report mode: the misuse is reported, the call goes on, the system keeps working', () => {
  const system = DmaSystem.create({ swiotlb: { size: '4MiB' }, engine: { workers: 1 }, debug: true });
  afterAll(async () => {
    await system.close();
    expect(system.debug!.reports).toEqual([]);
  });

  it.each(table.map(([c, memory]) => [`${c.name} (${memory})`, c, memory] as const))('%s', async (_name, c, memory) => {
    const r = rigFor(system, memory, c.device);
    const { debug } = r;
    try {
      // The legal neighbour on its own arrangement: silent.
      const legal = await c.arrange(r);
      await c.legal(r, legal);
      expect(codes(debug)).toEqual([]);
      if (debug.mappings().length > 0) await c.cleanup(r, legal);
      expect(debug.mappings()).toEqual([]);

      // The misuse: reported with the device, the address and size the call named.
      const s = await c.arrange(r);
      expect(codes(debug)).toEqual([]);
      const seen: string[] = [];
      const listener = (report: { code: string }) => seen.push(report.code);
      debug.on('report', listener);
      const rejects = c.rejects?.[memory];
      if (rejects) await expect(c.misuse(r, s)).rejects.toMatchObject({ code: rejects });
      else await c.misuse(r, s);
      debug.off('report', listener);
      expect(codes(debug)).toEqual(c.codes);
      expect(seen).toEqual(c.codes);
      for (const report of debug.reports) {
        expect(report.device).toBe(culpritOf(r, c).bdf);
        expect(report.message).toMatch(/^DMA-API: /);
        expect(Number.isSafeInteger(report.address) && report.size > 0).toBe(true);
      }
      debug.clear();

      // What is still mapped comes down legally and silently.
      if (debug.mappings().length > 0 || s.extra) await c.cleanup(r, s);
      expect(codes(debug)).toEqual([]);
      await expectHealthy(r);
    } finally {
      debug.clear();
      await finish(r);
    }
  });
});

describe('throw mode: DmaDebugError with the report, and nothing changed', () => {
  const system = DmaSystem.create({ swiotlb: { size: '4MiB' }, engine: { workers: 1 }, debug: { mode: 'throw' } });
  afterAll(() => system.close());

  it.each(table.map(([c, memory]) => [`${c.name} (${memory})`, c, memory] as const))('%s', async (_name, c, memory) => {
    const r = rigFor(system, memory, c.device);
    const { debug } = r;
    try {
      const s = await c.arrange(r);
      const before = debug.mappings();
      const slots = system.swiotlb.stats().usedSlots;
      const extra = s.extra;
      const error = await c.misuse(r, s).then(() => undefined, (e: unknown) => e);
      expect(error).toMatchObject({ name: 'DmaDebugError', code: 'ERR_DMA_DEBUG', debugCode: c.codes[0], device: culpritOf(r, c).bdf });
      const report = debug.reports[0]!;
      expect(error).toMatchObject({ address: report.address, size: report.size, message: report.message });
      expect((error as { reports: unknown[] }).reports.map((x) => (x as { code: string }).code)).toEqual(c.codes);
      if (report.expected !== undefined) expect(error).toMatchObject({ expected: report.expected, found: report.found });
      expect(debug.mappings()).toEqual(before);
      expect(system.swiotlb.stats().usedSlots).toBe(slots);
      expect(s.extra).toBe(extra);
      debug.clear();
      // The refused call changed nothing, so the legal neighbour and the cleanup work as if it never happened.
      await c.legal(r, s);
      if (debug.mappings().length > 0) await c.cleanup(r, s);
      await expectHealthy(r);
    } finally {
      debug.clear();
      await finish(r);
    }
  });
});

describe('report contents', () => {
  const system = DmaSystem.create({ swiotlb: { size: '4MiB' }, engine: { workers: 1 }, debug: { stacks: true } });
  afterAll(() => system.close());

  it('unmap size: expected is the mapped size, found the unmap size, stack where it was mapped', async () => {
    const dev = system.device(NVME);
    const span = system.allocRam(8192);
    const m = await dev.mapSingle(span.phys, 8192, TO_DEVICE);
    dev.mappingError(m.dmaAddress);
    await dev.unmapSingle(m.dmaAddress, 4096, TO_DEVICE);
    const [report] = system.debug!.reports;
    expect(report).toMatchObject({ code: DmaDebugCode.UNMAP_SIZE, device: NVME, address: m.dmaAddress, size: 4096, direction: 'TO_DEVICE', expected: 8192, found: 4096 });
    expect(report!.stack).toMatch(/dma-debug\.test\.ts/);
    system.debug!.clear();
    system.freeRam(span);
  });

  it('unmap direction names both directions; wrong device names the owner', async () => {
    const dev = system.device(NVME);
    const nic = system.device(NIC);
    const span = system.allocRam(4096);
    const m = await dev.mapSingle(span.phys, 4096, FROM_DEVICE);
    dev.mappingError(m.dmaAddress);
    await nic.unmapSingle(m.dmaAddress, 4096, FROM_DEVICE);
    await dev.unmapSingle(m.dmaAddress, 4096, TO_DEVICE);
    expect(system.debug!.reports).toMatchObject([
      { code: DmaDebugCode.UNMAP_WRONG_DEVICE, device: NIC, expected: NVME, found: NIC },
      { code: DmaDebugCode.UNMAP_DIRECTION, device: NVME, expected: 'FROM_DEVICE', found: 'TO_DEVICE' },
    ]);
    system.debug!.clear();
    system.freeRam(span);
  });

  it('overlap lists the live mapping it hit', async () => {
    const dev = system.device(NVME);
    const nic = system.device(NIC);
    const span = system.allocRam(4096);
    const a = await dev.mapSingle(span.phys, 4096, BIDIRECTIONAL);
    const b = await nic.mapSingle(span.phys + 2048, 128, FROM_DEVICE);
    expect(system.debug!.reports).toMatchObject([{ code: DmaDebugCode.OVERLAP, device: NIC, address: b.dmaAddress, size: 128, mappings: [{ device: NVME, phys: span.phys, size: 4096, direction: 'BIDIRECTIONAL', kind: 'single' }] }]);
    for (const [d, m, dir] of [[dev, a, BIDIRECTIONAL], [nic, b, FROM_DEVICE]] as const) {
      d.mappingError(m.dmaAddress);
      await d.unmapSingle(m.dmaAddress, m.length, dir);
    }
    expect(system.debug!.reports).toHaveLength(1);
    // Both gone from the index: the same memory maps again silently.
    const c = await nic.mapSingle(span.phys, 4096, FROM_DEVICE);
    nic.mappingError(c.dmaAddress);
    await nic.unmapSingle(c.dmaAddress, 4096, FROM_DEVICE);
    expect(system.debug!.reports).toHaveLength(1);
    system.debug!.clear();
    system.freeRam(span);
  });

  it('one device mapping the same memory twice: unmap and sync find the mapping that fits', async () => {
    const dev = system.device(NVME);
    const span = system.allocRam(4096);
    const writes = await dev.mapSingle(span.phys, 4096, FROM_DEVICE);
    const reads = await dev.mapSingle(span.phys, 4096, TO_DEVICE);
    expect(reads.dmaAddress).toBe(writes.dmaAddress);
    dev.mappingError(writes.dmaAddress);
    dev.mappingError(reads.dmaAddress);
    await dev.syncSingleForDevice(reads.dmaAddress, 4096, TO_DEVICE);
    await dev.syncSingleForCpu(writes.dmaAddress, 4096, FROM_DEVICE);
    await dev.unmapSingle(reads.dmaAddress, 4096, TO_DEVICE);
    expect(system.debug!.mappings(dev)).toMatchObject([{ direction: 'FROM_DEVICE' }]);
    await dev.syncSingleForDevice(writes.dmaAddress, 4096, FROM_DEVICE);
    await dev.unmapSingle(writes.dmaAddress, 4096, FROM_DEVICE);
    expect(system.debug!.reports).toEqual([]);
    expect(system.debug!.mappings(dev)).toEqual([]);
    system.freeRam(span);
  });

  it('ignore: listed codes are neither recorded nor thrown', async () => {
    const quiet = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 }, debug: { mode: 'throw', ignore: [DmaDebugCode.MAPPING_ERROR_UNCHECKED] } });
    try {
      const dev = quiet.device(NVME);
      const span = quiet.allocRam(4096);
      const m = await dev.mapSingle(span.phys, 4096, TO_DEVICE);
      await dev.unmapSingle(m.dmaAddress, 4096, TO_DEVICE);
      expect(quiet.debug!.reports).toEqual([]);
      const again = await dev.mapSingle(span.phys, 4096, TO_DEVICE);
      await expect(dev.unmapSingle(again.dmaAddress, 2048, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_DMA_DEBUG', debugCode: DmaDebugCode.UNMAP_SIZE });
      // The refused unmap left the mapping live.
      expect(quiet.debug!.mappings()).toHaveLength(1);
      await dev.unmapSingle(again.dmaAddress, 4096, TO_DEVICE);
      expect(quiet.debug!.mappings()).toEqual([]);
    } finally {
      await quiet.close();
    }
  });

  it('bad debug options throw ERR_INVALID_ARGUMENT', () => {
    expect(() => DmaSystem.create({ debug: { mode: 'loud' as 'throw' } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => DmaSystem.create({ debug: { ignore: ['DMA_DEBUG_NOPE' as DmaDebugCode] } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('debug off', () => {
  it('records nothing, has no tracker, and lets misuse through as the mapper alone does', async () => {
    const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 } });
    try {
      expect(system.debug).toBeUndefined();
      const dev = system.device(NVME);
      const span = system.allocRam(8192);
      const m = await dev.mapSingle(span.phys, 8192, TO_DEVICE);
      // Misuse that debug mode reports: no tracker to record it, the mapper lets direct memory through.
      await dev.unmapSingle(m.dmaAddress, 4096, FROM_DEVICE);
      await dev.syncSingleForCpu(span.phys + 100_000, 64, FROM_DEVICE);
      expect(dev.mappingError(DMA_MAPPING_ERROR)).toBe(true);
      // A leak on release is silent too.
      await dev.mapSingle(span.phys, 4096, FROM_DEVICE);
      dev.release();
    } finally {
      await system.close();
    }
  });
});
