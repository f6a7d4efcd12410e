// Replaying captures: the model's own trace replayed under the same configuration reproduces its
// pool statistics and failures (round trip, in both line forms); a sweep finds the pool size at
// which a known workload stops failing; devices the topology lacks, unmatched unmaps, live
// mappings; the address plan keeps page offsets, 32-bit reachability and overlaps.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { fc, test as fcTest } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  AddressPlan, DmaDirection, DmaSystem, entryLengths, formatEvent, formatLine, maskBits, PageCollector, replayCapture, type ReplayConfig, type TraceEvent,
} from '../dist/src/index.js';
import { testRng } from './support/random.js';
import { runWorkload } from './support/trace-workload.js';

const rng = testRng('trace-replay');
const FIXTURES = new URL('./fixtures/traces/', import.meta.url);
const fromText = (text: string) => () => Readable.from([text]);

function reprint(events: readonly TraceEvent[], style: 'ftrace' | 'trace-cmd'): string {
  return events.map((e) => {
    const f = formatEvent(e, 'latest');
    return f ? formatLine(style, { comm: 'x', pid: 1 }, e.cpu, e.ts, f) : '';
  }).filter(Boolean).join('\n') + '\n';
}

describe('round trip: the model traced, then replayed', () => {
  for (const policy of ['bounce', 'reject'] as const) {
    it(`p2p policy ${policy}: the same high-water mark, full events and failures by errno, in both line forms`, async () => {
      const outcome = await runWorkload(rng, { steps: 400, swiotlb: '512KiB', p2pPolicy: policy, leaveLive: 3 });
      const mappingFailures = (outcome.failures.ERR_SWIOTLB_FULL ?? 0) + (outcome.failures.ERR_DMA_MAPPING ?? 0) + (outcome.failures.ERR_DMA_P2P_NOT_SUPPORTED ?? 0);
      // The workload must exercise what it checks.
      expect(outcome.highWaterSlots).toBeGreaterThan(0);
      if (policy === 'reject') expect(outcome.failures.ERR_DMA_P2P_NOT_SUPPORTED ?? 0).toBeGreaterThan(0);
      const config: ReplayConfig = { swiotlb: '512KiB', p2pPolicy: policy };
      for (const text of [outcome.lines.join('\n') + '\n', reprint(outcome.events, 'trace-cmd')]) {
        const result = await replayCapture(fromText(text), [config]);
        const run = result.runs[0]!;
        expect(result.warnings).toEqual([]);
        expect(run.pool.highWaterSlots).toBe(outcome.highWaterSlots);
        expect(run.pool.fullEvents).toBe(outcome.fullFailures);
        expect(run.total.failures).toBe(mappingFailures);
        expect(run.total.failuresByErrno.EREMOTEIO ?? 0).toBe(outcome.failures.ERR_DMA_P2P_NOT_SUPPORTED ?? 0);
        expect(run.total.maps).toBe(outcome.maps);
        expect(run.total.mappedWhereCaptureFailed).toBe(0);
        expect(run.total.refused).toBe(0);
        expect(run.total.unmatchedUnmaps + run.total.unmatchedSyncs).toBe(0);
        expect(run.total.liveAtEnd).toBe(outcome.liveAtEnd);
        // Each full event is at the time of a map the capture shows failing.
        const failedAt = new Set(outcome.events.filter((e) => (e.type === 'map' && e.dmaAddr === -1) || e.type === 'map_sg_err').map((e) => Math.round(e.ts * 1e6)));
        for (const f of run.fullEvents) expect(failedAt.has(Math.round(f.t * 1e6))).toBe(true);
        expect(result.capture.capturedFailures).toBe(mappingFailures);
      }
    });
  }
});

// 300 live 4 KiB bounces of a 32-bit device (600 slots), then every unmap.
async function knownWorkload(): Promise<string> {
  const lines: string[] = [];
  const system = DmaSystem.create({ swiotlb: { size: '4MiB' }, trace: { sink: (l: string) => lines.push(l), format: 'latest' } });
  try {
    const device = system.device('0000:81:00.0', { dmaBits: 32 });
    const span = system.ram[1]!.allocate(300 * 4096, 4096);
    const mapped = [];
    for (let i = 0; i < 300; i++) mapped.push(await device.mapSingle(span.phys + i * 4096, 4096, DmaDirection.FROM_DEVICE));
    for (const m of mapped) await device.unmapSingle(m.dmaAddress, 4096, DmaDirection.FROM_DEVICE);
  } finally {
    await system.close();
  }
  return lines.join('\n') + '\n';
}

describe('sweep', () => {
  it('finds the size at which a known workload stops failing: 600 slots need 1280KiB (5 segments); 1MiB fails 44 maps', async () => {
    const text = await knownWorkload();
    const result = await replayCapture(fromText(text), ['1MiB', '1280KiB', '2MiB'].map((swiotlb) => ({ swiotlb })));
    expect(result.runs.map((r) => r.pool.fullEvents)).toEqual([44, 0, 0]);
    expect(result.runs.map((r) => r.pool.highWaterSlots)).toEqual([512, 600, 600]);
    expect(result.runs[0]!.total.failuresByErrno).toEqual({ EIO: 44 });
    // The full events carry the capture's time and line: the 257th map and on.
    const run = result.runs[0]!;
    expect(run.fullEvents).toHaveLength(44);
    expect(run.fullEvents[0]!.line).toBe(2 * 256 + 1 + 1);
    expect(run.poolOccupancy.length).toBeGreaterThan(1);
    expect(Math.max(...run.poolOccupancy.map((p) => p.usedSlots))).toBe(512);
    expect(run.poolOccupancy.every((p) => p.totalSlots === 512)).toBe(true);
    // The 44 unmaps of maps that failed here are neither unmatched nor replayed.
    expect(run.total.unmatchedUnmaps).toBe(0);
    expect(run.total.liveAtEnd).toBe(0);
  });
});

describe('what a replay reports', () => {
  it('the hand-written capture: devices the topology lacks get a stand-in and a warning; an unmap nobody mapped is reported with its line', async () => {
    const result = await replayCapture(() => createReadStream(new URL('handwritten-ftrace.trace', FIXTURES)), [{}]);
    expect(result.warnings).toContain("device 0000:c1:00.0 is not an endpoint of the topology: replayed as a default device at 0000:04:00.0's place in the tree");
    expect(result.warnings.some((w) => w.includes('lost 3 events'))).toBe(true);
    const run = result.runs[0]!;
    expect(run.unmatched).toEqual([{ line: 24, device: '0000:04:00.0', event: 'unmap', dmaAddr: 0xdeadbeef000 }]);
    const far = run.devices.find((d) => d.device === '0000:81:00.0')!;
    // The map longer than swiotlb's largest fails here too; the SG map the capture shows failing
    // prints no lengths and no swiotlb_bounced precedes it, so its entry is replayed to its page
    // end (4096 bytes), which the model maps, bounces, and unmaps again.
    expect(far.failuresByErrno).toEqual({ EIO: 1 });
    expect(far.mappedWhereCaptureFailed).toBe(1);
    expect(far.dmaBits).toBe(32);
    expect(far.bytesBounced).toBe(1500 + 4096);
    const stand = run.devices.find((d) => d.device === '0000:c1:00.0')!;
    expect(stand.replayedAs).toBe('0000:04:00.0');
    expect(stand.liveAtEnd).toBe(1);
    expect(run.total.liveAtEnd).toBe(1);
    expect(run.total.unmatchedSyncs).toBe(0);
  });

  it('compared configurations differ where they should: forced bouncing bounces every byte a device maps', async () => {
    const outcome = await runWorkload(rng, { steps: 150, swiotlb: '64MiB' });
    const result = await replayCapture(fromText(outcome.lines.join('\n') + '\n'), [{}, { forceBounce: true }, { forceBounce: false }]);
    const [asCaptured, forced, none] = result.runs as [typeof result.runs[0], typeof result.runs[0], typeof result.runs[0]];
    expect(forced.total.bytesBounced).toBeGreaterThan(asCaptured.total.bytesBounced);
    expect(none.total.bytesBounced).toBeLessThan(asCaptured.total.bytesBounced);
    for (const d of forced.devices) expect(d.forceBounce).toBe(true);
    expect(forced.config.forceBounce).toBe(true);
    expect(asCaptured.config.forceBounce).toBe('capture');
  });

  it('the replayed model traces with the capture clock', async () => {
    const text = await knownWorkload();
    const lines: string[] = [];
    await replayCapture(fromText(text), [{ swiotlb: '2MiB', trace: (l: string) => lines.push(l) }]);
    // Each map and unmap line carries its capture line's time (a replayed swiotlb_bounced, its map's).
    const stamps = (ls: readonly string[]) => ls.filter((l) => !l.includes('swiotlb_bounced')).map((l) => l.slice(l.indexOf('] ') + 8, l.indexOf(': ')));
    expect(lines.length).toBe(900);
    expect(stamps(lines)).toEqual(stamps(text.trimEnd().split('\n')));
  });

  it('two live mappings the capture gave one DMA address (one buffer mapped twice) pair with their unmaps, newest first', async () => {
    const lines: string[] = [];
    const system = DmaSystem.create({ trace: (l: string) => lines.push(l) });
    try {
      const near = system.device('0000:04:00.0');
      const span = system.allocRam(8192, { alignment: 4096 });
      const a = await near.mapSingle(span.phys, 8192, DmaDirection.TO_DEVICE);
      const b = await near.mapSingle(span.phys, 4096, DmaDirection.TO_DEVICE);
      expect(b.dmaAddress).toBe(a.dmaAddress);
      await near.unmapSingle(b.dmaAddress, 4096, DmaDirection.TO_DEVICE);
      await near.syncSingleForCpu(a.dmaAddress + 4096, 100, DmaDirection.TO_DEVICE);
      await near.unmapSingle(a.dmaAddress, 8192, DmaDirection.TO_DEVICE);
    } finally {
      await system.close();
    }
    const run = (await replayCapture(fromText(lines.join('\n') + '\n'), [{}])).runs[0]!;
    expect(run.total).toMatchObject({ maps: 2, unmaps: 2, syncs: 1, unmatchedUnmaps: 0, unmatchedSyncs: 0, refused: 0, liveAtEnd: 0, bytes: 12288 });
  });

  it('MMIO mappings of a real machine land in the topology\'s p2pmem BAR: mainline fails the far drive with -EREMOTEIO, the bounce policy bounces them', async () => {
    const open = () => createReadStream(new URL('handwritten-p2p-6.18.trace', FIXTURES));
    const result = await replayCapture(open, [{ p2pPolicy: 'reject' }, { p2pPolicy: 'bounce' }]);
    expect(result.warnings).toContain('3 MMIO mappings (DMA_ATTR_MMIO, dma_map_resource) were replayed as memory of 0000:03:00.0 BAR 1: a capture does not say whose BAR they were');
    const [reject, bounce] = result.runs as [typeof result.runs[0], typeof result.runs[0]];
    const far = (r: typeof reject) => r.devices.find((d) => d.device === '0000:81:00.0')!;
    const near = (r: typeof reject) => r.devices.find((d) => d.device === '0000:04:00.0')!;
    // The near drive shares a switch with the GPU: its MMIO mapping is a bus address either way.
    expect(near(reject)).toMatchObject({ failures: 0, bytesBounced: 0, unmatchedUnmaps: 0, liveAtEnd: 0 });
    // The far drive is behind another host bridge: NOT_SUPPORTED.
    expect(far(reject).failuresByErrno).toEqual({ EREMOTEIO: 2 });
    expect(far(reject).unmatchedUnmaps).toBe(0);
    expect(far(bounce)).toMatchObject({ failures: 0, bytesBounced: 65536 + 8192 + 0, liveAtEnd: 0 });
    await expect(replayCapture(open, [{}], { provider: { bdf: '0000:04:00.0' } })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'provider' });
    const named = await replayCapture(open, [{}], { provider: { bdf: '0000:03:00.0', bar: 1 } });
    expect(named.runs[0]!.total.failuresByErrno).toEqual({ EREMOTEIO: 2 });
  });

  it('configurations are checked before anything runs', async () => {
    const open = () => { throw new Error('must not be opened'); };
    await expect(replayCapture(open, [])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(replayCapture(open, [{ swiotlb: '100KiB' }])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(replayCapture(open, [{ iommu: { mode: 'fast' } }])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'configs[0].iommu' });
    await expect(replayCapture(open, [{ p2pPolicy: 'maybe' as never }])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('the address plan', () => {
  const range = fc.tuple(fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 2 ** 32, max: 2 ** 44 })), fc.integer({ min: 1, max: 40000 }));
  fcTest.prop([fc.array(range, { minLength: 1, maxLength: 60 })], { numRuns: 150 })('keeps offsets in pages, 32-bit reachability, contiguity of each range and overlaps', (ranges) => {
    const pages = new PageCollector();
    for (const [phys, size] of ranges) pages.add(phys, size);
    const plan = pages.plan(0x1000_0000, 2 ** 32, 2 ** 32);
    for (const [phys, size] of ranges) {
      const start = plan.translate(phys);
      const end = plan.translate(phys + size - 1);
      expect(start % 4096).toBe(phys % 4096);
      const crosses = phys < 2 ** 32 && phys + size - 1 >= 2 ** 32;
      if (!crosses) {
        expect(end - start).toBe(size - 1);
        expect(start < 2 ** 32).toBe(phys < 2 ** 32);
        expect(end < 2 ** 32).toBe(phys + size - 1 < 2 ** 32);
      }
    }
    // Two addresses of one page keep their distance; distinct pages never share a model page.
    const seen = new Map<number, number>();
    for (const [phys] of ranges) {
      const page = Math.floor(phys / 4096);
      const model = Math.floor(plan.translate(phys) / 4096);
      if (seen.has(model)) expect(seen.get(model)).toBe(page);
      seen.set(model, page);
    }
  });

  it('a capture needing more RAM than the model has is ERR_TRACE_REPLAY', () => {
    const pages = new PageCollector();
    pages.add(0, 64 * 4096);
    expect(() => pages.plan(0x1000_0000, 2 ** 32, 16 * 4096)).toThrow(expect.objectContaining({ code: 'ERR_TRACE_REPLAY' }));
    expect(new AddressPlan(new Float64Array(0), new Float64Array(0), 0x1000_0000, 2 ** 32, 0).translate(0x1234)).toBe(-1);
  });

  it('entry lengths: one to one when the counts match, else to each page end; masks to bits', () => {
    expect(entryLengths([0x1000, 0x5000], [0x200, 0x300], true)).toEqual([0x200, 0x300]);
    expect(entryLengths([0x1f00, 0x5000, 0x9000], [0x1500], false)).toEqual([0x100, 0x1000, 0x400]);
    expect(maskBits('ffffffff')).toBe(32);
    expect(maskBits('ffffffffffffffff')).toBe(64);
    expect(maskBits('fffffffff')).toBe(36);
    expect(maskBits('7fffffff')).toBe(31);
    expect(maskBits('0')).toBeUndefined();
    expect(maskBits('ff00')).toBeUndefined();
  });
});
