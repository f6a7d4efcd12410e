// Shared helpers for the swiotlb tests.
import { SwiotlbPool, type SwiotlbPoolOptions } from '../../dist/src/dma/index.js';

export const BASE = 0x1000_0000;
export const SLOT = 2048;

export function makePool(options: Partial<SwiotlbPoolOptions> = {}): SwiotlbPool {
  return new SwiotlbPool({ base: BASE, size: '1MiB', ...options });
}

export { errorOf } from './errors.js';

/** Everything observable about a pool's slot state, to show a failed call changed nothing. */
export function snapshot(pool: SwiotlbPool): unknown {
  const runs: number[] = [];
  for (let i = 0; i < pool.totalSlots; i++) runs.push(pool.freeRunAt(i));
  const areas = Array.from({ length: pool.areas }, (_, a) => pool.areaState(a));
  const { fullEvents: _ignored, ...stats } = pool.stats();
  return { stats, areas, runs };
}

/** Slot index of a bounce address. */
export function slotOf(tlbAddr: number, base = BASE): number {
  return Math.floor((tlbAddr - base) / SLOT);
}
