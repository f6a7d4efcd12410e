// Plain-JS reference models the kernels are checked against.
export function memmove(bytes: Uint8Array, dst: number, src: number, len: number): void {
  bytes.copyWithin(dst, src, src + len);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Bitwise-table CRC32C, the textbook form. */
export function crc32cReference(bytes: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (const b of bytes) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ b) & 0xff]!;
  return ~crc >>> 0;
}

export function fillReference(bytes: Uint8Array, dst: number, pattern: bigint, len: number): void {
  for (let i = 0; i < len; i++) bytes[dst + i] = Number((pattern >> BigInt(8 * (i % 8))) & 0xffn);
}

/** Index of the first byte where a and b differ, or -1. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
