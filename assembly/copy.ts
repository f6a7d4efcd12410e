// Plain copies. memory.copy is the bulk-memory instruction; V8 lowers it to a call
// into memmove, which wins for anything but very short copies. Below SMALL_COPY the
// call overhead dominates, so short, non-overlapping copies use v128 moves instead.

/** Copies shorter than this many bytes use inline v128 moves instead of memory.copy. */
export const SMALL_COPY: usize = 128;

/** memmove(dst, src, len). */
export function copy(dst: usize, src: usize, len: usize): void {
  memory.copy(dst, src, len);
}

/** A copy of any length; short non-overlapping ones avoid the memory.copy call. */
// @ts-ignore: decorator
@inline
export function copyBytes(dst: usize, src: usize, len: usize): void {
  if (len < SMALL_COPY && (dst + len <= src || src + len <= dst)) {
    copyShort(dst, src, len);
  } else {
    memory.copy(dst, src, len);
  }
}

// A short copy between non-overlapping ranges: 16-byte vectors, then a final vector
// that ends exactly at the end (it may overlap what was already written: same bytes).
// @ts-ignore: decorator
@inline
function copyShort(dst: usize, src: usize, len: usize): void {
  if (len >= 16) {
    let i: usize = 0;
    const last = len - 16;
    while (i < last) {
      v128.store(dst + i, v128.load(src + i));
      i += 16;
    }
    v128.store(dst + last, v128.load(src + last));
  } else if (len >= 8) {
    store<u64>(dst, load<u64>(src));
    store<u64>(dst + len - 8, load<u64>(src + len - 8));
  } else if (len >= 4) {
    store<u32>(dst, load<u32>(src));
    store<u32>(dst + len - 4, load<u32>(src + len - 4));
  } else if (len > 0) {
    store<u8>(dst, load<u8>(src));
    store<u8>(dst + (len >> 1), load<u8>(src + (len >> 1)));
    store<u8>(dst + len - 1, load<u8>(src + len - 1));
  }
}
