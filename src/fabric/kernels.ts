// The kernels bound to one fabric, with every argument checked before the kernel runs, so
// that a kernel never traps and never touches the guard page on input the API accepted.
import { InvalidArgumentError, KernelBoundsError } from '../errors.js';
import { instantiateKernels, type KernelExports } from '../kernels/module.js';
import type { RangeAllocator } from './allocator.js';
import { SgList, SgTable } from './sg-table.js';
import { describe, isInstance, isU32 } from './input.js';

/** Bytes of the CRC32C slicing-by-8 table the kernels read. */
export const CRC32C_TABLE_SIZE = 8 * 256 * 4;

/** The kernels bound to one fabric (`fabric.kernels`), every argument checked before a kernel runs. */
export class FabricKernels {
  /** The unchecked exports, for callers that validated their arguments already (the engine). */
  readonly raw: KernelExports;
  /** Fabric offset of the CRC32C table. */
  readonly crcTable: number;
  /** Lowest and one-past-highest fabric offsets a kernel may touch. */
  readonly lo: number;
  readonly hi: number;

  readonly #memory: WebAssembly.Memory;

  constructor(memory: WebAssembly.Memory, scratch: RangeAllocator, lo: number, hi: number) {
    this.#memory = memory;
    this.raw = instantiateKernels(memory);
    this.lo = lo;
    this.hi = hi;
    this.crcTable = scratch.allocate(CRC32C_TABLE_SIZE, 64);
    this.raw.crc32cInitTable(this.crcTable);
  }

  /** memmove(dst, src, len) over fabric offsets. ERR_KERNEL_BOUNDS / ERR_INVALID_ARGUMENT; nothing copied on failure. */
  copy(dst: number, src: number, len: number): void {
    this.#range(dst, len, 'dst');
    this.#range(src, len, 'src');
    this.raw.copy(dst, src, len);
  }

  /**
   * Copies every (dst, src, len) entry of the table in order (memmove per entry); returns the
   * bytes copied. A bad entry throws ERR_KERNEL_BOUNDS naming the first one (`index`) and
   * nothing is copied: SgTable checked each entry as it was pushed, and a table with a bad
   * entry is scanned before any byte moves. Only a table rewritten behind SgTable's back
   * (through raw memory) can fail mid-copy; the kernel stops before the bad entry, never
   * writes outside the data area, and the error says how many bytes were copied. A released table
   * is ERR_INVALID_STATE.
   */
  copySg(table: SgTable): number {
    if (!isInstance(table, SgTable)) throw new InvalidArgumentError('table must be an SgTable', { argument: 'table' });
    table.assertUsable();
    this.#own(table, 'table');
    if (!table.inBounds) {
      const bad = this.raw.checkSg(table.offset, table.count, this.lo, this.hi);
      if (bad >= 0) throw this.#badEntry(table, bad);
    }
    const result = this.raw.copySg(table.offset, table.count, this.lo, this.hi);
    if (result < 0) throw this.#badEntry(table, -1 - result, sumLengths(table, -1 - result));
    return result;
  }

  /**
   * Copies the source list into the destination list, segmented differently; returns the bytes
   * copied. The totals must be equal (ERR_INVALID_ARGUMENT); ERR_KERNEL_BOUNDS names the first bad
   * entry and `list` ('dst' or 'src'); nothing is copied on failure. Released lists are
   * ERR_INVALID_STATE. Lists rewritten by another thread during the copy are caught by the kernel,
   * which checks each entry as it reads it (ERR_KERNEL_BOUNDS or ERR_INVALID_ARGUMENT with `copied`).
   */
  copySgLists(dst: SgList, src: SgList): number {
    if (!isInstance(dst, SgList) || !isInstance(src, SgList)) throw new InvalidArgumentError('dst and src must be SgLists', { argument: isInstance(dst, SgList) ? 'src' : 'dst' });
    dst.assertUsable();
    src.assertUsable();
    this.#own(dst, 'dst');
    this.#own(src, 'src');
    for (const [name, list] of [['dst', dst], ['src', src]] as const) {
      const bad = this.raw.checkList(list.offset, list.count, this.lo, this.hi);
      if (bad >= 0) throw new KernelBoundsError(`${name} segment ${bad} leaves the fabric`, { index: bad, list: name });
    }
    const total = dst.totalLength();
    const srcTotal = src.totalLength();
    if (total !== srcTotal) {
      throw new InvalidArgumentError(`dst totals ${total} bytes but src totals ${srcTotal}`, { argument: 'src' });
    }
    const copied = this.raw.copySgLists(dst.offset, dst.count, src.offset, src.count, this.lo, this.hi);
    if (copied < 0) {
      const bad = -1 - copied;
      const name = bad % 2 === 0 ? 'dst' : 'src';
      throw new KernelBoundsError(`${name} segment ${Math.floor(bad / 2)} leaves the fabric (the list was rewritten during the copy)`, { index: Math.floor(bad / 2), list: name });
    }
    if (copied !== total) throw new InvalidArgumentError(`the lists were rewritten during the copy: ${copied} of ${total} bytes copied`, { argument: 'src', copied });
    return copied;
  }

  /** Fills len bytes at dst with the repeating 8-byte little-endian pattern. */
  fill(dst: number, pattern: bigint, len: number): void {
    if (typeof pattern !== 'bigint') throw new InvalidArgumentError('pattern must be a bigint', { argument: 'pattern' });
    this.#range(dst, len, 'dst');
    this.raw.fill(dst, BigInt.asUintN(64, pattern), len);
  }

  /** Offset of the first differing byte of a and b, or -1 when equal. */
  compare(a: number, b: number, len: number): number {
    this.#range(a, len, 'a');
    this.#range(b, len, 'b');
    return this.raw.compare(a, b, len);
  }

  /** CRC32C of len bytes at ptr; `seed` chains: crc32c(b, crc32c(a)) is the CRC of a then b. */
  crc32c(ptr: number, len: number, seed = 0): number {
    this.#range(ptr, len, 'ptr');
    this.#seed(seed);
    return this.raw.crc32c(this.crcTable, ptr, len, seed) >>> 0;
  }

  /** Copies src → dst (memmove) and returns the CRC32C of the source bytes. */
  copyCrc32c(dst: number, src: number, len: number, seed = 0): number {
    this.#range(dst, len, 'dst');
    this.#range(src, len, 'src');
    this.#seed(seed);
    return this.raw.copyCrc32c(this.crcTable, dst, src, len, seed) >>> 0;
  }

  #range(addr: number, len: number, what: string): void {
    if (!isU32(addr) || !isU32(len)) {
      throw new InvalidArgumentError(`${what} ${describe(addr)}+${describe(len)}: offsets and lengths are integers in 0..2^32-1`, { argument: isU32(addr) ? 'len' : what });
    }
    if (addr < this.lo || addr + len > this.hi) {
      throw new KernelBoundsError(`${what} range [${addr}, ${addr + len}) leaves the fabric's usable range [${this.lo}, ${this.hi})`, { offset: addr, length: len });
    }
  }

  // `copied` is set when the kernel found the entry mid-copy: the table was rewritten after push.
  #badEntry(table: SgTable, index: number, copied?: number): KernelBoundsError {
    const [dst, src, len] = table.entry(index);
    const changed = copied === undefined ? '' : ` (the table was rewritten behind SgTable's back; the ${copied} bytes of the entries before it were copied)`;
    return new KernelBoundsError(`segment ${index} (dst ${dst}, src ${src}, len ${len}) leaves the fabric${changed}`, { index, offset: dst, length: len, copied: copied ?? 0 });
  }

  #own(table: SgTable | SgList, what: string): void {
    if (table.fabric.memory !== this.#memory) throw new InvalidArgumentError(`${what} lives in another fabric's scratch area`, { argument: what });
  }

  #seed(seed: number): void {
    if (!isU32(seed)) throw new InvalidArgumentError(`seed ${describe(seed)} is not a u32`, { argument: 'seed' });
  }
}

function sumLengths(table: SgTable, count: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) total += table.entry(i)[2];
  return total;
}
