// Run as a child process by test/engine-close.test.ts: starts an engine, a channel on a pool of its
// own and a batch, leaves ops queued, in flight and in a backlog, closes everything, and prints what
// settled. Mode "never-closed" opens an engine, copies once, and closes nothing.
import { Piscina } from 'piscina';
import { CopyEngine, DmaChannel, Fabric, OP_FLAG_SUBMIT, SgTable, WORKER_URL, runBatch } from '../../../dist/src/index.js';

const mode = process.argv[2] ?? 'closed';
const fabric = new Fabric({ size: '64MiB', scratch: '1MiB' });
const ram = fabric.addRegion({ name: 'ram', kind: 'ram', phys: 0x1_0000_0000, size: '48MiB' });
const at = ram.offset;

if (mode === 'never-closed') {
  const engine = CopyEngine.create(fabric, { workers: 1, inlineBelow: 0 });
  console.log('copied', await engine.copy(at + 4096, at, 4096));
} else {
  const engine = CopyEngine.create(fabric, { workers: 2, slots: 4, inlineBelow: 0, splitAbove: '4MiB' });
  const pool = new Piscina({ filename: WORKER_URL.href, maxThreads: 2, concurrentTasksPerWorker: 1, workerData: { fabric: fabric.handle() } });
  const channel = DmaChannel.open(fabric, { pool, slots: 8 });
  const table = new SgTable(fabric, 1);
  table.push(at + 40 * 2 ** 20, at, 65536);
  const controller = new AbortController();
  const ops = [];
  for (let i = 0; i < 40; i++) ops.push(engine.copy(at + 16 * 2 ** 20 + i * 65536, at + i * 4096, 65536, { signal: i % 3 === 0 ? controller.signal : undefined }));
  ops.push(engine.copy(at + 24 * 2 ** 20, at, 8 * 2 ** 20)); // split
  ops.push(engine.fill(at + 34 * 2 ** 20, 0x5an, 1 << 20));
  ops.push(runBatch(pool, { table: table.offset, count: 1 }));
  channel.ring.enqueueCopy(at + 36 * 2 ** 20, at, 65536, OP_FLAG_SUBMIT);
  setTimeout(() => controller.abort(), 0);
  const closing = engine.close();
  ops.push(engine.copy(at, at + 4096, 16).then(() => 'accepted after close'));
  const outcomes = await Promise.allSettled(ops);
  await closing;
  await channel.close();
  await pool.destroy();
  table.release();
  const summary = {};
  for (const o of outcomes) {
    const key = o.status === 'fulfilled' ? 'ok' : o.reason?.code ?? 'uncoded';
    summary[key] = (summary[key] ?? 0) + 1;
  }
  console.log(JSON.stringify({ settled: outcomes.length, summary, scratch: fabric.scratch.stats().allocations }));
}
