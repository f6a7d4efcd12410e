import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { Fabric, SgList, SgTable, GUARD_SIZE, KERNELS_WASM_URL } from '../dist/src/index.js';
import { testRng } from './support/random.js';
import { crc32cReference, fillReference, firstDifference, memmove } from './support/reference.js';

const rng = testRng('kernels');
const fabric = new Fabric({ size: '32MiB', scratch: '1MiB' });
const arenaRegion = fabric.addRegion({ name: 'arena', kind: 'ram', phys: 0x1_0000_0000, size: '1MiB' });
const A = arenaRegion.offset;
const ARENA = arenaRegion.size;
const arena = arenaRegion.view({ offset: A, length: ARENA });
const k = fabric.kernels;
let expected: Uint8Array;

// Every case starts from fresh random bytes; `expected` is the reference's copy of the arena,
// so comparing the whole arena proves nothing outside a destination was written.
beforeEach(() => {
  rng.fill(arena);
  expected = arena.slice();
});
const expectArena = () => expect(firstDifference(arena, expected)).toBe(-1);

// Runs `use` with a table of `capacity` entries on `on`, released afterwards even when it throws.
function withTable(capacity: number, use: (table: SgTable) => void, on: Fabric = fabric): void {
  const table = new SgTable(on, capacity);
  try {
    use(table);
  } finally {
    table.release();
  }
}

// Around every width and threshold the kernels switch at: v128 (16), the 64-byte loop, the
// single-copy loop limit (1 KiB) and the segment loop limit (64 KiB).
const LENGTHS = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65536 + 3];

describe('module', () => {
  it('imports only a shared env.memory and has no data segments, globals or start function', () => {
    const bytes = new Uint8Array(readFileSync(KERNELS_WASM_URL));
    const module = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    // Walk the sections: 6 = global, 8 = start, 11 = data, 12 = data count.
    const sections = new Set<number>();
    let p = 8;
    const leb = () => { let r = 0, s = 0, b; do { b = bytes[p++]!; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
    while (p < bytes.length) {
      const id = bytes[p++]!;
      const size = leb();
      const start = p;
      if (id !== 0) sections.add(id);
      if (id === 11) expect(leb()).toBe(0);
      p = start + size;
    }
    expect(sections.has(6)).toBe(false);
    expect(sections.has(8)).toBe(false);
    expect(sections.has(11) && sections.has(12)).toBe(false);
  });
});

describe('copy', () => {
  it.each(LENGTHS)('copies %i bytes between random unaligned offsets', (len) => {
    for (let round = 0; round < 4; round++) {
      const src = A + rng.int(0, ARENA / 2 - len - 1);
      const dst = A + ARENA / 2 + rng.int(0, ARENA / 2 - len - 1);
      k.copy(dst, src, len);
      memmove(expected, dst - A, src - A, len);
      expectArena();
    }
  });

  it.each([1, 5, 16, 33, 128, 1000, 4096, 10000])('has memmove semantics for overlapping ranges (%i bytes)', (len) => {
    for (const shift of [1, 7, 16, -1, -9, -16, Math.floor(len / 2), -Math.floor(len / 2)]) {
      const src = A + 100_000 + rng.int(0, 64);
      const dst = src + shift;
      k.copy(dst, src, len);
      memmove(expected, dst - A, src - A, len);
      expectArena();
    }
  });

  it('rejects ranges in the guard page, past the end, or not u32, and copies nothing', () => {
    const cases: [number, number, number, string][] = [
      [0, A, 16, 'ERR_KERNEL_BOUNDS'],
      [GUARD_SIZE - 1, A, 2, 'ERR_KERNEL_BOUNDS'],
      [A, fabric.size - 8, 9, 'ERR_KERNEL_BOUNDS'],
      [fabric.size, A, 1, 'ERR_KERNEL_BOUNDS'],
      [A, A + 1, -1, 'ERR_INVALID_ARGUMENT'],
      [A + 0.5, A, 4, 'ERR_INVALID_ARGUMENT'],
      [Number.NaN, A, 4, 'ERR_INVALID_ARGUMENT'],
      [2 ** 32, A, 4, 'ERR_INVALID_ARGUMENT'],
    ];
    for (const [dst, src, len, code] of cases) {
      expect(() => k.copy(dst, src, len), `${dst} ${src} ${len}`).toThrow(expect.objectContaining({ code }));
    }
    expectArena();
  });
});

describe('huge copies (the loop with ordinary stores, from 16 MiB)', () => {
  it('copies 16 MiB and more between random offsets, and overlapping ranges as memmove', () => {
    const big = new Fabric({ size: '48MiB', scratch: '1MiB' });
    const region = big.addRegion({ name: 'big', kind: 'ram', phys: 0x1_0000_0000, size: '40MiB' });
    const bytes = region.view({ offset: region.offset, length: region.size });
    rng.fill(bytes);
    const reference = bytes.slice();
    const half = region.size / 2;
    for (const len of [16 * 2 ** 20, 16 * 2 ** 20 + rng.int(1, 4095)]) {
      const src = rng.int(0, half - len), dst = half + rng.int(0, half - len);
      big.kernels.copy(region.offset + dst, region.offset + src, len);
      memmove(reference, dst, src, len);
      expect(firstDifference(bytes, reference)).toBe(-1);
    }
    const len = 16 * 2 ** 20 + 5;
    for (const shift of [3, -3, 4096]) {
      const src = 2 ** 20 + rng.int(0, 4096);
      big.kernels.copy(region.offset + src + shift, region.offset + src, len);
      memmove(reference, src + shift, src, len);
      expect(firstDifference(bytes, reference)).toBe(-1);
    }
    // copySg's runs take segments from 16 MiB with the inline loops, overlapping ones included.
    withTable(4, (table) => {
      const entries = [[half + rng.int(0, 4096), rng.int(0, 4096)], [2 ** 20 + 70, 2 ** 20], [2 ** 20 - 70, 2 ** 20]] as const;
      for (const [dst, src] of entries) {
        table.push(region.offset + dst, region.offset + src, len);
        memmove(reference, dst, src, len);
      }
      expect(big.kernels.copySg(table)).toBe(3 * len);
      expect(firstDifference(bytes, reference)).toBe(-1);
    }, big);
  });
});

describe('copySg', () => {
  it('copies random tables of random segments, in order, each with memmove semantics', () => {
    withTable(512, (table) => {
      for (let round = 0; round < 20; round++) {
        table.clear();
        const count = rng.int(0, 512);
        let total = 0;
        for (let i = 0; i < count; i++) {
          const len = rng.pick([0, 1, 15, 16, 17, 63, 64, 65, 100, 127, 128, 256, 1024, 4096, 65535, 65536, rng.int(0, 9000)]);
          const src = A + rng.int(0, ARENA - len);
          // Some segments overlap their source or earlier destinations on purpose.
          const dst = rng.next() < 0.2 ? src + rng.int(-32, 32) : A + rng.int(0, ARENA - len);
          if (dst < A || dst + len > A + ARENA) continue;
          table.push(dst, src, len);
          memmove(expected, dst - A, src - A, len);
          total += len;
        }
        expect(k.copySg(table)).toBe(total);
        expectArena();
      }
    });
  });

  it('equal page-sized neighbours that depend on each other still copy in order', () => {
    // Tables of equal 1-64 KiB segments copy independent neighbours two at a time; any overlap
    // between neighbours (a chain, shared destinations, a segment overlapping itself) must give
    // exactly the in-order result.
    withTable(64, (table) => {
      for (let round = 0; round < 30; round++) {
        table.clear();
        const len = rng.pick([1024, 4096, 4096 + rng.int(1, 63), rng.int(1024, 65535)]);
        const count = rng.int(2, 40);
        let total = 0;
        let prev: [number, number] | undefined;
        for (let i = 0; i < count; i++) {
          const fresh = () => A + rng.int(0, ARENA - len);
          let dst = fresh(), src = fresh();
          if (prev) {
            const kind = rng.int(0, 5);
            if (kind === 0) src = prev[0]; // chain: reads what the previous entry wrote
            else if (kind === 1) dst = Math.min(prev[1] + rng.int(-len + 1, len - 1), A + ARENA - len); // writes over the previous source
            else if (kind === 2) dst = Math.min(Math.max(prev[0] + rng.int(-len + 1, len - 1), A), A + ARENA - len); // overlapping destinations
            else if (kind === 3) dst = Math.min(Math.max(src + rng.int(-64, 64), A), A + ARENA - len); // overlaps itself
          }
          dst = Math.max(dst, A);
          table.push(dst, src, len);
          memmove(expected, dst - A, src - A, len);
          total += len;
          prev = [dst, src];
        }
        expect(k.copySg(table)).toBe(total);
        expectArena();
      }
    });
  });

  // Tables that do not start with a 1-64 KiB segment are copied in runs by inline loops, a segment
  // that overlaps itself included (moveOverlapping); only 64 KiB-16 MiB segments leave the run for
  // memory.copy. Every length up to a few blocks, shifted both ways by every distance that changes
  // which loads come before which stores.
  it('a segment that overlaps itself is a memmove at every length and shift (inline, no memory.copy)', () => {
    withTable(1, (table) => {
      for (let len = 0; len <= 200; len++) {
        for (const shift of [1, 15, 16, 17, 63, 64, 65, len - 1, rng.int(1, 200)]) {
          for (const sign of [1, -1]) {
            if (shift <= 0 || shift >= len) continue;
            const src = A + 200_000 + rng.int(0, 256);
            const dst = src + sign * shift;
            table.clear();
            table.push(dst, src, len);
            expect(k.copySg(table)).toBe(len);
            memmove(expected, dst - A, src - A, len);
          }
        }
      }
      expectArena();
    });
  });

  it('copies tables of short segments in order: overlapping, chained, and 64 KiB-16 MiB ones between', () => {
    withTable(256, (table) => {
      for (let round = 0; round < 40; round++) {
        table.clear();
        let total = 0;
        const count = rng.int(1, 256);
        let prevDst = A;
        for (let i = 0; i < count; i++) {
          // The first entry is short, so the whole table takes the runs.
          const len = i === 0 ? rng.int(0, 1023) : rng.pick([rng.int(0, 1023), rng.int(0, 1023), 65536 + rng.int(0, 70000), 4096]);
          const src = rng.next() < 0.2 ? Math.min(prevDst, A + ARENA - len) : A + rng.int(0, ARENA - len); // some read what an earlier entry wrote
          const overlap = rng.next() < 0.3;
          const dst = overlap ? Math.min(Math.max(src + rng.int(-130, 130), A), A + ARENA - len) : A + rng.int(0, ARENA - len);
          table.push(dst, src, len);
          memmove(expected, dst - A, src - A, len);
          total += len;
          prevDst = dst;
        }
        expect(k.copySg(table)).toBe(total);
        expectArena();
      }
    });
  });

  it('checks every entry first: a bad one at any position copies nothing and names its index', () => {
    withTable(8, (table) => {
      for (const badAt of [0, 3, 7]) {
        table.clear();
        for (let i = 0; i < 8; i++) {
          if (i === badAt) table.push(rng.pick([0, GUARD_SIZE - 4, fabric.size - 2]), A, 8);
          else table.push(A + 4096 * i, A + 65536 + 4096 * i, 4096);
        }
        expect(() => k.copySg(table)).toThrow(expect.objectContaining({ code: 'ERR_KERNEL_BOUNDS', index: badAt }));
        expectArena();
      }
    });
  });
});

describe('SgTable bounds at push', () => {
  it('knows whether every entry lies in the data area, and forgets on clear', () => {
    withTable(4, (table) => {
      expect(table.inBounds).toBe(true);
      table.push(A, A + 4096, 4096);
      expect(table.inBounds).toBe(true);
      table.push(A, fabric.size - 8, 9); // one byte past the end
      expect(table.inBounds).toBe(false);
      table.clear();
      table.push(fabric.dataStart, fabric.size - 8, 8); // exactly the data area's two ends
      expect(table.inBounds).toBe(true);
      table.push(fabric.dataStart - 1, A, 1);
      expect(table.inBounds).toBe(false);
    });
  });

  it('a table rewritten behind its back stops before the bad entry and writes nothing outside the data area', () => {
    withTable(8, (table) => {
      for (const [badAt, shortest, longest] of [[0, 1, 4096], [4, 1, 1023], [7, 1, 1023], [4, 4096, 4096], [7, 65536, 70000]] as const) {
        table.clear();
        let copied = 0;
        for (let i = 0; i < 8; i++) {
          // 1-1023 B: the runs; 1 KiB and up: the runs leaving each to memory.copy.
          const len = rng.int(shortest, longest);
          const src = A + rng.int(0, ARENA / 2 - len);
          const dst = A + ARENA / 2 + rng.int(0, ARENA / 2 - len);
          table.push(dst, src, len);
          if (i < badAt) { memmove(expected, dst - A, src - A, len); copied += len; }
        }
        expect(table.inBounds).toBe(true);
        // Point entry badAt's destination into the scratch area, through raw memory.
        const target = rng.pick([GUARD_SIZE, fabric.dataStart - 16]);
        new Uint32Array(fabric.buffer, table.offset + 16 * badAt, 1)[0] = target;
        const scratch = fabric.bytes.slice(0, fabric.dataStart);
        expect(() => k.copySg(table)).toThrow(expect.objectContaining({ code: 'ERR_KERNEL_BOUNDS', index: badAt, copied }));
        expect(firstDifference(fabric.bytes.subarray(0, fabric.dataStart), scratch)).toBe(-1);
        expectArena();
      }
    });
  });
});

describe('copySgLists', () => {
  function runLists(dstLens: number[], srcLens: number[]) {
    const dst = new SgList(fabric, dstLens.length);
    const src = new SgList(fabric, srcLens.length);
    try {
      // Sources scattered in the first half, destinations in the second: no overlap.
      const srcBytes: number[] = [];
      let at = A + rng.int(0, 63);
      for (const len of srcLens) {
        src.push(at, len);
        for (let i = 0; i < len; i++) srcBytes.push(expected[at - A + i]!);
        at += len + rng.int(1, 300);
      }
      at = A + ARENA / 2 + rng.int(0, 63);
      let n = 0;
      for (const len of dstLens) {
        dst.push(at, len);
        for (let i = 0; i < len; i++) expected[at - A + i] = srcBytes[n++]!;
        at += len + rng.int(1, 300);
      }
      expect(k.copySgLists(dst, src)).toBe(n);
      expectArena();
    } finally {
      dst.release();
      src.release();
    }
  }

  it('copies a 4 KiB source into four 1 KiB destinations and back', () => {
    runLists([1024, 1024, 1024, 1024], [4096]);
    runLists([4096], [1024, 1024, 1024, 1024]);
  });

  it('copies randomly segmented lists of equal totals, including empty segments', () => {
    for (let round = 0; round < 30; round++) {
      const total = rng.int(0, 20000);
      const split = (): number[] => {
        const lens: number[] = [];
        let left = total;
        while (left > 0) {
          const len = Math.min(left, rng.pick([0, 1, 7, 16, 100, 512, rng.int(1, 5000)]));
          lens.push(len);
          left -= len;
        }
        if (lens.length === 0) lens.push(0);
        return lens;
      };
      runLists(split(), split());
    }
  });

  it('rejects unequal totals and out-of-fabric entries without copying', () => {
    const dst = new SgList(fabric, 2);
    const src = new SgList(fabric, 2);
    try {
      dst.push(A, 100);
      src.push(A + 1000, 99);
      expect(() => k.copySgLists(dst, src)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      src.push(8, 1);
      expect(() => k.copySgLists(dst, src)).toThrow(expect.objectContaining({ code: 'ERR_KERNEL_BOUNDS', list: 'src', index: 1 }));
      expectArena();
    } finally {
      dst.release();
      src.release();
    }
  });
});

describe('copySgLists (the raw kernel)', () => {
  it('checks each entry as it reads it: an entry outside [lo, hi) stops the copy there, named -1 - 2i (dst) or -2 - 2i (src), the bytes before it copied', () => {
    const dst = new SgList(fabric, 4);
    const src = new SgList(fabric, 1);
    try {
      for (let i = 0; i < 4; i++) dst.push(A + ARENA / 2 + i * 1000, 1000);
      src.push(A, 4000);
      const lo = fabric.dataStart, hi = fabric.size;
      expect(k.raw.copySgLists(dst.offset, 4, src.offset, 1, lo, hi)).toBe(4000);
      memmove(expected, ARENA / 2, 0, 4000);
      expectArena();
      // Bounds that end inside the third destination: two entries copied, then -1 - 2*2.
      rng.fill(arena);
      expected = arena.slice();
      expect(k.raw.copySgLists(dst.offset, 4, src.offset, 1, lo, A + ARENA / 2 + 2500)).toBe(-5);
      memmove(expected, ARENA / 2, 0, 2000);
      expectArena();
      // A source that starts below lo: nothing copied, -2 - 2*0.
      expect(k.raw.copySgLists(dst.offset, 4, src.offset, 1, A + 1, hi)).toBe(-2);
      expectArena();
    } finally {
      dst.release();
      src.release();
    }
  });
});

describe('fill', () => {
  it.each(LENGTHS)('fills %i bytes with an 8-byte pattern and writes nothing past the end', (len) => {
    const pattern = BigInt.asUintN(64, BigInt(rng.int(0, 2 ** 31)) << 33n | BigInt(rng.int(0, 2 ** 31)));
    const dst = A + rng.int(0, ARENA - len - 1);
    k.fill(dst, pattern, len);
    fillReference(expected, dst - A, pattern, len);
    expectArena();
  });
});

describe('compare', () => {
  it('returns -1 for equal ranges and the first differing offset otherwise', () => {
    for (const len of LENGTHS) {
      const a = A + rng.int(0, ARENA / 2 - len - 1);
      const b = A + ARENA / 2 + rng.int(0, ARENA / 2 - len - 1);
      k.copy(b, a, len);
      memmove(expected, b - A, a - A, len);
      expect(k.compare(a, b, len)).toBe(-1);
      if (len > 0) {
        const at = rng.int(0, len - 1);
        arena[b - A + at] = arena[b - A + at]! ^ (1 + rng.int(0, 254));
        expected[b - A + at] = arena[b - A + at]!;
        expect(k.compare(a, b, len)).toBe(at);
      }
      expectArena();
    }
  });
});

describe('crc32c', () => {
  // RFC 3720 (iSCSI) appendix B.4 test values, plus the customary "123456789" check value.
  const put = (bytes: number[]) => { arena.set(bytes, 0); expected.set(bytes, 0); return A; };
  it.each([
    ['32 bytes of zeros', new Array(32).fill(0), 0x8a9136aa],
    ['32 bytes of 0xff', new Array(32).fill(0xff), 0x62a8ab43],
    ['32 incrementing bytes', Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ['32 decrementing bytes', Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
    ['"123456789"', [...Buffer.from('123456789')], 0xe3069283],
    ['an iSCSI read command PDU', [
      0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14,
      0, 0, 0, 0x18, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0],
    0xd9963a56],
  ] as const)('matches the known answer for %s', (_name, bytes, crc) => {
    expect(k.crc32c(put([...bytes]), bytes.length)).toBe(crc);
  });

  it('matches the reference on random data, at every length around the 8-byte step, and chains', () => {
    for (const len of [...LENGTHS, rng.int(0, 100000)]) {
      const at = A + rng.int(0, ARENA - len - 1);
      const want = crc32cReference(arena.subarray(at - A, at - A + len));
      expect(k.crc32c(at, len)).toBe(want);
      const cut = rng.int(0, len);
      expect(k.crc32c(at + cut, len - cut, k.crc32c(at, cut))).toBe(want);
    }
    expectArena();
  });

  it('copyCrc32c copies (memmove) and returns the CRC of the source bytes', () => {
    for (const len of LENGTHS) {
      for (const overlap of [false, true]) {
        const src = A + rng.int(0, ARENA / 2 - len - 1);
        const dst = overlap ? src + rng.int(-8, 8) : A + ARENA / 2 + rng.int(0, ARENA / 2 - len - 1);
        if (dst < A) continue;
        const want = crc32cReference(expected.subarray(src - A, src - A + len), 0x1234);
        expect(k.copyCrc32c(dst, src, len, 0x1234)).toBe(want);
        memmove(expected, dst - A, src - A, len);
        expectArena();
      }
    }
  });
});
