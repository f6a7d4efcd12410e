// Faults injected at random points (bench/reliability/faults-lib.ts, the same scenarios `npm run faults`
// counts): every operation ends in a success, a retried success or a coded error of the documented kind;
// nothing hangs, no completion is lost, no byte differs from the reference, nothing leaks.
import { afterAll, describe, expect, it } from 'vitest';
import { abortMidFlight, abortMidWait, emptyCounts, engineRig, killDuringBounce, killMidBatch, poolFull, throwingWorker, type FaultCounts } from '../dist/bench/reliability/faults-lib.js';
import { testRng } from './support/random.js';

const rng = testRng('fault-injection');
const rig = engineRig();
const WORKER = new URL('../dist/bench/reliability/throwing-worker.js', import.meta.url);
const TRIALS = 3;
const all: Record<string, FaultCounts> = {};
afterAll(() => console.log(`[fault-injection] seed ${rng.seed}: ${JSON.stringify(all)}`));

function expectClean(name: string, c: FaultCounts): void {
  all[name] = c;
  expect({ uncoded: c.uncoded, hangs: c.hangs, lost: c.lost, bytesWrong: c.bytesWrong, leaks: c.leaks, codes: c.codes }).toMatchObject({ uncoded: 0, hangs: 0, lost: 0, bytesWrong: 0, leaks: 0 });
  expect(c.operations).toBeGreaterThan(0);
}

describe('fault injection', () => {
  it('a worker killed at a random point of a long batch: failed ops are ERR_WORKER_DIED and succeed when retried', async () => {
    const c = emptyCounts();
    await killMidBatch(rig, c, TRIALS, rng.seed);
    expectClean('killMidBatch', c);
    expect(c.injected).toBeGreaterThan(0);
    expect(c.coded).toBe(c.recovered); // every op that failed was recovered by its retry
    expect(Object.keys(c.codes)).toEqual(c.coded > 0 ? ['ERR_WORKER_DIED'] : []);
  });

  it('a worker whose task throws: transient faults recover, permanent ones end in coded errors, close() returns', async () => {
    const c = emptyCounts();
    await throwingWorker(rig, c, 4, rng.seed + 1, WORKER);
    expectClean('throwingWorker', c);
    expect(c.injected).toBeGreaterThan(0);
    for (const code of Object.keys(c.codes)) expect(['ERR_WORKER_DIED', 'ERR_ENGINE_STOPPED']).toContain(code);
  });

  it('aborts at random points: ERR_ABORTED leaves the destination untouched, a started op finishes', async () => {
    const c = emptyCounts();
    await abortMidFlight(rig, c, TRIALS, rng.seed + 2);
    expectClean('abortMidFlight', c);
    expect(c.injected).toBeGreaterThan(0);
  });

  it('a full swiotlb pool: ERR_SWIOTLB_FULL changes nothing and the retry succeeds; waiting devices get their slots', async () => {
    const c = emptyCounts();
    await poolFull(c, TRIALS, rng.seed + 3);
    expectClean('poolFull', c);
    expect(c.coded).toBe(c.recovered);
  });

  it('an abort while waiting for pool space: ERR_ABORTED, nothing mapped, no waiter left, the others are served', async () => {
    const c = emptyCounts();
    await abortMidWait(c, TRIALS, rng.seed + 4);
    expectClean('abortMidWait', c);
    expect(c.succeeded + c.coded).toBe(c.operations);
  });

  it('a worker killed during bounce copies: map and unmap still complete, the device writes reach memory', async () => {
    const c = emptyCounts();
    await killDuringBounce(c, 6, rng.seed + 5);
    expectClean('killDuringBounce', c);
    expect(c.injected).toBeGreaterThan(0);
    // Without the retry in src/dma/bounce.ts an unmap whose copy-back lost its worker freed the slots
    // with the device's bytes in them (bytesWrong > 0); here every op completes.
    expect(c.uncoded + c.coded).toBe(0);
  });
});
