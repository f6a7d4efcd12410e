// bench/report.ts benchWarnings(): a busy machine, a noisy figure, rounds that disagree and a ratio
// whose rounds fall on both sides of 1 are each named; a clean run gets no warning.
import { describe, expect, it } from 'vitest';
import { FAR_ROUND_TRIP_NS } from '../dist/bench/core-round-trip.js';
import { BUSY_LOAD_PER_CPU, RME_WARN_PERCENT, SPREAD_WARN, benchWarnings, ratioContradicted, type ReportCase } from '../dist/bench/report.js';
import { testRng } from './support/random.js';

const rng = testRng('bench-warnings');

function row(fields: Partial<ReportCase> & { name: string }): ReportCase {
  return { bytesPerSecond: 1e9 * (1 + rng.next()), rme: rng.next() * (RME_WARN_PERCENT - 1), samples: 10, rounds: 5, spread: 1 + rng.next() * (SPREAD_WARN - 1.01), ...fields };
}

describe('benchWarnings', () => {
  it('a quiet machine, tight figures and agreeing rounds: no warning', () => {
    const ratios = Array.from({ length: 5 }, () => 1.2 + rng.next());
    const cases = [row({ name: 'a', baseline: { name: 'b', ratio: ratios[2]!, ratios } }), row({ name: 'b' })];
    expect(benchWarnings({ cpus: 2, loadAverage: { start: 2 * BUSY_LOAD_PER_CPU * rng.next(), end: 3 } }, cases)).toEqual([]);
  });

  it('names a busy start, a high relative error, a wide spread and a contradicted ratio', () => {
    const load = 2 * BUSY_LOAD_PER_CPU + 0.01 + rng.next();
    const cases = [
      row({ name: 'noisy', rme: RME_WARN_PERCENT + 0.1 + rng.next() * 20 }),
      row({ name: 'spread', spread: SPREAD_WARN + 0.01 + rng.next() }),
      row({ name: 'torn', baseline: { name: 'other', ratio: 1.05, ratios: [0.8, 1.05, 1.3] } }),
    ];
    const warnings = benchWarnings({ cpus: 2, loadAverage: { start: load, end: 0 } }, cases);
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toMatch(new RegExp(`^the machine was busy when the run started \\(load average ${load.toFixed(2)} on 2 CPUs\\)`));
    expect(warnings[1]).toMatch(/^noisy: relative error ±\d+\.\d% \(above 10%\)$/);
    expect(warnings[2]).toMatch(/^spread: its 5 rounds range over \d+\.\d\dx$/);
    expect(warnings[3]).toBe('torn: 1.05x against other is not settled: rounds measured 0.80-1.30x, on both sides of 1');
  });

  it('a near, steady core-to-core round trip: no warning; one that is far or moved by more than 2x: one warning naming both figures', () => {
    const quiet = { cpus: 2, loadAverage: { start: 0, end: 0 } };
    const near = 50 + rng.next() * (FAR_ROUND_TRIP_NS / 2 - 50);
    const steady = near * (1 + rng.next());
    expect(benchWarnings({ ...quiet, coreRoundTripNs: { start: near, end: steady } }, [])).toEqual([]);
    // One CPU: nothing to time, nothing to say.
    expect(benchWarnings({ ...quiet, cpus: 1, coreRoundTripNs: { start: null, end: null } }, [])).toEqual([]);
    expect(benchWarnings(quiet, [])).toEqual([]);

    const far = FAR_ROUND_TRIP_NS + 1 + rng.next() * 500;
    const [atStart] = benchWarnings({ ...quiet, coreRoundTripNs: { start: far, end: far } }, []);
    expect(atStart).toBe(`a cache line's round trip between two threads took ${Math.round(far)} ns at the start and ${Math.round(far)} ns at the end (above ${FAR_ROUND_TRIP_NS} ns: the CPUs are far apart or busy): cases that hand work to a worker thread (engine/*, map/bounce) read low and vary with it`);

    // Two CPUs but no figure: the machine was too busy to time it, which the run says.
    expect(benchWarnings({ ...quiet, coreRoundTripNs: { start: null, end: null } }, [])).toEqual([
      "a cache line's round trip between two threads could not be timed at the start or the end (no answer within 2 s: the CPUs were busy): cases that hand work to a worker thread (engine/*, map/bounce) read low and vary with it",
    ]);
    expect(benchWarnings({ ...quiet, coreRoundTripNs: { start: near, end: null } }, [])[0]).toMatch(/could not be timed at the end \(/);
    expect(benchWarnings({ ...quiet, coreRoundTripNs: { start: null, end: near } }, [])[0]).toMatch(/could not be timed at the start \(/);

    const moved = benchWarnings({ ...quiet, coreRoundTripNs: { start: near, end: 2.01 * near } }, []);
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatch(/at the end, so it changed during the run: cases that hand work/);
    expect(moved[0]).not.toMatch(/far apart/);
  });

  it('ratioContradicted: only rounds on both sides of 1', () => {
    expect(ratioContradicted([0.9, 1.1])).toBe(true);
    expect(ratioContradicted([1.1, 1.5])).toBe(false);
    expect(ratioContradicted([0.5, 0.99])).toBe(false);
    expect(ratioContradicted([0.5])).toBe(false);
    expect(ratioContradicted([1, 1.2])).toBe(false);
  });
});
