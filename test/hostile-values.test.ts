// Values no entry point should coerce: a Symbol, a BigInt, a numeric string, an object whose
// valueOf()/toString() would answer 4096, NaN, null, an array, in each argument of the mapper's and
// the swiotlb's public calls. Each call refuses with a coded error (never a TypeError), runs none of
// the caller's code, and leaves a live mapping as it was.
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, IovaDomain, SwiotlbMem, SwiotlbPool } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const rng = testRng('hostile-values');

const calls: string[] = [];
const trap = { valueOf: () => { calls.push('valueOf'); return 4096; }, toString: () => { calls.push('toString'); return '4096'; } };
const odd: unknown[] = [Symbol('odd'), 4096n, '4096', trap, NaN, null, [4096]];

// What a call did with one odd argument: a coded error's code, or 'answered' for a value.
async function outcome(call: () => unknown): Promise<string> {
  try {
    const value = call();
    if (value && typeof (value as Promise<unknown>).then === 'function') await value;
    return 'answered';
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' ? code : `uncoded ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`;
  }
}

describe('odd values in every argument', () => {
  const system = DmaSystem.create({ engine: { workers: 1 } });
  afterAll(() => system.close());
  const device = system.device('0000:81:00.0', { p2pPolicy: 'bounce' });
  const bar = system.barMemory('0000:03:00.0', 1);
  const span = bar.allocate(8192, 4096);
  rng.fill(bar.view(span));

  it('DmaDevice: map, unmap and sync calls refuse them with a code and change nothing', async () => {
    const live = await device.mapSg([{ phys: span.phys, length: 4096 }], DmaDirection.BIDIRECTIONAL);
    const addr = live.segments[0]!.dmaAddress;
    const calls0 = calls.length;
    const entry = () => [{ phys: span.phys, length: 4096 }];
    const cases: [string, unknown[], (...a: never[]) => unknown][] = [
      ['mapPhys', [span.phys, 4096, DmaDirection.TO_DEVICE, 0], device.mapPhys.bind(device)],
      ['mapSingle', [span.phys, 4096, DmaDirection.TO_DEVICE, 0], device.mapSingle.bind(device)],
      ['mapSg', [entry(), DmaDirection.TO_DEVICE, 0], device.mapSg.bind(device)],
      ['unmapPhys', [addr, 4096, DmaDirection.BIDIRECTIONAL, 0], device.unmapPhys.bind(device)],
      ['syncSingleForCpu', [addr, 4096, DmaDirection.BIDIRECTIONAL], device.syncSingleForCpu.bind(device)],
      ['syncSingleForDevice', [addr, 4096, DmaDirection.BIDIRECTIONAL], device.syncSingleForDevice.bind(device)],
      ['allocCoherent', [4096], device.allocCoherent.bind(device)],
    ];
    for (const [name, args, call] of cases) {
      for (let at = 0; at < args.length; at++) {
        for (const value of odd) {
          const given = [...args];
          given[at] = value;
          const result = await outcome(() => call(...(given as never[])));
          expect(result, `${name} argument ${at}: ${typeof value}`).toMatch(/^ERR_/);
        }
      }
    }
    for (const field of ['phys', 'length'] as const) {
      for (const value of odd) {
        const result = await outcome(() => device.mapSg([{ ...entry()[0]!, [field]: value }], DmaDirection.TO_DEVICE));
        expect(result, `mapSg entry ${field}: ${typeof value}`).toMatch(/^ERR_/);
      }
    }
    expect(calls.length - calls0, 'the caller\'s valueOf()/toString() ran').toBe(0);
    expect(device.bounceMappings()).toBe(1);
    // The slot still holds the original's (random) bytes: nothing wrote it.
    expect(Buffer.compare(device.dma.read(addr, 4096), bar.view(span).subarray(0, 4096))).toBe(0);
    await device.unmapSg(live, DmaDirection.BIDIRECTIONAL);
    expect(device.bounceMappings()).toBe(0);
  });

  it.each([
    ['SwiotlbPool', () => new SwiotlbPool({ base: 2 ** 30, size: '1MiB' })],
    ['SwiotlbMem', () => new SwiotlbMem({ base: 2 ** 30, size: '1MiB' })],
  ] as const)('%s: unmap refuses them, tryMap too, and lookups find nothing', async (_, make) => {
    const pool = make();
    const m = pool.map({ origAddr: 2 ** 37, size: 4096 });
    const calls0 = calls.length;
    for (const value of odd) {
      for (const args of [[value, 4096, 0], [m.tlbAddr, value, 0], [m.tlbAddr, 4096, value]]) {
        expect(await outcome(() => pool.unmap(...(args as [number, number, number]))), `unmap ${typeof value}`).toBe('ERR_INVALID_ARGUMENT');
      }
      for (const args of [[value, 4096], [2 ** 37, value], [2 ** 37, 4096, value]]) {
        expect(await outcome(() => pool.tryMap(...(args as [number, number, number]))), `tryMap ${typeof value}`).toBe('ERR_INVALID_ARGUMENT');
      }
      expect(pool.mappingAt(value as number)).toBeUndefined();
      expect(pool.mappingContaining(value as number)).toBeUndefined();
      expect(pool.contains(value as number)).toBe(false);
      expect(pool.contains(m.tlbAddr, value as number)).toBe(false);
    }
    expect(calls.length - calls0, 'the caller\'s valueOf()/toString() ran').toBe(0);
    expect(pool.stats().mappings).toBe(1);
    pool.unmap(m.tlbAddr, 4096);
    expect(pool.stats().mappings).toBe(0);
  });
});

describe('IovaDomain, topology and route arguments', () => {
  it('IovaDomain refuses odd pfns, sizes, flags and cpus with ERR_INVALID_ARGUMENT, changing nothing', async () => {
    const iovad = new IovaDomain({ granule: 4096, startPfn: 1 });
    const pfn = iovad.allocIovaFast(4, 0xfffff, true);
    expect(pfn).toBeGreaterThan(0);
    const before = iovad.stats();
    const calls0 = calls.length;
    const cases: [string, unknown[], (...a: never[]) => unknown][] = [
      ['allocIova', [4, 0xfffff, true], iovad.allocIova.bind(iovad)],
      ['allocIovaFast', [4, 0xfffff, true, 0], iovad.allocIovaFast.bind(iovad)],
      ['freeIovaFast', [pfn, 4, 0], iovad.freeIovaFast.bind(iovad)],
      ['freeIova', [pfn], iovad.freeIova.bind(iovad)],
      ['findIova', [pfn], iovad.findIova.bind(iovad)],
      ['reserveIova', [0x100, 0x1ff], iovad.reserveIova.bind(iovad)],
    ];
    for (const [name, args, call] of cases) {
      for (let at = 0; at < args.length; at++) {
        for (const value of [...odd, -1, 1.5, 0 === at ? undefined : Infinity]) {
          const given = [...args];
          given[at] = value;
          expect(await outcome(() => call(...(given as never[]))), `${name} argument ${at}: ${String(typeof value)}`).toBe('ERR_INVALID_ARGUMENT');
        }
      }
    }
    expect(await outcome(() => iovad.reserveIova(0x200, 0x100))).toBe('ERR_INVALID_ARGUMENT');
    expect(iovad.stats()).toEqual(before);
    expect(iovad.findIova(pfn)).toMatchObject({ lo: pfn });
    for (const options of [null, {}, { granule: 4095, startPfn: 1 }, { granule: 4096, startPfn: -1 }, { granule: 4096, startPfn: 1, rcache: 'no' }, { granule: 4096, startPfn: 1, onlineCpus: 0 }, { granule: trap, startPfn: 1 }]) {
      expect(await outcome(() => new IovaDomain(options as never)), JSON.stringify(options)).toBe('ERR_INVALID_ARGUMENT');
    }
    expect(calls.length - calls0, 'the caller\'s valueOf()/toString() ran').toBe(0);
  });

  it('topology.barAt() finds nothing at a non-number; device.route() takes only a function of its own topology', async () => {
    const system = DmaSystem.create({ engine: { workers: 1 } });
    const other = DmaSystem.create({ engine: { workers: 1 } });
    try {
      for (const value of odd) expect(system.topology.barAt(value as number)).toBeUndefined();
      const device = system.device('0000:81:00.0');
      expect(device.route(system.topology.device('0000:03:00.0')).type).toBe('NOT_SUPPORTED');
      for (const value of [...odd, other.topology.device('0000:03:00.0'), { bdf: '0000:03:00.0' }]) {
        expect(await outcome(() => device.route(value as never))).toBe('ERR_INVALID_ARGUMENT');
      }
    } finally {
      await Promise.all([system.close(), other.close()]);
    }
  });
});
