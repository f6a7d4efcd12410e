// Collects a ring's completions until `count` have arrived (waiting between polls), for tests that
// submit by hand and need every status back.
import type { Completion, Ring } from '../../dist/src/index.js';

export async function gatherCompletions(ring: Ring, count: number): Promise<Completion[]> {
  const all: Completion[] = [];
  while (all.length < count) {
    all.push(...ring.completedStatus().completions);
    if (all.length < count) await ring.waitForCompletion();
  }
  return all;
}
