// Runs benchmark cases with benchmark.js and turns them into plain report rows.
// Every measured case may name a baseline measured in the same run; the ratio is computed
// after all cases ran, so noise on this 2-core machine hits both sides of a ratio alike.
import Benchmark from 'benchmark';

/** What a case measures: rate of bytes, of segments, of operations, or a latency. */
export type Measure = 'bytesPerSecond' | 'segmentsPerSecond' | 'opsPerSecond' | 'latencySeconds';

export interface BenchCase {
  readonly name: string;
  readonly measure: Measure;
  /** Units (bytes, segments, ops) one call of `run` moves; ignored for latencySeconds. */
  readonly unitsPerOp: number;
  /** Name of the case this one is compared against (same run), or a list: the best of them. */
  readonly baseline?: string | readonly string[];
  /** Synchronous body, or an asynchronous one (run as a deferred benchmark). */
  readonly run?: () => void;
  readonly runAsync?: () => Promise<void>;
  readonly setup?: () => void | Promise<void>;
  readonly teardown?: () => void | Promise<void>;
}

export interface CaseResult {
  readonly name: string;
  readonly measure: Measure;
  readonly value: number;
  /** Relative margin of error, percent. */
  readonly rme: number;
  readonly samples: number;
  baseline?: { readonly name: string; readonly value: number; readonly ratio: number };
}

export interface RunOptions {
  /** Seconds per case (benchmark.js maxTime). */
  readonly maxTime: number;
  readonly minSamples: number;
  readonly onProgress?: (done: number, total: number, name: string) => void;
  /** Checked between cases; when it returns true the run stops with what it has. */
  readonly shouldStop?: () => boolean;
}

/** Runs the cases one after another; resolves with a row per case that ran. */
export async function runCases(cases: readonly BenchCase[], options: RunOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const [i, c] of cases.entries()) {
    if (options.shouldStop?.()) break;
    options.onProgress?.(i, cases.length, c.name);
    await c.setup?.();
    try {
      results.push(await runOne(c, options));
    } finally {
      await c.teardown?.();
    }
  }
  options.onProgress?.(results.length, cases.length, '');
  attachBaselines(cases, results);
  return results;
}

function runOne(c: BenchCase, options: RunOptions): Promise<CaseResult> {
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
      resolve({ name: c.name, measure: c.measure, value, rme: stats.rme, samples: stats.sample.length });
    });
    bench.run({ async: true });
  });
}

function attachBaselines(cases: readonly BenchCase[], results: CaseResult[]): void {
  const byName = new Map(results.map((r) => [r.name, r]));
  for (const c of cases) {
    const result = byName.get(c.name);
    if (!result || c.baseline === undefined) continue;
    const names = typeof c.baseline === 'string' ? [c.baseline] : c.baseline;
    const candidates = names.map((n) => byName.get(n)).filter((r): r is CaseResult => r !== undefined);
    if (candidates.length === 0) continue;
    // The best baseline: fastest rate, or lowest latency.
    const lower = result.measure === 'latencySeconds';
    const best = candidates.reduce((a, b) => ((lower ? b.value < a.value : b.value > a.value) ? b : a));
    const ratio = lower ? best.value / result.value : result.value / best.value;
    result.baseline = { name: best.name, value: best.value, ratio };
  }
}

function median(sample: readonly number[]): number {
  const sorted = [...sample].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
