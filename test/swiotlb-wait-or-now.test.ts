// SwiotlbMem.mapWaitOrNow(): mapWait() that answers without a promise when nobody waits and the
// request fits. Against mapWait() on a twin pool, over random sequences of maps, waits and unmaps:
// the same slots, the same order of service (no newcomer overtakes a waiter), the same full
// events counted once, the same errors.
import { describe, expect, it } from 'vitest';
import { SwiotlbMem, type SwiotlbMemMapping } from '../dist/src/dma/index.js';
import { testRng } from './support/random.js';

const rng = testRng('swiotlb-wait-or-now');
const BASE = 0x1000_0000;
const SLOT = 2048;
const ORIG = 0x2_0000_0000;

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('mapWaitOrNow', () => {
  it('with room and nobody waiting: the mapping itself, as mapWait resolves it', async () => {
    const a = new SwiotlbMem({ base: BASE, size: '256KiB' });
    const b = new SwiotlbMem({ base: BASE, size: '256KiB' });
    const size = rng.int(1, 8 * SLOT);
    const now = a.mapWaitOrNow({ origAddr: ORIG + rng.int(0, 4095), size });
    expect(now).not.toBeInstanceOf(Promise);
    const later = await b.mapWaitOrNow({ origAddr: ORIG, size }) ;
    expect(Object.keys(now as SwiotlbMemMapping)).toEqual(Object.keys(later));
    expect(a.stats().fullEvents).toBe(0);
  });

  it('random sequences: the same service and statistics as mapWait on a twin pool', async () => {
    for (let round = 0; round < 20; round++) {
      const pools = [new SwiotlbMem({ base: BASE, size: '256KiB' }), new SwiotlbMem({ base: BASE, size: '256KiB' })];
      const served: string[][] = [[], []];
      const live: number[][] = [[], []];
      const errors: string[][] = [[], []];
      const steps = rng.int(20, 80);
      const plan = Array.from({ length: steps }, () => ({ r: rng.next(), size: rng.int(1, 40 * SLOT), pick: rng.next(), off: rng.int(0, 4095) }));
      for (const which of [0, 1] as const) {
        const mem = pools[which]!;
        let n = 0;
        for (const step of plan) {
          const id = `m${n++}`;
          if (step.r < 0.55) {
            const request = { origAddr: ORIG + step.off, size: step.size };
            const got = which === 0 ? mem.mapWaitOrNow(request) : mem.mapWait(request);
            const onMapped = (m: SwiotlbMemMapping) => { served[which]!.push(`${id}@${m.tlbAddr}`); live[which]!.push(m.tlbAddr, step.size); };
            if (got instanceof Promise) got.then(onMapped, (e: { code: string }) => errors[which]!.push(`${id}:${e.code}`));
            else onMapped(got);
          } else if (live[which]!.length > 0) {
            const k = Math.floor(step.pick * (live[which]!.length / 2)) * 2;
            const [addr, size] = live[which]!.splice(k, 2) as [number, number];
            mem.unmap(addr, size);
          }
          await flush();
        }
      }
      expect(served[0]).toEqual(served[1]);
      expect(errors[0]).toEqual(errors[1]);
      const { fullEvents: fa, usedSlots: ua, waiters: wa } = pools[0]!.stats() as unknown as { fullEvents: number; usedSlots: number; waiters: number };
      const { fullEvents: fb, usedSlots: ub, waiters: wb } = pools[1]!.stats() as unknown as { fullEvents: number; usedSlots: number; waiters: number };
      expect([fa, ua, wa]).toEqual([fb, ub, wb]);
    }
  });

  it('a newcomer queues behind a waiter even when it would fit; a request that can never fit throws at once', async () => {
    const mem = new SwiotlbMem({ base: BASE, size: '256KiB' }); // 128 slots
    const big = mem.mapWaitOrNow({ origAddr: ORIG, size: 100 * SLOT }) as SwiotlbMemMapping;
    const waiter = mem.mapWaitOrNow({ origAddr: ORIG, size: 60 * SLOT });
    expect(waiter).toBeInstanceOf(Promise);
    expect(mem.stats().fullEvents).toBe(1); // counted once, as mapWait counts it
    const small = mem.mapWaitOrNow({ origAddr: ORIG, size: SLOT });
    expect(small).toBeInstanceOf(Promise); // 28 slots are free, but the waiter came first
    const order: string[] = [];
    void (waiter as Promise<SwiotlbMemMapping>).then(() => order.push('waiter'));
    void (small as Promise<SwiotlbMemMapping>).then(() => order.push('small'));
    mem.unmap(big.tlbAddr, 100 * SLOT);
    await flush();
    expect(order).toEqual(['waiter', 'small']);
    const empty = new SwiotlbMem({ base: BASE, size: '256KiB' });
    expect(() => empty.mapWaitOrNow({ origAddr: ORIG, size: 129 * SLOT })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => empty.mapWaitOrNow({ origAddr: ORIG, size: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    const aborted = AbortSignal.abort();
    expect(() => empty.mapWaitOrNow({ origAddr: ORIG, size: SLOT }, { signal: aborted })).toThrow(expect.objectContaining({ code: 'ERR_ABORTED' }));
    await expect(empty.mapWait({ origAddr: ORIG, size: SLOT }, { signal: aborted })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});
