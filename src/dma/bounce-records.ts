// The live swiotlb mappings of a system, indexed by the pool slot that holds each one's first
// data byte: O(1) lookups with no hashing on the map/unmap hot path, and "which mapping holds
// this address" answered through the pool's own per-slot owner index.
import type { BounceRecord } from './context.js';
import type { SwiotlbPool } from './swiotlb.js';

const IO_TLB_SHIFT = 11;

export class BounceRecords {
  readonly #pool: SwiotlbPool;
  readonly #bySlot: (BounceRecord | undefined)[];
  #size = 0;

  constructor(pool: SwiotlbPool) {
    this.#pool = pool;
    this.#bySlot = new Array(pool.totalSlots).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  /** The mapping whose first data byte is at `tlbAddr`, or undefined. */
  get(tlbAddr: number): BounceRecord | undefined {
    const record = this.#bySlot[this.#slot(tlbAddr)];
    return record !== undefined && record.tlbAddr === tlbAddr ? record : undefined;
  }

  /** The mapping holding [addr, addr + length), or undefined. */
  containing(addr: number, length: number): BounceRecord | undefined {
    const info = this.#pool.mappingContaining(addr);
    if (!info) return undefined;
    const record = this.get(info.tlbAddr);
    return record !== undefined && addr >= record.tlbAddr && addr + length <= record.tlbAddr + record.size ? record : undefined;
  }

  add(record: BounceRecord): void {
    const slot = this.#slot(record.tlbAddr);
    if (this.#bySlot[slot] === undefined) this.#size++;
    this.#bySlot[slot] = record;
  }

  delete(record: BounceRecord): void {
    const slot = this.#slot(record.tlbAddr);
    if (this.#bySlot[slot] === record) {
      this.#bySlot[slot] = undefined;
      this.#size--;
    }
  }

  /** Every live mapping, in pool order. */
  *values(): IterableIterator<BounceRecord> {
    for (const record of this.#bySlot) if (record !== undefined) yield record;
  }

  #slot(addr: number): number {
    return Math.floor((addr - this.#pool.base) / 2 ** IO_TLB_SHIFT);
  }
}
