// Segment tables that live in the fabric's scratch area, so kernels (and worker threads)
// read them in place: SgTable holds (dst, src, len) triples for copySg; SgList holds
// (addr, len) pairs, two of which make a copySgLists call.
import { InvalidArgumentError } from '../errors.js';
import type { Fabric } from './fabric.js';

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
    if (!Number.isSafeInteger(capacity) || capacity <= 0 || capacity > 2 ** 24) {
      throw new InvalidArgumentError(`capacity ${capacity} must be an integer in 1..${2 ** 24}`, { argument: 'capacity' });
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

  /** Forgets every entry (the memory stays allocated). */
  clear(): void {
    this.#count = 0;
  }

  /** Returns the table's memory to the scratch area; the table must not be used afterwards. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.fabric.scratch.free(this.offset);
  }

  protected next(): number {
    if (this.#count === this.capacity) {
      throw new InvalidArgumentError(`segment table is full (${this.capacity} entries)`, { argument: 'capacity' });
    }
    return this.#count++;
  }
}

function u32(value: number, what: string): number {
  if ((value >>> 0) !== value) throw new InvalidArgumentError(`${what} ${value} is not an integer in 0..2^32-1`, { argument: what });
  return value;
}

/** (dst, src, len) triples of fabric offsets, as copySg reads them. */
export class SgTable extends SegmentTable {
  static readonly ENTRY_SIZE = 16;
  #total = 0;
  // Entries pushed so far that leave the fabric's data area: checked here, once per entry,
  // so that copying a table of good entries needs no separate validation pass.
  #outside = 0;

  /** Allocates room for `capacity` entries in the fabric's scratch area (ERR_ALLOC_EXHAUSTED when full). */
  constructor(fabric: Fabric, capacity: number) {
    super(fabric, capacity, SgTable.ENTRY_SIZE);
  }

  /** Appends a segment. Throws ERR_INVALID_ARGUMENT for non-u32 values or a full table (table unchanged). */
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

  /** Entry i as [dst, src, len]. */
  entry(i: number): [number, number, number] {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new InvalidArgumentError(`entry ${i} out of range`, { argument: 'index' });
    return [this.words[i * 4]!, this.words[i * 4 + 1]!, this.words[i * 4 + 2]!];
  }
}

/** (addr, len) pairs of fabric offsets: one side of a copySgLists call. */
export class SgList extends SegmentTable {
  static readonly ENTRY_SIZE = 8;

  constructor(fabric: Fabric, capacity: number) {
    super(fabric, capacity, SgList.ENTRY_SIZE);
  }

  /** Appends a segment. Throws ERR_INVALID_ARGUMENT for non-u32 values or a full list (list unchanged). */
  push(addr: number, len: number): void {
    u32(addr, 'addr'); u32(len, 'len');
    const w = this.next() * 2;
    this.words[w] = addr;
    this.words[w + 1] = len;
  }

  /** Sum of the entries' lengths. */
  totalLength(): number {
    let total = 0;
    for (let i = 0; i < this.count; i++) total += this.words[i * 2 + 1]!;
    return total;
  }
}
