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
/** Round trips a round makes at most. */
const TRIPS = 20_000;
/** A round ends after this long, its trips done or not: on a busy machine a trip can take a timeslice. */
const ROUND_MS = 25;
/** No answer for this long (the worker not started, or descheduled): the figure is not taken. */
const GIVE_UP_MS = 2_000;

/**
 * The median of five rounds of round trips, in ns, each round 20,000 trips or 25 ms of this
 * thread's time spinning, whichever comes first. Undefined when it cannot be measured: on a
 * machine with one CPU (the two threads would share it), or when the worker does not start or
 * answer within 2 s (a machine too busy to say). Rejects only when the worker fails to run. The
 * worker has exited when the promise settles.
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
    if (!(await Promise.race([ready(words), failed]))) return undefined;
    const rounds: number[] = [];
    let next = 1;
    for (let r = 0; r < ROUNDS; r++) {
      const start = performance.now();
      let trips = 0;
      while (trips < TRIPS) {
        Atomics.store(words, 0, next);
        for (let spins = 1; Atomics.load(words, 16) !== next; spins++) {
          if ((spins & 0xfff) === 0 && performance.now() - start > GIVE_UP_MS) return undefined;
        }
        next++;
        trips++;
        if ((trips & 63) === 0 && performance.now() - start > ROUND_MS) break;
      }
      rounds.push(((performance.now() - start) * 1e6) / trips);
    }
    return rounds.sort((x, y) => x - y)[ROUNDS >> 1];
  } finally {
    Atomics.store(words, 0, -1);
    // A worker that never got going is stopped rather than waited for.
    if (Atomics.load(words, 32) !== 1) await worker.terminate();
    await exited;
  }
}

// True once the worker has said it is ready, checking between turns of the event loop (the
// worker starts only if this thread lets it); false after GIVE_UP_MS.
async function ready(words: Int32Array): Promise<boolean> {
  const deadline = performance.now() + GIVE_UP_MS;
  while (Atomics.load(words, 32) !== 1) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return true;
}
