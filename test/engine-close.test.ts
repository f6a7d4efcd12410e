// CopyEngine.close() settles everything: ops queued, on a ring, in a backlog, split in parts, each
// with its result or a coded error; later calls get ERR_ENGINE_CLOSED; close() itself is one promise
// however often it is called; `await using` closes; and nothing the engine started keeps the process
// alive afterwards (a child process that must exit by itself), while an engine never closed does.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Piscina } from 'piscina';
import { CopyEngine, DmaChannel, Fabric, UNSTARTED_LANE_GRACE_MS } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { until, within } from './support/deadline.js';
import { testRng } from './support/random.js';

const rng = testRng('engine-close');
const MiB = 2 ** 20;
const fabric = new Fabric({ size: '96MiB', scratch: '2MiB' });
const arena = new Arena(fabric, rng, 64 * MiB);
void fabric.kernels;
const scratchBase = fabric.scratch.stats().allocations;
beforeEach(() => arena.randomize());
const SCRIPT = fileURLToPath(new URL('./support/scripts/engine-exits.mjs', import.meta.url));

describe('close()', () => {
  it('settles every op issued before it, each with its result, in the backlog too; then refuses new ones', async () => {
    const engine = CopyEngine.create(fabric, { workers: 2, slots: 4, inlineBelow: 0, splitAbove: '2MiB' });
    const ops: Promise<number>[] = [];
    for (let i = 0; i < 50; i++) {
      const len = rng.int(1, 300 * 1024);
      const src = arena.at(len, 0, 16 * MiB), dst = arena.base + 16 * MiB + i * 320 * 1024;
      arena.copied(dst, src, len);
      ops.push(engine.copy(dst, src, len));
    }
    const bigDst = arena.base + 40 * MiB;
    arena.copied(bigDst, arena.base, 8 * MiB);
    ops.push(engine.copy(bigDst, arena.base, 8 * MiB)); // in parts
    const segments: [number, number, number][] = [[arena.base + 50 * MiB, arena.base, 1000], [arena.base + 50 * MiB + 4096, arena.base + 5000, 2000]];
    for (const [d, s, l] of segments) arena.copied(d, s, l);
    ops.push(engine.copySg(segments));
    let settled = 0;
    for (const op of ops) op.then(() => settled++, () => settled++);
    const closing = engine.close();
    expect(engine.close()).toBe(closing);
    await expect(engine.copy(arena.base, arena.base + 64, 16)).rejects.toMatchObject({ code: 'ERR_ENGINE_CLOSED' });
    await within(closing, 10000, 'close()');
    // When close() resolves, every op has settled, and a second close() resolved no earlier.
    expect(settled).toBe(ops.length);
    await expect(Promise.all(ops)).resolves.toHaveLength(ops.length);
    arena.check();
    expect(engine.channels.every((c) => c.state === 'closed')).toBe(true);
    expect(fabric.scratch.stats().allocations).toBe(scratchBase);
    await expect(engine.fill(arena.base, 1n, 8)).rejects.toMatchObject({ code: 'ERR_ENGINE_CLOSED' });
    await expect(engine.copySg([[arena.base, arena.base, 1]])).rejects.toMatchObject({ code: 'ERR_ENGINE_CLOSED' });
  });

  it('settles ops whose channel was stopped or closed under it with ERR_ENGINE_STOPPED, and still closes', async () => {
    const engine = CopyEngine.create(fabric, { workers: 1, slots: 4, inlineBelow: 0 });
    const ops = Array.from({ length: 30 }, (_, i) => engine.copy(arena.base + 16 * MiB + i * MiB, arena.base + (i % 8) * MiB, MiB).then(() => 'ok', (e: { code: string }) => e.code));
    const stopping = engine.channels[0]!.stop();
    const outcomes = await Promise.all(ops);
    await stopping;
    expect(outcomes.filter((o) => o === 'ERR_ENGINE_STOPPED').length).toBeGreaterThan(0);
    expect(outcomes.every((o) => o === 'ok' || o === 'ERR_ENGINE_STOPPED')).toBe(true);
    // A lane whose channel was closed outright: its ops reject, later ones too, and the engine closes.
    const again = engine.copy(arena.base + 16 * MiB, arena.base, MiB).then(() => 'ok', (e: { code: string }) => e.code);
    await engine.channels[0]!.close();
    expect(await within(again, 5000, 'an op on a closed channel')).toEqual({ value: 'ERR_ENGINE_STOPPED' });
    await expect(engine.copy(arena.base + 16 * MiB, arena.base, MiB)).rejects.toMatchObject({ code: 'ERR_ENGINE_STOPPED' });
    await within(engine.close(), 5000, 'close()');
    arena.randomize();
  });

  it('settles on a pool that never runs the serve task: after the grace period the ops reject with ERR_ENGINE_STOPPED', async () => {
    const silent = new Piscina({ filename: new URL('./support/workers/silent-worker.mjs', import.meta.url).href, maxThreads: 1, concurrentTasksPerWorker: 1 });
    try {
      const engine = CopyEngine.create(fabric, { workers: 1, pool: silent, inlineBelow: 0 });
      const ops = Array.from({ length: 3 }, () => engine.copy(arena.at(64, 16 * MiB), arena.at(64, 0, 16 * MiB), 64).then(() => 'ok', (e: { code: string }) => e.code));
      const started = Date.now();
      await within(engine.close(), UNSTARTED_LANE_GRACE_MS + 5000, 'close()');
      expect(Date.now() - started).toBeGreaterThanOrEqual(UNSTARTED_LANE_GRACE_MS - 50);
      expect(await Promise.all(ops)).toEqual(['ERR_ENGINE_STOPPED', 'ERR_ENGINE_STOPPED', 'ERR_ENGINE_STOPPED']);
      arena.check();
    } finally {
      await silent.destroy();
    }
    await until(() => fabric.scratch.stats().allocations === scratchBase, 5000, 'the ring freed');
  });

  it('`await using` closes the engine and a channel at the end of the block', async () => {
    let engine: CopyEngine | undefined;
    let channel: DmaChannel | undefined;
    {
      await using e = CopyEngine.create(fabric, { workers: 1, inlineBelow: 0 });
      await using c = DmaChannel.open(fabric, { slots: 8 });
      engine = e;
      channel = c;
      const src = arena.at(5000, 0, 16 * MiB), dst = arena.at(5000, 16 * MiB);
      arena.copied(dst, src, 5000);
      await expect(e.copy(dst, src, 5000)).resolves.toBe(5000);
    }
    expect(channel.state).toBe('closed');
    await expect(engine.copy(arena.base, arena.base, 1)).rejects.toMatchObject({ code: 'ERR_ENGINE_CLOSED' });
    expect(fabric.scratch.stats().allocations).toBe(scratchBase);
    arena.check();
  });
});

// Runs the script; resolves with its exit code and output, or with `alive: true` if it has not
// exited after `ms` (then it is killed).
function run(mode: string, ms: number): Promise<{ code: number | null; out: string; err: string; alive: boolean; took: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [SCRIPT, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, out, err, alive: signal === 'SIGKILL', took: Date.now() - started });
    });
  });
}

describe('the process after close()', () => {
  it('exits by itself: no timer, worker or pending wait of the engine keeps it alive; every op settled with its result or a coded error', async () => {
    const r = await run('closed', 20000);
    expect(r.alive, `still running after 20 s; stderr: ${r.err}`).toBe(false);
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out.trim().split('\n').at(-1)!) as { settled: number; summary: Record<string, number>; scratch: number };
    expect(result.settled).toBe(44);
    for (const key of Object.keys(result.summary)) expect(['ok', 'ERR_ABORTED', 'ERR_ENGINE_CLOSED']).toContain(key);
    expect(result.summary.ERR_ENGINE_CLOSED).toBe(1);
    expect(result.scratch).toBe(1); // the fabric's own CRC table
  });

  it('an engine never closed keeps the process alive (its serve tasks are piscina tasks in progress): close it', async () => {
    const r = await run('never-closed', 3000);
    expect(r.out).toContain('copied 4096');
    expect(r.alive).toBe(true);
  });
});

afterAll(() => arena.randomize());
