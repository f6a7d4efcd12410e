// fill and compare.

/** Writes len bytes at dst repeating the 8-byte little-endian pattern, starting at its byte 0. */
export function fill(dst: usize, pattern: u64, len: usize): void {
  const v = i64x2.splat(pattern);
  let i: usize = 0;
  if (len >= 16) {
    const last = len - 16;
    while (i <= last) {
      v128.store(dst + i, v);
      i += 16;
    }
  }
  // 16 is a multiple of 8, so the tail starts at pattern phase 0.
  let p = pattern;
  while (i < len) {
    store<u8>(dst + i, <u8>p);
    p = rotr<u64>(p, 8);
    i++;
  }
}

/** Offset of the first byte where a and b differ, or -1 when the len bytes are equal. */
export function compare(a: usize, b: usize, len: usize): f64 {
  let i: usize = 0;
  if (len >= 16) {
    const last = len - 16;
    while (i <= last) {
      if (v128.any_true(v128.xor(v128.load(a + i), v128.load(b + i)))) break;
      i += 16;
    }
  }
  while (i < len) {
    if (load<u8>(a + i) != load<u8>(b + i)) return <f64>i;
    i++;
  }
  return -1;
}
