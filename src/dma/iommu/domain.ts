// One IOMMU DMA domain (IOMMU_DOMAIN_DMA or _DMA_FQ): the IOVA allocator, the page table, what
// the IOTLB may still hold in lazy mode, the flush queue, and the live mappings (each IOVA range
// a map handed out, with its state), shared by every device of the IOMMU group.
import type { IommuClock } from './clock.js';
import { FlushQueue } from './flush-queue.js';
import { IovaDomain } from './iova.js';
import { PageTable } from './page-table.js';

/** 'strict': the IOTLB is invalidated at every unmap; 'lazy': through the flush queue. */
export type DomainType = 'strict' | 'lazy';

/** Where an IOVA range handed out by a map is in its life; only 'live' accepts unmap, sync and DMA. */
export type IovaMappingState = 'mapping' | 'live' | 'unmapping' | 'free';

/** A range one map call took: its first IOVA page, how many pages it maps, whose it is. */
export interface IovaMapping {
  /** First IOVA page (pfn). */
  readonly pfn: number;
  /** Pages mapped (the aligned size the unmap frees). */
  readonly pages: number;
  readonly deviceId: number;
  readonly call: 'single' | 'sg';
  state: IovaMappingState;
}

export interface DomainOptions {
  readonly id: number;
  readonly type: DomainType;
  readonly granule: number;
  readonly startPfn: number;
  /** Last IOVA byte the IOMMU translates (domain->geometry.aperture_end). */
  readonly apertureEnd: number;
  readonly rcache: boolean;
  readonly onlineCpus: number;
  readonly clock: IommuClock;
}

/** The per-device state iommu_dma_alloc_iova() keeps (dev->iommu->pci_32bit_workaround). */
export interface Pci32bitState {
  pci32bitWorkaround: boolean;
}

const DMA_BIT_MASK_32 = 2 ** 32 - 1;

/** One IOMMU DMA domain: IOVA space, page table, lazy-mode IOTLB and flush queue, live mappings. Shared by an IOMMU group's devices. */
export class IommuDomain {
  readonly id: number;
  readonly type: DomainType;
  readonly granule: number;
  readonly apertureEnd: number;
  readonly iovad: IovaDomain;
  readonly table: PageTable;
  readonly flushQueue: FlushQueue | undefined;
  /** Live mappings by first IOVA page. */
  readonly mappings = new Map<number, IovaMapping>();
  /** Kernel-style notices ("Using 64-bit DMA addresses"). */
  readonly notices: string[] = [];
  // Lazy mode: translations unmapped but not yet flushed from the IOTLB, by IOVA page.
  readonly #stale = new Map<number, number>();

  constructor(options: DomainOptions) {
    this.id = options.id;
    this.type = options.type;
    this.granule = options.granule;
    this.apertureEnd = options.apertureEnd;
    this.iovad = new IovaDomain({ granule: options.granule, startPfn: options.startPfn, rcache: options.rcache, onlineCpus: options.onlineCpus, clock: options.clock });
    this.table = new PageTable(options.granule);
    this.flushQueue = options.type === 'lazy'
      ? new FlushQueue({ flushIotlbAll: () => this.#stale.clear(), freeIova: (pfn, pages, cpu) => this.iovad.freeIovaFast(pfn, pages, cpu) }, options.clock)
      : undefined;
  }

  /** IOVA pages unmapped whose translation the IOTLB may still use (lazy mode, before the flush). */
  get staleTranslations(): number {
    return this.#stale.size;
  }

  /**
   * models iommu_dma_alloc_iova(): `size` bytes (granule aligned) below min(dmaLimit, aperture
   * end); a PCI device tries below 4 GiB first and, once that fails, never again. Returns the
   * IOVA, or 0 when nothing fits.
   */
  allocIova(size: number, dmaLimit: number, dev: Pci32bitState, bdf: string, cpu: number): number {
    const shift = this.iovad.shift;
    const len = size / this.granule;
    const limit = Math.min(dmaLimit, this.apertureEnd);
    if (limit > DMA_BIT_MASK_32 && dev.pci32bitWorkaround) {
      const pfn = this.iovad.allocIovaFast(len, Math.floor(DMA_BIT_MASK_32 / 2 ** shift), false, cpu);
      if (pfn) return pfn * this.granule;
      dev.pci32bitWorkaround = false;
      this.notices.push(`${bdf}: Using ${Math.floor(Math.log2(limit)) + 1}-bit DMA addresses`);
    }
    return this.iovad.allocIovaFast(len, Math.floor(limit / 2 ** shift), true, cpu) * this.granule;
  }

  /** models iommu_dma_free_iova(): through the flush queue when `queued`, else at once. */
  freeIova(iova: number, size: number, queued: boolean, cpu: number): void {
    const pfn = iova / this.granule;
    const pages = size / this.granule;
    if (queued && this.flushQueue) this.flushQueue.queueIova(pfn, pages, cpu);
    else this.iovad.freeIovaFast(pfn, pages, cpu);
  }

  /** models iommu_map(): false when a page is already mapped (nothing changes then). */
  map(iova: number, phys: number, size: number, prot: number): boolean {
    return this.table.map(iova, phys, size, prot);
  }

  /**
   * models __iommu_dma_unmap() on an aligned range: clears the page table; strict mode syncs the
   * IOTLB and frees the IOVA now, lazy mode keeps the old translations in the IOTLB and queues
   * the IOVA until the flush. `freeIova` false unlinks only (dma_iova_unlink()).
   */
  unmap(iova: number, size: number, cpu: number, freeIova = true, lazyTlb = freeIova): number {
    const queued = freeIova && this.flushQueue !== undefined;
    if (lazyTlb && this.flushQueue !== undefined) {
      const g = this.granule;
      for (let p = iova / g, end = (iova + size) / g; p < end; p++) {
        const e = this.table.entry(p);
        if (e !== 0) this.#stale.set(p, e);
      }
    }
    const unmapped = this.table.unmap(iova, size);
    if (freeIova) this.freeIova(iova, size, queued, cpu);
    return unmapped;
  }

  /** What the device's access to `iova` reaches: the page table, else a stale IOTLB entry. */
  translate(iova: number): { phys: number; prot: number; stale: boolean } | undefined {
    const t = this.table.translate(iova);
    if (t) return { phys: t.phys, prot: t.prot, stale: false };
    const g = this.granule;
    const page = Math.floor(iova / g);
    const e = this.#stale.get(page);
    if (e === undefined) return undefined;
    const prot = e % g;
    return { phys: e - prot + (iova - page * g), prot, stale: true };
  }

  /** The mapping whose range holds the IOVA page, or undefined. */
  mappingAt(pfn: number): IovaMapping | undefined {
    return this.mappings.get(pfn);
  }

  /** Stops the flush timer and the depot work (iommu_put_dma_cookie()). */
  close(): void {
    this.flushQueue?.close();
    this.iovad.close();
  }
}
