// A DmaChannel's states (running, stopping, stopped, closing, closed): every call is checked against
// the state it is made in, overlapping stop/start/close/killWorker never hang, and close() always
// settles, even when the pool never runs the channel's serve task.
import fc from 'fast-check';
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { DmaChannel, Fabric, OP_FLAG_SUBMIT, SgTable, Status, WORKER_URL, runBatch, type Ring } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { until, within } from './support/deadline.js';
import { testRng } from './support/random.js';
import { gatherCompletions } from './support/ring.js';

const rng = testRng('engine-channel-states');
const MiB = 2 ** 20;
const fabric = new Fabric({ size: '96MiB', scratch: '2MiB' });
const arena = new Arena(fabric, rng, 64 * MiB);
void fabric.kernels;
const scratchBase = fabric.scratch.stats().allocations;
const SILENT = new URL('./support/workers/silent-worker.mjs', import.meta.url);
const THROWING = new URL('../dist/bench/reliability/throwing-worker.js', import.meta.url);

const code = (fn: () => unknown) => {
  try {
    fn();
    return 'none';
  } catch (error) {
    return (error as { code?: string }).code ?? 'uncoded';
  }
};


describe('stop() and start()', () => {
  it('start() while a stop is in progress is refused (ERR_INVALID_STATE); the stop completes; start() then serves again (was: a hang)', async () => {
    const channel = DmaChannel.open(fabric, { slots: 16 });
    try {
      const ring = channel.ring;
      const src = arena.at(4096, 0, 8 * MiB), dst = arena.at(4096, 8 * MiB, 16 * MiB);
      ring.enqueueCopy(dst, src, 4096, OP_FLAG_SUBMIT);
      arena.copied(dst, src, 4096);
      await gatherCompletions(ring, 1);
      const stopping = channel.stop();
      expect(channel.state).toBe('stopping');
      expect(code(() => channel.start())).toBe('ERR_INVALID_STATE');
      expect(channel.stop()).toBe(stopping); // a second stop joins the first
      expect((await within(stopping, 5000, 'stop()')).value).toEqual({ aborted: 0 });
      expect(channel.state).toBe('stopped');
      channel.start();
      expect(channel.state).toBe('running');
      expect(ring.enqueueCopy(dst, src, 4096, OP_FLAG_SUBMIT)).toBe(0);
      expect((await gatherCompletions(ring, 1))[0]).toMatchObject({ index: 0, status: Status.SUCCESS });
      arena.check();
    } finally {
      await within(channel.close(), 5000, 'close()');
    }
  });

  it('stop() right after open() (the server not started yet) withdraws its reservation and does not wait for it', async () => {
    for (let i = 0; i < 5; i++) {
      const channel = DmaChannel.open(fabric, { slots: 8 });
      const ring = channel.ring;
      for (let k = 0; k < 3; k++) ring.enqueueCopy(arena.at(64, 0, MiB), arena.at(64, MiB, 2 * MiB), 64);
      const report = (await within(channel.stop(), 5000, 'stop()')).value!;
      const completions = await gatherCompletions(ring, 3);
      // Each op ran (the server got there first) or was aborted; the aborted ones are the report's.
      expect(completions.filter((c) => c.statusName === 'USER_ABORT').length).toBe(report.aborted);
      expect(completions.every((c) => c.statusName === 'USER_ABORT' || c.statusName === 'SUCCESS')).toBe(true);
      channel.start();
      await within(channel.close(), 5000, 'close()');
    }
    arena.randomize();
  });
});

describe('every call in every state', () => {
  // What each call gets in each state (docs/engine.md has the same table).
  const table = {
    running: { stop: 'resolves', start: 'no-op', killWorker: 'true', close: 'resolves' },
    stopping: { stop: 'same promise', start: 'ERR_INVALID_STATE', killWorker: 'false', close: 'resolves' },
    stopped: { stop: 'resolves', start: 'starts', killWorker: 'false', close: 'resolves' },
    closing: { stop: 'ERR_ENGINE_CLOSED', start: 'ERR_ENGINE_CLOSED', killWorker: 'false', close: 'same promise' },
    closed: { stop: 'ERR_ENGINE_CLOSED', start: 'ERR_ENGINE_CLOSED', killWorker: 'false', close: 'same promise' },
  } as const;
  type State = keyof typeof table;

  async function inState(state: State): Promise<{ channel: DmaChannel; pending: Promise<unknown> | undefined }> {
    const channel = DmaChannel.open(fabric, { slots: 8 });
    await until(() => channel.ring.serverActive, 10000, 'the server claimed the ring');
    let pending: Promise<unknown> | undefined;
    if (state === 'stopping') pending = channel.stop();
    if (state === 'stopped') await channel.stop();
    if (state === 'closing') pending = channel.close();
    if (state === 'closed') await channel.close();
    expect(channel.state).toBe(state);
    return { channel, pending };
  }

  for (const state of Object.keys(table) as State[]) {
    for (const call of ['stop', 'start', 'killWorker', 'close'] as const) {
      it(`${state}: ${call}() ${table[state][call]}`, async () => {
        const { channel, pending } = await inState(state);
        const want = table[state][call];
        try {
          if (call === 'start') {
            const got = code(() => channel.start());
            expect(got).toBe(want === 'no-op' || want === 'starts' ? 'none' : want);
            if (want === 'no-op' || want === 'starts') expect(channel.state).toBe('running');
          } else if (call === 'killWorker') {
            expect((await within(channel.killWorker(), 10000, 'killWorker()')).value).toBe(want === 'true');
          } else {
            const promise = channel[call]();
            if (want === 'same promise') expect(promise).toBe(pending ?? channel.close());
            const outcome = await within(promise as Promise<unknown>, 10000, `${call}()`);
            if (want.startsWith('ERR_')) expect((outcome.error as { code?: string }).code).toBe(want);
            else expect(outcome.error).toBeUndefined();
          }
        } finally {
          if (pending) await within(pending, 10000, 'the call that set the state');
          await within(channel.close(), 10000, 'close()');
        }
        expect(channel.state).toBe('closed');
      });
    }
  }
});

describe('random interleavings of stop, start, close, killWorker and ops', () => {
  type Action = { kind: 'op' | 'stop' | 'start' | 'close' | 'kill' | 'gather' | 'pause'; awaited: boolean; ms: number };
  const action = fc.record({
    kind: fc.constantFrom('op', 'op', 'op', 'stop', 'start', 'close', 'kill', 'gather', 'pause'),
    awaited: fc.boolean(),
    ms: fc.integer({ min: 0, max: 3 }),
  }) as fc.Arbitrary<Action>;
  const runs = 25;
  let interleavings = 0;
  afterAll(() => console.log(`[engine-channel-states] fast-check seed ${rng.seed}: ${interleavings} interleavings of channel calls tried`));

  it(`never hang, settle every call, and leave every byte old or new (${runs} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 4, maxLength: 14 }), async (actions) => {
        interleavings++;
        arena.randomize();
        const channel = DmaChannel.open(fabric, { slots: 8 });
        const ring = channel.ring;
        const calls: Promise<unknown>[] = [];
        // Ops in ring order; completions come back in that order, so each is matched FIFO.
        const queued: { dst: number; src: number; len: number }[] = [];
        const done: { op: (typeof queued)[number]; status: string }[] = [];
        let slot = 0;
        const drain = () => {
          if (ring.released) return;
          for (const c of ring.completedStatus().completions) done.push({ op: queued.shift()!, status: c.statusName });
        };
        for (const a of actions) {
          let call: Promise<unknown> | undefined;
          switch (a.kind) {
            case 'op': {
              if (channel.state !== 'running' || ring.burstCapacity() === 0) break;
              const len = rng.int(1, 256 * 1024);
              const op = { dst: arena.base + 16 * MiB + (slot++ % 160) * 300 * 1024, src: arena.at(len, 0, 16 * MiB), len };
              if (queued.some((q) => q.dst === op.dst)) break;
              ring.enqueueCopy(op.dst, op.src, op.len, OP_FLAG_SUBMIT);
              queued.push(op);
              break;
            }
            case 'stop': call = channel.stop(); break;
            case 'close': call = channel.close(); break;
            case 'kill': call = channel.killWorker(); break;
            case 'start': {
              drain();
              const c = code(() => channel.start());
              expect(['none', 'ERR_INVALID_STATE', 'ERR_ENGINE_CLOSED']).toContain(c);
              break;
            }
            case 'gather': drain(); break;
            case 'pause': await new Promise((r) => setTimeout(r, a.ms)); break;
          }
          if (call) {
            // A refusal must be coded; nothing else may fail.
            const checked = call.catch((error: { code?: string }) => expect(['ERR_ENGINE_CLOSED']).toContain(error.code));
            calls.push(checked);
            if (a.awaited) await within(checked, 10000, a.kind);
          }
        }
        if (!ring.released && channel.state === 'running') {
          // Everything queued completes: gather it, so that the data check below knows each op's fate.
          while (queued.length > 0 && channel.state === 'running') {
            drain();
            if (queued.length > 0) await Promise.race([ring.waitForCompletion(), new Promise((r) => setTimeout(r, 5))]);
          }
        }
        drain();
        for (const call of calls) await within(call, 10000, 'a channel call');
        await within(channel.close(), 10000, 'the final close()');
        expect(channel.state).toBe('closed');
        // Every byte: an op that succeeded copied its source; one that failed left old or new bytes;
        // an op whose completion was never gathered (closed first) did one or the other; nothing else changed.
        for (const { op, status } of done) {
          if (status === 'SUCCESS') arena.copied(op.dst, op.src, op.len);
          else adopt(op);
        }
        for (const op of queued) adopt(op);
        arena.check();
        expect(fabric.scratch.stats().allocations).toBe(scratchBase);
      }),
      { numRuns: runs, seed: rng.seed | 0, endOnFailure: true },
    );
  });

  function adopt(op: { dst: number; src: number; len: number }): void {
    const d = op.dst - arena.base, s = op.src - arena.base;
    for (let b = 0; b < op.len; b++) {
      const got = arena.bytes[d + b]!;
      if (got !== arena.expected[d + b] && got !== arena.expected[s + b]) throw new Error(`byte ${op.dst + b} is neither old nor new`);
    }
    arena.expected.set(arena.bytes.subarray(d, d + op.len), d);
  }
});

describe('close() always settles', () => {
  it('on a pool that never answers the serve task: ops abort, close() settles, the ring is freed once the task ends', async () => {
    const pool = new Piscina({ filename: SILENT.href, maxThreads: 1, concurrentTasksPerWorker: 1 });
    const channel = DmaChannel.open(fabric, { pool, slots: 8 });
    try {
      for (let i = 0; i < 3; i++) channel.ring.enqueueCopy(arena.at(64), arena.at(64), 64, OP_FLAG_SUBMIT);
      expect((await within(channel.stop(), 3000, 'stop()')).value).toEqual({ aborted: 3 });
      expect(channel.ring.completedStatus().completions.map((c) => c.statusName)).toEqual(['USER_ABORT', 'USER_ABORT', 'USER_ABORT']);
      await within(channel.close(), 3000, 'close()');
      expect(channel.state).toBe('closed');
      // The task still sits in the pool, so the ring's memory is kept for it...
      expect(fabric.scratch.stats().allocations).toBe(scratchBase + 1);
    } finally {
      await pool.destroy();
    }
    // ...until the task ends.
    await until(() => fabric.scratch.stats().allocations === scratchBase, 3000, 'the ring freed');
  });

  it('while the serve task waits behind a long batch in the pool: close() does not wait for the batch', async () => {
    const big = new Fabric({ size: '160MiB', scratch: '4MiB' });
    const region = big.addRegion({ name: 'ram', kind: 'ram', phys: 0x1_0000_0000, size: 128 * MiB });
    void big.kernels;
    const base = big.scratch.stats().allocations;
    const pool = new Piscina({ filename: WORKER_URL.href, maxThreads: 1, concurrentTasksPerWorker: 1, workerData: { fabric: big.handle() } });
    const table = new SgTable(big, 16384);
    try {
      for (let i = 0; i < 16384; i++) table.push(region.offset + 64 * MiB + (i % 4096) * 16384, region.offset + (i % 4096) * 16384, 16384);
      const batch = runBatch(pool, { table: table.offset, count: table.count }); // 256 MiB of copies
      const channel = DmaChannel.open(big, { pool, slots: 8 });
      const started = Date.now();
      await within(channel.close(), 3000, 'close()');
      const closedAfter = Date.now() - started;
      await batch;
      const batchAfter = Date.now() - started;
      expect(closedAfter).toBeLessThan(batchAfter);
      // The serve task, run after the batch, finds its reservation withdrawn and touches nothing; then the ring is freed.
      await until(() => big.scratch.stats().allocations === base + 1, 5000, 'the ring freed');
    } finally {
      table.release();
      await pool.destroy();
    }
  });
});

describe('a channel that gives up', () => {
  it('after its worker fails every restart: stopped, failure ERR_WORKER_DIED, ops NOT_ATTEMPTED; start() serves again', async () => {
    const faults = new Int32Array(new SharedArrayBuffer(8));
    faults[0] = -1;
    const pool = new Piscina({ filename: THROWING.href, maxThreads: 1, concurrentTasksPerWorker: 1, workerData: { fabric: fabric.handle(), faults } });
    const channel = DmaChannel.open(fabric, { pool, slots: 8, maxRestarts: 2 });
    try {
      const failed = new Promise((resolve) => channel.once('failed', resolve));
      const src = arena.at(1000, 0, MiB), dst = arena.at(1000, MiB, 2 * MiB);
      channel.ring.enqueueCopy(dst, src, 1000, OP_FLAG_SUBMIT);
      expect(((await within(failed, 5000, "the 'failed' event")).value as { code: string }).code).toBe('ERR_WORKER_DIED');
      expect(channel.state).toBe('stopped');
      expect(channel.failure).toMatchObject({ code: 'ERR_WORKER_DIED' });
      expect(channel.ring.completedStatus().completions.map((c) => c.statusName)).toEqual(['NOT_ATTEMPTED']);
      arena.check();
      Atomics.store(faults, 0, 0);
      channel.start();
      expect(channel.failure).toBeUndefined();
      channel.ring.enqueueCopy(dst, src, 1000, OP_FLAG_SUBMIT);
      arena.copied(dst, src, 1000);
      expect((await gatherCompletions(channel.ring, 1))[0]!.statusName).toBe('SUCCESS');
      arena.check();
    } finally {
      await within(channel.close(), 5000, 'close()');
      await pool.destroy();
    }
  });

  it('ops queued while a worker fails before it claimed the ring are served by the next one, untouched', async () => {
    const faults = new Int32Array(new SharedArrayBuffer(8));
    faults[0] = 2;
    const pool = new Piscina({ filename: THROWING.href, maxThreads: 1, concurrentTasksPerWorker: 1, workerData: { fabric: fabric.handle(), faults } });
    const channel = DmaChannel.open(fabric, { pool, slots: 8 });
    try {
      const src = arena.at(1000, 0, MiB), dst = arena.at(1000, MiB, 2 * MiB);
      channel.ring.enqueueCopy(dst, src, 1000, OP_FLAG_SUBMIT);
      arena.copied(dst, src, 1000);
      expect((await gatherCompletions(channel.ring, 1))[0]!.statusName).toBe('SUCCESS');
      expect(Atomics.load(faults, 1)).toBe(2);
      expect(channel.deaths).toBe(2);
      arena.check();
    } finally {
      await within(channel.close(), 5000, 'close()');
      await pool.destroy();
    }
  });
});
