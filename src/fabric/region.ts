// A region of the fabric: a stretch of the shared memory that stands for host RAM, a device
// BAR or the bounce pool, with a CPU physical base and a bus offset.
import { AddressError, ForeignSpanError, InvalidArgumentError } from '../errors.js';
import { parseSize, type Size } from '../size.js';
import { RangeAllocator, type AllocatorStats, type PhysAllocator } from './allocator.js';

export type RegionKind = 'ram' | 'bar' | 'bounce';
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

  /** True when [phys, phys + length) lies inside this region. */
  containsPhys(phys: number, length = 1): boolean {
    return phys >= this.phys && phys + length <= this.phys + this.size;
  }

  /** The fabric offset of a physical address in this region. Throws ERR_BAD_ADDRESS outside it. */
  physToOffset(phys: number, length = 1): number {
    if (!this.containsPhys(phys, length)) {
      throw new AddressError(`phys 0x${phys.toString(16)}+${length} is outside region ${this.name}`, { address: phys, length });
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

  /** Frees a span allocated from this region. ERR_FOREIGN_SPAN / ERR_DOUBLE_FREE otherwise, ERR_INVALID_ARGUMENT for a non-span; unchanged on failure. */
  free(span: Span): void {
    if (span === null || typeof span !== 'object') throw new InvalidArgumentError('free: expected a span from allocate()', { argument: 'span' });
    if (span.region !== this) {
      throw new ForeignSpanError(`span at phys 0x${span.phys.toString(16)} belongs to region ${span.region.name}, not ${this.name}`, { offset: span.offset });
    }
    this.#allocator.free(span.phys);
  }

  /** A Uint8Array over the span's bytes (no copy). */
  view(span: Pick<Span, 'offset' | 'length'>): Uint8Array {
    if (span === null || typeof span !== 'object') throw new InvalidArgumentError('view: expected a span { offset, length }', { argument: 'span' });
    if (span.offset < this.offset || span.offset + span.length > this.offset + this.size) {
      throw new AddressError(`span at offset ${span.offset}+${span.length} is outside region ${this.name}`, { address: span.offset, length: span.length });
    }
    return new Uint8Array(this.#buffer, span.offset, span.length);
  }

  stats(): AllocatorStats {
    return this.#allocator.stats();
  }
}
