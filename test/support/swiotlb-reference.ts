// A deliberately plain model of the kernel's swiotlb search (v6.10+), to check SwiotlbPool against.
// It shares no code with the pool: addresses and masks are BigInt, slots are a boolean array, and
// "free slots from here to the end of the segment" is counted by scanning instead of kept in `list`.
const SLOT = 2048n;
const SEG = 128;
const PAGE = 4096n;

export interface RefRequest {
  origAddr: number;
  size: number;
  minAlignMask: number;
  allocAlignMask: number;
  cpu: number;
}

export interface RefMapping {
  tlbAddr: number;
  index: number;
  nslots: number;
  padSlots: number;
  offset: number;
  size: number;
  minAlignMask: number;
}

export class SwiotlbReference {
  readonly used: boolean[];
  readonly areaIndex: number[];
  readonly areaUsed: number[];
  readonly live = new Map<number, RefMapping>();
  usedSlots = 0;
  hiwater = 0;

  constructor(readonly base: number, readonly totalSlots: number, readonly areas: number) {
    this.used = new Array<boolean>(totalSlots).fill(false);
    this.areaIndex = new Array<number>(areas).fill(0);
    this.areaUsed = new Array<number>(areas).fill(0);
  }

  get areaSlots(): number {
    return Math.floor(this.totalSlots / this.areas);
  }

  /** Free slots from `slot` on, stopping at the first used slot or the segment's end. */
  freeRun(slot: number): number {
    let n = 0;
    for (let i = slot; i < this.totalSlots && !this.used[i]; i++) {
      n++;
      if ((i + 1) % SEG === 0) break;
    }
    return n;
  }

  /** The mapping, or undefined when the pool is full. */
  map(req: RefRequest): RefMapping | undefined {
    const start = req.cpu & (this.areas - 1);
    let area = start;
    do {
      const m = this.mapInArea(area, req);
      if (m) return m;
      area = (area + 1) % this.areas;
    } while (area !== start);
    return undefined;
  }

  /** The kernel's alloc_size for a request: size plus offset, rounded up to the allocation alignment. */
  static totalOf(req: RefRequest): bigint {
    const allocMask = BigInt(req.allocAlignMask);
    const offset = BigInt(req.origAddr) & BigInt(req.minAlignMask) & (allocMask | (SLOT - 1n));
    return (BigInt(req.size) + offset + allocMask) / (allocMask + 1n) * (allocMask + 1n);
  }

  /**
   * One area's search for `total` bytes (swiotlb_search_pool_area()), the mapping taken when
   * found. `total` defaults to the request's alloc_size; swiotlb_alloc() passes the bare size.
   */
  mapInArea(area: number, req: RefRequest, total = SwiotlbReference.totalOf(req)): RefMapping | undefined {
    const orig = BigInt(req.origAddr);
    const minMask = BigInt(req.minAlignMask);
    const allocMask = BigInt(req.allocAlignMask);
    const offset = orig & minMask & (allocMask | (SLOT - 1n));
    const index = this.searchArea(area, orig, total, allocMask, minMask);
    if (index < 0) return undefined;
    const pad = Number(offset / SLOT);
    const m: RefMapping = {
      tlbAddr: Number(BigInt(this.base) + BigInt(index + pad) * SLOT + (offset % SLOT)),
      index,
      nslots: Number((total + SLOT - 1n) / SLOT),
      padSlots: pad,
      offset: Number(offset),
      size: req.size,
      minAlignMask: req.minAlignMask,
    };
    this.live.set(m.tlbAddr, m);
    return m;
  }

  unmap(tlbAddr: number): RefMapping {
    const m = this.live.get(tlbAddr);
    if (!m) throw new Error(`reference: nothing mapped at ${tlbAddr}`);
    this.live.delete(tlbAddr);
    for (let i = m.index; i < m.index + m.nslots; i++) {
      if (!this.used[i]) throw new Error(`reference: slot ${i} freed twice`);
      this.used[i] = false;
    }
    this.areaUsed[Math.floor(m.index / this.areaSlots)]! -= m.nslots;
    this.usedSlots -= m.nslots;
    return m;
  }

  private searchArea(area: number, orig: bigint, total: bigint, allocMaskIn: bigint, minMask: bigint): number {
    const areaSlots = this.areaSlots;
    const nslots = Number((total + SLOT - 1n) / SLOT);
    if (nslots > areaSlots - this.areaUsed[area]!) return -1;
    let allocMask = allocMaskIn;
    let iotlb = minMask;
    if (allocMask === 0n && iotlb === 0n && total >= PAGE) allocMask = PAGE - 1n;
    allocMask |= SLOT - 1n;
    iotlb &= ~allocMask;
    const stride = Number((allocMask > iotlb ? allocMask : iotlb) / SLOT) + 1;
    let index = this.areaIndex[area]!;
    for (let checked = 0; checked < areaSlots;) {
      const slot = area * areaSlots + index;
      const addr = BigInt(this.base) + BigInt(slot) * SLOT;
      if ((addr & allocMask) !== 0n || (orig !== 0n && (addr & iotlb) !== (orig & iotlb))) {
        index = index + 1 >= areaSlots ? 0 : index + 1;
        checked += 1;
        continue;
      }
      if (this.freeRun(slot) >= nslots) {
        for (let i = slot; i < slot + nslots; i++) {
          if (this.used[i]) throw new Error(`reference: slot ${i} taken twice`);
          this.used[i] = true;
        }
        this.areaIndex[area] = index + nslots >= areaSlots ? 0 : index + nslots;
        this.areaUsed[area]! += nslots;
        this.usedSlots += nslots;
        this.hiwater = Math.max(this.hiwater, this.usedSlots);
        return slot;
      }
      index = index + stride >= areaSlots ? 0 : index + stride;
      checked += stride;
    }
    return -1;
  }
}
