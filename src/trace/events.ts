// The DMA and swiotlb tracepoint events as plain data: what the model emits and what a capture
// parses into. One shape per TP_printk class of include/trace/events/dma.h and swiotlb.h.
// Addresses are numbers: exact below 2^53; DMA_MAPPING_ERROR (all ones) is TRACE_MAPPING_ERROR.

/** dma_addr=ffffffffffffffff: a map that failed (DMA_MAPPING_ERROR). */
export const TRACE_MAPPING_ERROR = -1;

/** Where and when an event happened: the ftrace line's context. */
export interface TraceContext {
  /** Seconds (the ftrace timestamp, microsecond resolution). */
  readonly ts: number;
  readonly cpu: number;
  /** dev_name(): a PCI function's BDF, or a platform device name. */
  readonly device: string;
}

/** dma_map_phys (6.18+), dma_map_page and dma_map_resource (before 6.18). `dmaAddr` is TRACE_MAPPING_ERROR when the map failed. */
export interface MapEvent extends TraceContext {
  readonly type: 'map';
  /** The kernel's event name as printed. */
  readonly name: string;
  readonly dir: number;
  readonly dmaAddr: number;
  readonly size: number;
  readonly physAddr: number;
  readonly attrs: number;
}

/** dma_unmap_phys (6.18+), dma_unmap_page and dma_unmap_resource (before 6.18). */
export interface UnmapEvent extends TraceContext {
  readonly type: 'unmap';
  readonly name: string;
  readonly dir: number;
  readonly dmaAddr: number;
  readonly size: number;
  readonly attrs: number;
}

/** dma_map_sg: `nents` entries in, `ents` DMA segments out; arrays hold at most 128 entries each when `truncated`. */
export interface MapSgEvent extends TraceContext {
  readonly type: 'map_sg';
  readonly dir: number;
  readonly nents: number;
  readonly ents: number;
  readonly truncated: boolean;
  readonly dmaAddrs: readonly number[];
  readonly sizes: readonly number[];
  readonly physAddrs: readonly number[];
  readonly attrs: number;
}

/** dma_map_sg_err (6.13+): the entries' physical addresses (printed as dma_addrs=) and the negative errno. */
export interface MapSgErrEvent extends TraceContext {
  readonly type: 'map_sg_err';
  readonly dir: number;
  readonly physAddrs: readonly number[];
  readonly err: number;
  readonly attrs: number;
}

/** dma_unmap_sg: the entries' physical addresses. */
export interface UnmapSgEvent extends TraceContext {
  readonly type: 'unmap_sg';
  readonly dir: number;
  readonly physAddrs: readonly number[];
  readonly attrs: number;
}

/** dma_sync_single_for_cpu / _for_device. */
export interface SyncSingleEvent extends TraceContext {
  readonly type: 'sync_single';
  readonly target: 'cpu' | 'device';
  readonly dir: number;
  readonly dmaAddr: number;
  readonly size: number;
}

/** dma_sync_sg_for_cpu / _for_device. */
export interface SyncSgEvent extends TraceContext {
  readonly type: 'sync_sg';
  readonly target: 'cpu' | 'device';
  readonly dir: number;
  readonly dmaAddrs: readonly number[];
  readonly sizes: readonly number[];
}

/** swiotlb_bounced: one bounced map, traced before the slot is taken; `devAddr` is the original buffer's DMA address. */
export interface BouncedEvent extends TraceContext {
  readonly type: 'bounced';
  /** The device's DMA mask as printed (hex, no 0x): masks can exceed 2^53. */
  readonly dmaMask: string;
  readonly devAddr: number;
  readonly size: number;
  /** FORCE or NORMAL (v5.19+); NO_FORCE too in v4.10-v5.18. */
  readonly force: 'FORCE' | 'NORMAL' | 'NO_FORCE';
}

/** The coherent-allocation events (dma_alloc, dma_free, dma_alloc_pages, ...): parsed for their device, never replayed. */
export interface CoherentEvent extends TraceContext {
  readonly type: 'coherent';
  readonly name: string;
}

/** Any event of the dma and swiotlb trace systems, by `type`. */
export type TraceEvent = MapEvent | UnmapEvent | MapSgEvent | MapSgErrEvent | UnmapSgEvent | SyncSingleEvent | SyncSgEvent | BouncedEvent | CoherentEvent;
