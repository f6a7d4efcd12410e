import { describe, expect, it } from 'vitest';
import { Fabric, GUARD_SIZE, RangeAllocator, parseSize, formatSize } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const rng = testRng('fabric');
const GiB = 2 ** 30;

describe('sizes', () => {
  it.each([
    [4096, 4096], ['4096', 4096], ['4096B', 4096], ['4KiB', 4096], ['64MiB', 64 * 2 ** 20], ['1GiB', GiB], ['0', 0], ['2TiB', 2 * 2 ** 40],
  ] as const)('parses %j', (input, bytes) => expect(parseSize(input)).toBe(bytes));

  it.each([-1, 1.5, Number.NaN, Infinity, '4KB', '4K', '4 KiB', '1.5MiB', '-4KiB', '', 'KiB', '0x1000', null, undefined, {}, [], 2 ** 60, '99999999999TiB'])(
    'rejects %j with ERR_INVALID_SIZE',
    (input) => expect(() => parseSize(input)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SIZE' })),
  );

  it('formats with the largest exact unit', () => {
    expect([formatSize(4096), formatSize(4097), formatSize(64 * 2 ** 20), formatSize(3 * GiB)]).toEqual(['4KiB', '4097B', '64MiB', '3GiB']);
  });
});

describe('fabric', () => {
  it('rejects sizes that are not whole wasm pages, above 4 GiB, or too small for the scratch area', () => {
    for (const options of [{ size: 100000 }, { size: '8GiB' }, { size: '1MiB', scratch: '1MiB' }, { size: '4MiB', scratch: 1000 }]) {
      expect(() => new Fabric(options)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => new Fabric({ size: '4MB' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SIZE' }));
  });

  it('translates phys <-> fabric offset in regions above and below 4 GiB, and views without copying', () => {
    const fabric = new Fabric({ size: '16MiB', scratch: '64KiB' });
    const low = fabric.addRegion({ name: 'low', kind: 'ram', phys: 0x10_0000, size: '1MiB' });
    const high = fabric.addRegion({ name: 'high', kind: 'ram', phys: 5 * GiB, size: '2MiB' });
    const bar = fabric.addRegion({ name: 'bar', kind: 'bar', phys: 0x40_0000_0000, size: '64KiB', busOffset: -0x30_0000_0000 });
    expect(low.offset).toBeGreaterThanOrEqual(GUARD_SIZE);
    expect(fabric.regions.map((r) => r.name)).toEqual(['low', 'high', 'bar']);
    for (const region of [low, high, bar]) {
      for (let i = 0; i < 50; i++) {
        const phys = region.phys + rng.int(0, region.size - 1);
        const offset = fabric.physToOffset(phys);
        expect(offset).toBe(region.offset + (phys - region.phys));
        expect(fabric.offsetToPhys(offset)).toBe(phys);
        expect(fabric.regionAt(phys)).toBe(region);
      }
    }
    const view = fabric.viewPhys(high.phys + 10, 4);
    view.set([1, 2, 3, 4]);
    expect([...fabric.bytes.subarray(high.offset + 10, high.offset + 14)]).toEqual([1, 2, 3, 4]);
    expect(bar.phys + bar.busOffset).toBe(0x10_0000_0000);
  });

  it('rejects a phys in no region, or a range that crosses a region end', () => {
    const fabric = new Fabric({ size: '8MiB', scratch: '64KiB' });
    const a = fabric.addRegion({ name: 'a', kind: 'ram', phys: 0x10_0000, size: '1MiB' });
    fabric.addRegion({ name: 'b', kind: 'ram', phys: 0x20_0000, size: '1MiB' }); // adjacent to a
    for (const [phys, length] of [[0, 1], [0xf_ffff, 1], [0x30_0000, 1], [a.physEnd - 4, 8], [Number.NaN, 1], [a.phys, -1]] as const) {
      expect(() => fabric.physToOffset(phys, length)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ADDRESS' }));
    }
    expect(() => fabric.offsetToPhys(5)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ADDRESS' }));
  });

  it('rejects conflicting or malformed regions and stays unchanged', () => {
    const fabric = new Fabric({ size: '4MiB', scratch: '64KiB' });
    fabric.addRegion({ name: 'a', kind: 'ram', phys: 0x10_0000, size: '1MiB' });
    const before = fabric.unassigned;
    const bad: [object, string][] = [
      [{ name: 'a', kind: 'ram', phys: 0x80_0000, size: 4096 }, 'ERR_REGION_CONFLICT'],
      [{ name: 'b', kind: 'ram', phys: 0x1f_f000, size: 8192 }, 'ERR_REGION_CONFLICT'],
      [{ name: 'c', kind: 'ram', phys: 0x80_0000, size: '8MiB' }, 'ERR_FABRIC_FULL'],
      [{ name: 'd', kind: 'rom', phys: 0x80_0000, size: 4096 }, 'ERR_INVALID_ARGUMENT'],
      [{ name: 'e', kind: 'ram', phys: 0x80_0001, size: 4096 }, 'ERR_INVALID_ARGUMENT'],
      [{ name: 'f', kind: 'ram', phys: 0x80_0000, size: 100 }, 'ERR_INVALID_ARGUMENT'],
      [{ name: '', kind: 'ram', phys: 0x80_0000, size: 4096 }, 'ERR_INVALID_ARGUMENT'],
      [{ name: 'g', kind: 'ram', phys: 0x80_0000, size: '4k' }, 'ERR_INVALID_SIZE'],
    ];
    for (const [definition, code] of bad) {
      expect(() => fabric.addRegion(definition as never), JSON.stringify(definition)).toThrow(expect.objectContaining({ code }));
    }
    expect(fabric.unassigned).toBe(before);
    expect(fabric.regions).toHaveLength(1);
  });

  it('allocates aligned spans from a region and frees them', () => {
    const fabric = new Fabric({ size: '4MiB', scratch: '64KiB' });
    const ram = fabric.addRegion({ name: 'ram', kind: 'ram', phys: 0x1_0000_3000, size: '1MiB' });
    const a = ram.allocate(100);
    const b = ram.allocate('4KiB', 4096);
    expect(b.phys % 4096).toBe(0);
    expect(b.offset - ram.offset).toBe(b.phys - ram.phys);
    ram.view(b).fill(7);
    expect(fabric.bytes[b.offset + 4095]).toBe(7);
    ram.free(a);
    ram.free(b);
    expect(ram.stats()).toMatchObject({ used: 0, allocations: 0, largestFree: ram.size });
    expect(() => ram.free(b)).toThrow(expect.objectContaining({ code: 'ERR_DOUBLE_FREE' }));
    const other = fabric.addRegion({ name: 'other', kind: 'ram', phys: 0x10_0000, size: '64KiB' });
    const c = other.allocate(64);
    expect(() => ram.free(c)).toThrow(expect.objectContaining({ code: 'ERR_FOREIGN_SPAN' }));
    expect(other.stats().allocations).toBe(1);
  });
});

describe('RangeAllocator', () => {
  it('never hands out overlapping ranges, honours alignment, and coalesces back to one extent', () => {
    const alloc = new RangeAllocator(4096, 1 << 20);
    const live = new Map<number, number>();
    for (let step = 0; step < 3000; step++) {
      if (live.size > 0 && rng.next() < 0.45) {
        const keys = [...live.keys()];
        const start = keys[rng.int(0, keys.length - 1)]!;
        alloc.free(start);
        live.delete(start);
      } else {
        const length = rng.int(1, 20000);
        const alignment = 2 ** rng.int(0, 12);
        let start: number;
        try {
          start = alloc.allocate(length, alignment);
        } catch (err) {
          expect(err).toMatchObject({ code: 'ERR_ALLOC_EXHAUSTED' });
          continue;
        }
        expect(start % alignment).toBe(0);
        expect(start).toBeGreaterThanOrEqual(4096);
        expect(start + length).toBeLessThanOrEqual(4096 + (1 << 20));
        for (const [s, l] of live) expect(start + length <= s || s + l <= start).toBe(true);
        live.set(start, length);
      }
      const used = [...live.values()].reduce((a, b) => a + b, 0);
      expect(alloc.stats().used).toBe(used);
    }
    for (const start of live.keys()) alloc.free(start);
    expect(alloc.stats()).toEqual({ size: 1 << 20, used: 0, free: 1 << 20, allocations: 0, largestFree: 1 << 20 });
  });

  it('fails exhaustion, bad arguments, double and foreign frees without changing state', () => {
    const alloc = new RangeAllocator(0, 8192);
    const a = alloc.allocate(4096);
    const snapshot = alloc.stats();
    expect(() => alloc.allocate(8192)).toThrow(expect.objectContaining({ code: 'ERR_ALLOC_EXHAUSTED', requested: 8192 }));
    for (const [length, alignment] of [[0, 1], [-5, 1], [1.5, 1], [16, 3], [16, 0]] as const) {
      expect(() => alloc.allocate(length, alignment)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => alloc.free(4096)).toThrow(expect.objectContaining({ code: 'ERR_FOREIGN_SPAN' }));
    expect(alloc.stats()).toEqual(snapshot);
    alloc.free(a);
    expect(() => alloc.free(a)).toThrow(expect.objectContaining({ code: 'ERR_DOUBLE_FREE' }));
    expect(alloc.stats().used).toBe(0);
  });
});

describe('errors', () => {
  it('rebuild their class from the plain form carried across threads', async () => {
    const { AddressError, errorFromJSON, DmaBounceError } = await import('../dist/src/index.js');
    const original = new AddressError('phys 0x1 is in no region', { address: 1, length: 2 });
    const rebuilt = errorFromJSON(JSON.parse(JSON.stringify(original)));
    expect(rebuilt).toBeInstanceOf(AddressError);
    expect(rebuilt).toMatchObject({ code: 'ERR_BAD_ADDRESS', message: original.message, address: 1, length: 2 });
    const unknown = errorFromJSON({ code: 'ERR_SOMETHING_NEW', message: 'x' });
    expect(unknown).toBeInstanceOf(DmaBounceError);
    expect(unknown.code).toBe('ERR_SOMETHING_NEW');
  });
});

describe('hostile input to the fabric', () => {
  const fabric = new Fabric({ size: '16MiB', scratch: '1MiB' });
  const ram = fabric.addRegion({ name: 'ram', kind: 'ram', phys: 0x10_0000, size: '4MiB' });
  const any = (v: unknown) => v as never;

  it('Region.view reads offset and length once: a getter cannot move the view out of the region (was: a view of the guard page)', () => {
    for (const later of [0, GUARD_SIZE, fabric.dataStart - 4096, ram.offset + ram.size]) {
      let reads = 0;
      const span = { get offset() { return reads++ === 0 ? ram.offset + 4096 : later; }, length: 64 };
      const view = ram.view(span);
      expect(view.byteOffset).toBe(ram.offset + 4096);
      expect(view.length).toBe(64);
      expect(reads).toBe(1);
    }
    expect(() => ram.view({ offset: ram.offset + 0.5, length: 4 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'span' }));
    expect(() => ram.view({ offset: ram.offset, length: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'span' }));
    expect(() => ram.view({ offset: ram.offset + ram.size - 2, length: 4 })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ADDRESS', address: ram.offset + ram.size - 2, length: 4 }));
  });

  it('Region.free reads the span once and refuses what is not one of its spans, allocator unchanged', () => {
    const span = ram.allocate(4096);
    const stats = ram.stats();
    let reads = 0;
    const shifty = { region: ram, get phys() { return reads++ === 0 ? 12 : span.phys; }, offset: 0, length: 4096 };
    expect(() => ram.free(any(shifty))).toThrow(expect.objectContaining({ code: 'ERR_FOREIGN_SPAN' }));
    expect(reads).toBe(1);
    expect(ram.stats()).toEqual(stats);
    for (const bad of [{ region: {} }, { region: ram, phys: Symbol('x') }, { region: ram, phys: 1n }, { get region() { throw new Error('x'); } }]) {
      const error = (() => { try { ram.free(any(bad)); } catch (e) { return e; } return undefined; })() as { code?: string };
      expect(['ERR_FOREIGN_SPAN', 'ERR_INVALID_ARGUMENT']).toContain(error?.code);
    }
    expect(ram.stats()).toEqual(stats);
    ram.free(span);
  });

  it.each([
    ['fabric.regionAt(Symbol())', () => fabric.regionAt(any(Symbol('x'))), 'ERR_INVALID_ARGUMENT'],
    ['fabric.regionAt(phys, Symbol())', () => fabric.regionAt(ram.phys, any(Symbol('x'))), 'ERR_INVALID_ARGUMENT'],
    ['fabric.regionAt(1n)', () => fabric.regionAt(any(1n)), 'ERR_INVALID_ARGUMENT'],
    ['fabric.offsetToPhys(Symbol())', () => fabric.offsetToPhys(any(Symbol('x'))), 'ERR_INVALID_ARGUMENT'],
    ['fabric.region({ toString throws })', () => fabric.region(any({ toString() { throw new Error('x'); } })), 'ERR_INVALID_ARGUMENT'],
    ['ram.physToOffset(undefined)', () => ram.physToOffset(any(undefined)), 'ERR_INVALID_ARGUMENT'],
    ['ram.physToOffset(phys + 0.5)', () => ram.physToOffset(ram.phys + 0.5), 'ERR_BAD_ADDRESS'],
    ['new RangeAllocator(0, 4096).free(Symbol())', () => new RangeAllocator(0, 4096).free(any(Symbol('x'))), 'ERR_INVALID_ARGUMENT'],
    ['new Fabric({ get size() throws })', () => new Fabric(any({ get size() { throw new Error('x'); } })), 'ERR_INVALID_ARGUMENT'],
    ['fabric.addRegion({ get phys() throws })', () => fabric.addRegion(any({ name: 'x', kind: 'ram', size: 4096, get phys() { throw new Error('x'); } })), 'ERR_INVALID_ARGUMENT'],
  ] as const)('%s is a coded error, not a TypeError', (_name, call, code) => {
    expect(call).toThrow(expect.objectContaining({ code }));
  });
});
