// Fault-injection scenarios, shared by `npm run faults` (bench/reliability/faults.ts) and the fault tests.
// Each scenario injects one kind of fault at a random point, waits for every operation with a deadline,
// checks every byte of the memory involved against a reference, and counts what happened:
//   injected   faults actually injected (a kill that found its worker, a task that threw, a full pool, an abort)
//   recovered  operations that failed because of the fault and then succeeded when retried
//   coded      operations that ended in a coded error of the documented kinds
//   uncoded    operations that ended in anything else (a finding)
//   hangs      operations (or closes) that did not settle before the deadline (a finding)
//   lost       operations whose promise never settled or settled twice (a finding)
//   bytesWrong bytes that differ from the reference: in a destination, or outside every destination (a finding)
//   leaks      swiotlb slots, bounce records, scratch allocations or waiters left at the end (a finding)
import { Piscina } from 'piscina';
import { FuzzRng } from './fuzz-topology.js';
import {
  CopyEngine,
  DmaBounceError,
  DmaDirection,
  DmaSystem,
  Fabric,
  type MappedSg,
  type Region,
} from '../../src/index.js';

export interface FaultCounts {
  trials: number;
  injected: number;
  operations: number;
  succeeded: number;
  recovered: number;
  coded: number;
  uncoded: number;
  hangs: number;
  lost: number;
  bytesWrong: number;
  leaks: number;
  /** Engine ops that failed inside the scenario (shows the faults landed inside copies, even when retried). */
  engineErrors: number;
  /** Codes seen, with counts. */
  codes: Record<string, number>;
}

export function emptyCounts(): FaultCounts {
  return { trials: 0, injected: 0, operations: 0, succeeded: 0, recovered: 0, coded: 0, uncoded: 0, hangs: 0, lost: 0, bytesWrong: 0, leaks: 0, engineErrors: 0, codes: {} };
}

const MiB = 2 ** 20;
const DEADLINE_MS = 15_000;

type Outcome = { ok: true; value: number } | { ok: false; error: unknown } | { hang: true };

/** Settles `promise` or reports a hang after `ms`. */
export async function settle<T>(promise: Promise<T>, ms = DEADLINE_MS): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Outcome>((resolve) => { timer = setTimeout(() => resolve({ hang: true }), ms); });
  try {
    return await Promise.race([
      promise.then((value) => ({ ok: true as const, value: Number(value) }), (error: unknown) => ({ ok: false as const, error })),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function record(counts: FaultCounts, error: unknown, allowed: readonly string[]): void {
  if (error instanceof DmaBounceError && allowed.includes(error.code)) {
    counts.coded++;
    counts.codes[error.code] = (counts.codes[error.code] ?? 0) + 1;
  } else {
    counts.uncoded++;
    const key = error instanceof DmaBounceError ? error.code : `uncoded:${error instanceof Error ? error.name : typeof error}`;
    counts.codes[key] = (counts.codes[key] ?? 0) + 1;
  }
}

function fillRandom(rng: FuzzRng, bytes: Uint8Array): void {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  let x = (rng.next() * 2 ** 32) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    words[i] = x;
  }
  for (let i = words.length * 4; i < bytes.length; i++) bytes[i] = (rng.next() * 256) >>> 0;
}

function differences(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

async function waitUntil(condition: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 0));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Engine: a worker killed at a random point of a long batch; ops aborted at random points.

interface EngineRig {
  fabric: Fabric;
  region: Region;
  bytes: Uint8Array;
  /** Scratch allocations that belong to the fabric itself (the kernels' CRC table). */
  scratchBase: number;
}

/** One fabric with a 96 MiB host-RAM arena: sources in the first 32 MiB, destinations after. */
export function engineRig(): EngineRig {
  const fabric = new Fabric({ size: '128MiB', scratch: '4MiB' });
  const region = fabric.addRegion({ name: 'arena', kind: 'ram', phys: 0x1_0000_0000, size: 96 * MiB });
  void fabric.kernels;
  return { fabric, region, bytes: region.view({ offset: region.offset, length: region.size }), scratchBase: fabric.scratch.stats().allocations };
}

/**
 * `trials` times: a batch of 40..160 copies (4 KiB..1 MiB, distinct destinations) on a 2-worker engine; a
 * random worker is killed after a random number of completions. Every op must resolve with the right bytes
 * or reject with ERR_WORKER_DIED (its destination holding only old or new bytes) and then succeed when
 * retried; nothing outside a destination may change.
 */
export async function killMidBatch(rig: EngineRig, counts: FaultCounts, trials: number, seed: number): Promise<void> {
  const rng = new FuzzRng(seed);
  const { fabric, region, bytes } = rig;
  for (let t = 0; t < trials; t++) {
    counts.trials++;
    fillRandom(rng, bytes);
    const expected = bytes.slice();
    const engine = CopyEngine.create(fabric, { workers: 2, slots: rng.pick([8, 32, 256]), inlineBelow: 0, splitAbove: '64MiB' });
    const ops: { dst: number; src: number; len: number }[] = [];
    let at = 32 * MiB;
    for (let n = rng.int(40, 160); n > 0 && at < 95 * MiB; n--) {
      const len = rng.int(4096, MiB);
      if (at + len > 96 * MiB) break;
      ops.push({ dst: region.offset + at, src: region.offset + rng.int(0, 32 * MiB - len), len });
      at += len + rng.int(0, 4096);
    }
    let settledTwice = 0;
    const promises = ops.map((op) => {
      let settled = 0;
      const p = engine.copy(op.dst, op.src, op.len);
      p.then(() => { if (++settled > 1) settledTwice++; }, () => { if (++settled > 1) settledTwice++; });
      return p;
    });
    const killAfter = rng.int(0, Math.max(1, ops.length >> 1));
    const victim = engine.channels[rng.int(0, engine.channels.length - 1)]!;
    await waitUntil(() => victim.ring.served >= killAfter || engine.stats().completed + engine.stats().errors >= ops.length, 3000);
    if (await victim.killWorker()) counts.injected++;
    const outcomes = await Promise.all(promises.map((p) => settle(p)));
    const retries: number[] = [];
    for (const [i, outcome] of outcomes.entries()) {
      counts.operations++;
      const op = ops[i]!;
      const o = op.dst - region.offset, s = op.src - region.offset;
      if ('hang' in outcome) { counts.hangs++; continue; }
      if (outcome.ok) {
        counts.succeeded++;
        expected.copyWithin(o, s, s + op.len);
        continue;
      }
      record(counts, outcome.error, ['ERR_WORKER_DIED']);
      // A failed op's destination may be partly written: each byte old or new, never anything else.
      for (let b = 0; b < op.len; b++) {
        const got = bytes[o + b]!;
        if (got !== expected[o + b] && got !== expected[s + b]) counts.bytesWrong++;
      }
      expected.set(bytes.subarray(o, o + op.len), o);
      retries.push(i);
    }
    for (const i of retries) {
      const op = ops[i]!;
      const outcome = await settle(engine.copy(op.dst, op.src, op.len));
      if ('hang' in outcome) counts.hangs++;
      else if (outcome.ok) {
        counts.recovered++;
        expected.copyWithin(op.dst - region.offset, op.src - region.offset, op.src - region.offset + op.len);
      } else record(counts, outcome.error, ['ERR_WORKER_DIED']);
    }
    counts.lost += settledTwice;
    counts.bytesWrong += differences(bytes, expected);
    counts.engineErrors += engine.stats().errors;
    const closed = await settle(engine.close().then(() => 0));
    if ('hang' in closed) counts.hangs++;
    if (fabric.scratch.stats().allocations !== rig.scratchBase) counts.leaks++;
  }
}

/**
 * `trials` times: copies with AbortSignals, aborted at random points. An aborted op rejects with ERR_ABORTED and
 * its destination is untouched, or it had started and resolves with the bytes copied; no third outcome.
 */
export async function abortMidFlight(rig: EngineRig, counts: FaultCounts, trials: number, seed: number): Promise<void> {
  const rng = new FuzzRng(seed);
  const { fabric, region, bytes } = rig;
  const engine = CopyEngine.create(fabric, { workers: 1, slots: 16, inlineBelow: 0 });
  try {
    for (let t = 0; t < trials; t++) {
      counts.trials++;
      fillRandom(rng, bytes);
      const expected = bytes.slice();
      const ops = Array.from({ length: rng.int(20, 80) }, (_, i) => ({ dst: region.offset + 32 * MiB + i * 512 * 1024, src: region.offset + rng.int(0, 31 * MiB), len: rng.int(4096, 512 * 1024), ctl: new AbortController() }));
      const promises = ops.map((op) => settle(engine.copy(op.dst, op.src, op.len, { signal: op.ctl.signal })));
      const aborted = new Set<number>();
      for (let k = rng.int(1, ops.length); k > 0; k--) {
        if (rng.chance(0.5)) await new Promise((r) => setTimeout(r, 0));
        const i = rng.int(0, ops.length - 1);
        aborted.add(i);
        ops[i]!.ctl.abort(new Error('test abort'));
        counts.injected++;
      }
      const outcomes = await Promise.all(promises);
      for (const [i, outcome] of outcomes.entries()) {
        counts.operations++;
        const op = ops[i]!;
        const o = op.dst - region.offset, s = op.src - region.offset;
        if ('hang' in outcome) { counts.hangs++; continue; }
        if (outcome.ok) {
          counts.succeeded++;
          expected.copyWithin(o, s, s + op.len);
        } else {
          record(counts, outcome.error, aborted.has(i) ? ['ERR_ABORTED'] : []);
        }
      }
      counts.bytesWrong += differences(bytes, expected);
    }
    counts.engineErrors += engine.stats().errors;
  } finally {
    await engine.close();
  }
  if (fabric.scratch.stats().allocations !== rig.scratchBase) counts.leaks++;
}

/**
 * Workers whose serve task throws: `transient` failures in a row (at most 3: the channel recovers and every op
 * succeeds, maybe after a retry), or forever (the channel gives up: ops end in ERR_WORKER_DIED or
 * ERR_ENGINE_STOPPED, nothing hangs, close() returns).
 */
export async function throwingWorker(rig: EngineRig, counts: FaultCounts, trials: number, seed: number, workerUrl: URL): Promise<void> {
  const rng = new FuzzRng(seed);
  const { fabric, region, bytes } = rig;
  for (let t = 0; t < trials; t++) {
    counts.trials++;
    const forever = rng.chance(0.3);
    const faults = new Int32Array(new SharedArrayBuffer(8));
    faults[0] = forever ? -1 : rng.int(1, 3);
    const pool = new Piscina({ filename: workerUrl.href, minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 1, idleTimeout: 2 ** 31 - 1, workerData: { fabric: fabric.handle(), faults } });
    const engine = CopyEngine.create(fabric, { workers: 1, pool, inlineBelow: 0 });
    fillRandom(rng, bytes);
    const expected = bytes.slice();
    const ops = Array.from({ length: rng.int(5, 30) }, (_, i) => ({ dst: region.offset + 32 * MiB + i * 256 * 1024, src: region.offset + rng.int(0, 31 * MiB), len: rng.int(4096, 256 * 1024) }));
    if (rng.chance(0.5)) await new Promise((r) => setTimeout(r, rng.int(0, 20)));
    const outcomes = await Promise.all(ops.map((op) => settle(engine.copy(op.dst, op.src, op.len))));
    for (const [i, outcome] of outcomes.entries()) {
      counts.operations++;
      const op = ops[i]!;
      const o = op.dst - region.offset, s = op.src - region.offset;
      if ('hang' in outcome) { counts.hangs++; continue; }
      if (outcome.ok) { counts.succeeded++; expected.copyWithin(o, s, s + op.len); continue; }
      record(counts, outcome.error, ['ERR_WORKER_DIED', 'ERR_ENGINE_STOPPED']);
      expected.set(bytes.subarray(o, o + op.len), o); // checked below only outside destinations
      if (!forever) {
        const again = await settle(engine.copy(op.dst, op.src, op.len));
        if ('hang' in again) counts.hangs++;
        else if (again.ok) { counts.recovered++; expected.copyWithin(o, s, s + op.len); }
        else record(counts, again.error, ['ERR_WORKER_DIED', 'ERR_ENGINE_STOPPED']);
      }
    }
    counts.injected += Atomics.load(faults, 1);
    counts.bytesWrong += differences(bytes, expected);
    counts.engineErrors += engine.stats().errors;
    const closed = await settle(engine.close().then(() => pool.destroy()).then(() => 0));
    if ('hang' in closed) counts.hangs++;
  }
  if (fabric.scratch.stats().allocations !== rig.scratchBase) counts.leaks++;
}

// ---------------------------------------------------------------------------------------------------------
// Mapper: a full pool, an abort while waiting for space, a worker killed during bounce copies.

function poolClean(system: DmaSystem): boolean {
  const s = system.swiotlb.stats();
  return s.usedSlots === 0 && s.mappings === 0 && s.waiters === 0;
}

interface Guarded {
  region: Region;
  span: ReturnType<Region['allocate']>;
  phys: number;
  length: number;
  area: Uint8Array;
  expected: Uint8Array;
}

const GUARD = 256;

function guarded(region: Region, rng: FuzzRng, length: number): Guarded {
  const span = region.allocate(length + 2 * GUARD, 4096);
  const area = region.view(span);
  fillRandom(rng, area);
  return { region, span, phys: span.phys + GUARD, length, area, expected: area.slice() };
}

/**
 * `trials` times: 6..16 concurrent map → device write → unmap cycles of forced-bounce SG lists on a 1 MiB pool;
 * half the devices fail fast (ERR_SWIOTLB_FULL, then retried after the others), half wait up to 2 s. Every
 * buffer ends exactly as the reference says; the pool ends empty.
 */
export async function poolFull(counts: FaultCounts, trials: number, seed: number): Promise<void> {
  const rng = new FuzzRng(seed);
  const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, ram: [{ name: 'ram', phys: 0x1000_0000, size: '32MiB' }], engine: { workers: 1, inlineBelow: rng.pick([0, 65536]) } });
  try {
    const ram = system.ram[0]!;
    for (let t = 0; t < trials; t++) {
      counts.trials++;
      const cycles = Array.from({ length: rng.int(6, 16) }, () => ({
        wait: rng.chance(0.5),
        buffers: Array.from({ length: rng.int(1, 4) }, () => guarded(ram, rng, rng.int(1, 200 * 1024))),
      }));
      const run = async (cycle: (typeof cycles)[number]): Promise<number> => {
        const device = system.device('0000:04:00.0', { forceBounce: true, waitForSpace: cycle.wait ? 2000 : false });
        const sg: MappedSg = await device.mapSg(cycle.buffers.map((b) => ({ phys: b.phys, length: b.length })), DmaDirection.BIDIRECTIONAL);
        await new Promise((r) => setTimeout(r, rng.int(0, 3)));
        for (const [i, seg] of sg.segments.entries()) {
          const b = cycle.buffers[i]!;
          const data = new Uint8Array(rng.int(1, b.length));
          fillRandom(rng, data);
          const from = rng.int(0, b.length - data.length);
          device.dma.write(seg.dmaAddress + from, data);
          b.expected.set(data, GUARD + from);
        }
        await device.unmapSg(sg, DmaDirection.BIDIRECTIONAL);
        return 0;
      };
      const outcomes = await Promise.all(cycles.map((c) => settle(run(c))));
      const failed = [];
      for (const [i, outcome] of outcomes.entries()) {
        counts.operations++;
        if ('hang' in outcome) { counts.hangs++; continue; }
        if (outcome.ok) { counts.succeeded++; continue; }
        counts.injected++;
        record(counts, outcome.error, ['ERR_SWIOTLB_FULL']);
        failed.push(cycles[i]!);
      }
      for (const cycle of failed) {
        const again = await settle(run(cycle));
        if ('hang' in again) counts.hangs++;
        else if (again.ok) counts.recovered++;
        else record(counts, again.error, ['ERR_SWIOTLB_FULL']);
      }
      for (const c of cycles) for (const b of c.buffers) { counts.bytesWrong += differences(b.area, b.expected); b.region.free(b.span); }
      if (!poolClean(system)) counts.leaks++;
    }
  } finally {
    await system.close();
  }
}

/**
 * `trials` times: the pool is filled, 4..12 devices wait for space, a random subset is aborted at random
 * points, then the pool is drained. Aborted waiters reject with ERR_ABORTED having mapped nothing; the others
 * map, and their bytes reach the device; no waiter is left and no slot leaks.
 */
export async function abortMidWait(counts: FaultCounts, trials: number, seed: number): Promise<void> {
  const rng = new FuzzRng(seed);
  const system = DmaSystem.create({ swiotlb: { size: '512KiB' }, ram: [{ name: 'ram', phys: 0x1000_0000, size: '16MiB' }], engine: { workers: 1 } });
  try {
    const ram = system.ram[0]!;
    const holder = system.device('0000:04:00.0', { forceBounce: true });
    for (let t = 0; t < trials; t++) {
      counts.trials++;
      // Fill the pool in 4 KiB mappings until it is full (next-fit leaves holes a bigger unit would miss).
      const big = guarded(ram, rng, 4096);
      const held = [];
      for (;;) {
        const m = await holder.mapSingle(big.phys, big.length, DmaDirection.TO_DEVICE).catch((e: unknown) => e as { code?: string });
        if ('dmaAddress' in (m as object)) held.push(m as { dmaAddress: number });
        else if ((m as { code?: string }).code === 'ERR_SWIOTLB_FULL') break;
        else throw m;
      }
      const waiters = Array.from({ length: rng.int(4, 12) }, () => ({ buffer: guarded(ram, rng, rng.int(1, 64 * 1024)), ctl: new AbortController(), abort: rng.chance(0.5) }));
      const run = async (w: (typeof waiters)[number]): Promise<number> => {
        const device = system.device('0000:81:00.0', { forceBounce: true, waitForSpace: Infinity });
        const m = await device.mapSingle(w.buffer.phys, w.buffer.length, DmaDirection.TO_DEVICE, 0, w.ctl.signal);
        const seen = device.dma.read(m.dmaAddress, w.buffer.length);
        const n = differences(seen, w.buffer.area.subarray(GUARD, GUARD + w.buffer.length));
        await device.unmapSingle(m.dmaAddress, w.buffer.length, DmaDirection.TO_DEVICE);
        return n;
      };
      const promises = waiters.map((w) => settle(run(w)));
      for (const w of waiters) {
        if (!w.abort) continue;
        if (rng.chance(0.5)) await new Promise((r) => setTimeout(r, rng.int(0, 2)));
        w.ctl.abort(new Error('test abort'));
        counts.injected++;
      }
      await new Promise((r) => setTimeout(r, rng.int(0, 3)));
      for (const m of held) await holder.unmapSingle(m.dmaAddress, big.length, DmaDirection.TO_DEVICE);
      const outcomes = await Promise.all(promises);
      for (const [i, outcome] of outcomes.entries()) {
        counts.operations++;
        if ('hang' in outcome) { counts.hangs++; continue; }
        if (outcome.ok) { counts.succeeded++; counts.bytesWrong += outcome.value; continue; }
        record(counts, outcome.error, waiters[i]!.abort ? ['ERR_ABORTED'] : []);
      }
      for (const w of [big, ...waiters.map((x) => x.buffer)]) { counts.bytesWrong += differences(w.area, w.expected); ram.free(w.span); }
      if (!poolClean(system)) counts.leaks++;
    }
  } finally {
    await system.close();
  }
}

/**
 * `trials` times: forced-bounce SG lists (up to 64 segments of up to 256 KiB) mapped and unmapped with the
 * engine's worker killed during the bounce copies. A map either succeeds or rejects with ERR_WORKER_DIED
 * leaving nothing mapped (then it is retried); an unmap always completes its copy-back (the copy is retried
 * on a new worker), so the device's writes are never lost; the pool ends empty.
 */
export async function killDuringBounce(counts: FaultCounts, trials: number, seed: number): Promise<void> {
  const rng = new FuzzRng(seed);
  const system = DmaSystem.create({ swiotlb: { size: '32MiB' }, ram: [{ name: 'ram', phys: 0x1000_0000, size: '48MiB' }], engine: { workers: 1, inlineBelow: 0 } });
  try {
    const ram = system.ram[0]!;
    const channel = system.engine.channels[0]!;
    const scratch = system.fabric.scratch.stats().allocations;
    for (let t = 0; t < trials; t++) {
      counts.trials++;
      const device = system.device('0000:04:00.0', { forceBounce: true });
      const buffers = Array.from({ length: rng.int(8, 64) }, () => guarded(ram, rng, rng.int(4096, 256 * 1024)));
      const list = buffers.map((b) => ({ phys: b.phys, length: b.length }));
      const killIn = rng.pick(['map', 'unmap'] as const);
      // Right after the call (the op is queued, maybe not started) or once the worker is copying.
      const kill = async () => {
        if (rng.chance(0.5)) await waitUntil(() => channel.ring.inFlight > 0, 500);
        if (await channel.killWorker()) counts.injected++;
      };
      let sg: MappedSg | undefined;
      for (let attempt = 0; attempt < 3 && !sg; attempt++) {
        const errorsBefore = system.engine.stats().errors;
        const mapping = device.mapSg(list, DmaDirection.FROM_DEVICE);
        if (killIn === 'map' && attempt === 0) void kill();
        const outcome = await settle(mapping);
        counts.operations++;
        if ('hang' in outcome) { counts.hangs++; break; }
        if (outcome.ok) {
          if (attempt > 0 || system.engine.stats().errors > errorsBefore) counts.recovered++;
          else counts.succeeded++;
          sg = await mapping;
          continue;
        }
        record(counts, outcome.error, ['ERR_WORKER_DIED']);
        if (system.swiotlb.stats().usedSlots !== 0) counts.leaks++;
      }
      if (sg) {
        for (const [i, seg] of sg.segments.entries()) {
          const b = buffers[i]!;
          const data = new Uint8Array(b.length);
          fillRandom(rng, data);
          device.dma.write(seg.dmaAddress, data);
          b.expected.set(data, GUARD);
        }
        const errorsBefore = system.engine.stats().errors;
        const unmapping = device.unmapSg(sg, DmaDirection.FROM_DEVICE);
        if (killIn === 'unmap') void kill();
        const outcome = await settle(unmapping);
        counts.operations++;
        if ('hang' in outcome) counts.hangs++;
        else if (outcome.ok) {
          // The copy-back lost its worker and was retried: the unmap still completed.
          if (system.engine.stats().errors > errorsBefore) counts.recovered++;
          else counts.succeeded++;
        } else record(counts, outcome.error, []);
      }
      await waitUntil(() => channel.ring.outstanding === 0, 1000);
      for (const b of buffers) { counts.bytesWrong += differences(b.area, b.expected); ram.free(b.span); }
      if (!poolClean(system) || device.bounceMappings() !== 0 || system.fabric.scratch.stats().allocations !== scratch) counts.leaks++;
    }
    counts.engineErrors += system.engine.stats().errors;
  } finally {
    await system.close();
  }
}
