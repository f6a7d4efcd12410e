// swiotlb/*: slot allocation and free in the bounce pool alone (no copies), the hot path the
// mapper pays on every bounced segment. Target: 2 million map+unmap pairs per second.
import { SwiotlbPool } from '../../src/dma/index.js';
import type { BenchCase } from '../runner.js';

const BATCH = 64;

/** Pairs of map+unmap, BATCH per call: 4 KiB mappings (page aligned), and NVMe-style ones. */
export function swiotlbCases(): BenchCase[] {
  const pool = new SwiotlbPool({ base: 0x1000_0000, size: '64MiB' });
  const live = new Float64Array(BATCH);
  let orig = 0x1_0000_0000;
  const pairs = (size: number, minAlignMask: number, step: number) => () => {
    for (let i = 0; i < BATCH; i++) {
      live[i] = pool.tryMap(orig, size, minAlignMask);
      orig = orig + step > 0x1_4000_0000 ? 0x1_0000_0000 : orig + step;
    }
    for (let i = 0; i < BATCH; i++) pool.unmap(live[i]!, size, minAlignMask);
  };
  return [
    { name: 'swiotlb/alloc-free', measure: 'opsPerSecond', unitsPerOp: BATCH, run: pairs(4096, 0, 4096) },
    { name: 'swiotlb/alloc-free/nvme-512B-offset', measure: 'opsPerSecond', unitsPerOp: BATCH, run: pairs(4096, 0xfff, 4096 + 512) },
  ];
}
