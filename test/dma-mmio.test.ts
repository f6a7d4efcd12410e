// DMA_ATTR_MMIO (Linux 6.18, dma_direct_map_phys()): device memory maps to its CPU physical address
// when dma_capable() holds, never through swiotlb, and fails otherwise; its unmap does nothing.
// Policy 'bounce' goes beyond mainline and bounces what the device cannot reach. Every route and
// policy, with random data and guard bytes; and the wrappers (mapPage, mapSingle) that refuse it.
import { afterAll, describe, expect, it } from 'vitest';
import { DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC, DmaDirection, DmaSystem, type DmaDeviceOptions, type P2pPolicy } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const GPU = '0000:03:00.0';
const NVME = '0000:04:00.0'; // BUS_ADDR from the GPU
const NIC = '0000:05:00.0'; // THRU_HOST_BRIDGE
const NVME_FAR = '0000:81:00.0'; // NOT_SUPPORTED
const { TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL } = DmaDirection;
const rng = testRng('dma-mmio');
const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 } });
afterAll(() => system.close());

const bar = system.barMemory(GPU, 1);
const ramLow = system.ram[0]!;
const ramHigh = system.ram[1]!;

interface Case {
  readonly memory: 'ram-low' | 'ram-high' | 'bar';
  readonly client: string;
  readonly options: DmaDeviceOptions;
  /** What each policy gives: a kind (and reason), or an error code. */
  readonly reject: string;
  readonly bounce: string;
}

const CASES: Case[] = [
  { memory: 'ram-low', client: NVME, options: {}, reject: 'direct', bounce: 'direct' },
  { memory: 'ram-high', client: NVME, options: { dmaBits: 32 }, reject: 'ERR_DMA_MAPPING', bounce: 'bounced:mmio-dma-mask' },
  { memory: 'ram-low', client: NVME, options: { forceBounce: true }, reject: 'ERR_DMA_MAPPING', bounce: 'bounced:mmio-forced' },
  { memory: 'bar', client: NVME, options: {}, reject: 'host-bridge', bounce: 'host-bridge' },
  { memory: 'bar', client: NIC, options: {}, reject: 'host-bridge', bounce: 'host-bridge' },
  // Mainline hands out the CPU address of memory the device cannot reach peer-to-peer: its DMA faults.
  { memory: 'bar', client: NVME_FAR, options: {}, reject: 'host-bridge:faults', bounce: 'bounced:mmio-p2p-not-supported' },
  { memory: 'bar', client: NIC, options: { forceBounce: true }, reject: 'ERR_DMA_MAPPING', bounce: 'bounced:mmio-forced' },
];

function region(memory: Case['memory']) {
  return memory === 'bar' ? bar : memory === 'ram-low' ? ramLow : ramHigh;
}

describe('DMA_ATTR_MMIO on every route and policy', () => {
  for (const c of CASES) {
    for (const policy of ['reject', 'bounce'] as P2pPolicy[]) {
      for (const direction of [TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL]) {
        const expected = c[policy];
        it(`${c.memory} -> ${c.client} ${JSON.stringify(c.options)}, ${policy}, dir ${direction}: ${expected}`, async () => {
          const dev = system.device(c.client, { ...c.options, p2pPolicy: policy });
          const buf = new GuardedBuffer(region(c.memory), rng, rng.int(1, 12_000), rng.int(0, 64));
          const used = system.swiotlb.stats().usedSlots;
          if (expected.startsWith('ERR_')) {
            await expect(dev.mapPhys(buf.phys, buf.length, direction, DMA_ATTR_MMIO)).rejects.toMatchObject({ code: expected, errno: 'EIO' });
            expect(system.swiotlb.stats().usedSlots).toBe(used);
            buf.check();
            return;
          }
          const [kind, detail] = expected.split(':');
          const m = await dev.mapPhys(buf.phys, buf.length, direction, DMA_ATTR_MMIO);
          expect(m.kind).toBe(kind);
          if (kind === 'bounced') {
            expect(m.reason).toBe(detail);
            expect(system.swiotlb.stats().usedSlots).toBeGreaterThan(used);
          } else {
            expect(m.dmaAddress).toBe(buf.phys);
            expect(system.swiotlb.stats().usedSlots).toBe(used);
          }
          if (detail === 'faults') {
            expect(() => dev.dma.read(m.dmaAddress, buf.length)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
          } else {
            expect(dev.dma.read(m.dmaAddress, buf.length)).toEqual(buf.bytes());
            if (direction !== TO_DEVICE) {
              const bytes = rng.fill(new Uint8Array(buf.length));
              dev.dma.write(m.dmaAddress, bytes);
              // Unbounced MMIO is the memory itself; a bounced one comes back at unmap.
              buf.wrote(0, bytes);
            }
          }
          await dev.unmapPhys(m.dmaAddress, buf.length, direction, DMA_ATTR_MMIO);
          expect(system.swiotlb.stats().usedSlots).toBe(used);
          buf.check();
          buf.free();
        });
      }
    }
  }

  it('the unmap of an unbounced MMIO mapping does nothing, with or without SKIP_CPU_SYNC', async () => {
    const dev = system.device(NIC);
    const buf = new GuardedBuffer(bar, rng, 4096);
    const m = await dev.mapPhys(buf.phys, 4096, FROM_DEVICE, DMA_ATTR_MMIO);
    await dev.unmapPhys(m.dmaAddress, 4096, FROM_DEVICE, DMA_ATTR_MMIO | DMA_ATTR_SKIP_CPU_SYNC);
    await dev.unmapPhys(m.dmaAddress, 4096, FROM_DEVICE, DMA_ATTR_MMIO);
    buf.check();
    buf.free();
  });
});

describe('the wrappers', () => {
  it('mapPage(page, offset) is mapPhys(page + offset); mapSingle is too; both refuse DMA_ATTR_MMIO', async () => {
    const dev = system.device(NVME_FAR, { forceBounce: true });
    const buf = new GuardedBuffer(ramLow, rng, 6000, 100);
    const page = Math.floor(buf.phys / 4096) * 4096;
    const viaPage = await dev.mapPage(page, buf.phys - page, buf.length, TO_DEVICE);
    expect(viaPage).toMatchObject({ phys: buf.phys, length: buf.length, kind: 'bounced', reason: 'forced' });
    expect(dev.dma.read(viaPage.dmaAddress, buf.length)).toEqual(buf.bytes());
    await dev.unmapPage(viaPage.dmaAddress, buf.length, TO_DEVICE);
    await expect(dev.mapPage(page, buf.phys - page, buf.length, TO_DEVICE, DMA_ATTR_MMIO)).rejects.toMatchObject({ code: 'ERR_DMA_MAPPING', errno: 'EIO' });
    await expect(dev.mapSingle(buf.phys, buf.length, TO_DEVICE, DMA_ATTR_MMIO)).rejects.toMatchObject({ code: 'ERR_DMA_MAPPING', errno: 'EIO' });
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    buf.check();
    buf.free();
  });

  it('mapSg with DMA_ATTR_MMIO: each entry as mapPhys would map it; bus addresses stay bus addresses without it', async () => {
    const dev = system.device(NVME, { p2pPolicy: 'reject' });
    const a = new GuardedBuffer(bar, rng, 4096);
    const sg = await dev.mapSg([{ phys: a.phys, length: 4096 }], TO_DEVICE);
    expect(sg.segments[0]!.kind).toBe('bus-address');
    await dev.unmapSg(sg, TO_DEVICE);
    const mmio = await dev.mapSg([{ phys: a.phys, length: 4096 }], TO_DEVICE, DMA_ATTR_MMIO);
    expect(mmio.segments[0]).toMatchObject({ kind: 'host-bridge', dmaAddress: a.phys });
    await dev.unmapSg(mmio, TO_DEVICE, DMA_ATTR_MMIO);
    a.check();
    a.free();
  });
});
