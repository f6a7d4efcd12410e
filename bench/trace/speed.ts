// npm run bench:trace: parse and replay speed on a generated capture of a million events
// (target: 500,000 events per second parsed and replayed), parse alone (on this thread, and on two
// worker threads), and parse + replay.
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { replayCapture } from '../../src/replay/index.js';
import { readCaptureInWorker } from '../../src/trace/capture-in-worker.js';
import { readCapture } from '../../src/trace/index.js';
import { median } from '../median.js';

const EVENTS = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = Number(process.argv[3] ?? 3);

const dir = mkdtempSync(join(tmpdir(), 'dma-bounce-trace-speed-'));
const file = join(dir, 'capture.trace');
try {
  const events = await new Promise<number>((resolve, reject) => {
    const worker = new Worker(new URL('./generate-worker.js', import.meta.url), { workerData: { file, events: EVENTS } });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the capture generator exited (code ${code})`)));
  });
  const bytes = statSync(file).size;
  console.log(`capture: ${events} dma/swiotlb events, ${(bytes / 2 ** 20).toFixed(0)} MiB (generated on a worker thread)`);
  const open = () => createReadStream(file, { highWaterMark: 1 << 20 });
  // Wall time, and this process's CPU time (steadier on a shared machine: others' load does not count).
  const parse: number[] = [];
  const replay: number[] = [];
  const parseCpu: number[] = [];
  const parseTwo: number[] = [];
  const parseTwoCpu: number[] = [];
  const replayCpu: number[] = [];
  const cpuSeconds = (from: NodeJS.CpuUsage) => { const u = process.cpuUsage(from); return (u.user + u.system) / 1e6; };
  for (let round = 0; round < ROUNDS; round++) {
    let t = process.hrtime.bigint();
    let c = process.cpuUsage();
    const summary = await readCapture(open(), () => {});
    parse.push(summary.events / (Number(process.hrtime.bigint() - t) / 1e9));
    parseCpu.push(summary.events / cpuSeconds(c));
    // The same parse on two worker threads, the events handed to a no-op here (CPU: all threads).
    t = process.hrtime.bigint();
    c = process.cpuUsage();
    const two = await readCaptureInWorker(open(), () => {}, { workers: 2 });
    parseTwo.push(two.events / (Number(process.hrtime.bigint() - t) / 1e9));
    parseTwoCpu.push(two.events / cpuSeconds(c));
    t = process.hrtime.bigint();
    c = process.cpuUsage();
    // replayCapture reads the capture twice (a scan, then the run): events per second counts the run's events once.
    const result = await replayCapture(open, [{ swiotlb: '64MiB' }]);
    replay.push(result.capture.summary.events / (Number(process.hrtime.bigint() - t) / 1e9));
    replayCpu.push(result.capture.summary.events / cpuSeconds(c));
    if (round === 0) console.log(`replay: ${result.runs[0]!.total.calls} calls, ${result.runs[0]!.pool.highWaterSlots} slots high water, ${result.runs[0]!.total.failures} failures`);
  }
  const fmt = (xs: number[]) => `${Math.round(median(xs)).toLocaleString('en')} events/s (rounds: ${xs.map((x) => Math.round(x / 1000) + 'k').join(', ')})`;
  console.log(`parse alone:    ${fmt(parse)} wall; ${fmt(parseCpu)} per CPU second`);
  console.log(`parse, 2 workers: ${fmt(parseTwo)} wall; ${fmt(parseTwoCpu)} per CPU second`);
  console.log(`parse + replay: ${fmt(replay)} wall; ${fmt(replayCpu)} per CPU second`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
