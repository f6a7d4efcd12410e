// The IOMMU flags of the commands: map-benchmark --iommu strict|lazy and --untrusted, policies --iommu MODE.
// Smoke runs of a second or a few I/Os: the JSON says which mapper ran and every I/O's data checks out.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'dist/src/cli/main.js');
const run = async (args: string[]) => JSON.parse((await execFileAsync(process.execPath, [cli, ...args], { cwd: root, maxBuffer: 1 << 24 })).stdout);

describe('IOMMU flags', () => {
  it('map-benchmark --iommu strict --untrusted maps through iommu-dma', async () => {
    const report = await run(['map-benchmark', '--seconds', '1', '--iommu', 'strict', '--untrusted', '--json']);
    expect(report.options).toMatchObject({ iommu: 'strict', untrusted: true });
    expect(report.loops).toBeGreaterThan(0);
    expect(report.bounced).toBe(false); // a page-aligned page: mapped in place
  });

  it('map-benchmark --iommu lazy', async () => {
    const report = await run(['map-benchmark', '--seconds', '1', '--iommu', 'lazy', '--json']);
    expect(report.options.iommu).toBe('lazy');
    expect(report.loops).toBeGreaterThan(0);
  });

  it('policies --iommu strict runs every route with intact data', async () => {
    const report = await run(['policies', '--iommu', 'strict', '--ios', '16', '--size', '16KiB', '--json']);
    expect(report.iommu).toBe('strict');
    for (const r of report.results) {
      expect(r.corrupted).toBe(0);
      expect(r.ok || r.error === 'ERR_DMA_P2P_NOT_SUPPORTED').toBe(true);
    }
    expect(report.results.find((r: { route: string; policy: string }) => r.route === 'NOT_SUPPORTED' && r.policy === 'bounce').ok).toBe(true);
  });
});
