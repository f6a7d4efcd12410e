// The throughput report: runs every suite in one process and returns plain data
// { environment, cases }, so that every ratio compares figures measured in the same run.
import os from 'node:os';
import { FAR_ROUND_TRIP_NS, measureCoreRoundTrip } from './core-round-trip.js';
import { engineCases } from './suites/engine.js';
import { kernelCases } from './suites/kernels.js';
import { mapperCases } from './suites/mapper.js';
import { swiotlbCases } from './suites/swiotlb.js';
import { topologyCases } from './suites/topology.js';
import { traceCases } from './suites/trace.js';
import type { NativeCopier } from './native/addon.js';
import { runCases, type BenchCase, type CaseResult, type Measure } from './runner.js';

export interface BenchOptions {
  /** Shorter runs, no 64 MiB cases. */
  readonly quick?: boolean;
  /** Only cases whose name starts with one of these prefixes. */
  readonly only?: readonly string[];
  /** The native addon (bench --native, see bench/native/addon.ts): adds the native baselines. */
  readonly native?: NativeCopier;
  /** What the report says of native code: how it was built, or why there is none (default 'off'). */
  readonly nativeNote?: string;
  readonly onProgress?: (done: number, total: number, name: string) => void;
  readonly shouldStop?: () => boolean;
}

export interface ReportCase {
  readonly name: string;
  readonly [measure: string]: unknown;
  readonly rme: number;
  readonly samples: number;
  readonly rounds: number;
  /** The largest round's figure over the smallest (1 with one round). */
  readonly spread: number;
  /** `ratio`: the median of the per-round ratios `ratios`. */
  readonly baseline?: { readonly name: string; readonly ratio: number; readonly ratios: readonly number[] };
  /** The same against the best native way of the same run (bench --native). */
  readonly ceiling?: { readonly name: string; readonly ratio: number; readonly ratios: readonly number[] };
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
    /** The 1-minute load average when the run started and when it ended (0 where the OS has none). */
    readonly loadAverage: { readonly start: number; readonly end: number };
    /** Native baselines: 'off' (not asked for), 'built with CC', or why there are none. */
    readonly native: string;
    /**
     * A cache line's round trip between two threads, in ns, when the run started and when it ended
     * (bench/core-round-trip.ts); null with one CPU, or when it could not be timed (no answer within
     * 2 s on a busy machine). Cases that hand work to a worker move with it.
     */
    readonly coreRoundTripNs?: { readonly start: number | null; readonly end: number | null };
  };
  readonly cases: ReportCase[];
  /** What makes figures of this run doubtful (see benchWarnings()); empty when nothing does. */
  readonly warnings: readonly string[];
}

/** A figure whose relative margin of error (percent) is above this gets a warning. */
export const RME_WARN_PERCENT = 10;
/** Rounds whose largest figure exceeds the smallest by more than this factor get a warning. */
export const SPREAD_WARN = 1.5;
/** A load average above this many runnable threads per CPU at the start means the machine was busy. */
export const BUSY_LOAD_PER_CPU = 0.5;

/**
 * What makes a run's figures doubtful, one line each: a busy machine at the start (load average),
 * a figure with a high relative error, rounds that disagree (spread), and a ratio whose rounds fall
 * on both sides of 1 (the median says one way is faster, some rounds say the other). Never throws.
 */
export function benchWarnings(environment: Pick<BenchReport['environment'], 'cpus' | 'loadAverage' | 'coreRoundTripNs'>, cases: readonly ReportCase[]): string[] {
  const warnings: string[] = [];
  const { cpus, loadAverage, coreRoundTripNs } = environment;
  if (cpus > 0 && loadAverage.start > cpus * BUSY_LOAD_PER_CPU) {
    warnings.push(`the machine was busy when the run started (load average ${loadAverage.start.toFixed(2)} on ${cpus} CPUs): figures may be low and ratios noisy`);
  }
  const roundTrip = roundTripWarning(cpus, coreRoundTripNs);
  if (roundTrip) warnings.push(roundTrip);
  for (const row of cases) {
    if (row.rme > RME_WARN_PERCENT) warnings.push(`${row.name}: relative error ±${row.rme.toFixed(1)}% (above ${RME_WARN_PERCENT}%)`);
    if (row.spread > SPREAD_WARN) warnings.push(`${row.name}: its ${row.rounds} rounds range over ${row.spread.toFixed(2)}x`);
    if (row.baseline && ratioContradicted(row.baseline.ratios)) {
      const { ratio, ratios, name } = row.baseline;
      warnings.push(`${row.name}: ${ratio.toFixed(2)}x against ${name} is not settled: rounds measured ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x, on both sides of 1`);
    }
  }
  return warnings;
}

// A far or moving core-to-core round trip: the figures of cases that hand work to another thread
// depend on it, and a VM's host may move its vCPUs apart or together during a run.
function roundTripWarning(cpus: number, ns: BenchReport['environment']['coreRoundTripNs']): string | undefined {
  if (!ns) return undefined;
  const { start, end } = ns;
  if (start === null || end === null) {
    if (cpus < 2) return undefined;
    const when = start === null && end === null ? 'at the start or the end' : start === null ? 'at the start' : 'at the end';
    return `a cache line's round trip between two threads could not be timed ${when} (no answer within 2 s: the CPUs were busy): cases that hand work to a worker thread (engine/*, map/bounce) read low and vary with it`;
  }
  const far = Math.max(start, end) > FAR_ROUND_TRIP_NS;
  const moved = Math.max(start, end) > 2 * Math.min(start, end);
  if (!far && !moved) return undefined;
  return `a cache line's round trip between two threads took ${Math.round(start)} ns at the start and ${Math.round(end)} ns at the end${far ? ` (above ${FAR_ROUND_TRIP_NS} ns: the CPUs are far apart or busy)` : ''}${moved ? ', so it changed during the run' : ''}: cases that hand work to a worker thread (engine/*, map/bounce) read low and vary with it`;
}

/** True when per-round ratios fall on both sides of 1 (so the median ratio's direction is in doubt). */
export function ratioContradicted(ratios: readonly number[]): boolean {
  return ratios.length > 1 && Math.min(...ratios) < 1 && Math.max(...ratios) > 1;
}

/** Every case of every suite, in run order (with `native`, the native baselines beside their cases). */
export function allCases(quick: boolean, native?: NativeCopier): BenchCase[] {
  const common = { skipHuge: quick, ...(native ? { native } : {}) };
  return [...kernelCases(common), ...engineCases(common), ...mapperCases(), ...swiotlbCases(), ...topologyCases({ skipHuge: quick }), ...traceCases()];
}

/** The cases a run with these options measures, in run order. */
export function selectCases(quick: boolean, only: readonly string[], native?: NativeCopier): BenchCase[] {
  return allCases(quick, native).filter((c) => only.length === 0 || only.some((prefix) => c.name.startsWith(prefix)));
}

/** Runs the selected cases and returns the report, with its warnings. Rejects with a case's error. */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const quick = options.quick ?? false;
  const cases = selectCases(quick, options.only ?? [], options.native);
  const loadStart = os.loadavg()[0] ?? 0;
  const roundTripStart = await roundTripOrNothing();
  const results = await runCases(cases, {
    maxTime: quick ? 0.25 : 0.3,
    minSamples: quick ? 3 : 5,
    rounds: quick ? 1 : 5,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
  });
  const roundTripEnd = await roundTripOrNothing();
  const cpus = os.cpus();
  const environment = {
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
    loadAverage: { start: round(loadStart, 2), end: round(os.loadavg()[0] ?? 0, 2) },
    native: options.nativeNote ?? 'off',
    coreRoundTripNs: { start: roundTripOf(roundTripStart), end: roundTripOf(roundTripEnd) },
  };
  const reportCases = results.map(toReportCase);
  return { environment, cases: reportCases, warnings: benchWarnings(environment, reportCases) };
}

function toReportCase(r: CaseResult): ReportCase {
  return {
    name: r.name,
    [r.measure]: r.value,
    rme: round(r.rme, 2),
    samples: r.samples,
    rounds: r.rounds,
    spread: round(r.spread, 3),
    ...(r.baseline ? { baseline: { name: r.baseline.name, ratio: round(r.baseline.ratio, 3), ratios: r.baseline.ratios.map((x) => round(x, 3)) } } : {}),
    ...(r.ceiling ? { ceiling: { name: r.ceiling.name, ratio: round(r.ceiling.ratio, 3), ratios: r.ceiling.ratios.map((x) => round(x, 3)) } } : {}),
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

// A diagnostic must not fail the run: a worker that cannot run leaves the figure out (null), as a busy machine does.
function roundTripOrNothing(): Promise<number | undefined> {
  return measureCoreRoundTrip().catch(() => undefined);
}

function roundTripOf(ns: number | undefined): number | null {
  return ns === undefined ? null : round(ns, 1);
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
