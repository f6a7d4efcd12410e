// What the DMA layer's pieces share: the fabric, the topology, the copy engine and the
// swiotlb pool, plus the live bounce mappings. DmaSystem builds it; devices hold it.
import type { CopyEngine } from '../engine/index.js';
import type { Fabric, Region } from '../fabric/index.js';
import type { PciBar, Topology } from '../pci/index.js';
import type { DmaDebug } from './debug.js';
import type { StreamingDirection } from './direction.js';
import type { BounceRecords } from './bounce-records.js';
import type { SystemLifecycle } from './lifecycle.js';
import type { P2pdmaProviders } from './p2pdma-state.js';
import type { CoherentRecord } from './coherent.js';
import type { SwiotlbMem } from './swiotlb-mem.js';
import type { Iommu } from './iommu/iommu.js';
import type { DmaTracer } from '../trace/index.js';

/**
 * Where a bounce mapping is in its life. 'mapping': slots taken, copy-in in flight, the map has not
 * resolved; 'live': the device may use it, syncs and unmap are accepted; 'unmapping': the unmap
 * has begun (copy-back in flight); 'free': the slots went back to the pool. Only 'live' accepts
 * unmap, sync and device DMA; the slots are reused only once the mapping is free.
 */
export type BounceState = 'mapping' | 'live' | 'unmapping' | 'free';

/** A swiotlb mapping: which device owns it, where the original bytes live, and its state. */
export interface BounceRecord {
  readonly deviceId: number;
  /** DMA (= physical) address of the first data byte in the pool. */
  readonly tlbAddr: number;
  readonly origPhys: number;
  /** Fabric offsets of the original's first byte and of the slot's first data byte. */
  readonly origOffset: number;
  readonly slotOffset: number;
  readonly size: number;
  readonly direction: StreamingDirection;
  readonly minAlignMask: number;
  /** The unmap call that last named this mapping (to catch one named twice in a call). */
  claim: number;
  state: BounceState;
  /** Sync copies in flight on this mapping; an unmap waits for them before it copies back and frees. */
  busy: number;
  /** Called when `busy` drops to 0 (an unmap waiting for syncs). */
  onIdle: (() => void) | undefined;
}

export interface DmaContext {
  readonly fabric: Fabric;
  readonly topology: Topology;
  readonly engine: CopyEngine;
  /** The swiotlb io_tlb_mem: the default pool, and in dynamic mode the pools added later. */
  readonly pool: SwiotlbMem;
  /** The fabric region holding the default pool's bytes (phys = dma); added pools live in host RAM. */
  readonly poolRegion: Region;
  /** Live bounce mappings by tlbAddr. */
  readonly bounced: BounceRecords;
  /** The fabric region backing a BAR (only BARs with backing memory). */
  readonly barRegions: ReadonlyMap<PciBar, Region>;
  /** The BAR a backing region belongs to. */
  readonly barOfRegion: ReadonlyMap<Region, PciBar>;
  /** The P2P providers (one per p2pmem BAR) and the map types their owners' clients asked for. */
  readonly p2pdma: P2pdmaProviders;
  /** dma-debug, when the system was created with it. */
  readonly debug: DmaDebug | undefined;
  /** Open, closing or closed, and the calls in flight. */
  readonly lifecycle: SystemLifecycle;
  /** The IOMMU, when the system has one (any mode but 'off'). */
  readonly iommu: Iommu | undefined;
  /** The tracepoints, when the system was created with `trace`. */
  readonly tracer?: DmaTracer | undefined;
  /** Host RAM regions (coherent allocations come from them). */
  readonly ram: readonly Region[];
  /** Live coherent allocations of this swiotlb view's devices, by DMA address. */
  readonly coherent: Map<number, CoherentRecord>;
  /**
   * The system's own io_tlb_mem. A device with a restricted DMA pool sees that pool as `pool`
   * (the kernel's dev->dma_io_tlb_mem); the system's pools must still refuse its DMA.
   */
  readonly systemPool: SwiotlbMem;
}
