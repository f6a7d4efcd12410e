// The command line: dma-bounce replay (text, JSON with the pool occupancy, a sweep, --compare,
// --trace), and --trace FILE on policies and map-benchmark writing captures that replay.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem } from '../dist/src/index.js';
import { FTRACE_LINE, matchPrintf, TP_PRINTK } from './support/kernel-trace-formats.js';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'dma-bounce-trace-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FIXTURE = join(root, 'test/fixtures/traces/handwritten-ftrace.trace');

function cli(...argv: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'dist/src/cli/main.js'), ...argv], { cwd: root, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Every event line of a file against its TP_printk (mainline).
function checkFile(file: string): string[] {
  const names: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const outer = matchPrintf(FTRACE_LINE, line);
    expect(typeof outer, `${outer} in ${line}`).not.toBe('string');
    const [, , , , , , name, payload] = outer as string[];
    const inner = matchPrintf(TP_PRINTK.latest[name!]!, payload!);
    expect(typeof inner, `${inner} in ${line}`).not.toBe('string');
    names.push(name!);
  }
  return names;
}

async function sweepCapture(): Promise<string> {
  const lines: string[] = [];
  const system = DmaSystem.create({ trace: (l: string) => lines.push(l) });
  try {
    const device = system.device('0000:81:00.0', { dmaBits: 32 });
    const span = system.ram[1]!.allocate(300 * 4096, 4096);
    const mapped = [];
    for (let i = 0; i < 300; i++) mapped.push(await device.mapSingle(span.phys + i * 4096, 4096, DmaDirection.TO_DEVICE));
    for (const m of mapped) await device.unmapSingle(m.dmaAddress, 4096, DmaDirection.TO_DEVICE);
  } finally {
    await system.close();
  }
  const file = join(dir, 'sweep.trace');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('dma-bounce replay', () => {
  it('prints the capture, the warnings and a table per device with a total', () => {
    const r = cli('replay', FIXTURE);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('warning: device 0000:c1:00.0 is not an endpoint of the topology');
    expect(r.stdout).toContain('11 dma/swiotlb events');
    expect(r.stdout).toMatch(/^0000:81:00\.0 .* 1 EIO/m);
    expect(r.stdout).toMatch(/^total /m);
    expect(r.stdout).toContain('line 24: unmap of 0xdeadbeef000 by 0000:04:00.0: no such mapping in the capture');
  });

  it('--json: one document with capture, warnings, runs and the pool occupancy', () => {
    const r = cli('replay', FIXTURE, '--json', '--swiotlb', '256KiB');
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['title', 'poolOccupancy', 'capture', 'warnings', 'runs']);
    expect(doc.title).toBe('handwritten-ftrace.trace: swiotlb 256KiB, p2p reject');
    expect(doc.poolOccupancy).toEqual(doc.runs[0].poolOccupancy);
    const run = doc.runs[0];
    expect(run.config).toEqual({ swiotlbBytes: 262144, forceBounce: 'capture', p2pPolicy: 'reject' });
    expect(run.poolOccupancy.length).toBeGreaterThan(0);
    for (const p of run.poolOccupancy) expect(Object.keys(p)).toEqual(['t', 'usedSlots', 'totalSlots']);
    expect(run.devices.map((d: { device: string }) => d.device)).toEqual(['0000:81:00.0', '0000:04:00.0', '0000:c1:00.0']);
  });

  it('the JSON is what dma-bounce report --replay takes', async () => {
    const file = join(dir, 'replay.json');
    const r = cli('replay', await sweepCapture(), '--swiotlb', '1MiB', '--json');
    writeFileSync(file, r.stdout);
    const { parseReportInput } = await import('../dist/src/report/index.js');
    const doc = await parseReportInput('replay', r.stdout, file);
    expect(Math.max(...doc.poolOccupancy.map((p: { usedSlots: number }) => p.usedSlots))).toBe(512);
    const out = join(dir, 'report');
    const page = cli('report', '--topology', join(root, 'examples/switch-gpu-nvme.json'), '--replay', file, '--out', out);
    expect(page.stderr).toBe('');
    expect(page.status).toBe(0);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('Replay: swiotlb pool occupancy');
  });

  it('a sweep prints the smallest size with no full event', async () => {
    const file = await sweepCapture();
    const r = cli('replay', file, '--swiotlb', '2MiB,1MiB,1280KiB');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\s+1MiB\s+44\s+44\s/m);
    expect(r.stdout).toContain('smallest swiotlb with no full event: 1280KiB');
    const j = JSON.parse(cli('replay', file, '--swiotlb', '1MiB,1280KiB', '--json').stdout);
    expect(j.sweep).toEqual({ sizes: [1048576, 1310720], smallestWithoutFull: 1310720 });
    expect(cli('replay', file, '--swiotlb', '256KiB,512KiB').stdout).toContain('every size had full events');
  });

  it('--compare puts a second configuration beside the first', async () => {
    const file = await sweepCapture();
    const r = cli('replay', file, '--swiotlb', '1MiB', '--compare', '--swiotlb 2MiB');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^full events\s+44\s+0$/m);
    const j = JSON.parse(cli('replay', file, '--compare', '--no-force-bounce --p2p-policy bounce', '--json').stdout);
    expect(j.runs.map((x: { config: unknown }) => x.config)).toEqual([
      { swiotlbBytes: 64 * 2 ** 20, forceBounce: 'capture', p2pPolicy: 'reject' },
      { swiotlbBytes: 64 * 2 ** 20, forceBounce: false, p2pPolicy: 'bounce' },
    ]);
  });

  it('--trace writes the replayed model\'s trace in the kernel format, which replays again to the same figures', async () => {
    const file = await sweepCapture();
    const out = join(dir, 'replayed.trace');
    const first = JSON.parse(cli('replay', file, '--swiotlb', '1MiB', '--trace', out, '--json').stdout);
    const names = checkFile(out);
    expect(names.filter((n) => n === 'dma_map_phys')).toHaveLength(300);
    const again = JSON.parse(cli('replay', out, '--swiotlb', '1MiB', '--json').stdout);
    expect(again.runs[0].pool).toEqual(first.runs[0].pool);
    expect(again.runs[0].total.failuresByErrno).toEqual({ EIO: 44 });
    const old = join(dir, 'old.trace');
    expect(cli('replay', file, '--trace', old, '--trace-format', '6.12').status).toBe(0);
    expect(readFileSync(old, 'utf8')).toContain(': dma_map_page: 0000:81:00.0 ');
  });

  it('a malformed line exits 1 with its line number; --lenient skips it', () => {
    const bad = join(dir, 'bad.trace');
    writeFileSync(bad, `${readFileSync(FIXTURE, 'utf8')}  x-1 [000] .....   9.000000: dma_unmap_phys: 0000:04:00.0 dir=UP dma_addr=1 size=1 attrs=\n`);
    const r = cli('replay', bad);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^dma-bounce: ERR_TRACE_PARSE: line 27: dma_unmap_phys: /);
    const lenient = cli('replay', bad, '--lenient');
    expect(lenient.status).toBe(0);
    expect(lenient.stderr).toContain('1 malformed dma/swiotlb lines were skipped (first at line 27)');
  });

  it('--iommu replays the capture behind iommu-dma: the same calls and bytes, the configuration named; a bad mode is usage', () => {
    const direct = JSON.parse(cli('replay', FIXTURE, '--json').stdout);
    const r = cli('replay', FIXTURE, '--iommu', 'strict', '--json');
    expect(r.status, r.stderr).toBe(0);
    const viaIommu = JSON.parse(r.stdout);
    expect(viaIommu.runs[0].config.iommu).toBe('strict');
    expect(viaIommu.runs[0].total.calls).toBe(direct.runs[0].total.calls);
    expect(viaIommu.runs[0].total.bytes).toBe(direct.runs[0].total.bytes);
    expect(cli('replay', FIXTURE, '--iommu', 'sometimes').status).toBe(2);
  });
});

describe('--trace FILE on policies and map-benchmark', () => {
  it('policies writes one header and every run\'s events; the file replays', () => {
    const file = join(dir, 'policies.trace');
    const r = cli('policies', '--ios', '8', '--qd', '2', '--size', '8KiB', '--trace', file);
    expect(r.status).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text.match(/# tracer: nop/g)).toHaveLength(1);
    const names = checkFile(file);
    expect(names).toContain('dma_map_phys');
    expect(names).toContain('swiotlb_bounced');
    // Mainline's reject policy fails with -EREMOTEIO: the capture shows the failed map.
    expect(text).toContain('dma_addr=ffffffffffffffff');
    const replay = JSON.parse(cli('replay', file, '--p2p-policy', 'bounce', '--json').stdout);
    expect(replay.runs[0].total.failures).toBe(0);
    expect(replay.runs[0].total.mappedWhereCaptureFailed).toBeGreaterThan(0);
  });

  it('map-benchmark threads append whole lines to one file', () => {
    const file = join(dir, 'bench.trace');
    const r = cli('map-benchmark', '--seconds', '1', '--threads', '2', '--buffer', 'high', '--trace', file, '--json');
    expect(r.status).toBe(0);
    const names = checkFile(file);
    expect(names.length).toBeGreaterThan(10);
    expect(new Set(names)).toEqual(new Set(['swiotlb_bounced', 'dma_map_phys', 'dma_unmap_phys']));
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('dma-map-benchma-'));
    expect(new Set(lines.map((l) => l.slice(l.indexOf('[') + 1, l.indexOf(']'))))).toEqual(new Set(['000', '001']));
  }, 20000);
});
