// The swiotlb mappings of a system, indexed by the slot that holds each one's first data byte:
// O(1) lookups with no hashing on the map/unmap hot path for the default pool, a map for the
// pools a dynamic swiotlb adds (and transient ones), and "which mapping holds this address"
// answered through the pools' own per-slot owner index.
import type { BounceRecord } from './context.js';
import type { SwiotlbMem } from './swiotlb-mem.js';

const SLOT_BYTES = 2048;

export class BounceRecords {
  readonly #mem: SwiotlbMem;
  readonly #base: number;
  readonly #end: number;
  readonly #bySlot: (BounceRecord | undefined)[];
  /** Mappings outside the default pool, by tlbAddr. */
  readonly #elsewhere = new Map<number, BounceRecord>();
  #size = 0;

  constructor(mem: SwiotlbMem) {
    this.#mem = mem;
    this.#base = mem.defaultPool.base;
    this.#end = mem.defaultPool.end;
    this.#bySlot = new Array(mem.defaultPool.totalSlots).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  /** The mapping whose first data byte is at `tlbAddr`, or undefined. */
  get(tlbAddr: number): BounceRecord | undefined {
    const record = this.#inDefault(tlbAddr) ? this.#bySlot[this.#slot(tlbAddr)] : this.#elsewhere.get(tlbAddr);
    return record !== undefined && record.tlbAddr === tlbAddr ? record : undefined;
  }

  /** The mapping holding [addr, addr + length), or undefined. */
  containing(addr: number, length: number): BounceRecord | undefined {
    const info = this.#mem.mappingContaining(addr);
    if (!info) return undefined;
    const record = this.get(info.tlbAddr);
    return record !== undefined && addr >= record.tlbAddr && addr + length <= record.tlbAddr + record.size ? record : undefined;
  }

  add(record: BounceRecord): void {
    if (!this.#inDefault(record.tlbAddr)) {
      if (!this.#elsewhere.has(record.tlbAddr)) this.#size++;
      this.#elsewhere.set(record.tlbAddr, record);
      return;
    }
    const slot = this.#slot(record.tlbAddr);
    if (this.#bySlot[slot] === undefined) this.#size++;
    this.#bySlot[slot] = record;
  }

  delete(record: BounceRecord): void {
    if (!this.#inDefault(record.tlbAddr)) {
      if (this.#elsewhere.get(record.tlbAddr) === record) {
        this.#elsewhere.delete(record.tlbAddr);
        this.#size--;
      }
      return;
    }
    const slot = this.#slot(record.tlbAddr);
    if (this.#bySlot[slot] === record) {
      this.#bySlot[slot] = undefined;
      this.#size--;
    }
  }

  /** Every mapping: the default pool's in pool order, then the others. */
  *values(): IterableIterator<BounceRecord> {
    for (const record of this.#bySlot) if (record !== undefined) yield record;
    yield* this.#elsewhere.values();
  }

  #inDefault(addr: number): boolean {
    return addr >= this.#base && addr < this.#end;
  }

  #slot(addr: number): number {
    // addr lies in the default pool (at most 4 GiB): the quotient has at most 21 bits.
    return ((addr - this.#base) / SLOT_BYTES) | 0;
  }
}
