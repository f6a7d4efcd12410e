// Segment tables that live in the fabric's scratch area, so kernels (and worker threads)
// read them in place: SgTable holds (dst, src, len) triples for copySg; SgList holds
// (addr, len) pairs, two of which make a copySgLists call. The table owns its scratch memory;
// while a ring op reads it the ring pins it, and a pinned table can be neither cleared nor freed.
import { InvalidArgumentError, InvalidStateError } from '../errors.js';
import { Fabric } from './fabric.js';
import { describe, isInstance, isU32 } from './input.js';

// Ring ops in flight per table (kept outside the class so that only rings can pin).
const pins = new WeakMap<SegmentTable, number>();

/** Marks `table` as read by a ring op until unpinTable(): clear() and release() refuse it meanwhile. */
export function pinTable(table: SegmentTable): void {
  pins.set(table, (pins.get(table) ?? 0) + 1);
}

/** Ends one pinTable(). */
export function unpinTable(table: SegmentTable): void {
  const n = pins.get(table) ?? 0;
  if (n <= 1) pins.delete(table);
  else pins.set(table, n - 1);
}

abstract class SegmentTable {
  /** Fabric offset of entry 0. */
  readonly offset: number;
  readonly capacity: number;
  #count = 0;
  #released = false;
  /** The fabric whose scratch area holds the table (kernels and rings of other fabrics refuse it). */
  readonly fabric: Fabric;
  protected readonly words: Uint32Array;

  constructor(fabric: Fabric, capacity: number, entrySize: number) {
    if (!isInstance(fabric, Fabric)) throw new InvalidArgumentError('fabric must be a Fabric', { argument: 'fabric' });
    if (!Number.isSafeInteger(capacity) || capacity <= 0 || capacity > 2 ** 24) {
      throw new InvalidArgumentError(`capacity ${describe(capacity)} must be an integer in 1..${2 ** 24}`, { argument: 'capacity' });
    }
    this.fabric = fabric;
    this.capacity = capacity;
    this.offset = fabric.scratch.allocate(capacity * entrySize, 16);
    this.words = new Uint32Array(fabric.buffer, this.offset, (capacity * entrySize) / 4);
  }

  /** Entries written so far. */
  get count(): number {
    return this.#count;
  }

  /** True once release() ran: every method then throws ERR_INVALID_STATE, and consumers refuse the table. */
  get released(): boolean {
    return this.#released;
  }

  /** Ring ops in flight that read this table (clear() and release() wait for 0). */
  get inUse(): number {
    return pins.get(this) ?? 0;
  }

  /**
   * Forgets every entry (the memory stays allocated). Throws ERR_INVALID_STATE when released, or
   * while a ring op reads the table (its entries must not change under it); unchanged then.
   */
  clear(): void {
    this.assertUsable();
    this.#assertIdle('clear');
    this.#count = 0;
  }

  /**
   * Returns the table's memory to the scratch area; later calls do nothing, and every other use
   * throws ERR_INVALID_STATE. Throws ERR_INVALID_STATE (table unchanged) while a ring op reads it.
   */
  release(): void {
    if (this.#released) return;
    this.#assertIdle('release');
    this.#released = true;
    this.fabric.scratch.free(this.offset);
  }

  /** Throws ERR_INVALID_STATE when the table was released. */
  assertUsable(): void {
    if (this.#released) throw new InvalidStateError('the table was released', { argument: 'table' });
  }

  #assertIdle(what: string): void {
    const n = this.inUse;
    if (n > 0) throw new InvalidStateError(`cannot ${what} a table that ${n} ring op(s) still read: gather their completions first`, { inUse: n });
  }

  /** Claims the next entry's index for push(): ERR_INVALID_STATE when released, ERR_INVALID_ARGUMENT when full. */
  protected next(): number {
    this.assertUsable();
    if (this.#count === this.capacity) {
      throw new InvalidArgumentError(`segment table is full (${this.capacity} entries)`, { argument: 'capacity' });
    }
    return this.#count++;
  }
}

function u32(value: unknown, what: string): number {
  if (!isU32(value)) throw new InvalidArgumentError(`${what} ${describe(value)} is not an integer in 0..2^32-1`, { argument: what });
  return value;
}

/** (dst, src, len) triples of fabric offsets, as copySg reads them. */
export class SgTable extends SegmentTable {
  static readonly ENTRY_SIZE = 16;
  #total = 0;
  // Entries pushed so far that leave the fabric's data area: checked here, once per entry,
  // so that copying a table of good entries needs no separate validation pass.
  #outside = 0;

  /**
   * Allocates room for `capacity` entries in the fabric's scratch area. Throws ERR_INVALID_ARGUMENT
   * for a fabric that is not a Fabric or a capacity outside 1..2^24, ERR_ALLOC_EXHAUSTED when the
   * scratch area is full; nothing is allocated then.
   */
  constructor(fabric: Fabric, capacity: number) {
    super(fabric, capacity, SgTable.ENTRY_SIZE);
  }

  /** Appends a segment. Throws ERR_INVALID_ARGUMENT for non-u32 values or a full table, ERR_INVALID_STATE when released (table unchanged). */
  push(dst: number, src: number, len: number): void {
    u32(dst, 'dst'); u32(src, 'src'); u32(len, 'len');
    const w = this.next() * 4;
    this.words[w] = dst;
    this.words[w + 1] = src;
    this.words[w + 2] = len;
    this.words[w + 3] = 0;
    this.#total += len;
    const lo = this.fabric.dataStart, hi = this.fabric.size;
    if (dst < lo || src < lo || len > hi - dst || len > hi - src) this.#outside++;
  }

  /**
   * True when every entry pushed lies inside the fabric's data area `[dataStart, size)`. A table
   * whose memory was rewritten behind the API (through raw bytes) is caught by the kernel itself.
   */
  get inBounds(): boolean {
    return this.#outside === 0;
  }

  /** Sum of the entries' lengths. */
  get totalLength(): number {
    return this.#total;
  }

  override clear(): void {
    super.clear();
    this.#total = 0;
    this.#outside = 0;
  }

  /** Entry i as [dst, src, len]. Throws ERR_INVALID_ARGUMENT for an index not pushed, ERR_INVALID_STATE when released. */
  entry(i: number): [number, number, number] {
    this.assertUsable();
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new InvalidArgumentError(`entry ${describe(i)} out of range`, { argument: 'index' });
    return [this.words[i * 4]!, this.words[i * 4 + 1]!, this.words[i * 4 + 2]!];
  }
}

/** (addr, len) pairs of fabric offsets: one side of a copySgLists call. */
export class SgList extends SegmentTable {
  static readonly ENTRY_SIZE = 8;

  /** Allocates room for `capacity` entries (errors as SgTable's constructor). */
  constructor(fabric: Fabric, capacity: number) {
    super(fabric, capacity, SgList.ENTRY_SIZE);
  }

  /** Appends a segment. Throws ERR_INVALID_ARGUMENT for non-u32 values or a full list, ERR_INVALID_STATE when released (list unchanged). */
  push(addr: number, len: number): void {
    u32(addr, 'addr'); u32(len, 'len');
    const w = this.next() * 2;
    this.words[w] = addr;
    this.words[w + 1] = len;
  }

  /** Sum of the entries' lengths. Throws ERR_INVALID_STATE when released. */
  totalLength(): number {
    this.assertUsable();
    let total = 0;
    for (let i = 0; i < this.count; i++) total += this.words[i * 2 + 1]!;
    return total;
  }
}

export type { SegmentTable };
