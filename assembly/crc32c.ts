// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) by slicing-by-8.
// WebAssembly has no carry-less multiply and no crc32 instruction, so SIMD does not help
// here; eight table lookups per 8 bytes is the fastest portable form. The 8 KiB table
// lives in shared memory at an address the caller owns (no static data in this module):
// build it once with crc32cInitTable and pass it to every call.

/** Bytes the slicing-by-8 table occupies. */
export const CRC32C_TABLE_SIZE: usize = 8 * 256 * 4;
const POLY: u32 = 0x82f63b78;

// @ts-ignore: decorator
@inline
function t(table: usize, k: usize, n: u32): u32 {
  return load<u32>(table + (k << 10) + (<usize>n << 2));
}

/** Writes the slicing-by-8 lookup table at `table` (CRC32C_TABLE_SIZE bytes). */
export function crc32cInitTable(table: usize): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let b = 0; b < 8; b++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    store<u32>(table + (<usize>n << 2), c);
  }
  for (let n: u32 = 0; n < 256; n++) {
    let c = t(table, 0, n);
    for (let k: usize = 1; k < 8; k++) {
      c = (c >>> 8) ^ t(table, 0, c & 0xff);
      store<u32>(table + (k << 10) + (<usize>n << 2), c);
    }
  }
}

// @ts-ignore: decorator
@inline
function step8(table: usize, crc: u32, lo: u32, hi: u32): u32 {
  const x = crc ^ lo;
  return t(table, 7, x & 0xff) ^ t(table, 6, (x >>> 8) & 0xff) ^
    t(table, 5, (x >>> 16) & 0xff) ^ t(table, 4, x >>> 24) ^
    t(table, 3, hi & 0xff) ^ t(table, 2, (hi >>> 8) & 0xff) ^
    t(table, 1, (hi >>> 16) & 0xff) ^ t(table, 0, hi >>> 24);
}

// @ts-ignore: decorator
@inline
function step1(table: usize, crc: u32, byte: u32): u32 {
  return (crc >>> 8) ^ t(table, 0, (crc ^ byte) & 0xff);
}

/**
 * CRC32C of len bytes at ptr. `seed` is a previous result (0 to start), so that
 * crc32c(b, crc32c(a)) == crc32c(a ++ b).
 */
export function crc32c(table: usize, ptr: usize, len: usize, seed: u32): u32 {
  let crc = ~seed;
  let i: usize = 0;
  if (len >= 8) {
    const last = len - 8;
    while (i <= last) {
      crc = step8(table, crc, load<u32>(ptr + i), load<u32>(ptr + i, 4));
      i += 8;
    }
  }
  while (i < len) crc = step1(table, crc, load<u8>(ptr + i++));
  return ~crc;
}

/** Copies len bytes src → dst (memmove semantics) and returns the CRC32C of the source bytes. */
export function copyCrc32c(table: usize, dst: usize, src: usize, len: usize, seed: u32): u32 {
  if (dst < src + len && src < dst + len) {
    // Overlap: checksum the source before the copy can change it.
    const crc = crc32c(table, src, len, seed);
    memory.copy(dst, src, len);
    return crc;
  }
  let crc = ~seed;
  let i: usize = 0;
  if (len >= 8) {
    const last = len - 8;
    while (i <= last) {
      const lo = load<u32>(src + i), hi = load<u32>(src + i, 4);
      store<u32>(dst + i, lo);
      store<u32>(dst + i, hi, 4);
      crc = step8(table, crc, lo, hi);
      i += 8;
    }
  }
  while (i < len) {
    const b = load<u8>(src + i);
    store<u8>(dst + i, b);
    crc = step1(table, crc, b);
    i++;
  }
  return ~crc;
}
