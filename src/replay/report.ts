// The figures a replay reports, per device and in total: plain data for JSON.

/** Calls, bytes and failures of one device (or of all of them). */
export interface ReplayFigures {
  /** DMA API calls replayed (maps, unmaps, syncs). */
  calls: number;
  maps: number;
  unmaps: number;
  syncs: number;
  /** Bytes mapped (every map's length, mapped or not). */
  bytes: number;
  /** Bytes the model bounced through swiotlb. */
  bytesBounced: number;
  /** The most bytes this device held in swiotlb at once (the pool's high-water mark is in the run). */
  bounceHighWaterBytes: number;
  /** Maps the model failed, by errno name (EIO, ENOMEM, EREMOTEIO, ...). */
  failures: number;
  failuresByErrno: Record<string, number>;
  /** Maps that failed for want of swiotlb space. */
  fullEvents: number;
  /** Maps the capture shows failing that the model mapped (unmapped again at once). */
  mappedWhereCaptureFailed: number;
  /** Calls the model refused as invalid (a direction of NONE, a length of 0, ...), by error code. */
  refused: number;
  refusedByCode: Record<string, number>;
  /** Unmaps and syncs of a mapping the capture never showed. */
  unmatchedUnmaps: number;
  unmatchedSyncs: number;
  /** Mappings still live at the end of the capture, and their bytes. */
  liveAtEnd: number;
  liveBytesAtEnd: number;
}

export interface ReplayDeviceReport extends ReplayFigures {
  /** The capture's device name. */
  readonly device: string;
  /** The topology function it was replayed as (itself, or the stand-in for a device the topology lacks). */
  readonly replayedAs: string;
  readonly dmaBits: number;
  readonly forceBounce: boolean;
}

/** A swiotlb full event: when (capture seconds), which device, how large a mapping. */
export interface ReplayFullEvent {
  readonly t: number;
  readonly device: string;
  readonly size: number;
  readonly line: number;
}

/** One sample of pool occupancy (the most slots used in its time bucket). */
export interface PoolOccupancySample {
  readonly t: number;
  readonly usedSlots: number;
  readonly totalSlots: number;
}

/** An unmap or sync that named no mapping the capture showed. */
export interface UnmatchedCall {
  readonly line: number;
  readonly device: string;
  readonly event: string;
  readonly dmaAddr: number;
}

/** The configuration a run replayed under. */
export interface ReplayRunConfig {
  readonly swiotlbBytes: number;
  readonly forceBounce: boolean | 'capture';
  readonly p2pPolicy: 'reject' | 'bounce';
  readonly iommu?: string;
}

/** One configuration's replay: its figures per device and in total, the pool, its full events and occupancy. */
export interface ReplayRun {
  readonly config: ReplayRunConfig;
  readonly total: ReplayFigures;
  readonly devices: ReplayDeviceReport[];
  readonly pool: { readonly totalSlots: number; readonly highWaterSlots: number; readonly highWaterBytes: number; readonly fullEvents: number };
  /** The first 1000 full events. */
  readonly fullEvents: ReplayFullEvent[];
  /** The first 100 unmatched unmaps and syncs. */
  readonly unmatched: UnmatchedCall[];
  readonly poolOccupancy: PoolOccupancySample[];
}

export function emptyFigures(): ReplayFigures {
  return {
    calls: 0, maps: 0, unmaps: 0, syncs: 0, bytes: 0, bytesBounced: 0, bounceHighWaterBytes: 0, failures: 0, failuresByErrno: {}, fullEvents: 0,
    mappedWhereCaptureFailed: 0, refused: 0, refusedByCode: {}, unmatchedUnmaps: 0, unmatchedSyncs: 0, liveAtEnd: 0, liveBytesAtEnd: 0,
  };
}

/** Adds `b` into `a` (high-water marks add: a bound for the devices together). */
export function addFigures(a: ReplayFigures, b: ReplayFigures): void {
  for (const key of ['calls', 'maps', 'unmaps', 'syncs', 'bytes', 'bytesBounced', 'bounceHighWaterBytes', 'failures', 'fullEvents', 'mappedWhereCaptureFailed', 'refused', 'unmatchedUnmaps', 'unmatchedSyncs', 'liveAtEnd', 'liveBytesAtEnd'] as const) a[key] += b[key];
  for (const [k, v] of Object.entries(b.failuresByErrno)) a.failuresByErrno[k] = (a.failuresByErrno[k] ?? 0) + v;
  for (const [k, v] of Object.entries(b.refusedByCode)) a.refusedByCode[k] = (a.refusedByCode[k] ?? 0) + v;
}
