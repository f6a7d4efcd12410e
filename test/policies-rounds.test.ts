// bench/policies/run.ts with rounds: every (route, policy) pair runs once a round, the policies of a
// route in an order that turns each round; each row sums its rounds' I/Os and copies, reports the
// median round's throughput and, against staged, the median of the per-round ratios.
import { describe, expect, it } from 'vitest';
import { MAX_ROUNDS, runPolicies } from '../dist/bench/policies/run.js';
import { testRng } from './support/random.js';

const rng = testRng('policies-rounds');
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

describe('runPolicies with rounds', () => {
  it("merges each pair's rounds and compares every round with staged's same round", async () => {
    const rounds = rng.int(2, 4);
    const ios = 2 * rng.int(2, 5);
    const ioSize = 4096 * rng.int(1, 4);
    const labels: string[] = [];
    const report = await runPolicies({ rounds, ios, queueDepth: 2, ioSize, onProgress: (_d, _t, label) => { if (label) labels.push(label); } });
    expect(report.workload).toEqual({ ioSize, queueDepth: 2, ios, rounds });
    expect(report.results).toHaveLength(9);
    // The policies of a route turn by one each round.
    const order = (route: string, round: number) => labels.filter((l) => l.startsWith(`${route} `) && l.endsWith(`(round ${round}/${rounds})`)).map((l) => l.split(' ')[1]);
    expect(order('NOT_SUPPORTED', 1)).toEqual(['reject', 'bounce', 'staged']);
    expect(order('NOT_SUPPORTED', 2)).toEqual(['bounce', 'staged', 'reject']);
    const by = (route: string, policy: string) => report.results.find((r) => r.route === route && r.policy === policy)!;
    const bounce = by('NOT_SUPPORTED', 'bounce');
    const staged = by('NOT_SUPPORTED', 'staged');
    // Half the I/Os bounce once (device reads), half twice (copy-in and copy-back), every round.
    expect(bounce).toMatchObject({ ok: true, ios: rounds * ios, corrupted: 0, bytesCopied: rounds * (ios / 2) * 3 * ioSize });
    expect(staged).toMatchObject({ ok: true, ios: rounds * ios, corrupted: 0, bytesCopied: rounds * ios * ioSize, bounceHighWaterBytes: 0 });
    for (const row of report.results.filter((r) => r.ok)) {
      expect(row.roundsBytesPerSecond).toHaveLength(rounds);
      expect(row.bytesPerSecond).toBe(median(row.roundsBytesPerSecond!));
      expect(row.latencyUs.p50).toBeLessThanOrEqual(row.latencyUs.p99);
      if (row.policy === 'staged') {
        expect(row.vsStaged).toBeUndefined();
        continue;
      }
      const against = by(row.route, 'staged').roundsBytesPerSecond!;
      const ratios = row.roundsBytesPerSecond!.map((v, i) => Math.round((v / against[i]!) * 1000) / 1000);
      expect(row.vsStaged).toEqual({ ratio: median(ratios), ratios });
    }
    // A policy that fails every I/O stays failed, with no throughput and no ratio.
    expect(by('NOT_SUPPORTED', 'reject')).toMatchObject({ ok: false, error: 'ERR_DMA_P2P_NOT_SUPPORTED', bytesPerSecond: 0 });
    expect(by('NOT_SUPPORTED', 'reject').vsStaged).toBeUndefined();
  });

  it('one round (the default) reports rows as before: no rounds in the workload, no per-round fields', async () => {
    const report = await runPolicies({ ios: 4, queueDepth: 2, ioSize: 4096 });
    expect(report.workload).toEqual({ ioSize: 4096, queueDepth: 2, ios: 4 });
    for (const row of report.results) {
      expect(row.roundsBytesPerSecond).toBeUndefined();
      expect(row.vsStaged).toBeUndefined();
    }
  });

  it.each([0, -1, 1.5, MAX_ROUNDS + 1, Number.NaN, '3'])('refuses rounds %s with ERR_INVALID_ARGUMENT before running anything', async (rounds) => {
    let progress = 0;
    await expect(runPolicies({ rounds: rounds as number, ios: 2, onProgress: () => { progress++; } })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'rounds' });
    expect(progress).toBe(0);
  });
});
