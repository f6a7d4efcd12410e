// A copy split across workers settles once, when every part has: a part that fails (aborted,
// its worker killed) makes the copy reject only after the other parts stopped writing, with the
// bytes all parts copied; a range that is bad anywhere is refused before any part starts.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { CopyEngine, Fabric, SgTable } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { until, within } from './support/deadline.js';
import { testRng } from './support/random.js';

const rng = testRng('engine-split-copy');
const MiB = 2 ** 20;
const fabric = new Fabric({ size: '192MiB', scratch: '1MiB' });
const arena = new Arena(fabric, rng, 164 * MiB);
const SPLIT = 64 * MiB; // two parts of 32 MiB: each takes milliseconds, so a failure lands while the other runs
const SRC = arena.base, DST = arena.base + 66 * MiB, BLOCKER = arena.base + 131 * MiB; // 2 x 16 MiB
const engine = CopyEngine.create(fabric, { workers: 2, inlineBelow: 0, splitAbove: '1MiB' });
afterAll(() => engine.close());
beforeEach(() => arena.randomize());

const same = (a: number, b: number, len: number) => Buffer.compare(arena.bytes.subarray(a - arena.base, a - arena.base + len), arena.expected.subarray(b - arena.base, b - arena.base + len)) === 0;

const blockers = [new SgTable(fabric, 64), new SgTable(fabric, 64)];
afterAll(() => { for (const t of blockers) t.release(); });

// Puts a table op on a lane's ring behind the engine's back (the engine's doorbell submits it with
// the split's part, which queues behind it): `copies` times the same `len` bytes of the source to
// the lane's 16 MiB of the blocker area. Long to run, small to hold.
function block(lane: number, copies: number, len: number): void {
  const table = blockers[lane]!;
  table.clear();
  for (let i = 0; i < copies; i++) table.push(BLOCKER + lane * 16 * MiB, SRC, len);
  engine.channels[lane]!.ring.enqueueCopyTable(table);
}

// After a run: a blocker area holds, byte by byte, what it held or the source (a killed blocker
// stops part-way); the reference takes what is there.
function settleBlockers(): void {
  const b = BLOCKER - arena.base, s = SRC - arena.base;
  for (let i = 0; i < 32 * MiB; i += 4093) expect([arena.expected[b + i], arena.expected[s + (i % (16 * MiB))]]).toContain(arena.bytes[b + i]);
  arena.expected.set(arena.bytes.subarray(b, b + 32 * MiB), b);
}

// Spins (the workers run on their own threads) until `condition` holds: a timer would be too coarse.
async function spinUntil(condition: () => boolean, what: string): Promise<void> {
  await null; // the engine rings its doorbell in a microtask queued before this one
  const end = Date.now() + 20000;
  while (!condition()) if (Date.now() > end) throw new Error(`${what}: not within 20 s`);
}

type Fault = 'abort' | 'kill';

// One split copy with a fault injected into part 0's run; checks what must always hold and returns
// whether this attempt hit the case that matters (one part failed while the other still ran).
async function splitWithFault(fault: Fault): Promise<boolean> {
  // Every lane's worker serves its ring before the main thread busy-waits below: piscina hands a
  // restarted worker its task from this thread's event loop, which a busy-wait would hold up.
  await until(() => engine.channels.every((c) => c.ring.serverActive), 60000, 'every lane served');
  arena.randomize();
  const controller = new AbortController();
  // An abort lands at once: part 1 is cancelled behind a short blocker while part 0 has
  // milliseconds to go. A kill takes up to tens of milliseconds to land: it hits lane 0's long
  // blocker (part 0 behind it is never attempted) while part 1 waits behind a longer one.
  if (fault === 'abort') block(1, 1, 12 * MiB);
  else {
    block(0, 12, 16 * MiB);
    block(1, 40, 16 * MiB);
  }
  const copy = engine.copy(DST, SRC, SPLIT, { signal: controller.signal });
  let inFlightAtSettle: number[] | undefined;
  const settled = copy.then(
    (bytes) => { inFlightAtSettle = engine.channels.map((c) => c.ring.inFlight); return { bytes }; },
    (error: { code: string; bytesCompleted: number }) => { inFlightAtSettle = engine.channels.map((c) => c.ring.inFlight); return { error }; },
  );
  // Lane 0 is copying once the first bytes of its first op land.
  const d = DST - arena.base, s = SRC - arena.base;
  const first = fault === 'abort' ? d : BLOCKER - arena.base;
  await spinUntil(() => arena.bytes[first] === arena.expected[s] && arena.bytes[first + 1] === arena.expected[s + 1] && arena.bytes[first + 2] === arena.expected[s + 2], 'lane 0 started');
  if (fault === 'abort') controller.abort();
  else expect(await engine.channels[0]!.killWorker()).toBe(true);
  const outcome = (await within(settled, 20000, 'the split copy')).value!;
  // Nothing of the copy was still running when its promise settled, and nothing writes after.
  expect(inFlightAtSettle).toEqual([0, 0]);
  const after = arena.bytes.slice(d, d + SPLIT);
  await new Promise((r) => setTimeout(r, 20));
  expect(Buffer.compare(after, arena.bytes.subarray(d, d + SPLIT))).toBe(0);
  const half = SPLIT / 2;
  settleBlockers();
  let hit = false;
  if ('bytes' in outcome) {
    // The fault came too late to stop anything: the copy finished.
    expect(outcome.bytes).toBe(SPLIT);
    arena.copied(DST, SRC, SPLIT);
  } else {
    expect(outcome.error.code).toBe(fault === 'abort' ? 'ERR_ABORTED' : 'ERR_WORKER_DIED');
    // Part by part: copied whole (and counted), or not started (untouched); a killed part may be partly written.
    let counted = 0;
    for (const at of [0, half]) {
      if (same(DST + at, SRC + at, half)) { counted += half; arena.copied(DST + at, SRC + at, half); continue; }
      for (let b = 0; b < half; b += 4093) expect([arena.expected[d + at + b], arena.expected[s + at + b]]).toContain(arena.bytes[d + at + b]);
      if (fault === 'abort') expect(same(DST + at, DST + at, half)).toBe(true);
      arena.expected.set(arena.bytes.subarray(d + at, d + at + half), d + at);
    }
    expect(outcome.error.bytesCompleted).toBe(counted);
    hit = counted === half;
  }
  arena.check();
  await until(() => engine.channels.every((c) => c.state === 'running' && c.ring.outstanding === 0), 5000, 'lanes idle');
  return hit;
}

describe('a split copy', () => {
  it.each(['abort', 'kill'] as const)('settles only after every part has (%s of one part), with the bytes its parts copied', async (fault) => {
    // On a busy machine a fault can land too late to stop a part: try until it has landed twice.
    let hits = 0, attempts = 0;
    for (; attempts < 12 && hits < 2; attempts++) if (await splitWithFault(fault)) hits++;
    // One part failed while the other ran at least once, or this test proved nothing.
    expect(hits, `the fault stopped a part in ${hits} of ${attempts} attempts`).toBeGreaterThan(0);
    // The engine goes on: a new split copy succeeds.
    await expect(engine.copy(DST, SRC, 8 * MiB)).resolves.toBe(8 * MiB);
    arena.copied(DST, SRC, 8 * MiB);
    arena.check();
  });

  it.each([
    ['a source whose end passes the fabric', () => [DST, fabric.size - 4 * MiB, 8 * MiB] as const, 'INVALID_SRC'],
    ['a destination whose end passes the fabric', () => [fabric.size - 4 * MiB, SRC, 8 * MiB] as const, 'INVALID_DST'],
    ['a destination that starts in the scratch area', () => [fabric.dataStart - 4096, DST, 8 * MiB] as const, 'INVALID_DST'],
  ])('with %s is refused whole: nothing copied, no part submitted', async (_name, args, status) => {
    const [dst, src, len] = args();
    const submitted = engine.stats().submitted;
    await expect(engine.copy(dst, src, len)).rejects.toMatchObject({ code: 'ERR_COPY_FAILED', status, bytesCompleted: 0 });
    expect(engine.stats().submitted).toBe(submitted);
    arena.check();
  });

  it('that succeeds resolves with its length once, every byte copied', async () => {
    const len = rng.int(2 * MiB, 60 * MiB);
    let settledTimes = 0;
    const copy = engine.copy(DST, SRC, len);
    copy.then(() => settledTimes++, () => settledTimes++);
    await expect(copy).resolves.toBe(len);
    await new Promise((r) => setTimeout(r, 10));
    expect(settledTimes).toBe(1);
    arena.copied(DST, SRC, len);
    arena.check();
  });
});
