// A DMA channel: one ring plus the worker that serves it, with dmadev's control path
// (start/stop) and recovery from a worker that dies. The data path is `channel.ring`.
import { EventEmitter } from 'node:events';
import type { Piscina } from 'piscina';
import { EngineClosedError, InvalidArgumentError } from '../errors.js';
import type { Fabric } from '../fabric/fabric.js';
import { createWorkerPool } from './pool.js';
import { Ring, type RingOptions } from './ring.js';
import { Status } from './status.js';
import type { ServeTask } from './worker.js';

export interface ChannelOptions extends RingOptions {
  /** A pool loading `dma-bounce/worker` (one worker per channel it serves). Default: a private 1-thread pool. */
  readonly pool?: Piscina;
  /** Restarts after worker deaths with no completed op in between before the channel gives up (default 3). */
  readonly maxRestarts?: number;
}

export interface StopReport {
  /** Ops that were queued (submitted or not) when the channel stopped: they complete as USER_ABORT. */
  readonly aborted: number;
}

/**
 * Events: 'workerDied' ({ threadId, failed }) after a serving worker died and its unfinished
 * ops were completed with errors; 'failed' (error) when restarts were exhausted.
 */
export class DmaChannel extends EventEmitter {
  readonly ring: Ring;
  readonly fabric: Fabric;
  readonly #pool: Piscina;
  readonly #ownsPool: boolean;
  readonly #maxRestarts: number;
  #server: Promise<void> | undefined;
  #restarts = 0;
  #servedAtLastDeath = -1;
  #deaths = 0;
  #closed = false;
  #stopping = false;

  /** Creates the ring and starts a worker serving it. */
  static open(fabric: Fabric, options: ChannelOptions = {}): DmaChannel {
    return new DmaChannel(fabric, options);
  }

  private constructor(fabric: Fabric, options: ChannelOptions) {
    super();
    const maxRestarts = options.maxRestarts ?? 3;
    if (!Number.isInteger(maxRestarts) || maxRestarts < 0) throw new InvalidArgumentError('maxRestarts must be a non-negative integer', { argument: 'maxRestarts' });
    this.fabric = fabric;
    this.ring = new Ring(fabric, options);
    this.#ownsPool = options.pool === undefined;
    this.#pool = options.pool ?? createWorkerPool(fabric, 1);
    this.#maxRestarts = maxRestarts;
    this.#serve();
  }

  /** Worker deaths this channel recovered from. */
  get deaths(): number {
    return this.#deaths;
  }

  #serve(): void {
    const task: ServeTask = { kind: 'serve', ctrl: this.ring.ctrl, fabric: this.fabric.handle() };
    this.#server = (this.#pool.run(task) as Promise<unknown>).then(
      () => undefined,
      (error: unknown) => this.#onServerLost(error),
    );
  }

  // models a DMA engine reset after a device error: the op in progress faults with the bytes
  // it had done, the ones behind it were never attempted, and a new worker takes the ring.
  #onServerLost(error: unknown): void {
    const threadId = this.ring.serverThreadId;
    const failed = this.ring.completeAbandoned(Status.FAULT, Status.NOT_ATTEMPTED, false);
    this.#deaths++;
    const progressed = this.ring.served !== this.#servedAtLastDeath;
    this.#servedAtLastDeath = this.ring.served;
    this.#restarts = progressed ? 1 : this.#restarts + 1;
    this.emit('workerDied', { threadId, failed, error });
    if (this.#stopping) return;
    if (this.#restarts > this.#maxRestarts) {
      this.ring.markStopped();
      this.ring.completeAbandoned(Status.NOT_ATTEMPTED, Status.NOT_ATTEMPTED, true);
      this.emit('failed', error);
      return;
    }
    this.ring.resumeServing();
    this.#serve();
  }

  /**
   * Stops the channel (rte_dma_stop): the worker finishes the op it is running, every op
   * still queued, submitted or not, completes as USER_ABORT (gather them with
   * ring.completedStatus()), and enqueue throws ERR_ENGINE_STOPPED until start().
   */
  async stop(): Promise<StopReport> {
    if (this.ring.stopped) return { aborted: 0 };
    this.#stopping = true;
    this.ring.markStopped();
    this.ring.requestStop();
    await this.#server;
    const aborted = this.ring.completeAbandoned(Status.USER_ABORT, Status.USER_ABORT, true);
    this.#stopping = false;
    return { aborted };
  }

  /**
   * Starts a stopped channel again (rte_dma_start): ring indices restart at 0. Throws
   * ERR_INVALID_STATE while completions remain ungathered, ERR_ENGINE_CLOSED after close().
   */
  start(): void {
    if (this.#closed) throw new EngineClosedError('the channel is closed');
    if (!this.ring.stopped) return;
    this.ring.reset();
    this.#restarts = 0;
    this.#serve();
  }

  /**
   * Terminates the worker serving this channel (fault injection, for tests and soak runs).
   * Resolves when the worker is gone; recovery happens on its own.
   */
  async killWorker(): Promise<boolean> {
    const id = this.ring.serverThreadId;
    const worker = this.#pool.threads.find((w) => w.threadId === id);
    if (!worker) return false;
    const server = this.#server;
    await worker.terminate();
    await server;
    return true;
  }

  /** Stops (queued ops complete as USER_ABORT), closes a private pool and frees the ring. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.stop();
    this.#closed = true;
    if (this.#ownsPool) await this.#pool.destroy();
    this.ring.release();
  }
}
