// copySg's loop for short segments (copyShorts in assembly/sg.ts): entries of up to 256 bytes, two
// an iteration, straight-line 16-byte moves, each entry checked as it is read. Every case compares
// the whole memory it could touch against a plain-JS model of the table (in order, memmove per
// entry, stop before the first entry out of bounds), so a byte written outside a destination, a
// byte missed, or an entry copied out of order fails it.
import { beforeEach, describe, expect, it } from 'vitest';
import { Fabric, SgTable } from '../dist/src/index.js';
import { testRng } from './support/random.js';
import { firstDifference, memmove } from './support/reference.js';

const rng = testRng('kernels-sg-short');
// A small fabric, so that entries can sit at the very ends of its data area and of the memory.
const fabric = new Fabric({ size: '2MiB', scratch: '256KiB' });
const k = fabric.kernels;
const LO = fabric.dataStart;
const HI = fabric.size;
const bytes = fabric.bytes;
let expected: Uint8Array;

// Fresh random bytes over the whole memory for every case; `expected` is the model's copy of it.
beforeEach(() => {
  rng.fill(bytes.subarray(LO, HI));
  expected = bytes.slice();
});
// Every byte of the memory: the data area (so every guard byte around every destination), the
// scratch area and the table itself, which withTable() copies into `expected` once written.
function expectMemory(): void {
  if (Buffer.compare(bytes, expected) !== 0) expect(firstDifference(bytes, expected)).toBe(-1);
}

type Entry = readonly [dst: number, src: number, len: number];

// The model: entries in order, each a memmove, stopping before the first that leaves [lo, hi).
function model(entries: readonly Entry[], lo = LO, hi = HI): number {
  let total = 0;
  for (let i = 0; i < entries.length; i++) {
    const [dst, src, len] = entries[i]!;
    if (dst < lo || src < lo || dst + len > hi || src + len > hi) return -1 - i;
    memmove(expected, dst, src, len);
    total += len;
  }
  return total;
}

function withTable(entries: readonly Entry[], use: (table: SgTable) => void): void {
  const table = new SgTable(fabric, Math.max(1, entries.length));
  try {
    for (const [dst, src, len] of entries) table.push(dst >>> 0, src >>> 0, len >>> 0);
    expected.set(bytes.subarray(table.offset, table.offset + 16 * table.capacity), table.offset);
    use(table);
  } finally {
    table.release();
  }
}

// Runs the table through the public API (which checks a table with a bad entry first) and through
// the raw kernel (which stops at the bad entry), against the model.
function expectCopied(entries: readonly Entry[]): void {
  withTable(entries, (table) => {
    const want = model(entries);
    expect(want).toBeGreaterThanOrEqual(0);
    expect(k.copySg(table)).toBe(want);
    expectMemory();
  });
}

function expectRaw(entries: readonly Entry[], lo = LO, hi = HI): void {
  withTable(entries, (table) => {
    const want = model(entries, lo, hi);
    expect(k.raw.copySg(table.offset, table.count, lo, hi)).toBe(want);
    expectMemory();
  });
}

const DATA = HI - LO;
const anywhere = (len: number) => LO + rng.int(0, DATA - len);
// Odd and even counts, so the unrolled pair and the remainder entry both run.
const counts = () => [1, 2, 3, rng.int(4, 20), rng.int(4, 20) | 1];

describe('copySg short segments (copyShorts)', () => {
  it('every length 0..300, in tables of odd and even counts of that length, at random places', () => {
    for (let len = 0; len <= 300; len++) {
      const entries: Entry[] = [];
      for (const count of counts()) {
        entries.length = 0;
        for (let i = 0; i < count; i++) entries.push([anywhere(len), anywhere(len), len]);
        expectCopied(entries);
      }
    }
  });

  it('tables of random lengths 0..300 mixed, odd and even counts', () => {
    for (let round = 0; round < 60; round++) {
      const count = rng.int(1, 64);
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) {
        const len = rng.int(0, 300);
        entries.push([anywhere(len), anywhere(len), len]);
      }
      expectCopied(entries);
    }
  });

  it('entries at the data area\'s two ends: its first byte and the memory\'s last byte', () => {
    for (let len = 0; len <= 300; len++) {
      const first = LO, last = HI - len;
      const mid = () => LO + 4096 + rng.int(0, 8192);
      for (const entries of [
        [[first, mid(), len], [last, mid(), len]],
        [[mid(), first, len], [mid(), last, len], [last, first, len]],
        [[first, last, len]],
      ] as Entry[][]) {
        expectCopied(entries);
        expectRaw(entries);
      }
    }
  });

  it('an entry out of bounds at each position of a table (both entries of a pair, the remainder) stops the copy before it', () => {
    const bad = (len: number): Entry => {
      const ok = anywhere(len);
      return rng.pick<Entry>([
        [LO - 1, ok, len], // destination one byte below the data area
        [ok, LO - 1 - rng.int(0, 4096), len], // source below it
        [HI - len + 1, ok, len], // destination one byte past the end
        [ok, HI - len + 1, len], // source one byte past the end
        [0xffff_fff0, ok, len], // near 4 GiB (wraps when the length is added)
        [ok, ok, 0xffff_ffff], // longer than the memory
        [ok, ok, DATA + 1],
      ]);
    };
    for (const count of [1, 2, 3, 4, 5, 8, 9]) {
      for (let at = 0; at < count; at++) {
        const len = rng.pick([0, 1, 15, 16, 17, 32, 33, 63, 64, 65, 128, 129, 200, 256, rng.int(0, 256)]);
        const entries: Entry[] = [];
        for (let i = 0; i < count; i++) entries.push(i === at ? bad(len) : [anywhere(len), anywhere(len), len]);
        // The raw kernel copies the entries before it and returns -1 - its index...
        expectRaw(entries);
        // ...and the public API copies nothing and names it.
        expected = bytes.slice();
        withTable(entries, (table) => {
          expect(() => k.copySg(table)).toThrow(expect.objectContaining({ code: 'ERR_KERNEL_BOUNDS', index: at }));
          expectMemory();
        });
      }
    }
  });

  it('entries exactly at lo and ending exactly at hi are in bounds; one byte more is not (raw, lo and hi anywhere)', () => {
    for (let round = 0; round < 200; round++) {
      const len = rng.int(0, 256);
      const lo = LO + rng.int(0, 4096);
      const hi = lo + len + rng.int(0, 300);
      const entries: Entry[] = [[lo, hi - len, len], [hi - len, lo, len], [lo, lo, len]];
      const at = rng.int(0, 3);
      if (at < 3) entries.splice(at, 0, rng.pick<Entry>([[lo - 1, lo, len], [lo, hi - len + 1, len], [hi - len + 1, lo, len], [lo, lo - 1, len]]));
      expectRaw(entries, lo, hi);
    }
  });

  it('a data area shorter than 256 bytes, and lo above hi (raw): every entry still checked', () => {
    for (let round = 0; round < 50; round++) {
      const lo = LO + rng.int(0, 4096);
      const hi = lo + rng.int(0, 255);
      const entries: Entry[] = [];
      for (let i = 0; i < rng.int(1, 7); i++) {
        const len = rng.int(0, hi - lo);
        entries.push([lo + rng.int(0, hi - lo - len), lo + rng.int(0, hi - lo - len), len]);
      }
      if (rng.next() < 0.5) entries.splice(rng.int(0, entries.length), 0, [hi - 1, lo, 2]);
      expectRaw(entries, lo, hi);
      expectRaw(entries.slice(0, 1), hi + 1, hi); // lo > hi: nothing is in bounds
    }
  });

  it('an entry overlapping itself is a memmove at every length 0..300 and every shift, either way, at each position', () => {
    for (let len = 1; len <= 300; len++) {
      const shifts = new Set([1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, len - 1, rng.int(1, len)]);
      for (const shift of shifts) {
        if (shift <= 0 || shift >= len) continue;
        for (const sign of [1, -1]) {
          const src = LO + 1024 + rng.int(0, 4096);
          const self: Entry = [src + sign * shift, src, len];
          // Alone, first of a pair, second of a pair, the remainder after a pair.
          const other = (): Entry => [LO + 8192 + rng.int(0, 4096), LO + 16384 + rng.int(0, 4096), rng.int(0, 256)];
          const position = rng.int(0, 3);
          const entries = [self];
          for (let i = 0; i < position; i++) entries.unshift(other());
          if (position === 1) entries.push(other());
          expectCopied(entries);
        }
      }
    }
  });

  it('entries that overlap each other copy in order: chains forward and backward, shared destinations, sources written earlier', () => {
    for (let round = 0; round < 400; round++) {
      // A small window, so that most entries touch an earlier one's bytes.
      const base = LO + rng.int(0, DATA - 2048);
      const count = rng.int(1, 24);
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) {
        const len = rng.pick([rng.int(0, 300), rng.int(16, 64), rng.int(65, 128), rng.int(129, 256)]);
        const prev = entries[i - 1];
        const at = () => base + rng.int(0, 2048 - len);
        let dst = at(), src = at();
        if (prev) {
          const kind = rng.int(0, 4);
          const near = (x: number) => Math.min(Math.max(x + rng.int(-len, len), base), base + 2048 - len);
          if (kind === 0) src = near(prev[0]); // reads what the entry before wrote, shifted either way
          else if (kind === 1) dst = near(prev[1]); // writes over the source the entry before read
          else if (kind === 2) dst = near(prev[0]); // writes over the destination the entry before wrote
          else if (kind === 3) { dst = prev[1]; src = prev[0]; } // the entry before, backwards
        }
        entries.push([dst, src, len]);
      }
      expectCopied(entries);
    }
  });

  it('runs of short entries between long ones (the other loops) and 129-256 B entries overlapping themselves', () => {
    for (let round = 0; round < 60; round++) {
      const count = rng.int(1, 40);
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) {
        const kind = rng.int(0, 9);
        if (kind === 0) {
          const len = rng.int(257, 5000);
          entries.push([anywhere(len), anywhere(len), len]);
        } else if (kind === 1) {
          const len = 65536 + rng.int(0, 4096); // memory.copy's
          entries.push([anywhere(len), anywhere(len), len]);
        } else if (kind === 2) {
          const len = rng.int(129, 256);
          const src = LO + rng.int(300, DATA - 600);
          entries.push([src + rng.pick([1, -1]) * rng.int(1, len - 1), src, len]);
        } else {
          const len = rng.int(0, 256);
          entries.push([anywhere(len), anywhere(len), len]);
        }
      }
      if (entries.length === 0) continue;
      expectCopied(entries);
      expectRaw(entries);
    }
  });

  it('a table rewritten behind SgTable\'s back mid-run stops at the rewritten entry, at any position, with the bytes before it counted', () => {
    for (const count of [2, 3, 7, 8]) {
      for (let at = 0; at < count; at++) {
        expected = bytes.slice();
        const len = rng.int(1, 256);
        const entries: Entry[] = [];
        for (let i = 0; i < count; i++) entries.push([anywhere(len), anywhere(len), len]);
        withTable(entries, (table) => {
          let copied = 0;
          for (let i = 0; i < at; i++) { memmove(expected, entries[i]![0], entries[i]![1], len); copied += len; }
          expect(table.inBounds).toBe(true);
          new Uint32Array(fabric.buffer, table.offset + 16 * at, 1)[0] = LO - 16; // into the scratch area
          new Uint32Array(expected.buffer, table.offset + 16 * at, 1)[0] = LO - 16;
          expect(() => k.copySg(table)).toThrow(expect.objectContaining({ code: 'ERR_KERNEL_BOUNDS', index: at, copied }));
          expectMemory();
        });
      }
    }
  });
});
