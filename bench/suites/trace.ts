// trace/*: what the tracepoints cost and how fast captures parse and replay. The map cases
// repeat two of map/* with tracing on (a callback that keeps nothing): their ratio to the
// untraced case is the cost of tracing on; tracing off is the untraced case itself (the device
// keeps its ops unwrapped), compared with a build from before tracing in bench/RESULTS.md.
// The parse and replay cases run a generated capture of 10,000 events held in memory.
import { Readable } from 'node:stream';
import { DmaDirection, DmaSystem, type DmaDevice, type SgEntry } from '../../src/index.js';
import { replayCapture } from '../../src/replay/index.js';
import { readCapture } from '../../src/trace/index.js';
import type { BenchCase } from '../runner.js';
import { generateCapture } from '../trace/capture.js';

const SEGMENTS = 32;
const SEGMENT = 4096;
const GPU = '0000:03:00.0';
const CAPTURE_EVENTS = 10_000;

function tracedMapCase(name: string, client: string, memory: 'ram' | 'bar', policy: 'reject' | 'bounce', measure: 'segmentsPerSecond' | 'bytesPerSecond', baseline: string): BenchCase {
  let rig: { system: DmaSystem; device: DmaDevice; entries: SgEntry[] } | undefined;
  let lines = 0;
  return {
    name,
    measure,
    unitsPerOp: measure === 'segmentsPerSecond' ? SEGMENTS : SEGMENTS * SEGMENT,
    baseline,
    setup: () => {
      const system = DmaSystem.create({ engine: { workers: 1 }, trace: () => { lines++; } });
      const region = memory === 'ram' ? system.ram[1]! : system.barMemory(GPU, 1);
      const spans = Array.from({ length: SEGMENTS }, () => region.allocate(SEGMENT, 4096));
      for (const span of spans) region.view(span).fill(0x3c);
      rig = { system, device: system.device(client, { p2pPolicy: policy }), entries: spans.map((s) => ({ phys: s.phys, length: SEGMENT })) };
    },
    runAsync: async () => {
      const sg = await rig!.device.mapSg(rig!.entries, DmaDirection.TO_DEVICE);
      await rig!.device.unmapSg(sg, DmaDirection.TO_DEVICE);
    },
    teardown: () => rig!.system.close(),
  };
}

export function traceCases(): BenchCase[] {
  let text = '';
  const capture = () => {
    if (text === '') {
      const parts: string[] = [];
      generateCapture(CAPTURE_EVENTS, (t) => parts.push(t));
      text = parts.join('');
    }
    return text;
  };
  return [
    tracedMapCase('map/direct/32x4KiB/trace', '0000:04:00.0', 'ram', 'reject', 'segmentsPerSecond', 'map/direct/32x4KiB'),
    tracedMapCase('map/bounce/32x4KiB/trace', '0000:81:00.0', 'bar', 'bounce', 'bytesPerSecond', 'map/bounce/32x4KiB'),
    {
      name: 'trace/parse/10k-events',
      measure: 'opsPerSecond',
      unitsPerOp: CAPTURE_EVENTS,
      setup: () => { capture(); },
      runAsync: async () => { await readCapture(Readable.from([text]), () => {}); },
    },
    {
      name: 'trace/replay/10k-events',
      measure: 'opsPerSecond',
      unitsPerOp: CAPTURE_EVENTS,
      setup: () => { capture(); },
      runAsync: async () => { await replayCapture(() => Readable.from([text]), [{ swiotlb: '4MiB' }]); },
    },
  ];
}
