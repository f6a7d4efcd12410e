// Worker pools for the engine: piscina owns the threads (spawn, replacement after a crash,
// shutdown); dma-bounce only hands them tasks, and checks that what answers is its worker.
import { Piscina } from 'piscina';
import { DmaBounceError, errorFromJSON, InvalidArgumentError, WorkerDiedError, WorkerMismatchError } from '../errors.js';
import { Fabric } from '../fabric/fabric.js';
import { isInstance } from '../fabric/input.js';
import { checkBatchRoom, checkPool } from './thread-budget.js';
import type { BatchResult, BatchTask, PlainError } from './worker.js';

/** The worker module to give piscina as `filename` (the same file as `dma-bounce/worker`). */
export const WORKER_URL = new URL('./worker.js', import.meta.url);

/**
 * A piscina pool of `threads` workers bound to `fabric`, each able to serve one ring at a time.
 * Throws ERR_INVALID_ARGUMENT for a fabric that is not a Fabric or a thread count outside 1..64.
 */
export function createWorkerPool(fabric: Fabric, threads: number): Piscina {
  if (!isInstance(fabric, Fabric)) throw new InvalidArgumentError('fabric must be a Fabric', { argument: 'fabric' });
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new InvalidArgumentError('threads must be an integer in 1..64', { argument: 'threads' });
  return new Piscina({
    filename: WORKER_URL.href,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 2 ** 31 - 1,
    workerData: { fabric: fabric.handle() },
  });
}

/**
 * Runs one batch copySg on a pool loading `dma-bounce/worker` and returns the bytes copied;
 * rejects with the rebuilt coded error (ERR_KERNEL_BOUNDS, ERR_INVALID_ARGUMENT) on failure, and
 * with WorkerDiedError (ERR_WORKER_DIED, `cause` piscina's error) when the worker died or threw
 * (some segments may then have been copied; the batch can be run again). Rejects at once, running
 * nothing, with ERR_INVALID_ARGUMENT for a `pool` that is not a piscina pool or a `task` that is
 * not an object, and ERR_POOL_TOO_SMALL when every thread of the pool serves a ring; with
 * ERR_WORKER_MISMATCH when the pool's worker answers with something dma-bounce/worker never returns.
 */
export async function runBatch(pool: Piscina, task: BatchTask): Promise<number> {
  checkPool(pool);
  if (task === null || typeof task !== 'object') throw new InvalidArgumentError('task must be { table, count }', { argument: 'task' });
  // One read of each field: what is validated (in the worker) is what runs.
  const { table, count, fabric } = task;
  checkBatchRoom(pool);
  let result: unknown;
  try {
    result = await pool.run(fabric === undefined ? { table, count } : { table, count, fabric });
  } catch (error) {
    // piscina rejects with a plain Error ("worker exited with code: 0") when the thread is
    // terminated or the task throws: give the caller a code to branch on.
    if (error instanceof DmaBounceError) throw error;
    throw new WorkerDiedError(`the worker running this batch died or threw: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!isBatchResult(result)) throw mismatch(result);
  if (!result.ok) throw errorFromJSON(result.error);
  return result.bytes;
}

function isBatchResult(value: unknown): value is BatchResult {
  const r = value as { ok?: unknown; bytes?: unknown; error?: unknown } | null;
  if (r === null || typeof r !== 'object') return false;
  if (r.ok === true) return Number.isSafeInteger(r.bytes) && (r.bytes as number) >= 0;
  return r.ok === false && isPlainError(r.error);
}

/** True for the { code, message } form dma-bounce/worker reports errors in. */
export function isPlainError(value: unknown): value is PlainError {
  const e = value as { code?: unknown; message?: unknown } | null;
  return e !== null && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string';
}

/** The error for an answer dma-bounce/worker would never give. */
export function mismatch(received: unknown): WorkerMismatchError {
  const what = received === null ? 'null' : typeof received === 'object' ? `an object with keys [${Object.keys(received).join(', ')}]` : `${typeof received} ${String(received).slice(0, 60)}`;
  return new WorkerMismatchError(`the pool's worker is not dma-bounce/worker: it answered ${what}`, { received: what });
}
