// Random scatter-gather lists through iommu-dma: map, device DMA and unmap with guard bytes around every
// buffer, for trusted and untrusted devices, strict and lazy domains, both P2P policies, 4/16/64 KiB
// granules, random boundary masks and segment sizes. The trusted layout is compared address for address
// with an independent BigInt reading of the kernel's rules (support/iommu-reference.ts); after unmap the
// IOVAs fault (strict) or fault once the flush queue is flushed (lazy), and nothing stays mapped.
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, type Region, type StreamingDirection } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { referenceLayout, type RefEntry } from './support/iommu-reference.js';
import { testRng } from './support/random.js';

const rng = testRng('iommu-random');
const GPU = '0000:03:00.0';
const CLIENTS = ['0000:04:00.0', '0000:05:00.0', '0000:81:00.0'];
const systems: DmaSystem[] = [];
afterAll(() => Promise.all(systems.map((s) => s.close())));

const dirs: StreamingDirection[] = [DmaDirection.TO_DEVICE, DmaDirection.FROM_DEVICE, DmaDirection.BIDIRECTIONAL];

describe('random lists through iommu-dma', () => {
  for (const mode of ['strict', 'lazy'] as const) {
    for (const granule of [4096, 16384, 65536]) {
      it(`${mode}, ${granule / 1024} KiB granule: layout, device DMA, unmap (seed ${rng.seed})`, async () => {
        const system = DmaSystem.create({ iommu: { mode, granule, clock: 'manual' }, engine: { workers: 1 }, swiotlb: { size: '8MiB' } });
        systems.push(system);
        const bar = system.barMemory(GPU, 1);
        const [ramLow, ramHigh] = system.ram as [Region, Region];
        // A group's domain is chosen once: each client is trusted or untrusted for the whole system.
        const untrustedClient = new Map(CLIENTS.map((c) => [c, rng.next() < 0.4]));
        for (let round = 0; round < 25; round++) {
          const client = rng.pick(CLIENTS);
          const untrusted = untrustedClient.get(client)!;
          const policy = rng.pick(['reject', 'bounce'] as const);
          // An untrusted device's bounce buffer must fit its segment boundary (swiotlb honours it).
          const boundary = rng.pick(untrusted ? [2 ** 20 - 1, 0xffffffff] : [2 ** 16 - 1, 2 ** 20 - 1, 0xffffffff]);
          const maxSegmentSize = rng.pick([4096, 65536, 2 ** 20, 2 ** 32 - 1]);
          const device = system.device(client, { untrusted, p2pPolicy: policy, segmentBoundaryMask: boundary, maxSegmentSize, minAlignMask: untrusted && rng.next() < 0.5 ? 0xfff : 0 });
          const direction = rng.pick(dirs);
          const n = rng.int(1, 10);
          const buffers = Array.from({ length: n }, () => {
            const region = !untrusted && rng.next() < 0.25 ? bar : rng.pick([ramLow, ramHigh]);
            const aligned = rng.next() < 0.5;
            // A bounced BAR entry must fit the device's segment boundary too (swiotlb honours it).
            const small = region === bar && boundary < 2 ** 20;
            const length = aligned ? granule * rng.int(1, small && granule > 16384 ? 1 : 3) : rng.int(1, small ? Math.min(3 * granule, 60000) : 3 * granule);
            return new GuardedBuffer(region, rng, length, aligned ? 0 : rng.int(0, 300));
          });
          const entries = buffers.map((b) => ({ phys: b.phys, length: b.length }));
          const routes = buffers.map((b) => (b.region === bar ? device.route(system.topology.findDevice(GPU)!).type : 'RAM'));
          const domain = device.iommuDomain!;
          const mappingsBefore = domain.mappings.size;
          if (!untrusted && policy === 'reject' && routes.includes('NOT_SUPPORTED')) {
            await expect(device.mapSg(entries, direction)).rejects.toMatchObject({ code: 'ERR_DMA_P2P_NOT_SUPPORTED', errno: 'EREMOTEIO' });
            expect(domain.mappings.size).toBe(mappingsBefore);
            expect(system.swiotlb.stats().usedSlots).toBe(0);
            for (const b of buffers) b.check(`round ${round} (refused)`);
            continue;
          }
          const sg = await device.mapSg(entries, direction);
          expect(sg.nents).toBe(n);
          // Where each entry's first byte is for the device.
          let addrs: number[];
          if (untrusted) {
            expect(sg.segments).toHaveLength(n);
            addrs = sg.segments.map((s) => s.dmaAddress);
            for (const [i, s] of sg.segments.entries()) {
              const unaligned = entries[i]!.phys % granule !== 0 || entries[i]!.length % granule !== 0;
              expect(s.kind).toBe(unaligned ? 'bounced' : 'iommu');
            }
          } else {
            const ref: RefEntry[] = buffers.map((b, i) => (routes[i] === 'BUS_ADDR' ? { phys: b.phys, length: b.length, bus: b.phys - 2 ** 40 } : { phys: b.phys, length: b.length }));
            // A bounced (p2p-not-supported) entry is laid out at its bounce slot's offset: 0 here.
            const refIn = ref.map((e, i) => (routes[i] === 'NOT_SUPPORTED' ? { phys: 0, length: e.length } : e));
            const layout = referenceLayout(refIn, granule, boundary, maxSegmentSize);
            const firstMem = sg.segments.find((s) => s.kind !== 'bus-address');
            const iova = firstMem ? firstMem.dmaAddress - layout.segments.find((s) => !s[2])![0] : 0;
            expect(sg.segments.map((s) => [s.dmaAddress, s.length])).toEqual(layout.segments.map(([a, l, bus]) => [bus ? a : iova + a, l]));
            addrs = layout.entryOffsets.map((o, i) => (o === undefined ? ref[i]!.bus! : iova + o));
            if (firstMem) expect(iova % granule).toBe(0);
          }
          for (const [i, b] of buffers.entries()) {
            if (direction !== DmaDirection.FROM_DEVICE) expect(Buffer.compare(device.dma.read(addrs[i]!, b.length), b.bytes()), `round ${round} entry ${i} read`).toBe(0);
            if (direction !== DmaDirection.TO_DEVICE) {
              const from = rng.int(0, b.length - 1);
              const data = rng.fill(new Uint8Array(rng.int(1, b.length - from)));
              device.dma.write(addrs[i]! + from, data);
              b.wrote(from, data);
            } else if (routes[i] !== 'BUS_ADDR' || untrusted) {
              // Mapped without IOMMU_WRITE (a peer's bus address never reaches the IOMMU).
              expect(() => device.dma.write(addrs[i]!, new Uint8Array(1)), `round ${round} entry ${i} write`).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
            }
          }
          await device.unmapSg(sg, direction);
          for (const b of buffers) b.check(`round ${round}`);
          expect(domain.mappings.size).toBe(mappingsBefore);
          expect(system.swiotlb.stats().usedSlots).toBe(0);
          if (mode === 'lazy' && domain.type === 'lazy') system.iommu!.advanceTime(10);
          for (const [i, a] of addrs.entries()) if (routes[i] !== 'BUS_ADDR' || untrusted) expect(() => device.dma.read(a, 1), `round ${round} entry ${i} after unmap`).toThrow();
        }
      });
    }
  }
});
