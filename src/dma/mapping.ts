// DmaDevice: the streaming DMA API of one PCI function (include/linux/dma-mapping.h), as
// kernel/dma/mapping.c shapes it: each call validates a snapshot of its arguments, hands the
// call to dma-debug when it is on, and dispatches to the device's DMA implementation (dma-direct
// today, see ops.ts). The primary single-range calls are mapPhys()/unmapPhys() (Linux 6.18);
// mapPage() and mapSingle() are the kernel's thin wrappers around them. Every call that may copy
// is asynchronous; calls overlap, and each one refuses what its state does not allow.
import { DmaMappingError, InvalidArgumentError, InvalidStateError } from '../errors.js';
import { describe } from '../fabric/input.js';
import { PciDevice, type MapTypeResult, type Topology } from '../pci/index.js';
import type { BounceOwner } from './bounce.js';
import type { DmaContext } from './context.js';
import { DMA_MAPPING_ERROR, type DmaDebug, type MappingFunction } from './debug.js';
import { allocCoherent, freeCoherent, type CoherentAllocation } from './coherent.js';
import { DeviceDma } from './device-dma.js';
import { deviceSettings, type DmaDeviceOptions } from './device-options.js';
import { directOps, type MappingDevice, type P2pPolicy } from './direct.js';
import { checkAttrs, checkDirection, DmaDirection, DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC, type StreamingDirection } from './direction.js';
import { immediately } from './immediate.js';
import { isPromise, type DmaMapOps, type MaybePromise, type SegmentRef, type SyncTarget } from './ops.js';
import { P2pdmaState, type P2pdmaMapType, type P2pdmaProvider } from './p2pdma-state.js';
import { tracedOps } from './traced-ops.js';
import type { MappedSegment, MappedSg, SgEntry } from './types.js';
import type { IommuDomain, Pci32bitState } from './iommu/domain.js';
import { iommuOps } from './iommu/dma-iommu.js';
import { iovaDestroy, iovaFree, iovaLink, iovaSync, iovaTryAlloc, iovaUnlink, useIova, type IovaState } from './iommu/iova-api.js';

export type { DmaDeviceOptions } from './device-options.js';

/** The most entries one mapSg() takes (a sparse or huge array must not make the call loop for minutes). */
export const MAX_SG_ENTRIES = 2 ** 20;
/** The page size the page-based calls (mapPage) count in. */
const PAGE_SIZE = 4096;

let nextDeviceId = 1;

export class DmaDevice implements MappingDevice {
  readonly pci: PciDevice;
  readonly dmaBits: number;
  readonly dmaLimit: number;
  readonly maxSegmentSize: number;
  readonly segmentBoundaryMask: number;
  readonly minAlignMask: number;
  readonly coherent: boolean;
  readonly forceBounce: boolean;
  readonly p2pPolicy: P2pPolicy;
  /** pdev->untrusted: the device option, else the PCI model's flag, else false. */
  readonly untrusted: boolean;
  /** The IOMMU DMA domain of the device's group; undefined without a translating IOMMU (dma-direct). */
  readonly iommuDomain: IommuDomain | undefined;
  /** @internal dev->iommu's 32-bit-first state (undefined without an IOMMU). */
  readonly iommuState: Pci32bitState | undefined;
  readonly owner: BounceOwner;
  /** The device's own DMA engine: reads and writes by DMA address, with reachability checks. */
  readonly dma: DeviceDma;
  readonly #ctx: DmaContext;
  readonly #ops: DmaMapOps;
  /** The system's dma-debug tracker, or undefined when debugging is off: each call pays one check for it. */
  readonly #debug: DmaDebug | undefined;
  #released = false;

  /** Use DmaSystem.device(); throws ERR_INVALID_ARGUMENT / ERR_INVALID_SIZE for bad options (see DmaDeviceOptions). */
  constructor(ctx: DmaContext, pci: PciDevice, options: DmaDeviceOptions = {}) {
    const settings = deviceSettings(options);
    this.#ctx = ctx;
    this.#debug = ctx.debug;
    this.pci = pci;
    this.untrusted = settings.untrusted ?? (pci as { untrusted?: boolean }).untrusted === true;
    // models iommu_setup_dma_ops(): iommu-dma for a DMA domain, dma-direct for identity or no IOMMU.
    this.iommuDomain = ctx.iommu?.domainFor(pci, this.untrusted);
    this.iommuState = ctx.iommu?.deviceState(pci);
    const ops = this.iommuDomain ? iommuOps : directOps;
    this.#ops = ctx.tracer ? tracedOps(ops, ctx.tracer) : ops;
    this.dmaBits = settings.dmaBits;
    this.dmaLimit = settings.dmaLimit;
    this.maxSegmentSize = settings.maxSegmentSize;
    this.segmentBoundaryMask = settings.segmentBoundaryMask;
    this.minAlignMask = settings.minAlignMask;
    this.coherent = settings.coherent;
    // models is_swiotlb_force_bounce(): a restricted DMA pool bounces every streaming map.
    this.forceBounce = settings.forceBounce || ctx.pool.forceBounce;
    this.p2pPolicy = settings.p2pPolicy;
    const id = nextDeviceId++;
    // models dma_get_seg_boundary_nr_pages(dev, IO_TLB_SHIFT) as swiotlb_find_slots() uses it:
    // whole slots, so a mask below one slot still allows one slot.
    const boundary = settings.segmentBoundaryMask;
    const boundaryMask = boundary >= 2 ** 52 ? -1 : Math.max(boundary, 2047);
    this.owner = { id, minAlignMask: settings.minAlignMask, cpu: settings.cpu, boundaryMask, waitForSpace: settings.waitForSpace, physLimit: settings.dmaLimit };
    this.dma = new DeviceDma(ctx, pci, id, this.dmaLimit, this.iommuDomain);
  }

  /** The P2PDMA route from `provider`'s memory to this device (computed once per pair and cached, as pci_p2pdma_map_type() caches it). */
  route(provider: PciDevice): MapTypeResult {
    if (!(provider instanceof PciDevice) || !inTopology(this.#ctx.topology, provider)) {
      throw new InvalidArgumentError('route: provider must be a PCI function of this system\'s topology (topology.device(bdf))', { argument: 'provider' });
    }
    return this.#ctx.p2pdma.route(provider, this.pci);
  }

  get bdf(): string {
    return this.pci.bdf;
  }

  /**
   * models pci_p2pdma_state() for one range: NONE for host RAM, else the map type from the BAR's
   * owner to this device, with the BAR's provider (its bus offset gives bus addresses,
   * pci_p2pdma_bus_addr_map()). Throws ERR_INVALID_ARGUMENT / ERR_BAD_ADDRESS (not in one region).
   */
  p2pdmaState(phys: number, length: number): { readonly map: P2pdmaMapType; readonly provider: P2pdmaProvider | undefined } {
    const range = entry(phys, length);
    const state = new P2pdmaState(this.#ctx.p2pdma, this.pci);
    const map = state.classify(this.#ctx.fabric.regionAt(range.phys, range.length));
    return { map, provider: state.mem };
  }

  /** Which DMA implementation serves this device ('direct': dma-direct with swiotlb; 'iommu': iommu-dma). */
  get dmaOps(): DmaMapOps['name'] {
    return this.#ops.name;
  }

  /**
   * dma_map_phys() (Linux 6.18): maps [phys, phys + size) and resolves with how it was mapped (its
   * `dmaAddress` is what the device is given). Host RAM the device cannot reach bounces through
   * swiotlb; BAR memory is classified for P2P first, as a driver does with pci_p2pdma_state()
   * before it calls dma_map_phys(). With DMA_ATTR_MMIO the range is device memory: its physical
   * address if the device can address it, never swiotlb (policy 'bounce' goes beyond that: see
   * docs/dma.md). Rejects with ERR_INVALID_ARGUMENT (bad arguments), ERR_BAD_ADDRESS (not in one
   * region or BAR), ERR_DMA_P2P_NOT_SUPPORTED (policy 'reject'), ERR_DMA_MAPPING (P2P or MMIO
   * memory mainline cannot bounce, swiotlb address overflow, larger than swiotlb can hold),
   * ERR_SWIOTLB_FULL, ERR_ABORTED (a wait for space aborted), ERR_SYSTEM_CLOSED, ERR_INVALID_STATE
   * (device released); nothing stays mapped then.
   */
  async mapPhys(phys: number, size: number, direction: StreamingDirection, attrs = 0, signal?: AbortSignal): Promise<MappedSegment> {
    const mapped = this.#mapPhys(phys, size, direction, attrs, signal);
    return isPromise(mapped) ? await mapped : mapped;
  }

  /**
   * dma_map_page(): `page` is a page-aligned physical address and `offset` the byte offset from
   * it, so the range is [page + offset, page + offset + size). DMA_ATTR_MMIO is refused as the
   * kernel refuses it (ERR_DMA_MAPPING: MMIO has no struct page; use mapPhys). Otherwise mapPhys().
   */
  async mapPage(page: number, offset: number, size: number, direction: StreamingDirection, attrs = 0, signal?: AbortSignal): Promise<MappedSegment> {
    this.#check(direction, attrs, signal);
    if (typeof page !== 'number' || !Number.isSafeInteger(page) || page < 0 || page % PAGE_SIZE !== 0) throw new InvalidArgumentError(`page ${describe(page)} must be a page-aligned physical address`, { argument: 'page' });
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(page + offset)) throw new InvalidArgumentError(`offset ${describe(offset)} must be a non-negative integer`, { argument: 'offset' });
    const range = entry(page + offset, size);
    refuseMmio(attrs, range.phys, 'dma_map_page()');
    const mapped = this.#mapRange(range, direction, attrs, signal);
    return isPromise(mapped) ? await mapped : mapped;
  }

  /**
   * dma_map_single(): the wrapper drivers use for kernel memory, here a physical address.
   * DMA_ATTR_MMIO is refused (ERR_DMA_MAPPING) as dma_map_page() refuses it; otherwise mapPhys().
   */
  async mapSingle(phys: number, size: number, direction: StreamingDirection, attrs = 0, signal?: AbortSignal): Promise<MappedSegment> {
    this.#check(direction, attrs, signal);
    const range = entry(phys, size);
    refuseMmio(attrs, range.phys, 'dma_map_single()');
    const mapped = this.#mapRange(range, direction, attrs, signal);
    return isPromise(mapped) ? await mapped : mapped;
  }

  /**
   * dma_unmap_phys(): for a bounced mapping, copies back (FROM_DEVICE/BIDIRECTIONAL, unless
   * SKIP_CPU_SYNC) and frees the slots. Rejects, changing nothing, with ERR_INVALID_ARGUMENT (bad
   * arguments, or a swiotlb address no mapping of this device of that size starts at) and
   * ERR_MAPPING_STATE (the mapping is not live: its map has not resolved, or another unmap has it).
   */
  async unmapPhys(dmaAddress: number, size: number, direction: StreamingDirection, attrs = 0): Promise<void> {
    const done = this.#unmapPhys(dmaAddress, size, direction, attrs);
    if (isPromise(done)) await done;
  }

  /** dma_unmap_page(): unmapPhys(). */
  unmapPage(dmaAddress: number, size: number, direction: StreamingDirection, attrs = 0): Promise<void> {
    return this.unmapPhys(dmaAddress, size, direction, attrs);
  }

  /** dma_unmap_single(): unmapPhys(). */
  unmapSingle(dmaAddress: number, size: number, direction: StreamingDirection, attrs = 0): Promise<void> {
    return this.unmapPhys(dmaAddress, size, direction, attrs);
  }

  /** dma_sync_single_for_cpu(): FROM_DEVICE/BIDIRECTIONAL bounced memory is copied back to the original. Rejects as unmapPhys() does, copying nothing. */
  syncSingleForCpu(dmaAddress: number, size: number, direction: StreamingDirection): Promise<void> {
    return this.#syncSingle(dmaAddress, size, direction, 'cpu');
  }

  /** dma_sync_single_for_device(): TO_DEVICE/BIDIRECTIONAL memory is copied again into its bounce slot. Rejects as unmapPhys() does. */
  syncSingleForDevice(dmaAddress: number, size: number, direction: StreamingDirection): Promise<void> {
    return this.#syncSingle(dmaAddress, size, direction, 'device');
  }

  /**
   * dma_map_sg(): maps each entry (dma-direct maps one to one and never merges). Entries may mix
   * host RAM and BARs; at most MAX_SG_ENTRIES. The entries are read once. On any failure nothing
   * stays mapped and the call rejects (the kernel returns -EIO, -EREMOTEIO or -ENOMEM; here the
   * codes of mapPhys() say which).
   */
  async mapSg(entries: readonly SgEntry[], direction: StreamingDirection, attrs = 0, signal?: AbortSignal): Promise<MappedSg> {
    const mapped = this.#mapSg(entries, direction, attrs, signal);
    return isPromise(mapped) ? await mapped : mapped;
  }

  /** dma_unmap_sg(): takes back what mapSg returned (read once). Rejects as unmapPhys() does, changing nothing. */
  async unmapSg(sg: MappedSg, direction: StreamingDirection, attrs = 0): Promise<void> {
    const done = this.#unmapSg(sg, direction, attrs);
    if (isPromise(done)) await done;
  }

  /** dma_sync_sg_for_cpu(). */
  async syncSgForCpu(sg: MappedSg, direction: StreamingDirection): Promise<void> {
    const done = this.#syncSgAny(sg, direction, 'cpu');
    if (isPromise(done)) await done;
  }

  /** dma_sync_sg_for_device(). */
  async syncSgForDevice(sg: MappedSg, direction: StreamingDirection): Promise<void> {
    const done = this.#syncSgAny(sg, direction, 'device');
    if (isPromise(done)) await done;
  }

  // The calls below are the ones above without their promise: each returns its answer at once when
  // it has nothing to copy to a worker or wait for, else a promise, and throws (rather than rejects)
  // what the call above rejects with. Same checks, dma-debug and trace; for callers that make one
  // call after another on a hot path (replayCapture()), where a promise and a microtask per call
  // were a fifth of the cost. As the answer comes at once, a bounce mapping is live, and an unmap's
  // slots are free, when the call returns (the calls above keep a turn in between: src/dma/immediate.ts).

  /** @internal mapPhys() without its promise when none is needed (see above). */
  mapPhysNow(phys: number, size: number, direction: StreamingDirection, attrs = 0): MaybePromise<MappedSegment> {
    return immediately(() => this.#mapPhys(phys, size, direction, attrs, undefined));
  }

  /** @internal unmapPhys() without its promise when none is needed. */
  unmapPhysNow(dmaAddress: number, size: number, direction: StreamingDirection, attrs = 0): MaybePromise<void> {
    return immediately(() => this.#unmapPhys(dmaAddress, size, direction, attrs));
  }

  /** @internal mapSg() without its promise when none is needed. */
  mapSgNow(entries: readonly SgEntry[], direction: StreamingDirection, attrs = 0): MaybePromise<MappedSg> {
    return immediately(() => this.#mapSg(entries, direction, attrs, undefined));
  }

  /** @internal unmapSg() without its promise when none is needed. */
  unmapSgNow(sg: MappedSg, direction: StreamingDirection, attrs = 0): MaybePromise<void> {
    return immediately(() => this.#unmapSg(sg, direction, attrs));
  }

  /** @internal syncSingleForCpu() / syncSingleForDevice() without the promise when none is needed. */
  syncSingleNow(dmaAddress: number, size: number, direction: StreamingDirection, target: SyncTarget): MaybePromise<void> {
    return immediately(() => this.#syncSingleAny(dmaAddress, size, direction, target));
  }

  /** @internal syncSgForCpu() / syncSgForDevice() without the promise when none is needed. */
  syncSgNow(sg: MappedSg, direction: StreamingDirection, target: SyncTarget): MaybePromise<void> {
    return immediately(() => this.#syncSgAny(sg, direction, target));
  }

  #mapPhys(phys: number, size: number, direction: StreamingDirection, attrs: number, signal: AbortSignal | undefined): MaybePromise<MappedSegment> {
    this.#check(direction, attrs, signal);
    return this.#mapRange(entry(phys, size), direction, attrs, signal);
  }

  #unmapPhys(dmaAddress: number, size: number, direction: StreamingDirection, attrs: number): MaybePromise<void> {
    this.#check(direction, attrs, undefined);
    const ref = segmentRef(dmaAddress, size);
    const debug = this.#debug;
    return this.#enter(debug
      ? () => debug.unmap(this, [ref], 'single', 0, direction, async () => this.#ops.unmapPhys(this.#ctx, this, ref, direction, attrs))
      : () => this.#ops.unmapPhys(this.#ctx, this, ref, direction, attrs));
  }

  #mapSg(entries: readonly SgEntry[], direction: StreamingDirection, attrs: number, signal: AbortSignal | undefined): MaybePromise<MappedSg> {
    this.#check(direction, attrs, signal);
    const checked = sgEntries(entries);
    const debug = this.#debug;
    const mapped = this.#enter(debug
      ? () => debug.map(this, 'sg', direction, attrs, async () => this.#ops.mapSg(this.#ctx, this, checked, direction, attrs, signal), (s) => this.#undo(s, direction))
      : () => this.#ops.mapSg(this.#ctx, this, checked, direction, attrs, signal));
    const nents = checked.length;
    return isPromise(mapped) ? mapped.then((segments) => ({ direction, nents, segments })) : { direction, nents, segments: mapped };
  }

  #unmapSg(sg: MappedSg, direction: StreamingDirection, attrs: number): MaybePromise<void> {
    this.#check(direction, attrs, undefined);
    const { nents, refs } = mappedSg(sg);
    const debug = this.#debug;
    return this.#enter(debug
      ? () => debug.unmap(this, refs, 'sg', nents, direction, async () => this.#ops.unmapSg(this.#ctx, this, refs, direction, attrs))
      : () => this.#ops.unmapSg(this.#ctx, this, refs, direction, attrs));
  }

  #syncSingleAny(dmaAddress: number, size: number, direction: StreamingDirection, target: SyncTarget): MaybePromise<void> {
    this.#check(direction, 0, undefined);
    checkTarget(target);
    const ref = segmentRef(dmaAddress, size);
    const debug = this.#debug;
    return this.#enter(debug
      ? () => debug.sync(this, [ref], 'single', 0, direction, target === 'cpu', async () => this.#ops.syncSingle(this.#ctx, this, ref, direction, target))
      : () => this.#ops.syncSingle(this.#ctx, this, ref, direction, target));
  }

  #syncSgAny(sg: MappedSg, direction: StreamingDirection, target: SyncTarget): MaybePromise<void> {
    this.#check(direction, 0, undefined);
    checkTarget(target);
    const { nents, refs } = mappedSg(sg);
    const debug = this.#debug;
    return this.#enter(debug
      ? () => debug.sync(this, refs, 'sg', nents, direction, target === 'cpu', async () => this.#ops.syncSg(this.#ctx, this, refs, direction, target))
      : () => this.#ops.syncSg(this.#ctx, this, refs, direction, target));
  }

  /**
   * dma_mapping_error(): true only for DMA_MAPPING_ERROR. The map calls here throw rather than
   * return it, so a live mapping's address gives false; with dma-debug on, the call marks that
   * single mapping as checked (debug_dma_mapping_error()), else unmapping it reports
   * DMA_DEBUG_MAPPING_ERROR_UNCHECKED as the kernel does.
   */
  mappingError(dmaAddress: number): boolean {
    this.#debug?.mappingError(this, dmaAddress);
    return dmaAddress === DMA_MAPPING_ERROR;
  }

  /**
   * dma_iova_try_alloc() (Linux 6.16): IOVA space for `size` bytes whose first byte has `phys`'s
   * in-granule offset. Returns an IovaState; it is 'unallocated' (useIova() false: use the
   * streaming API) without a translating IOMMU (off, identity) or when no IOVA space is left.
   * Throws ERR_INVALID_ARGUMENT for bad arguments, ERR_INVALID_STATE (released), ERR_SYSTEM_CLOSED.
   */
  iovaTryAlloc(phys: number, size: number): IovaState {
    this.#check(DmaDirection.BIDIRECTIONAL, 0, undefined);
    const lifecycle = this.#ctx.lifecycle;
    lifecycle.enter();
    try {
      return iovaTryAlloc(this, phys, size);
    } finally {
      lifecycle.leave();
    }
  }

  /**
   * dma_iova_link(): maps [phys, phys + size) at `offset` of the state, not yet visible to the
   * device (iovaSync() makes it so). An untrusted device's unaligned head and tail are bounced.
   * Rejects, linking nothing, with ERR_IOVA_STATE (not allocated, destroyed, or a call in flight),
   * ERR_IOVA_RULE (a link off the merge boundary, after a range that does not end on it,
   * overlapping, past the state; `rule` names it), ERR_DMA_MAPPING (EPERM: MMIO for an untrusted
   * device; EINVAL: the IOMMU cannot map it), ERR_SWIOTLB_FULL, ERR_INVALID_ARGUMENT, ERR_BAD_ADDRESS.
   */
  async iovaLink(state: IovaState, phys: number, offset: number, size: number, direction: StreamingDirection, attrs = 0): Promise<void> {
    this.#check(direction, attrs, undefined);
    await this.#enter(() => iovaLink(this.#ctx, this, state, phys, offset, size, direction, attrs));
  }

  /** dma_iova_sync(): the linked pages in [offset, offset + size) become visible to the device. Throws ERR_IOVA_STATE / ERR_IOVA_RULE / ERR_INVALID_ARGUMENT, changing nothing. */
  iovaSync(state: IovaState, offset: number, size: number): void {
    this.#check(DmaDirection.BIDIRECTIONAL, 0, undefined);
    const lifecycle = this.#ctx.lifecycle;
    lifecycle.enter();
    try {
      iovaSync(this, state, offset, size);
    } finally {
      lifecycle.leave();
    }
  }

  /** dma_iova_unlink(): unmaps whole linked ranges making up [offset, offset + size) (bounced parts copied back); the IOVA stays allocated. Rejects as iovaLink() does, changing nothing. */
  async iovaUnlink(state: IovaState, offset: number, size: number, direction: StreamingDirection, attrs = 0): Promise<void> {
    this.#check(direction, attrs, undefined);
    await this.#enter(() => iovaUnlink(this.#ctx, this, state, offset, size, direction, attrs));
  }

  /** dma_iova_destroy(): unlinks [0, mappedLen) (every linked byte) and frees the IOVA; mappedLen 0 is iovaFree(). The state is 'destroyed' after. Rejects as iovaLink() does, changing nothing. */
  async iovaDestroy(state: IovaState, mappedLen: number, direction: StreamingDirection, attrs = 0): Promise<void> {
    this.#check(direction, attrs, undefined);
    await this.#enter(() => iovaDestroy(this.#ctx, this, state, mappedLen, direction, attrs));
  }

  /** dma_iova_free(): frees an IOVA state with nothing linked (ERR_IOVA_RULE otherwise, ERR_IOVA_STATE when not allocated). */
  iovaFree(state: IovaState): void {
    this.#check(DmaDirection.BIDIRECTIONAL, 0, undefined);
    iovaFree(this, state);
  }

  /** dma_get_merge_boundary(): the IOMMU granule - 1 behind a translating IOMMU, 0 (no merging) with dma-direct. */
  get mergeBoundary(): number {
    return this.iommuDomain ? this.iommuDomain.granule - 1 : 0;
  }

  /** dma_use_iova(): true for a state iovaTryAlloc() allocated (the unmap side then uses the IOVA API). */
  useIova(state: IovaState): boolean {
    return useIova(state);
  }

  /**
   * dma_alloc_coherent(): `size` bytes (rounded up to whole pages) that the CPU and the device
   * both use until freeCoherent(); from the device's restricted DMA pool when it has one
   * (swiotlb_alloc()), else host RAM the device can address. Throws ERR_INVALID_ARGUMENT,
   * ERR_SWIOTLB_FULL, ERR_ALLOC_EXHAUSTED, ERR_SYSTEM_CLOSED, ERR_INVALID_STATE (released);
   * nothing is taken then.
   */
  allocCoherent(size: number): CoherentAllocation {
    this.#check(DmaDirection.BIDIRECTIONAL, 0, undefined);
    return allocCoherent(this.#ctx, this.owner.id, this.owner.cpu, this.dmaLimit, size);
  }

  /** dma_free_coherent(): gives back what allocCoherent() returned. Throws ERR_INVALID_ARGUMENT / ERR_MAPPING_STATE (freed already), changing nothing. */
  freeCoherent(allocation: CoherentAllocation): void {
    if (this.#ctx.lifecycle.state !== 'open') this.#ctx.lifecycle.enter();
    freeCoherent(this.#ctx, this.owner.id, allocation);
  }

  /** Bounce mappings this device holds slots for (being mapped, live, or being unmapped). */
  bounceMappings(): number {
    let n = 0;
    for (const record of this.#ctx.bounced.values()) if (record.deviceId === this.owner.id) n++;
    return n;
  }

  /**
   * Marks the device released; later calls throw ERR_INVALID_STATE. A second release does
   * nothing. With dma-debug on, live mappings make a DMA_DEBUG_LEAK report (in 'throw' mode,
   * thrown after the device is released).
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#debug?.release(this);
  }

  #mapRange(range: SgEntry, direction: StreamingDirection, attrs: number, signal: AbortSignal | undefined): MaybePromise<MappedSegment> {
    const debug = this.#debug;
    if (!debug) return this.#enter(() => this.#ops.mapPhys(this.#ctx, this, range, direction, attrs, signal));
    return this.#enter(async () => {
      const kind: MappingFunction = 'single';
      const [segment] = await debug.map(this, kind, direction, attrs, async () => [await this.#ops.mapPhys(this.#ctx, this, range, direction, attrs, signal)], (s) => this.#undo(s, direction));
      return segment!;
    });
  }

  async #syncSingle(dmaAddress: number, size: number, direction: StreamingDirection, target: SyncTarget): Promise<void> {
    const done = this.#syncSingleAny(dmaAddress, size, direction, target);
    if (isPromise(done)) await done;
  }

  // Every call runs inside the system's lifecycle: refused once close() began, waited for by close().
  // A call that answers at once (nothing to copy or wait for) leaves at once, with no promise of its own.
  #enter<T>(call: () => MaybePromise<T>): MaybePromise<T> {
    const lifecycle = this.#ctx.lifecycle;
    lifecycle.enter();
    let result: MaybePromise<T>;
    try {
      result = call();
    } catch (error) {
      lifecycle.leave();
      throw error;
    }
    if (!isPromise(result)) {
      lifecycle.leave();
      return result;
    }
    return result.then((value) => { lifecycle.leave(); return value; }, (error: unknown) => { lifecycle.leave(); throw error; });
  }

  // A mapping dma-debug refuses in 'throw' mode: free what it took, copying nothing back.
  async #undo(segments: readonly MappedSegment[], direction: StreamingDirection): Promise<void> {
    return this.#ops.unmapSg(this.#ctx, this, segments.map((s) => ({ dmaAddress: s.dmaAddress, length: s.length })), direction, DMA_ATTR_SKIP_CPU_SYNC);
  }

  #check(direction: unknown, attrs: unknown, signal: unknown): asserts direction is StreamingDirection {
    // A closed system says so first: its devices are released too, but the reason is the system.
    if (this.#ctx.lifecycle.state !== 'open') this.#ctx.lifecycle.enter();
    if (this.#released) throw new InvalidStateError(`${this.pci.bdf} was released`);
    checkDirection(direction);
    checkAttrs(attrs);
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal', { argument: 'signal' });
  }
}

// True when `device` is the function of `topology` at its BDF (not one of another topology's).
function inTopology(topology: Topology, device: PciDevice): boolean {
  try {
    return topology.device(device.bdf) === device;
  } catch {
    return false;
  }
}

function checkTarget(target: unknown): asserts target is SyncTarget {
  if (target !== 'cpu' && target !== 'device') throw new InvalidArgumentError(`target must be 'cpu' or 'device', got ${describe(target)}`, { argument: 'target' });
}

// models the refusal in dma_map_page_attrs(): MMIO has no struct page.
function refuseMmio(attrs: number, phys: number, call: string): void {
  if (attrs & DMA_ATTR_MMIO) {
    throw new DmaMappingError(`${call} refuses DMA_ATTR_MMIO (device memory has no struct page): map 0x${phys.toString(16)} with mapPhys()`, { errno: 'EIO', address: phys });
  }
}

function entry(phys: unknown, length: unknown): SgEntry {
  if (typeof phys !== 'number' || !Number.isSafeInteger(phys) || phys < 0) throw new InvalidArgumentError(`phys ${describe(phys)} must be a non-negative safe integer`, { argument: 'phys' });
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length <= 0 || length > 2 ** 32 - 1) {
    throw new InvalidArgumentError(`length ${describe(length)} must be an integer in 1..2^32-1`, { argument: 'length' });
  }
  return { phys, length };
}

// A snapshot of an SG list: its length read once, each entry's fields read once.
function sgEntries(entries: unknown): SgEntry[] {
  if (!Array.isArray(entries)) throw new InvalidArgumentError('entries must be a non-empty array of { phys, length }', { argument: 'entries' });
  const n: number = entries.length;
  if (n === 0 || n > MAX_SG_ENTRIES) throw new InvalidArgumentError(`entries must hold 1..${MAX_SG_ENTRIES} entries, got ${n}`, { argument: 'entries' });
  const out: SgEntry[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const e: unknown = entries[i];
    if (e === null || typeof e !== 'object') throw new InvalidArgumentError(`entries[${i}] must be { phys, length }`, { argument: 'entries' });
    const { phys, length } = e as { phys?: unknown; length?: unknown };
    out[i] = entry(phys, length);
  }
  return out;
}

function segmentRef(dmaAddress: unknown, size: unknown): SegmentRef {
  if (typeof dmaAddress !== 'number' || !Number.isSafeInteger(dmaAddress) || dmaAddress < 0) throw new InvalidArgumentError('dmaAddress must be a non-negative safe integer', { argument: 'dmaAddress' });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) throw new InvalidArgumentError('size must be a positive integer', { argument: 'size' });
  return { dmaAddress, length: size };
}

// A snapshot of what mapSg returned: nents and each segment's address and length, read once.
function mappedSg(sg: unknown): { nents: number; refs: SegmentRef[] } {
  if (sg === null || typeof sg !== 'object') throw new InvalidArgumentError('expected the MappedSg that mapSg returned', { argument: 'sg' });
  const { nents, segments } = sg as { nents?: unknown; segments?: unknown };
  if (!Array.isArray(segments)) throw new InvalidArgumentError('expected the MappedSg that mapSg returned', { argument: 'sg' });
  const n: number = segments.length;
  if (n > MAX_SG_ENTRIES) throw new InvalidArgumentError(`sg.segments holds ${n} segments, more than ${MAX_SG_ENTRIES}`, { argument: 'sg' });
  const refs: SegmentRef[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const s: unknown = segments[i];
    const { dmaAddress, length } = (s !== null && typeof s === 'object' ? s : {}) as { dmaAddress?: unknown; length?: unknown };
    if (typeof dmaAddress !== 'number' || !Number.isSafeInteger(dmaAddress) || dmaAddress < 0 || typeof length !== 'number' || !Number.isSafeInteger(length) || length <= 0) {
      throw new InvalidArgumentError(`sg.segments[${i}] must be { dmaAddress, length } as mapSg returned it (non-negative integers, length > 0)`, { argument: 'segments' });
    }
    refs[i] = { dmaAddress, length };
  }
  // The entry count the call claims (dma-debug also compares the list's own length).
  return { nents: typeof nents === 'number' && Number.isSafeInteger(nents) ? nents : n, refs };
}
