// The promise-free calls (DmaDevice.mapPhysNow() and the rest) hand their answer back at once, so
// nothing can come between a step of theirs and the caller seeing the result. While one runs, a
// bounce mapping goes live and an unmap frees its slots in the same turn. The promise-returning
// calls keep a turn between those steps and their answer, in which another call about the same
// mapping finds it 'mapping' or 'unmapping' and is refused (ERR_MAPPING_STATE), as documented.

let immediate = false;

/** True while a promise-free call runs (see above). */
export function isImmediate(): boolean {
  return immediate;
}

/** Runs `call` as a promise-free call: the flag is set for its synchronous part only, never across a turn. */
export function immediately<T>(call: () => T): T {
  const was = immediate;
  immediate = true;
  try {
    return call();
  } finally {
    immediate = was;
  }
}
