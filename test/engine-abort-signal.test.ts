// Many ops sharing one AbortSignal: the engine keeps one 'abort' listener on it however many ops
// wait (no MaxListenersExceededWarning), removes it with the last op, and an abort still cancels
// every op not started while the started ones finish.
import { getEventListeners } from 'node:events';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { CopyEngine, Fabric } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { testRng } from './support/random.js';

const rng = testRng('engine-abort-signal');
const MiB = 2 ** 20;
const fabric = new Fabric({ size: '96MiB', scratch: '1MiB' });
const arena = new Arena(fabric, rng, 64 * MiB);
const engine = CopyEngine.create(fabric, { workers: 1, slots: 8, inlineBelow: 4096 });
const other = CopyEngine.create(fabric, { workers: 1, slots: 8, inlineBelow: 4096 });
afterAll(async () => { await engine.close(); await other.close(); });
beforeEach(() => arena.randomize());

const warnings: Error[] = [];
const onWarning = (w: Error) => { if (w.name === 'MaxListenersExceededWarning') warnings.push(w); };
process.on('warning', onWarning);
afterAll(() => { process.off('warning', onWarning); });

describe('one AbortSignal shared by many ops', () => {
  it('100 ops: one listener while they wait, none after, no MaxListenersExceededWarning', async () => {
    const controller = new AbortController();
    const ops: Promise<number>[] = [];
    for (let i = 0; i < 100; i++) {
      const len = rng.int(4096, 200 * 1024);
      const src = arena.at(len, 0, 32 * MiB), dst = arena.base + 32 * MiB + i * 256 * 1024;
      arena.copied(dst, src, len);
      ops.push(engine.copy(dst, src, len, { signal: controller.signal }));
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    // A second engine keeps its own one listener.
    const len = 10000, src = arena.at(len, 0, 32 * MiB), dst = arena.base + 60 * MiB;
    arena.copied(dst, src, len);
    const theirs = other.copy(dst, src, len, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(2);
    await Promise.all([...ops, theirs]);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    expect(warnings).toEqual([]);
    arena.check();
  });

  it('an abort cancels every op not started (ERR_ABORTED, destination untouched); started ones finish; no listener is left', async () => {
    const controller = new AbortController();
    const ops = Array.from({ length: 60 }, (_, i) => {
      const len = 1 * MiB;
      const src = arena.at(len, 0, 32 * MiB), dst = arena.base + 32 * MiB + (i % 30) * MiB;
      return { src, dst, len, done: engine.copy(dst, src, len, { signal: controller.signal }).then(() => 'ok', (e: { code: string }) => e.code) };
    });
    controller.abort();
    const outcomes = await Promise.all(ops.map((o) => o.done));
    expect(new Set(outcomes)).toEqual(new Set(outcomes.filter((o) => o === 'ok' || o === 'ERR_ABORTED')));
    expect(outcomes.filter((o) => o === 'ERR_ABORTED').length).toBeGreaterThan(0);
    // Destinations are reused: apply the copies that ran, in order.
    for (const [i, o] of ops.entries()) if (outcomes[i] === 'ok') arena.copied(o.dst, o.src, o.len);
    arena.check();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await new Promise((r) => setImmediate(r));
    expect(warnings).toEqual([]);
  });

  it('a signal whose ops all succeed without an abort leaves no listener, and can be used again', async () => {
    const controller = new AbortController();
    for (let round = 0; round < 3; round++) {
      const ops = Array.from({ length: 20 }, (_, i) => {
        const src = arena.at(8192, 0, 32 * MiB), dst = arena.base + 32 * MiB + i * 8192;
        arena.copied(dst, src, 8192);
        return engine.copySg([[dst, src, 4096], [dst + 4096, src + 4096, 4096]], { signal: controller.signal, placement: 'worker' });
      });
      await Promise.all(ops);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    }
    arena.check();
  });
});
