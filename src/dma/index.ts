// The DMA layer: re-exports only.
export {
  SwiotlbPool,
  IO_TLB_SHIFT,
  IO_TLB_SIZE,
  IO_TLB_SEGSIZE,
  IO_TLB_DEFAULT_SIZE,
  IO_TLB_MIN_SLABS,
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
export {
  SwiotlbMem,
  DEFAULT_MAX_PAGE_ORDER,
  DEFAULT_SWIOTLB_PHYS_LIMIT,
  type SwiotlbMemOptions,
  type SwiotlbDynamicOptions,
  type SwiotlbMemMapRequest,
  type SwiotlbMemMapping,
  type SwiotlbMemMappingInfo,
  type SwiotlbMemStats,
  type SwiotlbDynamicStats,
  type SwiotlbPoolInfo,
  type SwiotlbPoolKind,
  type SwiotlbPoolView,
  type SwiotlbAllocOptions,
} from './swiotlb-mem.js';
export type { AllocPoolMemory, FreePoolMemory, SwiotlbPoolMemoryRequest } from './swiotlb-pool-memory.js';
export { createRestrictedDmaPool, type RestrictedDmaPoolNode } from './swiotlb-restricted.js';
export type { WorkMode as SwiotlbGrowthMode } from './swiotlb-work.js';
export {
  DmaDirection,
  DMA_ATTR_WEAK_ORDERING,
  DMA_ATTR_WRITE_COMBINE,
  DMA_ATTR_NO_KERNEL_MAPPING,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_ATTR_FORCE_CONTIGUOUS,
  DMA_ATTR_ALLOC_SINGLE_PAGES,
  DMA_ATTR_NO_WARN,
  DMA_ATTR_PRIVILEGED,
  DMA_ATTR_MMIO,
  DMA_ATTR_NAMES,
  directionName,
  type StreamingDirection,
} from './direction.js';
export { DmaDevice, MAX_SG_ENTRIES, type DmaDeviceOptions } from './mapping.js';
export { MAX_CPUS } from './device-options.js';
export type { DmaMapOps, SegmentRef, SyncTarget } from './ops.js';
export type { SystemState } from './lifecycle.js';
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
export type { BounceState } from './context.js';
export { Iommu, type IommuMode, type IommuOptions, type IommuFault, type IommuSettings } from './iommu/iommu.js';
export { IommuDomain, type DomainType, type IovaMapping, type IovaMappingState } from './iommu/domain.js';
export { IovaDomain, IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE, type Iova, type IovaDomainOptions, type IovaDomainStats } from './iommu/iova.js';
export { IovaState, type IovaStateName, type IovaLink } from './iommu/iova-api.js';
export { IOVA_DEFAULT_FQ_SIZE, IOVA_DEFAULT_FQ_TIMEOUT } from './iommu/flush-queue.js';
export { IOMMU_READ, IOMMU_WRITE, IOMMU_MMIO } from './iommu/page-table.js';
export { manualClock, realClock, type IommuClock } from './iommu/clock.js';
export type { DmaAccess } from './device-dma.js';
export { P2pdmaMapType, P2pdmaProviders, P2pdmaState, p2pdmaBusAddrMap, type P2pdmaProvider } from './p2pdma-state.js';
export { BlkDmaIterator, type BlkDmaSegment, type BlkQueueLimits, type BlkRequest, type BlkStatus } from './blk-dma-iter.js';
export { mapErrno } from './traced-ops.js';
export type { RestrictedPoolDefinition } from './restricted.js';
export type { CoherentAllocation } from './coherent.js';
