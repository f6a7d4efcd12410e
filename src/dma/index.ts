// The DMA layer: re-exports only.
export {
  SwiotlbPool,
  IO_TLB_SHIFT,
  IO_TLB_SIZE,
  IO_TLB_SEGSIZE,
  IO_TLB_DEFAULT_SIZE,
  maxMappingSize,
  nrSlots,
  type SwiotlbPoolOptions,
  type SwiotlbFullEvent,
  type SwiotlbMapRequest,
  type SwiotlbMapping,
  type SwiotlbMappingInfo,
  type SwiotlbStats,
  type SwiotlbAreaState,
  type SwiotlbWaitOptions,
} from './swiotlb.js';
export { DmaDirection, DMA_ATTR_SKIP_CPU_SYNC, directionName, type StreamingDirection } from './direction.js';
export { DmaDevice, type DmaDeviceOptions } from './device.js';
export {
  DmaDebug,
  DmaDebugCode,
  DMA_MAPPING_ERROR,
  type DmaDebugMode,
  type DmaDebugOptions,
  type DmaDebugReport,
  type DmaDebugMapping,
  type DmaDebugListener,
  type MappingFunction,
} from './debug.js';
export { DeviceDma, type DmaTarget } from './device-dma.js';
export { DmaSystem, DEFAULT_RAM, type RamDefinition, type SystemOptions } from './system.js';
export { DEFAULT_TOPOLOGY } from './default-topology.js';
export { MAP_COPY_BATCH, type P2pPolicy } from './direct.js';
export type { BounceReason, MappedSegment, MappedSg, MappingKind, SgEntry } from './types.js';
