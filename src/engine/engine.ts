// The copy engine's everyday face: promises over DMA channels. Small copies run inline
// (a thread hop costs more than the copy), large ones are split across workers, the rest
// go through a ring to a worker; the caller sees only the speed.
//
// Every op settles exactly once, after the bytes stop changing: a split copy waits for all of
// its parts, an aborted op that a worker already started finishes first. Inputs are read once:
// options and segment arrays are copied into numbers, those are validated, and only they are used.
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import {
  AbortError,
  CopyError,
  DmaBounceError,
  EngineClosedError,
  EngineStoppedError,
  InvalidArgumentError,
  InvalidStateError,
  WorkerDiedError,
  WorkerMismatchError,
  type ErrorFields,
} from '../errors.js';
import { Fabric } from '../fabric/fabric.js';
import { pinTable, SgTable, unpinTable } from '../fabric/sg-table.js';
import { describe, isInstance, isU32, readInput } from '../fabric/input.js';
import { parseSize, type Size } from '../size.js';
import { channelOnRing, channelOptions, type DmaChannel } from './channel.js';
import { createWorkerPool } from './pool.js';
import { NO_SPACE, Ring, RING_INDEX_MASK, type Completion } from './ring.js';
import { Status, statusName } from './status.js';
import { bookRingThreads } from './thread-budget.js';

/** Options of `CopyEngine.create()`; each is read once and checked before anything is taken. */
export interface EngineOptions {
  /** Worker threads, one ring each (default: one less than the CPUs, at least 1, so a spinning worker never starves the caller). */
  readonly workers?: number;
  /** Ring entries per worker (default 1024). */
  readonly slots?: number;
  /** Doorbell polls before a worker sleeps (default 200000, about 100 µs). */
  readonly spin?: number;
  /** Copies, fills, CRCs and SG lists shorter than this run inline in the caller's thread (default 64KiB, where a ring hop and an inline copy cost the same on the project machine; 0 = never; at most 4GiB). */
  readonly inlineBelow?: Size;
  /**
   * Copies at least this long are split across all workers, and a DMA map whose bounced bytes reach
   * it pipelines its copy-in with the workers (default 2MiB; at least 4KiB, at most 4GiB).
   */
  readonly splitAbove?: Size;
  /** A pool loading `dma-bounce/worker` with at least `workers` threads free (one per ring, `concurrentTasksPerWorker` 1); default: a private one. */
  readonly pool?: Piscina;
  /**
   * While ops are in flight, poll for completions this many µs before sleeping in
   * Atomics.waitAsync, whose wake-up costs tens of µs (default 20; 0 never polls; at most 10000). Polling blocks the caller, so keep it short.
   */
  readonly pollMicros?: number;
}

/** Options of one engine op; each is read once. */
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

/** Where an op runs (see OpOptions.placement). */
export type Placement = 'auto' | 'worker' | 'caller';
const PLACEMENTS: readonly unknown[] = ['auto', 'worker', 'caller'];

/** The engine's counters (`engine.stats()`). */
export interface EngineStats {
  readonly submitted: number;
  /** Ops a worker completed successfully. */
  readonly completed: number;
  /** Ops that failed on a worker (bad range, abort, worker death, stopped channel). */
  readonly errors: number;
  /** Ops done inline in the caller's thread. */
  readonly inline: number;
  /** Copies split across workers. */
  readonly split: number;
  /** Worker deaths recovered from. */
  readonly workerDeaths: number;
}

type Segment = readonly [dst: number, src: number, len: number];

/** The options of one op, each read once. */
interface OpConfig {
  readonly signal: AbortSignal | undefined;
  readonly placement: Placement;
  readonly seed: number;
}

interface PendingOp {
  readonly enqueue: (ring: Ring) => number;
  readonly resolve: (value: number) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  /** Ring the doorbell at once rather than at the end of the tick (placement 'worker': the caller goes on working). */
  readonly now: boolean;
  readonly value: (c: Completion) => number;
  readonly lane: Lane;
  /** A table the engine took for the op (returned when it settles). */
  owned?: SgTable;
  /** The caller's table, pinned while the op may read it. */
  pinned?: SgTable;
  index?: number;
  settled?: boolean;
}

interface Lane {
  readonly channel: DmaChannel;
  readonly ring: Ring;
  readonly pending: (PendingOp | undefined)[];
  readonly backlog: PendingOp[];
  pumping: boolean;
  submitScheduled: boolean;
}

// The ops of one AbortSignal, and the one listener the engine keeps on it while any is pending.
interface SignalWatch {
  readonly ops: Set<PendingOp>;
  readonly listener: () => void;
}

/** Tables for segment arrays kept by each engine, and their entries (16 KiB of scratch memory in all). */
const SPARE_TABLES = 4;
const SPARE_TABLE_ENTRIES = 256;
/** The most segments one copySg() takes (an SgTable's capacity limit). */
const MAX_SEGMENTS = 2 ** 24;

const DEFAULTS = { workers: Math.max(1, availableParallelism() - 1), inlineBelow: 65536, splitAbove: 2 * 2 ** 20, pollMicros: 20 } as const;
const SPLIT_GRANULE = 4096;
/** inlineBelow and splitAbove compare with u32 lengths: anything from 4 GiB on means "every op" / "none". */
const MAX_THRESHOLD = 2 ** 32;
const MAX_POLL_MICROS = 10_000;
/** Restarts a lane's channel allows after worker deaths with no progress. */
const LANE_MAX_RESTARTS = 3;
/**
 * How long close() waits for a lane whose worker has not started serving (a pool of your own that
 * does not run the serve task) before it stops the lane; its ops then reject with ERR_ENGINE_STOPPED.
 */
export const UNSTARTED_LANE_GRACE_MS = 5000;

/** Filled engine options, each read once. */
interface EngineConfig {
  readonly workers: number;
  readonly slots: number;
  readonly spin: number;
  readonly inlineBelow: number;
  readonly splitAbove: number;
  readonly pool: Piscina | undefined;
  readonly pollMicros: number;
}

type EngineState = 'open' | 'closing' | 'closed';

/**
 * Promises over DMA channels: small ops run inline, large copies are split across workers, the rest go
 * through a worker's ring. Every op settles once, after its bytes stop changing.
 */
export class CopyEngine {
  readonly fabric: Fabric;
  readonly #lanes: Lane[];
  readonly #pool: Piscina;
  readonly #ownsPool: boolean;
  readonly #releaseThreads: () => void;
  readonly #inlineBelow: number;
  // Tables for segment arrays, allocated with the engine (a fixed footprint, as the rings are) and
  // reused: taking scratch memory and a typed-array view per op cost about a microsecond, as much
  // as a ring hop. Longer arrays, and ops beyond SPARE_TABLES in flight, get a table of their own.
  readonly #spareTables: SgTable[];
  readonly #splitAbove: number;
  readonly #pollMicros: number;
  readonly #stats = { inline: 0, split: 0, completed: 0, errors: 0, submitted: 0 };
  readonly #signals = new Map<AbortSignal, SignalWatch>();
  // Where segment arrays are copied to before they are checked (reused; a getter that calls the
  // engine again while one is being read gets a buffer of its own).
  #segmentWords = new Uint32Array(3 * 64);
  #readingSegments = false;
  #next = 0;
  #outstanding = 0;
  #idle: (() => void) | undefined;
  #state: EngineState = 'open';
  #closing: Promise<void> | undefined;

  /**
   * Starts `workers` worker threads, each serving its own ring. Every option is read once and
   * checked before anything is taken: ERR_INVALID_ARGUMENT for a fabric that is not a Fabric,
   * options that are not an object, or an option out of range or of the wrong type (`argument`
   * names it); ERR_INVALID_SIZE for a malformed size; ERR_POOL_TOO_SMALL when `pool` has fewer
   * than `workers` threads not serving rings. ERR_ALLOC_EXHAUSTED when the scratch area cannot
   * hold the rings and tables: what was taken is given back, and no thread is started.
   */
  static create(fabric: Fabric, options: EngineOptions = {}): CopyEngine {
    if (!isInstance(fabric, Fabric)) throw new InvalidArgumentError('fabric must be a Fabric', { argument: 'fabric' });
    return new CopyEngine(fabric, engineOptions(options));
  }

  private constructor(fabric: Fabric, config: EngineConfig) {
    this.fabric = fabric;
    this.#inlineBelow = config.inlineBelow;
    this.#splitAbove = config.splitAbove;
    this.#pollMicros = config.pollMicros;
    // Everything here is synchronous, so a step that fails undoes the ones before it at once;
    // the threads start last, when nothing can fail any more.
    const releaseThreads = config.pool ? bookRingThreads(config.pool, config.workers) : () => {};
    const tables: SgTable[] = [];
    const rings: Ring[] = [];
    let pool: Piscina;
    try {
      while (tables.length < SPARE_TABLES) tables.push(new SgTable(fabric, SPARE_TABLE_ENTRIES));
      while (rings.length < config.workers) rings.push(new Ring(fabric, { slots: config.slots, spin: config.spin }));
      pool = config.pool ?? createWorkerPool(fabric, config.workers);
    } catch (error) {
      for (const table of tables) table.release();
      for (const ring of rings) ring.release();
      releaseThreads();
      throw error;
    }
    this.#spareTables = tables;
    this.#pool = pool;
    this.#ownsPool = config.pool === undefined;
    this.#releaseThreads = releaseThreads;
    this.#lanes = rings.map((ring) => {
      const channel = channelOnRing(ring, pool, LANE_MAX_RESTARTS);
      return { channel, ring, pending: new Array<PendingOp | undefined>(ring.slots), backlog: [], pumping: false, submitScheduled: false };
    });
  }

  /** Bytes below which an op with placement 'auto' runs in the caller's thread (0: every op goes to a worker). */
  get inlineBelow(): number {
    return this.#inlineBelow;
  }

  /** Bytes from which a copy is split across every worker (and a DMA map pipelines its bounce copy-in). */
  get splitAbove(): number {
    return this.#splitAbove;
  }

  /** The channels behind the engine (for statistics and fault injection; do not drive their rings). */
  get channels(): readonly DmaChannel[] {
    return this.#lanes.map((l) => l.channel);
  }

  /**
   * memmove(dst, src, len) over fabric offsets; resolves with the bytes copied. Rejects with
   * ERR_INVALID_ARGUMENT for arguments or options of the wrong type or range (`argument` names
   * it), ERR_COPY_FAILED (status INVALID_SRC / INVALID_DST, faultAddress) for a range outside the
   * fabric's data area (nothing copied), ERR_ABORTED when cancelled, ERR_WORKER_DIED when its
   * worker died, ERR_WORKER_MISMATCH when the pool does not run dma-bounce/worker,
   * ERR_ENGINE_STOPPED when its channel was stopped, ERR_ENGINE_CLOSED after close(). A copy at
   * or above `splitAbove` runs in parts on every worker and settles once all parts have; when
   * some fail (or are aborted) it rejects with `bytesCompleted` the bytes the parts copied.
   */
  copy(dst: number, src: number, len: number, options?: OpOptions): Promise<number> {
    const op = this.#opOptions(options, false);
    if (op instanceof Error) return Promise.reject(op);
    if (!isU32(dst) || !isU32(src) || !isU32(len)) return Promise.reject(notU32({ dst, src, len }));
    if (this.#inline(len, op.placement)) {
      const fault = this.#badRange(src, len, Status.INVALID_SRC) ?? this.#badRange(dst, len, Status.INVALID_DST);
      if (fault) return Promise.reject(fault);
      this.fabric.kernels.raw.copy(dst, src, len);
      this.#stats.inline++;
      return Promise.resolve(len);
    }
    const overlaps = dst < src + len && src < dst + len;
    if (len >= this.#splitAbove && !overlaps) {
      const lanes = this.#lanes.filter((l) => l.channel.state === 'running');
      if (lanes.length > 1) {
        // The whole range is checked before any part starts: a part cannot fail where the others copied.
        const fault = this.#badRange(src, len, Status.INVALID_SRC) ?? this.#badRange(dst, len, Status.INVALID_DST);
        if (fault) return Promise.reject(fault);
        return this.#splitCopy(dst, src, len, op, lanes);
      }
    }
    return this.#submit((ring) => ring.enqueueCopy(dst, src, len), (c) => c.bytesCompleted, op);
  }

  /**
   * Copies each [dst, src, len] segment in order (memmove per segment) as one op; resolves
   * with the total bytes. An SgTable is used in place (pinned: its clear() and release() refuse
   * while the op may read it); an array is read once, each segment's numbers copied and checked
   * before anything runs (a sparse array, a segment that is not a 3-array of u32 integers:
   * ERR_INVALID_ARGUMENT naming `segments[i]`), and copied into a table in the scratch area for
   * the op's lifetime. A released table is ERR_INVALID_STATE. Rejects otherwise as copy() does,
   * naming the first bad segment's address.
   */
  copySg(segments: readonly Segment[] | SgTable, options?: OpOptions): Promise<number> {
    const op = this.#opOptions(options, false);
    if (op instanceof Error) return Promise.reject(op);
    let words: Uint32Array | SgTable | Error;
    try {
      words = readInput('segments', () => (segments instanceof SgTable ? segments : Array.isArray(segments) ? this.#readSegments(segments) : new InvalidArgumentError('segments must be an array of [dst, src, len] or an SgTable', { argument: 'segments' })));
    } catch (error) {
      return Promise.reject(error);
    }
    if (words instanceof SgTable) return this.#copyTable(words, op);
    if (words instanceof Error) return Promise.reject(words);
    const count = words.length / 3;
    if (count === 0) return Promise.resolve(0);
    let total = 0;
    for (let i = 0; i < count; i++) total += words[i * 3 + 2]!;
    if (op.placement !== 'worker' && (op.placement === 'caller' || total < this.#inlineBelow)) return this.#copySgInline(words, total);
    let table: SgTable | undefined;
    try {
      table = this.#takeTable(count);
      for (let i = 0; i < count; i++) table.push(words[i * 3]!, words[i * 3 + 1]!, words[i * 3 + 2]!);
    } catch (err) {
      if (table) this.#returnTable(table);
      return Promise.reject(err);
    }
    const owned = table;
    return this.#submit((ring) => ring.enqueueCopyTable(owned), () => total, op, { owned });
  }

  /**
   * @internal For a caller that would only wait for the copy (the DMA mapper's bounce copies):
   * runs the [dst, src, len] segments in order in this thread, now, when the engine runs such an op
   * inline (placement 'caller', or 'auto' with the total below inlineBelow), and returns true;
   * returns false, copying nothing, when it would go to a worker (use copySg()). Throws, copying
   * nothing, what copySg() rejects with: ERR_ENGINE_CLOSED, ERR_INVALID_ARGUMENT, ERR_COPY_FAILED.
   */
  copyHere(segments: readonly (readonly [number, number, number])[], placement: 'auto' | 'caller'): boolean {
    this.#checkHere(placement);
    // Read once, as copySg() reads an array: the copy uses only the numbers checked.
    const words = readInput('segments', () => (Array.isArray(segments) ? this.#readSegments(segments) : new InvalidArgumentError('segments must be an array of [dst, src, len]', { argument: 'segments' })));
    if (words instanceof Error) throw words;
    return this.#copyHere(words, words.length / 3, placement);
  }

  /**
   * @internal copyHere() for segments the caller already holds as numbers: (dst, src, len) in
   * words[3i .. 3i + 2] for i < count. The DMA mapper builds these from its bounce records, and
   * an array of arrays per bounced list cost more than the bounds checks. Checks and copies as
   * copyHere() does; the words are read in this call only.
   */
  copyWordsHere(words: Uint32Array, count: number, placement: 'auto' | 'caller'): boolean {
    this.#checkHere(placement);
    if (!(words instanceof Uint32Array) || !Number.isInteger(count) || count < 0 || 3 * count > words.length) {
      throw new InvalidArgumentError('words must be a Uint32Array holding count (dst, src, len) triples', { argument: 'words' });
    }
    return this.#copyHere(words, count, placement);
  }

  // What copyHere() and copyWordsHere() refuse before they read their segments.
  #checkHere(placement: unknown): void {
    if (this.#state !== 'open') throw new EngineClosedError('the copy engine is closed');
    if (placement !== 'auto' && placement !== 'caller') throw new InvalidArgumentError(`placement must be 'auto' or 'caller'`, { argument: 'placement' });
  }

  // copyHere()'s work on checked numbers: false (nothing copied) when the op belongs on a worker.
  #copyHere(words: Uint32Array, count: number, placement: 'auto' | 'caller'): boolean {
    let total = 0;
    for (let i = 0; i < count; i++) total += words[i * 3 + 2]!;
    if (!this.#inline(total, placement)) return false;
    const fault = this.#copyWordsInline(words, count);
    if (fault) throw fault;
    return true;
  }

  #copyTable(table: SgTable, op: OpConfig): Promise<number> {
    if (table.released) return Promise.reject(new InvalidStateError('the table was released', { argument: 'segments' }));
    if (table.fabric !== this.fabric) return Promise.reject(new InvalidArgumentError("the table lives in another fabric's scratch area", { argument: 'segments' }));
    // The ring reports bytes in a u32; the table knows its total exactly.
    const total = table.totalLength;
    if (this.#inline(total, op.placement) && table.inBounds) {
      // A good table (checked at push) is copied here, by the kernel that re-checks each entry
      // as it goes; a table with a bad entry goes to the ring, which reports its exact status.
      this.#stats.inline++;
      try {
        return Promise.resolve(this.fabric.kernels.copySg(table));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#submit((ring) => ring.enqueueCopyTable(table), () => total, op, { pinned: table });
  }

  // Reads an array of segments once into numbers: length once, each segment and each of its
  // three fields once, each checked; what comes back is all the op will ever use.
  #readSegments(segments: readonly unknown[]): Uint32Array | Error {
    const count: unknown = segments.length;
    if (!Number.isInteger(count) || (count as number) < 0 || (count as number) > MAX_SEGMENTS) {
      return new InvalidArgumentError(`segments must have at most ${MAX_SEGMENTS} entries`, { argument: 'segments' });
    }
    const n = count as number;
    const words = this.#readingSegments || 3 * n > this.#segmentWords.length ? new Uint32Array(3 * n) : this.#segmentWords.subarray(0, 3 * n);
    const outer = this.#readingSegments;
    this.#readingSegments = true;
    try {
      for (let i = 0; i < n; i++) {
        const segment: unknown = segments[i];
        if (!Array.isArray(segment) || segment.length !== 3) return new InvalidArgumentError(`segments[${i}] is not [dst, src, len]`, { argument: `segments[${i}]` });
        const dst: unknown = segment[0], src: unknown = segment[1], len: unknown = segment[2];
        if (!isU32(dst) || !isU32(src) || !isU32(len)) return notU32({ [`segments[${i}].dst`]: dst, [`segments[${i}].src`]: src, [`segments[${i}].len`]: len })!;
        words[i * 3] = dst;
        words[i * 3 + 1] = src;
        words[i * 3 + 2] = len;
      }
    } finally {
      this.#readingSegments = outer;
    }
    return words;
  }

  // Segment arrays totalling less than inlineBelow (or any, with placement 'caller') are copied
  // in the caller's thread, every segment checked before the first byte moves.
  #copySgInline(words: Uint32Array, total: number): Promise<number> {
    const fault = this.#copyWordsInline(words, words.length / 3);
    return fault ? Promise.reject(fault) : Promise.resolve(total);
  }

  // Copies the first `count` (dst, src, len) triples in this thread, or returns the fault of the
  // first bad one, copying nothing.
  #copyWordsInline(words: Uint32Array, count: number): Error | undefined {
    for (let i = 0; i < count; i++) {
      const dst = words[i * 3]!, src = words[i * 3 + 1]!, len = words[i * 3 + 2]!;
      const fault = this.#badRange(src, len, Status.INVALID_SRC) ?? this.#badRange(dst, len, Status.INVALID_DST);
      if (fault) return fault;
    }
    const raw = this.fabric.kernels.raw;
    for (let i = 0; i < count; i++) raw.copy(words[i * 3]!, words[i * 3 + 1]!, words[i * 3 + 2]!);
    this.#stats.inline++;
    return undefined;
  }

  /** Fills len bytes at dst with the 8-byte little-endian pattern; resolves with len. Rejects as copy() does (`pattern` must be a bigint). */
  fill(dst: number, pattern: bigint, len: number, options?: OpOptions): Promise<number> {
    const op = this.#opOptions(options, false);
    if (op instanceof Error) return Promise.reject(op);
    if (!isU32(dst) || !isU32(len)) return Promise.reject(notU32({ dst, len }));
    if (typeof pattern !== 'bigint') return Promise.reject(new InvalidArgumentError('pattern must be a bigint', { argument: 'pattern' }));
    if (this.#inline(len, op.placement)) {
      const fault = this.#badRange(dst, len, Status.INVALID_DST);
      if (fault) return Promise.reject(fault);
      this.fabric.kernels.raw.fill(dst, BigInt.asUintN(64, pattern), len);
      this.#stats.inline++;
      return Promise.resolve(len);
    }
    return this.#submit((ring) => ring.enqueueFill(dst, pattern, len), (c) => c.bytesCompleted, op);
  }

  /** Copies src → dst and resolves with the CRC32C of the source bytes (chained from `seed`, a u32). Rejects as copy() does. */
  copyCrc32c(dst: number, src: number, len: number, options?: OpOptions & { readonly seed?: number }): Promise<number> {
    const op = this.#opOptions(options, true);
    if (op instanceof Error) return Promise.reject(op);
    const seed = op.seed;
    if (!isU32(dst) || !isU32(src) || !isU32(len)) return Promise.reject(notU32({ dst, src, len }));
    if (this.#inline(len, op.placement)) {
      const fault = this.#badRange(src, len, Status.INVALID_SRC) ?? this.#badRange(dst, len, Status.INVALID_DST);
      if (fault) return Promise.reject(fault);
      this.#stats.inline++;
      return Promise.resolve(this.fabric.kernels.raw.copyCrc32c(this.fabric.kernels.crcTable, dst, src, len, seed) >>> 0);
    }
    return this.#submit((ring) => ring.enqueueCopyCrc32c(dst, src, len, seed), (c) => c.result, op);
  }

  /** The counters now (ops submitted to rings, completed, failed, run inline, split; worker deaths). Never throws. */
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
   * Waits for every op already issued (queued, on a ring or in a backlog) to settle, each with
   * its result or its coded error, then stops the workers, frees the rings and tables and, for
   * a private pool, ends its threads: nothing the engine started keeps the process alive after.
   * New ops reject with ERR_ENGINE_CLOSED from the call on. Later calls return the same promise.
   * Always settles: a lane whose worker has not started after UNSTARTED_LANE_GRACE_MS (a pool of
   * your own that never runs the serve task) is stopped, and its ops reject with ERR_ENGINE_STOPPED.
   * A private pool is destroyed only once its workers have started (or that grace has passed):
   * Node 20 aborts the process when a thread is terminated while it loads an ES module.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    if (this.#outstanding > 0) {
      const idle = new Promise<void>((resolve) => { this.#idle = resolve; });
      // Ops on a ring no worker has taken up may never run: after a grace period, give up on them.
      const timer = setTimeout(() => {
        for (const lane of this.#lanes) if (lane.channel.state === 'running' && !lane.ring.serverActive) lane.channel.stop().catch(() => this.#failLane(lane));
      }, UNSTARTED_LANE_GRACE_MS);
      try {
        await idle;
      } finally {
        clearTimeout(timer);
      }
    }
    // A worker of our pool still loading the worker module must not be terminated: Node 20 aborts
    // the whole process when a thread is terminated inside require() of an ES module (an engine
    // closed a few ms after it was created hit it). Its server claims the ring once it is loaded.
    if (this.#ownsPool) {
      const deadline = Date.now() + UNSTARTED_LANE_GRACE_MS;
      while (this.#lanes.some((l) => l.channel.state === 'running' && !l.ring.released && !l.ring.serverActive) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    for (const lane of this.#lanes) await lane.channel.close();
    for (const table of this.#spareTables.splice(0)) table.release();
    if (this.#ownsPool) await this.#pool.destroy();
    this.#releaseThreads();
    this.#state = 'closed';
  }

  /** close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- internals

  // The op's options, read once and checked; or the error to reject with.
  #opOptions(options: unknown, withSeed: boolean): OpConfig | Error {
    if (this.#state !== 'open') return new EngineClosedError('the copy engine is closed');
    if (options === undefined) return NO_OPTIONS;
    if (options === null || typeof options !== 'object') return new InvalidArgumentError('options must be an object', { argument: 'options' });
    let signal: unknown, placement: unknown, seed: unknown;
    try {
      ({ signal, placement = 'auto', seed = 0 } = readInput('options', () => ({
        signal: (options as OpOptions).signal,
        placement: (options as OpOptions).placement,
        seed: withSeed ? (options as { seed?: unknown }).seed : 0,
      })));
    } catch (error) {
      return error as Error;
    }
    if (signal !== undefined && !isInstance(signal, AbortSignal)) return new InvalidArgumentError('signal must be an AbortSignal', { argument: 'signal' });
    if (!PLACEMENTS.includes(placement)) return new InvalidArgumentError(`placement must be 'auto', 'worker' or 'caller'`, { argument: 'placement' });
    if (!isU32(seed)) return notU32({ seed })!;
    if (signal?.aborted) return new AbortError('the operation was aborted before it started', { cause: signal.reason });
    return { signal, placement: placement as Placement, seed };
  }

  #takeTable(segments: number): SgTable {
    return (segments <= SPARE_TABLE_ENTRIES ? this.#spareTables.pop() : undefined) ?? new SgTable(this.fabric, segments);
  }

  #returnTable(table: SgTable): void {
    if (this.#state !== 'closed' && table.capacity === SPARE_TABLE_ENTRIES && this.#spareTables.length < SPARE_TABLES && table.inUse === 0) {
      table.clear();
      this.#spareTables.push(table);
    } else if (table.inUse === 0) {
      table.release();
    }
  }

  // A copy in parts, one per running lane. It settles once every part has: with the bytes when
  // all succeeded; otherwise with the first failure (an abort first, if the signal fired), its
  // bytesCompleted the bytes all parts copied.
  #splitCopy(dst: number, src: number, len: number, op: OpConfig, lanes: readonly Lane[]): Promise<number> {
    const chunk = Math.ceil(len / lanes.length / SPLIT_GRANULE) * SPLIT_GRANULE;
    const parts: Promise<{ readonly bytes: number; readonly error?: Error }>[] = [];
    for (let at = 0, i = 0; at < len; at += chunk, i++) {
      const n = Math.min(chunk, len - at);
      const part = this.#submit((ring) => ring.enqueueCopy(dst + at, src + at, n), (c) => c.bytesCompleted, op, { lane: lanes[i % lanes.length]! });
      parts.push(part.then((bytes) => ({ bytes }), (error: Error) => ({ bytes: bytesOf(error), error })));
    }
    this.#stats.split++;
    return Promise.all(parts).then((outcomes) => {
      let done = 0;
      let failure: Error | undefined;
      for (const o of outcomes) {
        done += o.bytes;
        if (o.error && (failure === undefined || (o.error instanceof AbortError && !(failure instanceof AbortError)))) failure = o.error;
      }
      if (failure) throw withFields(failure, `${failure.message} (a split copy: ${done} of ${len} bytes copied by its parts)`, { bytesCompleted: done });
      return done;
    });
  }

  #submit(enqueue: (ring: Ring) => number, value: (c: Completion) => number, op: OpConfig, extra: { owned?: SgTable; pinned?: SgTable; lane?: Lane } = {}): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const lane = extra.lane ?? this.#pickLane();
      const pending: PendingOp = { enqueue, resolve, reject, value, signal: op.signal, now: op.placement === 'worker', lane };
      if (extra.owned) pending.owned = extra.owned;
      if (extra.pinned) {
        pending.pinned = extra.pinned;
        pinTable(extra.pinned);
      }
      this.#outstanding++;
      if (op.signal) this.#watch(pending, op.signal);
      if (lane.backlog.length > 0 || !this.#tryEnqueue(lane, pending)) lane.backlog.push(pending);
    });
  }

  #pickLane(): Lane {
    // Round robin over running lanes, skipping a lane whose queue is much deeper than the next one's.
    const lanes = this.#lanes;
    let best = lanes[this.#next++ % lanes.length]!;
    if (lanes.length === 1) return best;
    if (best.channel.state !== 'running') best = lanes.find((l) => l.channel.state === 'running') ?? best;
    const other = lanes[this.#next % lanes.length]!;
    if (other.channel.state === 'running' && other.ring.outstanding + other.backlog.length + 8 < best.ring.outstanding + best.backlog.length) best = other;
    return best;
  }

  // Returns false when the ring is full (the op stays with the caller); true when the op was
  // enqueued or settled with the error enqueueing threw (a stopped or closed channel).
  #tryEnqueue(lane: Lane, op: PendingOp): boolean {
    let index: number;
    try {
      index = op.enqueue(lane.ring);
    } catch (error) {
      this.#finish(op, error instanceof EngineStoppedError || error instanceof InvalidStateError ? this.#laneError(lane, {}) : (error as Error));
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
        if (!lane.ring.released) lane.ring.submit();
        // Nothing in the pump is expected to throw; if it does, its lane's ops still settle.
        if (!lane.pumping) this.#pump(lane).catch(() => this.#failLane(lane));
      });
    }
    return true;
  }

  async #pump(lane: Lane): Promise<void> {
    lane.pumping = true;
    const mask = lane.ring.slots - 1;
    try {
      while (lane.ring.outstanding > 0 || lane.backlog.length > 0) {
        if (lane.ring.released) {
          // Its channel was closed under the engine: nothing will complete these.
          this.#failLane(lane);
          return;
        }
        const { completions } = lane.ring.completedStatus();
        for (const c of completions) {
          const op = lane.pending[c.index & mask];
          lane.pending[c.index & mask] = undefined;
          if (op) this.#settle(op, c);
        }
        while (lane.backlog.length > 0 && this.#tryEnqueue(lane, lane.backlog[0]!)) lane.backlog.shift();
        if (lane.ring.outstanding === 0) continue;
        lane.ring.submit();
        if (completions.length === 0 && !lane.ring.pollCompletion(this.#pollMicros)) await lane.ring.waitForCompletion();
      }
    } finally {
      lane.pumping = false;
    }
  }

  // Settles every op of a lane whose ring is gone (ERR_ENGINE_STOPPED).
  #failLane(lane: Lane): void {
    for (let i = 0; i < lane.pending.length; i++) {
      const op = lane.pending[i];
      lane.pending[i] = undefined;
      if (op) this.#finish(op, this.#laneError(lane, {}));
    }
    for (const op of lane.backlog.splice(0)) this.#finish(op, this.#laneError(lane, {}));
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

  // Every op ends here exactly once: listener, pin and table released, promise settled, and
  // close() woken when it was the last.
  #finish(op: PendingOp, error: Error | undefined, value = 0): void {
    if (op.settled) return;
    op.settled = true;
    if (op.signal) this.#unwatch(op, op.signal);
    if (op.pinned) unpinTable(op.pinned);
    if (op.owned) this.#returnTable(op.owned);
    if (error) op.reject(error);
    else op.resolve(value);
    if (--this.#outstanding === 0 && this.#idle) this.#idle();
  }

  #errorFor(op: PendingOp, c: Completion): Error {
    const fields = { status: c.statusName, bytesCompleted: c.bytesCompleted, faultAddress: c.faultAddress };
    if (c.status === Status.USER_ABORT) {
      if (op.signal?.aborted) return new AbortError('the operation was aborted before a worker started it', { ...fields, cause: op.signal.reason });
      return this.#laneError(op.lane, fields);
    }
    if (c.status === Status.FAULT || c.status === Status.NOT_ATTEMPTED) {
      const failure = op.lane.channel.failure;
      if (failure instanceof WorkerMismatchError) return withFields(failure, failure.message, fields);
      return new WorkerDiedError(`the worker serving this op died (${c.statusName}, ${c.bytesCompleted} bytes completed)`, { ...fields, cause: failure });
    }
    return new CopyError(`copy failed: ${c.statusName}${c.faultAddress ? ` at fabric offset ${c.faultAddress}` : ''}`, fields);
  }

  // What an op on a lane whose channel does not run gets: the reason the channel gave up, if it
  // did (a pool that does not run dma-bounce/worker, restarts exhausted); ERR_ENGINE_STOPPED otherwise.
  #laneError(lane: Lane, fields: ErrorFields): Error {
    const failure = lane.channel.failure;
    if (failure instanceof DmaBounceError) return withFields(failure, failure.message, fields);
    return new EngineStoppedError(`the engine's channel is ${lane.channel.state}`, { ...fields, cause: failure });
  }

  // One 'abort' listener per signal, however many ops share it; removed with the signal's last op.
  #watch(op: PendingOp, signal: AbortSignal): void {
    let watch = this.#signals.get(signal);
    if (!watch) {
      const ops = new Set<PendingOp>();
      watch = { ops, listener: () => { for (const o of [...ops]) this.#abort(o); } };
      this.#signals.set(signal, watch);
      signal.addEventListener('abort', watch.listener, { once: true });
    }
    watch.ops.add(op);
  }

  #unwatch(op: PendingOp, signal: AbortSignal): void {
    const watch = this.#signals.get(signal);
    if (!watch) return;
    watch.ops.delete(op);
    if (watch.ops.size === 0) {
      signal.removeEventListener('abort', watch.listener);
      this.#signals.delete(signal);
    }
  }

  #abort(op: PendingOp): void {
    if (op.settled) return;
    const lane = op.lane;
    const at = lane.backlog.indexOf(op);
    if (at >= 0) {
      // Never reached a ring: settle it now.
      lane.backlog.splice(at, 1);
      this.#finish(op, new AbortError('the operation was aborted before it was queued', { cause: op.signal?.reason, bytesCompleted: 0 }));
    } else if (op.index !== undefined && !lane.ring.released) {
      lane.ring.cancel(op.index & RING_INDEX_MASK);
    }
  }

  // Whether an op of `len` bytes runs in the caller's thread.
  #inline(len: number, placement: Placement): boolean {
    return placement === 'caller' || (placement !== 'worker' && len < this.#inlineBelow);
  }

  // The same check the ring server makes, for the inline path and split copies.
  #badRange(addr: number, len: number, status: number): Error | undefined {
    if (addr >= this.fabric.dataStart && addr <= this.fabric.size && len <= this.fabric.size - addr) return undefined;
    return new CopyError(`copy failed: ${statusName(status)} at fabric offset ${addr}`, { status: statusName(status), bytesCompleted: 0, faultAddress: addr });
  }
}

const NO_OPTIONS: OpConfig = { signal: undefined, placement: 'auto', seed: 0 };

/** Validated engine options, each read once. Throws as CopyEngine.create() does. */
function engineOptions(options: unknown): EngineConfig {
  // Ring and channel options (slots, spin, pool) are checked by the channel's own rules.
  const { slots, spin, pool } = channelOptions(options);
  const o = options as EngineOptions;
  const { workers = DEFAULTS.workers, inlineBelow = DEFAULTS.inlineBelow, splitAbove = DEFAULTS.splitAbove, pollMicros = DEFAULTS.pollMicros } = readInput('options', () => ({
    workers: o.workers,
    inlineBelow: o.inlineBelow,
    splitAbove: o.splitAbove,
    pollMicros: o.pollMicros,
  }));
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new InvalidArgumentError('workers must be an integer in 1..64', { argument: 'workers' });
  const inline = sizeOption(inlineBelow, 'inlineBelow');
  if (inline > MAX_THRESHOLD) throw new InvalidArgumentError('inlineBelow must be at most 4GiB', { argument: 'inlineBelow' });
  const split = sizeOption(splitAbove, 'splitAbove');
  if (split < SPLIT_GRANULE || split > MAX_THRESHOLD) throw new InvalidArgumentError(`splitAbove must be in ${SPLIT_GRANULE}..4GiB`, { argument: 'splitAbove' });
  if (typeof pollMicros !== 'number' || !(pollMicros >= 0 && pollMicros <= MAX_POLL_MICROS)) {
    throw new InvalidArgumentError(`pollMicros must be a number in 0..${MAX_POLL_MICROS}`, { argument: 'pollMicros' });
  }
  return { workers, slots, spin, inlineBelow: inline, splitAbove: split, pool, pollMicros };
}

// A size option: ERR_INVALID_SIZE naming the option (`argument`) when malformed.
function sizeOption(value: unknown, name: string): number {
  try {
    return parseSize(value, name);
  } catch (error) {
    throw withFields(error as Error, (error as Error).message, { argument: name });
  }
}

// The bytes a failed op reports having copied.
function bytesOf(error: Error): number {
  const n = (error as { bytesCompleted?: unknown }).bytesCompleted;
  return typeof n === 'number' ? n : 0;
}

// The same coded error with some fields replaced (coded errors' fields are read-only).
function withFields(error: Error, message: string, fields: ErrorFields): Error {
  if (!(error instanceof DmaBounceError)) return error;
  const { code: _code, message: _message, name: _name, ...own } = error.toJSON();
  const Class = error.constructor as new (message?: string, fields?: ErrorFields) => DmaBounceError;
  return new Class(message, { ...own, ...fields, cause: error.cause ?? error });
}

// The error for the first argument that is not a u32 (off the hot path: only on failure).
function notU32(values: Record<string, unknown>): Error | undefined {
  for (const [name, value] of Object.entries(values)) {
    if (!isU32(value)) return new InvalidArgumentError(`${name} ${describe(value)} is not an integer in 0..2^32-1`, { argument: name });
  }
  return undefined;
}
