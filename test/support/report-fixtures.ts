// Random inputs for `dma-bounce report`: bench, policies and replay documents of the shapes the real
// commands print, with fresh random figures each run (seeded: the test prints the seed).
import type { Rng } from './random.js';

const SIZES = ['64B', '4KiB', '64KiB', '1MiB'];
const METHODS = ['memory.copy', 'Buffer.copy', 'TypedArray.set'];

export function randomBenchReport(rng: Rng): any {
  const cases: any[] = [];
  for (const method of METHODS) for (const size of SIZES) cases.push({ name: `kernel/copy/${method}/${size}`, bytesPerSecond: rng.int(1, 40) * 2 ** 28 + rng.int(0, 1000), rme: rng.int(0, 500) / 100, samples: rng.int(5, 60), rounds: 5 });
  cases.push({ name: 'engine/roundtrip/4KiB', latencySeconds: rng.int(1, 90) / 1e6, rme: 1.5, samples: 40, rounds: 5, baseline: { name: 'engine/roundtrip/piscina.run', ratio: rng.int(10, 300) / 10, ratios: [2, 3] } });
  cases.push({ name: 'map/bounce/64KiB', bytesPerSecond: rng.int(1, 9) * 2 ** 30, rme: 2, samples: 20, rounds: 5 });
  cases.push({ name: 'swiotlb/map-unmap/2KiB', opsPerSecond: rng.int(1, 9) * 1e6, rme: 2, samples: 20, rounds: 5 });
  return {
    environment: { node: 'v20.0.0', v8: '11', platform: 'linux', arch: 'x64', cpus: 2, cpuModel: `Test CPU ${rng.int(1, 999)}`, memoryBytes: 2 ** 34, date: new Date(1.7e12 + rng.int(0, 1e9)).toISOString(), quick: rng.next() < 0.5, complete: true },
    cases,
  };
}

export function randomPolicyReport(rng: Rng): any {
  const routes = [
    ['BUS_ADDR', '0000:04:00.0'],
    ['THRU_HOST_BRIDGE', '0000:05:00.0'],
    ['NOT_SUPPORTED', '0000:81:00.0'],
  ] as const;
  const results: any[] = [];
  for (const [route, client] of routes) {
    for (const policy of ['reject', 'bounce', 'staged']) {
      const ok = !(route === 'NOT_SUPPORTED' && policy === 'reject');
      const p50 = rng.int(10, 4000) / 10;
      results.push({
        provider: '0000:03:00.0', client, route, policy, ok,
        ...(ok ? {} : { error: 'ERR_DMA_P2P_NOT_SUPPORTED' }),
        ios: ok ? rng.int(10, 2000) : 0,
        bytesCopied: ok && policy !== 'reject' ? rng.int(1, 500) * 2 ** 20 : 0,
        bounceHighWaterBytes: rng.int(0, 512) * 2048,
        bytesPerSecond: ok ? rng.int(100, 20000) * 2 ** 20 : 0,
        latencyUs: { p50, p90: p50 + rng.int(0, 100), p99: p50 + rng.int(100, 900) },
        corrupted: 0,
      });
    }
  }
  return { workload: { ioSize: 131072, queueDepth: rng.int(1, 32), ios: 2000 }, results };
}

export function randomReplay(rng: Rng, samples = rng.int(2, 3000)): { title: string; poolOccupancy: { t: number; usedSlots: number; totalSlots: number }[] } {
  const totalSlots = 2 ** rng.int(9, 15);
  let used = 0;
  let t = 0;
  const poolOccupancy = [];
  for (let i = 0; i < samples; i++) {
    t += rng.int(0, 2000) / 1e6;
    used = Math.max(0, Math.min(totalSlots, used + rng.int(-64, 64)));
    poolOccupancy.push({ t: Math.round(t * 1e6) / 1e6, usedSlots: used, totalSlots });
  }
  return { title: `replay ${rng.int(1, 1e6)}`, poolOccupancy };
}
