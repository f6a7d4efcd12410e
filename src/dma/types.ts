// Plain data the DMA API hands out and takes back.
import type { StreamingDirection } from './direction.js';

/** One scatter-gather entry: a CPU physical range in host RAM or in a BAR. */
export interface SgEntry {
  readonly phys: number;
  readonly length: number;
}

/** How a segment reached the device. */
export type MappingKind =
  /** Host RAM the device can address: dma = phys (dma_direct_map_page). */
  | 'direct'
  /** A peer's BAR behind a common switch: dma = the BAR's bus address (PCI_P2PDMA_MAP_BUS_ADDR). */
  | 'bus-address'
  /** A peer's BAR through the host bridge: a normal mapping, dma = phys (PCI_P2PDMA_MAP_THRU_HOST_BRIDGE). */
  | 'host-bridge'
  /** Copied through a swiotlb slot: dma = the slot's address (under an IOMMU, an IOVA mapping the slot). */
  | 'bounced'
  /** Host RAM through the IOMMU: dma = an IOVA (iommu-dma). */
  | 'iommu';

/** Why a segment was bounced. */
export type BounceReason =
  /** Beyond the device's DMA mask or bus limit (dma_capable() failed). */
  | 'dma-mask'
  /** The device bounces everything (swiotlb=force, SEV/TDX guests). */
  | 'forced'
  /** P2P between the BAR's owner and the device is NOT_SUPPORTED, and the policy bounces. */
  | 'p2p-not-supported'
  // Beyond mainline, DMA_ATTR_MMIO ranges under policy 'bounce' (mainline never bounces MMIO: the map fails):
  /** DMA_ATTR_MMIO, and the device bounces every mapping. */
  | 'mmio-forced'
  /** DMA_ATTR_MMIO beyond the device's DMA mask or bus limit. */
  | 'mmio-dma-mask'
  /** DMA_ATTR_MMIO on a BAR whose P2P route to the device is NOT_SUPPORTED. */
  | 'mmio-p2p-not-supported'
  /** An untrusted device behind an IOMMU, and the range is not granule aligned (iommu_dma_map_swiotlb()). */
  | 'untrusted';

export interface MappedSegment {
  readonly phys: number;
  readonly length: number;
  readonly dmaAddress: number;
  readonly kind: MappingKind;
  readonly reason?: BounceReason;
  /** For BAR memory: the BDF of the device that owns the BAR. */
  readonly provider?: string;
}

/** A mapped scatter-gather list: what mapSg returns and unmapSg / syncSg* take back. */
export interface MappedSg {
  readonly direction: StreamingDirection;
  /** The entry count that was passed to mapSg (the kernel's unmap needs the original nents). */
  readonly nents: number;
  readonly segments: readonly MappedSegment[];
}
