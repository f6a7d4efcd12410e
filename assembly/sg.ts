// Scatter-gather copies over tables that live in the shared memory itself.
import { apart, copyLoop, copySegment, move128, moveOverlapping, moveUpTo64, runTakes, SHORT_MAX } from "./copy";

/** Bytes per copySg table entry: u32 dst, u32 src, u32 len, u32 reserved. */
export const SG_ENTRY_SIZE: usize = 16;
/** Bytes per copySgLists list entry: u32 addr, u32 len. */
export const LIST_ENTRY_SIZE: usize = 8;

// True when [addr, addr + len) lies in [lo, hi), written so that addr + len cannot wrap.
// @ts-ignore: decorator
@inline
export function inBounds(addr: usize, len: usize, lo: usize, hi: usize): bool {
  return (addr >= lo) & (addr <= hi) & (len <= hi - addr);
}

/** Index of the first copySg entry whose source or destination leaves [lo, hi), or -1. */
export function checkSg(table: usize, count: u32, lo: usize, hi: usize): i32 {
  // A branch-free pass over every entry first (the common case: all good), then a second
  // pass only to name the first bad one. With addresses taken relative to lo, an address
  // below lo wraps to a huge value and fails the same compare as one past hi.
  const span = hi - lo;
  let bad: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const e = table + <usize>i * SG_ENTRY_SIZE;
    const len: usize = load<u32>(e, 8);
    const room = span - len;
    bad |= <u32>(len > span) | <u32>(<usize>load<u32>(e, 0) - lo > room) | <u32>(<usize>load<u32>(e, 4) - lo > room);
  }
  if (!bad) return -1;
  for (let i: u32 = 0; i < count; i++) {
    const e = table + <usize>i * SG_ENTRY_SIZE;
    const len = load<u32>(e, 8);
    if (!inBounds(load<u32>(e, 0), len, lo, hi) || !inBounds(load<u32>(e, 4), len, lo, hi)) return <i32>i;
  }
  return -1;
}

/** Index of the first list entry that leaves [lo, hi), or -1. */
export function checkList(list: usize, count: u32, lo: usize, hi: usize): i32 {
  for (let i: u32 = 0; i < count; i++) {
    const e = list + <usize>i * LIST_ENTRY_SIZE;
    if (!inBounds(load<u32>(e, 0), load<u32>(e, 4), lo, hi)) return <i32>i;
  }
  return -1;
}

/**
 * Copies every (dst, src, len) entry in order, each with memmove semantics; returns the bytes
 * copied. The bounds check rides in each copy loop (one predictable branch per entry, cheaper
 * than a separate pass): an entry that leaves [lo, hi) stops the copy before it and the result
 * is -1 - its index. Callers that promise "nothing copied" run checkSg first or know the table's
 * entries were checked when they were written (SgTable does).
 */
export function copySg(table: usize, count: u32, lo: usize, hi: usize): f64 {
  // In runs: copyShorts takes entries of up to 256 bytes, copyRun the others until one of
  // 1 KiB-16 MiB, copied here by memory.copy. The short loop needs lo <= hi and a table that ends
  // below 4 GiB (it walks a pointer to the table's end); without them every entry takes copyRun.
  const shorts = lo <= hi && <u64>table + <u64>count * SG_ENTRY_SIZE < <u64>1 << 32;
  const shortBelow: usize = shorts ? SHORT_MAX + 1 : 0;
  let total: u64 = 0;
  let i: u32 = 0;
  while (i < count) {
    const e = table + <usize>i * SG_ENTRY_SIZE;
    // Which loop takes entry i: a read for the routing only; each loop reads and checks it itself.
    if (<usize>load<u32>(e, 8) < shortBelow) {
      const end = count - i > SHORTS_AT_ONCE ? i + SHORTS_AT_ONCE : count;
      const done = copyShorts(table, i, end, lo, hi - lo);
      if (done < 0) return <f64>done; // -1 - the index of the entry out of bounds
      total += <u64>done & SHORT_BYTES;
      i += <u32>(<u64>done >> SHORT_TAKEN_SHIFT);
      // Stopped before the end: entry i is long, or overlaps itself (129-256 B), and copyRun takes it.
      if (i == end) continue;
    }
    const stop = copyRun(table, i, count, lo, hi, shortBelow);
    if (stop < 0) return <f64>stop; // -1 - the index of the entry out of bounds
    total += tableBytes(table, i, <u32>stop);
    if (<u32>stop == count) break;
    // Entry stop is in bounds as copyRun read it, or is short; read once here, checked, copied.
    const f = table + <usize>stop * SG_ENTRY_SIZE;
    const dst: usize = load<u32>(f), src: usize = load<u32>(f, 4), len: usize = load<u32>(f, 8);
    if (len < shortBelow) { i = <u32>stop; continue; }
    if (!inBounds(dst, len, lo, hi) || !inBounds(src, len, lo, hi)) return -1 - <f64>stop;
    memory.copy(dst, src, len);
    total += len;
    i = <u32>stop + 1;
  }
  return <f64>total;
}

// copyShorts takes at most this many entries a call, so that its count and bytes share one i64.
const SHORTS_AT_ONCE: u32 = 1 << 24;
const SHORT_TAKEN_SHIFT: u64 = 33;
const SHORT_BYTES: u64 = (<u64>1 << SHORT_TAKEN_SHIFT) - 1;

// Copies entries from `first` to `end` while each is at most 256 bytes long, lies in [lo, hi), and
// does not overlap itself when longer than 128 bytes: straight-line 16-byte moves, no inner loop
// (moveUpTo64, move128). Two entries an iteration, one after the other (a later entry sees an
// earlier one's stores), so the loop's back edge and V8's stack check come once per two. Returns
// the entries taken << 33 | their bytes (end - first <= 2^24, so the bytes fit in 33 bits), or
// -1 - the index of an entry out of bounds. `span` is hi - lo (passed, not hi: one register fewer
// in the loop); the caller ensures lo <= hi and that the table ends below 4 GiB.
function copyShorts(table: usize, first: u32, end: u32, lo: usize, span: usize): i64 {
  const start = table + <usize>first * SG_ENTRY_SIZE;
  const last = table + <usize>end * SG_ENTRY_SIZE;
  let e = start;
  let total: u64 = 0;
  let out = false;
  // The body twice over (each a read, a check and a copy), then once for an odd entry left. The
  // pair spells out copiedShort's dispatch: called as `if (!copiedShort(...)) break` it compiled to
  // a block with a result and a test after it, not the branches below (the tail may use it).
  while (e + SG_ENTRY_SIZE < last) {
    {
      const dst: usize = load<u32>(e), src: usize = load<u32>(e, 4), len: usize = load<u32>(e, 8);
      if (outside(dst, src, len, lo, span)) { out = true; break; }
      if (len <= 64) moveUpTo64(dst, src, len);
      else if (len <= 128) move128(dst, src, len);
      else if ((len <= SHORT_MAX) & apart(dst, src, len)) { move128(dst, src, 128); move128(dst + len - 128, src + len - 128, 128); }
      else break; // long, or overlapping itself: copyRun's
      total += len;
      e += SG_ENTRY_SIZE;
    }
    {
      const dst: usize = load<u32>(e), src: usize = load<u32>(e, 4), len: usize = load<u32>(e, 8);
      if (outside(dst, src, len, lo, span)) { out = true; break; }
      if (len <= 64) moveUpTo64(dst, src, len);
      else if (len <= 128) move128(dst, src, len);
      else if ((len <= SHORT_MAX) & apart(dst, src, len)) { move128(dst, src, 128); move128(dst + len - 128, src + len - 128, 128); }
      else break;
      total += len;
      e += SG_ENTRY_SIZE;
    }
  }
  if (!out & (e + SG_ENTRY_SIZE == last)) {
    const dst: usize = load<u32>(e), src: usize = load<u32>(e, 4), len: usize = load<u32>(e, 8);
    if (outside(dst, src, len, lo, span)) out = true;
    else if (copiedShort(dst, src, len)) {
      total += len;
      e += SG_ENTRY_SIZE;
    }
  }
  const taken = <u64>((e - start) / SG_ENTRY_SIZE);
  if (out) return -1 - <i64>(<u64>first + taken);
  return <i64>((taken << SHORT_TAKEN_SHIFT) | total);
}

// True when [dst, dst + len) or [src, src + len) leaves [lo, lo + span): both offsets from lo plus
// len must stay within span (u64: no wrap; an address below lo wraps to more than span, as hi < 2^32).
// @ts-ignore: decorator
@inline
function outside(dst: usize, src: usize, len: usize, lo: usize, span: usize): bool {
  const d = dst - lo, s = src - lo;
  return <u64>(d > s ? d : s) + len > <u64>span;
}

// copyShorts' copy of one entry: false, copying nothing, for one longer than 256 bytes or of
// 129-256 overlapping itself.
// @ts-ignore: decorator
@inline
function copiedShort(dst: usize, src: usize, len: usize): bool {
  if (len <= 64) moveUpTo64(dst, src, len);
  else if (len <= 128) move128(dst, src, len);
  else if ((len <= SHORT_MAX) & apart(dst, src, len)) { move128(dst, src, 128); move128(dst + len - 128, src + len - 128, 128); }
  else return false;
  return true;
}

// Copies entries from `first` on with inline loops (copyLoop, or moveOverlapping for an entry that
// overlaps itself) while each lies in [lo, hi) and is not 1 KiB-16 MiB long (runTakes). Returns
// count when done, the index of an entry left for memory.copy (in bounds), or of one after the
// first shorter than `shortBelow` (for copyShorts), or -1 - the index of an entry out of bounds.
// A function of its own with no call in it: next to memory.copy's call V8 kept this loop's values
// on the stack, which cost ~1-1.5 ns of the ~7 ns a 256-byte segment takes.
function copyRun(table: usize, first: u32, count: u32, lo: usize, hi: usize, shortBelow: usize): i32 {
  for (let i = first; i < count; i++) {
    const e = table + <usize>i * SG_ENTRY_SIZE;
    const dst: usize = load<u32>(e);
    const src: usize = load<u32>(e, 4);
    const len: usize = load<u32>(e, 8);
    if ((len < shortBelow) & (i != first)) return <i32>i;
    const far = dst > src ? dst : src;
    const near = dst > src ? src : dst;
    if ((near < lo) | (<u64>far + len > <u64>hi)) return -1 - <i32>i;
    if (!runTakes(len)) return <i32>i;
    if (far - near < len) moveOverlapping(dst, src, len);
    else copyLoop(dst, src, len);
  }
  return <i32>count;
}

// The bytes entries [first, end) of a table name.
function tableBytes(table: usize, first: u32, end: u32): u64 {
  let total: u64 = 0;
  for (let i = first; i < end; i++) total += load<u32>(table + <usize>i * SG_ENTRY_SIZE, 8);
  return total;
}

/**
 * Copies a source list into a destination list segmented differently (a 4 KiB source into
 * four 1 KiB destinations, or the reverse), as DPDK's copy_sg and SPDK's iovec copy do.
 * Each entry is read once and checked against [lo, hi) as it is taken, so the copy uses only
 * numbers it checked, even when another thread rewrites the lists meanwhile. Stops when either
 * list ends; returns the bytes copied (the smaller of the two totals), or, for an entry out of
 * bounds (the bytes before it copied), -1 - 2i for destination entry i and -2 - 2i for source
 * entry i. Callers that promise "nothing copied" run checkList on both lists first.
 */
export function copySgLists(dstList: usize, dstCount: u32, srcList: usize, srcCount: u32, lo: usize, hi: usize): f64 {
  return copyLists(dstList, dstCount, srcList, srcCount, lo, hi, 0);
}

/**
 * copySgLists, publishing the bytes done after each piece at `progress + 4`, and the address of
 * an entry out of bounds at `progress + 8`, when `progress` is not 0 (the ring's completion
 * record: a worker that dies mid-copy leaves an exact count).
 */
// @ts-ignore: decorator
@inline
export function copyLists(dstList: usize, dstCount: u32, srcList: usize, srcCount: u32, lo: usize, hi: usize, progress: usize): f64 {
  let total: u64 = 0;
  let di: u32 = 0, si: u32 = 0;
  let dAddr: usize = 0, dLeft: usize = 0, sAddr: usize = 0, sLeft: usize = 0;
  while (true) {
    while (dLeft == 0) {
      if (di == dstCount) return <f64>total;
      const e = dstList + <usize>di * LIST_ENTRY_SIZE;
      dAddr = load<u32>(e, 0);
      dLeft = load<u32>(e, 4);
      if (!inBounds(dAddr, dLeft, lo, hi)) {
        if (progress) store<u32>(progress, <u32>dAddr, 8);
        return -1 - 2 * <f64>di;
      }
      di++;
    }
    while (sLeft == 0) {
      if (si == srcCount) return <f64>total;
      const e = srcList + <usize>si * LIST_ENTRY_SIZE;
      sAddr = load<u32>(e, 0);
      sLeft = load<u32>(e, 4);
      if (!inBounds(sAddr, sLeft, lo, hi)) {
        if (progress) store<u32>(progress, <u32>sAddr, 8);
        return -2 - 2 * <f64>si;
      }
      si++;
    }
    const n = dLeft < sLeft ? dLeft : sLeft;
    copySegment(dAddr, sAddr, n);
    dAddr += n; dLeft -= n;
    sAddr += n; sLeft -= n;
    total += n;
    if (progress) store<u32>(progress, <u32>total, 4);
  }
}
