// dma-direct with swiotlb and P2PDMA: how each segment reaches a device, and the copies that
// map, unmap and sync make for bounced ones. Follows kernel/dma/direct.c (dma_direct_map_sg,
// dma_direct_map_page, dma_direct_unmap_sg, the sync functions) and pci_p2pdma_map_segment(),
// plus dma-bounce's `bounce` P2P policy where mainline fails.
import { AddressError, DmaMappingError, InvalidArgumentError, P2PNotSupportedError } from '../errors.js';
import type { PciDevice } from '../pci/index.js';
import type { Region } from '../fabric/index.js';
import { allocateBounce, allocateBounceWaiting, bounceRecordFor, copyRecords, copyRecordsHere, fromBounce, notBounceMapping, notLive, releaseBounce, runCopies, toBounce, untilIdle, whileBusy, type BounceOwner, type CopyTriple } from './bounce.js';
import type { BounceRecord, DmaContext } from './context.js';
import { DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC, deviceReads, deviceWrites, type StreamingDirection } from './direction.js';
import { isImmediate } from './immediate.js';
import { isPromise, type DmaMapOps, type MaybePromise, type SegmentRef, type SyncTarget } from './ops.js';
import { p2pdmaBusAddrMap, P2pdmaMapType, P2pdmaState } from './p2pdma-state.js';
import type { BounceReason, MappedSegment, MappingKind, SgEntry } from './types.js';
import { dmaMaskText } from '../trace/index.js';

export type P2pPolicy = 'reject' | 'bounce';

/** What the mapping code needs to know of a device. */
export interface MappingDevice {
  readonly pci: PciDevice;
  /** min(dma_mask, bus_dma_limit): the highest address the device can put on the bus. */
  readonly dmaLimit: number;
  readonly forceBounce: boolean;
  readonly p2pPolicy: P2pPolicy;
  readonly owner: BounceOwner;
  /** The DMA mask's width in bits (swiotlb_bounced prints the mask). */
  readonly dmaBits: number;
}

// A segment being mapped: the MappedSegment handed back, its dmaAddress filled in for bounced
// ones once a slot is taken. One fixed shape for every kind keeps the hot path monomorphic.
interface Segment {
  phys: number;
  length: number;
  dmaAddress: number;
  kind: MappingKind;
  reason: BounceReason | undefined;
  provider: string | undefined;
}

function segment(phys: number, length: number, kind: MappingKind, dmaAddress: number, reason?: BounceReason, provider?: string): Segment {
  return { phys, length, dmaAddress, kind, reason, provider };
}

// models dma_capable(): the whole range must end at or below min(mask, bus limit).
export function dmaCapable(device: MappingDevice, addr: number, size: number): boolean {
  return addr + Math.max(size, 1) - 1 <= device.dmaLimit;
}

// models the per-segment choice of dma_direct_map_sg() / pci_p2pdma_state() / dma_direct_map_phys(),
// for [phys, phys + length) inside `region`; `poolsInRegion` is false when no swiotlb pool touches it.
function classify(ctx: DmaContext, device: MappingDevice, state: P2pdmaState, phys: number, length: number, region: Region, poolsInRegion: boolean, attrs: number): Segment {
  if (poolsInRegion && (region.kind === 'bounce' || ctx.pool.overlaps(phys, length))) {
    throw new AddressError(`phys 0x${phys.toString(16)}+${length} is inside a swiotlb pool, which is not memory a driver maps`, { address: phys, length });
  }
  const map = state.classify(region);
  if (attrs & DMA_ATTR_MMIO) return classifyMmio(device, state, map, phys, length);
  if (map === P2pdmaMapType.NONE) {
    if (device.forceBounce) return segment(phys, length, 'bounced', 0, 'forced');
    if (!dmaCapable(device, phys, length)) return segment(phys, length, 'bounced', 0, 'dma-mask');
    return segment(phys, length, 'direct', phys);
  }
  const mem = state.mem!;
  const provider = mem.owner.bdf;
  if (map === P2pdmaMapType.BUS_ADDR) {
    const busAddress = p2pdmaBusAddrMap(mem, phys);
    // Mainline hands out the bus address with no mask check (pci_p2pdma_bus_addr_map()), so a
    // device that cannot drive it faults later; the bounce policy bounces it instead.
    if (device.p2pPolicy === 'bounce' && !dmaCapable(device, busAddress, length)) {
      return segment(phys, length, 'bounced', 0, 'dma-mask', provider);
    }
    return segment(phys, length, 'bus-address', busAddress, undefined, provider);
  }
  if (map === P2pdmaMapType.THRU_HOST_BRIDGE) {
    const reason: BounceReason | undefined = device.forceBounce ? 'forced' : !dmaCapable(device, phys, length) ? 'dma-mask' : undefined;
    if (reason === undefined) return segment(phys, length, 'host-bridge', phys, undefined, provider);
    if (device.p2pPolicy === 'bounce') return segment(phys, length, 'bounced', 0, reason, provider);
    // Mainline: a P2PDMA page is never bounced (dma_direct_map_page() returns DMA_MAPPING_ERROR).
    throw new DmaMappingError(
      `${device.pci.bdf}: cannot map ${provider} BAR memory at 0x${phys.toString(16)} through the host bridge: ${reason === 'forced' ? 'the device bounces every mapping and P2PDMA memory cannot be bounced' : 'beyond the device DMA mask and P2PDMA memory cannot be bounced'}`,
      { errno: 'EIO', address: phys, length, provider },
    );
  }
  if (device.p2pPolicy === 'bounce') return segment(phys, length, 'bounced', 0, 'p2p-not-supported', provider);
  const reasons = state.route?.reasons ?? [];
  throw new P2PNotSupportedError(
    `${device.pci.bdf}: peer-to-peer DMA to ${provider} BAR memory at 0x${phys.toString(16)} is NOT_SUPPORTED (${reasons.join('; ') || 'no route'}); policy "reject" fails the mapping with -EREMOTEIO as mainline does`,
    { errno: 'EREMOTEIO', address: phys, length, provider, reasons },
  );
}

// models dma_direct_map_phys() with DMA_ATTR_MMIO: the CPU physical address if dma_capable(), else
// DMA_MAPPING_ERROR; never swiotlb, no CPU sync. Policy 'bounce' goes beyond mainline: what the
// device cannot reach (forced bounce, beyond the mask, a P2P route that is NOT_SUPPORTED) bounces.
function classifyMmio(device: MappingDevice, state: P2pdmaState, map: P2pdmaMapType, phys: number, length: number): Segment {
  const provider = map === P2pdmaMapType.NONE ? undefined : state.mem!.owner.bdf;
  const kind: MappingKind = provider === undefined ? 'direct' : 'host-bridge';
  const unreachable = device.forceBounce ? 'forced' : !dmaCapable(device, phys, length) ? 'dma-mask' : undefined;
  if (unreachable === undefined) {
    if (map === P2pdmaMapType.NOT_SUPPORTED && device.p2pPolicy === 'bounce') return segment(phys, length, 'bounced', 0, 'mmio-p2p-not-supported', provider);
    return segment(phys, length, kind, phys, undefined, provider);
  }
  if (device.p2pPolicy === 'bounce') return segment(phys, length, 'bounced', 0, unreachable === 'forced' ? 'mmio-forced' : 'mmio-dma-mask', provider);
  throw new DmaMappingError(
    `${device.pci.bdf}: DMA addr 0x${phys.toString(16)}+${length} cannot be mapped with DMA_ATTR_MMIO: ${unreachable === 'forced' ? 'the device bounces every mapping and MMIO is never bounced' : `beyond the device DMA mask (limit 0x${device.dmaLimit.toString(16)}) and MMIO is never bounced`}`,
    { errno: 'EIO', address: phys, length, ...(provider === undefined ? {} : { provider }) },
  );
}

/**
 * For a list whose bounced bytes reach the engine's splitAbove: the bounce bytes a map gathers
 * before handing their copy-in to a worker, so that the worker copies into the slots already taken
 * while this thread takes the next ones; this thread copies the last batch itself. Shorter lists
 * are copied in this thread in one op: on the project machine (2 vCPUs sharing one memory
 * bandwidth) 32 x 4 KiB map + unmap ran at 0.68-0.69x the speed of an inline copy of the same
 * bytes that way, against 0.52-0.54x pipelined in 64 KiB batches (the inline copy by the SG kernel
 * of the time; docs/dma.md).
 */
export const MAP_COPY_BATCH = 64 * 1024;

/**
 * Maps entries for the device: decides every segment first (throwing before anything is
 * allocated), then takes bounce slots and copies original → slot for every bounced segment (in
 * every direction, as swiotlb does since CVE-2022-0854): in this thread, or, when the bounced
 * bytes reach the engine's splitAbove, batch by batch: each full batch but the last goes to a
 * worker while the next slots are taken, and the last one is copied in this thread.
 * On any failure the copies already issued are waited for, every slot taken is released and the
 * error is rethrown: nothing stays mapped.
 */
export function mapSegments(ctx: DmaContext, device: MappingDevice, entries: readonly SgEntry[], direction: StreamingDirection, attrs: number, signal: AbortSignal | undefined): MaybePromise<MappedSegment[]> {
  // One pass to decide (this one may throw), one to take slots and issue copies: the hot path
  // allocates a segment per entry and a record per bounced one, little else per segment.
  const n = entries.length;
  const origOffsets: number[] = new Array(n);
  const segments: Segment[] = new Array(n);
  let bounced = 0;
  let bouncedBytes = 0;
  const state = new P2pdmaState(ctx.p2pdma, device.pci);
  let region: Region | undefined;
  let poolsInRegion = true;
  for (let i = 0; i < n; i++) {
    const { phys, length } = entries[i]!;
    // A list's segments mostly share a region: while they do, the lookup is a range check (the
    // entries are checked snapshots, and regions do not overlap, so regionAt() would answer the
    // same), and so is the test for swiotlb pools in it (no pool is added while this loop runs).
    if (region === undefined || phys < region.phys || phys + length > region.physEnd) {
      region = ctx.fabric.regionAt(phys, length);
      poolsInRegion = region.kind === 'bounce' || ctx.pool.overlaps(region.phys, region.physEnd - region.phys);
    }
    origOffsets[i] = region.offset + (phys - region.phys);
    const seg = segments[i] = classify(ctx, device, state, phys, length, region, poolsInRegion, attrs);
    if (seg.kind === 'bounced') {
      bounced++;
      bouncedBytes += seg.length;
    }
  }
  // Nothing to bounce: the answer is ready, with no promise (mapping.ts settles the call).
  if (bounced === 0) return segments;
  const batch = bouncedBytes >= ctx.engine.splitAbove ? MAP_COPY_BATCH : Infinity;
  return bounceSegments(ctx, device, segments, origOffsets, bounced, batch, direction, signal);
}

// mapSegments' second pass, for lists with bounced segments: slots, copy-in, then 'live'. It runs
// to the end in this thread, with no promise, when every slot is taken at once and the copy-in is
// this thread's (a single batch, an engine that copies inline); a wait for space or a batch for a
// worker goes on in bounceSegmentsAsync from the segment where it arose.
function bounceSegments(ctx: DmaContext, device: MappingDevice, segments: Segment[], origOffsets: number[], bounced: number, batch: number, direction: StreamingDirection, signal: AbortSignal | undefined): MaybePromise<MappedSegment[]> {
  const records: BounceRecord[] = [];
  if (waitingCopy(ctx) !== 'caller') return bounceSegmentsAsync(ctx, device, segments, origOffsets, bounced, batch, direction, signal, records, 0, 0, undefined);
  const n = segments.length;
  let batchBytes = 0;
  try {
    for (let i = 0; i < n; i++) {
      const seg = segments[i]!;
      if (seg.kind !== 'bounced') continue;
      // This segment would close a batch for a worker: from here on, asynchronously.
      if (batchBytes + seg.length >= batch && records.length + 1 < bounced) {
        return bounceSegmentsAsync(ctx, device, segments, origOffsets, bounced, batch, direction, signal, records, i, batchBytes, undefined);
      }
      const record = requestSlot(ctx, device, seg, origOffsets[i]!, direction, signal);
      if (isPromise(record)) return bounceSegmentsAsync(ctx, device, segments, origOffsets, bounced, batch, direction, signal, records, i, batchBytes, record);
      takeSlot(device, seg, record, records);
      batchBytes += seg.length;
    }
    copyRecordsHere(ctx, records, true);
  } catch (error) {
    return freeAndRethrow(ctx, records, error);
  }
  // Copied in. A caller that takes the answer at once gets live mappings; a promise's caller gets
  // them live a turn later, so a call made before the promise settles finds them 'mapping'.
  if (isImmediate()) return goLive(records, segments);
  return Promise.resolve(segments).then(() => goLive(records, segments));
}

// bounceSegments from segment `from` on, with the slots taken so far (`records`, `batchBytes` of
// them not yet in a batch) and, when `pending`, the slot of segment `from` still being waited for
// (its swiotlb_bounced line written). Each full batch but the last goes to a worker while the next
// slots are taken; the last (or only) one is copied in this thread.
async function bounceSegmentsAsync(
  ctx: DmaContext, device: MappingDevice, segments: Segment[], origOffsets: number[], bounced: number, batch: number, direction: StreamingDirection, signal: AbortSignal | undefined,
  records: BounceRecord[], from: number, batchBytes: number, pending: Promise<BounceRecord> | undefined,
): Promise<MappedSegment[]> {
  const n = segments.length;
  const inFlight: Promise<void>[] = [];
  let batchStart = 0;
  try {
    for (let i = from; i < n; i++) {
      const seg = segments[i]!;
      if (seg.kind !== 'bounced') continue;
      let record: BounceRecord;
      if (i === from && pending !== undefined) record = await pending;
      else {
        const taken = requestSlot(ctx, device, seg, origOffsets[i]!, direction, signal);
        // Only a wait for space yields here: a slot taken at once keeps the loop going, so the
        // engine's pump cannot start polling for the first batch before this thread's copy begins.
        record = isPromise(taken) ? await taken : taken;
      }
      takeSlot(device, seg, record, records);
      batchBytes += seg.length;
      if (batchBytes >= batch && records.length < bounced) {
        inFlight.push(Promise.resolve(copyRecords(ctx, records, true, 'worker', batchStart)));
        batchStart = records.length;
        batchBytes = 0;
      }
    }
    // The last batch: this thread copies it while workers copy the others, since it would only
    // wait otherwise. So does a lone batch, however long, unless the engine was told to run every
    // copy on its workers (inlineBelow 0): handing it to a worker cost the hop and, when the copy
    // outlasted the engine's poll, a wake-up through the event loop (a 128 KiB map: 8 µs at the
    // median and 0.4 ms at the 99th percentile, against 7 and 0.06 here).
    const last = copyRecords(ctx, records, true, inFlight.length > 0 ? 'caller' : waitingCopy(ctx), batchStart);
    if (last !== undefined) await last;
    if (inFlight.length > 0) await Promise.all(inFlight);
  } catch (error) {
    // No slot may be freed while a worker still writes it.
    if (inFlight.length > 0) await Promise.allSettled(inFlight);
    return freeAndRethrow(ctx, records, error);
  }
  return goLive(records, segments);
}

// The slot for `seg`, or a promise of it when the device waits for space: traced first, as
// swiotlb_map() calls trace_swiotlb_bounced() before it takes the slot (the original's DMA address).
function requestSlot(ctx: DmaContext, device: MappingDevice, seg: Segment, origOffset: number, direction: StreamingDirection, signal: AbortSignal | undefined): MaybePromise<BounceRecord> {
  const tracer = ctx.tracer;
  if (tracer !== undefined) tracer.emit({ type: 'bounced', ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dmaMask: dmaMaskText(device.dmaBits), devAddr: seg.phys, size: seg.length, force: device.forceBounce ? 'FORCE' : 'NORMAL' });
  const owner = device.owner;
  return owner.waitForSpace !== false
    ? allocateBounceWaiting(ctx, owner, seg.phys, origOffset, seg.length, direction, signal)
    : allocateBounce(ctx, owner, seg.phys, origOffset, seg.length, direction);
}

// A slot taken for `seg`: kept in `records` (so a failure frees it) before its address is checked.
function takeSlot(device: MappingDevice, seg: Segment, record: BounceRecord, records: BounceRecord[]): void {
  records.push(record);
  seg.dmaAddress = record.tlbAddr;
  // models the dma_capable() check swiotlb_map() makes on the bounce address itself.
  if (!dmaCapable(device, record.tlbAddr, seg.length)) {
    throw new DmaMappingError(`${device.pci.bdf}: swiotlb addr 0x${record.tlbAddr.toString(16)}+${seg.length} overflow (mask limit 0x${device.dmaLimit.toString(16)})`, { errno: 'EIO', address: record.tlbAddr, length: seg.length });
  }
}

// Copied in: from here the device may use the slots, and unmap and sync accept them.
function goLive(records: readonly BounceRecord[], segments: Segment[]): MappedSegment[] {
  for (const record of records) record.state = 'live';
  return segments;
}

// A map that failed: every slot it took is freed (nothing copies into them any more), and the error goes on.
function freeAndRethrow(ctx: DmaContext, records: readonly BounceRecord[], error: unknown): never {
  releaseAll(ctx, records);
  throw error;
}

/**
 * The live bounce records holding each synced range (undefined outside the pool), all checked before
 * anything changes: ERR_INVALID_ARGUMENT for a pool range no mapping of this device holds,
 * ERR_MAPPING_STATE for one that is not live.
 */
function recordsOf(ctx: DmaContext, device: MappingDevice, segments: readonly SegmentRef[]): (BounceRecord | undefined)[] {
  return segments.map(({ dmaAddress, length }) => {
    if (!ctx.pool.isSwiotlbBuffer(dmaAddress)) return undefined;
    const record = bounceRecordFor(ctx, device.owner.id, dmaAddress, length);
    if (!record) throw notBounceMapping(dmaAddress, length);
    if (record.state !== 'live') throw notLive(record, dmaAddress, length);
    return record;
  });
}

/**
 * Unmaps segments (models dma_direct_unmap_sg() / swiotlb_tbl_unmap_single()): for bounced
 * ones, FROM_DEVICE and BIDIRECTIONAL copy slot → original unless SKIP_CPU_SYNC, then the
 * slots are freed. Throws, changing nothing, ERR_INVALID_ARGUMENT when a pool address is not a
 * mapping of this device of that size or names the same mapping twice, and ERR_MAPPING_STATE
 * when one is not live (its map has not resolved, or another unmap has it). From the first
 * change on the mappings are 'unmapping': a second unmap or a sync of them is refused, and the
 * slots are freed only after the syncs already running and the copy-back have finished.
 */
export function unmapSegments(ctx: DmaContext, device: MappingDevice, segments: readonly SegmentRef[], direction: StreamingDirection, attrs: number): MaybePromise<void> {
  const live: BounceRecord[] = [];
  const pool = ctx.pool;
  // Each record is stamped with this call's number, so a mapping named twice is caught
  // without building a set.
  const claim = ++unmapClaims;
  for (const { dmaAddress, length } of segments) {
    if (!pool.isSwiotlbBuffer(dmaAddress)) continue;
    const record = ctx.bounced.get(dmaAddress);
    if (!record || record.deviceId !== device.owner.id || record.size !== length) throw notBounceMapping(dmaAddress, length);
    if (record.claim === claim) throw new InvalidArgumentError('the same swiotlb mapping appears twice in one unmap', { argument: 'segments' });
    if (record.state !== 'live') throw notLive(record, dmaAddress, length);
    record.claim = claim;
    live.push(record);
  }
  if (live.length === 0) return;
  for (const record of live) record.state = 'unmapping';
  if (!live.every(isIdle)) return releaseSegments(ctx, live, direction, attrs);
  if (isImmediate()) return copyBackAndRelease(ctx, live, direction, attrs);
  // A promise's caller: one turn in between, in which a call about these mappings finds them
  // 'unmapping'. A then() callback, not an async function: that cost 0.5 us of a 6.9 us
  // 32-segment bounced map + unmap (measured, 64 B segments).
  return Promise.resolve().then(() => copyBackAndRelease(ctx, live, direction, attrs));
}

function isIdle(record: BounceRecord): boolean {
  return record.busy === 0;
}

// unmapSegments' second half when a sync is in flight on one of the bounce records it claimed:
// wait for the syncs, then copy back and free.
async function releaseSegments(ctx: DmaContext, live: readonly BounceRecord[], direction: StreamingDirection, attrs: number): Promise<void> {
  // Only a mapping with a sync in flight is waited for: awaiting the others' undefined cost a
  // promise and a microtask per segment. (A sync's idle promise only resolves.)
  for (const record of live) {
    const idle = untilIdle(record);
    if (idle !== undefined) await idle;
  }
  const released = copyBackAndRelease(ctx, live, direction, attrs);
  if (released !== undefined) await released;
}

// The copy-back (in this thread when the engine copies inline), then the slots freed, whether the
// copy-back worked or not: at once when the copy is done here, else when its promise settles.
function copyBackAndRelease(ctx: DmaContext, live: readonly BounceRecord[], direction: StreamingDirection, attrs: number): MaybePromise<void> {
  let copied: MaybePromise<void>;
  try {
    copied = copyBack(ctx, live, direction, attrs);
  } catch (error) {
    releaseAll(ctx, live);
    throw error;
  }
  if (copied === undefined) return releaseAll(ctx, live);
  return copied.finally(() => releaseAll(ctx, live));
}

// An unmap's copy slot → original (FROM_DEVICE, BIDIRECTIONAL; not with SKIP_CPU_SYNC), in this
// thread when the engine copies inline, since the caller would only wait for a worker (see
// bounceSegments); undefined when done or when there is nothing to copy back.
function copyBack(ctx: DmaContext, live: readonly BounceRecord[], direction: StreamingDirection, attrs: number): MaybePromise<void> {
  if (!deviceWrites(direction) || attrs & DMA_ATTR_SKIP_CPU_SYNC) return undefined;
  return copyRecords(ctx, live, false, waitingCopy(ctx));
}

function releaseAll(ctx: DmaContext, live: readonly BounceRecord[]): void {
  for (const record of live) releaseBounce(ctx, record);
}

let unmapClaims = 0;

// Where a copy the caller would only wait for runs: in its thread, unless the engine runs every copy on a worker.
function waitingCopy(ctx: DmaContext): 'caller' | 'auto' {
  return ctx.engine.inlineBelow > 0 ? 'caller' : 'auto';
}

/**
 * Syncs segments (models dma_direct_sync_sg_for_cpu/_for_device() and the single variants):
 * for the CPU, FROM_DEVICE and BIDIRECTIONAL copy slot → original; for the device, TO_DEVICE
 * and BIDIRECTIONAL copy original → slot; other directions copy nothing. A range may be part
 * of a mapping. Throws ERR_INVALID_ARGUMENT for a pool range that no mapping of this device
 * holds and ERR_MAPPING_STATE for one that is not live, before anything is copied.
 */
export function syncSegments(ctx: DmaContext, device: MappingDevice, segments: readonly SegmentRef[], direction: StreamingDirection, target: SyncTarget): MaybePromise<void> {
  const records = recordsOf(ctx, device, segments);
  const copies: CopyTriple[] = [];
  const copyIn = target === 'device' ? deviceReads(direction) : deviceWrites(direction);
  if (!copyIn) return;
  const touched: BounceRecord[] = [];
  for (const [i, record] of records.entries()) {
    if (!record) continue;
    const { dmaAddress, length } = segments[i]!;
    const offset = dmaAddress - record.tlbAddr;
    copies.push(target === 'device' ? toBounce(record, offset, length) : fromBounce(record, offset, length));
    touched.push(record);
  }
  if (copies.length === 0) return;
  // Done here at once, the copy cannot be seen in flight: no unmap can run while it does.
  if (ctx.engine.copyHere(copies, 'auto')) return;
  return whileBusy(touched, () => runCopies(ctx, copies));
}

/** dma-direct (kernel/dma/direct.c, kernel/dma/direct.h): one to one, never merging, swiotlb where the device cannot reach. */
export const directOps: DmaMapOps = {
  name: 'direct',
  // models dma_direct_map_phys()
  mapPhys(ctx, device, entry, direction, attrs, signal) {
    const mapped = mapSegments(ctx, device, [entry], direction, attrs, signal);
    return isPromise(mapped) ? mapped.then((segments) => segments[0]!) : mapped[0]!;
  },
  // models dma_direct_unmap_phys(): with DMA_ATTR_MMIO nothing to do, unless policy 'bounce' bounced it
  unmapPhys(ctx, device, ref, direction, attrs) {
    return unmapSegments(ctx, device, [ref], direction, attrs);
  },
  // models dma_direct_map_sg()
  mapSg: mapSegments,
  // models dma_direct_unmap_sg()
  unmapSg: unmapSegments,
  // models dma_direct_sync_single_for_cpu() / _for_device()
  syncSingle(ctx, device, ref, direction, target) {
    return syncSegments(ctx, device, [ref], direction, target);
  },
  // models dma_direct_sync_sg_for_cpu() / _for_device()
  syncSg: syncSegments,
};
