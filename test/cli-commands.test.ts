// bench, map-benchmark and policies: argument parsing, exit codes, JSON shapes, and quick smoke runs;
// the conventions every command shares: --version, help CMD, - for stdin, Ctrl-C.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'dist/src/cli/main.js');

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [cli, ...args], { cwd: root, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// Runs the CLI with `input` on stdin.
function runWithStdin(args: string[], input: Buffer | string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

describe('usage errors', () => {
  it.each([
    [['bench', '--bogus'], /ERR_USAGE: bench: Unknown option '--bogus'/],
    [['bench', 'extra'], /ERR_USAGE: bench:/],
    [['map-benchmark', '--threads', 'two'], /ERR_USAGE: map-benchmark: --threads needs a whole number/],
    [['map-benchmark', '--dir', '3'], /ERR_USAGE: map-benchmark: --dir must be 0, 1 or 2/],
    [['map-benchmark', '--buffer', 'middle'], /ERR_USAGE: map-benchmark: --buffer must be low or high/],
    [['policies', '--qd', '0'], /ERR_USAGE: policies: --qd must be a whole number in 1..256/],
    [['policies', '--size', '1MiB'], /ERR_USAGE: policies: --size must be 1B..256KiB/],
    [['policies', '--rounds', '0'], /ERR_USAGE: policies: --rounds must be a whole number in 1..100, got "0"/],
    [['map-benchmark', '--threads', '0'], /ERR_USAGE: map-benchmark: --threads: threads must be an integer in 1..1024/],
    [['map-benchmark', '--threads', '2000'], /ERR_USAGE: map-benchmark: --threads: threads must be an integer in 1..1024/],
    [['map-benchmark', '--dma-bits', '19'], /ERR_USAGE: map-benchmark: --dma-bits: dmaBits must be an integer in 20..64/],
    [['map-benchmark', '--trans-ns', '10000001'], /ERR_USAGE: map-benchmark: --trans-ns: transNs/],
    [['map-benchmark', '--seconds', '1'.repeat(30)], /ERR_USAGE: map-benchmark: --seconds needs a whole number/],
    [['policies', '--size', '64MB'], /ERR_INVALID_SIZE: --size: "64MB" is not a size/],
    [['policies', '--topology', '/nonexistent.json'], /ERR_INPUT_FILE: cannot read \/nonexistent.json: no such file/],
    [['policies', '--topology', '/dev/zero'], /ERR_INPUT_FILE: cannot read \/dev\/zero: it is a device/],
    [['bench', '--only', 'nothing/'], /ERR_USAGE: bench: --only nothing\/ matches no case \(names start with kernel\/, engine\/, map\/, swiotlb\/, topology\/, trace\/\): nothing to run/],
    [['bench', '--out', '/dev/null/x'], /ERR_OUTPUT_PATH: --out \/dev\/null\/x: \/dev\/null is not a directory/],
    [['bench', '--out', cli], /ERR_OUTPUT_PATH: --out .*main\.js: exists and is not a directory/],
    [['help', 'frobnicate'], /ERR_USAGE: unknown command "frobnicate"/],
    [['help', 'bench', 'p2p'], /ERR_USAGE: help takes one command name, got 2/],
  ])('%j exits 2 with a coded message on stderr and nothing on stdout', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  it('a policies topology without a p2pmem BAR says there is nothing to measure and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dma-bounce-policies-'));
    const file = join(dir, 'no-p2pmem.json');
    const spec = JSON.parse(readFileSync(join(root, 'examples/amd-zen.json'), 'utf8'), (key, value) => (key === 'p2pmem' ? false : value));
    writeFileSync(file, JSON.stringify(spec));
    const r = await run(['policies', '--topology', file, '--ios', '4']);
    rmSync(dir, { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^dma-bounce: ERR_NOTHING_TO_REPORT: policies: the topology publishes no p2pmem BAR/m);
  });

  it.each(['bench', 'map-benchmark', 'policies', 'p2p', 'topo'])('%s --help prints usage on stdout, and help %s prints the same', async (command) => {
    const r = await run([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: dma-bounce ${command}`));
    expect(await run(['help', command])).toEqual(r);
  });
});

describe('conventions', () => {
  it.each([['--version'], ['-V']])('%s prints the package version alone', async (flag) => {
    const r = await run([flag]);
    expect(r).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it('help alone lists the commands, the exit codes and stdin', async () => {
    const r = await run(['help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: dma-bounce <command>/);
    expect(r.stdout).toContain('Exit codes: 0 success, 1 failure at run time, 2 usage or a bad flag value, 130 interrupted.');
    expect(r.stdout).toContain('- reads standard input');
  });

  it('- reads the topology from stdin, as UTF-16 with a BOM and CRLF line ends too (what PowerShell writes)', async () => {
    const json = readFileSync(join(root, 'examples/switch-gpu-nvme.json'), 'utf8');
    const fromFile = await run(['p2p', '--topology', join(root, 'examples/switch-gpu-nvme.json'), '--json']);
    expect(fromFile.code).toBe(0);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json.replace(/\n/g, '\r\n'), 'utf16le')]);
    for (const input of [json, utf16]) {
      const r = await runWithStdin(['p2p', '--topology', '-', '--json'], input);
      expect(r).toEqual({ code: 0, stdout: fromFile.stdout, stderr: '' });
    }
    const lspci = await runWithStdin(['topo', '--lspci', '-'], '\ufeff' + readFileSync(join(root, 'examples/lspci-two-domains.txt'), 'utf8').replace(/\n/g, '\r\n'));
    expect(lspci.code).toBe(0);
    const fromLspciFile = (await run(['topo', '--lspci', join(root, 'examples/lspci-two-domains.txt')])).stdout;
    expect(lspci.stdout).toBe(fromLspciFile.replace(/^Topology: .*/, 'Topology: stdin'));
  });

  it('Ctrl-C during bench reports what was measured and exits 130', async () => {
    const child = spawn(process.execPath, [cli, 'bench', '--quick', '--only', 'swiotlb/alloc-free,kernel/copy/wasm/4KiB,kernel/copy/buffer-copy/4KiB'], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      // The second case has started: the first has a figure.
      if (/\[2\/\d+\]/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toContain('stopping after the current case');
    expect(code).toBe(130);
    expect(stdout).toMatch(/\(stopped early\)/);
  });
});

describe('smoke runs', () => {
  it('bench --quick --json --out writes the report shape and a chart', async () => {
    const out = mkdtempSync(join(tmpdir(), 'dma-bounce-bench-'));
    try {
      const r = await run(['bench', '--quick', '--json', '--out', out, '--only', 'kernel/copy/wasm/4KiB,kernel/copy/buffer-copy/4KiB,swiotlb/alloc-free']);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.environment).toMatchObject({ node: process.version, quick: true, complete: true });
      // Measured at the start and the end: null on a one-CPU machine, and where a busy machine gave
      // no answer in time (the run then warns).
      const { start, end } = report.environment.coreRoundTripNs;
      for (const ns of [start, end]) expect(os.cpus().length > 1 ? ns === null || (typeof ns === 'number' && ns > 0) : ns === null).toBe(true);
      expect(report.cases.map((c: { name: string }) => c.name)).toEqual(['kernel/copy/wasm/4KiB', 'kernel/copy/buffer-copy/4KiB', 'swiotlb/alloc-free', 'swiotlb/alloc-free/nvme-512B-offset']);
      const wasm = report.cases[0];
      expect(wasm.bytesPerSecond).toBeGreaterThan(0);
      expect(wasm.rme).toBeGreaterThanOrEqual(0);
      expect(wasm.samples).toBeGreaterThan(0);
      expect(wasm.baseline).toMatchObject({ name: 'kernel/copy/buffer-copy/4KiB' });
      expect(report.cases[2].opsPerSecond).toBeGreaterThan(0);
      expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))).toEqual(report);
      expect(readFileSync(join(out, 'chart.svg'), 'utf8')).toMatch(/^<svg[\s\S]*Single copy[\s\S]*<\/svg>$/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('map-benchmark --json reports the kernel tool figures, direct and bounced', async () => {
    const direct = JSON.parse((await run(['map-benchmark', '--seconds', '1', '--json'])).stdout);
    expect(direct).toMatchObject({ bounced: false, complete: true, options: { threads: 1, granule: 1, dir: 0, dmaBits: 32 } });
    expect(direct.loops).toBeGreaterThan(100);
    for (const f of [direct.map, direct.unmap]) {
      expect(Object.keys(f).sort()).toEqual(['average100ns', 'averageUs', 'stddev100ns', 'stddevUs']);
      expect(f.averageUs).toBeCloseTo(f.average100ns / 10, 0);
    }
    const bounced = JSON.parse((await run(['map-benchmark', '--seconds', '1', '--threads', '2', '--granule', '4', '--dir', '1', '--buffer', 'high', '--json'])).stdout);
    expect(bounced).toMatchObject({ bounced: true, options: { threads: 2, granule: 4, dir: 1, buffer: 'high' } });
    const text = (await run(['map-benchmark', '--seconds', '1', '--force-bounce'])).stdout;
    expect(text).toMatch(/^dma mapping benchmark: threads:1 seconds:1 node:-1 dir:BIDIRECTIONAL granule: 1\n/);
    expect(text).toMatch(/bounced through swiotlb/);
    expect(text).toMatch(/average map latency\(us\):\d+\.\d standard deviation:\d+\.\d\naverage unmap latency\(us\):\d+\.\d standard deviation:\d+\.\d\n$/);
  });

  it('policies --rounds 2: the workload line says so and every compared row has a VS STAGED ratio with its range', async () => {
    const r = await run(['policies', '--rounds', '2', '--ios', '4', '--qd', '2', '--size', '4KiB']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^workload: 4 I\/Os of 4096 bytes, queue depth 2, half device reads, half device writes, 2 rounds \(MiB\/s: the median round; latency and COPIED: every round's I\/Os\)$/m);
    expect(r.stdout).toMatch(/^ROUTE .* BAD {2}VS STAGED$/m);
    expect(r.stdout).toMatch(/^NOT_SUPPORTED +0000:81:00\.0 +bounce +ok .* \d+\.\d\dx \(\d+\.\d\d-\d+\.\d\d\)$/m);
    expect(r.stdout).toMatch(/^NOT_SUPPORTED +0000:81:00\.0 +staged +ok .* 0$/m);
    expect(r.stderr).toMatch(/^\[18\/18\] NOT_SUPPORTED \w+ \(round 2\/2\)$/m);
  });

  it('policies --json: reject fails NOT_SUPPORTED with EREMOTEIO, bounce and staged move every byte intact', async () => {
    const r = await run(['policies', '--ios', '40', '--qd', '4', '--size', '64KiB', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.workload).toEqual({ ioSize: 65536, queueDepth: 4, ios: 40 });
    const by = (route: string, policy: string) => report.results.find((x: { route: string; policy: string }) => x.route === route && x.policy === policy);
    expect(report.results).toHaveLength(9);
    expect(by('NOT_SUPPORTED', 'reject')).toMatchObject({ ok: false, error: 'ERR_DMA_P2P_NOT_SUPPORTED', client: '0000:81:00.0' });
    expect(by('NOT_SUPPORTED', 'bounce')).toMatchObject({ ok: true, ios: 40, corrupted: 0, bytesCopied: 20 * 65536 + 20 * 2 * 65536 });
    expect(by('NOT_SUPPORTED', 'bounce').bounceHighWaterBytes).toBeGreaterThanOrEqual(65536);
    expect(by('NOT_SUPPORTED', 'staged')).toMatchObject({ ok: true, ios: 40, corrupted: 0, bytesCopied: 40 * 65536, bounceHighWaterBytes: 0 });
    expect(by('BUS_ADDR', 'reject')).toMatchObject({ ok: true, bytesCopied: 0, bounceHighWaterBytes: 0, corrupted: 0 });
    for (const row of report.results.filter((x: { ok: boolean }) => x.ok)) {
      expect(row.bytesPerSecond).toBeGreaterThan(0);
      expect(row.latencyUs.p50).toBeLessThanOrEqual(row.latencyUs.p99);
    }
  });
});
