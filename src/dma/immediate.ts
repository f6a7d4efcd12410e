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

/** Marks the start of a promise-free call; returns what leaveImmediate() restores. */
export function enterImmediate(): boolean {
  const was = immediate;
  immediate = true;
  return was;
}

/** Marks its end (synchronously: the flag never spans a turn). */
export function leaveImmediate(was: boolean): void {
  immediate = was;
}
