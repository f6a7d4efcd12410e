// A worker killed in the middle of a long batch: nothing hangs, no completion is lost, no
// byte outside a destination changes, and a new worker takes the ring.
import { afterAll, describe, expect, it } from 'vitest';
import { CopyEngine, DmaChannel, Fabric, SgTable, type Ring } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { testRng } from './support/random.js';
import { gatherCompletions } from './support/ring.js';

const rng = testRng('engine-worker-death');
const fabric = new Fabric({ size: '256MiB', scratch: '4MiB' });
const arena = new Arena(fabric, rng, 200 * 2 ** 20);
const MiB = 2 ** 20;

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 1));
}


describe('worker death', () => {
  const channel = DmaChannel.open(fabric, { slots: 256 });
  afterAll(() => channel.close());

  it('completes the op in flight as FAULT, the rest as NOT_ATTEMPTED, and serves later ops on a new worker', async () => {
    const ring = channel.ring;
    const N = 200;
    const jobs: { dst: number; src: number; len: number }[] = [];
    for (let i = 0; i < N; i++) {
      const len = MiB;
      jobs.push({ dst: arena.base + 100 * MiB + (i % 96) * MiB, src: arena.base + (i % 90) * MiB, len });
    }
    // Distinct destinations per op would need 200 MiB; reuse 96 slots but only check the final writer of each.
    for (const j of jobs) ring.enqueueCopy(j.dst, j.src, j.len);
    const firstThread = ring.serverThreadId;
    ring.submit();
    await waitUntil(() => ring.served > 10);
    expect(await channel.killWorker()).toBe(true);
    const completions = await gatherCompletions(ring, N);
    expect(completions).toHaveLength(N);
    expect(completions.map((c) => c.index)).toEqual(jobs.map((_, i) => (completions[0]!.index + i) & 0xffff));
    const names = completions.map((c) => c.statusName);
    const firstFailure = names.findIndex((n) => n !== 'SUCCESS');
    expect(firstFailure).toBeGreaterThan(10);
    expect(firstFailure).toBeLessThan(N);
    expect(names[firstFailure]).toBe('FAULT');
    expect(names.slice(firstFailure + 1).every((n) => n === 'NOT_ATTEMPTED')).toBe(true);
    expect(channel.deaths).toBe(1);

    // Apply the successful ops to the reference; the faulted op's destination may hold a
    // mix of old and new bytes, so the reference takes the observed bytes there after
    // checking each is one or the other.
    for (let i = 0; i < firstFailure; i++) arena.copied(jobs[i]!.dst, jobs[i]!.src, jobs[i]!.len);
    const f = jobs[firstFailure]!;
    const got = arena.bytes.subarray(f.dst - arena.base, f.dst - arena.base + f.len);
    const old = arena.expected.subarray(f.dst - arena.base, f.dst - arena.base + f.len);
    const neu = arena.expected.slice(f.src - arena.base, f.src - arena.base + f.len);
    let mixed = 0;
    for (let b = 0; b < f.len; b++) if (got[b] !== old[b] && got[b] !== neu[b]) mixed++;
    expect(mixed).toBe(0);
    old.set(got);
    arena.check();

    // A new worker serves the ring.
    const dst = arena.base + 199 * MiB, src = arena.base;
    ring.enqueueCopy(dst, src, 4096);
    ring.submit();
    const [after] = await gatherCompletions(ring, 1);
    expect(after!.statusName).toBe('SUCCESS');
    expect(ring.serverThreadId).not.toBe(firstThread);
    arena.copied(dst, src, 4096);
    arena.check();
  });

  it('a table op killed midway reports the bytes it completed, and they are exactly the segments done', async () => {
    arena.randomize();
    const ring = channel.ring;
    const table = new SgTable(fabric, 4096);
    const seg = 16384;
    for (let i = 0; i < 4096; i++) table.push(arena.base + 100 * MiB + i * seg, arena.base + ((i * 7) % 4096) * seg, seg);
    // Several table ops back to back so the kill lands inside one.
    for (let k = 0; k < 8; k++) ring.enqueueCopyTable(table);
    ring.submit();
    // Kill once the first segment has landed: the worker is then inside the 512 MiB of table ops.
    const first = arena.bytes.subarray(100 * MiB, 100 * MiB + seg);
    const source = arena.bytes.slice(0, seg);
    await waitUntil(() => Buffer.compare(first, source) === 0);
    await channel.killWorker();
    const completions = await gatherCompletions(ring, 8);
    const fault = completions.find((c) => c.statusName === 'FAULT');
    expect(fault).toBeDefined();
    expect(fault!.bytesCompleted % seg).toBe(0);
    expect(fault!.bytesCompleted).toBeLessThan(4096 * seg);
    expect(fault!.faultAddress).toBe(arena.base + 100 * MiB + fault!.bytesCompleted);
    table.release();
  });
});

describe('worker death under the promise API', () => {
  it('every promise settles (resolved or ERR_WORKER_DIED), and later copies succeed', async () => {
    arena.randomize();
    const engine = CopyEngine.create(fabric, { workers: 2, slots: 32, splitAbove: '64MiB' });
    try {
      const ops = Array.from({ length: 600 }, (_, i) =>
        engine.copy(arena.base + 100 * MiB + (i % 64) * MiB, arena.base + (i % 64) * MiB, MiB).then(
          () => 'ok',
          (err: { code: string }) => err.code,
        ),
      );
      // Kill the worker with the most ops on its ring not yet completed, so that the kill lands mid-batch.
      // (Chosen by inFlight, not outstanding: a lane whose ops are all done but not yet gathered
      // by its pump has outstanding ops and nothing in flight.)
      const busiest = () => [...engine.channels].sort((a, b) => b.ring.inFlight - a.ring.inFlight)[0]!;
      await waitUntil(() => engine.channels.every((c) => c.ring.served > 5) && busiest().ring.inFlight > 0);
      const victim = busiest();
      expect(victim.ring.inFlight).toBeGreaterThan(0);
      expect(await victim.killWorker()).toBe(true);
      const outcomes = await Promise.all(ops);
      expect(outcomes).toHaveLength(600);
      expect(outcomes.every((o) => o === 'ok' || o === 'ERR_WORKER_DIED')).toBe(true);
      expect(outcomes.filter((o) => o === 'ERR_WORKER_DIED').length).toBeGreaterThan(0);
      expect(engine.stats().workerDeaths).toBe(1);
      const src = arena.at(MiB, 0, 64 * MiB), dst = arena.base + 180 * MiB;
      for (let i = 0; i < 4; i++) await expect(engine.copy(dst, src, MiB)).resolves.toBe(MiB);
      arena.copied(dst, src, MiB);
      const view = arena.bytes.subarray(dst - arena.base, dst - arena.base + MiB);
      expect(Buffer.compare(view, arena.expected.subarray(dst - arena.base, dst - arena.base + MiB))).toBe(0);
    } finally {
      await engine.close();
    }
  });
});
