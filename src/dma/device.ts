// DmaDevice: the streaming DMA API of one PCI function (include/linux/dma-mapping.h), thin
// and validating; the work happens in direct.ts. Every call that may copy is asynchronous.
// With dma-debug on (DmaSystem.create({ debug })), every map, unmap and sync also goes through
// the system's DmaDebug, which in 'throw' mode rejects misuse with ERR_DMA_DEBUG before anything
// changes (docs/dma-debug.md).
import { InvalidArgumentError, InvalidStateError } from '../errors.js';
import { mapType, type MapTypeResult, type PciDevice } from '../pci/index.js';
import { parseSize, type Size } from '../size.js';
import type { DmaContext } from './context.js';
import { DeviceDma } from './device-dma.js';
import { DMA_MAPPING_ERROR, type DmaDebug } from './debug.js';
import { checkAttrs, checkDirection, DMA_ATTR_SKIP_CPU_SYNC, type StreamingDirection } from './direction.js';
import { mapSegments, syncSegments, unmapSegments, type MappingDevice, type P2pPolicy } from './direct.js';
import type { BounceOwner } from './bounce.js';
import type { MappedSegment, MappedSg, SgEntry } from './types.js';

export interface DmaDeviceOptions {
  /** Width of the DMA mask (dma_set_mask), 20..64 bits; default 64. */
  readonly dmaBits?: number;
  /** The bus's own limit (bus_dma_limit), an address; default none. */
  readonly busDmaLimit?: number;
  /** dma_set_max_seg_size(); default 64KiB. Checked by dma-debug, not by the mapping (as in the kernel). */
  readonly maxSegmentSize?: Size;
  /** dma_set_seg_boundary(); default 0xffffffff. Checked by dma-debug. */
  readonly segmentBoundaryMask?: number;
  /** dma_set_min_align_mask(): bounce addresses keep these low bits of the original (NVMe: 0xfff). Default 0. */
  readonly minAlignMask?: number;
  /** Cache-coherent DMA; default true. Non-coherent devices need the syncs for correctness on real hardware. */
  readonly coherent?: boolean;
  /** Bounce every streaming mapping, as swiotlb=force and SEV/TDX guests do; default false. */
  readonly forceBounce?: boolean;
  /** What to do with P2P the topology cannot do: 'reject' (mainline, -EREMOTEIO) or 'bounce'; default 'reject'. */
  readonly p2pPolicy?: P2pPolicy;
  /** The CPU the driver runs on: selects the swiotlb area a search starts in; default 0. */
  readonly cpu?: number;
  /** When the swiotlb pool is full: false (fail, as the kernel does) or wait up to this many ms (Infinity: no limit). Default false. */
  readonly waitForSpace?: false | number;
}

const MAX_SAFE_LIMIT = Number.MAX_SAFE_INTEGER;
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
  readonly owner: BounceOwner;
  /** The device's own DMA engine: reads and writes by DMA address, with reachability checks. */
  readonly dma: DeviceDma;
  readonly #ctx: DmaContext;
  readonly #routes = new Map<PciDevice, MapTypeResult>();
  /** The system's dma-debug tracker, or undefined when debugging is off: each call pays one check for it. */
  readonly #debug: DmaDebug | undefined;
  #released = false;

  /** Use DmaSystem.device(); throws ERR_INVALID_ARGUMENT for bad options. */
  constructor(ctx: DmaContext, pci: PciDevice, options: DmaDeviceOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object', { argument: 'options' });
    const dmaBits = options.dmaBits ?? 64;
    if (!Number.isInteger(dmaBits) || dmaBits < 20 || dmaBits > 64) throw new InvalidArgumentError(`dmaBits ${dmaBits} must be an integer in 20..64`, { argument: 'dmaBits' });
    const maskLimit = dmaBits >= 53 ? MAX_SAFE_LIMIT : 2 ** dmaBits - 1;
    const bus = options.busDmaLimit ?? MAX_SAFE_LIMIT;
    if (!Number.isSafeInteger(bus) || bus < 0) throw new InvalidArgumentError('busDmaLimit must be a non-negative safe integer', { argument: 'busDmaLimit' });
    const minAlignMask = options.minAlignMask ?? 0;
    if (!isLowMask(minAlignMask) || minAlignMask >= 2 ** 17) throw new InvalidArgumentError(`minAlignMask 0x${minAlignMask.toString(16)} must be 2^n - 1 below 128KiB`, { argument: 'minAlignMask' });
    const boundary = options.segmentBoundaryMask ?? 0xffffffff;
    if (!isLowMask(boundary)) throw new InvalidArgumentError('segmentBoundaryMask must be 2^n - 1', { argument: 'segmentBoundaryMask' });
    const policy = options.p2pPolicy ?? 'reject';
    if (policy !== 'reject' && policy !== 'bounce') throw new InvalidArgumentError(`p2pPolicy must be 'reject' or 'bounce'`, { argument: 'p2pPolicy' });
    const cpu = options.cpu ?? 0;
    if (!Number.isInteger(cpu) || cpu < 0) throw new InvalidArgumentError('cpu must be a non-negative integer', { argument: 'cpu' });
    const wait = options.waitForSpace ?? false;
    if (wait !== false && !(typeof wait === 'number' && wait >= 0)) throw new InvalidArgumentError('waitForSpace must be false or a number of ms', { argument: 'waitForSpace' });
    for (const flag of ['coherent', 'forceBounce'] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== 'boolean') throw new InvalidArgumentError(`${flag} must be a boolean`, { argument: flag });
    }
    this.#ctx = ctx;
    this.#debug = ctx.debug;
    this.pci = pci;
    this.dmaBits = dmaBits;
    this.dmaLimit = Math.min(maskLimit, bus);
    this.maxSegmentSize = parseSize(options.maxSegmentSize ?? 65536, 'maxSegmentSize');
    this.segmentBoundaryMask = boundary;
    this.minAlignMask = minAlignMask;
    this.coherent = options.coherent ?? true;
    this.forceBounce = options.forceBounce ?? false;
    this.p2pPolicy = policy;
    const id = nextDeviceId++;
    // models dma_get_seg_boundary_nr_pages(dev, IO_TLB_SHIFT) as swiotlb_find_slots() uses it:
    // whole slots, so a mask below one slot still allows one slot.
    const boundaryMask = boundary >= 2 ** 52 ? -1 : Math.max(boundary, 2047);
    this.owner = { id, minAlignMask, cpu, boundaryMask, waitForSpace: wait };
    this.dma = new DeviceDma(ctx, pci, id, this.dmaLimit);
  }

  /** The P2PDMA route from `provider`'s memory to this device; the topology is immutable, so it is computed once. */
  route(provider: PciDevice): MapTypeResult {
    let route = this.#routes.get(provider);
    if (!route) {
      route = mapType(provider, this.pci);
      this.#routes.set(provider, route);
    }
    return route;
  }

  get bdf(): string {
    return this.pci.bdf;
  }

  /**
   * dma_map_single(): maps [phys, phys + size) and resolves with how it was mapped (its
   * `dmaAddress` is what the device is given). Rejects with ERR_BAD_ADDRESS (not in one
   * region or BAR), ERR_DMA_P2P_NOT_SUPPORTED (policy 'reject'), ERR_DMA_MAPPING (P2P memory
   * that mainline cannot bounce, swiotlb address overflow), ERR_SWIOTLB_FULL; nothing stays mapped then.
   */
  async mapSingle(phys: number, size: number, direction: StreamingDirection, attrs = 0, signal?: AbortSignal): Promise<MappedSegment> {
    this.#check(direction, attrs);
    const entries = [entry(phys, size)];
    const debug = this.#debug;
    const [segment] = debug
      ? await debug.map(this, 'single', direction, attrs, () => mapSegments(this.#ctx, this, entries, direction, signal), (s) => this.#undo(s, direction))
      : await mapSegments(this.#ctx, this, entries, direction, signal);
    return segment!;
  }

  /** dma_unmap_single(): for a bounced mapping, copies back (FROM_DEVICE/BIDIRECTIONAL, unless SKIP_CPU_SYNC) and frees the slots. */
  async unmapSingle(dmaAddress: number, size: number, direction: StreamingDirection, attrs = 0): Promise<void> {
    this.#check(direction, attrs);
    checkRange(dmaAddress, size);
    const refs = [{ dmaAddress, length: size }];
    const debug = this.#debug;
    if (debug) return debug.unmap(this, refs, 'single', 0, direction, () => unmapSegments(this.#ctx, this, refs, direction, attrs));
    await unmapSegments(this.#ctx, this, refs, direction, attrs);
  }

  /** dma_sync_single_for_cpu(): FROM_DEVICE/BIDIRECTIONAL bounced memory is copied back to the original. */
  async syncSingleForCpu(dmaAddress: number, size: number, direction: StreamingDirection): Promise<void> {
    this.#check(direction, 0);
    checkRange(dmaAddress, size);
    const refs = [{ dmaAddress, length: size }];
    const debug = this.#debug;
    if (debug) return debug.sync(this, refs, 'single', 0, direction, true, () => syncSegments(this.#ctx, this, refs, direction, 'cpu'));
    await syncSegments(this.#ctx, this, refs, direction, 'cpu');
  }

  /** dma_sync_single_for_device(): TO_DEVICE/BIDIRECTIONAL memory is copied again into its bounce slot. */
  async syncSingleForDevice(dmaAddress: number, size: number, direction: StreamingDirection): Promise<void> {
    this.#check(direction, 0);
    checkRange(dmaAddress, size);
    const refs = [{ dmaAddress, length: size }];
    const debug = this.#debug;
    if (debug) return debug.sync(this, refs, 'single', 0, direction, false, () => syncSegments(this.#ctx, this, refs, direction, 'device'));
    await syncSegments(this.#ctx, this, refs, direction, 'device');
  }

  /**
   * dma_map_sg(): maps each entry one to one (dma-direct never merges). Entries may mix host
   * RAM and BARs. On any failure nothing stays mapped and the error is thrown (the kernel
   * returns -EIO, -EREMOTEIO or -ENOMEM; here the codes above say which).
   */
  async mapSg(entries: readonly SgEntry[], direction: StreamingDirection, attrs = 0, signal?: AbortSignal): Promise<MappedSg> {
    this.#check(direction, attrs);
    if (!Array.isArray(entries) || entries.length === 0) throw new InvalidArgumentError('entries must be a non-empty array of { phys, length }', { argument: 'entries' });
    const checked = entries.map((e) => entry(e?.phys, e?.length));
    const debug = this.#debug;
    const segments = debug
      ? await debug.map(this, 'sg', direction, attrs, () => mapSegments(this.#ctx, this, checked, direction, signal), (s) => this.#undo(s, direction))
      : await mapSegments(this.#ctx, this, checked, direction, signal);
    return { direction, nents: entries.length, segments };
  }

  /** dma_unmap_sg(): takes back what mapSg returned. */
  async unmapSg(sg: MappedSg, direction: StreamingDirection, attrs = 0): Promise<void> {
    this.#check(direction, attrs);
    const segments = segmentsOf(sg);
    const debug = this.#debug;
    if (debug) return debug.unmap(this, segments, 'sg', nentsOf(sg), direction, () => unmapSegments(this.#ctx, this, segments, direction, attrs));
    await unmapSegments(this.#ctx, this, segments, direction, attrs);
  }

  /** dma_sync_sg_for_cpu(). */
  async syncSgForCpu(sg: MappedSg, direction: StreamingDirection): Promise<void> {
    this.#check(direction, 0);
    const segments = segmentsOf(sg);
    const debug = this.#debug;
    if (debug) return debug.sync(this, segments, 'sg', nentsOf(sg), direction, true, () => syncSegments(this.#ctx, this, segments, direction, 'cpu'));
    await syncSegments(this.#ctx, this, segments, direction, 'cpu');
  }

  /** dma_sync_sg_for_device(). */
  async syncSgForDevice(sg: MappedSg, direction: StreamingDirection): Promise<void> {
    this.#check(direction, 0);
    const segments = segmentsOf(sg);
    const debug = this.#debug;
    if (debug) return debug.sync(this, segments, 'sg', nentsOf(sg), direction, false, () => syncSegments(this.#ctx, this, segments, direction, 'device'));
    await syncSegments(this.#ctx, this, segments, direction, 'device');
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

  /** Live bounce mappings this device holds. */
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

  // A mapping dma-debug refuses in 'throw' mode: free what it took, copying nothing back.
  #undo(segments: readonly MappedSegment[], direction: StreamingDirection): Promise<void> {
    return unmapSegments(this.#ctx, this, segments, direction, DMA_ATTR_SKIP_CPU_SYNC);
  }

  #check(direction: unknown, attrs: unknown): asserts direction is StreamingDirection {
    if (this.#released) throw new InvalidStateError(`${this.pci.bdf} was released`);
    checkDirection(direction);
    checkAttrs(attrs);
  }
}

function isLowMask(mask: number): boolean {
  // 2^n - 1: all ones from bit 0 up.
  return Number.isSafeInteger(mask) && mask >= 0 && Number.isInteger(Math.log2(mask + 1));
}

function entry(phys: unknown, length: unknown): SgEntry {
  if (typeof phys !== 'number' || !Number.isSafeInteger(phys) || phys < 0) throw new InvalidArgumentError(`phys ${String(phys)} must be a non-negative safe integer`, { argument: 'phys' });
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length <= 0 || length > 2 ** 32 - 1) {
    throw new InvalidArgumentError(`length ${String(length)} must be an integer in 1..2^32-1`, { argument: 'length' });
  }
  return { phys, length };
}

function checkRange(dmaAddress: unknown, size: unknown): void {
  if (typeof dmaAddress !== 'number' || !Number.isSafeInteger(dmaAddress) || dmaAddress < 0) throw new InvalidArgumentError('dmaAddress must be a non-negative safe integer', { argument: 'dmaAddress' });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) throw new InvalidArgumentError('size must be a positive integer', { argument: 'size' });
}

// The entry count an sg unmap or sync claims (dma-debug also compares the list's own length).
function nentsOf(sg: MappedSg): number {
  return Number.isSafeInteger(sg.nents) ? sg.nents : sg.segments.length;
}

function segmentsOf(sg: MappedSg): readonly MappedSegment[] {
  if (!sg || typeof sg !== 'object' || !Array.isArray(sg.segments)) throw new InvalidArgumentError('expected the MappedSg that mapSg returned', { argument: 'sg' });
  return sg.segments;
}
