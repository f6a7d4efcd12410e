// A replay's pool occupancy reduced to what a chart can show: at most `maxPoints` points, each keeping the
// highest and lowest occupancy of the samples it stands for (so no peak disappears), in one linear pass.
import type { OccupancySample } from './inputs.js';

/** One chart point: from `t` on, occupancy ranged over [low, used] of `total` slots. */
export interface OccupancyPoint {
  readonly t: number;
  readonly used: number;
  readonly low: number;
  readonly total: number;
}

/** The figures the page prints beside the chart. */
export interface OccupancySummary {
  readonly samples: number;
  readonly start: number;
  readonly end: number;
  readonly peakUsed: number;
  readonly peakAt: number;
  /** totalSlots at the peak. */
  readonly peakTotal: number;
  readonly maxTotal: number;
}

/**
 * The samples as at most `maxPoints` points (consecutive runs of samples folded into one, keeping their
 * maximum and minimum). Returns a new array; `samples` is not changed. Never throws for valid samples.
 */
export function occupancyPoints(samples: readonly OccupancySample[], maxPoints = 1000): OccupancyPoint[] {
  const per = Math.max(1, Math.ceil(samples.length / Math.max(1, maxPoints)));
  const points: OccupancyPoint[] = [];
  for (let i = 0; i < samples.length; i += per) {
    const first = samples[i]!;
    let used = first.usedSlots;
    let low = first.usedSlots;
    let total = first.totalSlots;
    for (let j = i + 1; j < Math.min(samples.length, i + per); j++) {
      const s = samples[j]!;
      if (s.usedSlots > used) used = s.usedSlots;
      if (s.usedSlots < low) low = s.usedSlots;
      if (s.totalSlots > total) total = s.totalSlots;
    }
    points.push({ t: first.t, used, low, total });
  }
  return points;
}

/** Duration, peak and pool size of the samples (at least one). Never throws for valid samples. */
export function occupancySummary(samples: readonly OccupancySample[]): OccupancySummary {
  let peak = samples[0]!;
  let maxTotal = 0;
  for (const s of samples) {
    if (s.usedSlots > peak.usedSlots) peak = s;
    if (s.totalSlots > maxTotal) maxTotal = s.totalSlots;
  }
  return {
    samples: samples.length,
    start: samples[0]!.t,
    end: samples[samples.length - 1]!.t,
    peakUsed: peak.usedSlots,
    peakAt: peak.t,
    peakTotal: peak.totalSlots,
    maxTotal,
  };
}
