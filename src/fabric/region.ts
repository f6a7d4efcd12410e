// A region of the fabric: a stretch of the shared memory that stands for host RAM, a device
// BAR or the bounce pool, with a CPU physical base and a bus offset.
import { AddressError, ForeignSpanError, InvalidArgumentError } from '../errors.js';
import { parseSize, type Size } from '../size.js';
import { describe, readInput } from './input.js';
import { RangeAllocator, type AllocatorStats, type PhysAllocator } from './allocator.js';

/** What a region stands for: host RAM, a device BAR, or the swiotlb bounce pool. */
export type RegionKind = 'ram' | 'bar' | 'bounce';
/** Every RegionKind, for validation. */
export const REGION_KINDS: readonly RegionKind[] = ['ram', 'bar', 'bounce'];

/** A piece of a region: CPU physical address, fabric offset and length of the same bytes. */
export interface Span {
  readonly region: Region;
  readonly phys: number;
  readonly offset: number;
  readonly length: number;
}

export interface RegionInit {
  readonly name: string;
  readonly kind: RegionKind;
  readonly phys: number;
  readonly offset: number;
  readonly size: number;
  readonly busOffset: number;
  readonly buffer: SharedArrayBuffer;
  /** Who hands out the region's bytes; default a first-fit allocator of the region's own. */
  readonly allocator?: PhysAllocator;
}

/** A region of the fabric (made by `fabric.addRegion()`): its addresses, its allocator and views of its bytes. */
export class Region {
  readonly name: string;
  readonly kind: RegionKind;
  /** CPU physical address of the region's first byte. */
  readonly phys: number;
  /** Fabric offset of the region's first byte. */
  readonly offset: number;
  readonly size: number;
  /** Bus address = phys + busOffset (0 for host RAM seen by a device in direct mode). */
  readonly busOffset: number;
  readonly #allocator: PhysAllocator;
  readonly #buffer: SharedArrayBuffer;

  constructor(init: RegionInit) {
    this.name = init.name;
    this.kind = init.kind;
    this.phys = init.phys;
    this.offset = init.offset;
    this.size = init.size;
    this.busOffset = init.busOffset;
    this.#buffer = init.buffer;
    // Allocation works in physical addresses, so alignment means physical alignment.
    this.#allocator = init.allocator ?? new RangeAllocator(init.phys, init.size);
  }

  /** One past the last physical address. */
  get physEnd(): number {
    return this.phys + this.size;
  }

  /** True when [phys, phys + length) lies inside this region (false for anything but numbers: integers, length >= 0). */
  containsPhys(phys: number, length = 1): boolean {
    return Number.isSafeInteger(phys) && Number.isSafeInteger(length) && length >= 0 && phys >= this.phys && phys + length <= this.phys + this.size;
  }

  /** The fabric offset of a physical address in this region. Throws ERR_BAD_ADDRESS outside it (a fraction included), ERR_INVALID_ARGUMENT for a value that is not a number. */
  physToOffset(phys: number, length = 1): number {
    if (typeof phys !== 'number' || typeof length !== 'number') throw new InvalidArgumentError(`phys ${describe(phys)}+${describe(length)}: an address and a length are numbers`, { argument: typeof phys !== 'number' ? 'phys' : 'length' });
    if (!this.containsPhys(phys, length)) {
      throw new AddressError(`phys ${hexOf(phys)}+${length} is outside region ${this.name}`, { address: phys, length });
    }
    return this.offset + (phys - this.phys);
  }

  /**
   * Allocates a span of `size` bytes aligned (in physical address) to `alignment`.
   * Throws ERR_INVALID_SIZE / ERR_INVALID_ARGUMENT for bad arguments and ERR_ALLOC_EXHAUSTED
   * when the region is full; nothing changes on failure.
   */
  allocate(size: Size, alignment = 1): Span {
    const length = parseSize(size, 'size');
    const phys = this.#allocator.allocate(length, alignment);
    return { region: this, phys, offset: this.offset + (phys - this.phys), length };
  }

  /** Frees a span allocated from this region (its `region` and `phys`, each read once). ERR_FOREIGN_SPAN / ERR_DOUBLE_FREE otherwise, ERR_INVALID_ARGUMENT for a non-span; unchanged on failure. */
  free(span: Span): void {
    if (span === null || typeof span !== 'object') throw new InvalidArgumentError('free: expected a span from allocate()', { argument: 'span' });
    const { region, phys, offset } = readInput('span', () => ({ region: span.region, phys: span.phys, offset: span.offset }));
    if (!Number.isSafeInteger(phys)) throw new InvalidArgumentError(`free: span.phys ${describe(phys)} is not an address`, { argument: 'span' });
    if (region !== this) {
      throw new ForeignSpanError(`span at phys ${hexOf(phys)} does not belong to region ${this.name}`, { offset: typeof offset === 'number' ? offset : phys });
    }
    this.#allocator.free(phys);
  }

  /**
   * A Uint8Array over the span's bytes (no copy). `offset` and `length` are read once: the view
   * is over exactly what was checked. ERR_INVALID_ARGUMENT for a non-span or one whose offset and
   * length are not integers (length >= 0), ERR_BAD_ADDRESS for a span outside the region.
   */
  view(span: Pick<Span, 'offset' | 'length'>): Uint8Array {
    if (span === null || typeof span !== 'object') throw new InvalidArgumentError('view: expected a span { offset, length }', { argument: 'span' });
    const { offset, length } = readInput('span', () => ({ offset: span.offset, length: span.length }));
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || length < 0) {
      throw new InvalidArgumentError(`view: span { offset: ${describe(offset)}, length: ${describe(length)} } is not two integers, length >= 0`, { argument: 'span' });
    }
    if (offset < this.offset || offset + length > this.offset + this.size) {
      throw new AddressError(`span at offset ${offset}+${length} is outside region ${this.name}`, { address: offset, length });
    }
    return new Uint8Array(this.#buffer, offset, length);
  }

  /** The region's allocator counters (bytes used and free, allocations, the largest free extent). Never throws. */
  stats(): AllocatorStats {
    return this.#allocator.stats();
  }
}

// An address for a message: hex for a number, described otherwise.
function hexOf(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? `0x${value.toString(16)}` : describe(value);
}
