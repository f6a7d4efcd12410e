// swiotlb/*: slot allocation and free in the bounce pool alone (no copies), the hot path the
// mapper pays on every bounced segment. Target: 2 million map+unmap pairs per second.
// swiotlb/dynamic/*: the same pairs through a CONFIG_SWIOTLB_DYNAMIC io_tlb_mem, next to the
// static pool: one that never overflows, and one where half of every batch finds the default
// pool full and gets a transient pool (made at the map, freed at the unmap).
import { SwiotlbMem, SwiotlbPool } from '../../src/dma/index.js';
import type { BenchCase } from '../runner.js';

const BATCH = 64;

/** Pairs of map+unmap, BATCH per call: 4 KiB mappings (page aligned), and NVMe-style ones. */
export function swiotlbCases(): BenchCase[] {
  const pool = new SwiotlbPool({ base: 0x1000_0000, size: '64MiB' });
  const live = new Float64Array(BATCH);
  let orig = 0x1_0000_0000;
  const pairs = (target: { tryMap(o: number, s: number, m: number): number; unmap(t: number, s: number, m: number): void }, size: number, minAlignMask: number, step: number) => () => {
    for (let i = 0; i < BATCH; i++) {
      live[i] = target.tryMap(orig, size, minAlignMask);
      orig = orig + step > 0x1_4000_0000 ? 0x1_0000_0000 : orig + step;
    }
    for (let i = 0; i < BATCH; i++) target.unmap(live[i]!, size, minAlignMask);
  };
  return [
    { name: 'swiotlb/alloc-free', measure: 'opsPerSecond', unitsPerOp: BATCH, run: pairs(pool, 4096, 0, 4096) },
    { name: 'swiotlb/alloc-free/nvme-512B-offset', measure: 'opsPerSecond', unitsPerOp: BATCH, run: pairs(pool, 4096, 0xfff, 4096 + 512) },
    { name: 'swiotlb/dynamic/alloc-free', measure: 'opsPerSecond', unitsPerOp: BATCH, baseline: 'swiotlb/alloc-free', run: pairs(dynamicMem('64MiB', 0), 4096, 0, 4096) },
    { name: 'swiotlb/dynamic/overflow', measure: 'opsPerSecond', unitsPerOp: BATCH, baseline: 'swiotlb/alloc-free', run: pairs(dynamicMem('256KiB', 32), 4096, 0, 4096) },
  ];
}

/**
 * A dynamic io_tlb_mem whose default pool holds `background` live 4 KiB mappings. Its growth is
 * left scheduled (never run), so a batch that overflows the default pool overflows on every call.
 */
function dynamicMem(size: string, background: number): SwiotlbMem {
  const memory = new BlockMemory(0x8000_0000);
  const mem = new SwiotlbMem({ base: 0x1000_0000, size, dynamic: { growth: 'manual', allocPoolMemory: memory.alloc, freePoolMemory: memory.free } });
  for (let i = 0; i < background; i++) mem.map({ origAddr: 0x2_0000_0000 + i * 4096, size: 4096 });
  return mem;
}

/** A page allocator for the bench: freed blocks are reused by size, new ones bumped. */
class BlockMemory {
  private readonly freed = new Map<number, number[]>();
  constructor(private next: number) {}

  readonly alloc = (bytes: number): { phys: number } => {
    const reuse = this.freed.get(bytes)?.pop();
    if (reuse !== undefined) return { phys: reuse };
    const phys = this.next;
    this.next += Math.ceil(bytes / 4096) * 4096;
    return { phys };
  };

  readonly free = (phys: number, bytes: number): void => {
    let list = this.freed.get(bytes);
    if (list === undefined) this.freed.set(bytes, (list = []));
    list.push(phys);
  };
}
