import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { CopyEngine, Fabric, SgTable } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { testRng } from './support/random.js';
import { crc32cReference, fillReference } from './support/reference.js';

const rng = testRng('engine-promise');
const fabric = new Fabric({ size: '128MiB', scratch: '4MiB' });
const arena = new Arena(fabric, rng, 64 * 2 ** 20);
const engine = CopyEngine.create(fabric, { workers: 2, slots: 64, inlineBelow: 4096, splitAbove: '1MiB' });
afterAll(() => engine.close());
beforeEach(() => arena.randomize());
const HALF = 32 * 2 ** 20;

describe('CopyEngine', () => {
  it.each([0, 1, 100, 4095, 4096, 4097, 65536, 1 << 20, (1 << 20) + 12345, 20 * 2 ** 20])(
    'copies %i bytes (inline, ring or split) and resolves with the byte count',
    async (len) => {
      const src = arena.at(len, 0, HALF), dst = arena.at(len, HALF);
      await expect(engine.copy(dst, src, len)).resolves.toBe(len);
      arena.copied(dst, src, len);
      arena.check();
    },
  );

  it('keeps memmove semantics for overlapping copies of every size class', async () => {
    for (const len of [100, 10000, 3 * 2 ** 20]) {
      const src = arena.at(len + 64, 0, HALF);
      const dst = src + rng.pick([-17, 17, 64]);
      await engine.copy(dst, src, len);
      arena.copied(dst, src, len);
      arena.check();
    }
  });

  it('runs hundreds of concurrent random ops (more than the rings hold) and verifies each by CRC', async () => {
    const ops: Promise<void>[] = [];
    // Non-overlapping destination slots so that ops may complete in any order.
    const SLOT = 65536;
    for (let i = 0; i < 400; i++) {
      const len = rng.int(1, SLOT);
      const src = arena.at(len, 0, HALF);
      const dst = HALF + arena.base + i * SLOT;
      const want = crc32cReference(arena.expected.subarray(src - arena.base, src - arena.base + len));
      arena.copied(dst, src, len);
      ops.push(engine.copyCrc32c(dst, src, len).then((crc) => expect(crc).toBe(want)));
    }
    await Promise.all(ops);
    arena.check();
    expect(engine.stats().errors).toBe(0);
  });

  it('copySg copies segment arrays and SgTables, in order', async () => {
    const segments: [number, number, number][] = [];
    for (let i = 0; i < 50; i++) {
      const len = rng.int(0, 20000);
      const src = arena.at(len, 0, HALF), dst = arena.at(len, HALF);
      segments.push([dst, src, len]);
      arena.copied(dst, src, len);
    }
    const total = segments.reduce((n, s) => n + s[2], 0);
    await expect(engine.copySg(segments)).resolves.toBe(total);
    arena.check();
    const table = new SgTable(fabric, 3);
    for (let i = 0; i < 3; i++) {
      const src = arena.at(5000, 0, HALF), dst = arena.at(5000, HALF);
      table.push(dst, src, 5000);
      arena.copied(dst, src, 5000);
    }
    await expect(engine.copySg(table)).resolves.toBe(15000);
    table.release();
    arena.check();
  });

  it('fill resolves with the length and writes exactly the pattern', async () => {
    for (const len of [5, 4096, 100000]) {
      const dst = arena.at(len);
      const pattern = 0x0123456789abcdefn ^ BigInt(rng.int(0, 2 ** 30));
      await expect(engine.fill(dst, pattern, len)).resolves.toBe(len);
      fillReference(arena.expected, dst - arena.base, pattern, len);
      arena.check();
    }
  });

  it('rejects bad ranges with ERR_COPY_FAILED and the status, inline and on a ring, and goes on', async () => {
    for (const len of [16, 100000]) {
      await expect(engine.copy(arena.at(len), 64, len)).rejects.toMatchObject({ code: 'ERR_COPY_FAILED', status: 'INVALID_SRC', faultAddress: 64 });
      await expect(engine.copy(fabric.size - 8, arena.at(len), len)).rejects.toMatchObject({ code: 'ERR_COPY_FAILED', status: 'INVALID_DST' });
      await expect(engine.fill(fabric.dataStart - 1, 1n, len)).rejects.toMatchObject({ code: 'ERR_COPY_FAILED', status: 'INVALID_DST' });
    }
    await expect(engine.copySg([[arena.at(10), arena.at(10), 10], [arena.at(10), 8, 10]])).rejects.toMatchObject({ status: 'INVALID_SRC', faultAddress: 8 });
    arena.check();
    const src = arena.at(5000, 0, HALF), dst = arena.at(5000, HALF);
    await engine.copy(dst, src, 5000);
    arena.copied(dst, src, 5000);
    arena.check();
  });

  it('rejects malformed arguments with ERR_INVALID_ARGUMENT', async () => {
    await expect(engine.copy(-1, 0, 1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(engine.copy(0, 0, 1.5)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(engine.fill(arena.base, 3 as never, 1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(engine.copySg('x' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(engine.copySg([[1, 2]] as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(engine.copy(arena.base, arena.base, 10, { signal: 'no' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    arena.check();
  });

  it('an AbortSignal cancels queued work without killing a worker', async () => {
    const controller = new AbortController();
    const deathsBefore = engine.stats().workerDeaths;
    // Fill the rings and their backlogs with big copies, then abort: some complete, the rest abort.
    const ops = Array.from({ length: 300 }, (_, i) => {
      const dst = HALF + arena.base + (i % 16) * 2 ** 20;
      return engine.copy(dst, arena.base + (i % 8) * 2 ** 20, 900 * 1024, { signal: controller.signal }).then(
        () => 'done',
        (err: { code: string }) => err.code,
      );
    });
    controller.abort();
    const outcomes = await Promise.all(ops);
    expect(outcomes.every((o) => o === 'done' || o === 'ERR_ABORTED')).toBe(true);
    expect(outcomes.filter((o) => o === 'ERR_ABORTED').length).toBeGreaterThan(0);
    expect(engine.stats().workerDeaths).toBe(deathsBefore);
    await expect(engine.copy(arena.base + HALF, arena.base, 10000, { signal: controller.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    arena.randomize();
    const src = arena.at(50000, 0, HALF), dst = arena.at(50000, HALF);
    await engine.copy(dst, src, 50000);
    arena.copied(dst, src, 50000);
    arena.check();
  });
});

describe('placement and the engine\'s segment tables', () => {
  it('placement \'worker\' hands ops below inlineBelow to a worker; the bytes are the same', async () => {
    const before = engine.stats();
    const len = rng.int(1, 4095);
    const src = arena.at(len, 0, HALF), dst = arena.at(len, HALF);
    await expect(engine.copy(dst, src, len, { placement: 'worker' })).resolves.toBe(len);
    arena.copied(dst, src, len);
    const segments = Array.from({ length: 3 }, (_, i) => [HALF + arena.base + i * 8192, arena.at(100, 0, HALF), rng.int(0, 100)] as [number, number, number]);
    await engine.copySg(segments, { placement: 'worker' });
    for (const [d, s, l] of segments) arena.copied(d, s, l);
    arena.check();
    const after = engine.stats();
    expect(after.submitted - before.submitted).toBe(2);
    expect(after.inline).toBe(before.inline);
    await expect(engine.copy(dst, src, 1, { placement: 'yes' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'placement' });
  });

  it('placement \'caller\' copies ops of any size in the caller\'s thread', async () => {
    const before = engine.stats();
    const len = rng.int(70000, 3 * 2 ** 20); // above inlineBelow and splitAbove
    const src = arena.at(len, 0, HALF), dst = arena.at(len, HALF);
    const done = engine.copy(dst, src, len, { placement: 'caller' });
    arena.copied(dst, src, len);
    arena.check(); // already copied: the bytes moved before the promise was even awaited
    await expect(done).resolves.toBe(len);
    const segments: [number, number, number][] = [[HALF + arena.base, arena.at(40000, 0, HALF), 40000], [HALF + arena.base + 65536, arena.at(40000, 0, HALF), 40000]];
    const sg = engine.copySg(segments, { placement: 'caller' });
    for (const [d, s, l] of segments) arena.copied(d, s, l);
    arena.check();
    await expect(sg).resolves.toBe(80000);
    const after = engine.stats();
    expect(after.inline - before.inline).toBe(2);
    expect(after.submitted).toBe(before.submitted);
    await expect(engine.copy(0, src, 16, { placement: 'caller' })).rejects.toMatchObject({ code: 'ERR_COPY_FAILED', status: 'INVALID_DST' });
  });

  it('short segment arrays in flight take the engine\'s spare tables, not new scratch memory', async () => {
    const scratch = fabric.scratch.stats().allocations;
    const ops: Promise<number>[] = [];
    for (let i = 0; i < 4; i++) {
      const segments: [number, number, number][] = [[HALF + arena.base + i * 8192, arena.at(64, 0, HALF), 64], [HALF + arena.base + i * 8192 + 4096, arena.at(64, 0, HALF), 64]];
      for (const [d, s, l] of segments) arena.copied(d, s, l);
      ops.push(engine.copySg(segments, { placement: 'worker' }));
    }
    // All four are on a ring now, each in a table: none of them was allocated for it.
    expect(fabric.scratch.stats().allocations).toBe(scratch);
    await Promise.all(ops);
    arena.check();
  });

  it('many segment arrays in flight, some longer than a spare table, leave no scratch memory behind', async () => {
    const scratch = fabric.scratch.stats().allocations;
    const ops: Promise<number>[] = [];
    for (let i = 0; i < 24; i++) {
      // Mostly short arrays (a spare table while one is free), some longer than a spare holds.
      const count = rng.pick([2, 16, 256, 300]);
      const segments: [number, number, number][] = [];
      for (let k = 0; k < count; k++) {
        const len = rng.int(0, 64);
        segments.push([HALF + arena.base + (i * 512 + k) * 128, arena.at(len, 0, HALF), len]);
      }
      for (const [d, s, l] of segments) arena.copied(d, s, l);
      ops.push(engine.copySg(segments, { placement: 'worker' }));
    }
    await Promise.all(ops);
    arena.check();
    expect(fabric.scratch.stats().allocations).toBe(scratch);
  });

  it('close() returns every table to the scratch area', async () => {
    const own = new Fabric({ size: '16MiB', scratch: '1MiB' });
    void own.kernels; // the kernels' CRC table stays for the fabric's life
    const empty = own.scratch.stats().allocations;
    const e = CopyEngine.create(own, { workers: 1 });
    expect(own.scratch.stats().allocations).toBeGreaterThan(empty);
    const at = own.dataStart;
    await e.copySg([[at + 4096, at, 64], [at + 8192, at + 64, 64]], { placement: 'worker' });
    await e.close();
    expect(own.scratch.stats().allocations).toBe(empty);
  });
});

describe('CopyEngine lifecycle', () => {
  it('close() waits for issued ops, then rejects new ones with ERR_ENGINE_CLOSED', async () => {
    const own = CopyEngine.create(fabric, { workers: 1, slots: 8 });
    const src = arena.at(100000, 0, HALF), dst = arena.at(100000, HALF);
    const pending = Array.from({ length: 20 }, () => own.copy(dst, src, 100000));
    await own.close();
    await expect(Promise.all(pending)).resolves.toHaveLength(20);
    arena.copied(dst, src, 100000);
    arena.check();
    await expect(own.copy(dst, src, 1)).rejects.toMatchObject({ code: 'ERR_ENGINE_CLOSED' });
  });

  it('rejects bad options', () => {
    expect(() => CopyEngine.create(fabric, { workers: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => CopyEngine.create(fabric, { inlineBelow: '4KB' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SIZE' }));
  });
});
