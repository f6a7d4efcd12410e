// Runs benchmark cases with benchmark.js and turns them into plain report rows.
// Every measured case may name a baseline measured in the same run. A case and its baselines
// run together, in rounds, and each ratio is taken within a round, so that the slow and fast
// phases of this shared 2-core machine hit both sides of a ratio alike.
import Benchmark from 'benchmark';
import { median } from './median.js';

/** What a case measures: rate of bytes, of segments, of operations, or a latency. */
export type Measure = 'bytesPerSecond' | 'segmentsPerSecond' | 'opsPerSecond' | 'latencySeconds';

export interface BenchCase {
  readonly name: string;
  readonly measure: Measure;
  /** Units (bytes, segments, ops) one call of `run` moves; ignored for latencySeconds. */
  readonly unitsPerOp: number;
  /** Name of the case this one is compared against (same run), or a list: the best of them. */
  readonly baseline?: string | readonly string[];
  /**
   * Native code moving the same bytes (bench --native): the best of these cases, measured in the
   * same rounds as this one, gives a second ratio beside `baseline` (`ceiling` in the result).
   * A name no case of the run has is ignored, so the cases read the same without native code.
   */
  readonly ceiling?: string | readonly string[];
  /** Synchronous body, or an asynchronous one (run as a deferred benchmark). */
  readonly run?: () => void;
  readonly runAsync?: () => Promise<void>;
  readonly setup?: () => void | Promise<void>;
  readonly teardown?: () => void | Promise<void>;
}

export interface CaseResult {
  readonly name: string;
  readonly measure: Measure;
  /** Median over the rounds of each round's figure. */
  readonly value: number;
  /** Relative margin of error, percent (median over the rounds). */
  readonly rme: number;
  /** Samples over all rounds. */
  readonly samples: number;
  readonly rounds: number;
  /** The largest round's figure over the smallest (1 with one round): how far the rounds disagree. */
  readonly spread: number;
  /** `ratio` is the median of the per-round ratios (`ratios`), each against the best baseline of that round. */
  baseline?: Comparison;
  /** The same against the best of the case's `ceiling` cases (native code), when any ran. */
  ceiling?: Comparison;
}

/** A case against the best of other cases of the same run: `ratio` is the median of the per-round `ratios`. */
export interface Comparison {
  readonly name: string;
  readonly value: number;
  readonly ratio: number;
  readonly ratios: readonly number[];
}

export interface RunOptions {
  /** Seconds per case and round (benchmark.js maxTime). */
  readonly maxTime: number;
  readonly minSamples: number;
  /**
   * Rounds per comparison group (a case and its baselines): the group's cases run one after
   * another, `rounds` times over. Phases of this shared machine last seconds (a busy neighbour
   * slows everything for a while), so a ratio is taken within each round, from figures measured
   * seconds apart, and the median round is reported. Default 1.
   */
  readonly rounds?: number;
  readonly onProgress?: (done: number, total: number, name: string) => void;
  /** Checked between cases; when it returns true the run stops with what it has. */
  readonly shouldStop?: () => boolean;
}

interface RoundFigure {
  readonly value: number;
  readonly rme: number;
  readonly samples: number;
}

/** Runs every comparison group `rounds` times; resolves with a row per case that ran, in case order. */
export async function runCases(cases: readonly BenchCase[], options: RunOptions): Promise<CaseResult[]> {
  const rounds = options.rounds ?? 1;
  const figures = new Map<string, (RoundFigure | undefined)[]>(cases.map((c) => [c.name, []]));
  const total = cases.length * rounds;
  let done = 0;
  run: for (const group of comparisonGroups(cases)) {
    for (let round = 0; round < rounds; round++) {
      for (const c of group) {
        if (options.shouldStop?.()) break run;
        options.onProgress?.(done, total, rounds > 1 ? `${c.name} (round ${round + 1}/${rounds})` : c.name);
        await c.setup?.();
        try {
          figures.get(c.name)![round] = await runOne(c, options);
        } finally {
          await c.teardown?.();
        }
        done++;
      }
    }
  }
  options.onProgress?.(done, total, '');
  const results: CaseResult[] = [];
  for (const c of cases) {
    const ran = figures.get(c.name)!.filter((f): f is RoundFigure => f !== undefined);
    if (ran.length === 0) continue;
    results.push({
      name: c.name,
      measure: c.measure,
      value: median(ran.map((f) => f.value)),
      rme: median(ran.map((f) => f.rme)),
      samples: ran.reduce((n, f) => n + f.samples, 0),
      rounds: ran.length,
      spread: Math.max(...ran.map((f) => f.value)) / Math.min(...ran.map((f) => f.value)),
    });
  }
  attach(cases, results, figures, 'baseline');
  attach(cases, results, figures, 'ceiling');
  return results;
}

// Cases joined by baseline and ceiling references, each group in first-appearance order.
function comparisonGroups(cases: readonly BenchCase[]): BenchCase[][] {
  const parent = new Map<string, string>(cases.map((c) => [c.name, c.name]));
  const find = (n: string): string => {
    while (parent.get(n) !== n) n = parent.get(n)!;
    return n;
  };
  for (const c of cases) {
    for (const b of [...namesOf(c.baseline), ...namesOf(c.ceiling)]) if (parent.has(b)) parent.set(find(b), find(c.name));
  }
  const groups = new Map<string, BenchCase[]>();
  for (const c of cases) {
    const root = find(c.name);
    if (!groups.has(root)) groups.set(root, []);
    groups.get(root)!.push(c);
  }
  return [...groups.values()];
}

function namesOf(names: string | readonly string[] | undefined): readonly string[] {
  return names === undefined ? [] : typeof names === 'string' ? [names] : names;
}

function runOne(c: BenchCase, options: RunOptions): Promise<RoundFigure> {
  return new Promise((resolve, reject) => {
    const common = { maxTime: options.maxTime, minSamples: options.minSamples };
    const bench = c.runAsync
      ? new Benchmark(c.name, {
          ...common,
          defer: true,
          fn: (deferred: { resolve(): void }) => {
            c.runAsync!().then(() => deferred.resolve(), (err: unknown) => { failure = err; deferred.resolve(); });
          },
        })
      : new Benchmark(c.name, { ...common, fn: c.run! });
    let failure: unknown;
    bench.on('error', (event: { target: { error?: unknown } }) => { failure = event.target.error; });
    bench.on('complete', () => {
      if (failure !== undefined) return reject(failure);
      const stats = bench.stats;
      // Every figure comes from the median sample (seconds per op), not the mean: on this
      // shared VM a single descheduled sample (steal time, tens of ms) would otherwise swing
      // a rate by an order of magnitude. Both sides of every ratio are treated alike.
      const perOp = median(stats.sample);
      const value = c.measure === 'latencySeconds' ? perOp : c.unitsPerOp / perOp;
      resolve({ value, rme: stats.rme, samples: stats.sample.length });
    });
    bench.run({ async: true });
  });
}

function attach(cases: readonly BenchCase[], results: CaseResult[], figures: Map<string, (RoundFigure | undefined)[]>, field: 'baseline' | 'ceiling'): void {
  const byName = new Map(results.map((r) => [r.name, r]));
  for (const c of cases) {
    const result = byName.get(c.name);
    if (!result) continue;
    const names = namesOf(c[field]).filter((n) => byName.has(n));
    if (names.length === 0) continue;
    const lower = result.measure === 'latencySeconds';
    const better = (a: number, b: number) => (lower ? a < b : a > b);
    // Per round: this case against the best baseline of the same round.
    const ratios: number[] = [];
    figures.get(c.name)!.forEach((own, round) => {
      if (!own) return;
      const rivals = names.map((n) => figures.get(n)![round]?.value).filter((v): v is number => v !== undefined);
      if (rivals.length === 0) return;
      const best = rivals.reduce((a, b) => (better(b, a) ? b : a));
      ratios.push(lower ? best / own.value : own.value / best);
    });
    if (ratios.length === 0) continue;
    const best = names.map((n) => byName.get(n)!).reduce((a, b) => (better(b.value, a.value) ? b : a));
    result[field] = { name: best.name, value: best.value, ratio: median(ratios), ratios };
  }
}
