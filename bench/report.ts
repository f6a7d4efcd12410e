// The throughput report: runs every suite in one process and returns plain data
// { environment, cases }, so that every ratio compares figures measured in the same run.
import os from 'node:os';
import { engineCases } from './suites/engine.js';
import { kernelCases } from './suites/kernels.js';
import { mapperCases } from './suites/mapper.js';
import { swiotlbCases } from './suites/swiotlb.js';
import { topologyCases } from './suites/topology.js';
import { runCases, type BenchCase, type CaseResult, type Measure } from './runner.js';

export interface BenchOptions {
  /** Shorter runs, no 64 MiB cases. */
  readonly quick?: boolean;
  /** Only cases whose name starts with one of these prefixes. */
  readonly only?: readonly string[];
  readonly onProgress?: (done: number, total: number, name: string) => void;
  readonly shouldStop?: () => boolean;
}

export interface ReportCase {
  readonly name: string;
  readonly [measure: string]: unknown;
  readonly rme: number;
  readonly samples: number;
  readonly rounds: number;
  /** `ratio`: the median of the per-round ratios `ratios`. */
  readonly baseline?: { readonly name: string; readonly ratio: number; readonly ratios: readonly number[] };
}

export interface BenchReport {
  readonly environment: {
    readonly node: string;
    readonly v8: string;
    readonly platform: string;
    readonly arch: string;
    readonly cpus: number;
    readonly cpuModel: string;
    readonly memoryBytes: number;
    readonly date: string;
    readonly quick: boolean;
    /** False when the run was stopped (Ctrl-C) before every case ran. */
    readonly complete: boolean;
  };
  readonly cases: ReportCase[];
}

/** Every case of every suite, in run order. */
export function allCases(quick: boolean): BenchCase[] {
  return [...kernelCases({ skipHuge: quick }), ...engineCases({ skipHuge: quick }), ...mapperCases(), ...swiotlbCases(), ...topologyCases({ skipHuge: quick })];
}

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const quick = options.quick ?? false;
  const only = options.only ?? [];
  const cases = allCases(quick).filter((c) => only.length === 0 || only.some((prefix) => c.name.startsWith(prefix)));
  const results = await runCases(cases, {
    maxTime: quick ? 0.25 : 0.3,
    minSamples: quick ? 3 : 5,
    rounds: quick ? 1 : 5,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
  });
  const cpus = os.cpus();
  return {
    environment: {
      node: process.version,
      v8: process.versions.v8,
      platform: process.platform,
      arch: process.arch,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
      date: new Date().toISOString(),
      quick,
      complete: results.length === cases.length,
    },
    cases: results.map(toReportCase),
  };
}

function toReportCase(r: CaseResult): ReportCase {
  return {
    name: r.name,
    [r.measure]: r.value,
    rme: round(r.rme, 2),
    samples: r.samples,
    rounds: r.rounds,
    ...(r.baseline ? { baseline: { name: r.baseline.name, ratio: round(r.baseline.ratio, 3), ratios: r.baseline.ratios.map((x) => round(x, 3)) } } : {}),
  };
}

/** The measure a report row carries, and its value. */
export function measureOf(row: ReportCase): [Measure, number] {
  for (const m of ['bytesPerSecond', 'segmentsPerSecond', 'opsPerSecond', 'latencySeconds'] as const) {
    if (typeof row[m] === 'number') return [m, row[m] as number];
  }
  throw new Error(`report row ${row.name} has no measure`);
}

/** A human figure: "12.3 GiB/s", "4.1 M seg/s", "5.20 µs". */
export function formatMeasure(measure: Measure, value: number): string {
  switch (measure) {
    case 'bytesPerSecond':
      return value >= 2 ** 30 ? `${(value / 2 ** 30).toFixed(2)} GiB/s` : `${(value / 2 ** 20).toFixed(1)} MiB/s`;
    case 'segmentsPerSecond':
      return `${(value / 1e6).toFixed(2)} M seg/s`;
    case 'opsPerSecond':
      return `${(value / 1e6).toFixed(2)} M op/s`;
    case 'latencySeconds':
      return value < 1e-3 ? `${(value * 1e6).toFixed(2)} µs` : `${(value * 1e3).toFixed(2)} ms`;
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
