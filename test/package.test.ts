// The package as a stranger gets it: `npm pack`, then an install of the tarball into an empty project
// (offline where the npm cache has everything), and from there: what the tarball holds, a lean
// install (no chart stack), the README's library example, examples/own-pool.mjs, the CLI, and the type
// tests compiled against the installed declarations (strict, NodeNext, skipLibCheck false).
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const project = mkdtempSync(join(tmpdir(), 'dma-bounce-consumer-'));
const installed = join(project, 'node_modules', pkg.name);
let files: string[] = [];

async function run(file: string, args: string[], cwd = project): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd, maxBuffer: 1 << 24, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  // dist/ is built by pretest; --ignore-scripts keeps pack from building it again.
  const packed = await exec(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: root, maxBuffer: 1 << 24 });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  files = info!.files.map((f) => f.path);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  const typesNode = JSON.parse(readFileSync(join(root, 'node_modules/@types/node/package.json'), 'utf8')).version as string;
  await exec(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(project, info!.filename), `@types/node@${typesNode}`], {
    cwd: project, maxBuffer: 1 << 24, timeout: 240_000,
  });
}, 300_000);

afterAll(() => rmSync(project, { recursive: true, force: true }));

describe('the tarball', () => {
  it('ships what a user runs and nothing else', () => {
    for (const needed of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/engine/worker.js', 'dist/src/cli/main.js', 'dist/build/kernels.wasm', 'dist/bench/report.js', 'schema/topology.schema.json', 'examples/own-pool.mjs']) {
      expect(files, needed).toContain(needed);
    }
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.wat') || f.includes('reliability') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('assembly/'))).toEqual([]);
  });

  it('installs lean: no vega, no vega-lite, no test machinery in the API', async () => {
    expect(existsSync(join(project, 'node_modules/vega'))).toBe(false);
    expect(existsSync(join(project, 'node_modules/vega-lite'))).toBe(false);
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', `import * as api from '${pkg.name}'; console.log(JSON.stringify(Object.keys(api)))`]);
    const names = JSON.parse(stdout) as string[];
    expect(names).toContain('DmaSystem');
    for (const gone of ['fuzzTopologyLoaders', 'FuzzRng', 'randomTopologySpec', 'printLspci', 'UsageError']) expect(names).not.toContain(gone);
  });
});

describe('from the installed package', () => {
  it("runs the README's library example as written", async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const code = /```js\n([\s\S]*?)```/.exec(readme)![1]!;
    writeFileSync(join(project, 'readme.mjs'), code);
    const r = await run(process.execPath, ['readme.mjs']);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('ERR_DMA_P2P_NOT_SUPPORTED EREMOTEIO');
    expect(lines[1]).toMatch(/^bounced p2p-not-supported 0x[0-9a-f]+$/);
    expect(lines[2]).toBe('device reads 5a5a5a5a');
    expect(lines[3]).toBe('bus-address');
  });

  it('runs examples/own-pool.mjs in its own piscina pool', async () => {
    copyFileSync(join(installed, 'examples/own-pool.mjs'), join(project, 'own-pool.mjs'));
    const r = await run(process.execPath, ['own-pool.mjs']);
    expect(r.stdout).toContain('batch result: { ok: true, bytes: 65536 }');
    expect(r.stdout).toContain('ring op 0 SUCCESS');
    expect(r.stdout).toContain('bytes equal: true');
  });

  it('runs the CLI: --version, a topology from the shipped examples, and a clear error for the missing chart stack', async () => {
    const bin = join(project, 'node_modules/.bin/dma-bounce');
    expect(await run(bin, ['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    const p2p = await run(bin, ['p2p', '--topology', join(installed, 'examples/switch-gpu-nvme.json'), '--json']);
    expect(p2p.code).toBe(0);
    expect(JSON.parse(p2p.stdout).pairs.length).toBeGreaterThan(0);
    const chart = await run(bin, ['bench', '--quick', '--only', 'swiotlb/alloc-free', '--out', join(project, 'bench-out')]);
    expect(chart.code).toBe(1);
    expect(chart.stdout).toBe('');
    expect(chart.stderr).toMatch(/^dma-bounce: ERR_MISSING_DEPENDENCY: the chart needs the optional packages vega and vega-lite, which are not installed: run npm install vega@~5\.33\.1 vega-lite@~5\.23\.0/);
    expect(existsSync(join(project, 'bench-out'))).toBe(false);
  });

  it('compiles the type tests and every public name against the installed declarations (strict, NodeNext, skipLibCheck false)', async () => {
    copyFileSync(join(root, 'test/types/consumer.ts'), join(project, 'consumer.ts'));
    // Every export of both entry points, imported by name: each must resolve and its declaration compile.
    const host = ts.createProgram([join(installed, 'dist/src/index.d.ts'), join(installed, 'dist/src/engine/worker.d.ts')], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true });
    const checker = host.getTypeChecker();
    const lines: string[] = [];
    for (const [specifier, file] of [[pkg.name, 'dist/src/index.d.ts'], [`${pkg.name}/worker`, 'dist/src/engine/worker.d.ts']] as const) {
      const exportsOf = checker.getExportsOfModule(checker.getSymbolAtLocation(host.getSourceFile(join(installed, file))!)!);
      const names = exportsOf.map((s) => s.name).filter((n) => n !== 'default');
      expect(names.length, specifier).toBeGreaterThan(specifier === pkg.name ? 100 : 3);
      const prefix = specifier === pkg.name ? 'main_' : 'worker_';
      lines.push(`import { ${names.map((n) => `${n} as ${prefix}${n}`).join(', ')} } from '${specifier}';`);
    }
    writeFileSync(join(project, 'all-names.ts'), lines.join('\n') + '\n');
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', skipLibCheck: false, noEmit: true, types: ['node'], noUnusedLocals: false },
      files: ['consumer.ts', 'all-names.ts'],
    }));
    const r = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);
});
