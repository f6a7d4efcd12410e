// A ring has exactly one consumer: a second serve task for a ring that is served (or reserved for
// another server) answers ERR_RING_BUSY at once and touches nothing; the first one keeps serving.
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { DmaChannel, Fabric, OP_FLAG_SUBMIT, Ring, RingBusyError, WORKER_URL, errorFromJSON, type Ring as RingType } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { until, within } from './support/deadline.js';
import { testRng } from './support/random.js';
import { gatherCompletions } from './support/ring.js';

const rng = testRng('engine-ring-consumer');
const MiB = 2 ** 20;
const fabric = new Fabric({ size: '64MiB', scratch: '1MiB' });
const arena = new Arena(fabric, rng, 32 * MiB);
void fabric.kernels;
const pool = new Piscina({ filename: WORKER_URL.href, maxThreads: 3, concurrentTasksPerWorker: 1, workerData: { fabric: fabric.handle() } });
afterAll(() => pool.destroy());


async function copies(ring: RingType, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const len = rng.int(1, 65536);
    const src = arena.at(len, 0, 8 * MiB), dst = arena.base + 8 * MiB + i * 65536;
    ring.enqueueCopy(dst, src, len, OP_FLAG_SUBMIT);
    arena.copied(dst, src, len);
  }
  const done = await gatherCompletions(ring, n);
  expect(done.every((c) => c.statusName === 'SUCCESS')).toBe(true);
  arena.check();
}

describe('a second serve task', () => {
  it("for a channel's ring answers ERR_RING_BUSY at once; the channel's server keeps serving (was: two consumers, a hang)", async () => {
    const channel = DmaChannel.open(fabric, { pool, slots: 16 });
    try {
      await copies(channel.ring, 4);
      const server = channel.ring.serverThreadId;
      // What a user running the worker's serve task again for this ring would do.
      for (const task of [{ kind: 'serve', ctrl: channel.ring.ctrl }, { kind: 'serve', ctrl: channel.ring.ctrl, token: 2 }]) {
        const answer = (await within(pool.run(task), 3000, 'the second serve task')).value as { ok: boolean; error: { code: string } };
        expect(answer).toMatchObject({ ok: false, error: { code: 'ERR_RING_BUSY' } });
        expect(errorFromJSON(answer.error)).toBeInstanceOf(RingBusyError);
      }
      expect(channel.ring.serverThreadId).toBe(server);
      await copies(channel.ring, 8);
    } finally {
      await within(channel.close(), 5000, 'close()');
    }
  });

  it('for a stopped channel\'s ring cannot take it over: start() serves it again', async () => {
    const channel = DmaChannel.open(fabric, { pool, slots: 16 });
    try {
      await copies(channel.ring, 2);
      await channel.stop();
      const answer = (await within(pool.run({ kind: 'serve', ctrl: channel.ring.ctrl }), 3000, 'a serve task')).value;
      expect(answer).toMatchObject({ ok: false, error: { code: 'ERR_RING_BUSY' } });
      expect(channel.ring.serverActive).toBe(false);
      channel.start();
      await copies(channel.ring, 2);
    } finally {
      await channel.close();
    }
  });

  it('for a ring of your own: the first claims it, the second is refused; release() waits for the first to stop', async () => {
    const ring = new Ring(fabric, { slots: 16 });
    try {
      const first = pool.run({ kind: 'serve', ctrl: ring.ctrl });
      await until(() => ring.serverActive, 5000, 'the first server claimed the ring');
      const second = (await within(pool.run({ kind: 'serve', ctrl: ring.ctrl }), 3000, 'the second serve task')).value;
      expect(second).toMatchObject({ ok: false, error: { code: 'ERR_RING_BUSY' } });
      await copies(ring, 4);
      expect(() => ring.release()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
      ring.requestStop();
      expect((await within(first, 3000, 'the first server')).value).toMatchObject({ ok: true, served: 4 });
      expect(ring.serverActive).toBe(false);
      expect(() => ring.reserveServer()).not.toThrow();
    } finally {
      ring.release();
    }
  });

  it('for a released ring, or an offset that is not a ring, is refused without touching memory', async () => {
    const ring = new Ring(fabric, { slots: 16 });
    const ctrl = ring.ctrl;
    ring.release();
    const before = fabric.bytes.slice(fabric.scratch.base, fabric.dataStart);
    for (const task of [{ kind: 'serve', ctrl }, { kind: 'serve', ctrl: arena.base }, { kind: 'serve', ctrl: 12 }, { kind: 'serve', ctrl: -1 }, { kind: 'serve', ctrl: ctrl + 4 }, { kind: 'serve', ctrl, token: 3 }]) {
      const answer = (await within(pool.run(task), 3000, 'a serve task')).value;
      expect(answer, JSON.stringify(task)).toMatchObject({ ok: false, error: { code: 'ERR_INVALID_ARGUMENT' } });
    }
    expect(Buffer.compare(before, fabric.bytes.subarray(fabric.scratch.base, fabric.dataStart))).toBe(0);
    arena.check();
  });

  it('reserveServer() on a served ring is ERR_RING_BUSY; a stale reservation cannot claim the ring', async () => {
    const ring = new Ring(fabric, { slots: 16 });
    try {
      const stale = ring.reserveServer();
      const current = ring.reserveServer(); // replaces the first
      expect((await within(pool.run({ kind: 'serve', ctrl: ring.ctrl, token: stale }), 3000, 'a stale task')).value).toMatchObject({ ok: false, error: { code: 'ERR_RING_BUSY' } });
      const server = pool.run({ kind: 'serve', ctrl: ring.ctrl, token: current });
      await until(() => ring.serverActive, 5000, 'the server claimed the ring');
      expect(() => ring.reserveServer()).toThrow(expect.objectContaining({ code: 'ERR_RING_BUSY' }));
      expect(ring.revokeServer(current)).toBe(false);
      await copies(ring, 2);
      ring.requestStop();
      await within(server, 3000, 'the server');
    } finally {
      ring.release();
    }
  });
});
