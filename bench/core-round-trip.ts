// How far apart the CPUs are: the time for a cache line to go from this thread to a worker thread
// and back. Every case that hands work to another thread (engine/*, and map/bounce, whose map gives
// a batch to a worker) pays this on each hand-over. On a VM the host decides where the vCPUs run,
// and the figure can change within minutes (the project machine read 110 ns, then 600 ns, in the
// same quarter hour), so the bench measures it at the start and at the end of a run.
import os from 'node:os';
import { Worker } from 'node:worker_threads';

/** A round trip above this many ns means the two CPUs are far apart (or one is busy). */
export const FAR_ROUND_TRIP_NS = 300;

// The worker answers every number the main thread writes at word 0 by writing it at word 16 (its
// own cache line), until it reads -1. It says it is ready at word 32.
const ANSWER = `
const { workerData } = require('node:worker_threads');
const a = new Int32Array(workerData);
Atomics.store(a, 32, 1);
for (;;) {
  const v = Atomics.load(a, 0);
  if (v === -1) break;
  if (v !== Atomics.load(a, 16)) Atomics.store(a, 16, v);
}`;

const ROUNDS = 5;
const TRIPS = 20_000;
const READY_TIMEOUT_MS = 5_000;
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * The median of five rounds of 20,000 round trips, in ns (about 10-60 ms of this thread's time,
 * spinning); undefined on a machine with one CPU, where the two threads would share it. Rejects
 * when the worker cannot start. The worker has exited when the promise settles.
 */
export async function measureCoreRoundTrip(): Promise<number | undefined> {
  if (os.cpus().length < 2) return undefined;
  const words = new Int32Array(new SharedArrayBuffer(64 * 4 * 4));
  const worker = new Worker(ANSWER, { eval: true, workerData: words.buffer });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  // Raced only until the worker is ready: an error after that must not be an unhandled rejection.
  failed.catch(() => undefined);
  try {
    await Promise.race([ready(words), failed]);
    const rounds: number[] = [];
    const deadline = performance.now() + ANSWER_TIMEOUT_MS;
    let next = 1;
    for (let r = 0; r < ROUNDS; r++) {
      const start = performance.now();
      for (let i = 0; i < TRIPS; i++, next++) {
        Atomics.store(words, 0, next);
        for (let spins = 1; Atomics.load(words, 16) !== next; spins++) {
          // A worker that stopped answering must not hang the bench: look at the clock now and then.
          if ((spins & 0xfffff) === 0 && performance.now() > deadline) throw new Error(`the round-trip worker stopped answering (${ANSWER_TIMEOUT_MS} ms)`);
        }
      }
      rounds.push(((performance.now() - start) * 1e6) / TRIPS);
    }
    return rounds.sort((x, y) => x - y)[ROUNDS >> 1];
  } finally {
    Atomics.store(words, 0, -1);
    // A worker that never got going is stopped rather than waited for.
    if (Atomics.load(words, 32) !== 1) await worker.terminate();
    await exited;
  }
}

// Resolves once the worker has said it is ready, checking between turns of the event loop (the
// worker starts only if this thread lets it); rejects after READY_TIMEOUT_MS.
async function ready(words: Int32Array): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (Atomics.load(words, 32) !== 1) {
    if (performance.now() > deadline) throw new Error(`the round-trip worker did not start within ${READY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
