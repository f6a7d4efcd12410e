// A reference model of how dma-direct + swiotlb + P2PDMA maps one segment, written from the kernel's rules
// independently of src/dma/direct.ts: given the device's properties, the memory the segment lives in and the
// P2P route (mapType is pure topology, tested on its own), it says which kind of mapping the segment gets,
// or which coded error the whole map call ends in.
import { mapType, type PciBar, type PciDevice } from '../../dist/src/index.js';

export interface RefDevice {
  readonly pci: PciDevice;
  readonly dmaBits: number;
  readonly forceBounce: boolean;
  readonly minAlignMask: number;
  readonly policy: 'reject' | 'bounce';
}

export type RefOutcome =
  | { readonly kind: 'direct' | 'host-bridge'; readonly dma: number }
  | { readonly kind: 'bus-address'; readonly dma: number; readonly capable: boolean }
  | { readonly kind: 'bounced'; readonly reason: 'dma-mask' | 'forced' | 'p2p-not-supported' }
  | { readonly kind: 'error'; readonly code: string };

const IO_TLB_SIZE = 2048;
const SEGMENT_BYTES = 128 * IO_TLB_SIZE;

export function dmaLimit(dmaBits: number): number {
  return dmaBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** dmaBits - 1;
}

function capable(device: RefDevice, addr: number, size: number): boolean {
  return addr + size - 1 <= dmaLimit(device.dmaBits);
}

/** swiotlb_max_mapping_size(). */
export function maxMappingSize(minAlignMask: number): number {
  return SEGMENT_BYTES - (minAlignMask === 0 ? 0 : Math.ceil(minAlignMask / IO_TLB_SIZE) * IO_TLB_SIZE);
}

/** One segment: `bar` is the BAR the memory belongs to, or undefined for host RAM. */
export function classifySegment(device: RefDevice, phys: number, length: number, bar: PciBar | undefined): RefOutcome {
  if (!bar) {
    if (device.forceBounce) return { kind: 'bounced', reason: 'forced' };
    if (!capable(device, phys, length)) return { kind: 'bounced', reason: 'dma-mask' };
    return { kind: 'direct', dma: phys };
  }
  const route = mapType(bar.device, device.pci);
  if (route.type === 'BUS_ADDR') {
    const bus = bar.busAddress + (phys - bar.phys);
    const ok = capable(device, bus, length);
    if (!ok && device.policy === 'bounce') return { kind: 'bounced', reason: 'dma-mask' };
    return { kind: 'bus-address', dma: bus, capable: ok };
  }
  if (route.type === 'THRU_HOST_BRIDGE') {
    const reason = device.forceBounce ? 'forced' : !capable(device, phys, length) ? 'dma-mask' : undefined;
    if (!reason) return { kind: 'host-bridge', dma: phys };
    return device.policy === 'bounce' ? { kind: 'bounced', reason } : { kind: 'error', code: 'ERR_DMA_MAPPING' };
  }
  return device.policy === 'bounce' ? { kind: 'bounced', reason: 'p2p-not-supported' } : { kind: 'error', code: 'ERR_DMA_P2P_NOT_SUPPORTED' };
}

/**
 * A whole map call: the first segment that cannot be mapped decides the error (dma-direct classifies in
 * order); then a bounced segment whose slots cannot fit one 128-slot segment (its length plus the
 * offset min_align_mask keeps inside the first slot; swiotlb_tbl_map_single() does not check
 * swiotlb_max_mapping_size()) or whose slot the device cannot address is a DMA mapping error.
 * `pool` is the swiotlb pool's [base, end).
 */
export function classifyList(device: RefDevice, segments: readonly { phys: number; length: number; bar: PciBar | undefined }[], pool: { base: number; end: number }): { error?: string; outcomes: RefOutcome[] } {
  const outcomes = segments.map((s) => classifySegment(device, s.phys, s.length, s.bar));
  const failed = outcomes.find((o) => o.kind === 'error');
  if (failed && failed.kind === 'error') return { error: failed.code, outcomes };
  for (const [i, o] of outcomes.entries()) {
    if (o.kind !== 'bounced') continue;
    const { length, phys } = segments[i]!;
    const offsetInSlot = device.minAlignMask === 0 ? 0 : phys % IO_TLB_SIZE % (device.minAlignMask + 1);
    if (length + offsetInSlot > SEGMENT_BYTES) return { error: 'ERR_DMA_MAPPING', outcomes };
    // The tests pick masks that put the whole pool either inside or outside the device's reach.
    if (!capable(device, pool.end - 1, 1)) return { error: 'ERR_DMA_MAPPING', outcomes };
  }
  return { outcomes };
}
