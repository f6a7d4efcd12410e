// The block layer's DMA iterator (block/blk-mq-dma.c, Linux 6.17; DMA_ATTR_MMIO for P2P through
// the host bridge since 6.18), as a helper a driver model can use: a request's bio_vecs are merged
// into physical segments as the queue limits allow, the first segment alone decides P2P for the
// whole request, and each segment is mapped with dma_map_phys(). The IOVA path
// (dma_iova_try_alloc()) is taken only when the queue's virtual boundary fits the device's merge
// boundary; without a translating IOMMU dma_iova_try_alloc() fails, so the per-segment path
// serves the request.
import { DmaMappingError, InvalidArgumentError, InvalidStateError, P2PNotSupportedError } from '../errors.js';
import { DMA_ATTR_MMIO, checkDirection, type StreamingDirection } from './direction.js';
import type { IovaState } from './iommu/iova-api.js';
import type { DmaDevice } from './mapping.js';
import { P2pdmaMapType } from './p2pdma-state.js';
import type { MappedSegment, SgEntry } from './types.js';

/** The queue limits the iterator reads (struct queue_limits). */
export interface BlkQueueLimits {
  /** max_segment_size; default 64 KiB. */
  readonly maxSegmentSize?: number;
  /** seg_boundary_mask (2^n - 1); default 0xffffffff. */
  readonly segBoundaryMask?: number;
  /** virt_boundary_mask (the gap mask, 2^n - 1, 0 for none; NVMe: 4095); default 0. */
  readonly virtBoundaryMask?: number;
}

/** A request: its bio_vecs in order, its direction, and whether it carries P2P memory (REQ_P2PDMA). */
export interface BlkRequest {
  readonly bvecs: readonly SgEntry[];
  readonly direction: StreamingDirection;
  readonly p2p?: boolean;
  readonly limits?: BlkQueueLimits;
}

/** What the iterator mapped for one segment: the DMA address and length (iter->addr, iter->len). */
export interface BlkDmaSegment {
  readonly addr: number;
  readonly len: number;
  /** How it reached the device (bus-address segments are not unmapped). */
  readonly kind: MappedSegment['kind'];
}

/** The iterator's status (iter->status): 'ok', or the blk_status_t a failure gives. */
export type BlkStatus = 'ok' | 'BLK_STS_INVAL' | 'BLK_STS_RESOURCE' | 'BLK_STS_IOERR';

type IterState = 'idle' | 'mapping' | 'done' | 'unmapped';

/**
 * models struct blk_dma_iter with blk_rq_dma_map_iter_start() / _next() and the driver's unmap.
 * Mainline fails a request whose first segment is P2P memory the device cannot reach
 * (NOT_SUPPORTED: BLK_STS_INVAL); with the device's policy 'bounce' the model bounces it instead
 * (beyond mainline: every segment then goes through dma_map_phys() and swiotlb).
 */
export class BlkDmaIterator {
  readonly #device: DmaDevice;
  readonly #vecs: SgEntry[];
  readonly #direction: StreamingDirection;
  readonly #p2p: boolean;
  readonly #mapped: MappedSegment[] = [];
  readonly #limits: Limits;
  readonly #totalLen: number;
  /** The IOVA state when the request took the IOVA path (dma_use_iova()). */
  #iova: IovaState | undefined;
  #iovaMapped = 0;
  #next = 0;
  /** DMA_ATTR_MMIO for a request through the host bridge (REQ_MMIO), else 0. */
  #attrs = 0;
  /** The first segment's provider bus offset when the request is BUS_ADDR. */
  #busOffset: number | undefined;
  #state: IterState = 'idle';
  /** A start(), next() or unmap() is in flight: another call now is refused (they do not overlap). */
  #busy = false;
  /** iter->status after a start() or next() that returned null. */
  status: BlkStatus = 'ok';

  /** Takes a snapshot of the request (bio_vecs merged as blk_map_iter_next() merges them). Throws ERR_INVALID_ARGUMENT. */
  constructor(device: DmaDevice, request: BlkRequest) {
    if (request === null || typeof request !== 'object') throw new InvalidArgumentError('request must be { bvecs, direction, p2p?, limits? }', { argument: 'request' });
    const { bvecs, direction, p2p = false, limits = {} } = request;
    checkDirection(direction);
    if (typeof p2p !== 'boolean') throw new InvalidArgumentError('request.p2p must be a boolean', { argument: 'p2p' });
    this.#device = device;
    this.#direction = direction;
    this.#p2p = p2p;
    this.#limits = queueLimits(limits);
    this.#vecs = mergeSegments(bvecs, this.#limits);
    this.#totalLen = this.#vecs.reduce((sum, v) => sum + v.length, 0);
  }

  /** Whether the request was mapped through the IOVA API as one DMA segment (dma_use_iova()). */
  get usedIova(): boolean {
    return this.#iova !== undefined;
  }

  /** The physical segments the request merged into (what __blk_rq_map_sg() would put in a list). */
  get segments(): readonly SgEntry[] {
    return this.#vecs;
  }

  /**
   * models blk_rq_dma_map_iter_start(): maps the first segment and resolves with it, or with null
   * and `status` set (BLK_STS_INVAL when a P2P request's first segment is not P2P memory the device
   * can reach, BLK_STS_RESOURCE when the mapping failed). Throws ERR_INVALID_STATE when called twice.
   */
  start(): Promise<BlkDmaSegment | null> {
    return this.#exclusive('start', () => this.#start());
  }

  async #start(): Promise<BlkDmaSegment | null> {
    if (this.#state !== 'idle') throw new InvalidStateError(`start() on an iterator that is ${this.#state}`);
    this.#state = 'mapping';
    const first = this.#vecs[0];
    if (!first) return this.#finish('ok');
    if (this.#p2p) {
      // Only the first segment is classified; the rest of the request is mapped alike.
      const { map, provider } = this.#device.p2pdmaState(first.phys, first.length);
      if (map === P2pdmaMapType.BUS_ADDR) this.#busOffset = provider!.busOffset;
      else if (map === P2pdmaMapType.THRU_HOST_BRIDGE) this.#attrs = DMA_ATTR_MMIO;
      // Beyond mainline: under policy 'bounce' unreachable P2P memory is bounced like RAM.
      else if (!(map === P2pdmaMapType.NOT_SUPPORTED && this.#device.p2pPolicy === 'bounce')) return this.#finish('BLK_STS_INVAL');
    }
    // models blk_can_dma_map_iova(): the queue's gap mask must fit the IOVA merge boundary.
    if (this.#busOffset === undefined && ((this.#limits.virtBoundaryMask + 1) & this.#device.mergeBoundary) === 0) {
      const state = this.#device.iovaTryAlloc(first.phys, this.#totalLen);
      if (this.#device.useIova(state)) return this.#mapIova(state);
    }
    this.#next = 1;
    return this.#map(first);
  }

  // models blk_rq_dma_map_iova(): every segment linked at its offset, one sync, one DMA segment for the request.
  async #mapIova(state: IovaState): Promise<BlkDmaSegment | null> {
    this.#iova = state;
    const dir = this.#direction;
    try {
      for (const vec of this.#vecs) {
        await this.#device.iovaLink(state, vec.phys, this.#iovaMapped, vec.length, dir, this.#attrs);
        this.#iovaMapped += vec.length;
      }
      this.#device.iovaSync(state, 0, this.#iovaMapped);
    } catch (error) {
      const status = blkStatusOf(error);
      if (status === undefined) throw error;
      await this.#device.iovaDestroy(state, this.#iovaMapped, dir, this.#attrs);
      this.#iova = undefined;
      this.#iovaMapped = 0;
      return this.#finish(status);
    }
    this.#next = this.#vecs.length;
    return { addr: state.addr, len: state.size, kind: 'iommu' };
  }

  /** models blk_rq_dma_map_iter_next(): the next segment, or null at the end (status 'ok') or on a failure. */
  next(): Promise<BlkDmaSegment | null> {
    return this.#exclusive('next', () => this.#nextSegment());
  }

  async #nextSegment(): Promise<BlkDmaSegment | null> {
    if (this.#state !== 'mapping') throw new InvalidStateError(`next() on an iterator that is ${this.#state}`);
    const vec = this.#vecs[this.#next];
    if (!vec) return this.#finish('ok');
    this.#next++;
    return this.#map(vec);
  }

  /** Every segment, start() then next() until null; resolves with them, or rejects with the status as a coded error after unmapping what was mapped. */
  async mapAll(): Promise<BlkDmaSegment[]> {
    const out: BlkDmaSegment[] = [];
    for (let seg = await this.start(); seg !== null; seg = await this.next()) out.push(seg);
    if (this.status !== 'ok') {
      const status = this.status;
      const failed = this.#vecs[Math.max(0, this.#next - 1)]!;
      await this.unmap();
      const at = { address: failed.phys, length: failed.length, status };
      if (status !== 'BLK_STS_INVAL') throw new DmaMappingError(`${this.#device.bdf}: mapping the request failed at 0x${failed.phys.toString(16)} (${status})`, { errno: 'EIO', ...at });
      const state = this.#device.p2pdmaState(failed.phys, failed.length);
      throw new P2PNotSupportedError(`${this.#device.bdf}: the request's first segment is not P2P memory the device can reach (${status}), as blk-mq-dma fails it`, {
        errno: 'EREMOTEIO', ...at, provider: state.provider?.owner.bdf ?? '', reasons: state.provider ? this.#device.route(state.provider.owner).reasons : ['not P2P memory'],
      });
    }
    return out;
  }

  /** The driver's unmap (blk_rq_dma_unmap(), then dma_unmap_phys() per segment): bus addresses need none. Idempotent. */
  unmap(): Promise<void> {
    return this.#exclusive('unmap', () => this.#unmap());
  }

  async #unmap(): Promise<void> {
    if (this.#state === 'unmapped') return;
    this.#state = 'unmapped';
    if (this.#iova !== undefined) {
      // dma_use_iova(): the IOVA API takes it all back (dma_iova_destroy()).
      await this.#device.iovaDestroy(this.#iova, this.#iovaMapped, this.#direction, this.#attrs);
      return;
    }
    for (const segment of this.#mapped.splice(0)) await this.#device.unmapPhys(segment.dmaAddress, segment.length, this.#direction, this.#attrs);
  }

  // blk_dma_map_bus() for a bus-address request, else blk_dma_map_direct() (dma_map_phys()).
  async #map(vec: SgEntry): Promise<BlkDmaSegment | null> {
    if (this.#busOffset !== undefined) return { addr: vec.phys + this.#busOffset, len: vec.length, kind: 'bus-address' };
    try {
      const segment = await this.#device.mapPhys(vec.phys, vec.length, this.#direction, this.#attrs);
      this.#mapped.push(segment);
      return { addr: segment.dmaAddress, len: segment.length, kind: segment.kind };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // dma_mapping_error() after dma_map_phys(): BLK_STS_RESOURCE, whatever the cause.
      if (code === 'ERR_DMA_MAPPING' || code === 'ERR_SWIOTLB_FULL' || code === 'ERR_DMA_P2P_NOT_SUPPORTED' || code === 'ERR_BAD_ADDRESS') return this.#finish('BLK_STS_RESOURCE');
      throw error;
    }
  }

  // One call at a time: an unmap() while a segment is still being mapped would miss it (a leak).
  async #exclusive<T>(call: string, run: () => Promise<T>): Promise<T> {
    if (this.#busy) throw new InvalidStateError(`${call}() while another call of this iterator is in flight: await it first`, { state: 'busy' });
    this.#busy = true;
    try {
      return await run();
    } finally {
      this.#busy = false;
    }
  }

  #finish(status: BlkStatus): null {
    this.status = status;
    this.#state = 'done';
    return null;
  }
}

// models errno_to_blk_status() for the errors a link or sync gives; undefined for anything else (a bug: rethrown).
function blkStatusOf(error: unknown): BlkStatus | undefined {
  const { code, errno } = error as { code?: unknown; errno?: unknown };
  if (code === 'ERR_SWIOTLB_FULL' || errno === 'ENOMEM') return 'BLK_STS_RESOURCE';
  if (code === 'ERR_IOVA_RULE' || errno === 'EINVAL') return 'BLK_STS_INVAL';
  if (code === 'ERR_DMA_MAPPING' || code === 'ERR_BAD_ADDRESS') return 'BLK_STS_IOERR';
  return undefined;
}

interface Limits {
  readonly maxSegmentSize: number;
  readonly segBoundaryMask: number;
  readonly virtBoundaryMask: number;
}

function queueLimits(given: unknown): Limits {
  if (given === null || typeof given !== 'object') throw new InvalidArgumentError('request.limits must be an object', { argument: 'limits' });
  const { maxSegmentSize = 65536, segBoundaryMask = 0xffffffff, virtBoundaryMask = 0 } = given as BlkQueueLimits;
  if (typeof maxSegmentSize !== 'number' || !Number.isSafeInteger(maxSegmentSize) || maxSegmentSize < 512 || maxSegmentSize > 2 ** 32 - 1) {
    throw new InvalidArgumentError('limits.maxSegmentSize must be an integer in 512..2^32-1', { argument: 'maxSegmentSize' });
  }
  for (const [name, mask] of [['segBoundaryMask', segBoundaryMask], ['virtBoundaryMask', virtBoundaryMask]] as const) {
    if (typeof mask !== 'number' || !Number.isSafeInteger(mask) || mask < 0 || !Number.isInteger(Math.log2(mask + 1))) throw new InvalidArgumentError(`limits.${name} must be 2^n - 1`, { argument: name });
  }
  return { maxSegmentSize, segBoundaryMask, virtBoundaryMask };
}

// models blk_map_iter_next(): each bio_vec split at get_max_segment_size() (the max segment size
// and the segment boundary), and a following bio_vec merged in when physically contiguous
// (biovec_phys_mergeable()) and the sum stays within that size.
function mergeSegments(given: unknown, limits: Limits): SgEntry[] {
  if (!Array.isArray(given) || given.length === 0 || given.length > 2 ** 20) throw new InvalidArgumentError('request.bvecs must be an array of 1..2^20 { phys, length }', { argument: 'bvecs' });
  const out: SgEntry[] = [];
  let cur: { phys: number; length: number; max: number } | undefined;
  for (let i = 0; i < given.length; i++) {
    const v: unknown = given[i];
    const { phys, length } = (v !== null && typeof v === 'object' ? v : {}) as { phys?: unknown; length?: unknown };
    if (typeof phys !== 'number' || !Number.isSafeInteger(phys) || phys < 0 || typeof length !== 'number' || !Number.isSafeInteger(length) || length < 1 || length > 2 ** 32 - 1) {
      throw new InvalidArgumentError(`request.bvecs[${i}] must be { phys, length } (non-negative integers, length 1..2^32-1)`, { argument: 'bvecs' });
    }
    let at = phys;
    let left = length;
    while (left > 0) {
      if (cur && cur.phys + cur.length === at && mergeable(cur.phys, at, limits) && cur.length + left <= cur.max) {
        cur.length += left;
        left = 0;
        break;
      }
      const max = maxSegmentSize(at, limits);
      const take = Math.min(left, max);
      cur = { phys: at, length: take, max };
      out.push(cur);
      at += take;
      left -= take;
    }
  }
  return out.map(({ phys, length }) => ({ phys, length }));
}

// models get_max_segment_size(): min(max_segment_size, bytes to the next segment boundary).
function maxSegmentSize(phys: number, limits: Limits): number {
  const block = limits.segBoundaryMask + 1;
  return Math.min(limits.maxSegmentSize, block - (phys % block));
}

// models biovec_phys_mergeable(): contiguous (checked by the caller) and inside one boundary block.
function mergeable(start: number, next: number, limits: Limits): boolean {
  const block = limits.segBoundaryMask + 1;
  return Math.floor(start / block) === Math.floor(next / block);
}
