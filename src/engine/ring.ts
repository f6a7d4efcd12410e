// The producer side of a submission/completion ring, with DPDK dmadev semantics
// (rte_dma_copy / rte_dma_submit / rte_dma_completed / rte_dma_completed_status). One
// thread produces; the ring server in a worker consumes. Addresses are fabric offsets and
// arguments are in memcpy order (dst, src, len), unlike DPDK's (src, dst, len).
import { EngineStoppedError, InvalidArgumentError, InvalidStateError } from '../errors.js';
import type { Fabric } from '../fabric/fabric.js';
import { SgList, SgTable } from '../fabric/sg-table.js';
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

export interface CompletedResult {
  /** Ops that completed successfully, in order, before the first failure. */
  readonly count: number;
  /** Ring index of the last op reported (unchanged when count is 0). */
  readonly lastIdx: number;
  /** True when gathering stopped at a failed op (it is left for completedStatus). */
  readonly hasError: boolean;
}

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

export interface CompletedStatusResult {
  readonly count: number;
  readonly lastIdx: number;
  readonly completions: Completion[];
}

export interface RingStats {
  readonly submitted: number;
  readonly completed: number;
  readonly errors: number;
}

export interface RingOptions {
  /** Entries, a power of two from 2 to 65536 (default 1024). */
  readonly slots?: number;
  /** Polls of the doorbell before the server sleeps (default 200000, about 100 µs on the project machine). */
  readonly spin?: number;
}

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
  // Keeps the back-off loop's result observable so the compiler cannot drop the loop.
  #spinSink = 0;

  /** Allocates the ring in the fabric's scratch area (ERR_ALLOC_EXHAUSTED when it has no room). */
  constructor(fabric: Fabric, options: RingOptions = {}) {
    const slots = options.slots ?? 1024;
    const spin = options.spin ?? 200000;
    if (!Number.isInteger(slots) || slots < 2 || slots > 65536 || (slots & (slots - 1)) !== 0) {
      throw new InvalidArgumentError(`slots ${slots} must be a power of two from 2 to 65536`, { argument: 'slots' });
    }
    if ((spin >>> 0) !== spin) throw new InvalidArgumentError(`spin ${spin} must be a u32`, { argument: 'spin' });
    this.fabric = fabric;
    this.slots = slots;
    this.#mask = slots - 1;
    const bytes = CONTROL_SIZE + slots * (DESC_SIZE + COMP_SIZE);
    this.ctrl = fabric.scratch.allocate(bytes, 64);
    this.#descs = this.ctrl + CONTROL_SIZE;
    this.#comps = this.#descs + slots * DESC_SIZE;
    this.#i32 = new Int32Array(fabric.buffer);
    this.#u32 = new Uint32Array(fabric.buffer);
    fabric.bytes.fill(0, this.ctrl, this.ctrl + bytes);
    const w = (field: number, value: number) => { this.#u32[(this.ctrl + field) >> 2] = value; };
    const kernels = fabric.kernels;
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

  /** Enqueues memmove(dst, src, len). Returns the op's 16-bit ring index, or NO_SPACE. */
  enqueueCopy(dst: number, src: number, len: number, flags = 0): number {
    return this.#enqueue(OP.COPY, flags, dst, src, len, 0, 0);
  }

  /** Enqueues a copy of the src list into the dst list (segmented differently, equal totals). */
  enqueueCopySg(dst: SgList, src: SgList, flags = 0): number {
    if (!(dst instanceof SgList) || !(src instanceof SgList)) throw new InvalidArgumentError('dst and src must be SgLists', { argument: 'dst' });
    if (dst.fabric !== this.fabric || src.fabric !== this.fabric) throw new InvalidArgumentError("a list lives in another fabric's scratch area", { argument: dst.fabric !== this.fabric ? 'dst' : 'src' });
    return this.#enqueue(OP.COPY_SG, flags, dst.offset, src.offset, 0, dst.count, src.count);
  }

  /** Enqueues every (dst, src, len) entry of an SgTable as one op (bytes completed are tracked per entry). */
  enqueueCopyTable(table: SgTable, flags = 0): number {
    if (!(table instanceof SgTable)) throw new InvalidArgumentError('table must be an SgTable', { argument: 'table' });
    if (table.fabric !== this.fabric) throw new InvalidArgumentError("table lives in another fabric's scratch area", { argument: 'table' });
    return this.#enqueue(OP.COPY_TABLE, flags, 0, table.offset, 0, table.count, 0);
  }

  /** Enqueues a fill of len bytes at dst with the 8-byte little-endian pattern. */
  enqueueFill(dst: number, pattern: bigint, len: number, flags = 0): number {
    if (typeof pattern !== 'bigint') throw new InvalidArgumentError('pattern must be a bigint', { argument: 'pattern' });
    const p = BigInt.asUintN(64, pattern);
    return this.#enqueue(OP.FILL, flags, dst, 0, len, Number(p & 0xffffffffn), Number(p >> 32n));
  }

  /** Enqueues a copy that also computes the CRC32C of the source (the completion's `result`). */
  enqueueCopyCrc32c(dst: number, src: number, len: number, seed = 0, flags = 0): number {
    return this.#enqueue(OP.COPY_CRC, flags, dst, src, len, seed, 0);
  }

  #enqueue(op: number, flags: number, dst: number, src: number, len: number, a: number, b: number): number {
    if (this.#stopped) throw new EngineStoppedError('the ring is stopped: start() it before enqueueing');
    if ((dst >>> 0) !== dst || (src >>> 0) !== src || (len >>> 0) !== len || (a >>> 0) !== a || (b >>> 0) !== b || (flags >>> 0) !== flags) {
      throw new InvalidArgumentError('addresses, lengths and flags are integers in 0..2^32-1', { argument: 'descriptor' });
    }
    if (((this.#enqueued - this.#gathered) >>> 0) === this.slots) return NO_SPACE;
    const slot = this.#enqueued & this.#mask;
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

  /** Rings the doorbell: every op enqueued so far becomes visible to the server. */
  submit(): void {
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
   */
  completed(max = this.slots): CompletedResult {
    const tail = this.#tail();
    const u32 = this.#u32;
    let count = 0;
    let hasError = false;
    while (count < max && this.#gathered !== tail) {
      if (u32[(this.#comps + (this.#gathered & this.#mask) * COMP_SIZE) >> 2] !== Status.SUCCESS) {
        hasError = true;
        break;
      }
      this.#gathered = (this.#gathered + 1) >>> 0;
      count++;
    }
    this.#stats.completed += count;
    return { count, lastIdx: this.lastIdx, hasError };
  }

  /** Gathers up to `max` completions, failed or not, with their status and details. */
  completedStatus(max = this.slots): CompletedStatusResult {
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
      if (status === Status.SUCCESS) this.#stats.completed++; else this.#stats.errors++;
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
    return this.slots - ((this.#enqueued - this.#gathered) >>> 0);
  }

  /** Ops enqueued but not yet gathered. */
  get outstanding(): number {
    return (this.#enqueued - this.#gathered) >>> 0;
  }

  /** Ops submitted that the server has not completed yet. */
  get inFlight(): number {
    return (this.#submitted - this.#tail()) >>> 0;
  }

  stats(): RingStats {
    return { ...this.#stats };
  }

  /**
   * Resolves once the server has completed something not yet gathered (at once if it has).
   * Uses Atomics.waitAsync: the caller's thread is never blocked.
   */
  waitForCompletion(): Promise<void> {
    const tail = this.#tail();
    if (tail !== this.#gathered) return Promise.resolve();
    const wait = Atomics.waitAsync(this.#i32, (this.ctrl + CTRL.TAIL) >> 2, tail | 0);
    return wait.async ? wait.value.then(() => undefined) : Promise.resolve();
  }

  /**
   * Busy-polls for up to `micros` µs until the server completes something not yet gathered;
   * returns whether it did. Blocks the calling thread, so keep it short: it trades a little CPU
   * for not paying the Atomics.waitAsync wake-up (tens of µs through the event loop).
   */
  pollCompletion(micros: number): boolean {
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
   */
  cancel(index: number): boolean {
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

  /** Asks the server to stop after its current op. */
  requestStop(): void {
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

  /** Puts the server state back to RUN (for a new server after a death). */
  resumeServing(): void {
    Atomics.store(this.#i32, (this.ctrl + CTRL.STATE) >> 2, STATE.RUN);
  }

  /** Marks the ring stopped: enqueue throws ERR_ENGINE_STOPPED until reset(). */
  markStopped(): void {
    this.#stopped = true;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Resets indices to 0 after a stop (dmadev start()). Throws ERR_INVALID_STATE while
   * completions remain that the caller has not gathered: they would be lost.
   */
  reset(): void {
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

  /** Returns the ring's memory to the scratch area. Only once no server uses it. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.fabric.scratch.free(this.ctrl);
  }
}
