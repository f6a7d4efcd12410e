// Every direction x mapping kind x P2P policy: map, let the simulated device DMA, unmap, and
// compare every byte (guards included) with what a direct copy would give.
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, type DmaDeviceOptions, type Region } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const rng = testRng('dma-matrix');
const system = DmaSystem.create({ swiotlb: { size: '4MiB' }, engine: { workers: 1, inlineBelow: 0 } });
afterAll(() => system.close());

const GPU = '0000:03:00.0';
const NVME_SAME_SWITCH = '0000:04:00.0';
const NIC_OTHER_ROOT_PORT = '0000:05:00.0';
const NVME_OTHER_HOST_BRIDGE = '0000:81:00.0';
const ramLow = system.ram[0]!;
const ramHigh = system.ram[1]!;
const gpuBar = system.barMemory(GPU, 1);

interface Case {
  readonly name: string;
  readonly client: string;
  readonly memory: Region;
  readonly device: DmaDeviceOptions;
  /** Expected kind per policy; an error code where the policy fails the mapping. */
  readonly reject: string;
  readonly bounce: string;
}

const CASES: Case[] = [
  { name: 'host RAM, in mask', client: NVME_SAME_SWITCH, memory: ramHigh, device: {}, reject: 'direct', bounce: 'direct' },
  { name: 'host RAM above a 32-bit mask', client: NVME_SAME_SWITCH, memory: ramHigh, device: { dmaBits: 32 }, reject: 'bounced:dma-mask', bounce: 'bounced:dma-mask' },
  { name: 'host RAM, forced bounce', client: NVME_SAME_SWITCH, memory: ramLow, device: { forceBounce: true }, reject: 'bounced:forced', bounce: 'bounced:forced' },
  { name: 'BAR behind the same switch', client: NVME_SAME_SWITCH, memory: gpuBar, device: {}, reject: 'bus-address', bounce: 'bus-address' },
  { name: 'BAR through a whitelisted host bridge', client: NIC_OTHER_ROOT_PORT, memory: gpuBar, device: {}, reject: 'host-bridge', bounce: 'host-bridge' },
  { name: 'BAR through the host bridge, 32-bit device', client: NIC_OTHER_ROOT_PORT, memory: gpuBar, device: { dmaBits: 32 }, reject: 'ERR_DMA_MAPPING', bounce: 'bounced:dma-mask' },
  { name: 'BAR through the host bridge, forced bounce', client: NIC_OTHER_ROOT_PORT, memory: gpuBar, device: { forceBounce: true }, reject: 'ERR_DMA_MAPPING', bounce: 'bounced:forced' },
  { name: 'BAR across a non-whitelisted host bridge', client: NVME_OTHER_HOST_BRIDGE, memory: gpuBar, device: {}, reject: 'ERR_DMA_P2P_NOT_SUPPORTED', bounce: 'bounced:p2p-not-supported' },
];

const DIRECTIONS = [DmaDirection.TO_DEVICE, DmaDirection.FROM_DEVICE, DmaDirection.BIDIRECTIONAL] as const;
const NAMES = { 0: 'BIDIRECTIONAL', 1: 'TO_DEVICE', 2: 'FROM_DEVICE' } as const;

describe.each(CASES)('$name', (c) => {
  describe.each(['reject', 'bounce'] as const)('policy %s', (policy) => {
    it.each(DIRECTIONS.map((d) => [NAMES[d], d] as const))('%s', async (_name, direction) => {
      const device = system.device(c.client, { ...c.device, p2pPolicy: policy });
      const expected = c[policy];
      const length = rng.int(1, 20000);
      const buffer = new GuardedBuffer(c.memory, rng, length, rng.int(0, 63));
      const usedBefore = system.swiotlb.stats().usedSlots;
      try {
        if (expected.startsWith('ERR_')) {
          await expect(device.mapSingle(buffer.phys, length, direction)).rejects.toMatchObject({ code: expected });
          expect(system.swiotlb.stats().usedSlots).toBe(usedBefore);
          buffer.check('after a failed map');
          return;
        }
        const mapped = await device.mapSingle(buffer.phys, length, direction);
        const [kind, reason] = expected.split(':');
        expect(mapped.kind).toBe(kind);
        expect(mapped.reason).toBe(reason);
        if (direction !== DmaDirection.FROM_DEVICE) {
          // The device reads exactly the original bytes.
          expect(Buffer.compare(device.dma.read(mapped.dmaAddress, length), buffer.bytes())).toBe(0);
        }
        if (direction !== DmaDirection.TO_DEVICE) {
          // The device writes part of the buffer; the rest must keep the original bytes.
          const from = rng.int(0, length - 1);
          const data = rng.fill(new Uint8Array(rng.int(1, length - from)));
          device.dma.write(mapped.dmaAddress + from, data);
          buffer.wrote(from, data);
        }
        await device.unmapSingle(mapped.dmaAddress, length, direction);
        buffer.check();
        expect(system.swiotlb.stats().usedSlots).toBe(usedBefore);
        if (kind === 'bounced') {
          await expect(Promise.resolve().then(() => device.dma.read(mapped.dmaAddress, 1))).rejects.toMatchObject({ code: 'ERR_DEVICE_FAULT' });
        }
      } finally {
        buffer.free();
      }
    });
  });
});
