// A random, sequential DMA workload on a traced system: maps (single and SG, RAM below and
// above 4 GiB and BAR memory, random lengths, offsets and attributes), syncs and unmaps in random
// order, with a small pool so that some maps fail. Returns what the model itself saw.
import {
  DMA_ATTR_MMIO, DMA_ATTR_NO_WARN, DMA_ATTR_SKIP_CPU_SYNC, DMA_ATTR_WEAK_ORDERING, DmaDirection, DmaSystem,
  type DmaDevice, type MappedSegment, type MappedSg, type Region, type TraceEvent, type TraceFormat,
} from '../../dist/src/index.js';
import type { Rng } from './random.js';

export const GPU = '0000:03:00.0';
export const CLIENTS = ['0000:81:00.0', '0000:04:00.0', '0000:05:00.0'] as const;

export interface WorkloadOutcome {
  readonly lines: string[];
  readonly events: TraceEvent[];
  readonly highWaterSlots: number;
  /** Maps that failed, by error code. */
  readonly failures: Record<string, number>;
  readonly fullFailures: number;
  readonly maps: number;
  readonly liveAtEnd: number;
}

export interface WorkloadOptions {
  readonly format?: TraceFormat;
  readonly steps?: number;
  readonly swiotlb?: string;
  readonly p2pPolicy?: 'reject' | 'bounce';
  /** Leave some mappings live at the end. */
  readonly leaveLive?: number;
}

type Live = { device: DmaDevice; dir: 0 | 1 | 2; attrs: number } & ({ single: MappedSegment; length: number } | { sg: MappedSg });

export async function runWorkload(rng: Rng, options: WorkloadOptions = {}): Promise<WorkloadOutcome> {
  const lines: string[] = [];
  const events: TraceEvent[] = [];
  const system = DmaSystem.create({
    swiotlb: { size: options.swiotlb ?? '512KiB' },
    engine: { workers: 1, inlineBelow: '1GiB', spin: 0 },
    trace: { sink: (line: string, event: TraceEvent) => { lines.push(line); events.push(event); }, format: options.format ?? 'latest' },
  });
  const failures: Record<string, number> = {};
  let fullFailures = 0;
  let maps = 0;
  try {
    const policy = options.p2pPolicy ?? 'bounce';
    const devices = [
      system.device(CLIENTS[0], { dmaBits: 32, p2pPolicy: policy }),
      system.device(CLIENTS[1], { dmaBits: 64, p2pPolicy: policy }),
      system.device(CLIENTS[2], { dmaBits: 64, forceBounce: true, p2pPolicy: policy }),
    ];
    const [low, high] = system.ram as [Region, Region];
    const bar = system.barMemory(GPU, 1);
    const buffers = [low, high, bar].map((region) => {
      const span = region.allocate(4 * 2 ** 20, 4096);
      rng.fill(region.view(span));
      return span;
    });
    const range = (maxLength: number) => {
      const which = rng.int(0, 2);
      const span = buffers[which]!;
      const length = rng.int(1, maxLength);
      const offset = rng.int(0, span.length - length);
      return { phys: span.phys + offset, length, bar: which === 2 };
    };
    const live: Live[] = [];
    const steps = options.steps ?? 200;
    const attrsOf = () => rng.pick([0, 0, DMA_ATTR_SKIP_CPU_SYNC, DMA_ATTR_WEAK_ORDERING | DMA_ATTR_NO_WARN, DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_WEAK_ORDERING]);
    for (let step = 0; step < steps; step++) {
      const roll = rng.next();
      const device = rng.pick(devices);
      const dir = rng.pick([DmaDirection.BIDIRECTIONAL, DmaDirection.TO_DEVICE, DmaDirection.FROM_DEVICE] as const);
      if (roll < 0.35 || live.length === 0) {
        const r = range(rng.pick([512, 4096, 20000, 70000]));
        const attrs = r.bar && rng.next() < 0.3 ? DMA_ATTR_MMIO : attrsOf();
        maps++;
        try {
          const single = await device.mapPhys(r.phys, r.length, dir, attrs);
          live.push({ device, dir, attrs, single, length: r.length });
        } catch (error) {
          const code = (error as { code: string }).code;
          failures[code] = (failures[code] ?? 0) + 1;
          if (code === 'ERR_SWIOTLB_FULL') fullFailures++;
        }
      } else if (roll < 0.55) {
        const entries = Array.from({ length: rng.int(1, 6) }, () => range(rng.pick([300, 4096, 9000])));
        const attrs = attrsOf();
        maps++;
        try {
          const sg = await device.mapSg(entries.map((e) => ({ phys: e.phys, length: e.length })), dir, attrs);
          live.push({ device, dir, attrs, sg });
        } catch (error) {
          const code = (error as { code: string }).code;
          failures[code] = (failures[code] ?? 0) + 1;
          if (code === 'ERR_SWIOTLB_FULL') fullFailures++;
        }
      } else if (roll < 0.7) {
        const m = rng.pick(live);
        const cpu = rng.next() < 0.5;
        if ('single' in m) {
          const from = rng.int(0, m.length - 1);
          const length = rng.int(1, m.length - from);
          await (cpu ? m.device.syncSingleForCpu(m.single.dmaAddress + from, length, m.dir) : m.device.syncSingleForDevice(m.single.dmaAddress + from, length, m.dir));
        } else await (cpu ? m.device.syncSgForCpu(m.sg, m.dir) : m.device.syncSgForDevice(m.sg, m.dir));
      } else {
        const m = live.splice(rng.int(0, live.length - 1), 1)[0]!;
        if ('single' in m) await m.device.unmapPhys(m.single.dmaAddress, m.length, m.dir, m.attrs);
        else await m.device.unmapSg(m.sg, m.dir, m.attrs);
      }
    }
    const keep = options.leaveLive ?? 0;
    while (live.length > keep) {
      const m = live.pop()!;
      if ('single' in m) await m.device.unmapPhys(m.single.dmaAddress, m.length, m.dir, m.attrs);
      else await m.device.unmapSg(m.sg, m.dir, m.attrs);
    }
    return { lines, events, highWaterSlots: system.swiotlb.stats().highWaterSlots, failures, fullFailures, maps, liveAtEnd: live.length };
  } finally {
    await system.close().catch(() => {});
  }
}
