// engine/*: the copy engine against piscina.run() and against copying inline, same run.
import { Piscina } from 'piscina';
import { CopyEngine, DmaChannel, SgTable, WORKER_URL, runBatch, type Ring } from '../../src/index.js';
import { copyBuffers } from './buffers.js';
import { NativeWay, type NativeCopier } from '../native/addon.js';
import type { BenchCase } from '../runner.js';

const KiB = 1024;
const MiB = 2 ** 20;
const STREAM_OPS = 1024;
const QUEUE_DEPTH = 64;

export interface EngineSuiteOptions {
  /** Leave out the 64 MiB parallel cases (for --quick). */
  readonly skipHuge?: boolean;
  /**
   * The native addon (bench --native): the same 64 MiB copy by one native thread and by two
   * (engine/parallel/64MiB/native-1t, native-2t), with the kernel's 16-byte loop, in the workers'
   * rounds, so that two workers over one can be read against two threads over one.
   */
  readonly native?: NativeCopier;
}

export function engineCases(options: EngineSuiteOptions = {}): BenchCase[] {
  const { fabric, src, dst } = copyBuffers('4MiB');
  const cases: BenchCase[] = [];

  // One 4 KiB copy, submit to completion observed by the caller.
  let engine: CopyEngine | undefined;
  let pool: Piscina | undefined;
  let table: SgTable | undefined;
  cases.push(
    {
      name: 'engine/roundtrip/4KiB',
      measure: 'latencySeconds',
      unitsPerOp: 1,
      baseline: 'engine/piscina-run/4KiB',
      setup: () => { engine = CopyEngine.create(fabric, { workers: 1, inlineBelow: 0 }); },
      runAsync: async () => { await engine!.copy(dst, src, 4 * KiB); },
      teardown: () => engine!.close(),
    },
    {
      name: 'engine/piscina-run/4KiB',
      measure: 'latencySeconds',
      unitsPerOp: 1,
      setup: async () => {
        pool = new Piscina({ filename: WORKER_URL.href, workerData: { fabric: fabric.handle() }, minThreads: 1, maxThreads: 1 });
        table = new SgTable(fabric, 1);
        table.push(dst, src, 4 * KiB);
        await runBatch(pool, { table: table.offset, count: 1 }); // warm the worker
      },
      runAsync: async () => { await runBatch(pool!, { table: table!.offset, count: 1 }); },
      teardown: async () => { table!.release(); await pool!.destroy(); },
    },
  );

  // A stream of 4 KiB copies, 64 in flight, one worker, DPDK style (poll for completions).
  let channel: DmaChannel | undefined;
  const streamBytes = STREAM_OPS * 4 * KiB;
  cases.push(
    {
      name: 'engine/stream/4KiB-qd64/engine',
      measure: 'bytesPerSecond',
      unitsPerOp: streamBytes,
      baseline: 'engine/stream/4KiB-qd64/inline',
      setup: () => { channel = DmaChannel.open(fabric, { slots: 256 }); },
      runAsync: () => stream(channel!.ring, dst, src),
      teardown: () => channel!.close(),
    },
    {
      name: 'engine/stream/4KiB-qd64/inline',
      measure: 'bytesPerSecond',
      unitsPerOp: streamBytes,
      run: () => {
        const k = fabric.kernels;
        for (let i = 0; i < STREAM_OPS; i++) k.copy(dst + i * 4 * KiB, src + i * 4 * KiB, 4 * KiB);
      },
    },
  );

  if (!options.skipHuge) {
    for (const workers of [1, 2]) {
      let parallel: CopyEngine | undefined;
      cases.push({
        name: `engine/parallel/64MiB/${workers}w`,
        measure: 'bytesPerSecond',
        unitsPerOp: 64 * MiB,
        ...(workers === 2 ? { baseline: 'engine/parallel/64MiB/1w' } : {}),
        ceiling: `engine/parallel/64MiB/native-${workers}t`,
        setup: () => { parallel = CopyEngine.create(fabric, { workers, splitAbove: '1MiB' }); },
        runAsync: async () => { await parallel!.copy(dst, src, 64 * MiB); },
        teardown: () => parallel!.close(),
      });
    }
    const native = options.native;
    if (native) {
      const bytes = fabric.bytes;
      for (const threads of [1, 2]) {
        cases.push({
          name: `engine/parallel/64MiB/native-${threads}t`,
          measure: 'bytesPerSecond',
          unitsPerOp: 64 * MiB,
          ...(threads === 2 ? { baseline: 'engine/parallel/64MiB/native-1t' } : {}),
          run: () => native.copyParallel(bytes, dst, src, 64 * MiB, threads, NativeWay.sse16),
        });
      }
    }
  }
  return cases;
}

// Keeps QUEUE_DEPTH copies in flight until STREAM_OPS are done, polling like a DPDK app;
// sleeps (waitForCompletion) only when a short backed-off poll found nothing.
async function stream(ring: Ring, dst: number, src: number): Promise<void> {
  let issued = 0;
  let done = 0;
  while (done < STREAM_OPS) {
    while (issued < STREAM_OPS && issued - done < QUEUE_DEPTH) {
      ring.enqueueCopy(dst + issued * 4 * KiB, src + issued * 4 * KiB, 4 * KiB);
      issued++;
    }
    ring.submit();
    const { count, hasError } = ring.completed();
    if (hasError) throw new Error('stream copy failed');
    done += count;
    // Nothing done yet: poll with back-off (as a DPDK app would with rte_pause()), then sleep.
    if (count === 0 && !ring.pollCompletion(20)) await ring.waitForCompletion();
  }
}
