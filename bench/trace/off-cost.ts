// node dist/bench/trace/off-cost.js BEFORE_DIST: what tracing off costs, against a build from
// before tracing. Both builds load into this process; rounds alternate between them (and tracing
// on), so the shared machine's slow and fast phases hit every side alike, and each ratio is taken
// within a round. One op: mapSg + unmapSg of 32 x 4 KiB, direct (NVMe, host RAM) and bounced
// (the far NVMe, GPU BAR memory, policy bounce), as map/* in the bench.
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from '../median.js';

type Api = typeof import('../../src/index.js');
const before = process.argv[2];
if (!before) {
  console.error('usage: node dist/bench/trace/off-cost.js BEFORE_DIST (e.g. ../main/dist)');
  process.exit(2);
}
const ROUNDS = Number(process.argv[3] ?? 7);
const OPS = Number(process.argv[4] ?? 4000);
const old = (await import(pathToFileURL(join(resolve(before), 'src/index.js')).href)) as Api;
const now = await import('../../src/index.js');

async function rate(api: Api, kind: 'direct' | 'bounce', trace: boolean): Promise<number> {
  const system = api.DmaSystem.create({ engine: { workers: 1 }, ...(trace ? { trace: () => {} } : {}) });
  try {
    const region = kind === 'direct' ? system.ram[1]! : system.barMemory('0000:03:00.0', 1);
    const spans = Array.from({ length: 32 }, () => region.allocate(4096, 4096));
    const device = system.device(kind === 'direct' ? '0000:04:00.0' : '0000:81:00.0', { p2pPolicy: kind === 'direct' ? 'reject' : 'bounce' });
    const entries = spans.map((s) => ({ phys: s.phys, length: 4096 }));
    for (let i = 0; i < OPS / 10; i++) await device.unmapSg(await device.mapSg(entries, 1), 1);
    const t = process.hrtime.bigint();
    for (let i = 0; i < OPS; i++) await device.unmapSg(await device.mapSg(entries, 1), 1);
    return OPS / (Number(process.hrtime.bigint() - t) / 1e9);
  } finally {
    await system.close();
  }
}

for (const kind of ['direct', 'bounce'] as const) {
  const offVsBefore: number[] = [];
  const onVsOff: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // The order turns each round, so no side always runs first.
    const sides = [() => rate(old, kind, false), () => rate(now, kind, false), () => rate(now, kind, true)];
    const got: number[] = [0, 0, 0];
    for (let k = 0; k < 3; k++) {
      const side = (round + k) % 3;
      got[side] = await sides[side]!();
    }
    const [b, off, on] = got as [number, number, number];
    offVsBefore.push(off / b);
    onVsOff.push(on / off);
  }
  const show = (xs: number[]) => `${median(xs).toFixed(3)}x (rounds ${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
  console.log(`${kind} 32x4KiB map+unmap: tracing off vs before ${show(offVsBefore)}; tracing on vs off ${show(onVsOff)} (measured while other work ran)`);
}
