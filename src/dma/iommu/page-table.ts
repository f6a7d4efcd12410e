// A domain's I/O page table: one entry per IOMMU granule, IOVA page -> physical page and its
// protection (IOMMU_READ, IOMMU_WRITE), as iommu_map()/iommu_unmap() edit it. Leaves of 512
// entries are made on first use, so a table costs memory only where something is mapped.
/** The device may read the page (DMA_TO_DEVICE, BIDIRECTIONAL). */
export const IOMMU_READ = 1;
/** The device may write the page (DMA_FROM_DEVICE, BIDIRECTIONAL). */
export const IOMMU_WRITE = 2;
/** Device memory (DMA_ATTR_MMIO): no cache maintenance. */
export const IOMMU_MMIO = 4;
/** Linked by dma_iova_link() but not yet dma_iova_sync()ed: the model lets no device use it. */
export const IOMMU_NOSYNC = 8;

const LEAF = 512;

export interface Translation {
  /** Physical address of the byte asked for. */
  readonly phys: number;
  readonly prot: number;
}

export class PageTable {
  readonly granule: number;
  // Each entry is phys + prot (phys is granule aligned, so the low bits are free); 0 = not present.
  readonly #leaves = new Map<number, Float64Array>();
  #mapped = 0;

  constructor(granule: number) {
    this.granule = granule;
  }

  /** Pages mapped. */
  get mappedPages(): number {
    return this.#mapped;
  }

  /**
   * models iommu_map(): maps [iova, iova + size) to [phys, ...), both granule aligned. Returns
   * false, changing nothing, when a page of the range is already mapped.
   */
  map(iova: number, phys: number, size: number, prot: number): boolean {
    const g = this.granule;
    const first = iova / g;
    const pages = size / g;
    // Leaf by leaf: one lookup per 512 pages, not one per page.
    for (let p = first, end = first + pages; p < end;) {
      const key = Math.floor(p / LEAF);
      const stop = Math.min(end, (key + 1) * LEAF);
      const leaf = this.#leaves.get(key);
      if (leaf) for (let i = p - key * LEAF, last = stop - key * LEAF; i < last; i++) if (leaf[i] !== 0) return false;
      p = stop;
    }
    let value = phys + prot;
    for (let p = first, end = first + pages; p < end;) {
      const key = Math.floor(p / LEAF);
      const stop = Math.min(end, (key + 1) * LEAF);
      let leaf = this.#leaves.get(key);
      if (!leaf) {
        leaf = new Float64Array(LEAF);
        this.#leaves.set(key, leaf);
      }
      for (let i = p - key * LEAF, last = stop - key * LEAF; i < last; i++, value += g) leaf[i] = value;
      p = stop;
    }
    this.#mapped += pages;
    return true;
  }

  /** models iommu_unmap_fast(): clears the range; returns the bytes that were mapped. */
  unmap(iova: number, size: number): number {
    const g = this.granule;
    const first = iova / g;
    const pages = size / g;
    let cleared = 0;
    for (let p = first, end = first + pages; p < end;) {
      const key = Math.floor(p / LEAF);
      const stop = Math.min(end, (key + 1) * LEAF);
      const leaf = this.#leaves.get(key);
      if (leaf) {
        for (let i = p - key * LEAF, last = stop - key * LEAF; i < last; i++) {
          if (leaf[i] !== 0) {
            leaf[i] = 0;
            cleared++;
          }
        }
      }
      p = stop;
    }
    this.#mapped -= cleared;
    return cleared * g;
  }

  /** Clears `flag` on every present page of [iova, iova + size) (dma_iova_sync() clears IOMMU_NOSYNC). */
  clearFlag(iova: number, size: number, flag: number): void {
    const g = this.granule;
    for (let p = iova / g, end = (iova + size) / g; p < end; p++) {
      const e = this.#entry(p);
      if (e !== 0 && Math.floor((e % g) / flag) % 2 === 1) this.#set(p, e - flag);
    }
  }

  /** models iommu_iova_to_phys(): the translation of one byte, or undefined when not present. */
  translate(iova: number): Translation | undefined {
    const g = this.granule;
    const page = Math.floor(iova / g);
    const e = this.#entry(page);
    if (e === 0) return undefined;
    const prot = e % g;
    return { phys: e - prot + (iova - page * g), prot };
  }

  /** The raw entry of an IOVA page (phys + prot, 0 when not present). */
  entry(page: number): number {
    return this.#entry(page);
  }

  #entry(page: number): number {
    const leaf = this.#leaves.get(Math.floor(page / LEAF));
    return leaf === undefined ? 0 : leaf[page % LEAF]!;
  }

  #set(page: number, value: number): void {
    const key = Math.floor(page / LEAF);
    let leaf = this.#leaves.get(key);
    if (!leaf) {
      if (value === 0) return;
      leaf = new Float64Array(LEAF);
      this.#leaves.set(key, leaf);
    }
    leaf[page % LEAF] = value;
  }
}
