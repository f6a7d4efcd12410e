// The streaming half of struct dma_map_ops: what a DMA implementation (dma-direct, iommu-dma)
// provides, so that the device API (mapping.ts) checks, traces and dispatches, as
// kernel/dma/mapping.c does, without knowing which implementation serves the device.
import type { DmaContext } from './context.js';
import type { MappingDevice } from './direct.js';
import type { StreamingDirection } from './direction.js';
import type { MappedSegment, SgEntry } from './types.js';

/** A range an unmap or sync names: what a map returned (a snapshot the device API took). */
export interface SegmentRef {
  readonly dmaAddress: number;
  readonly length: number;
}

/** Which way a sync copies: for the CPU (device → memory) or for the device (memory → device). */
export type SyncTarget = 'cpu' | 'device';

/**
 * One DMA implementation. Every entry gets validated snapshots (plain objects the caller cannot
 * change) and may throw coded errors; a failed map leaves nothing mapped, a refused unmap or sync
 * changes nothing.
 */
export interface DmaMapOps {
  readonly name: 'direct' | 'iommu';
  /** dma_map_phys(): one physically contiguous range. */
  mapPhys(ctx: DmaContext, device: MappingDevice, entry: SgEntry, direction: StreamingDirection, attrs: number, signal: AbortSignal | undefined): Promise<MappedSegment>;
  /** dma_unmap_phys(). */
  unmapPhys(ctx: DmaContext, device: MappingDevice, ref: SegmentRef, direction: StreamingDirection, attrs: number): Promise<void>;
  /** dma_map_sg(): the DMA segments, in order (an implementation may merge entries: fewer segments than entries). */
  mapSg(ctx: DmaContext, device: MappingDevice, entries: readonly SgEntry[], direction: StreamingDirection, attrs: number, signal: AbortSignal | undefined): Promise<MappedSegment[]>;
  /** dma_unmap_sg(): takes the segments mapSg returned. */
  unmapSg(ctx: DmaContext, device: MappingDevice, refs: readonly SegmentRef[], direction: StreamingDirection, attrs: number): Promise<void>;
  /** dma_sync_single_for_cpu() / _for_device(): a range inside one mapping. */
  syncSingle(ctx: DmaContext, device: MappingDevice, ref: SegmentRef, direction: StreamingDirection, target: SyncTarget): Promise<void>;
  /** dma_sync_sg_for_cpu() / _for_device(). */
  syncSg(ctx: DmaContext, device: MappingDevice, refs: readonly SegmentRef[], direction: StreamingDirection, target: SyncTarget): Promise<void>;
}
