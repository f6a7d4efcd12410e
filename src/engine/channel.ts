// A DMA channel: one ring plus the worker that serves it, with dmadev's control path
// (start/stop) and recovery from a worker that dies. The data path is `channel.ring`.
//
// States: running -> stopping -> stopped -> running (start) ...; any of them -> closing -> closed.
// A channel that gives up on its own (worker restarts exhausted, a pool that does not run
// dma-bounce/worker) goes to stopped with `failure` set. Each call checks the state it is in.
import { EventEmitter } from 'node:events';
import type { Piscina } from 'piscina';
import { EngineClosedError, errorFromJSON, InvalidArgumentError, InvalidStateError, WorkerDiedError } from '../errors.js';
import { Fabric } from '../fabric/fabric.js';
import { isInstance, readInput } from '../fabric/input.js';
import { createWorkerPool, isPlainError, mismatch } from './pool.js';
import { Ring, ringOptions, type RingOptions } from './ring.js';
import { Status } from './status.js';
import { bookRingThreads, checkPool } from './thread-budget.js';
import type { ServeResult, ServeTask } from './worker.js';

/** Options of `DmaChannel.open()`: the ring's, plus the pool and the restart budget; each is read once. */
export interface ChannelOptions extends RingOptions {
  /** A pool loading `dma-bounce/worker` (one thread per ring it serves, `concurrentTasksPerWorker` 1). Default: a private 1-thread pool. */
  readonly pool?: Piscina;
  /** Restarts after worker deaths with no completed op in between before the channel gives up (default 3, at most 100). */
  readonly maxRestarts?: number;
}

/** What `channel.stop()` resolves with. */
export interface StopReport {
  /** Ops that were queued (submitted or not) when the channel stopped: they complete as USER_ABORT. */
  readonly aborted: number;
}

/** A channel's state (see docs/engine.md for what each call does in each). */
export type ChannelState = 'running' | 'stopping' | 'stopped' | 'closing' | 'closed';

/** The most restarts `maxRestarts` may allow. */
export const MAX_RESTARTS = 100;

// One serve task: the reservation it carries, and a promise that resolves once the task is off
// the ring for good (it returned after a stop, or its thread died) and the channel has dealt with it.
interface Server {
  readonly token: number;
  gone: Promise<void>;
}

/** Filled channel options, each read once. */
interface ChannelConfig {
  readonly slots: number;
  readonly spin: number;
  readonly pool: Piscina | undefined;
  readonly maxRestarts: number;
}

/**
 * Events: 'workerDied' ({ threadId, failed, error }) after a serving worker died and its
 * unfinished ops were completed with errors; 'failed' (error) when the channel gave up.
 */
export class DmaChannel extends EventEmitter {
  readonly ring: Ring;
  readonly fabric: Fabric;
  readonly #pool: Piscina;
  readonly #ownsPool: boolean;
  readonly #maxRestarts: number;
  readonly #releaseThreads: () => void;
  #state: ChannelState = 'running';
  #server: Server | undefined;
  // Serve tasks dispatched and not yet settled: the ring's memory is freed only when none is left.
  #tasks = 0;
  #restarts = 0;
  #servedAtLastDeath = -1;
  #deaths = 0;
  #failure: Error | undefined;
  #stopping: Promise<StopReport> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Creates the ring and starts a worker serving it. Throws ERR_INVALID_ARGUMENT for a fabric
   * that is not a Fabric, options that are not an object or an option out of range (naming it),
   * a `pool` that is not a piscina pool or gives a thread several tasks at once;
   * ERR_POOL_TOO_SMALL when every thread of `pool` already serves a ring; ERR_ALLOC_EXHAUSTED when
   * the scratch area has no room. Nothing is taken (memory, threads) on failure. A pool whose
   * worker is not dma-bounce/worker is found when its first task answers: the channel then fails
   * ('failed', `failure` ERR_WORKER_MISMATCH) and its ops complete as NOT_ATTEMPTED.
   */
  static open(fabric: Fabric, options: ChannelOptions = {}): DmaChannel {
    if (!isInstance(fabric, Fabric)) throw new InvalidArgumentError('fabric must be a Fabric', { argument: 'fabric' });
    const config = channelOptions(options);
    const release = config.pool ? bookRingThreads(config.pool, 1) : () => {};
    let ring: Ring | undefined;
    try {
      ring = new Ring(fabric, config);
      const pool = config.pool ?? createWorkerPool(fabric, 1);
      return new DmaChannel(ring, pool, config.pool === undefined, config.maxRestarts, release);
    } catch (error) {
      ring?.release();
      release();
      throw error;
    }
  }

  private constructor(ring: Ring, pool: Piscina, ownsPool: boolean, maxRestarts: number, releaseThreads: () => void) {
    super();
    this.ring = ring;
    this.fabric = ring.fabric;
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.#maxRestarts = maxRestarts;
    this.#releaseThreads = releaseThreads;
    this.#serve(ring.reserveServer());
  }

  /** The channel's state: 'running', 'stopping', 'stopped', 'closing' or 'closed'. */
  get state(): ChannelState {
    return this.#state;
  }

  /** Why the channel stopped on its own (ERR_WORKER_DIED: restarts exhausted; ERR_WORKER_MISMATCH; ...), until start(). */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Worker deaths this channel recovered from (or gave up after). */
  get deaths(): number {
    return this.#deaths;
  }

  #serve(token: number): void {
    const task: ServeTask = { kind: 'serve', ctrl: this.ring.ctrl, token, fabric: this.fabric.handle() };
    const server: Server = { token, gone: Promise.resolve() };
    this.#tasks++;
    this.#server = server;
    server.gone = Promise.resolve()
      .then(() => this.#pool.run(task) as Promise<unknown>)
      .then(
        (result) => this.#onServerReturned(server, result),
        (error: unknown) => this.#onServerDied(server, error),
      )
      // Never rejects (nothing may await it): a fault in the handlers becomes the channel's failure.
      .catch((error: unknown) => { this.#failure ??= error instanceof Error ? error : new Error(String(error)); })
      .finally(() => {
        if (--this.#tasks === 0 && this.#state === 'closed' && !this.ring.serverActive) this.ring.release();
      });
  }

  // The serve task answered. Our server answers only after a stop (or without touching the ring
  // when it was refused); anything else means the pool runs another module.
  async #onServerReturned(server: Server, result: unknown): Promise<void> {
    // A worker that called our server and answered something else still held the claim until
    // then: wait until it is off the ring before anyone completes its ops.
    await this.ring.serverReleased(server.token);
    if (server !== this.#server || this.#state !== 'running') return;
    const answer = result as ServeResult | null;
    if (answer !== null && typeof answer === 'object' && answer.ok === false && isPlainError(answer.error)) {
      this.#fail(errorFromJSON(answer.error));
    } else if (answer !== null && typeof answer === 'object' && answer.ok === true && typeof answer.served === 'number') {
      // Stopped by someone else (ring.requestStop() called directly): a server that stops on
      // its own is treated as one that died, so the ring keeps a server.
      this.#onServerDied(server, new Error('the ring server stopped without a stop() on its channel'));
    } else {
      this.#fail(mismatch(result));
    }
  }

  // models a DMA engine reset after a device error: the op in progress faults with the bytes
  // it had done, the ones behind it were never attempted, and a new worker takes the ring.
  #onServerDied(server: Server, error: unknown): void {
    const held = this.ring.serverHolds(server.token);
    let failed = 0;
    if (held) {
      // The thread is gone: its claim, and the ops it had started, are the channel's now.
      const threadId = this.ring.serverThreadId;
      this.ring.releaseDeadServer(server.token);
      failed = this.ring.completeAbandoned(Status.FAULT, Status.NOT_ATTEMPTED, false);
      this.#deaths++;
      this.#notify('workerDied', { threadId, failed, error });
    } else if (server === this.#server) {
      // The task failed before it claimed the ring (the thread could not start, or its task
      // threw): no op was started, so the queued ones wait for the next server untouched.
      this.#deaths++;
      this.#notify('workerDied', { threadId: 0, failed: 0, error });
    }
    if (server !== this.#server || this.#state !== 'running') return;
    const progressed = this.ring.served !== this.#servedAtLastDeath;
    this.#servedAtLastDeath = this.ring.served;
    this.#restarts = progressed ? 1 : this.#restarts + 1;
    if (this.#restarts > this.#maxRestarts) {
      this.#fail(new WorkerDiedError(`the ring's worker died ${this.#restarts} times without completing an op: the channel gave up`, { cause: error }));
      return;
    }
    this.ring.resumeServing();
    this.#serve(this.ring.reserveServer());
  }

  // The channel gives up by itself: everything outstanding completes as NOT_ATTEMPTED and
  // enqueue throws ERR_ENGINE_STOPPED until start().
  #fail(error: Error): void {
    const server = this.#server;
    this.#server = undefined;
    if (server) this.ring.revokeServer(server.token);
    this.ring.markStopped();
    this.ring.completeAbandoned(Status.NOT_ATTEMPTED, Status.NOT_ATTEMPTED, true);
    this.#failure = error;
    this.#state = 'stopped';
    this.#notify('failed', error);
  }

  // Takes the server off the ring (or withdraws its reservation if it never claimed the ring),
  // then completes every op it will not run with USER_ABORT. Returns how many those were.
  async #halt(): Promise<number> {
    this.ring.markStopped();
    const server = this.#server;
    if (server && !this.ring.revokeServer(server.token)) {
      this.ring.requestStop();
      await server.gone;
    }
    this.#server = undefined;
    return this.ring.completeAbandoned(Status.USER_ABORT, Status.USER_ABORT, true);
  }

  /**
   * Stops the channel (rte_dma_stop): the worker finishes the op it is running, every op
   * still queued, submitted or not, completes as USER_ABORT (gather them with
   * ring.completedStatus()), and enqueue throws ERR_ENGINE_STOPPED until start(). While a stop
   * is in progress, stop() returns the same promise; on a stopped channel it resolves with
   * { aborted: 0 }; once close() was called it rejects with ERR_ENGINE_CLOSED.
   */
  stop(): Promise<StopReport> {
    switch (this.#state) {
      case 'running':
        this.#state = 'stopping';
        this.#stopping = this.#halt().then((aborted) => {
          if (this.#state === 'stopping') this.#state = 'stopped';
          return { aborted };
        });
        return this.#stopping;
      case 'stopping':
        return this.#stopping!;
      case 'stopped':
        return Promise.resolve({ aborted: 0 });
      default:
        return Promise.reject(new EngineClosedError('the channel is closed'));
    }
  }

  /**
   * Starts a stopped channel again (rte_dma_start): ring indices restart at 0 and `failure` is
   * cleared. Does nothing on a running channel. Throws ERR_INVALID_STATE while a stop is in
   * progress or while completions remain ungathered, ERR_RING_BUSY when another server took the
   * ring meanwhile, ERR_ENGINE_CLOSED once close() was called; the channel is unchanged then.
   */
  start(): void {
    switch (this.#state) {
      case 'running':
        return;
      case 'stopping':
        throw new InvalidStateError('the channel is stopping: await stop() before start()', { state: this.#state });
      case 'closing':
      case 'closed':
        throw new EngineClosedError('the channel is closed');
    }
    if (this.ring.outstanding !== 0) {
      throw new InvalidStateError(`${this.ring.outstanding} completions have not been gathered; call completedStatus() before start()`, { outstanding: this.ring.outstanding });
    }
    const token = this.ring.reserveServer();
    this.ring.reset();
    this.#restarts = 0;
    this.#failure = undefined;
    this.#state = 'running';
    this.#serve(token);
  }

  /**
   * Terminates the worker serving this channel (fault injection, for tests and soak runs).
   * Resolves true once the worker is gone and the channel has dealt with its death (recovery
   * happens on its own); false when no thread serves the ring (the channel is not running, or
   * its server has not started yet).
   */
  async killWorker(): Promise<boolean> {
    const server = this.#server;
    if (this.#state !== 'running' || !server || !this.ring.serverHolds(server.token)) return false;
    const id = this.ring.serverThreadId;
    const worker = this.#pool.threads.find((w) => w.threadId === id);
    if (!worker) return false;
    await worker.terminate();
    await server.gone;
    return true;
  }

  /**
   * Stops (queued ops complete as USER_ABORT), closes a private pool and frees the ring. Always
   * settles: a serve task the pool has not run yet has its reservation withdrawn instead of being
   * waited for (the ring's memory is freed once that task has answered). Later calls return the
   * same promise; stop() and start() then throw ERR_ENGINE_CLOSED.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const stopping = this.#stopping;
    this.#state = 'closing';
    if (stopping) await stopping;
    await this.#halt();
    this.#releaseThreads();
    if (this.#ownsPool) await this.#pool.destroy();
    this.#state = 'closed';
    if (this.#tasks === 0) this.ring.release();
  }

  // Events are news, not control: a listener that throws must not stop the channel's recovery.
  #notify(event: string, payload: unknown): void {
    try {
      this.emit(event, payload);
    } catch {
      // the listener's fault; the channel goes on
    }
  }

  /** close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Validated channel options, each read once. */
export function channelOptions(options: unknown): ChannelConfig {
  const { slots, spin } = ringOptions(options);
  const { pool, maxRestarts = 3 } = readInput('options', () => ({ pool: (options as ChannelOptions).pool, maxRestarts: (options as ChannelOptions).maxRestarts }));
  if (pool !== undefined) checkPool(pool);
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0 || maxRestarts > MAX_RESTARTS) {
    throw new InvalidArgumentError(`maxRestarts must be an integer in 0..${MAX_RESTARTS}`, { argument: 'maxRestarts' });
  }
  return { slots, spin, pool, maxRestarts };
}

/**
 * The engine's way in (not part of the public API): a channel on a ring the engine allocated,
 * served from a pool whose threads it booked. Cannot fail.
 */
export function channelOnRing(ring: Ring, pool: Piscina, maxRestarts: number): DmaChannel {
  type Open = new (ring: Ring, pool: Piscina, ownsPool: boolean, maxRestarts: number, releaseThreads: () => void) => DmaChannel;
  return new (DmaChannel as unknown as Open)(ring, pool, false, maxRestarts, () => {});
}
