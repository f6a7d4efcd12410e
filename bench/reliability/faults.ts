// npm run faults -- [--trials N] [--seed S] [--json]
// Injects faults (a worker killed mid-batch, a worker that throws, a full swiotlb pool, an abort while
// waiting for space or for a worker, a worker killed during bounce copies) and prints, per scenario, the
// faults injected, the operations that succeeded, were recovered by a retry or ended in a coded error, and
// the findings: uncoded errors, hangs, lost completions, wrong bytes and leaks. Exit 1 on any finding.
import { parseArgs } from 'node:util';
import { abortMidFlight, abortMidWait, emptyCounts, engineRig, killDuringBounce, killMidBatch, poolFull, throwingWorker, type FaultCounts } from './faults-lib.js';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '10' }, seed: { type: 'string' }, json: { type: 'boolean', default: false } } });
const trials = Number(values.trials);
if (!Number.isSafeInteger(trials) || trials < 1) {
  process.stderr.write('faults: --trials must be a positive integer\n');
  process.exit(2);
}
const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const WORKER = new URL('./throwing-worker.js', import.meta.url);

const results: Record<string, FaultCounts> = {};
const started = performance.now();
const rig = engineRig();
const scenarios: [string, (c: FaultCounts) => Promise<void>][] = [
  ['worker killed mid-batch', (c) => killMidBatch(rig, c, trials, seed)],
  ['worker throws', (c) => throwingWorker(rig, c, trials, seed + 1, WORKER)],
  ['abort mid-flight (engine)', (c) => abortMidFlight(rig, c, trials, seed + 2)],
  ['swiotlb pool full', (c) => poolFull(c, trials, seed + 3)],
  ['abort mid-wait (swiotlb)', (c) => abortMidWait(c, trials, seed + 4)],
  ['worker killed during bounce', (c) => killDuringBounce(c, trials, seed + 5)],
];
for (const [name, run] of scenarios) {
  const counts = emptyCounts();
  await run(counts);
  results[name] = counts;
  if (!values.json) process.stderr.write(`.. ${name}: done\n`);
}
const seconds = (performance.now() - started) / 1000;
const findings = (c: FaultCounts) => c.uncoded + c.hangs + c.lost + c.bytesWrong + c.leaks;
const total = Object.values(results).reduce((n, c) => n + findings(c), 0);

if (values.json) {
  process.stdout.write(JSON.stringify({ seed, trials, seconds: Math.round(seconds * 10) / 10, scenarios: results, findings: total }, null, 2) + '\n');
} else {
  const cols = ['scenario', 'trials', 'injected', 'ops', 'ok', 'recovered', 'coded', 'uncoded', 'hangs', 'lost', 'bytesWrong', 'leaks', 'engineErrors'];
  const rows = Object.entries(results).map(([name, c]) => [name, c.trials, c.injected, c.operations, c.succeeded, c.recovered, c.coded, c.uncoded, c.hangs, c.lost, c.bytesWrong, c.leaks, c.engineErrors].map(String));
  const width = cols.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(width[i]!) : v.padStart(width[i]!))).join('  ');
  process.stdout.write(`fault injection, seed ${seed} (replay: --seed ${seed}), ${trials} trials per scenario, ${seconds.toFixed(1)} s\n\n`);
  process.stdout.write(`${line(cols)}\n${rows.map(line).join('\n')}\n\n`);
  for (const [name, c] of Object.entries(results)) process.stdout.write(`${name}: codes ${JSON.stringify(c.codes)}\n`);
  process.stdout.write(`\nfindings (uncoded + hangs + lost + bytesWrong + leaks): ${total}\n`);
}
process.exitCode = total === 0 ? 0 : 1;
