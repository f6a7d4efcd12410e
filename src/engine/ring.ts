// The producer side of a submission/completion ring, with DPDK dmadev semantics
// (rte_dma_copy / rte_dma_submit / rte_dma_completed / rte_dma_completed_status). One
// thread produces; the ring server in a worker consumes. Addresses are fabric offsets and
// arguments are in memcpy order (dst, src, len), unlike DPDK's (src, dst, len). The ring owns
// its scratch memory and pins the SG tables and lists its ops read until their completions are
// gathered; a ring has one consumer, which claims it through the control block's CLAIM word.
import { EngineStoppedError, InvalidArgumentError, InvalidStateError, RingBusyError } from '../errors.js';
import { Fabric } from '../fabric/fabric.js';
import { pinTable, SgList, SgTable, unpinTable, type SegmentTable } from '../fabric/sg-table.js';
import { describe, isInstance, isU32, readInput } from '../fabric/input.js';
import { COMP_SIZE, CONTROL_SIZE, CTRL, DESC_FLAG, DESC_SIZE, OP, STATE, STATUS_PENDING } from './layout.js';
import { Status, statusName, type StatusCode, type StatusName } from './status.js';

/** Returned by an enqueue call when the ring has no free entry (-ENOSPC, as DPDK returns). */
export const NO_SPACE = -28;
/** Op flag: start only if the op before it succeeded (RTE_DMA_OP_FLAG_FENCE). */
export const OP_FLAG_FENCE = 1;
/** Op flag: ring the doorbell after this op (RTE_DMA_OP_FLAG_SUBMIT). */
export const OP_FLAG_SUBMIT = 4;

/** Iterations of the pause loop between two polls of TAIL in pollCompletion(). */
const POLL_BACKOFF = 64;

/** Ring indices wrap at 16 bits, as dmadev's do. */
export const RING_INDEX_MASK = 0xffff;

/** The longest pollCompletion() accepts, in µs (one second: it blocks the calling thread). */
export const MAX_POLL_MICROS = 1_000_000;

const KNOWN_FLAGS = OP_FLAG_FENCE | OP_FLAG_SUBMIT;
// Reservation tokens are even and never 0 (the server's claim sets bit 0); a random start makes
// a stale task from another ring at the same offset unlikely to match.
let nextToken = ((Math.random() * 2 ** 30) >>> 0) * 2 + 2;
function freshToken(): number {
  nextToken = (nextToken + 2) >>> 0 || 2;
  return nextToken;
}

/** What `ring.completed()` returns (rte_dma_completed). */
export interface CompletedResult {
  /** Ops that completed successfully, in order, before the first failure. */
  readonly count: number;
  /** Ring index of the last op reported (unchanged when count is 0). */
  readonly lastIdx: number;
  /** True when gathering stopped at a failed op (it is left for completedStatus). */
  readonly hasError: boolean;
}

/** One completion as `ring.completedStatus()` reports it (rte_dma_completed_status). */
export interface Completion {
  readonly index: number;
  readonly status: StatusCode;
  readonly statusName: StatusName;
  readonly bytesCompleted: number;
  /** For INVALID_SRC / INVALID_DST / FAULT: the offending fabric offset. */
  readonly faultAddress: number;
  /** For copyCrc32c: the CRC32C of the source. */
  readonly result: number;
}

/** What `ring.completedStatus()` returns. */
export interface CompletedStatusResult {
  readonly count: number;
  readonly lastIdx: number;
  readonly completions: Completion[];
}

/** Counters as DPDK's rte_dma_stats defines them: `completed` counts every op gathered, failed or not; `errors` the failed ones. */
export interface RingStats {
  readonly submitted: number;
  readonly completed: number;
  readonly errors: number;
}

/** Options of `new Ring()` (and of a channel's ring); each is read once. */
export interface RingOptions {
  /** Entries, a power of two from 2 to 65536 (default 1024). */
  readonly slots?: number;
  /** Polls of the doorbell before the server sleeps (default 200000, about 100 µs on the project machine). */
  readonly spin?: number;
}

/**
 * The producer side of a submission/completion ring in the fabric's scratch area, with DPDK dmadev
 * semantics; one thread produces, one server (claimed through the control block) consumes.
 */
export class Ring {
  readonly fabric: Fabric;
  /** Fabric offset of the control block. */
  readonly ctrl: number;
  readonly slots: number;
  readonly #mask: number;
  readonly #descs: number;
  readonly #comps: number;
  readonly #i32: Int32Array;
  readonly #u32: Uint32Array;
  // Counters mod 2^32: ops enqueued, ops made visible to the server, ops handed back to the caller.
  #enqueued = 0;
  #submitted = 0;
  #gathered = 0;
  #stats = { submitted: 0, completed: 0, errors: 0 };
  #stopped = false;
  #released = false;
  // The tables and lists each slot's op reads, pinned until its completion is gathered.
  readonly #pinned: (SegmentTable | readonly SegmentTable[] | undefined)[];
  // Keeps the back-off loop's result observable so the compiler cannot drop the loop.
  #spinSink = 0;

  /**
   * Allocates the ring in the fabric's scratch area. Throws ERR_INVALID_ARGUMENT for a fabric that
   * is not a Fabric, options that are not an object, `slots` not a power of two in 2..65536 or
   * `spin` not a u32 (naming the option), ERR_ALLOC_EXHAUSTED when the scratch area has no room;
   * nothing is allocated on failure.
   */
  constructor(fabric: Fabric, options: RingOptions = {}) {
    if (!isInstance(fabric, Fabric)) throw new InvalidArgumentError('fabric must be a Fabric', { argument: 'fabric' });
    const { slots, spin } = ringOptions(options);
    // The kernels (and their CRC table, which the fabric owns) first: nothing below can fail
    // once the ring's memory is taken.
    const kernels = fabric.kernels;
    this.fabric = fabric;
    this.slots = slots;
    this.#mask = slots - 1;
    this.#pinned = new Array<undefined>(slots);
    const bytes = CONTROL_SIZE + slots * (DESC_SIZE + COMP_SIZE);
    this.ctrl = fabric.scratch.allocate(bytes, 64);
    this.#descs = this.ctrl + CONTROL_SIZE;
    this.#comps = this.#descs + slots * DESC_SIZE;
    this.#i32 = new Int32Array(fabric.buffer);
    this.#u32 = new Uint32Array(fabric.buffer);
    fabric.bytes.fill(0, this.ctrl, this.ctrl + bytes);
    const w = (field: number, value: number) => { this.#u32[(this.ctrl + field) >> 2] = value; };
    w(CTRL.SLOTS, slots);
    w(CTRL.DESCS, this.#descs);
    w(CTRL.COMPS, this.#comps);
    w(CTRL.DATA_LO, fabric.dataStart);
    w(CTRL.DATA_HI, fabric.size);
    w(CTRL.TABLE_LO, fabric.scratch.base);
    w(CTRL.TABLE_HI, fabric.scratch.base + fabric.scratch.size);
    w(CTRL.CRC_TABLE, kernels.crcTable);
    w(CTRL.SPIN, spin);
  }

  // ---- fast path: enqueue

  // Every enqueue call throws, without consuming an index: ERR_INVALID_STATE for a released ring
  // (or a released table or list), ERR_ENGINE_STOPPED while stopped, ERR_INVALID_ARGUMENT naming
  // the argument that is not an integer in 0..2^32-1 (`flags`: only OP_FLAG_FENCE | OP_FLAG_SUBMIT).

  /** Enqueues memmove(dst, src, len). Returns the op's 16-bit ring index, or NO_SPACE (see above for what it throws). */
  enqueueCopy(dst: number, src: number, len: number, flags = 0): number {
    this.#check3(dst, src, len);
    return this.#enqueue(OP.COPY, flags, dst, src, len, 0, 0, undefined);
  }

  /**
   * Enqueues a copy of the src list into the dst list (segmented differently, equal totals). Both
   * lists are pinned (clear() and release() refuse them) until the op's completion is gathered.
   */
  enqueueCopySg(dst: SgList, src: SgList, flags = 0): number {
    if (!isInstance(dst, SgList) || !isInstance(src, SgList)) throw new InvalidArgumentError('dst and src must be SgLists', { argument: isInstance(dst, SgList) ? 'src' : 'dst' });
    dst.assertUsable();
    src.assertUsable();
    if (dst.fabric !== this.fabric || src.fabric !== this.fabric) throw new InvalidArgumentError("a list lives in another fabric's scratch area", { argument: dst.fabric !== this.fabric ? 'dst' : 'src' });
    return this.#enqueue(OP.COPY_SG, flags, dst.offset, src.offset, 0, dst.count, src.count, [dst, src]);
  }

  /**
   * Enqueues every (dst, src, len) entry of an SgTable as one op (bytes completed are tracked per
   * entry). The table is pinned (clear() and release() refuse it) until the completion is gathered.
   */
  enqueueCopyTable(table: SgTable, flags = 0): number {
    if (!isInstance(table, SgTable)) throw new InvalidArgumentError('table must be an SgTable', { argument: 'table' });
    table.assertUsable();
    if (table.fabric !== this.fabric) throw new InvalidArgumentError("table lives in another fabric's scratch area", { argument: 'table' });
    return this.#enqueue(OP.COPY_TABLE, flags, 0, table.offset, 0, table.count, 0, table);
  }

  /** Enqueues a fill of len bytes at dst with the 8-byte little-endian pattern. */
  enqueueFill(dst: number, pattern: bigint, len: number, flags = 0): number {
    if (typeof pattern !== 'bigint') throw new InvalidArgumentError('pattern must be a bigint', { argument: 'pattern' });
    this.#check3(dst, 0, len);
    const p = BigInt.asUintN(64, pattern);
    return this.#enqueue(OP.FILL, flags, dst, 0, len, Number(p & 0xffffffffn), Number(p >> 32n), undefined);
  }

  /** Enqueues a copy that also computes the CRC32C of the source (the completion's `result`). */
  enqueueCopyCrc32c(dst: number, src: number, len: number, seed = 0, flags = 0): number {
    this.#check3(dst, src, len);
    if (!isU32(seed)) throw new InvalidArgumentError(`seed ${describe(seed)} is not an integer in 0..2^32-1`, { argument: 'seed' });
    return this.#enqueue(OP.COPY_CRC, flags, dst, src, len, seed, 0, undefined);
  }

  #check3(dst: unknown, src: unknown, len: unknown): void {
    for (const [name, value] of [['dst', dst], ['src', src], ['len', len]] as const) {
      if (!isU32(value)) throw new InvalidArgumentError(`${name} ${describe(value)} is not an integer in 0..2^32-1`, { argument: name });
    }
  }

  #enqueue(op: number, flags: unknown, dst: number, src: number, len: number, a: number, b: number, reads: SegmentTable | readonly SegmentTable[] | undefined): number {
    this.#live();
    if (this.#stopped) throw new EngineStoppedError('the ring is stopped: start() it before enqueueing');
    if (!isU32(flags) || (flags & ~KNOWN_FLAGS) !== 0) throw new InvalidArgumentError(`flags ${describe(flags)} must be OP_FLAG_FENCE and/or OP_FLAG_SUBMIT`, { argument: 'flags' });
    if (((this.#enqueued - this.#gathered) >>> 0) === this.slots) return NO_SPACE;
    const slot = this.#enqueued & this.#mask;
    if (reads) {
      if (Array.isArray(reads)) for (const t of reads) pinTable(t);
      else pinTable(reads as SegmentTable);
      this.#pinned[slot] = reads;
    }
    const w = (this.#descs + slot * DESC_SIZE) >> 2;
    const u32 = this.#u32;
    u32[w] = op;
    u32[w + 1] = flags & OP_FLAG_FENCE ? DESC_FLAG.FENCE : 0;
    u32[w + 2] = dst;
    u32[w + 3] = src;
    u32[w + 4] = len;
    u32[w + 5] = a;
    u32[w + 6] = b;
    // Mark the completion pending: after a server death, ops past TAIL whose status is no
    // longer pending did finish; and no earlier op's byte count is left behind.
    const c = (this.#comps + slot * COMP_SIZE) >> 2;
    u32[c] = STATUS_PENDING;
    u32[c + 1] = 0;
    u32[c + 2] = 0;
    u32[c + 3] = 0;
    const index = this.#enqueued & RING_INDEX_MASK;
    this.#enqueued = (this.#enqueued + 1) >>> 0;
    if (flags & OP_FLAG_SUBMIT) this.submit();
    return index;
  }

  /** Rings the doorbell: every op enqueued so far becomes visible to the server (nothing to do while stopped). ERR_INVALID_STATE when released. */
  submit(): void {
    this.#live();
    if (this.#submitted === this.#enqueued || this.#stopped) return;
    this.#stats.submitted += (this.#enqueued - this.#submitted) >>> 0;
    this.#submitted = this.#enqueued;
    Atomics.store(this.#i32, (this.ctrl + CTRL.HEAD) >> 2, this.#submitted | 0);
    this.#ring();
  }

  // The doorbell: bump it, and wake the server only if it announced that it sleeps (a
  // spinning server sees the bump by itself; notify is a runtime call worth skipping).
  #ring(): void {
    const bell = (this.ctrl + CTRL.DOORBELL) >> 2;
    Atomics.add(this.#i32, bell, 1);
    if (Atomics.load(this.#i32, (this.ctrl + CTRL.SLEEPING) >> 2) !== 0) Atomics.notify(this.#i32, bell, 1);
  }

  // ---- fast path: completions

  /**
   * Gathers up to `max` successful completions in order, stopping at the first failure
   * (which stays for completedStatus). On an idle ring: count 0 and the previous lastIdx.
   * Throws ERR_INVALID_ARGUMENT for a `max` that is not an integer in 0..2^32-1, ERR_INVALID_STATE when released.
   */
  completed(max = this.slots): CompletedResult {
    this.#live();
    checkMax(max);
    const tail = this.#tail();
    const u32 = this.#u32;
    let count = 0;
    let hasError = false;
    while (count < max && this.#gathered !== tail) {
      if (u32[(this.#comps + (this.#gathered & this.#mask) * COMP_SIZE) >> 2] !== Status.SUCCESS) {
        hasError = true;
        break;
      }
      this.#unpin(this.#gathered);
      this.#gathered = (this.#gathered + 1) >>> 0;
      count++;
    }
    this.#stats.completed += count;
    return { count, lastIdx: this.lastIdx, hasError };
  }

  /** Gathers up to `max` completions, failed or not, with their status and details (errors as completed()). */
  completedStatus(max = this.slots): CompletedStatusResult {
    this.#live();
    checkMax(max);
    const tail = this.#tail();
    const completions: Completion[] = [];
    while (completions.length < max && this.#gathered !== tail) {
      const c = (this.#comps + (this.#gathered & this.#mask) * COMP_SIZE) >> 2;
      const status = this.#u32[c]! as StatusCode;
      completions.push({
        index: this.#gathered & RING_INDEX_MASK,
        status,
        statusName: statusName(status),
        bytesCompleted: this.#u32[c + 1]!,
        faultAddress: this.#u32[c + 2]!,
        result: this.#u32[c + 3]!,
      });
      this.#stats.completed++;
      if (status !== Status.SUCCESS) this.#stats.errors++;
      this.#unpin(this.#gathered);
      this.#gathered = (this.#gathered + 1) >>> 0;
    }
    return { count: completions.length, lastIdx: this.lastIdx, completions };
  }

  /** Index of the last op handed back by completed/completedStatus (0xffff before the first). */
  get lastIdx(): number {
    return (this.#gathered - 1) & RING_INDEX_MASK;
  }

  /** Ops that can still be enqueued before completions are gathered: drops by one per enqueue. */
  burstCapacity(): number {
    this.#live();
    return this.slots - ((this.#enqueued - this.#gathered) >>> 0);
  }

  /** Ops enqueued but not yet gathered. */
  get outstanding(): number {
    return (this.#enqueued - this.#gathered) >>> 0;
  }

  /** Ops submitted that the server has not completed yet. */
  get inFlight(): number {
    if (this.#released) return 0;
    return (this.#submitted - this.#tail()) >>> 0;
  }

  /** The counters (rte_dma_stats): ops submitted, completions gathered (failed ones included), failed ones. */
  stats(): RingStats {
    return { ...this.#stats };
  }

  /** True once release() ran: every method but stats() then throws ERR_INVALID_STATE. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Resolves once the server has completed something not yet gathered (at once if it has, or
   * when the ring is released meanwhile). Uses Atomics.waitAsync: the caller's thread is never
   * blocked. Rejects with ERR_INVALID_STATE on a released ring.
   */
  waitForCompletion(): Promise<void> {
    if (this.#released) return Promise.reject(releasedError());
    const tail = this.#tail();
    if (tail !== this.#gathered) return Promise.resolve();
    const wait = Atomics.waitAsync(this.#i32, (this.ctrl + CTRL.TAIL) >> 2, tail | 0);
    return wait.async ? wait.value.then(() => undefined) : Promise.resolve();
  }

  /**
   * Busy-polls for up to `micros` µs until the server completes something not yet gathered;
   * returns whether it did. Blocks the calling thread, so keep it short: it trades a little CPU
   * for not paying the Atomics.waitAsync wake-up (tens of µs through the event loop). Throws
   * ERR_INVALID_ARGUMENT for `micros` that is not a number in 0..MAX_POLL_MICROS (one second),
   * ERR_INVALID_STATE when released.
   */
  pollCompletion(micros: number): boolean {
    this.#live();
    if (typeof micros !== 'number' || !(micros >= 0 && micros <= MAX_POLL_MICROS)) {
      throw new InvalidArgumentError(`micros ${describe(micros)} must be a number in 0..${MAX_POLL_MICROS}`, { argument: 'micros' });
    }
    const tail = (this.ctrl + CTRL.TAIL) >> 2;
    if (Atomics.load(this.#u32, tail) !== this.#gathered) return true;
    if (!(micros > 0)) return false;
    const deadline = performance.now() + micros / 1000;
    let spin = 0;
    do {
      for (let i = 0; i < 16; i++) {
        if (Atomics.load(this.#u32, tail) !== this.#gathered) return true;
        // Back off between reads, as rte_pause() does: a tight loop over the line the server
        // writes keeps stealing it from the server's core and halves its copy rate.
        for (let j = 0; j < POLL_BACKOFF; j++) spin = (spin + j) | 0;
      }
    } while (performance.now() < deadline);
    this.#spinSink = spin;
    return false;
  }

  /**
   * Marks the op at `index` cancelled. If the server has not started it, it completes as
   * USER_ABORT; if it has, the op finishes normally. Returns false for an index not outstanding.
   * Throws ERR_INVALID_ARGUMENT for an index that is not an integer in 0..65535, ERR_INVALID_STATE when released.
   */
  cancel(index: number): boolean {
    this.#live();
    if (!Number.isInteger(index) || index < 0 || index > RING_INDEX_MASK) {
      throw new InvalidArgumentError(`index ${describe(index)} must be a ring index in 0..${RING_INDEX_MASK}`, { argument: 'index' });
    }
    const distance = (index - (this.#gathered & RING_INDEX_MASK)) & RING_INDEX_MASK;
    if (distance >= this.outstanding) return false;
    const slot = (this.#gathered + distance) & this.#mask;
    Atomics.or(this.#u32, (this.#descs + slot * DESC_SIZE + 4) >> 2, DESC_FLAG.CANCELLED);
    return true;
  }

  #tail(): number {
    return Atomics.load(this.#u32, (this.ctrl + CTRL.TAIL) >> 2);
  }

  // ---- control path (used by the channel that owns the server)

  /** Asks the server to stop after its current op. ERR_INVALID_STATE when released. */
  requestStop(): void {
    this.#live();
    Atomics.store(this.#i32, (this.ctrl + CTRL.STATE) >> 2, STATE.STOP);
    this.#ring();
  }

  /** Whether the server acknowledged a stop. */
  get serverStopped(): boolean {
    return Atomics.load(this.#i32, (this.ctrl + CTRL.STATE) >> 2) === STATE.STOPPED;
  }

  /** threadId of the worker that last entered the server loop for this ring (0 if none). */
  get serverThreadId(): number {
    return Atomics.load(this.#i32, (this.ctrl + CTRL.WORKER) >> 2);
  }

  /** Ops completed by servers of this ring since it was created. */
  get served(): number {
    return Atomics.load(this.#u32, (this.ctrl + CTRL.SERVED) >> 2);
  }

  /**
   * After the server is gone (stopped or dead): completes every op it had not completed.
   * Ops it finished but had not yet published keep their status; the first unfinished one
   * gets `current` (with the bytes it had published), the rest `rest`; `includeUnsubmitted`
   * extends this to ops enqueued but never submitted. Returns how many ops got an error status.
   */
  completeAbandoned(current: StatusCode, rest: StatusCode, includeUnsubmitted: boolean): number {
    this.#live();
    if (this.serverActive) throw new InvalidStateError('a server still holds the ring: its completions are its own', { argument: 'ring' });
    let tail = this.#tail();
    const end = includeUnsubmitted ? this.#enqueued : this.#submitted;
    let count = 0;
    while (tail !== end) {
      const c = (this.#comps + (tail & this.#mask) * COMP_SIZE) >> 2;
      if (this.#u32[c] === STATUS_PENDING) {
        const status = count === 0 ? current : rest;
        if (status === Status.FAULT) this.#u32[c + 2] = this.#faultAddressOf(tail, this.#u32[c + 1]!);
        else this.#u32[c + 1] = 0;
        this.#u32[c] = status;
        count++;
      }
      tail = (tail + 1) >>> 0;
    }
    if (includeUnsubmitted) {
      this.#stats.submitted += (this.#enqueued - this.#submitted) >>> 0;
      this.#submitted = this.#enqueued;
      Atomics.store(this.#i32, (this.ctrl + CTRL.HEAD) >> 2, this.#submitted | 0);
    }
    Atomics.store(this.#u32, (this.ctrl + CTRL.TAIL) >> 2, tail);
    Atomics.notify(this.#i32, (this.ctrl + CTRL.TAIL) >> 2);
    return count;
  }

  // Where an op that published `done` bytes would have continued: the next destination byte.
  #faultAddressOf(counter: number, done: number): number {
    const w = (this.#descs + (counter & this.#mask) * DESC_SIZE) >> 2;
    const op = this.#u32[w]!;
    if (op === OP.COPY_TABLE) {
      let left = done;
      const table = this.#u32[w + 3]!;
      for (let i = 0; i < this.#u32[w + 5]!; i++) {
        const e = (table + i * 16) >> 2;
        const len = this.#u32[e + 2]!;
        if (left < len) return this.#u32[e]! + left;
        left -= len;
      }
      return 0;
    }
    return op === OP.COPY_SG ? 0 : this.#u32[w + 2]! + done;
  }

  /** Puts the server state back to RUN (for a new server after a death). ERR_INVALID_STATE when released. */
  resumeServing(): void {
    this.#live();
    Atomics.store(this.#i32, (this.ctrl + CTRL.STATE) >> 2, STATE.RUN);
  }

  /** Marks the ring stopped: enqueue throws ERR_ENGINE_STOPPED until reset(). ERR_INVALID_STATE when released. */
  markStopped(): void {
    this.#live();
    this.#stopped = true;
  }

  // ---- the one-consumer claim (the control block's CLAIM word)

  /** True while a server holds the ring (it claimed it and has not stopped; or died holding it). */
  get serverActive(): boolean {
    return (Atomics.load(this.#u32, (this.ctrl + CTRL.CLAIM) >> 2) & 1) !== 0;
  }

  /**
   * Reserves the ring for one server: returns the token to give its serve task ({ kind: 'serve',
   * ctrl, token }); every other serve task then finds the ring busy. Replaces an earlier
   * reservation no server took up (a task that never ran can no longer claim it). Throws
   * ERR_RING_BUSY while a server holds the ring, ERR_INVALID_STATE when released.
   */
  reserveServer(): number {
    this.#live();
    const claim = (this.ctrl + CTRL.CLAIM) >> 2;
    const current = Atomics.load(this.#u32, claim);
    const token = freshToken();
    if ((current & 1) !== 0 || Atomics.compareExchange(this.#u32, claim, current, token) !== current) {
      throw new RingBusyError(`the ring at ${this.ctrl} already has a server`, { ctrl: this.ctrl });
    }
    return token;
  }

  /**
   * Withdraws the reservation `token` if its server has not claimed the ring yet (it then finds
   * the ring busy and leaves it alone); returns false when the server holds the ring.
   */
  revokeServer(token: number): boolean {
    this.#live();
    return Atomics.compareExchange(this.#u32, (this.ctrl + CTRL.CLAIM) >> 2, token, freshToken()) === token;
  }

  /** True while the server reserved with `token` holds the ring. */
  serverHolds(token: number): boolean {
    return Atomics.load(this.#u32, (this.ctrl + CTRL.CLAIM) >> 2) === ((token | 1) >>> 0);
  }

  /** After the thread of the server reserved with `token` is known dead: frees its claim. */
  releaseDeadServer(token: number): void {
    this.#live();
    Atomics.compareExchange(this.#u32, (this.ctrl + CTRL.CLAIM) >> 2, (token | 1) >>> 0, token);
  }

  /** Resolves once the server reserved with `token` no longer holds the ring. */
  async serverReleased(token: number): Promise<void> {
    const claim = (this.ctrl + CTRL.CLAIM) >> 2;
    for (;;) {
      if (this.#released || !this.serverHolds(token)) return;
      const wait = Atomics.waitAsync(this.#i32, claim, (token | 1) | 0);
      if (wait.async) await wait.value;
    }
  }

  /** True from markStopped() (a channel's stop) until reset(): enqueue throws ERR_ENGINE_STOPPED meanwhile. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Resets indices to 0 after a stop (dmadev start()). Throws ERR_INVALID_STATE while
   * completions remain that the caller has not gathered: they would be lost.
   */
  reset(): void {
    this.#live();
    if (this.outstanding !== 0) {
      throw new InvalidStateError(`${this.outstanding} completions have not been gathered; call completedStatus() before start()`, { outstanding: this.outstanding });
    }
    const w = (field: number, value: number) => Atomics.store(this.#i32, (this.ctrl + field) >> 2, value);
    w(CTRL.HEAD, 0);
    w(CTRL.TAIL, 0);
    w(CTRL.STATE, STATE.RUN);
    this.#enqueued = this.#submitted = this.#gathered = 0;
    this.#stopped = false;
  }

  /**
   * Returns the ring's memory to the scratch area (later calls do nothing) and unpins the tables
   * of ops not gathered. The control block is cleared first, so a serve task that arrives later
   * refuses it. Throws ERR_INVALID_STATE (ring unchanged) while a server holds the ring:
   * requestStop() and wait for it.
   */
  release(): void {
    if (this.#released) return;
    if (this.serverActive) throw new InvalidStateError('a server still holds the ring: stop it before releasing the ring', { argument: 'ring' });
    for (let counter = this.#gathered; counter !== this.#enqueued; counter = (counter + 1) >>> 0) this.#unpin(counter);
    this.#released = true;
    this.fabric.bytes.fill(0, this.ctrl, this.ctrl + CONTROL_SIZE);
    Atomics.notify(this.#i32, (this.ctrl + CTRL.TAIL) >> 2);
    this.fabric.scratch.free(this.ctrl);
  }

  #unpin(counter: number): void {
    const slot = counter & this.#mask;
    const reads = this.#pinned[slot];
    if (reads === undefined) return;
    this.#pinned[slot] = undefined;
    if (Array.isArray(reads)) for (const t of reads) unpinTable(t);
    else unpinTable(reads as SegmentTable);
  }

  #live(): void {
    if (this.#released) throw releasedError();
  }
}

function releasedError(): InvalidStateError {
  return new InvalidStateError('the ring was released', { argument: 'ring' });
}

function checkMax(max: unknown): void {
  if (!isU32(max)) throw new InvalidArgumentError(`max ${describe(max)} must be an integer in 0..2^32-1`, { argument: 'max' });
}

/** Validated ring options, each read once. Throws ERR_INVALID_ARGUMENT naming the option. */
export function ringOptions(options: unknown): { readonly slots: number; readonly spin: number } {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object', { argument: 'options' });
  const { slots = 1024, spin = 200000 } = readInput('options', () => ({ slots: (options as RingOptions).slots, spin: (options as RingOptions).spin }));
  if (!Number.isInteger(slots) || slots < 2 || slots > 65536 || (slots & (slots - 1)) !== 0) {
    throw new InvalidArgumentError(`slots ${describe(slots)} must be a power of two from 2 to 65536`, { argument: 'slots' });
  }
  if (!isU32(spin)) throw new InvalidArgumentError(`spin ${describe(spin)} must be an integer in 0..2^32-1`, { argument: 'spin' });
  return { slots, spin };
}
