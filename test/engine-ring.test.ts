// DPDK's app/test/test_dmadev.c behaviours, ported to a DmaChannel's ring.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { DmaChannel, Fabric, NO_SPACE, OP_FLAG_FENCE, OP_FLAG_SUBMIT, SgList, SgTable, Status, type Ring } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { testRng } from './support/random.js';
import { fillReference, crc32cReference } from './support/reference.js';

const rng = testRng('engine-ring');
const fabric = new Fabric({ size: '64MiB', scratch: '4MiB' });
const arena = new Arena(fabric, rng, 16 * 2 ** 20);
const channel = DmaChannel.open(fabric, { slots: 64 });
const ring = channel.ring;
afterAll(() => channel.close());
beforeEach(() => arena.randomize());

async function awaitAll(r: Ring): Promise<void> {
  while (r.inFlight > 0) await r.waitForCompletion();
}

/** Ring index that follows `index`. */
const after = (index: number, n = 1) => (index + n) & 0xffff;

describe('copies (test_enqueue_copies)', () => {
  it('single copy: data checked, completed(1) returns it with its index', async () => {
    const len = rng.int(1, 65536);
    const src = arena.at(len, 0, 8 << 20), dst = arena.at(len, 8 << 20);
    const first = ring.completed().lastIdx;
    const id = ring.enqueueCopy(dst, src, len, OP_FLAG_SUBMIT);
    expect(id).toBe(after(first));
    await awaitAll(ring);
    expect(ring.completed(1)).toEqual({ count: 1, lastIdx: id, hasError: false });
    arena.copied(dst, src, len);
    arena.check();
  });

  it('completed() on an idle ring returns 0 and keeps the last index', async () => {
    const id = ring.enqueueCopy(arena.at(64, 0, 1 << 20), arena.at(64, 1 << 20, 2 << 20), 64, OP_FLAG_SUBMIT);
    await awaitAll(ring);
    expect(ring.completed()).toEqual({ count: 1, lastIdx: id, hasError: false });
    expect(ring.completed()).toEqual({ count: 0, lastIdx: id, hasError: false });
    expect(ring.completedStatus()).toEqual({ count: 0, lastIdx: id, completions: [] });
  });

  it('a burst of copies completes in order with consecutive indices', async () => {
    const start = after(ring.lastIdx);
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) {
      const len = rng.int(1, 8192);
      const src = arena.at(len, i * 1600 * 1024, i * 1600 * 1024 + 800 * 1024);
      const dst = arena.at(len, i * 1600 * 1024 + 800 * 1024, (i + 1) * 1600 * 1024);
      ids.push(ring.enqueueCopy(dst, src, len));
      arena.copied(dst, src, len);
    }
    expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => after(start, i)));
    ring.submit();
    await awaitAll(ring);
    expect(ring.completed(10)).toEqual({ count: 10, lastIdx: ids[9], hasError: false });
    arena.check();
  });

  // do_multi_copies(split_batches, split_completions, use_completed_status)
  it.each([
    ['one burst', false, false, false],
    ['submitted in halves', true, false, false],
    ['gathered in halves', false, true, false],
    ['gathered through completedStatus', false, false, true],
  ])('32 random copies: %s', async (_name, splitBatches, splitCompletions, useStatus) => {
    const ids: number[] = [];
    for (let i = 0; i < 32; i++) {
      const len = rng.int(1, 16384);
      const src = arena.at(len, i * 256 * 1024, i * 256 * 1024 + 128 * 1024);
      const dst = arena.at(len, i * 256 * 1024 + 128 * 1024, (i + 1) * 256 * 1024);
      ids.push(ring.enqueueCopy(dst, src, len));
      arena.copied(dst, src, len);
      if (splitBatches && i === 15) ring.submit();
    }
    ring.submit();
    await awaitAll(ring);
    if (useStatus) {
      const { count, lastIdx, completions } = ring.completedStatus(32);
      expect([count, lastIdx]).toEqual([32, ids[31]]);
      expect(completions.every((c) => c.status === Status.SUCCESS)).toBe(true);
      expect(completions.map((c) => c.index)).toEqual(ids);
    } else if (splitCompletions) {
      expect(ring.completed(16)).toEqual({ count: 16, lastIdx: ids[15], hasError: false });
      expect(ring.completed(16)).toEqual({ count: 16, lastIdx: ids[31], hasError: false });
    } else {
      expect(ring.completed(32)).toEqual({ count: 32, lastIdx: ids[31], hasError: false });
    }
    arena.check();
  });
});

describe('scatter-gather copies (test_enqueue_sg_copies)', () => {
  it('copies every pair of source and destination segment counts 1..8', async () => {
    const dstList = new SgList(fabric, 8);
    const srcList = new SgList(fabric, 8);
    try {
      for (let srcCount = 1; srcCount <= 8; srcCount++) {
        for (let dstCount = 1; dstCount <= 8; dstCount++) {
          const total = rng.int(Math.max(srcCount, dstCount), 8192);
          const split = (count: number) => {
            const cuts = new Set<number>();
            while (cuts.size < count - 1) cuts.add(rng.int(1, total - 1));
            const points = [0, ...[...cuts].sort((a, b) => a - b), total];
            return points.slice(1).map((p, i) => p - points[i]!);
          };
          const source = arena.at(total, 0, 4 << 20);
          const dest = arena.at(total + 8 * 64, 8 << 20);
          srcList.clear();
          dstList.clear();
          let at = source;
          for (const len of split(srcCount)) { srcList.push(at, len); at += len; }
          // Destination segments are scattered with gaps, whose bytes must stay untouched.
          at = dest;
          let done = 0;
          for (const len of split(dstCount)) {
            dstList.push(at, len);
            arena.copied(at, source + done, len);
            done += len;
            at += len + rng.int(1, 64);
          }
          const id = ring.enqueueCopySg(dstList, srcList, OP_FLAG_SUBMIT);
          await awaitAll(ring);
          const { completions } = ring.completedStatus();
          expect(completions).toEqual([expect.objectContaining({ index: id, status: Status.SUCCESS, bytesCompleted: total })]);
          arena.check();
        }
      }
    } finally {
      dstList.release();
      srcList.release();
    }
  });

  it('fails lists of unequal totals with INVALID_LENGTH and copies nothing', async () => {
    const dstList = new SgList(fabric, 2);
    const srcList = new SgList(fabric, 2);
    dstList.push(arena.at(100, 0, 1 << 20), 100);
    srcList.push(arena.at(99, 2 << 20, 3 << 20), 99);
    ring.enqueueCopySg(dstList, srcList, OP_FLAG_SUBMIT);
    await awaitAll(ring);
    expect(ring.completedStatus().completions[0]).toMatchObject({ status: Status.INVALID_LENGTH, statusName: 'INVALID_LENGTH' });
    dstList.release();
    srcList.release();
    arena.check();
  });
});

describe('fill (test_enqueue_fill)', () => {
  it.each([1, 3, 7, 8, 15, 16, 17, 32, 33, 64, 4095, 65537])('fills %i bytes and writes nothing past the end', async (len) => {
    const pattern = BigInt.asUintN(64, BigInt(rng.int(0, 2 ** 31)) << 32n | BigInt(rng.int(0, 2 ** 31)) << 1n | 1n);
    const dst = arena.at(len);
    const id = ring.enqueueFill(dst, pattern, len, OP_FLAG_SUBMIT);
    fillReference(arena.expected, dst - arena.base, pattern, len);
    await awaitAll(ring);
    expect(ring.completed()).toEqual({ count: 1, lastIdx: id, hasError: false });
    arena.check();
  });
});

describe('copy with CRC32C', () => {
  it('a table op of equal page-sized segments copies dependent neighbours in order', async () => {
    // The server copies equal independent neighbours two at a time; a chain (each segment reads
    // what the one before wrote) and overlapping destinations must still give the in-order bytes.
    const table = new SgTable(fabric, 32);
    try {
      const len = rng.pick([1024, 4096, 4096 + 17]);
      let prevDst = arena.at(len);
      for (let i = 0; i < 32; i++) {
        const kind = rng.int(0, 2);
        const src = kind === 0 ? prevDst : arena.at(len);
        const dst = kind === 1 ? Math.min(prevDst + rng.int(1, len - 1), arena.base + arena.size - len) : arena.at(len);
        table.push(dst, src, len);
        arena.copied(dst, src, len);
        prevDst = dst;
      }
      const id = ring.enqueueCopyTable(table, OP_FLAG_SUBMIT);
      await awaitAll(ring);
      const { completions } = ring.completedStatus();
      expect(completions.at(-1)).toMatchObject({ index: id, status: Status.SUCCESS, bytesCompleted: 32 * len });
      arena.check();
    } finally {
      table.release();
    }
  });

  it('returns the CRC of the source in the completion', async () => {
    const len = rng.int(1, 50000);
    const src = arena.at(len, 0, 4 << 20), dst = arena.at(len, 8 << 20);
    const want = crc32cReference(arena.expected.subarray(src - arena.base, src - arena.base + len));
    ring.enqueueCopyCrc32c(dst, src, len, 0, OP_FLAG_SUBMIT);
    arena.copied(dst, src, len);
    await awaitAll(ring);
    expect(ring.completedStatus().completions[0]).toMatchObject({ status: Status.SUCCESS, result: want, bytesCompleted: len });
    arena.check();
  });
});

describe('burst capacity (test_burst_capacity)', () => {
  it('drops by exactly one per enqueue, returns NO_SPACE when full, and survives the index wrap past 65535', async () => {
    const src = arena.at(64, 0, 1 << 20), dst = arena.at(64, 2 << 20, 3 << 20);
    arena.copied(dst, src, 64);
    expect(ring.burstCapacity()).toBe(ring.slots);
    // Enough full rounds to wrap the 16-bit index at least once.
    let last = ring.lastIdx;
    let wrapped = false;
    for (let round = 0; round < 1100 && !wrapped; round++) {
      const cap = ring.burstCapacity();
      for (let i = 0; i < ring.slots; i++) {
        const id = ring.enqueueCopy(dst, src, 64);
        expect(id).toBe(after(last));
        if (id < last) wrapped = true;
        last = id;
        expect(ring.burstCapacity()).toBe(cap - i - 1);
      }
      ring.submit();
      await awaitAll(ring);
      expect(ring.completed()).toEqual({ count: ring.slots, lastIdx: last, hasError: false });
      expect(ring.burstCapacity()).toBe(ring.slots);
    }
    expect(wrapped).toBe(true);
    for (let i = 0; i < ring.slots; i++) ring.enqueueCopy(dst, src, 64);
    expect(ring.burstCapacity()).toBe(0);
    expect(ring.enqueueCopy(dst, src, 64)).toBe(NO_SPACE);
    ring.submit();
    await awaitAll(ring);
    expect(ring.completed().count).toBe(ring.slots);
    arena.check();
  });
});

describe('errors (test_failure_in_full_burst, test_multi_failure, fence)', () => {
  const BAD = [1000, fabric.size - 10, 2 ** 32 - 1];

  it.each([0, 5, 15])('a bad source at position %i fails only that op; completed() stops there', async (badAt) => {
    const ids: number[] = [];
    for (let i = 0; i < 16; i++) {
      const len = 256;
      const dst = arena.at(len, i * 65536, i * 65536 + 32768);
      const src = i === badAt ? rng.pick(BAD) : arena.at(len, (i + 100) * 65536, (i + 100) * 65536 + 32768);
      ids.push(ring.enqueueCopy(dst, src, len));
      if (i !== badAt) arena.copied(dst, src, len);
    }
    ring.submit();
    await awaitAll(ring);
    const before = ring.completed(16);
    expect(before).toEqual({ count: badAt, lastIdx: badAt === 0 ? after(ids[0]!, -1) : ids[badAt - 1], hasError: true });
    const { completions } = ring.completedStatus(16);
    expect(completions.map((c) => c.statusName)).toEqual(ids.slice(badAt).map((_, i) => (i === 0 ? 'INVALID_SRC' : 'SUCCESS')));
    expect(completions[0]!.faultAddress).toBeGreaterThan(0);
    expect(ring.completed()).toEqual({ count: 0, lastIdx: ids[15], hasError: false });
    arena.check();
  });

  it('several failures (bad dst, bad src) are each reported, the rest succeed', async () => {
    const plan = Array.from({ length: 24 }, () => rng.pick(['ok', 'ok', 'ok', 'dst', 'src'] as const));
    for (const [i, kind] of plan.entries()) {
      const dst = kind === 'dst' ? rng.pick(BAD) : arena.at(512, i * 65536, i * 65536 + 32768);
      const src = kind === 'src' ? rng.pick(BAD) : arena.at(512, (i + 100) * 65536, (i + 100) * 65536 + 32768);
      ring.enqueueCopy(dst, src, 512);
      if (kind === 'ok') arena.copied(dst, src, 512);
    }
    ring.submit();
    await awaitAll(ring);
    const names = ring.completedStatus().completions.map((c) => c.statusName);
    expect(names).toEqual(plan.map((k) => ({ ok: 'SUCCESS', dst: 'INVALID_DST', src: 'INVALID_SRC' })[k]));
    expect(ring.stats().errors).toBeGreaterThanOrEqual(plan.filter((k) => k !== 'ok').length);
    arena.check();
  });

  it('a fenced op after a failure is not attempted; an unfenced one still runs', async () => {
    const good = () => { const dst = arena.at(128, 0, 8 << 20), src = arena.at(128, 8 << 20); return [dst, src] as const; };
    const [d1, s1] = good();
    ring.enqueueCopy(d1, s1, 128);
    arena.copied(d1, s1, 128);
    ring.enqueueCopy(arena.at(128), 5, 128); // fails
    const [d2, s2] = good();
    ring.enqueueCopy(d2, s2, 128, OP_FLAG_FENCE); // not attempted
    const [d3, s3] = good();
    ring.enqueueCopy(d3, s3, 128, OP_FLAG_FENCE); // not attempted: its predecessor did not succeed
    const [d4, s4] = good();
    ring.enqueueCopy(d4, s4, 128); // runs
    arena.copied(d4, s4, 128);
    const [d5, s5] = good();
    ring.enqueueCopy(d5, s5, 128, OP_FLAG_FENCE); // runs: predecessor succeeded
    arena.copied(d5, s5, 128);
    ring.submit();
    await awaitAll(ring);
    expect(ring.completedStatus().completions.map((c) => c.statusName)).toEqual(['SUCCESS', 'INVALID_SRC', 'NOT_ATTEMPTED', 'NOT_ATTEMPTED', 'SUCCESS', 'SUCCESS']);
    arena.check();
  });

  it('rejects malformed arguments at enqueue without consuming an index', () => {
    const cap = ring.burstCapacity();
    for (const [dst, src, len] of [[-1, 0, 0], [0.5, 0, 1], [0, Number.NaN, 1], [0, 0, 2 ** 32]] as const) {
      expect(() => ring.enqueueCopy(dst, src, len)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => ring.enqueueFill(0, 5 as never, 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(ring.burstCapacity()).toBe(cap);
  });
});

describe('stop and start (test_stop_start)', () => {
  it('aborts queued ops as USER_ABORT, refuses enqueue while stopped, restarts indices at 0', async () => {
    const own = DmaChannel.open(fabric, { slots: 16 });
    try {
      const r = own.ring;
      const dst = arena.at(64, 0, 1 << 20), src = arena.at(64, 2 << 20, 3 << 20);
      r.enqueueCopy(dst, src, 64, OP_FLAG_SUBMIT);
      arena.copied(dst, src, 64);
      await awaitAll(r);
      r.enqueueCopy(arena.at(64), src, 64); // never submitted
      r.enqueueCopy(arena.at(64), src, 64);
      const report = await own.stop();
      expect(report.aborted).toBe(2);
      expect(() => r.enqueueCopy(dst, src, 64)).toThrow(expect.objectContaining({ code: 'ERR_ENGINE_STOPPED' }));
      expect(() => own.start()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
      expect(r.completedStatus().completions.map((c) => [c.index, c.statusName])).toEqual([[0, 'SUCCESS'], [1, 'USER_ABORT'], [2, 'USER_ABORT']]);
      own.start();
      expect(r.lastIdx).toBe(0xffff);
      expect(r.enqueueCopy(dst, src, 64, OP_FLAG_SUBMIT)).toBe(0);
      await awaitAll(r);
      expect(r.completed()).toEqual({ count: 1, lastIdx: 0, hasError: false });
      arena.check();
    } finally {
      await own.close();
    }
  });
});
