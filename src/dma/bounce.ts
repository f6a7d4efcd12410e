// The swiotlb glue: allocate and free bounce slots for a device, and move bytes between the
// original buffer and its slot through the copy engine. The pool itself (swiotlb.ts) only
// keeps slot accounting.
import { AbortError, DmaMappingError, EngineStoppedError, InvalidArgumentError, MappingStateError, SystemClosedError, WorkerDiedError } from '../errors.js';
import type { Placement } from '../engine/index.js';
import type { BounceRecord, DmaContext } from './context.js';
import type { StreamingDirection } from './direction.js';
import { maxMappingSize } from './swiotlb.js';
import type { SwiotlbMemMapping } from './swiotlb-mem.js';


/** Where a bounced device allocates: its identity and the pool options that shape placement. */
export interface BounceOwner {
  readonly id: number;
  readonly minAlignMask: number;
  readonly cpu: number;
  /** The device's segment boundary as the pool takes it: 2^k - 1 with k >= 11, or -1 for none. */
  readonly boundaryMask: number;
  /** Wait for pool space instead of failing: false, or the longest wait in ms (Infinity: no limit). */
  readonly waitForSpace: false | number;
  /** min(dma_mask, bus_dma_limit): a dynamic swiotlb allocates new pools below it. */
  readonly physLimit: number;
}

/** A copy to make: fabric offsets. */
export type CopyTriple = [dst: number, src: number, len: number];

/**
 * Takes slots for [phys, phys + size) (models swiotlb_tbl_map_single() without its copy: the
 * caller batches the copy-in of every segment of a call). Throws SwiotlbFullError
 * (ERR_SWIOTLB_FULL) when the pools have no room, and DmaMappingError (ERR_DMA_MAPPING, errno EIO)
 * for a segment whose slots cannot fit one 128-slot segment (the kernel's search finds no run, as
 * it finds none for a full pool). A mapping larger than swiotlb_max_mapping_size() that fits is
 * placed, as swiotlb_tbl_map_single() places it.
 */
export function allocateBounce(ctx: DmaContext, owner: BounceOwner, phys: number, origOffset: number, size: number, direction: StreamingDirection, allocAlignMask = 0): BounceRecord {
  let tlbAddr: number;
  try {
    // tryMap allocates no result object on the hot path; when full, map() raises the error.
    tlbAddr = ctx.pool.tryMap(phys, size, owner.minAlignMask, allocAlignMask, owner.cpu, owner.boundaryMask, owner.physLimit);
    if (tlbAddr < 0) tlbAddr = ctx.pool.map(request(owner, phys, size, allocAlignMask)).tlbAddr;
  } catch (error) {
    throw tooLarge(error, owner, phys, size);
  }
  return remember(ctx, owner, tlbAddr, phys, origOffset, size, direction);
}

/**
 * allocateBounce() (with its `allocAlignMask`, the IOMMU bounce path's granule - 1) for an owner
 * that waits for space (QEMU-style map-client retry) instead of failing: the record at once when
 * the pool has room and nobody waits, else a promise of it. Throws or rejects as allocateBounce().
 */
// The wait also ends when the system starts closing: close() must settle every waiter.
export function allocateBounceWaiting(ctx: DmaContext, owner: BounceOwner, phys: number, origOffset: number, size: number, direction: StreamingDirection, signal?: AbortSignal, allocAlignMask = 0): BounceRecord | Promise<BounceRecord> {
  const wait = owner.waitForSpace === false ? 0 : owner.waitForSpace;
  const closing = ctx.lifecycle.closingSignal;
  const failed = (error: unknown): never => {
    if (error instanceof AbortError && closing.aborted && !signal?.aborted) throw closing.reason as SystemClosedError;
    throw tooLarge(error, owner, phys, size);
  };
  let slot: SwiotlbMemMapping | Promise<SwiotlbMemMapping>;
  try {
    const until = signal ? AbortSignal.any([signal, closing]) : closing;
    slot = ctx.pool.mapWaitOrNow(request(owner, phys, size, allocAlignMask), Number.isFinite(wait) ? { timeout: wait, signal: until } : { signal: until });
  } catch (error) {
    return failed(error);
  }
  if (!(slot instanceof Promise)) return remember(ctx, owner, slot.tlbAddr, phys, origOffset, size, direction);
  return slot.then((s) => remember(ctx, owner, s.tlbAddr, phys, origOffset, size, direction), failed);
}

function request(owner: BounceOwner, phys: number, size: number, allocAlignMask = 0) {
  return { origAddr: phys, size, minAlignMask: owner.minAlignMask, allocAlignMask, cpu: owner.cpu, boundaryMask: owner.boundaryMask, physLimit: owner.physLimit };
}

// A segment no pool can ever hold is a mapping failure of the caller's valid request, not a bad
// argument: the kernel's swiotlb_find_slots() finds no run longer than a segment and the map returns
// DMA_MAPPING_ERROR (dma_direct_map_sg: -EIO).
function tooLarge(error: unknown, owner: BounceOwner, phys: number, size: number): unknown {
  if (!(error instanceof InvalidArgumentError) || (error as { reason?: unknown }).reason !== 'larger-than-segment') return error;
  const allocBytes = (error as { allocBytes?: number }).allocBytes;
  return new DmaMappingError(
    `cannot bounce ${size} bytes at 0x${phys.toString(16)}: its slots do not fit one swiotlb segment (128 slots of 2 KiB); split the segment`,
    { errno: 'EIO', address: phys, length: size, maxMappingSize: maxMappingSize(owner.minAlignMask), ...(allocBytes === undefined ? {} : { allocBytes }), cause: error },
  );
}

function remember(ctx: DmaContext, owner: BounceOwner, tlbAddr: number, origPhys: number, origOffset: number, size: number, direction: StreamingDirection): BounceRecord {
  // The default pool has its own region; pools a dynamic swiotlb added live in host RAM.
  const region = ctx.poolRegion.containsPhys(tlbAddr, size) ? ctx.poolRegion : ctx.fabric.regionAt(tlbAddr, size);
  const slotOffset = region.offset + (tlbAddr - region.phys);
  const record: BounceRecord = { deviceId: owner.id, tlbAddr, origPhys, origOffset, slotOffset, size, direction, minAlignMask: owner.minAlignMask, claim: 0, state: 'mapping', busy: 0, onIdle: undefined };
  ctx.bounced.add(record);
  return record;
}

/** Frees a bounce mapping's slots (models swiotlb_release_slots()); the mapping is free from here on. */
export function releaseBounce(ctx: DmaContext, record: BounceRecord): void {
  ctx.pool.unmap(record.tlbAddr, record.size, record.minAlignMask);
  ctx.bounced.delete(record);
  record.state = 'free';
}

/** The error for a call that names a bounce mapping that is not live (nothing changed). */
export function notLive(record: BounceRecord, dmaAddress: number, length: number): MappingStateError {
  const why = { mapping: 'its map has not resolved yet', unmapping: 'it is being unmapped', free: 'it was unmapped', live: '' }[record.state];
  return new MappingStateError(`dma address 0x${dmaAddress.toString(16)}+${length} names a swiotlb mapping that is not live: ${why}`, { dmaAddress, length, state: record.state });
}

/** Runs a copy on live mappings, counting it on each so an unmap waits for it before it frees the slots. */
export async function whileBusy(records: readonly BounceRecord[], copy: () => Promise<void>): Promise<void> {
  for (const record of records) record.busy++;
  try {
    await copy();
  } finally {
    for (const record of records) {
      if (--record.busy === 0 && record.onIdle) {
        const idle = record.onIdle;
        record.onIdle = undefined;
        idle();
      }
    }
  }
}

/** Resolves once no sync copy touches the mapping. */
export function untilIdle(record: BounceRecord): Promise<void> | undefined {
  if (record.busy === 0) return undefined;
  return new Promise<void>((resolve) => { record.onIdle = resolve; });
}

/**
 * The live bounce mapping of `deviceId` that holds [dmaAddress, dmaAddress + size), or undefined.
 * Sync calls may name part of a mapping, as the kernel's do.
 */
export function bounceRecordFor(ctx: DmaContext, deviceId: number, dmaAddress: number, size: number): BounceRecord | undefined {
  const record = ctx.bounced.containing(dmaAddress, size);
  return record !== undefined && record.deviceId === deviceId ? record : undefined;
}

/** The copy original → slot for `size` bytes starting `offset` bytes into the mapping. */
export function toBounce(record: BounceRecord, offset = 0, size = record.size): CopyTriple {
  return [record.slotOffset + offset, record.origOffset + offset, size];
}

/** The copy slot → original. */
export function fromBounce(record: BounceRecord, offset = 0, size = record.size): CopyTriple {
  return [record.origOffset + offset, record.slotOffset + offset, size];
}

/** Engine attempts of one bounce copy before it is done in the caller's thread. */
export const BOUNCE_COPY_ATTEMPTS = 3;

// A bounce copy moves bytes between the original and its slot, which never overlap, so running it
// again after a partial run gives the same bytes. When the worker running it dies (ERR_WORKER_DIED)
// the engine has already replaced it: try again; when the engine's channel gave up (ERR_ENGINE_STOPPED)
// or the worker died every time, copy in the caller's thread. Without this an unmap whose copy-back
// lost its worker freed the slot with the device's bytes still in it: data lost for good.
async function bounceCopy(viaEngine: () => Promise<unknown>, inline: () => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await viaEngine();
      return;
    } catch (error) {
      const workerLost = error instanceof WorkerDiedError;
      if (!workerLost && !(error instanceof EngineStoppedError)) throw error;
      if (!workerLost || attempt >= BOUNCE_COPY_ATTEMPTS) {
        inline();
        return;
      }
    }
  }
}

/**
 * Runs the copies of one DMA API call as one engine op, placed as `placement` says (by default
 * the engine's choice: inline when small); resolves when done. A copy whose worker dies is
 * retried (see bounceCopy), so it completes or throws a non-engine error.
 */
export async function runCopies(ctx: DmaContext, copies: CopyTriple[], placement: Placement = 'auto'): Promise<void> {
  if (copies.length === 0) return;
  const options = PLACED[placement];
  if (copies.length === 1) {
    const [dst, src, len] = copies[0]!;
    await bounceCopy(() => ctx.engine.copy(dst, src, len, options), () => ctx.fabric.kernels.copy(dst, src, len));
    return;
  }
  await bounceCopy(() => ctx.engine.copySg(copies, options), () => {
    for (const [dst, src, len] of copies) ctx.fabric.kernels.copy(dst, src, len);
  });
}

const PLACED = { auto: undefined, worker: { placement: 'worker' }, caller: { placement: 'caller' } } as const;

/**
 * Copies the whole mapping of records[start..end), original → slot (`toSlot`) or back, as one
 * engine op: done at once in this thread, with no promise, when the engine runs such an op inline
 * (placement 'caller', or 'auto' below its inlineBelow); else runCopies()'s promise. By default
 * every record. A copy done here throws what runCopies() would reject with.
 */
export function copyRecords(ctx: DmaContext, records: readonly BounceRecord[], toSlot: boolean, placement: Placement = 'auto', start = 0, end = records.length): void | Promise<void> {
  if (start === end) return;
  if (placement !== 'worker' && ctx.engine.copyWordsHere(recordWords(records, toSlot, start, end), end - start, placement)) return;
  return runCopies(ctx, recordCopies(records, toSlot, start, end), placement);
}

/** copyRecords() in this thread, now (placement 'caller'): throws what copyRecords() would reject with. */
export function copyRecordsHere(ctx: DmaContext, records: readonly BounceRecord[], toSlot: boolean): void {
  if (records.length > 0) ctx.engine.copyWordsHere(recordWords(records, toSlot, 0, records.length), records.length, 'caller');
}

// The copies of records[start..end) for a worker: a loop over the range, not a slice and a map
// with a closure, as this runs for every bounced list.
function recordCopies(records: readonly BounceRecord[], toSlot: boolean, start: number, end: number): CopyTriple[] {
  const copies: CopyTriple[] = new Array(end - start);
  for (let i = start; i < end; i++) {
    const r = records[i]!;
    copies[i - start] = toSlot ? [r.slotOffset, r.origOffset, r.size] : [r.origOffset, r.slotOffset, r.size];
  }
  return copies;
}

// The same copies as (dst, src, len) words for a copy in this thread, in one buffer reused by
// every call: the engine reads them before copyWordsHere() returns, and nothing runs meanwhile.
let wordsHere = new Uint32Array(3 * 64);

function recordWords(records: readonly BounceRecord[], toSlot: boolean, start: number, end: number): Uint32Array {
  if (3 * (end - start) > wordsHere.length) wordsHere = new Uint32Array(3 * (end - start));
  const words = wordsHere;
  for (let i = start, w = 0; i < end; i++, w += 3) {
    const r = records[i]!;
    words[w] = toSlot ? r.slotOffset : r.origOffset;
    words[w + 1] = toSlot ? r.origOffset : r.slotOffset;
    words[w + 2] = r.size;
  }
  return words;
}

/** Throws ERR_INVALID_ARGUMENT naming an address that is not a live bounce mapping of the device. */
export function notBounceMapping(dmaAddress: number, size: number): InvalidArgumentError {
  return new InvalidArgumentError(`dma address 0x${dmaAddress.toString(16)}+${size} is not a live swiotlb mapping of this device`, { argument: 'dmaAddress' });
}
