// dma-debug: tracks every live streaming mapping of a system and reports misuse of the DMA API
// with the kernel's categories (kernel/dma/debug.c, CONFIG_DMA_API_DEBUG). DmaDevice hands each
// call to the tracker only when debugging is on; the tracker checks, runs the real operation
// through the closure it is given, and records or forgets mappings once the operation succeeded.
import { DmaDebugError, InvalidArgumentError } from '../errors.js';
import { DMA_ATTR_SKIP_CPU_SYNC, DmaDirection, deviceWrites, directionName, type StreamingDirection } from './direction.js';
import type { MappedSegment } from './types.js';

/**
 * The value the kernel's dma_map_*() return on failure ((dma_addr_t)~0), here all ones in the 53
 * bits a JS number holds exactly. dma-bounce's map calls throw instead of returning it; it exists
 * so that `mappingError()` and an unmap of the sentinel behave as in the kernel.
 */
export const DMA_MAPPING_ERROR = Number.MAX_SAFE_INTEGER;

/** Stable report codes; see docs/dma-debug.md for what triggers each and what happens next. */
export const DmaDebugCode = {
  UNMAP_NOT_MAPPED: 'DMA_DEBUG_UNMAP_NOT_MAPPED',
  UNMAP_MAPPING_ERROR: 'DMA_DEBUG_UNMAP_MAPPING_ERROR',
  UNMAP_WRONG_DEVICE: 'DMA_DEBUG_UNMAP_WRONG_DEVICE',
  UNMAP_SIZE: 'DMA_DEBUG_UNMAP_SIZE',
  UNMAP_KIND: 'DMA_DEBUG_UNMAP_KIND',
  UNMAP_NENTS: 'DMA_DEBUG_UNMAP_NENTS',
  UNMAP_DIRECTION: 'DMA_DEBUG_UNMAP_DIRECTION',
  MAPPING_ERROR_UNCHECKED: 'DMA_DEBUG_MAPPING_ERROR_UNCHECKED',
  SYNC_NOT_MAPPED: 'DMA_DEBUG_SYNC_NOT_MAPPED',
  SYNC_OUT_OF_RANGE: 'DMA_DEBUG_SYNC_OUT_OF_RANGE',
  SYNC_DIRECTION: 'DMA_DEBUG_SYNC_DIRECTION',
  SYNC_TO_DEVICE_FOR_CPU: 'DMA_DEBUG_SYNC_TO_DEVICE_FOR_CPU',
  SYNC_FROM_DEVICE_FOR_DEVICE: 'DMA_DEBUG_SYNC_FROM_DEVICE_FOR_DEVICE',
  SYNC_NENTS: 'DMA_DEBUG_SYNC_NENTS',
  SEGMENT_TOO_LONG: 'DMA_DEBUG_SEGMENT_TOO_LONG',
  SEGMENT_BOUNDARY: 'DMA_DEBUG_SEGMENT_BOUNDARY',
  OVERLAP: 'DMA_DEBUG_OVERLAP',
  LEAK: 'DMA_DEBUG_LEAK',
} as const;
export type DmaDebugCode = (typeof DmaDebugCode)[keyof typeof DmaDebugCode];

/** Which function made a mapping: dma_map_single()/dma_map_page() or dma_map_sg(). */
export type MappingFunction = 'single' | 'sg';

export type DmaDebugMode = 'report' | 'throw';

export interface DmaDebugOptions {
  /** 'report' (default): record, emit and let the call go on as the kernel does; 'throw': refuse the call with DmaDebugError. */
  readonly mode?: DmaDebugMode;
  /** Keep the JS stack of every map call, shown in reports about that mapping; default false (it costs a stack capture per map). */
  readonly stacks?: boolean;
  /** Codes to neither record nor throw (e.g. MAPPING_ERROR_UNCHECKED for code that never calls mappingError()). */
  readonly ignore?: readonly DmaDebugCode[];
}

/** A live mapping as the tracker sees it (debug_dma_dump_mappings()). */
export interface DmaDebugMapping {
  readonly device: string;
  /** DMA address the device was given. */
  readonly address: number;
  /** CPU physical address of the mapped memory. */
  readonly phys: number;
  readonly size: number;
  readonly direction: string;
  readonly kind: MappingFunction;
  /** For sg: the entry count passed to mapSg. */
  readonly nents?: number;
  /** Where it was mapped, when `stacks` is on. */
  readonly stack?: string;
}

/** One misuse found. Plain data: serialisable, stable `code`. */
export interface DmaDebugReport {
  readonly code: DmaDebugCode;
  /** BDF of the device whose call was checked. */
  readonly device: string;
  /** The DMA address the call named (for OVERLAP and segment checks: the new mapping's). */
  readonly address: number;
  readonly size: number;
  /** Direction the call passed, by name. */
  readonly direction?: string;
  /** What the live mapping (or the device) says. */
  readonly expected?: number | string;
  /** What the call said. */
  readonly found?: number | string;
  readonly message: string;
  /** Where the mapping involved was made, when `stacks` is on. */
  readonly stack?: string;
  /** LEAK: the mappings still live; OVERLAP: the live mapping overlapped. */
  readonly mappings?: readonly DmaDebugMapping[];
  /** LEAK: how many mappings were pending. */
  readonly count?: number;
}

export type DmaDebugListener = (report: DmaDebugReport) => void;

/** What the tracker needs of a device. */
export interface DebugDevice {
  readonly bdf: string;
  readonly maxSegmentSize: number;
  readonly segmentBoundaryMask: number;
}

/** A range an unmap or sync names. */
interface Ref {
  readonly dmaAddress: number;
  readonly length: number;
}

interface Entry {
  readonly device: DebugDevice;
  readonly address: number;
  readonly phys: number;
  readonly size: number;
  readonly direction: StreamingDirection;
  readonly kind: MappingFunction;
  readonly nents: number;
  /** dma_mapping_error() was called on it (always true for sg: the kernel does not apply the check there). */
  checked: boolean;
  /** The unmap call that matched it last. */
  claim: number;
  /** An unmap of it is in flight: other calls see it as gone (the kernel's entry leaves the hash at unmap). */
  unmapping: boolean;
  readonly stack: string | undefined;
  /** Cacheline range [firstLine, endLine) of the CPU memory, for mappings the device writes. */
  readonly firstLine: number;
  readonly endLine: number;
}

const CACHELINE = 64;
// Writing mappings are indexed by 64 KiB chunk of CPU memory, so an overlap search looks at few entries.
const CHUNK_LINES = 1024;

/**
 * One per system (DmaSystem.create({ debug })). Reports go to the `reports` list and to
 * `on('report')` listeners, in both modes; in 'throw' mode the call then throws DmaDebugError.
 */
export class DmaDebug {
  readonly mode: DmaDebugMode;
  readonly stacks: boolean;
  readonly #ignore: ReadonlySet<string>;
  readonly #reports: DmaDebugReport[] = [];
  readonly #listeners = new Set<DmaDebugListener>();
  /** Live entries by DMA address, every device (the kernel's dma_entry_hash); a lone entry is stored bare. */
  readonly #byAddress = new Map<number, Entry | Entry[]>();
  /** Writing entries by chunk of cachelines (the kernel's dma_active_cacheline). */
  readonly #lines = new Map<number, Entry[]>();
  /** Numbers unmap calls, so an entry matched once in a call is not matched again (Entry.claim). */
  #call = 0;

  /** Throws ERR_INVALID_ARGUMENT for bad options. */
  constructor(options: DmaDebugOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('debug options must be an object', { argument: 'debug' });
    const mode = options.mode ?? 'report';
    if (mode !== 'report' && mode !== 'throw') throw new InvalidArgumentError(`debug.mode must be 'report' or 'throw'`, { argument: 'debug.mode' });
    if (options.stacks !== undefined && typeof options.stacks !== 'boolean') throw new InvalidArgumentError('debug.stacks must be a boolean', { argument: 'debug.stacks' });
    const codes = new Set<string>(Object.values(DmaDebugCode));
    const ignore = options.ignore ?? [];
    if (!Array.isArray(ignore) || ignore.some((c) => !codes.has(c))) throw new InvalidArgumentError('debug.ignore must list DmaDebugCode values', { argument: 'debug.ignore' });
    this.mode = mode;
    this.stacks = options.stacks ?? false;
    this.#ignore = new Set(ignore);
  }

  /** Every report since creation or the last clear(), oldest first. */
  get reports(): readonly DmaDebugReport[] {
    return this.#reports;
  }

  /** Forgets the reports (not the live mappings). */
  clear(): void {
    this.#reports.length = 0;
  }

  /** Calls `listener` synchronously with each report, before the call goes on (or throws); an error it throws is rethrown uncaught, never into the call. */
  on(event: 'report', listener: DmaDebugListener): this {
    if (event !== 'report' || typeof listener !== 'function') throw new InvalidArgumentError(`on('report', listener) takes a function`, { argument: 'listener' });
    this.#listeners.add(listener);
    return this;
  }

  off(event: 'report', listener: DmaDebugListener): this {
    if (event === 'report') this.#listeners.delete(listener);
    return this;
  }

  /** The live mappings, of one device or all (debug_dma_dump_mappings()). */
  mappings(device?: DebugDevice): DmaDebugMapping[] {
    return this.#entriesOf(device).map(describe);
  }

  /**
   * Runs `map` and records what it mapped (debug_dma_map_phys() / debug_dma_map_sg()). A failed
   * map records nothing. Checks each segment (sg: max segment size and boundary) and overlaps;
   * in 'throw' mode a finding undoes the mapping with `undo` and throws DmaDebugError.
   */
  async map(device: DebugDevice, kind: MappingFunction, direction: StreamingDirection, attrs: number, map: () => Promise<MappedSegment[]>, undo: (segments: MappedSegment[]) => Promise<void>): Promise<MappedSegment[]> {
    const stack = this.stacks ? callerStack() : undefined;
    const segments = await map();
    const nents = kind === 'sg' ? segments.length : 0;
    const found: DmaDebugReport[] = [];
    const added: Entry[] = [];
    for (const segment of segments) {
      const e = this.#entry(device, segment, direction, kind, nents, stack);
      if (kind === 'sg') this.#checkSegment(e, found);
      this.#insert(e, attrs, found);
      added.push(e);
    }
    if (found.length > 0 && this.mode === 'throw' && found.some((r) => !this.#ignore.has(r.code))) {
      for (const e of added) this.#remove(e);
      await undo(segments);
    }
    this.#deliver(found);
    return segments;
  }

  /**
   * Checks an unmap (check_unmap()), runs `unmap`, then forgets the matched mappings. While the
   * unmap runs they count as gone: an overlapping unmap or sync of them is reported as of memory
   * not mapped. In 'throw' mode a finding throws first and nothing changes. If `unmap` throws
   * ERR_INVALID_ARGUMENT or ERR_MAPPING_STATE the mapper changed nothing and the mappings stay
   * tracked; any other failure forgets them (the mapper frees its slots once it started).
   */
  async unmap(device: DebugDevice, refs: readonly Ref[], kind: MappingFunction, nents: number, direction: StreamingDirection, unmap: () => Promise<void>): Promise<void> {
    const found: DmaDebugReport[] = [];
    const matched: Entry[] = [];
    const call = ++this.#call;
    for (const ref of refs) {
      const e = this.#checkUnmap(device, ref, kind, nents, refs.length, direction, call, found);
      if (e) {
        e.claim = call;
        matched.push(e);
      }
    }
    this.#deliver(found);
    for (const e of matched) e.unmapping = true;
    try {
      await unmap();
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      if (code === 'ERR_INVALID_ARGUMENT' || code === 'ERR_MAPPING_STATE') for (const e of matched) e.unmapping = false;
      else for (const e of matched) this.#remove(e);
      throw error;
    }
    for (const e of matched) this.#remove(e);
  }

  /** Checks a sync (check_sync()) and runs it; in 'throw' mode a finding throws first and nothing is copied. */
  async sync(device: DebugDevice, refs: readonly Ref[], kind: MappingFunction, nents: number, direction: StreamingDirection, toCpu: boolean, sync: () => Promise<void>): Promise<void> {
    const found: DmaDebugReport[] = [];
    for (const ref of refs) this.#checkSync(device, ref, kind, nents, refs.length, direction, toCpu, found);
    this.#deliver(found);
    await sync();
  }

  /** Marks the first unchecked single mapping of `device` at `dmaAddress` as checked (debug_dma_mapping_error()). */
  mappingError(device: DebugDevice, dmaAddress: number): void {
    for (const e of listed(this.#byAddress.get(dmaAddress))) {
      if (e.device === device && !e.checked) {
        e.checked = true;
        return;
      }
    }
  }

  /**
   * The device goes away (dma_debug_device_change() on driver unbind): one LEAK report listing
   * its live mappings, which are then forgotten (their swiotlb slots stay taken, as in the
   * kernel). In 'throw' mode throws DmaDebugError after forgetting: a release cannot be refused.
   */
  release(device: DebugDevice): void {
    const entries = this.#entriesOf(device);
    if (entries.length === 0) return;
    const mappings = entries.map(describe);
    for (const e of entries) this.#remove(e);
    const first = mappings[0]!;
    this.#deliver([{
      code: DmaDebugCode.LEAK,
      device: device.bdf,
      address: first.address,
      size: first.size,
      count: mappings.length,
      mappings,
      message: `${device.bdf}: released with ${mappings.length} DMA mapping(s) still live; first: 0x${first.address.toString(16)}+${first.size} ${first.direction} ${first.kind}`,
      ...(first.stack === undefined ? {} : { stack: first.stack }),
    }]);
  }

  #entriesOf(device: DebugDevice | undefined): Entry[] {
    const out: Entry[] = [];
    for (const at of this.#byAddress.values()) {
      for (const e of listed(at)) if (device === undefined || e.device === device) out.push(e);
    }
    return out;
  }

  #entry(device: DebugDevice, segment: MappedSegment, direction: StreamingDirection, kind: MappingFunction, nents: number, stack: string | undefined): Entry {
    const writes = deviceWrites(direction);
    return {
      device,
      address: segment.dmaAddress,
      phys: segment.phys,
      size: segment.length,
      direction,
      kind,
      nents,
      checked: kind === 'sg',
      claim: 0,
      unmapping: false,
      stack,
      firstLine: writes ? Math.floor(segment.phys / CACHELINE) : 0,
      endLine: writes ? Math.ceil((segment.phys + segment.length) / CACHELINE) : 0,
    };
  }

  // models check_sg_segment(): the length against dma_get_max_seg_size(), the DMA range against dma_get_seg_boundary().
  #checkSegment(e: Entry, found: DmaDebugReport[]): void {
    const { device } = e;
    if (e.size > device.maxSegmentSize) {
      found.push(this.#report(DmaDebugCode.SEGMENT_TOO_LONG, e, e.direction, device.maxSegmentSize, e.size, `sg segment of ${e.size} bytes is longer than the device's max segment size ${device.maxSegmentSize}`));
    }
    // Bit operators are 32-bit in JS: compare boundary-sized block numbers instead of (start ^ end) & ~mask.
    const block = device.segmentBoundaryMask + 1;
    const end = e.address + e.size - 1;
    if (Math.floor(e.address / block) !== Math.floor(end / block)) {
      found.push(this.#report(DmaDebugCode.SEGMENT_BOUNDARY, e, e.direction, `0x${device.segmentBoundaryMask.toString(16)}`, `0x${e.address.toString(16)}..0x${end.toString(16)}`, `sg segment 0x${e.address.toString(16)}..0x${end.toString(16)} crosses the device's segment boundary (mask 0x${device.segmentBoundaryMask.toString(16)})`));
    }
  }

  // models add_dma_entry() / active_cacheline_insert(): only mappings the device writes are tracked;
  // SKIP_CPU_SYNC silences the report as in the kernel.
  #insert(e: Entry, attrs: number, found: DmaDebugReport[]): void {
    const at = this.#byAddress.get(e.address);
    if (at === undefined) this.#byAddress.set(e.address, e);
    else if (Array.isArray(at)) at.push(e);
    else this.#byAddress.set(e.address, [at, e]);
    if (e.endLine === 0) return;
    let overlapped: Entry | undefined;
    const lastChunk = Math.floor((e.endLine - 1) / CHUNK_LINES);
    for (let chunk = Math.floor(e.firstLine / CHUNK_LINES); chunk <= lastChunk; chunk++) {
      let bucket = this.#lines.get(chunk);
      if (!bucket) this.#lines.set(chunk, (bucket = []));
      if (overlapped === undefined) overlapped = bucket.find((o) => o.firstLine < e.endLine && e.firstLine < o.endLine);
      bucket.push(e);
    }
    if (overlapped && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) {
      const o = overlapped;
      found.push({
        ...this.#report(DmaDebugCode.OVERLAP, e, e.direction, `${o.device.bdf} 0x${o.phys.toString(16)}+${o.size}`, `0x${e.phys.toString(16)}+${e.size}`, `maps CPU memory 0x${e.phys.toString(16)}+${e.size} for the device to write while ${o.device.bdf} holds a live ${directionName(o.direction)} mapping of the same cachelines (0x${o.phys.toString(16)}+${o.size})`),
        mappings: [describe(o)],
      });
    }
  }

  #remove(e: Entry): void {
    const at = this.#byAddress.get(e.address);
    if (at === e) this.#byAddress.delete(e.address);
    else if (Array.isArray(at)) {
      removeFrom(at, e);
      if (at.length === 1) this.#byAddress.set(e.address, at[0]!);
    }
    if (e.endLine === 0) return;
    const lastChunk = Math.floor((e.endLine - 1) / CHUNK_LINES);
    for (let chunk = Math.floor(e.firstLine / CHUNK_LINES); chunk <= lastChunk; chunk++) {
      const bucket = this.#lines.get(chunk);
      if (!bucket) continue;
      removeFrom(bucket, e);
      if (bucket.length === 0) this.#lines.delete(chunk);
    }
  }

  // models check_unmap(): the best-fitting live entry of this device at that address, then each mismatch.
  #checkUnmap(device: DebugDevice, ref: Ref, kind: MappingFunction, nents: number, listLength: number, direction: StreamingDirection, call: number, found: DmaDebugReport[]): Entry | undefined {
    const candidates = listed(this.#byAddress.get(ref.dmaAddress));
    const refNents = kind === 'sg' ? nents : 0;
    let best: Entry | undefined;
    let bestScore = -1;
    let other: Entry | undefined;
    for (const e of candidates) {
      if (e.unmapping) continue;
      if (e.device !== device) {
        other ??= e;
        continue;
      }
      if (e.claim === call) continue;
      const score = +(e.size === ref.length) + +(e.kind === kind) + +(e.direction === direction) + +(e.nents === refNents);
      if (score > bestScore) [best, bestScore] = [e, score];
      if (score === 4) break;
    }
    // The usual case, a perfect fit, costs no report building.
    if (best && bestScore === 4 && best.checked && (kind === 'single' || nents === listLength)) return best;
    const dir = directionName(direction);
    const at = (code: DmaDebugCode, message: string, expected?: number | string, found?: number | string, e?: Entry): DmaDebugReport =>
      this.#report(code, { device, address: ref.dmaAddress, size: ref.length, stack: e?.stack }, direction, expected, found, message);
    if (!best) {
      if (ref.dmaAddress === DMA_MAPPING_ERROR) found.push(at(DmaDebugCode.UNMAP_MAPPING_ERROR, 'unmaps DMA_MAPPING_ERROR, the value a failed map returns'));
      else if (other) found.push(at(DmaDebugCode.UNMAP_WRONG_DEVICE, `unmaps 0x${ref.dmaAddress.toString(16)}+${ref.length}, which ${other.device.bdf} mapped, not this device`, other.device.bdf, device.bdf, other));
      else found.push(at(DmaDebugCode.UNMAP_NOT_MAPPED, `unmaps 0x${ref.dmaAddress.toString(16)}+${ref.length}, which no live mapping of this device starts at`));
      return undefined;
    }
    const where = `0x${ref.dmaAddress.toString(16)}`;
    if (best.size !== ref.length) found.push(at(DmaDebugCode.UNMAP_SIZE, `unmaps ${where} with size ${ref.length}; it was mapped with size ${best.size}`, best.size, ref.length, best));
    if (best.kind !== kind) found.push(at(DmaDebugCode.UNMAP_KIND, `unmaps ${where} as ${kind}; it was mapped as ${best.kind}`, best.kind, kind, best));
    else if (kind === 'sg' && (best.nents !== nents || best.nents !== listLength)) {
      const count = best.nents !== nents ? nents : listLength;
      found.push(at(DmaDebugCode.UNMAP_NENTS, `unmaps an sg list of ${count} entries; it was mapped with ${best.nents}`, best.nents, count, best));
    }
    if (best.direction !== direction) found.push(at(DmaDebugCode.UNMAP_DIRECTION, `unmaps ${where} with ${dir}; it was mapped with ${directionName(best.direction)}`, directionName(best.direction), dir, best));
    if (!best.checked) found.push(at(DmaDebugCode.MAPPING_ERROR_UNCHECKED, `unmaps ${where}, whose mapping was never checked with mappingError()`, undefined, undefined, best));
    return best;
  }

  // models check_sync(): the live entry of this device holding the start, then range and direction.
  #checkSync(device: DebugDevice, ref: Ref, kind: MappingFunction, nents: number, listLength: number, direction: StreamingDirection, toCpu: boolean, found: DmaDebugReport[]): void {
    // Direct mappings of the same memory share a DMA address: like the kernel, take the best fit.
    const fit = (e: Entry) => +(ref.dmaAddress + ref.length <= e.address + e.size) + +(e.direction === direction || e.direction === DmaDirection.BIDIRECTIONAL) + +(e.kind === kind) + +(e.nents === (kind === 'sg' ? nents : 0));
    let entry: Entry | undefined;
    let best = -1;
    for (const e of listed(this.#byAddress.get(ref.dmaAddress))) {
      if (e.device === device && !e.unmapping && fit(e) > best) [entry, best] = [e, fit(e)];
    }
    // A sync inside a mapping: a scan, paid only by partial syncs.
    if (!entry) {
      for (const e of this.#entriesOf(device)) {
        if (!e.unmapping && ref.dmaAddress > e.address && ref.dmaAddress < e.address + e.size && fit(e) > best) [entry, best] = [e, fit(e)];
      }
    }
    const dir = directionName(direction);
    const where = `0x${ref.dmaAddress.toString(16)}+${ref.length}`;
    const at = (code: DmaDebugCode, message: string, expected?: number | string, found?: number | string): DmaDebugReport =>
      this.#report(code, { device, address: ref.dmaAddress, size: ref.length, stack: entry?.stack }, direction, expected, found, message);
    if (!entry) {
      found.push(at(DmaDebugCode.SYNC_NOT_MAPPED, `syncs ${where}, which no live mapping of this device holds`));
      return;
    }
    const end = ref.dmaAddress - entry.address + ref.length;
    if (end > entry.size) found.push(at(DmaDebugCode.SYNC_OUT_OF_RANGE, `syncs ${where}, past the end of the ${entry.size}-byte mapping at 0x${entry.address.toString(16)}`, entry.size, end));
    if (kind === 'sg' && entry.kind === 'sg' && (entry.nents !== nents || entry.nents !== listLength)) {
      const count = entry.nents !== nents ? nents : listLength;
      found.push(at(DmaDebugCode.SYNC_NENTS, `syncs an sg list of ${count} entries; it was mapped with ${entry.nents}`, entry.nents, count));
    }
    if (entry.direction === DmaDirection.BIDIRECTIONAL) return;
    const mapped = directionName(entry.direction);
    if (entry.direction !== direction) found.push(at(DmaDebugCode.SYNC_DIRECTION, `syncs ${where} with ${dir}; it was mapped with ${mapped}`, mapped, dir));
    if (toCpu && entry.direction === DmaDirection.TO_DEVICE && direction !== DmaDirection.TO_DEVICE) {
      found.push(at(DmaDebugCode.SYNC_TO_DEVICE_FOR_CPU, `syncs for the CPU ${where}, memory the device only reads (mapped TO_DEVICE)`, mapped, dir));
    }
    if (!toCpu && entry.direction === DmaDirection.FROM_DEVICE && direction !== DmaDirection.FROM_DEVICE) {
      found.push(at(DmaDebugCode.SYNC_FROM_DEVICE_FOR_DEVICE, `syncs for the device ${where}, memory the device only writes (mapped FROM_DEVICE)`, mapped, dir));
    }
  }

  #report(code: DmaDebugCode, e: { device: DebugDevice; address: number; size: number; stack?: string | undefined }, direction: StreamingDirection, expected: number | string | undefined, found: number | string | undefined, message: string): DmaDebugReport {
    return {
      code,
      device: e.device.bdf,
      address: e.address,
      size: e.size,
      direction: directionName(direction),
      ...(expected === undefined ? {} : { expected }),
      ...(found === undefined ? {} : { found }),
      message: `DMA-API: ${e.device.bdf}: ${message}`,
      ...(e.stack === undefined ? {} : { stack: e.stack }),
    };
  }

  // Records and emits the findings of one call, then throws the first in 'throw' mode.
  #deliver(found: readonly DmaDebugReport[]): void {
    if (found.length === 0) return;
    const kept = this.#ignore.size === 0 ? found : found.filter((r) => !this.#ignore.has(r.code));
    if (kept.length === 0) return;
    for (const report of kept) {
      this.#reports.push(report);
      for (const listener of this.#listeners) {
        // A throwing listener must not cut a call short halfway: its error surfaces as uncaught instead.
        try {
          listener(report);
        } catch (error) {
          queueMicrotask(() => { throw error; });
        }
      }
    }
    if (this.mode === 'throw') {
      const { code, message, ...fields } = kept[0]!;
      throw new DmaDebugError(message, { ...fields, debugCode: code, report: kept[0], reports: kept });
    }
  }
}

function describe(e: Entry): DmaDebugMapping {
  return {
    device: e.device.bdf,
    address: e.address,
    phys: e.phys,
    size: e.size,
    direction: directionName(e.direction),
    kind: e.kind,
    ...(e.kind === 'sg' ? { nents: e.nents } : {}),
    ...(e.stack === undefined ? {} : { stack: e.stack }),
  };
}

const NONE: readonly Entry[] = [];

function listed(at: Entry | Entry[] | undefined): readonly Entry[] {
  return at === undefined ? NONE : Array.isArray(at) ? at : [at];
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i < 0) return;
  list[i] = list[list.length - 1]!;
  list.pop();
}

// The map call's stack without this frame and the tracker's own.
function callerStack(): string {
  const lines = (new Error().stack ?? '').split('\n');
  return lines.slice(3).map((l) => l.trim()).join('\n');
}
