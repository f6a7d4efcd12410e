// p2pmem providers: page-granular first-fit allocation, coded failures that change nothing.
import { describe, expect, it } from 'vitest';
import { buildTopology, P2PMEM_PAGE_SIZE, type P2pmemProvider } from '../dist/src/pci/index.js';
import { errorOf } from './support/errors.js';

const PAGE = P2PMEM_PAGE_SIZE;

function provider(size = '64KiB', p2pmem = true): P2pmemProvider {
  const t = buildTopology({
    hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:01.0', bars: [{ index: 0, size: '4KiB' }, { index: 2, size, p2pmem }] }] }],
  });
  const [p] = t.providers();
  if (!p) throw new Error('no provider');
  return p;
}

describe('P2pmemProvider', () => {
  it('offers the whole published BAR', () => {
    const p = provider();
    expect(p.bdf).toBe('0000:00:01.0');
    expect(p.bar.index).toBe(2);
    expect([p.size, p.available, p.published, p.allocations]).toEqual([65536, 65536, true, 0]);
  });

  it('rounds every allocation up to whole pages, first fit from the bottom', () => {
    const p = provider();
    const a = p.allocate(1);
    const b = p.allocate('4KiB');
    const c = p.allocate(PAGE + 1);
    expect([a.phys - p.bar.phys, b.phys - p.bar.phys, c.phys - p.bar.phys]).toEqual([0, PAGE, 2 * PAGE]);
    expect([a.size, b.size, c.size]).toEqual([PAGE, PAGE, 2 * PAGE]);
    expect(a).toMatchObject({ provider: '0000:00:01.0', bar: 2, busAddress: a.phys - p.bar.busOffset });
    expect(p.available).toBe(65536 - 4 * PAGE);
  });

  it('reuses freed holes first fit and coalesces neighbours', () => {
    const p = provider();
    const blocks = [p.allocate(PAGE), p.allocate(PAGE), p.allocate(PAGE), p.allocate(13 * PAGE)];
    expect(p.available).toBe(0);
    p.free(blocks[0]!);
    p.free(blocks[2]!);
    expect(errorOf(() => p.allocate(2 * PAGE))).toMatchObject({ code: 'ERR_P2PMEM', reason: 'exhausted' }); // two 1-page holes
    p.free(blocks[1]!);
    const merged = p.allocate(3 * PAGE);
    expect(merged.phys).toBe(p.bar.phys);
    p.free(merged);
    p.free(blocks[3]!);
    expect(p.allocate('64KiB').phys).toBe(p.bar.phys);
  });

  it('fails allocation with a coded error and changes nothing', () => {
    const p = provider('16KiB');
    p.allocate(PAGE);
    const err = errorOf(() => p.allocate(4 * PAGE));
    expect(err).toMatchObject({ code: 'ERR_P2PMEM', reason: 'exhausted', requested: 4 * PAGE, available: 3 * PAGE });
    expect([p.available, p.allocations]).toEqual([3 * PAGE, 1]);
    expect(p.allocate(3 * PAGE).phys).toBe(p.bar.phys + PAGE);
    expect(errorOf(() => p.allocate(0))?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(errorOf(() => p.allocate('4KB'))?.code).toBe('ERR_INVALID_SIZE');
  });

  it('rejects foreign frees, double frees and size mismatches, changing nothing', () => {
    const p = provider();
    const other = provider();
    const a = p.allocate(2 * PAGE);
    const before = p.available;
    expect(errorOf(() => p.free({ phys: p.bar.phys - PAGE, size: PAGE }))).toMatchObject({ code: 'ERR_P2PMEM', reason: 'foreign' });
    expect(errorOf(() => other.free(a))).toMatchObject({ code: 'ERR_P2PMEM', reason: 'not-allocated' }); // same addresses, other pool: nothing live there
    expect(errorOf(() => p.free({ phys: a.phys + PAGE, size: PAGE }))).toMatchObject({ code: 'ERR_P2PMEM', reason: 'not-allocated' });
    expect(errorOf(() => p.free({ phys: a.phys, size: PAGE }))).toMatchObject({ code: 'ERR_P2PMEM', reason: 'size-mismatch' });
    expect(p.available).toBe(before);
    p.free(a);
    expect(errorOf(() => p.free(a))).toMatchObject({ code: 'ERR_P2PMEM', reason: 'not-allocated' });
    expect(p.available).toBe(65536);
  });

  it('publish() only affects discovery', () => {
    const p = provider();
    p.publish(false);
    expect(p.published).toBe(false);
    expect(p.allocate(PAGE).size).toBe(PAGE);
  });

  it('creates no provider for BARs not published as p2pmem', () => {
    const t = buildTopology({ hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:01.0', bars: [{ index: 0, size: '1MiB' }] }] }] });
    expect(t.providers()).toEqual([]);
    expect(t.device('0000:00:01.0').bar(0)?.provider).toBeUndefined();
  });

  it('matches a page-bitmap model over a seeded random workload', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    console.log(`pci-p2pmem workload seed: ${seed} (rerun with SEED=${seed})`);
    let state = seed >>> 0;
    const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const pages = 256;
    const p = provider(`${pages * 4}KiB`);
    const used = new Array<boolean>(pages).fill(false);
    const live: { phys: number; size: number }[] = [];
    for (let step = 0; step < 3000; step++) {
      if (live.length > 0 && random() < 0.45) {
        const [victim] = live.splice(Math.floor(random() * live.length), 1);
        p.free(victim!);
        const first = (victim!.phys - p.bar.phys) / PAGE;
        for (let i = 0; i < victim!.size / PAGE; i++) used[first + i] = false;
      } else {
        const want = 1 + Math.floor(random() * 12);
        let at = -1;
        for (let i = 0, run = 0; i < pages; i++) {
          run = used[i] ? 0 : run + 1;
          if (run === want) {
            at = i - want + 1;
            break;
          }
        }
        const bytes = want * PAGE - Math.floor(random() * PAGE);
        if (at < 0) {
          expect(errorOf(() => p.allocate(bytes))?.reason, `seed ${seed} step ${step}`).toBe('exhausted');
        } else {
          const a = p.allocate(bytes);
          expect(a.phys, `seed ${seed} step ${step}`).toBe(p.bar.phys + at * PAGE);
          for (let i = 0; i < want; i++) used[at + i] = true;
          live.push(a);
        }
      }
      expect(p.available).toBe(used.filter((u) => !u).length * PAGE);
    }
  });
});
