// The copy engine's worker in a piscina pool of your own, both ways:
//   batch mode: pool.run({ table, count }) runs one scatter-gather copy and returns;
//   ring mode:  DmaChannel.open(fabric, { pool }) keeps one of the pool's threads serving a ring.
// A ring holds its thread for as long as it is open: a pool serving N rings needs N threads, and
// N + 1 (or more) to run batch tasks beside them. dma-bounce refuses what could never run.
// Run: node examples/own-pool.mjs
import { Piscina } from 'piscina';
import { DmaChannel, Fabric, OP_FLAG_SUBMIT, SgTable, runBatch } from 'dma-bounce';

const fabric = new Fabric({ size: '64MiB' });
const ram = fabric.addRegion({ name: 'ram', kind: 'ram', phys: 0x1_0000_0000, size: '16MiB' });
const src = ram.allocate('1MiB');
const dst = ram.allocate('1MiB');
ram.view(src).fill(0xab);

const pool = new Piscina({
  filename: import.meta.resolve('dma-bounce/worker'),
  workerData: { fabric: fabric.handle() },
  maxThreads: 2,
  concurrentTasksPerWorker: 1, // a thread serving a ring runs nothing else
});

// Batch mode: a table of (dst, src, len) segments in the fabric's scratch area.
const table = new SgTable(fabric, 16);
for (let i = 0; i < 16; i++) table.push(dst.offset + i * 65536, src.offset + i * 65536, 4096);
const result = await pool.run({ table: table.offset, count: table.count });
console.log('batch result:', result); // { ok: true, bytes: 65536 }
console.log('runBatch:', await runBatch(pool, { table: table.offset, count: table.count }), 'bytes');

// Ring mode: DPDK-style enqueue / submit / completed on a ring one pool thread serves.
const channel = DmaChannel.open(fabric, { pool });
const index = channel.ring.enqueueCopy(dst.offset, src.offset, 1 << 20, OP_FLAG_SUBMIT);
while (channel.ring.inFlight > 0) await channel.ring.waitForCompletion();
console.log('ring op', index, channel.ring.completedStatus().completions[0].statusName);
console.log('bytes equal:', Buffer.compare(ram.view(src), ram.view(dst)) === 0);

// One ring on two threads leaves one for batches; a second ring takes it, and a batch could then never run.
console.log('one ring open, a batch:', await runBatch(pool, { table: table.offset, count: table.count }), 'bytes');
const second = DmaChannel.open(fabric, { pool });
console.log('two rings open, a batch:', await runBatch(pool, { table: table.offset, count: table.count }).catch((err) => err.code)); // ERR_POOL_TOO_SMALL
await second.close();
table.release();

await channel.close();
await pool.destroy();
