// The ring server: a worker thread enters serveRing() and stays in WebAssembly, taking
// descriptors from a single-producer/single-consumer submission ring in shared memory and
// writing completions in order, until the producer asks it to stop. All state lives in the
// ring's control block (owned by the JS side); this module keeps none. A ring has one consumer:
// the server claims the ring's CLAIM word before it reads a descriptor, and gives it back when it
// stops; a second server finds it taken and returns at once.
//
// The layout constants below must match src/engine/layout.ts; ringAbi() lets JS check that.
import { checkList, checkSg, copyLists, inBounds, SG_ENTRY_SIZE, LIST_ENTRY_SIZE } from "./sg";
import { copyBytes, copySegment } from "./copy";
import { fill } from "./fill";
import { copyCrc32c } from "./crc32c";

// Control block (byte offsets). Producer and consumer counters sit on their own cache lines.
const HEAD: usize = 0;        // u32: descriptors submitted, written by the producer
const DOORBELL: usize = 32;   // i32: bumped by the producer on every submit and stop; the server sleeps on it
const TAIL: usize = 64;       // u32: descriptors completed, written by the consumer
const SLEEPING: usize = 68;   // u32: 1 while the server sleeps on DOORBELL (the producer notifies only then)
const STATE: usize = 128;     // u32: RUN, STOP (requested), STOPPED (acknowledged)
const SLOTS: usize = 192;     // u32: ring entries, a power of two
const DESCS: usize = 196;     // u32: fabric offset of the descriptor array
const COMPS: usize = 200;     // u32: fabric offset of the completion array
const DATA_LO: usize = 204;   // u32: lowest fabric offset data may use
const DATA_HI: usize = 208;   // u32: one past the highest
const TABLE_LO: usize = 212;  // u32: SG tables must lie in [TABLE_LO, TABLE_HI)
const TABLE_HI: usize = 216;
const CRC_TABLE: usize = 220; // u32: the CRC32C table
const SPIN: usize = 224;      // u32: polls of HEAD before sleeping
const SERVED: usize = 228;    // u32: ops this server completed (statistics)
const WORKER: usize = 232;    // u32: threadId of the server holding the claim (written once it holds it)
const CLAIM: usize = 236;     // u32: the reservation (an even token, 0 = none); | 1 while a server holds it
const CONTROL_SIZE: usize = 256;

// Descriptor (32 bytes): op, flags, dst, src, len, a, b, reserved.
const DESC_SIZE: usize = 32;
// Completion (16 bytes): status, bytes completed, fault address, result (CRC).
const COMP_SIZE: usize = 16;

const OP_COPY: u32 = 1;       // dst, src, len
const OP_COPY_SG: u32 = 2;    // dst = dst list, a = dst count, src = src list, b = src count
const OP_FILL: u32 = 3;       // dst, len, a = pattern low word, b = pattern high word
const OP_COPY_CRC: u32 = 4;   // dst, src, len, a = seed; result = CRC32C of the source
const OP_COPY_TABLE: u32 = 5; // src = table of (dst, src, len) entries, a = count

const FLAG_FENCE: u32 = 1;     // not attempted if the op before it failed
const FLAG_CANCELLED: u32 = 2; // set by the producer: complete as USER_ABORT without running

const STATUS_SUCCESS: u32 = 0;
const STATUS_USER_ABORT: u32 = 1;
const STATUS_NOT_ATTEMPTED: u32 = 2;
const STATUS_INVALID_SRC: u32 = 3;
const STATUS_INVALID_DST: u32 = 4;
const STATUS_INVALID_LENGTH: u32 = 5;
const STATUS_INVALID_OPCODE: u32 = 6;
const STATUS_PENDING: u32 = 9;   // written by the producer at enqueue; replaced when the op finishes

const STATE_RUN: u32 = 0;
const STATE_STOP: u32 = 1;
const STATE_STOPPED: u32 = 2;

// Publish TAIL (and wake the producer) after this many completions even while more work
// is queued; always when the server catches up. Each completion's status word is written
// as the op finishes, so completions past TAIL are still exact if the server dies.
const PUBLISH_EVERY: u32 = 16;

// @ts-ignore: decorator
@inline
function mix(h: u32, v: u32): u32 {
  return h * 31 + v;
}

/** A checksum of the layout constants, compared by the JS side before it trusts the ring. */
export function ringAbi(): u32 {
  let h: u32 = 17;
  h = mix(h, <u32>HEAD); h = mix(h, <u32>DOORBELL); h = mix(h, <u32>TAIL); h = mix(h, <u32>SLEEPING); h = mix(h, <u32>STATE);
  h = mix(h, <u32>SLOTS); h = mix(h, <u32>DESCS); h = mix(h, <u32>COMPS); h = mix(h, <u32>DATA_LO);
  h = mix(h, <u32>DATA_HI); h = mix(h, <u32>TABLE_LO); h = mix(h, <u32>TABLE_HI); h = mix(h, <u32>CRC_TABLE);
  h = mix(h, <u32>SPIN); h = mix(h, <u32>SERVED); h = mix(h, <u32>CONTROL_SIZE); h = mix(h, <u32>DESC_SIZE);
  h = mix(h, <u32>COMP_SIZE); h = mix(h, OP_COPY); h = mix(h, OP_COPY_SG); h = mix(h, OP_FILL);
  h = mix(h, OP_COPY_CRC); h = mix(h, OP_COPY_TABLE); h = mix(h, FLAG_FENCE); h = mix(h, FLAG_CANCELLED);
  h = mix(h, STATUS_INVALID_LENGTH); h = mix(h, STATUS_INVALID_OPCODE); h = mix(h, STATUS_PENDING); h = mix(h, STATE_STOPPED);
  h = mix(h, <u32>WORKER); h = mix(h, <u32>CLAIM); h = mix(h, <u32>SERVE_BUSY);
  return h;
}

/** serveRing's result when another server holds the ring, or `token` is not the ring's reservation. */
const SERVE_BUSY: i32 = -1;

/**
 * Serves the ring whose control block is at `ctrl` until the producer sets STATE to STOP.
 * The server first claims the ring: CLAIM must hold `token` (the reservation the producer made
 * for this server; 0 for a ring nobody reserved), which becomes `token | 1` while it serves and
 * `token` again when it stops. Completions are written in ring order; the producer is woken
 * (notify on TAIL) whenever the server catches up and every PUBLISH_EVERY completions. Returns
 * 0 after a stop, SERVE_BUSY (without touching the ring) when the claim failed.
 */
export function serveRing(ctrl: usize, token: u32, threadId: u32): i32 {
  if ((token & 1) || atomic.cmpxchg<u32>(ctrl + CLAIM, token, token | 1) != token) return SERVE_BUSY;
  atomic.store<u32>(ctrl + WORKER, threadId);
  const mask = load<u32>(ctrl + SLOTS) - 1;
  const descs: usize = load<u32>(ctrl + DESCS);
  const comps: usize = load<u32>(ctrl + COMPS);
  const spin = load<u32>(ctrl + SPIN);
  let tail = atomic.load<u32>(ctrl + TAIL);
  let lastFailed = false;
  let unnotified: u32 = 0;
  while (true) {
    // Read the doorbell before HEAD and STATE: any later submit or stop changes it, so the
    // wait below cannot miss a wake-up.
    const bell = atomic.load<i32>(ctrl + DOORBELL);
    if (atomic.load<u32>(ctrl + STATE) != STATE_RUN) break;
    if (atomic.load<u32>(ctrl + HEAD) == tail) {
      if (unnotified) {
        publish(ctrl, tail, unnotified);
        unnotified = 0;
      }
      let polls = spin;
      while (polls && atomic.load<i32>(ctrl + DOORBELL) == bell) polls--;
      if (!polls) {
        // Announce the sleep before the wait re-checks the doorbell: a producer that rings
        // after this store sees SLEEPING and notifies; one that rang before it changed the
        // doorbell, so the wait returns at once.
        atomic.store<u32>(ctrl + SLEEPING, 1);
        atomic.wait<i32>(ctrl + DOORBELL, bell, -1);
        atomic.store<u32>(ctrl + SLEEPING, 0);
      }
      continue;
    }
    const d = descs + <usize>(tail & mask) * DESC_SIZE;
    const c = comps + <usize>(tail & mask) * COMP_SIZE;
    const status = runOp(ctrl, d, c, lastFailed);
    store<u32>(c, status);
    lastFailed = status != STATUS_SUCCESS;
    tail++;
    // Seq-cst stores and the cache line TAIL shares with a polling producer are the
    // expensive part of a small op, so TAIL, the statistics and the wake-up go out together.
    if (++unnotified >= PUBLISH_EVERY) {
      publish(ctrl, tail, unnotified);
      unnotified = 0;
    }
  }
  publish(ctrl, tail, unnotified);
  atomic.store<u32>(ctrl + STATE, STATE_STOPPED);
  atomic.store<u32>(ctrl + CLAIM, token);
  atomic.notify(ctrl + TAIL);
  atomic.notify(ctrl + STATE);
  atomic.notify(ctrl + CLAIM);
  return 0;
}

// Makes completions up to `tail` visible, counts them, and wakes a producer waiting on TAIL.
// @ts-ignore: decorator
@inline
function publish(ctrl: usize, tail: u32, count: u32): void {
  atomic.store<u32>(ctrl + TAIL, tail);
  atomic.add<u32>(ctrl + SERVED, count);
  atomic.notify(ctrl + TAIL);
}

// Runs one descriptor; writes bytes completed, fault address and result; returns the status.
function runOp(ctrl: usize, d: usize, c: usize, lastFailed: bool): u32 {
  // The producer cleared bytes, fault address and result when it enqueued the op.
  const flags = atomic.load<u32>(d, 4);
  if (flags & FLAG_CANCELLED) return STATUS_USER_ABORT;
  if ((flags & FLAG_FENCE) && lastFailed) return STATUS_NOT_ATTEMPTED;
  const lo: usize = load<u32>(ctrl + DATA_LO);
  const hi: usize = load<u32>(ctrl + DATA_HI);
  const op = load<u32>(d);
  const dst: usize = load<u32>(d, 8);
  const src: usize = load<u32>(d, 12);
  const len: usize = load<u32>(d, 16);
  const a = load<u32>(d, 20);
  const b = load<u32>(d, 24);
  if (op == OP_COPY || op == OP_COPY_CRC) {
    if (!inBounds(src, len, lo, hi)) return fault(c, STATUS_INVALID_SRC, src);
    if (!inBounds(dst, len, lo, hi)) return fault(c, STATUS_INVALID_DST, dst);
    if (op == OP_COPY) copyBytes(dst, src, len);
    else store<u32>(c, copyCrc32c(load<u32>(ctrl + CRC_TABLE), dst, src, len, a), 12);
    store<u32>(c, <u32>len, 4);
    return STATUS_SUCCESS;
  }
  if (op == OP_FILL) {
    if (!inBounds(dst, len, lo, hi)) return fault(c, STATUS_INVALID_DST, dst);
    fill(dst, (<u64>b << 32) | <u64>a, len);
    store<u32>(c, <u32>len, 4);
    return STATUS_SUCCESS;
  }
  const tlo: usize = load<u32>(ctrl + TABLE_LO);
  const thi: usize = load<u32>(ctrl + TABLE_HI);
  if (op == OP_COPY_TABLE) {
    const table = src;
    if (<u64>a * SG_ENTRY_SIZE > <u64>(thi - tlo) || !inBounds(table, <usize>a * SG_ENTRY_SIZE, tlo, thi)) return fault(c, STATUS_INVALID_SRC, table);
    // A table with a bad entry copies nothing: scan it first (one branch-free pass). The entry is
    // read again to report it; one rewritten meanwhile into a good one is left to the pass below.
    const bad = checkSg(table, a, lo, hi);
    if (bad >= 0) {
      const status = badEntry(c, table + <usize>bad * SG_ENTRY_SIZE, lo, hi);
      if (status != STATUS_SUCCESS) return status;
    }
    // Then each entry is read once, checked and copied with the numbers checked: the table lives
    // in shared memory, and a copy must never use values that its check did not see. Bytes
    // completed are published per segment, so a worker that dies mid-table leaves an exact record
    // of the segments it finished, and so does a table rewritten mid-copy.
    let done: u32 = 0;
    for (let i: u32 = 0; i < a; i++) {
      const e = table + <usize>i * SG_ENTRY_SIZE;
      const dst: usize = load<u32>(e);
      const src: usize = load<u32>(e, 4);
      const n: usize = load<u32>(e, 8);
      if (!inBounds(src, n, lo, hi)) return fault(c, STATUS_INVALID_SRC, src);
      if (!inBounds(dst, n, lo, hi)) return fault(c, STATUS_INVALID_DST, dst);
      copySegment(dst, src, n);
      done += <u32>n;
      store<u32>(c, done, 4);
    }
    return STATUS_SUCCESS;
  }
  if (op == OP_COPY_SG) {
    const dstCount = a, srcCount = b;
    if (<u64>dstCount * LIST_ENTRY_SIZE > <u64>(thi - tlo) || !inBounds(dst, <usize>dstCount * LIST_ENTRY_SIZE, tlo, thi)) return fault(c, STATUS_INVALID_DST, dst);
    if (<u64>srcCount * LIST_ENTRY_SIZE > <u64>(thi - tlo) || !inBounds(src, <usize>srcCount * LIST_ENTRY_SIZE, tlo, thi)) return fault(c, STATUS_INVALID_SRC, src);
    const badDst = checkList(dst, dstCount, lo, hi);
    if (badDst >= 0 && badListEntry(c, dst + <usize>badDst * LIST_ENTRY_SIZE, lo, hi, STATUS_INVALID_DST)) return STATUS_INVALID_DST;
    const badSrc = checkList(src, srcCount, lo, hi);
    if (badSrc >= 0 && badListEntry(c, src + <usize>badSrc * LIST_ENTRY_SIZE, lo, hi, STATUS_INVALID_SRC)) return STATUS_INVALID_SRC;
    const total = listTotal(dst, dstCount);
    if (total != listTotal(src, srcCount)) return STATUS_INVALID_LENGTH;
    // The checks above promise "nothing copied" for lists that were bad when the op started;
    // the copy checks each entry again as it reads it (lists rewritten meanwhile), and a total
    // that changed ends the op as INVALID_LENGTH with the bytes it did copy.
    const copied = copyLists(dst, dstCount, src, srcCount, lo, hi, c);
    if (copied < 0) return (<u32>(-1 - copied) & 1) ? STATUS_INVALID_SRC : STATUS_INVALID_DST;
    store<u32>(c, <u32>copied, 4);
    return <u64>copied == total ? STATUS_SUCCESS : STATUS_INVALID_LENGTH;
  }
  return STATUS_INVALID_OPCODE;
}

// @ts-ignore: decorator
@inline
function fault(c: usize, status: u32, address: usize): u32 {
  store<u32>(c, <u32>address, 8);
  return status;
}

// The status and fault address for a table entry the check found outside [lo, hi), from one read
// of each field; SUCCESS when the entry reads good now (another thread rewrote it: the copy pass,
// which checks every entry it copies, decides).
function badEntry(c: usize, e: usize, lo: usize, hi: usize): u32 {
  const dst: usize = load<u32>(e);
  const src: usize = load<u32>(e, 4);
  const n: usize = load<u32>(e, 8);
  if (!inBounds(src, n, lo, hi)) return fault(c, STATUS_INVALID_SRC, src);
  if (!inBounds(dst, n, lo, hi)) return fault(c, STATUS_INVALID_DST, dst);
  return STATUS_SUCCESS;
}

// The same for a list entry: true (fault address written) when it still reads out of bounds.
function badListEntry(c: usize, e: usize, lo: usize, hi: usize, status: u32): bool {
  const addr: usize = load<u32>(e);
  if (inBounds(addr, load<u32>(e, 4), lo, hi)) return false;
  fault(c, status, addr);
  return true;
}

function listTotal(list: usize, count: u32): u64 {
  let total: u64 = 0;
  for (let i: u32 = 0; i < count; i++) total += load<u32>(list + <usize>i * LIST_ENTRY_SIZE, 4);
  return total;
}
