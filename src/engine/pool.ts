// Worker pools for the engine: piscina owns the threads (spawn, replacement after a crash,
// shutdown); dma-bounce only hands them tasks.
import { Piscina } from 'piscina';
import { DmaBounceError, errorFromJSON, WorkerDiedError } from '../errors.js';
import type { Fabric } from '../fabric/fabric.js';
import type { BatchResult, BatchTask } from './worker.js';

/** The worker module to give piscina as `filename` (the same file as `dma-bounce/worker`). */
export const WORKER_URL = new URL('./worker.js', import.meta.url);

/** A piscina pool of `threads` workers bound to `fabric`, each able to serve one ring at a time. */
export function createWorkerPool(fabric: Fabric, threads: number): Piscina {
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
 * (some segments may then have been copied; the batch can be run again).
 */
export async function runBatch(pool: Piscina, task: BatchTask): Promise<number> {
  let result: BatchResult;
  try {
    result = (await pool.run(task)) as BatchResult;
  } catch (error) {
    // piscina rejects with a plain Error ("worker exited with code: 0") when the thread is
    // terminated or the task throws: give the caller a code to branch on.
    if (error instanceof DmaBounceError) throw error;
    throw new WorkerDiedError(`the worker running this batch died or threw: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!result.ok) throw errorFromJSON(result.error);
  return result.bytes;
}
