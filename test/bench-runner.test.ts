import { describe, expect, it } from 'vitest';
import { runCases, type BenchCase } from '../dist/bench/runner.js';

// A busy loop of n iterations: a case whose speed we choose.
function spin(n: number): () => void {
  return () => {
    let x = 0;
    for (let i = 0; i < n; i++) x = (x + i) | 0;
    if (x === 0.5) throw new Error('unreachable');
  };
}

describe('bench runner rounds', () => {
  it('runs a case with its baselines round after round and takes each ratio within a round', async () => {
    const cases: BenchCase[] = [
      { name: 'fast', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(200), baseline: ['slow', 'slower'] },
      { name: 'alone', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(10) },
      { name: 'slow', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(2000) },
      { name: 'slower', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(20000) },
    ];
    const order: string[] = [];
    const results = await runCases(cases, { maxTime: 0.02, minSamples: 2, rounds: 3, onProgress: (_d, _t, name) => { if (name) order.push(name); } });
    // Groups run in first-appearance order; within a group the cases alternate by round.
    expect(order).toEqual([
      'fast (round 1/3)', 'slow (round 1/3)', 'slower (round 1/3)',
      'fast (round 2/3)', 'slow (round 2/3)', 'slower (round 2/3)',
      'fast (round 3/3)', 'slow (round 3/3)', 'slower (round 3/3)',
      'alone (round 1/3)', 'alone (round 2/3)', 'alone (round 3/3)',
    ]);
    expect(results.map((r) => r.name)).toEqual(['fast', 'alone', 'slow', 'slower']);
    const fast = results[0]!;
    expect(fast.rounds).toBe(3);
    expect(fast.baseline!.name).toBe('slow');
    expect(fast.baseline!.ratios).toHaveLength(3);
    const sorted = [...fast.baseline!.ratios].sort((a, b) => a - b);
    expect(fast.baseline!.ratio).toBe(sorted[1]);
    expect(fast.baseline!.ratio).toBeGreaterThan(2); // 10x less work than the best baseline
    expect(results[1]!.baseline).toBeUndefined();
  });

  it('stops between cases and reports only what ran', async () => {
    let calls = 0;
    const cases: BenchCase[] = [
      { name: 'a', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(100), baseline: 'b' },
      { name: 'b', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(100) },
    ];
    const results = await runCases(cases, { maxTime: 0.01, minSamples: 2, rounds: 2, shouldStop: () => ++calls > 3 });
    expect(results.map((r) => [r.name, r.rounds])).toEqual([['a', 2], ['b', 1]]);
    expect(results[0]!.baseline!.ratios).toHaveLength(1);
  });
});
