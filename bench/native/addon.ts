// Builds and loads the bench's native baselines (native-addon.c, a Node-API addon) with the
// machine's C compiler, at bench time, into a temporary directory. Without a compiler, or when
// the build fails, it says why and the bench runs without native cases: nothing else needs it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * How a native copy moves bytes: glibc's memcpy, the 16-byte vector loop (what WebAssembly SIMD
 * expresses), V8's relaxed 8-byte loop, and straight-line 16-byte moves for segments up to 256 B
 * (the kernel's short-segment copy; the 16-byte loop above that).
 */
export const NativeWay = { memcpy: 0, sse16: 1, relaxed8: 2, sse16Straight: 3 } as const;
export type NativeWay = (typeof NativeWay)[keyof typeof NativeWay];

/** The addon's calls: copies inside `bytes` (the fabric's memory) at fabric offsets; RangeError (ERR_NATIVE_ARGUMENT) for a range outside it. */
export interface NativeCopier {
  /** Copies `count` segments of `table`, (dst, src, length) triples. */
  copySg(bytes: Uint8Array, table: Uint32Array, count: number, way: NativeWay): void;
  /** One copy cut into `threads` parts (the calling thread copies one, a new thread each other), joined before it returns. */
  copyParallel(bytes: Uint8Array, dst: number, src: number, length: number, threads: number, way: NativeWay): void;
}

/** What buildNative() found: the loaded addon and the compiler that built it, or why there is none. */
export type NativeBuild =
  | { readonly ok: true; readonly native: NativeCopier; readonly compiler: string }
  | { readonly ok: false; readonly reason: string };

export interface NativeBuildOptions {
  /** The C compiler to run (default: $CC, else cc). */
  readonly compiler?: string;
  /** Where native-addon.c and copy-loops.h are (default: bench/native of this package). */
  readonly sourceDir?: string;
  /** Directories to look for Node's node_api.h in (default: beside this Node, and node-gyp's cache). */
  readonly includeDirs?: readonly string[];
}

const SOURCE = 'native-addon.c';

/** The package's bench/native, from dist/bench/native/addon.js or bench/native/addon.ts alike. */
function defaultSourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromDist = join(here, '..', '..', '..', 'bench', 'native');
  return existsSync(join(fromDist, SOURCE)) ? fromDist : here;
}

function defaultIncludeDirs(): string[] {
  const home = process.env.HOME ?? '';
  return [
    join(dirname(process.execPath), '..', 'include', 'node'),
    join(home, '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
  ];
}

/**
 * Compiles native-addon.c (cc -O2 -shared -fPIC -pthread) and loads it. Never throws: resolves
 * to `{ ok: false, reason }` when there is no compiler, no Node-API header, no source, or the
 * build or the load fails. Leaves no files behind (the loaded library stays mapped).
 */
export function buildNative(options: NativeBuildOptions = {}): NativeBuild {
  const compiler = options.compiler ?? (process.env.CC || 'cc');
  const probe = spawnSync(compiler, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { ok: false, reason: `no C compiler (${compiler} ${probe.error ? 'not found' : `exited ${probe.status}`})` };
  const sourceDir = options.sourceDir ?? defaultSourceDir();
  const source = join(sourceDir, SOURCE);
  if (!existsSync(source)) return { ok: false, reason: `the native source ${source} is missing` };
  const include = (options.includeDirs ?? defaultIncludeDirs()).find((dir) => existsSync(join(dir, 'node_api.h')));
  if (include === undefined) return { ok: false, reason: "Node's headers (node_api.h) were not found" };
  const dir = mkdtempSync(join(tmpdir(), 'dma-bounce-native-'));
  try {
    const out = join(dir, 'dma-bounce-native.node');
    // -fno-tree-loop-distribute-patterns: the vector loops must stay loops, not become memcpy calls.
    const args = ['-O2', '-fno-tree-loop-distribute-patterns', '-shared', '-fPIC', '-pthread', `-I${include}`, `-I${sourceDir}`, '-o', out, source];
    const build = spawnSync(compiler, args, { encoding: 'utf8' });
    if (build.error || build.status !== 0) {
      const why = (build.stderr || build.error?.message || '').trim().split('\n')[0] ?? '';
      return { ok: false, reason: `the native build failed (${compiler} exited ${build.status}${why ? `: ${why}` : ''})` };
    }
    const native = createRequire(import.meta.url)(out) as NativeCopier;
    if (typeof native.copySg !== 'function' || typeof native.copyParallel !== 'function') return { ok: false, reason: 'the native addon lacks its calls' };
    return { ok: true, native, compiler };
  } catch (error) {
    return { ok: false, reason: `the native addon did not load (${(error as Error).message})` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
