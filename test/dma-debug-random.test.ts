// dma-debug must stay silent for legal use: a seeded random sequence of map, sync and unmap calls
// over random devices, directions and memory (RAM low and high, GPU BAR; direct, P2P and bounced)
// produces no report, and leaves nothing tracked and nothing in the pool.
import { afterAll, describe, expect, it } from 'vitest';
import { DMA_ATTR_SKIP_CPU_SYNC, DmaDirection, DmaSystem, type DmaDevice, type MappedSegment, type MappedSg, type Region, type Span, type StreamingDirection } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const rng = testRng('dma-debug-random');
const system = DmaSystem.create({ swiotlb: { size: '8MiB' }, engine: { workers: 1, inlineBelow: 4096 }, debug: { mode: 'throw' } });
afterAll(() => system.close());
const GPU = '0000:03:00.0';
const CLIENTS = ['0000:04:00.0', '0000:05:00.0', '0000:81:00.0'];
const DIRECTIONS: readonly StreamingDirection[] = [DmaDirection.TO_DEVICE, DmaDirection.FROM_DEVICE, DmaDirection.BIDIRECTIONAL];
const memories: readonly Region[] = [system.ram[0]!, system.ram[1]!, system.barMemory(GPU, 1)];

interface Live {
  readonly device: DmaDevice;
  readonly direction: StreamingDirection;
  readonly attrs: number;
  readonly single?: MappedSegment;
  readonly sg?: MappedSg;
  readonly spans: { region: Region; span: Span }[];
}

// Each buffer its own 64-byte-aligned span, so no two mappings share a cacheline.
function buffer(length: number): { region: Region; span: Span } {
  const region = rng.pick(memories);
  return { region, span: region.allocate(length, 64) };
}

// Any direction a mapping allows: its own, or any for BIDIRECTIONAL.
const syncDirection = (live: Live): StreamingDirection => (live.direction === DmaDirection.BIDIRECTIONAL ? rng.pick(DIRECTIONS) : live.direction);

describe('random legal use', () => {
  it('makes no report', async () => {
    const steps: string[] = [];
    system.debug!.on('report', (report) => steps.push(`REPORT ${report.code}: ${report.message}`));
    const devices = CLIENTS.flatMap((bdf) => [
      system.device(bdf, { p2pPolicy: 'bounce' }),
      system.device(bdf, { p2pPolicy: 'bounce', dmaBits: 32, minAlignMask: rng.pick([0, 0xfff]) }),
      system.device(bdf, { p2pPolicy: 'bounce', forceBounce: true, maxSegmentSize: '16KiB' }),
    ]);
    const live: Live[] = [];
    const takeBack = async (i: number) => {
      const [l] = live.splice(i, 1);
      const { device, direction, single, sg } = l!;
      const attrs = rng.next() < 0.2 ? DMA_ATTR_SKIP_CPU_SYNC : 0;
      steps.push(`unmap ${device.bdf} ${single ? `single 0x${single.dmaAddress.toString(16)}` : `sg of ${sg!.nents}`}`);
      if (single) await device.unmapSingle(single.dmaAddress, single.length, direction, attrs);
      else await device.unmapSg(sg!, direction, attrs);
      for (const { region, span } of l!.spans) region.free(span);
    };
    try {
      for (let step = 0; step < 600; step++) {
        const roll = rng.next();
        if (live.length < 24 && roll < 0.4) {
          const device = rng.pick(devices);
          const direction = rng.pick(DIRECTIONS);
          const attrs = rng.next() < 0.1 ? DMA_ATTR_SKIP_CPU_SYNC : 0;
          if (rng.next() < 0.5) {
            const b = buffer(rng.int(1, 20000));
            steps.push(`mapSingle ${device.bdf} ${b.region.name} ${b.span.length} dir ${direction}`);
            const single = await device.mapSingle(b.span.phys, b.span.length, direction, attrs);
            expect(device.mappingError(single.dmaAddress)).toBe(false);
            live.push({ device, direction, attrs, single, spans: [b] });
          } else {
            const spans = Array.from({ length: rng.int(1, 6) }, () => buffer(rng.int(1, device.maxSegmentSize)));
            steps.push(`mapSg ${device.bdf} ${spans.map((b) => `${b.region.name}:${b.span.length}`).join(',')} dir ${direction}`);
            const sg = await device.mapSg(spans.map(({ span }) => ({ phys: span.phys, length: span.length })), direction, attrs);
            live.push({ device, direction, attrs, sg, spans });
          }
        } else if (live.some((l) => l.spans.length > 0) && roll < 0.5) {
          // The same bytes mapped again for reading only: legal, whoever else maps them.
          const source = rng.pick(live.filter((l) => l.spans.length > 0));
          const device = rng.pick(devices);
          const { span } = source.spans[0]!;
          steps.push(`mapSingle TO_DEVICE again ${device.bdf} 0x${span.phys.toString(16)}`);
          const single = await device.mapSingle(span.phys, span.length, DmaDirection.TO_DEVICE);
          device.mappingError(single.dmaAddress);
          live.push({ device, direction: DmaDirection.TO_DEVICE, attrs: 0, single, spans: [] });
        } else if (live.length > 0 && roll < 0.8) {
          const l = rng.pick(live);
          const forCpu = rng.next() < 0.5;
          const direction = syncDirection(l);
          if (l.single) {
            const from = rng.int(0, l.single.length - 1);
            const length = rng.int(1, l.single.length - from);
            steps.push(`sync single ${forCpu ? 'cpu' : 'device'} +${from} ${length} dir ${direction}`);
            if (forCpu) await l.device.syncSingleForCpu(l.single.dmaAddress + from, length, direction);
            else await l.device.syncSingleForDevice(l.single.dmaAddress + from, length, direction);
          } else {
            steps.push(`sync sg ${forCpu ? 'cpu' : 'device'} dir ${direction}`);
            if (forCpu) await l.device.syncSgForCpu(l.sg!, direction);
            else await l.device.syncSgForDevice(l.sg!, direction);
          }
        } else if (live.length > 0) {
          await takeBack(rng.int(0, live.length - 1));
        }
      }
      while (live.length > 0) await takeBack(live.length - 1);
    } catch (error) {
      throw new Error(`seed ${rng.seed}: ${String(error)}\nlast steps:\n${steps.slice(-8).join('\n')}`, { cause: error });
    }
    expect(system.debug!.reports, steps.filter((s) => s.startsWith('REPORT')).join('\n')).toEqual([]);
    expect(system.debug!.mappings()).toEqual([]);
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    for (const device of devices) device.release();
    expect(system.debug!.reports).toEqual([]);
  });
});
