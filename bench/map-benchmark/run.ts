// dma_map_benchmark on the model: N worker threads each map and unmap their own buffer for
// `seconds`; the report is the kernel tool's (average and standard deviation of map and unmap
// latency, kept in 100 ns units and shown in µs).
// Unlike the kernel, each thread has its own system and swiotlb pool, so threads never contend
// for a pool area's lock: the figures are per-CPU costs without lock contention.
import { Worker } from 'node:worker_threads';
import { emptySums, mapBenchmarkOptions, type LatencySums, type MapBenchmarkOptions } from './options.js';

export interface LatencyFigures {
  /** As the kernel tool prints them: microseconds, one decimal. */
  readonly averageUs: number;
  readonly stddevUs: number;
  /** As map_benchmark keeps them: 100 ns units. */
  readonly average100ns: number;
  readonly stddev100ns: number;
}

export interface MapBenchmarkReport {
  readonly options: MapBenchmarkOptions;
  readonly loops: number;
  /** Whether the mappings went through swiotlb. */
  readonly bounced: boolean;
  readonly map: LatencyFigures;
  readonly unmap: LatencyFigures;
  /** False when stopped early (the figures cover what ran). */
  readonly complete: boolean;
}

export interface RunControl {
  /** Called about once a second with the seconds elapsed. */
  readonly onProgress?: (elapsed: number, total: number) => void;
  /** Resolving it stops the run early. */
  readonly stopSignal?: AbortSignal;
  /** Each thread appends its dma:/swiotlb: trace lines to this file (the caller writes the header). */
  readonly traceFile?: string;
}

const THREAD_URL = new URL('./thread.js', import.meta.url);

export async function runMapBenchmark(input: Partial<MapBenchmarkOptions>, control: RunControl = {}): Promise<MapBenchmarkReport> {
  const options = mapBenchmarkOptions(input);
  const stop = new SharedArrayBuffer(4);
  const flag = new Int32Array(stop);
  const trace = control.traceFile === undefined ? undefined : { file: control.traceFile, clockBase: performance.timeOrigin };
  const workers = Array.from({ length: options.threads }, (_, index) => new Worker(THREAD_URL, { workerData: { options, control: stop, index, trace } }));
  const results = workers.map(
    (worker) =>
      new Promise<{ sums: LatencySums; bounced: boolean }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`benchmark thread exited with code ${code}`)));
      }),
  );
  let complete = true;
  const started = Date.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = (Date.now() - started) / 1000;
      control.onProgress?.(Math.min(elapsed, options.seconds), options.seconds);
      if (elapsed >= options.seconds) finish();
    }, 250);
    const onAbort = () => { complete = false; finish(); };
    control.stopSignal?.addEventListener('abort', onAbort, { once: true });
    function finish() {
      clearInterval(tick);
      control.stopSignal?.removeEventListener('abort', onAbort);
      resolve();
    }
  });
  Atomics.store(flag, 0, 1);
  const done = await Promise.all(results);
  const total = emptySums();
  for (const { sums } of done) {
    total.loops += sums.loops;
    total.mapSum += sums.mapSum;
    total.mapSumSq += sums.mapSumSq;
    total.unmapSum += sums.unmapSum;
    total.unmapSumSq += sums.unmapSumSq;
  }
  return {
    options,
    loops: total.loops,
    bounced: done.some((d) => d.bounced),
    map: figures(total.mapSum, total.mapSumSq, total.loops),
    unmap: figures(total.unmapSum, total.unmapSumSq, total.loops),
    complete,
  };
}

// As the kernel computes them: avg = sum / loops, stddev = sqrt(sum_sq / loops - avg^2), in 100 ns.
function figures(sum: number, sumSq: number, loops: number): LatencyFigures {
  if (loops === 0) return { averageUs: 0, stddevUs: 0, average100ns: 0, stddev100ns: 0 };
  const average100ns = sum / loops;
  const stddev100ns = Math.sqrt(Math.max(0, sumSq / loops - average100ns * average100ns));
  return { averageUs: round1(average100ns / 10), stddevUs: round1(stddev100ns / 10), average100ns: Math.round(average100ns), stddev100ns: Math.round(stddev100ns) };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
