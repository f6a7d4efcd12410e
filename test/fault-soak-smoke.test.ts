// The soak script (bench/reliability/soak.ts) for 3 seconds with a worker killed every second: it must
// finish, verify bytes, report no error, leave the pool empty and stay within its memory bound.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { testRng } from './support/random.js';

const rng = testRng('fault-soak-smoke');
const root = fileURLToPath(new URL('..', import.meta.url));

describe('soak smoke run', () => {
  it('3 s of mixed engine and mapper load with worker kills: no error, memory within bound', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', join(root, 'dist/bench/reliability/soak.js'), '--seconds', '3', '--kill-every', '1', '--seed', String(rng.seed), '--json'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout);
    console.log(`[fault-soak-smoke] ${JSON.stringify({ seed: report.seed, engineOps: report.engineOps, mapperOps: report.mapperOps, errors: report.errors, kills: report.workerKills, heap: report.heapGrowthMiB, rss: report.rssGrowthMiB })}`);
    expect(report.errorSamples).toEqual([]);
    expect(r.status).toBe(0);
    expect(report.engineOps).toBeGreaterThan(20);
    expect(report.mapperOps).toBeGreaterThan(20);
    expect(report.bytesVerifiedMiB).toBeGreaterThan(0);
    expect(report.withinBound).toBe(true);
  });
});
