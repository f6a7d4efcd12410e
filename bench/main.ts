// Standalone entry: node dist/bench/main.js [--quick] [--filter PREFIX]
// (dma-bounce bench is the full command; this runs the same suites without the CLI.)
import { parseArgs } from 'node:util';
import { engineCases } from './suites/engine.js';
import { kernelCases } from './suites/kernels.js';
import { runCases } from './runner.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, filter: { type: 'string', default: '' } } });
const all = [...kernelCases({ skipHuge: values.quick }), ...engineCases({ skipHuge: values.quick })];
const cases = all.filter((c) => c.name.startsWith(values.filter));
const results = await runCases(cases, {
  maxTime: values.quick ? 0.3 : 1.5,
  minSamples: 5,
  onProgress: (done, total, name) => { if (name) process.stderr.write(`[${done + 1}/${total}] ${name}\n`); },
});
for (const r of results) {
  const rate = r.measure === 'latencySeconds' ? `${(r.value * 1e6).toFixed(2)} µs` : `${(r.value / 2 ** 30).toFixed(2)} GiB/s`;
  const vs = r.baseline ? `  ${r.baseline.ratio.toFixed(2)}x vs ${r.baseline.name}` : '';
  console.log(`${r.name.padEnd(40)} ${rate.padStart(12)} ±${r.rme.toFixed(1)}% (${r.samples})${vs}`);
}
