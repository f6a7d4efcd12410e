// Every public entry of the engine and the fabric answers bad input with a coded error that names the
// argument (`argument`), never a TypeError, a hang, or a silently different action: BigInt where a
// number is expected, null options, objects that are not a Fabric, NaN, Infinity, huge and fractional
// values. And Ring.stats() counts as DPDK's rte_dma_stats does.
import { afterAll, describe, expect, it } from 'vitest';
import { CopyEngine, DmaBounceError, DmaChannel, Fabric, OP_FLAG_SUBMIT, Ring, SgList, SgTable, createWorkerPool, runBatch } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { within } from './support/deadline.js';
import { testRng } from './support/random.js';

const rng = testRng('engine-coded-errors');
const fabric = new Fabric({ size: '32MiB', scratch: '1MiB' });
const arena = new Arena(fabric, rng, 8 * 2 ** 20);
const engine = CopyEngine.create(fabric, { workers: 1 });
const channel = DmaChannel.open(fabric, { slots: 16 });
const ring = channel.ring;
afterAll(async () => { await channel.close(); await engine.close(); });
const A = arena.base;
const any = (v: unknown) => v as never;

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

async function rejected(fn: () => unknown): Promise<unknown> {
  try {
    const value = fn();
    if (value instanceof Promise) await value;
  } catch (error) {
    return error;
  }
  return undefined;
}

type Case = readonly [what: string, call: () => unknown, code: string, argument: string | undefined];

const cases: Case[] = [
  // BigInt where a number is expected (was: TypeError "Cannot mix BigInt and other types")
  ['ring.enqueueCopy(dst 1n)', () => ring.enqueueCopy(any(1n), A, 1), 'ERR_INVALID_ARGUMENT', 'dst'],
  ['ring.enqueueFill(len 8n)', () => ring.enqueueFill(A, 1n, any(8n)), 'ERR_INVALID_ARGUMENT', 'len'],
  ['ring.enqueueCopyCrc32c(seed 1n)', () => ring.enqueueCopyCrc32c(A, A + 64, 8, any(1n)), 'ERR_INVALID_ARGUMENT', 'seed'],
  ['SgTable.push(src 1n)', () => { const t = new SgTable(fabric, 1); try { t.push(A, any(1n), 1); } finally { t.release(); } }, 'ERR_INVALID_ARGUMENT', 'src'],
  ['SgList.push(len 1n)', () => { const l = new SgList(fabric, 1); try { l.push(A, any(1n)); } finally { l.release(); } }, 'ERR_INVALID_ARGUMENT', 'len'],
  ['fabric.kernels.copy(len 1n)', () => fabric.kernels.copy(A, A + 64, any(1n)), 'ERR_INVALID_ARGUMENT', 'len'],
  ['fabric.kernels.crc32c(seed 1n)', () => fabric.kernels.crc32c(A, 8, any(1n)), 'ERR_INVALID_ARGUMENT', 'seed'],
  ['engine.copy(src 1n)', () => engine.copy(A, any(1n), 1), 'ERR_INVALID_ARGUMENT', 'src'],
  ['new Ring(slots 16n)', () => new Ring(fabric, { slots: any(16n) }), 'ERR_INVALID_ARGUMENT', 'slots'],
  ['new Ring(spin 1n)', () => new Ring(fabric, { spin: any(1n) }), 'ERR_INVALID_ARGUMENT', 'spin'],
  ['CopyEngine.create(workers 1n)', () => CopyEngine.create(fabric, { workers: any(1n) }), 'ERR_INVALID_ARGUMENT', 'workers'],
  ['CopyEngine.create(inlineBelow 1n)', () => CopyEngine.create(fabric, { inlineBelow: any(1n) }), 'ERR_INVALID_SIZE', 'inlineBelow'],
  ['new SgTable(capacity 4n)', () => new SgTable(fabric, any(4n)), 'ERR_INVALID_ARGUMENT', 'capacity'],
  // null options (was: TypeError reading a property of null)
  ['CopyEngine.create(fabric, null)', () => CopyEngine.create(fabric, any(null)), 'ERR_INVALID_ARGUMENT', 'options'],
  ['DmaChannel.open(fabric, null)', () => DmaChannel.open(fabric, any(null)), 'ERR_INVALID_ARGUMENT', 'options'],
  ['new Ring(fabric, null)', () => new Ring(fabric, any(null)), 'ERR_INVALID_ARGUMENT', 'options'],
  ['engine.fill(..., null)', () => engine.fill(A, 1n, 8, any(null)), 'ERR_INVALID_ARGUMENT', 'options'],
  // objects that are not a Fabric (was: TypeError)
  ...(['CopyEngine.create', 'DmaChannel.open', 'new Ring', 'new SgTable', 'new SgList', 'createWorkerPool'] as const).map((name): Case => [
    `${name}({})`,
    () => ({
      'CopyEngine.create': () => CopyEngine.create(any({})),
      'DmaChannel.open': () => DmaChannel.open(any({})),
      'new Ring': () => new Ring(any({})),
      'new SgTable': () => new SgTable(any({}), 1),
      'new SgList': () => new SgList(any({ scratch: fabric.scratch, buffer: fabric.buffer }), 1),
      createWorkerPool: () => createWorkerPool(any({ handle: () => fabric.handle() }), 1),
    })[name](),
    'ERR_INVALID_ARGUMENT',
    'fabric',
  ]),
  // NaN, Infinity, huge and fractional counts and indices
  ['ring.cancel(NaN)', () => ring.cancel(Number.NaN), 'ERR_INVALID_ARGUMENT', 'index'],
  ['ring.cancel(-1)', () => ring.cancel(-1), 'ERR_INVALID_ARGUMENT', 'index'],
  ['ring.cancel(65536)', () => ring.cancel(65536), 'ERR_INVALID_ARGUMENT', 'index'],
  ['ring.cancel(0.5)', () => ring.cancel(0.5), 'ERR_INVALID_ARGUMENT', 'index'],
  ['ring.pollCompletion(Infinity)', () => ring.pollCompletion(Infinity), 'ERR_INVALID_ARGUMENT', 'micros'],
  ['ring.pollCompletion(NaN)', () => ring.pollCompletion(Number.NaN), 'ERR_INVALID_ARGUMENT', 'micros'],
  ['ring.pollCompletion(-1)', () => ring.pollCompletion(-1), 'ERR_INVALID_ARGUMENT', 'micros'],
  ['ring.pollCompletion(1e7)', () => ring.pollCompletion(1e7), 'ERR_INVALID_ARGUMENT', 'micros'],
  ['ring.completed(NaN)', () => ring.completed(Number.NaN), 'ERR_INVALID_ARGUMENT', 'max'],
  ['ring.completedStatus(1.5)', () => ring.completedStatus(1.5), 'ERR_INVALID_ARGUMENT', 'max'],
  ['ring.enqueueCopy(flags 8)', () => ring.enqueueCopy(A, A + 64, 8, 8), 'ERR_INVALID_ARGUMENT', 'flags'],
  ['ring.enqueueCopy(flags NaN)', () => ring.enqueueCopy(A, A + 64, 8, Number.NaN), 'ERR_INVALID_ARGUMENT', 'flags'],
  ['new Ring(slots 2^17)', () => new Ring(fabric, { slots: 2 ** 17 }), 'ERR_INVALID_ARGUMENT', 'slots'],
  ['new Ring(spin 1.5)', () => new Ring(fabric, { spin: 1.5 }), 'ERR_INVALID_ARGUMENT', 'spin'],
  ['DmaChannel.open(maxRestarts 1e9)', () => DmaChannel.open(fabric, { maxRestarts: 1e9 }), 'ERR_INVALID_ARGUMENT', 'maxRestarts'],
  ['DmaChannel.open(maxRestarts 0.5)', () => DmaChannel.open(fabric, { maxRestarts: 0.5 }), 'ERR_INVALID_ARGUMENT', 'maxRestarts'],
  ['CopyEngine.create(pollMicros Infinity)', () => CopyEngine.create(fabric, { pollMicros: Infinity }), 'ERR_INVALID_ARGUMENT', 'pollMicros'],
  ['CopyEngine.create(splitAbove "8GiB")', () => CopyEngine.create(fabric, { splitAbove: '8GiB' }), 'ERR_INVALID_ARGUMENT', 'splitAbove'],
  ['CopyEngine.create(inlineBelow 1.5)', () => CopyEngine.create(fabric, { inlineBelow: 1.5 }), 'ERR_INVALID_SIZE', 'inlineBelow'],
  ['createWorkerPool(threads 0.5)', () => createWorkerPool(fabric, 0.5), 'ERR_INVALID_ARGUMENT', 'threads'],
  ['engine.copyCrc32c(seed 2^32)', () => engine.copyCrc32c(A, A + 64, 8, { seed: 2 ** 32 }), 'ERR_INVALID_ARGUMENT', 'seed'],
  ['engine.copy(len Infinity)', () => engine.copy(A, A, Infinity), 'ERR_INVALID_ARGUMENT', 'len'],
  ['engine.copySg(sparse)', () => engine.copySg(any([, [A, A + 64, 8]])), 'ERR_INVALID_ARGUMENT', 'segments[0]'],
  ['SgTable.entry(NaN)', () => { const t = new SgTable(fabric, 1); try { t.entry(Number.NaN); } finally { t.release(); } }, 'ERR_INVALID_ARGUMENT', 'index'],
  // a Symbol or an object whose toString throws, where a number is expected: described, never converted
  ['engine.copy(dst Symbol())', () => engine.copy(any(Symbol('x')), A, 1), 'ERR_INVALID_ARGUMENT', 'dst'],
  ['ring.enqueueCopy(len {toString throws})', () => ring.enqueueCopy(A, A, any({ toString() { throw new Error('x'); } })), 'ERR_INVALID_ARGUMENT', 'len'],
  ['fabric.kernels.fill(dst Symbol())', () => fabric.kernels.fill(any(Symbol('x')), 1n, 1), 'ERR_INVALID_ARGUMENT', 'dst'],
  // options whose getters throw, Proxies whose traps throw
  ['engine.copy(options with a throwing getter)', () => engine.copy(A, A, 1, any({ get signal() { throw new Error('x'); } })), 'ERR_INVALID_ARGUMENT', 'options'],
  ['CopyEngine.create(options with a throwing getter)', () => CopyEngine.create(fabric, any({ get workers() { throw new Error('x'); } })), 'ERR_INVALID_ARGUMENT', 'options'],
  ['new Ring(options with a throwing getter)', () => new Ring(fabric, any({ get slots() { throw new Error('x'); } })), 'ERR_INVALID_ARGUMENT', 'options'],
  ['CopyEngine.create(a Proxy fabric)', () => CopyEngine.create(any(new Proxy({}, { getPrototypeOf() { throw new Error('x'); } }))), 'ERR_INVALID_ARGUMENT', 'fabric'],
  ['engine.copy(signal a Proxy)', () => engine.copy(A, A, 1, { signal: any(new Proxy({}, { getPrototypeOf() { throw new Error('x'); } })) }), 'ERR_INVALID_ARGUMENT', 'signal'],
  ['runBatch(pool {})', () => runBatch(any({}), { table: 0, count: 0 }), 'ERR_INVALID_ARGUMENT', 'pool'],
  ['runBatch(task null)', () => runBatch(any({ run() {}, maxThreads: 1, threads: [] }), any(null)), 'ERR_INVALID_ARGUMENT', 'task'],
];

describe('coded errors naming the argument', () => {
  const scratchBefore = fabric.scratch.stats().allocations;
  it.each(cases)('%s', async (_what, call, code, argument) => {
    const capacity = ring.burstCapacity();
    const error = await rejected(call);
    expect(error, 'an uncoded error, or none at all').toBeInstanceOf(DmaBounceError);
    expect(error).toMatchObject({ code, ...(argument ? { argument } : {}) });
    expect(ring.burstCapacity()).toBe(capacity);
  });

  it('left nothing behind', () => expect(fabric.scratch.stats().allocations).toBe(scratchBefore));
});

describe('values that used to act instead of failing', () => {
  it('ring.cancel(NaN) cancels nothing (was: the oldest op outstanding was cancelled)', async () => {
    const len = 1000;
    const src = arena.at(len, 0, 4 * 2 ** 20), dst = arena.at(len, 4 * 2 ** 20);
    ring.enqueueCopy(dst, src, len); // not submitted yet, so a cancel would surely catch it
    expect(thrown(() => ring.cancel(Number.NaN))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    ring.submit();
    arena.copied(dst, src, len);
    while (ring.inFlight > 0) await ring.waitForCompletion();
    expect(ring.completedStatus().completions.map((c) => c.statusName)).toEqual(['SUCCESS']);
    arena.check();
  });

  it('ring.pollCompletion(Infinity) returns at once with an error (was: blocked the thread forever)', async () => {
    const started = Date.now();
    expect(thrown(() => ring.pollCompletion(Infinity))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(Date.now() - started).toBeLessThan(100);
    expect(ring.pollCompletion(0)).toBe(false);
  });
});

describe('Ring.stats() as rte_dma_stats counts', () => {
  it('completed counts every completion gathered, failed ones too; errors the failed ones', async () => {
    const own = DmaChannel.open(fabric, { slots: 16 });
    try {
      const r = own.ring;
      const ok = () => { const src = arena.at(64, 0, 4 * 2 ** 20), dst = arena.at(64, 4 * 2 ** 20); arena.copied(dst, src, 64); return [dst, src] as const; };
      const [d1, s1] = ok();
      r.enqueueCopy(d1, s1, 64);
      r.enqueueCopy(arena.at(64), 16, 64); // INVALID_SRC
      const [d2, s2] = ok();
      r.enqueueCopy(d2, s2, 64, OP_FLAG_SUBMIT);
      while (r.inFlight > 0) await r.waitForCompletion();
      expect(r.completed()).toMatchObject({ count: 1, hasError: true });
      expect(r.stats()).toEqual({ submitted: 3, completed: 1, errors: 0 });
      expect(r.completedStatus().completions.map((c) => c.statusName)).toEqual(['INVALID_SRC', 'SUCCESS']);
      expect(r.stats()).toEqual({ submitted: 3, completed: 3, errors: 1 });
      arena.check();
    } finally {
      await within(own.close(), 5000, 'close()');
    }
  });
});
