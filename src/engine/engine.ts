// The copy engine's everyday face: promises over DMA channels. Small copies run inline
// (a thread hop costs more than the copy), large ones are split across workers, the rest
// go through a ring to a worker; the caller sees only the speed.
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import { AbortError, CopyError, EngineClosedError, InvalidArgumentError, WorkerDiedError } from '../errors.js';
import type { Fabric } from '../fabric/fabric.js';
import { SgTable } from '../fabric/sg-table.js';
import { parseSize, type Size } from '../size.js';
import { DmaChannel } from './channel.js';
import { createWorkerPool } from './pool.js';
import { NO_SPACE, RING_INDEX_MASK, type Completion, type Ring } from './ring.js';
import { Status, statusName } from './status.js';

export interface EngineOptions {
  /** Worker threads, one ring each (default: one less than the CPUs, at least 1, so a spinning worker never starves the caller). */
  readonly workers?: number;
  /** Ring entries per worker (default 1024). */
  readonly slots?: number;
  /** Doorbell polls before a worker sleeps (default 200000, about 100 µs). */
  readonly spin?: number;
  /** Copies, fills, CRCs and SG lists shorter than this run inline in the caller's thread (default 64KiB, where a ring hop and an inline copy cost the same on the project machine; 0 = never). */
  readonly inlineBelow?: Size;
  /** Copies at least this long are split across all workers (default 2MiB). */
  readonly splitAbove?: Size;
  /** A pool loading `dma-bounce/worker` with at least `workers` threads free; default: a private one. */
  readonly pool?: Piscina;
  /**
   * While ops are in flight, poll for completions this many µs before sleeping in
   * Atomics.waitAsync, whose wake-up costs tens of µs (default 20; 0 never polls). Polling blocks the caller, so keep it short.
   */
  readonly pollMicros?: number;
}

export interface OpOptions {
  /** Cancels the op if no worker has started it yet (it then rejects with ERR_ABORTED). */
  readonly signal?: AbortSignal;
  /**
   * Where the op runs: 'auto' (default) in the caller's thread below `inlineBelow`, on a worker
   * otherwise; 'worker' on a worker whatever its size, the doorbell rung at once, for a caller
   * with its own work to do meanwhile (the DMA mapper taking the next bounce slots while a worker
   * copies into the ones it took); 'caller' in the caller's thread whatever its size, for a
   * caller that would only wait otherwise (the mapper's last batch while a worker copies the rest).
   */
  readonly placement?: Placement;
}

export type Placement = 'auto' | 'worker' | 'caller';
const PLACEMENTS: readonly unknown[] = ['auto', 'worker', 'caller'];

export interface EngineStats {
  readonly submitted: number;
  readonly completed: number;
  readonly errors: number;
  /** Ops done inline in the caller's thread. */
  readonly inline: number;
  /** Copies split across workers. */
  readonly split: number;
  /** Worker deaths recovered from. */
  readonly workerDeaths: number;
}

type Segment = readonly [dst: number, src: number, len: number];

interface PendingOp {
  readonly enqueue: (ring: Ring) => number;
  readonly resolve: (value: number) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  /** Ring the doorbell at once rather than at the end of the tick (placement 'worker': the caller goes on working). */
  readonly now: boolean;
  readonly value: (c: Completion) => number;
  table?: SgTable;
  lane?: Lane;
  index?: number;
  onAbort?: () => void;
}

interface Lane {
  readonly channel: DmaChannel;
  readonly ring: Ring;
  readonly pending: (PendingOp | undefined)[];
  readonly backlog: PendingOp[];
  pumping: boolean;
  submitScheduled: boolean;
}

/** Tables for segment arrays kept by each engine, and their entries (16 KiB of scratch memory in all). */
const SPARE_TABLES = 4;
const SPARE_TABLE_ENTRIES = 256;

const DEFAULTS = { workers: Math.max(1, availableParallelism() - 1), slots: 1024, spin: 200000, inlineBelow: 65536, splitAbove: 2 * 2 ** 20, pollMicros: 20 } as const;
const SPLIT_GRANULE = 4096;

export class CopyEngine {
  readonly fabric: Fabric;
  readonly #lanes: Lane[];
  readonly #pool: Piscina;
  readonly #ownsPool: boolean;
  readonly #inlineBelow: number;
  // Tables for segment arrays, allocated with the engine (a fixed footprint, as the rings are) and
  // reused: taking scratch memory and a typed-array view per op cost about a microsecond, as much
  // as a ring hop. Longer arrays, and ops beyond SPARE_TABLES in flight, get a table of their own.
  readonly #spareTables: SgTable[];
  readonly #splitAbove: number;
  readonly #pollMicros: number;
  readonly #stats = { inline: 0, split: 0, completed: 0, errors: 0, submitted: 0 };
  #next = 0;
  #outstanding = 0;
  #idle: (() => void) | undefined;
  #closed = false;

  /** Starts `workers` worker threads, each serving its own ring. Throws ERR_INVALID_ARGUMENT / ERR_INVALID_SIZE for bad options. */
  static create(fabric: Fabric, options: EngineOptions = {}): CopyEngine {
    return new CopyEngine(fabric, options);
  }

  private constructor(fabric: Fabric, options: EngineOptions) {
    const workers = options.workers ?? DEFAULTS.workers;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new InvalidArgumentError('workers must be an integer in 1..64', { argument: 'workers' });
    this.fabric = fabric;
    this.#inlineBelow = parseSize(options.inlineBelow ?? DEFAULTS.inlineBelow, 'inlineBelow');
    this.#splitAbove = parseSize(options.splitAbove ?? DEFAULTS.splitAbove, 'splitAbove');
    if (this.#splitAbove < SPLIT_GRANULE) throw new InvalidArgumentError(`splitAbove must be at least ${SPLIT_GRANULE}`, { argument: 'splitAbove' });
    this.#pollMicros = options.pollMicros ?? DEFAULTS.pollMicros;
    if (!(this.#pollMicros >= 0 && this.#pollMicros <= 10_000)) throw new InvalidArgumentError('pollMicros must be a number in 0..10000', { argument: 'pollMicros' });
    this.#spareTables = [];
    try {
      while (this.#spareTables.length < SPARE_TABLES) this.#spareTables.push(new SgTable(fabric, SPARE_TABLE_ENTRIES));
    } catch (error) {
      for (const table of this.#spareTables) table.release();
      throw error;
    }
    this.#ownsPool = options.pool === undefined;
    this.#pool = options.pool ?? createWorkerPool(fabric, workers);
    const slots = options.slots ?? DEFAULTS.slots;
    const spin = options.spin ?? DEFAULTS.spin;
    this.#lanes = [];
    for (let i = 0; i < workers; i++) {
      const channel = DmaChannel.open(fabric, { pool: this.#pool, slots, spin });
      this.#lanes.push({ channel, ring: channel.ring, pending: new Array(channel.ring.slots), backlog: [], pumping: false, submitScheduled: false });
    }
  }

  /** The channels behind the engine (for statistics and fault injection; do not drive their rings). */
  get channels(): readonly DmaChannel[] {
    return this.#lanes.map((l) => l.channel);
  }

  /**
   * memmove(dst, src, len) over fabric offsets; resolves with the bytes copied. Rejects with
   * ERR_COPY_FAILED (status INVALID_SRC / INVALID_DST, faultAddress) for a range outside the
   * fabric's data area, ERR_ABORTED when cancelled, ERR_WORKER_DIED when its worker died.
   */
  copy(dst: number, src: number, len: number, options?: OpOptions): Promise<number> {
    const error = this.#checkCommon(options) ?? (isU32(dst) && isU32(src) && isU32(len) ? undefined : notU32({ dst, src, len }));
    if (error) return Promise.reject(error);
    if (this.#inline(len, options)) {
      const fault = this.#badRange(src, len, Status.INVALID_SRC) ?? this.#badRange(dst, len, Status.INVALID_DST);
      if (fault) return Promise.reject(fault);
      this.fabric.kernels.raw.copy(dst, src, len);
      this.#stats.inline++;
      return Promise.resolve(len);
    }
    const overlaps = dst < src + len && src < dst + len;
    if (len >= this.#splitAbove && this.#lanes.length > 1 && !overlaps) return this.#splitCopy(dst, src, len, options);
    return this.#submit((ring) => ring.enqueueCopy(dst, src, len), (c) => c.bytesCompleted, options);
  }

  /**
   * Copies each [dst, src, len] segment in order (memmove per segment) as one op; resolves
   * with the total bytes. An SgTable is used in place; an array is copied into a table in the
   * scratch area for the op's lifetime. Rejects as copy() does, naming the first bad segment's address.
   */
  copySg(segments: readonly Segment[] | SgTable, options?: OpOptions): Promise<number> {
    const error = this.#checkCommon(options);
    if (error) return Promise.reject(error);
    let table: SgTable;
    let owned: SgTable | undefined;
    if (segments instanceof SgTable) {
      if (segments.fabric !== this.fabric) return Promise.reject(new InvalidArgumentError("the table lives in another fabric's scratch area", { argument: 'segments' }));
      table = segments;
      if (this.#inline(table.totalLength, options)) {
        // A table with a bad entry goes to the ring, which reports its exact status; a good one
        // (checked at push) is copied here, by the kernel that re-checks each entry as it goes.
        if (table.inBounds) {
          this.#stats.inline++;
          try {
            return Promise.resolve(this.fabric.kernels.copySg(table));
          } catch (err) {
            return Promise.reject(err);
          }
        }
      }
    } else if (Array.isArray(segments)) {
      if (segments.length === 0) return Promise.resolve(0);
      const inline = options?.placement === 'worker' ? undefined : this.#copySgInline(segments, options?.placement === 'caller');
      if (inline) return inline;
      try {
        owned = table = this.#takeTable(segments.length);
        for (const segment of segments) {
          if (!Array.isArray(segment) || segment.length !== 3) throw new InvalidArgumentError('each segment is [dst, src, len]', { argument: 'segments' });
          table.push(segment[0], segment[1], segment[2]);
        }
      } catch (err) {
        if (owned) this.#returnTable(owned);
        return Promise.reject(err);
      }
    } else {
      return Promise.reject(new InvalidArgumentError('segments must be an array of [dst, src, len] or an SgTable', { argument: 'segments' }));
    }
    const promise = this.#submit((ring) => ring.enqueueCopyTable(table), (c) => c.bytesCompleted, options, owned);
    return promise;
  }

  // Segment arrays totalling less than inlineBelow (or any, with placement 'caller') are copied in
  // the caller's thread, every segment checked first; undefined when the list is too long or
  // malformed (the ring path then reports it).
  #copySgInline(segments: readonly Segment[], anySize: boolean): Promise<number> | undefined {
    let total = 0;
    for (const segment of segments) {
      if (!Array.isArray(segment) || segment.length !== 3 || !isU32(segment[0]) || !isU32(segment[1]) || !isU32(segment[2])) return undefined;
      total += segment[2];
      if (total >= this.#inlineBelow && !anySize) return undefined;
    }
    for (const [dst, src, len] of segments) {
      const fault = this.#badRange(src, len, Status.INVALID_SRC) ?? this.#badRange(dst, len, Status.INVALID_DST);
      if (fault) return Promise.reject(fault);
    }
    const raw = this.fabric.kernels.raw;
    for (const [dst, src, len] of segments) raw.copy(dst, src, len);
    this.#stats.inline++;
    return Promise.resolve(total);
  }

  /** Fills len bytes at dst with the 8-byte little-endian pattern; resolves with len. Rejects as copy() does. */
  fill(dst: number, pattern: bigint, len: number, options?: OpOptions): Promise<number> {
    const error = this.#checkCommon(options) ?? (isU32(dst) && isU32(len) ? undefined : notU32({ dst, len })) ?? (typeof pattern === 'bigint' ? undefined : new InvalidArgumentError('pattern must be a bigint', { argument: 'pattern' }));
    if (error) return Promise.reject(error);
    if (this.#inline(len, options)) {
      const fault = this.#badRange(dst, len, Status.INVALID_DST);
      if (fault) return Promise.reject(fault);
      this.fabric.kernels.raw.fill(dst, BigInt.asUintN(64, pattern), len);
      this.#stats.inline++;
      return Promise.resolve(len);
    }
    return this.#submit((ring) => ring.enqueueFill(dst, pattern, len), (c) => c.bytesCompleted, options);
  }

  /** Copies src → dst and resolves with the CRC32C of the source bytes (chained from `seed`). */
  copyCrc32c(dst: number, src: number, len: number, options?: OpOptions & { readonly seed?: number }): Promise<number> {
    const seed = options?.seed ?? 0;
    const error = this.#checkCommon(options) ?? (isU32(dst) && isU32(src) && isU32(len) && isU32(seed) ? undefined : notU32({ dst, src, len, seed }));
    if (error) return Promise.reject(error);
    if (this.#inline(len, options)) {
      const fault = this.#badRange(src, len, Status.INVALID_SRC) ?? this.#badRange(dst, len, Status.INVALID_DST);
      if (fault) return Promise.reject(fault);
      this.#stats.inline++;
      return Promise.resolve(this.fabric.kernels.raw.copyCrc32c(this.fabric.kernels.crcTable, dst, src, len, seed) >>> 0);
    }
    return this.#submit((ring) => ring.enqueueCopyCrc32c(dst, src, len, seed), (c) => c.result, options);
  }

  stats(): EngineStats {
    return {
      submitted: this.#stats.submitted,
      completed: this.#stats.completed,
      errors: this.#stats.errors,
      inline: this.#stats.inline,
      split: this.#stats.split,
      workerDeaths: this.#lanes.reduce((n, l) => n + l.channel.deaths, 0),
    };
  }

  /**
   * Waits for every op already issued to settle, then stops the workers and frees the rings.
   * Later calls reject with ERR_ENGINE_CLOSED. Leaves no thread or handle behind.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#outstanding > 0) await new Promise<void>((resolve) => { this.#idle = resolve; });
    for (const lane of this.#lanes) await lane.channel.close();
    for (const table of this.#spareTables.splice(0)) table.release();
    if (this.#ownsPool) await this.#pool.destroy();
  }

  // ---- internals

  #takeTable(segments: number): SgTable {
    return (segments <= SPARE_TABLE_ENTRIES ? this.#spareTables.pop() : undefined) ?? new SgTable(this.fabric, segments);
  }

  #returnTable(table: SgTable): void {
    if (!this.#closed && table.capacity === SPARE_TABLE_ENTRIES && this.#spareTables.length < SPARE_TABLES) {
      table.clear();
      this.#spareTables.push(table);
    } else {
      table.release();
    }
  }

  #splitCopy(dst: number, src: number, len: number, options?: OpOptions): Promise<number> {
    const lanes = this.#lanes.length;
    const chunk = Math.ceil(len / lanes / SPLIT_GRANULE) * SPLIT_GRANULE;
    const parts: Promise<number>[] = [];
    for (let at = 0, lane = 0; at < len; at += chunk, lane++) {
      const n = Math.min(chunk, len - at);
      parts.push(this.#submit((ring) => ring.enqueueCopy(dst + at, src + at, n), (c) => c.bytesCompleted, options, undefined, this.#lanes[lane % lanes]));
    }
    this.#stats.split++;
    return Promise.all(parts).then((done) => done.reduce((a, b) => a + b, 0));
  }

  #submit(enqueue: (ring: Ring) => number, value: (c: Completion) => number, options?: OpOptions, table?: SgTable, lane = this.#pickLane()): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const op: PendingOp = { enqueue, resolve, reject, value, signal: options?.signal, now: options?.placement === 'worker', lane };
      if (table) op.table = table;
      this.#outstanding++;
      if (op.signal) {
        op.onAbort = () => this.#abort(op);
        op.signal.addEventListener('abort', op.onAbort, { once: true });
      }
      if (lane.backlog.length > 0 || !this.#tryEnqueue(lane, op)) lane.backlog.push(op);
    });
  }

  #pickLane(): Lane {
    // Round robin, skipping a lane whose queue is much deeper than the next one's.
    const lanes = this.#lanes;
    let best = lanes[this.#next++ % lanes.length]!;
    const other = lanes[this.#next % lanes.length]!;
    if (other.ring.outstanding + other.backlog.length + 8 < best.ring.outstanding + best.backlog.length) best = other;
    return best;
  }

  // Returns false when the ring is full (the op stays with the caller); true when the op was
  // enqueued or settled with the error enqueueing threw (a stopped ring, a bad SgTable).
  #tryEnqueue(lane: Lane, op: PendingOp): boolean {
    let index: number;
    try {
      index = op.enqueue(lane.ring);
    } catch (error) {
      this.#finish(op, error as Error);
      return true;
    }
    if (index === NO_SPACE) return false;
    op.index = index;
    lane.pending[index & (lane.ring.slots - 1)] = op;
    this.#stats.submitted++;
    if (op.now) lane.ring.submit();
    // One doorbell per tick for everything enqueued in it; the pump starts after it, since
    // the pump may poll (block) and must not do so before the ops are submitted.
    if (!lane.submitScheduled) {
      lane.submitScheduled = true;
      queueMicrotask(() => {
        lane.submitScheduled = false;
        lane.ring.submit();
        if (!lane.pumping) void this.#pump(lane);
      });
    }
    return true;
  }

  async #pump(lane: Lane): Promise<void> {
    lane.pumping = true;
    const mask = lane.ring.slots - 1;
    try {
      while (lane.ring.outstanding > 0) {
        const { completions } = lane.ring.completedStatus();
        for (const c of completions) {
          const op = lane.pending[c.index & mask];
          lane.pending[c.index & mask] = undefined;
          if (op) this.#settle(op, c);
        }
        while (lane.backlog.length > 0 && this.#tryEnqueue(lane, lane.backlog[0]!)) lane.backlog.shift();
        lane.ring.submit();
        if (completions.length === 0 && !lane.ring.pollCompletion(this.#pollMicros)) await lane.ring.waitForCompletion();
      }
    } finally {
      lane.pumping = false;
    }
  }

  #settle(op: PendingOp, c: Completion): void {
    if (c.status === Status.SUCCESS) {
      this.#stats.completed++;
      this.#finish(op, undefined, op.value(c));
    } else {
      this.#stats.errors++;
      this.#finish(op, this.#errorFor(op, c));
    }
  }

  // Every op ends here exactly once: listener and table released, promise settled, and
  // close() woken when it was the last.
  #finish(op: PendingOp, error: Error | undefined, value = 0): void {
    if (op.onAbort) op.signal!.removeEventListener('abort', op.onAbort);
    if (op.table) this.#returnTable(op.table);
    if (error) op.reject(error);
    else op.resolve(value);
    if (--this.#outstanding === 0 && this.#idle) this.#idle();
  }

  #errorFor(op: PendingOp, c: Completion): Error {
    const fields = { status: c.statusName, bytesCompleted: c.bytesCompleted, faultAddress: c.faultAddress };
    if (c.status === Status.USER_ABORT && op.signal?.aborted) return new AbortError('the operation was aborted before a worker started it', { ...fields, cause: op.signal.reason });
    if (c.status === Status.FAULT || c.status === Status.NOT_ATTEMPTED) {
      return new WorkerDiedError(`the worker serving this op died (${c.statusName}, ${c.bytesCompleted} bytes completed)`, fields);
    }
    return new CopyError(`copy failed: ${c.statusName}${c.faultAddress ? ` at fabric offset ${c.faultAddress}` : ''}`, fields);
  }

  #abort(op: PendingOp): void {
    const lane = op.lane!;
    const at = lane.backlog.indexOf(op);
    if (at >= 0) {
      // Never reached a ring: settle it now.
      lane.backlog.splice(at, 1);
      this.#finish(op, new AbortError('the operation was aborted before it was queued', { cause: op.signal?.reason }));
    } else if (op.index !== undefined) {
      lane.ring.cancel(op.index & RING_INDEX_MASK);
    }
  }

  #checkCommon(options: OpOptions | undefined): Error | undefined {
    if (this.#closed) return new EngineClosedError('the copy engine is closed');
    if (options !== undefined && (options === null || typeof options !== 'object')) return new InvalidArgumentError('options must be an object', { argument: 'options' });
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) return new InvalidArgumentError('signal must be an AbortSignal', { argument: 'signal' });
    if (signal?.aborted) return new AbortError('the operation was aborted before it started', { cause: signal.reason });
    if (options?.placement !== undefined && !PLACEMENTS.includes(options.placement)) return new InvalidArgumentError(`placement must be 'auto', 'worker' or 'caller'`, { argument: 'placement' });
    return undefined;
  }

  // Whether an op of `len` bytes runs in the caller's thread.
  #inline(len: number, options: OpOptions | undefined): boolean {
    const placement = options?.placement;
    return placement === 'caller' || (placement !== 'worker' && len < this.#inlineBelow);
  }

  // The same check the ring server makes, for the inline path.
  #badRange(addr: number, len: number, status: number): Error | undefined {
    if (addr >= this.fabric.dataStart && addr <= this.fabric.size && len <= this.fabric.size - addr) return undefined;
    return new CopyError(`copy failed: ${statusName(status)} at fabric offset ${addr}`, { status: statusName(status), bytesCompleted: 0, faultAddress: addr });
  }
}

function isU32(value: unknown): value is number {
  return typeof value === 'number' && (value >>> 0) === value;
}

// The error for the first argument that is not a u32 (off the hot path: only on failure).
function notU32(values: Record<string, unknown>): Error | undefined {
  for (const [name, value] of Object.entries(values)) {
    if (!isU32(value)) return new InvalidArgumentError(`${name} ${String(value)} is not an integer in 0..2^32-1`, { argument: name });
  }
  return undefined;
}
