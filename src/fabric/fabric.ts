// The fabric: one shared WebAssembly.Memory holding host RAM, device BARs and the bounce
// pool as regions. Three address spaces meet here: fabric offsets (what kernels see),
// CPU physical addresses (what SG lists carry) and bus addresses (phys + a region's bus offset).
import { randomUUID } from 'node:crypto';
import { AddressError, FabricFullError, InvalidArgumentError, RegionConflictError } from '../errors.js';
import { describe, readInput } from './input.js';
import { parseSize, type Size } from '../size.js';
import { RangeAllocator, type PhysAllocator } from './allocator.js';
import { FabricKernels } from './kernels.js';
import { kernelModule } from '../kernels/module.js';
import { Region, REGION_KINDS, type RegionKind } from './region.js';

/** Bytes of a WebAssembly page; regions start on page boundaries. */
export const WASM_PAGE = 65536;
/** Fabric offsets below this are never valid for a kernel (offset 0 is "null"). */
export const GUARD_SIZE = WASM_PAGE;
/** CPU page size: region bases and sizes are multiples of it. */
export const PAGE_SIZE = 4096;
/** The largest fabric: wasm32 addresses 4 GiB. */
export const MAX_FABRIC_SIZE = 2 ** 32;

/** Options of `new Fabric()`; each is read once. */
export interface FabricOptions {
  /** Total shared memory (default 256 MiB, at most 4 GiB). Pages are committed only when touched. */
  readonly size?: Size;
  /** The low scratch area after the guard page, for rings, SG tables and kernel tables (default 16 MiB). */
  readonly scratch?: Size;
}

/** What `fabric.addRegion()` takes: a named stretch of host RAM, BAR or bounce-pool memory; each field is read once. */
export interface RegionDefinition {
  readonly name: string;
  readonly kind: RegionKind;
  /** CPU physical base; a multiple of 4 KiB; may lie above 4 GiB. */
  readonly phys: number;
  readonly size: Size;
  /** Bus address = phys + busOffset (default 0). */
  readonly busOffset?: number;
  /** Who allocates the region's bytes (default: the region's own first-fit allocator). */
  readonly allocator?: PhysAllocator;
}

const DEFAULTS = { size: '256MiB', scratch: '16MiB' } as const;

/** What a worker thread needs to run kernels over a fabric (structured-cloneable). */
export interface FabricHandle {
  /** Identifies the fabric across threads (instances are cached by it). */
  readonly id: string;
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  /** Data lives in [dataStart, size); SG tables and rings in [scratchStart, dataStart). */
  readonly scratchStart: number;
  readonly dataStart: number;
  readonly size: number;
}

/**
 * The shared memory every kernel, ring and worker works on: a guard page, the scratch area (rings, SG
 * tables, the CRC table) and the regions' data, addressed by fabric offset.
 */
export class Fabric {
  readonly id = randomUUID();
  readonly memory: WebAssembly.Memory;
  readonly buffer: SharedArrayBuffer;
  /** The whole fabric as bytes (index = fabric offset). */
  readonly bytes: Uint8Array;
  readonly size: number;
  /** Allocator of the scratch area (fabric offsets, no physical address). */
  readonly scratch: RangeAllocator;
  readonly #regions: Region[] = [];
  #nextOffset: number;
  #kernels: FabricKernels | undefined;

  /**
   * Creates the shared memory. Throws ERR_INVALID_SIZE for a malformed size and
   * ERR_INVALID_ARGUMENT for one that is not a whole number of 64 KiB pages, above 4 GiB,
   * or too small for the guard page and scratch area.
   */
  constructor(options: FabricOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object', { argument: 'options' });
    const read = readInput('options', () => ({ size: options.size, scratch: options.scratch }));
    const size = parseSize(read.size ?? DEFAULTS.size, 'size');
    const scratch = parseSize(read.scratch ?? DEFAULTS.scratch, 'scratch');
    if (size % WASM_PAGE !== 0 || size <= 0 || size > MAX_FABRIC_SIZE) {
      throw new InvalidArgumentError(`fabric size ${size} must be a positive multiple of 64KiB and at most 4GiB`, { argument: 'size' });
    }
    if (scratch % WASM_PAGE !== 0 || scratch <= 0 || GUARD_SIZE + scratch > size) {
      throw new InvalidArgumentError(`scratch size ${scratch} must be a positive multiple of 64KiB that fits in the fabric after the guard page`, { argument: 'scratch' });
    }
    const pages = size / WASM_PAGE;
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    this.buffer = this.memory.buffer as unknown as SharedArrayBuffer;
    this.bytes = new Uint8Array(this.buffer);
    this.size = size;
    this.scratch = new RangeAllocator(GUARD_SIZE, scratch);
    this.#nextOffset = GUARD_SIZE + scratch;
  }

  /** First fabric offset after the scratch area: where region data starts. */
  get dataStart(): number {
    return this.scratch.base + this.scratch.size;
  }

  /** The fabric as worker threads see it: memory, compiled kernels and bounds. */
  handle(): FabricHandle {
    return { id: this.id, memory: this.memory, module: kernelModule(), scratchStart: this.scratch.base, dataStart: this.dataStart, size: this.size };
  }

  /** Bytes not yet given to a region. */
  get unassigned(): number {
    return this.size - this.#nextOffset;
  }

  /**
   * Adds a region at the next free fabric offset. Throws ERR_INVALID_ARGUMENT for a bad
   * definition, ERR_REGION_CONFLICT when its name or physical range overlaps another region,
   * ERR_FABRIC_FULL when the fabric has no room; the fabric is unchanged on failure.
   */
  addRegion(definition: RegionDefinition): Region {
    if (definition === null || typeof definition !== 'object') throw new InvalidArgumentError('region definition must be an object', { argument: 'definition' });
    const { name, kind, phys, busOffset = 0, size: sizeOption } = readInput('definition', () => ({ name: definition.name, kind: definition.kind, phys: definition.phys, busOffset: definition.busOffset, size: definition.size }));
    if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('region name must be a non-empty string', { argument: 'name' });
    if (!REGION_KINDS.includes(kind)) throw new InvalidArgumentError(`region ${name}: kind must be one of ${REGION_KINDS.join(', ')}`, { argument: 'kind' });
    if (!Number.isSafeInteger(phys) || phys < 0 || phys % PAGE_SIZE !== 0) {
      throw new InvalidArgumentError(`region ${name}: phys must be a non-negative multiple of ${PAGE_SIZE}`, { argument: 'phys' });
    }
    if (!Number.isSafeInteger(busOffset) || !Number.isSafeInteger(phys + busOffset) || phys + busOffset < 0) {
      throw new InvalidArgumentError(`region ${name}: busOffset must be an integer that keeps bus addresses non-negative`, { argument: 'busOffset' });
    }
    const size = parseSize(sizeOption, `region ${name} size`);
    if (size <= 0 || size % PAGE_SIZE !== 0 || !Number.isSafeInteger(phys + size)) {
      throw new InvalidArgumentError(`region ${name}: size must be a positive multiple of ${PAGE_SIZE}`, { argument: 'size' });
    }
    for (const other of this.#regions) {
      if (other.name === name) throw new RegionConflictError(`region ${name} already exists`, { region: name });
      if (phys < other.physEnd && other.phys < phys + size) {
        throw new RegionConflictError(`region ${name} [0x${phys.toString(16)}, 0x${(phys + size).toString(16)}) overlaps region ${other.name}`, { region: name, other: other.name });
      }
    }
    const offset = this.#nextOffset;
    const reserved = Math.ceil(size / WASM_PAGE) * WASM_PAGE;
    if (offset + reserved > this.size) {
      throw new FabricFullError(`region ${name} needs ${size} bytes but the fabric has ${this.size - offset} left`, { requested: size, available: this.size - offset });
    }
    const allocator = definition.allocator;
    if (allocator !== undefined && (allocator === null || typeof allocator.allocate !== 'function' || typeof allocator.free !== 'function' || typeof allocator.stats !== 'function')) {
      throw new InvalidArgumentError(`region ${name}: allocator must have allocate(), free() and stats()`, { argument: 'allocator' });
    }
    const region = new Region({ name, kind, phys, offset, size, busOffset, buffer: this.buffer, ...(allocator ? { allocator } : {}) });
    this.#nextOffset = offset + reserved;
    // Sorted by phys for lookups.
    const at = this.#regions.findIndex((r) => r.phys > phys);
    this.#regions.splice(at < 0 ? this.#regions.length : at, 0, region);
    return region;
  }

  /** All regions, by physical address. */
  get regions(): readonly Region[] {
    return this.#regions;
  }

  /** The region named `name`. Throws ERR_INVALID_ARGUMENT when there is none. */
  region(name: string): Region {
    const region = this.#regions.find((r) => r.name === name);
    if (!region) throw new InvalidArgumentError(`no region named ${describe(name)}`, { argument: 'name' });
    return region;
  }

  /**
   * The region holding all of [phys, phys + length). Throws ERR_BAD_ADDRESS when phys falls in
   * no region or the range crosses the region's end (NaN and fractions included),
   * ERR_INVALID_ARGUMENT for a phys or length that is not a number.
   */
  regionAt(phys: number, length = 1): Region {
    // Only numbers are addresses: anything else would be coerced by the compares below (or throw).
    if (typeof phys !== 'number') throw new InvalidArgumentError(`phys ${describe(phys)} is not a number`, { argument: 'phys' });
    if (typeof length !== 'number') throw new InvalidArgumentError(`length ${describe(length)} is not a number`, { argument: 'length' });
    const regions = this.#regions;
    let lo = 0, hi = regions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (regions[mid]!.phys <= phys) lo = mid + 1; else hi = mid;
    }
    const region = lo > 0 ? regions[lo - 1]! : undefined;
    if (!region || !Number.isSafeInteger(phys) || phys >= region.physEnd) {
      throw new AddressError(`phys 0x${hex(phys)} is in no region`, { address: phys, length });
    }
    if (!Number.isSafeInteger(length) || length < 0 || phys + length > region.physEnd) {
      throw new AddressError(`range 0x${hex(phys)}+${length} crosses the end of region ${region.name} (0x${hex(region.physEnd)})`, { address: phys, length });
    }
    return region;
  }

  /** Fabric offset of a physical range (see regionAt for errors). */
  physToOffset(phys: number, length = 1): number {
    const region = this.regionAt(phys, length);
    return region.offset + (phys - region.phys);
  }

  /** CPU physical address of a fabric offset. Throws ERR_BAD_ADDRESS for an offset in no region, ERR_INVALID_ARGUMENT for one that is not a number. */
  offsetToPhys(offset: number): number {
    if (typeof offset !== 'number') throw new InvalidArgumentError(`fabric offset ${describe(offset)} is not a number`, { argument: 'offset' });
    for (const region of this.#regions) {
      if (offset >= region.offset && offset < region.offset + region.size) return region.phys + (offset - region.offset);
    }
    throw new AddressError(`fabric offset ${offset} is in no region`, { address: offset, length: 1 });
  }

  /** A Uint8Array over [phys, phys + length) without copying (see regionAt for errors). */
  viewPhys(phys: number, length: number): Uint8Array {
    return new Uint8Array(this.buffer, this.physToOffset(phys, length), length);
  }

  /** The kernels, bound to this fabric's memory with bounds checks (instantiated on first use). */
  get kernels(): FabricKernels {
    this.#kernels ??= new FabricKernels(this.memory, this.scratch, this.dataStart, this.size);
    return this.#kernels;
  }
}

function hex(n: number): string {
  return Number.isFinite(n) ? n.toString(16) : String(n);
}
