// bench --native: the native helper is built with the machine's C compiler and copies the same
// bytes as the wasm cases, in the same rounds; without a compiler (or with a build that fails)
// the bench says so once and runs as before.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildNative, NativeWay, type NativeCopier } from '../dist/bench/native/addon.js';
import { runCases, type BenchCase } from '../dist/bench/runner.js';
import { kernelCases } from '../dist/bench/suites/kernels.js';
import { engineCases } from '../dist/bench/suites/engine.js';
import { copyBuffers } from '../dist/bench/suites/buffers.js';
import { testRng } from './support/random.js';

const execFileAsync = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'dist/src/cli/main.js');
const rng = testRng('bench-native');

const built = buildNative();
const native: NativeCopier | undefined = built.ok ? built.native : undefined;
// CI machines of this project have gcc; a machine without one still runs the no-compiler tests.
const withCompiler = native ? it : it.skip;

async function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [cli, ...args], { cwd: root, env, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('buildNative', () => {
  it('without a compiler says why and never throws', () => {
    const missing = buildNative({ compiler: join(tmpdir(), `no-such-cc-${rng.int(0, 1e9)}`) });
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.reason).toMatch(/^no C compiler \(.*no-such-cc-\d+ not found\)$/);
    // A "compiler" that exits non-zero.
    const broken = buildNative({ compiler: 'false' });
    expect(!broken.ok && broken.reason).toBe('no C compiler (false exited 1)');
  });

  it('a build that fails, or no Node-API header, is a reason, not an exception', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dma-bounce-native-test-'));
    try {
      writeFileSync(join(dir, 'native-addon.c'), 'this is not C\n');
      const failed = buildNative({ sourceDir: dir });
      if (built.ok) expect(!failed.ok && failed.reason).toMatch(/^the native build failed \(.* exited 1: /);
      const noHeaders = buildNative({ includeDirs: [dir] });
      if (built.ok) expect(!noHeaders.ok && noHeaders.reason).toBe("Node's headers (node_api.h) were not found");
      const noSource = buildNative({ sourceDir: join(dir, 'nowhere') });
      if (built.ok) expect(!noSource.ok && noSource.reason).toMatch(/^the native source .*nowhere\/native-addon\.c is missing$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the native addon', () => {
  withCompiler('copySg copies every segment exactly, each way, guard bytes untouched', () => {
    const memory = new Uint8Array(new SharedArrayBuffer(1 << 20));
    for (const way of [NativeWay.memcpy, NativeWay.sse16, NativeWay.relaxed8, NativeWay.sse16Straight]) {
      rng.fill(memory);
      const before = memory.slice();
      // Random lengths (not multiples of 16 or 64; half of them up to 300 B, where the straight-line
      // way has its cases) at random disjoint slots of 8 KiB.
      const count = rng.int(1, 40);
      const slots = Array.from({ length: 128 }, (_, i) => i).sort(() => rng.next() - 0.5);
      const table = new Uint32Array(3 * count);
      const expected = before.slice();
      for (let i = 0; i < count; i++) {
        const dst = slots[2 * i]! * 8192 + rng.int(0, 64);
        const src = slots[2 * i + 1]! * 8192 + rng.int(0, 64);
        const len = rng.next() < 0.5 ? rng.int(0, 300) : rng.int(1, 8000);
        table.set([dst, src, len], 3 * i);
        expected.set(before.subarray(src, src + len), dst);
      }
      native!.copySg(memory, table, count, way);
      expect(Buffer.compare(memory, expected), `way ${way}`).toBe(0);
    }
  });

  withCompiler('copyParallel copies the whole range with 1, 2 and 3 threads; out-of-range calls throw before copying', () => {
    const memory = new Uint8Array(new SharedArrayBuffer(4 << 20));
    for (const threads of [1, 2, 3]) {
      rng.fill(memory);
      const len = rng.int(1, 1 << 20);
      const src = rng.int(0, 1 << 20);
      const dst = (2 << 20) + rng.int(0, 1 << 20);
      const expected = memory.slice();
      expected.copyWithin(dst, src, src + len);
      native!.copyParallel(memory, dst, src, len, threads, NativeWay.sse16);
      expect(Buffer.compare(memory, expected), `${threads} threads`).toBe(0);
    }
    const before = memory.slice();
    expect(() => native!.copyParallel(memory, (4 << 20) - 10, 0, 11, 2, NativeWay.memcpy)).toThrow(/outside the memory/);
    expect(() => native!.copyParallel(memory, 0, 0, 16, 0, NativeWay.memcpy)).toThrow(/threads must be 1\.\.16/);
    expect(() => native!.copySg(memory, Uint32Array.of(0, (4 << 20) - 4, 5), 1, NativeWay.sse16)).toThrow(/outside the memory/);
    expect(() => native!.copySg(memory, Uint32Array.of(0, 0, 5), 2, NativeWay.sse16)).toThrow(/count must be an integer within the table/);
    expect(() => native!.copySg(memory, Uint32Array.of(0, 0, 5), 1, 4 as NativeWay)).toThrow(/way must be 0, 1, 2 or 3/);
    expect(Buffer.compare(memory, before)).toBe(0);
  });
});

describe('native cases in the bench', () => {
  it('the runner runs ceiling cases in the rounds of the cases that name them and takes a second ratio there', async () => {
    const spin = (n: number) => () => { let x = 0; for (let i = 0; i < n; i++) x = (x + i) | 0; if (x === 0.5) throw new Error('unreachable'); };
    const cases: BenchCase[] = [
      { name: 'wasm', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(2000), baseline: 'js', ceiling: ['native-a', 'native-b', 'native-absent'] },
      { name: 'js', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(20000) },
      { name: 'other', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(10) },
      { name: 'native-a', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(20000) },
      { name: 'native-b', measure: 'opsPerSecond', unitsPerOp: 1, run: spin(200) },
    ];
    const order: string[] = [];
    const results = await runCases(cases, { maxTime: 0.02, minSamples: 2, rounds: 2, onProgress: (_d, _t, name) => { if (name) order.push(name); } });
    expect(order).toEqual([
      'wasm (round 1/2)', 'js (round 1/2)', 'native-a (round 1/2)', 'native-b (round 1/2)',
      'wasm (round 2/2)', 'js (round 2/2)', 'native-a (round 2/2)', 'native-b (round 2/2)',
      'other (round 1/2)', 'other (round 2/2)',
    ]);
    const wasm = results.find((r) => r.name === 'wasm')!;
    expect(wasm.baseline!.name).toBe('js');
    expect(wasm.ceiling!.name).toBe('native-b');
    expect(wasm.ceiling!.ratios).toHaveLength(2);
    expect(wasm.ceiling!.ratio).toBeLessThan(0.5); // 10x the work of the best ceiling
    expect(results.find((r) => r.name === 'other')!.ceiling).toBeUndefined();
  });

  it('the kernel and engine suites name the native cases beside their wasm and worker cases, only when given the addon', () => {
    const fake: NativeCopier = { copySg: () => {}, copyParallel: () => {} };
    const names = (cs: readonly BenchCase[]) => cs.map((c) => c.name);
    const kernels = kernelCases({ native: fake });
    for (const size of ['64B', '256B', '4KiB', '64KiB', '4KiBx64']) {
      expect(names(kernels)).toEqual(expect.arrayContaining([`kernel/sg/wasm/${size}`, `kernel/sg/native-memcpy/${size}`, `kernel/sg/native-sse/${size}`]));
      expect(kernels.find((c) => c.name === `kernel/sg/wasm/${size}`)!.ceiling).toEqual([`kernel/sg/native-memcpy/${size}`, `kernel/sg/native-sse/${size}`]);
      // The short tables also run the straight-line 16-byte way, against memcpy (the 16-byte ceiling).
      const straight = kernels.find((c) => c.name === `kernel/sg/native-sse-straight/${size}`);
      if (size === '64B' || size === '256B') expect(straight?.ceiling).toBe(`kernel/sg/native-memcpy/${size}`);
      else expect(straight).toBeUndefined();
    }
    expect(names(kernelCases({ skipHuge: true })).filter((n) => n.includes('native') || n.endsWith('/64KiB') && n.startsWith('kernel/sg/'))).toEqual([]);
    const engine = engineCases({ native: fake });
    expect(engine.find((c) => c.name === 'engine/parallel/64MiB/2w')!.ceiling).toBe('engine/parallel/64MiB/native-2t');
    expect(engine.find((c) => c.name === 'engine/parallel/64MiB/1w')!.ceiling).toBe('engine/parallel/64MiB/native-1t');
    expect(engine.find((c) => c.name === 'engine/parallel/64MiB/native-2t')!.baseline).toBe('engine/parallel/64MiB/native-1t');
    expect(names(engineCases({ native: fake, skipHuge: true })).filter((n) => n.includes('native'))).toEqual([]);
  });

  withCompiler('a native case copies the same bytes as its wasm case, at the same slots', () => {
    const buffers = copyBuffers();
    const { fabric, src, dst } = buffers;
    const kernels = kernelCases({ native: native!, buffers, skipHuge: true });
    const bytes = fabric.bytes;
    const area = 64 << 20;
    const results: Buffer[] = [];
    rng.fill(bytes.subarray(src, src + area));
    for (const label of ['64B', '256B', '4KiB']) {
      for (const method of ['wasm', 'native-sse', 'native-memcpy']) {
        bytes.fill(0xa5, dst, dst + area);
        kernels.find((c) => c.name === `kernel/sg/${method}/${label}`)!.run!();
        results.push(Buffer.from(bytes.subarray(dst, dst + (4 << 20))));
      }
      const [wasm, sse, memcpy] = results.splice(0);
      expect(wasm!.equals(sse!), `${label}: sse`).toBe(true);
      expect(wasm!.equals(memcpy!), `${label}: memcpy`).toBe(true);
      // 1024 segments landed: the destination no longer holds its fill.
      const moved = wasm!.reduce((n, b) => n + (b !== 0xa5 ? 1 : 0), 0);
      expect(moved).toBeGreaterThan(0.9 * 1024 * Number.parseInt(label) * (label.endsWith('KiB') ? 1024 : 1));
    }
  });

  it('bench --native without a compiler says so once on stderr and runs the cases as before', async () => {
    const env = { ...process.env, CC: join(tmpdir(), 'no-such-compiler') };
    const r = await run(['bench', '--native', '--quick', '--json', '--only', 'kernel/sg/wasm/64B,kernel/sg/copy-within/64B'], env);
    expect(r.code).toBe(0);
    const said = r.stderr.split('\n').filter((l) => l.includes('--native'));
    expect(said).toEqual([`bench: --native: no C compiler (${env.CC} not found): running without native baselines`]);
    const report = JSON.parse(r.stdout);
    expect(report.environment.native).toBe(`no C compiler (${env.CC} not found)`);
    expect(report.cases.map((c: { name: string }) => c.name)).toEqual(['kernel/sg/wasm/64B', 'kernel/sg/copy-within/64B']);
    expect(report.cases[0].ceiling).toBeUndefined();
    expect(report.cases[0].baseline.name).toBe('kernel/sg/copy-within/64B');
  });

  withCompiler('bench --native with a compiler runs the native cases and prints the AGAINST NATIVE column', async () => {
    const json = await run(['bench', '--native', '--quick', '--json', '--only', 'kernel/sg/wasm/64B,kernel/sg/native-']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.environment.native).toMatch(/^built with /);
    expect(report.cases.map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['kernel/sg/wasm/64B', 'kernel/sg/native-memcpy/64B', 'kernel/sg/native-sse/64B']));
    expect(report.cases[0].ceiling.name).toMatch(/^kernel\/sg\/native-(memcpy|sse)\/64B$/);
    const text = await run(['bench', '--native', '--quick', '--only', 'kernel/sg/wasm/4KiBx64,kernel/sg/native-memcpy/4KiBx64']);
    expect(text.stdout).toMatch(/AGAINST NATIVE/);
    expect(text.stdout).toMatch(/kernel\/sg\/wasm\/4KiBx64 .* vs kernel\/sg\/native-memcpy\/4KiBx64\n/);
    const plain = await run(['bench', '--quick', '--only', 'kernel/sg/native-memcpy/4KiBx64']);
    expect(plain.code).toBe(2); // without --native there is no native case to match
    expect(plain.stderr).toMatch(/--only kernel\/sg\/native-memcpy\/4KiBx64 matches no case/);
  });
});

