// Plain copies. memory.copy is the bulk-memory instruction; V8 lowers it to a call into
// libc's memmove, which wins from 1 KiB up to 16 MiB, for a single copy and for scatter-gather
// segments alike (docs/kernels.md has the figures). Two places an inline v128 loop (64 bytes per
// iteration: four loads, then four stores) measured faster on the project machine:
// - short copies, where the call into C costs more than the bytes;
// - huge copies, from 16 MiB: glibc's memmove is a wide-vector loop on this CPU, which once the
//   copy leaves the caches ran 10-20% slower than 16-byte moves (natively too).
// Where the segment loop sits next to a memory.copy call (copySegment: copySgLists, the ring)
// segments of 128 B to 1 KiB take memory.copy too: V8 keeps that loop's values on the stack, and
// the inline loop measured slower there (256 B: 9.9 against 8.2 ns per segment). copySg's runs
// (sg.ts) have no call, and there the loop wins below 1 KiB (runTakes); segments up to 256 bytes
// go through straight-line moves with no loop at all (moveUpTo64, move128).
// Overlapping ranges take memory.copy, except in copySg's runs, which use moveOverlapping.

/** Single copies below this many bytes use the inline loop. */
export const LOOP_BELOW: usize = 1024;
/** Scatter-gather segments below this many bytes use the inline loop next to a call (copySegment). */
export const SEGMENT_SHORT: usize = 128;
/** Copies of at least this many bytes use the inline loop (ordinary stores). */
export const LOOP_FROM: usize = 16 << 20;

/** memmove(dst, src, len). */
export function copy(dst: usize, src: usize, len: usize): void {
  copyBytes(dst, src, len);
}

/** memmove of one buffer: the loop when short or huge, libc's memmove otherwise. */
// @ts-ignore: decorator
@inline
export function copyBytes(dst: usize, src: usize, len: usize): void {
  if ((len < LOOP_BELOW || len >= LOOP_FROM) && disjoint(dst, src, len)) copyLoop(dst, src, len);
  else memory.copy(dst, src, len);
}

/** memmove of one scatter-gather segment next to a call: the loop when short or huge, libc's memmove otherwise. */
// @ts-ignore: decorator
@inline
export function copySegment(dst: usize, src: usize, len: usize): void {
  const loop = len < SEGMENT_SHORT || len >= LOOP_FROM;
  if (loop && disjoint(dst, src, len)) copyLoop(dst, src, len);
  else memory.copy(dst, src, len);
}

/**
 * True when copySg's runs copy a segment this long (not overlapping itself) with the inline loop:
 * under 1 KiB and from 16 MiB. In a function with no call in it the loop beats memory.copy at
 * 128 B-1 KiB too, which copySegment (used next to calls) leaves to memory.copy.
 */
// @ts-ignore: decorator
@inline
export function runTakes(len: usize): bool {
  return len - LOOP_BELOW >= LOOP_FROM - LOOP_BELOW;
}

// True when [dst, dst + len) and [src, src + len) do not overlap (in u64: a range may end at 4 GiB).
// @ts-ignore: decorator
@inline
function disjoint(dst: usize, src: usize, len: usize): bool {
  return <u64>dst + len <= <u64>src || <u64>src + len <= <u64>dst;
}

// A copy between non-overlapping ranges: 64-byte blocks, then a last block that ends exactly at
// the end (it may rewrite bytes already written: the same bytes, since the ranges are disjoint);
// under 64 bytes, moveShort.
// @ts-ignore: decorator
@inline
export function copyLoop(dst: usize, src: usize, len: usize): void {
  if (len >= 64) {
    const last = len - 64;
    let i: usize = 0;
    while (i < last) {
      move64(dst + i, src + i);
      i += 64;
    }
    move64(dst + last, src + last);
  } else {
    moveShort(dst, src, len);
  }
}

// memmove between ranges that may overlap, without a call (copySg's runs take it for a segment
// that overlaps itself): nothing is stored before every byte it could change has been loaded. Up to
// 64 bytes, every load comes before every store. Longer: the 64 bytes at the far end are loaded
// first and stored last, and the 64-byte blocks run from the end the destination lies towards
// (forward when dst < src, backward when dst > src), so no block reads a byte a block before it wrote.
// @ts-ignore: decorator
@inline
export function moveOverlapping(dst: usize, src: usize, len: usize): void {
  if (len <= 64) {
    moveShort(dst, src, len);
  } else if (dst <= src) {
    const last = len - 64;
    const a = v128.load(src + last), b = v128.load(src + last, 16), c = v128.load(src + last, 32), d = v128.load(src + last, 48);
    for (let i: usize = 0; i < last; i += 64) move64(dst + i, src + i);
    v128.store(dst + last, a); v128.store(dst + last, b, 16); v128.store(dst + last, c, 32); v128.store(dst + last, d, 48);
  } else {
    const a = v128.load(src), b = v128.load(src, 16), c = v128.load(src, 32), d = v128.load(src, 48);
    let i = len - 64;
    while (true) {
      move64(dst + i, src + i);
      if (i <= 64) break;
      i -= 64;
    }
    v128.store(dst, a); v128.store(dst, b, 16); v128.store(dst, c, 32); v128.store(dst, d, 48);
  }
}

// Up to 64 bytes, every load before any store (so the ranges may overlap).
// @ts-ignore: decorator
@inline
function moveShort(dst: usize, src: usize, len: usize): void {
  if (len > 32) {
    const a = v128.load(src), b = v128.load(src, 16), c = v128.load(src + len - 32), d = v128.load(src + len - 16);
    v128.store(dst, a); v128.store(dst, b, 16); v128.store(dst + len - 32, c); v128.store(dst + len - 16, d);
  } else if (len >= 16) {
    const a = v128.load(src), d = v128.load(src + len - 16);
    v128.store(dst, a); v128.store(dst + len - 16, d);
  } else if (len >= 8) {
    const a = load<u64>(src), d = load<u64>(src + len - 8);
    store<u64>(dst, a); store<u64>(dst + len - 8, d);
  } else if (len >= 4) {
    const a = load<u32>(src), d = load<u32>(src + len - 4);
    store<u32>(dst, a); store<u32>(dst + len - 4, d);
  } else if (len > 0) {
    const a = load<u8>(src), b = load<u8>(src + (len >> 1)), d = load<u8>(src + len - 1);
    store<u8>(dst, a); store<u8>(dst + (len >> 1), b); store<u8>(dst + len - 1, d);
  }
}

// Four loads before four stores, so the loads of a block are in flight together.
// @ts-ignore: decorator
@inline
function move64(dst: usize, src: usize): void {
  const a = v128.load(src);
  const b = v128.load(src, 16);
  const c = v128.load(src, 32);
  const d = v128.load(src, 48);
  v128.store(dst, a);
  v128.store(dst, b, 16);
  v128.store(dst, c, 32);
  v128.store(dst, d, 48);
}

/** True when [a, a + len) and [b, b + len) do not overlap (u32 wrap-around arithmetic, ranges checked in bounds). */
// @ts-ignore: decorator
@inline
export function apart(a: usize, b: usize, len: usize): bool {
  return (a - b >= len) & (b - a >= len);
}

/** Segments up to this many bytes take copySg's short loop (moveUpTo64, move128). */
export const SHORT_MAX: usize = 256;

// memmove of up to 64 bytes, every load before any store: 33-64 bytes are four 16-byte moves,
// two from each end, 16-32 two, shorter ones moveShort's.
// @ts-ignore: decorator
@inline
export function moveUpTo64(dst: usize, src: usize, len: usize): void {
  if (len > 32) {
    const t = len - 32;
    const a = v128.load(src), b = v128.load(src, 16), c = v128.load(src + t), d = v128.load(src + t, 16);
    v128.store(dst, a); v128.store(dst, b, 16); v128.store(dst + t, c); v128.store(dst + t, d, 16);
  } else if (len >= 16) {
    const t = len - 16;
    const a = v128.load(src), d = v128.load(src + t);
    v128.store(dst, a); v128.store(dst + t, d);
  } else {
    moveShort(dst, src, len);
  }
}

// memmove of 64-128 bytes: the first 64 and the last 64, all eight loads before the stores.
// @ts-ignore: decorator
@inline
export function move128(dst: usize, src: usize, len: usize): void {
  const t = len - 64;
  const a = v128.load(src), b = v128.load(src, 16), c = v128.load(src, 32), d = v128.load(src, 48);
  const w = v128.load(src + t), x = v128.load(src + t, 16), y = v128.load(src + t, 32), z = v128.load(src + t, 48);
  v128.store(dst, a); v128.store(dst, b, 16); v128.store(dst, c, 32); v128.store(dst, d, 48);
  v128.store(dst + t, w); v128.store(dst + t, x, 16); v128.store(dst + t, y, 32); v128.store(dst + t, z, 48);
}
