// p2pmem providers: a BAR published as peer-to-peer memory hands out page granules,
// as the kernel's per-device genpool does (models pci_p2pdma_add_resource(),
// pci_alloc_p2pmem(), pci_free_p2pmem(); genpool order PAGE_SHIFT, first fit).
import { InvalidArgumentError, P2pmemError } from '../errors.js';
import { parseSize, type Size } from '../size.js';
import type { PciBar } from './topology.js';

/** The allocation granule: one 4 KiB page (the genpool's min_alloc_order is PAGE_SHIFT). */
export const P2PMEM_PAGE_SIZE = 4096;

/** One live allocation: where it lives (CPU physical and bus addresses) and how big it is (whole pages). */
export interface P2pmemAllocation {
  /** BDF of the device that owns the BAR. */
  readonly provider: string;
  /** BAR index inside that device. */
  readonly bar: number;
  /** CPU physical address of the first byte. */
  readonly phys: number;
  /** PCI bus address of the first byte (phys - the host bridge's busOffset). */
  readonly busAddress: number;
  /** Bytes reserved: the request rounded up to whole pages. */
  readonly size: number;
}

interface Extent {
  start: number; // page index
  pages: number;
}

/** Peer-to-peer memory offered by one BAR. Allocation state is mutable; everything else is fixed. */
export class P2pmemProvider {
  readonly bar: PciBar;
  /** Bytes in the pool (the whole BAR). */
  readonly size: number;
  #published: boolean;
  #free: Extent[];
  #freePages: number;
  readonly #live = new Map<number, number>(); // start page -> pages

  /** @internal Built by the topology for each BAR with `p2pmem: true`. */
  constructor(bar: PciBar, published = true) {
    this.bar = bar;
    this.size = bar.size;
    this.#published = published;
    const pages = Math.floor(bar.size / P2PMEM_PAGE_SIZE);
    this.#free = pages > 0 ? [{ start: 0, pages }] : [];
    this.#freePages = pages;
  }

  /** BDF of the device that owns this memory. */
  get bdf(): string {
    return this.bar.device.bdf;
  }

  /** Bytes not allocated (possibly fragmented). */
  get available(): number {
    return this.#freePages * P2PMEM_PAGE_SIZE;
  }

  /** Whether findProvider() may choose this memory (models p2pmem_published). */
  get published(): boolean {
    return this.#published;
  }

  /** The largest run of free bytes (what one allocate() can still get). */
  get largestFree(): number {
    let pages = 0;
    for (const extent of this.#free) if (extent.pages > pages) pages = extent.pages;
    return pages * P2PMEM_PAGE_SIZE;
  }

  /** Number of live allocations. */
  get allocations(): number {
    return this.#live.size;
  }

  /** Publishes or withdraws the memory for findProvider() (models pci_p2pmem_publish()). Allocation is unaffected. */
  publish(published = true): void {
    this.#published = published;
  }

  /**
   * Allocates `size` bytes rounded up to whole pages, first fit from the lowest address.
   * Returns the allocation. Throws InvalidSizeError (ERR_INVALID_SIZE) for a malformed size,
   * InvalidArgumentError (ERR_INVALID_ARGUMENT) for 0, and P2pmemError (ERR_P2PMEM, `reason: 'exhausted'`)
   * when no contiguous run of free pages is large enough. On failure nothing changes.
   */
  allocate(size: Size): P2pmemAllocation {
    const bytes = parseSize(size, 'p2pmem allocation size');
    if (bytes === 0) throw new InvalidArgumentError('p2pmem allocation size must be at least 1 byte', { argument: 'size' });
    const pages = Math.ceil(bytes / P2PMEM_PAGE_SIZE);
    const at = this.#free.findIndex((extent) => extent.pages >= pages);
    const extent = at < 0 ? undefined : this.#free[at];
    if (!extent) {
      throw new P2pmemError(
        `p2pmem on ${this.bdf} BAR${this.bar.index}: no ${pages * P2PMEM_PAGE_SIZE} contiguous bytes free (available ${this.available})`,
        { reason: 'exhausted', provider: this.bdf, bar: this.bar.index, requested: pages * P2PMEM_PAGE_SIZE, available: this.available },
      );
    }
    const start = extent.start;
    if (extent.pages === pages) this.#free.splice(at, 1);
    else {
      extent.start += pages;
      extent.pages -= pages;
    }
    this.#freePages -= pages;
    this.#live.set(start, pages);
    return this.#describe(start, pages);
  }

  /**
   * Returns an allocation to the pool (models pci_free_p2pmem(): address and size must match).
   * Throws P2pmemError (ERR_P2PMEM) with `reason` 'foreign' (not this provider's memory),
   * 'not-allocated' (no live allocation starts there: a double free or a pointer into the middle) or
   * 'size-mismatch'. On failure nothing changes.
   */
  free(allocation: { readonly phys: number; readonly size: number }): void {
    if (allocation === null || typeof allocation !== 'object') {
      throw new InvalidArgumentError('p2pmem free: expected the allocation that allocate() returned', { argument: 'allocation' });
    }
    const { phys, size } = allocation;
    const fields = { provider: this.bdf, bar: this.bar.index, phys, size };
    if (typeof phys !== 'number' || !(phys >= this.bar.phys && phys < this.bar.phys + this.bar.size)) {
      throw new P2pmemError(`p2pmem free: address ${fmt(phys)} is not memory of ${this.bdf} BAR${this.bar.index}`, { ...fields, reason: 'foreign' });
    }
    const offset = phys - this.bar.phys;
    const start = offset / P2PMEM_PAGE_SIZE;
    const pages = Number.isInteger(start) ? this.#live.get(start) : undefined;
    if (pages === undefined) {
      throw new P2pmemError(`p2pmem free: no allocation at ${fmt(phys)} on ${this.bdf} BAR${this.bar.index} (double free?)`, { ...fields, reason: 'not-allocated' });
    }
    if (Math.ceil(size / P2PMEM_PAGE_SIZE) !== pages) {
      throw new P2pmemError(
        `p2pmem free: allocation at ${fmt(phys)} is ${pages * P2PMEM_PAGE_SIZE} bytes, freed with size ${size}`,
        { ...fields, reason: 'size-mismatch' },
      );
    }
    this.#live.delete(start);
    this.#insertFree(start, pages);
    this.#freePages += pages;
  }

  #insertFree(start: number, pages: number): void {
    const list = this.#free;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    const prev = list[lo - 1];
    const next = list[lo];
    if (prev && prev.start + prev.pages === start) {
      prev.pages += pages;
      if (next && prev.start + prev.pages === next.start) {
        prev.pages += next.pages;
        list.splice(lo, 1);
      }
    } else if (next && start + pages === next.start) {
      next.start = start;
      next.pages += pages;
    } else {
      list.splice(lo, 0, { start, pages });
    }
  }

  #describe(start: number, pages: number): P2pmemAllocation {
    const phys = this.bar.phys + start * P2PMEM_PAGE_SIZE;
    return { provider: this.bdf, bar: this.bar.index, phys, busAddress: phys - this.bar.busOffset, size: pages * P2PMEM_PAGE_SIZE };
  }
}

function fmt(value: unknown): string {
  return typeof value === 'number' ? `0x${value.toString(16)}` : String(value);
}
