// One engine, many calls in flight, in random interleavings (fast-check's scheduler orders them,
// real worker threads run them): copies inline, on a ring and split across workers, SG copies of
// arrays and tables, fills, CRC copies, aborts, channel stop/start, worker kills and close(), none
// awaited. Every promise settles exactly once; every destination byte (random data, guard bytes
// around each) matches a model of what the op's outcome allows; nothing else in memory changes.
import fc from 'fast-check';
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { CopyEngine, Fabric, SgTable, WORKER_URL } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { until, within } from './support/deadline.js';
import { testRng } from './support/random.js';
import { crc32cReference, fillReference } from './support/reference.js';

const rng = testRng('engine-interleavings');
const KiB = 1024, MiB = 2 ** 20;
const fabric = new Fabric({ size: '64MiB', scratch: '2MiB' });
const arena = new Arena(fabric, rng, 40 * MiB);
void fabric.kernels;
const scratchBase = fabric.scratch.stats().allocations;
// One pool for every run: each engine books its two threads and gives them back when it closes.
const pool = new Piscina({ filename: WORKER_URL.href, maxThreads: 2, concurrentTasksPerWorker: 1, workerData: { fabric: fabric.handle() } });
afterAll(() => pool.destroy());

const SRC_AREA = 8 * MiB; // sources: read, never written
const SLOT = 640 * KiB; // each op writes only inside its own slot; the rest of the slot is guard bytes
const SLOTS = Math.floor((arena.size - SRC_AREA) / SLOT);
const SPLIT = 256 * KiB;

type Kind = 'copy' | 'sg' | 'table' | 'fill' | 'crc' | 'abort' | 'stop' | 'start' | 'kill' | 'close' | 'pause';
interface Action { readonly kind: Kind; readonly size: 'small' | 'ring' | 'split'; readonly lane: number; readonly signal: boolean; readonly placement: 'auto' | 'worker' | 'caller'; readonly ms: number }
const actionArb: fc.Arbitrary<Action> = fc.record({
  kind: fc.constantFrom<Kind>('copy', 'copy', 'copy', 'sg', 'sg', 'table', 'fill', 'crc', 'abort', 'stop', 'start', 'start', 'kill', 'close', 'pause', 'pause'),
  size: fc.constantFrom('small', 'ring', 'ring', 'split'),
  lane: fc.integer({ min: 0, max: 1 }),
  signal: fc.boolean(),
  placement: fc.constantFrom('auto', 'auto', 'auto', 'worker', 'caller'),
  ms: fc.integer({ min: 0, max: 2 }),
});

// What an op wrote, if it ran: its destination pieces and what each should then hold.
interface Piece { readonly dst: number; readonly len: number; readonly bytes: Uint8Array }
interface Op {
  readonly kind: Kind;
  readonly pieces: Piece[];
  readonly split: boolean;
  readonly crc?: number;
  outcome?: { value?: number; error?: { code?: string; bytesCompleted?: number } };
  settles: number;
}

const RUNS = 30;
let interleavings = 0;
afterAll(() => console.log(`[engine-interleavings] seed ${rng.seed}: ${interleavings} interleavings tried`));

describe('random interleavings on one engine', () => {
  it(`every promise settles once, every byte is what its op's outcome allows (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(actionArb, { minLength: 8, maxLength: 30 }), async (s, actions) => {
        interleavings++;
        arena.randomize();
        // Two-slot rings: ops pile up in the backlogs, where aborts, stops and close() must find them too.
        const engine = CopyEngine.create(fabric, { workers: 2, pool, slots: 2, inlineBelow: 2 * KiB, splitAbove: SPLIT });
        let controller = new AbortController();
        let slot = 0;
        const ops: Op[] = [];
        const calls: Promise<unknown>[] = [];
        const tables: SgTable[] = [];
        const src = (len: number) => arena.at(len, 0, SRC_AREA);
        const srcBytes = (at: number, len: number) => arena.expected.slice(at - arena.base, at - arena.base + len);
        const length = (size: Action['size']) => (size === 'small' ? rng.int(1, 2 * KiB - 1) : size === 'ring' ? rng.int(2 * KiB, 200 * KiB) : rng.int(SPLIT, 600 * KiB));
        const track = (op: Op, promise: Promise<number>) => {
          ops.push(op);
          promise.then((value) => { op.settles++; op.outcome = { value }; }, (error: { code?: string; bytesCompleted?: number }) => { op.settles++; op.outcome = { error }; });
          calls.push(promise.catch(() => undefined));
        };

        const act = (a: Action) => {
          const options = { ...(a.signal ? { signal: controller.signal } : {}), placement: a.placement };
          const base = arena.base + SRC_AREA + (slot++ % SLOTS) * SLOT + rng.int(0, 64);
          switch (a.kind) {
            case 'copy': {
              const len = length(a.size), from = src(len);
              const split = a.placement !== 'caller' && len >= SPLIT;
              track({ kind: 'copy', pieces: [{ dst: base, len, bytes: srcBytes(from, len) }], split, settles: 0 }, engine.copy(base, from, len, options));
              break;
            }
            case 'sg':
            case 'table': {
              const segments: [number, number, number][] = [];
              const pieces: Piece[] = [];
              let at = base;
              for (let n = rng.int(1, 8); n > 0; n--) {
                const len = rng.int(0, 60 * KiB), from = src(len);
                segments.push([at, from, len]);
                pieces.push({ dst: at, len, bytes: srcBytes(from, len) });
                at += len + rng.int(0, 256);
              }
              if (a.kind === 'sg') {
                track({ kind: 'sg', pieces, split: false, settles: 0 }, engine.copySg(segments, options));
              } else {
                const table = new SgTable(fabric, segments.length);
                for (const [d, f, l] of segments) table.push(d, f, l);
                tables.push(table);
                track({ kind: 'table', pieces, split: false, settles: 0 }, engine.copySg(table, options));
              }
              break;
            }
            case 'fill': {
              const len = length(a.size);
              const pattern = BigInt.asUintN(64, (BigInt(rng.int(0, 2 ** 31)) << 32n) | BigInt(rng.int(0, 2 ** 31)));
              const bytes = arena.expected.slice(base - arena.base, base - arena.base + len);
              fillReference(bytes, 0, pattern, len);
              track({ kind: 'fill', pieces: [{ dst: base, len, bytes }], split: false, settles: 0 }, engine.fill(base, pattern, len, options));
              break;
            }
            case 'crc': {
              const len = length(a.size === 'split' ? 'ring' : a.size), from = src(len), seed = rng.int(0, 2 ** 31);
              const bytes = srcBytes(from, len);
              track({ kind: 'crc', pieces: [{ dst: base, len, bytes }], split: false, crc: crc32cReference(bytes, seed), settles: 0 }, engine.copyCrc32c(base, from, len, { ...options, seed }));
              break;
            }
            case 'abort':
              controller.abort();
              controller = new AbortController();
              break;
            case 'stop':
              calls.push(engine.channels[a.lane]!.stop().catch((e: { code?: string }) => expect(e.code).toBe('ERR_ENGINE_CLOSED')));
              break;
            case 'start':
              try {
                engine.channels[a.lane]!.start();
              } catch (e) {
                expect(['ERR_INVALID_STATE', 'ERR_ENGINE_CLOSED']).toContain((e as { code?: string }).code);
              }
              break;
            case 'kill':
              calls.push(engine.channels[a.lane]!.killWorker());
              break;
            case 'close':
              calls.push(engine.close());
              break;
            case 'pause':
              break;
          }
        };

        // The scheduler releases the calls in an order of its choosing; pauses let the workers run.
        for (const a of actions) {
          const gate = a.kind === 'pause' ? new Promise((r) => setTimeout(r, a.ms)) : Promise.resolve();
          void s.schedule(gate, a.kind).then(() => act(a));
        }
        await s.waitAll();
        // Everything settles, the last close() included.
        for (const call of calls) await within(call, 20000, 'a call');
        await within(engine.close(), 20000, 'close()');
        for (const table of tables) table.release();

        for (const op of ops) {
          expect(op.settles, `${op.kind} settled ${op.settles} times`).toBe(1);
          check(op);
        }
        arena.check();
        // A serve task that a kill made the channel dispatch may still wait in the shared pool: the
        // ring's memory is freed once it has answered (it finds its reservation withdrawn).
        await until(() => fabric.scratch.stats().allocations === scratchBase, 10000, 'every ring freed');
      }),
      { numRuns: RUNS, seed: rng.seed | 0, endOnFailure: true },
    );
  });
});

// The bytes of a piece as they are now, against what they held and what the op would write.
function state(p: Piece): 'old' | 'new' | 'mixed' {
  const d = p.dst - arena.base;
  const now = arena.bytes.subarray(d, d + p.len);
  if (Buffer.compare(now, p.bytes) === 0) return 'new';
  if (Buffer.compare(now, arena.expected.subarray(d, d + p.len)) === 0) return 'old';
  for (let i = 0; i < p.len; i++) if (now[i] !== p.bytes[i] && now[i] !== arena.expected[d + i]) throw new Error(`byte ${p.dst + i}: neither old nor new`);
  return 'mixed';
}

function take(p: Piece): void {
  const d = p.dst - arena.base;
  arena.expected.set(arena.bytes.subarray(d, d + p.len), d);
}

// What each outcome allows, checked against the bytes; then the reference takes them.
function check(op: Op): void {
  const { value, error } = op.outcome!;
  if (!error) {
    for (const p of op.pieces) expect(state(p), `${op.kind} resolved but its destination differs`).toBe('new');
    if (op.kind === 'crc') expect(value).toBe(op.crc);
    else expect(value).toBe(op.pieces.reduce((n, p) => n + p.len, 0));
  } else {
    const code = error.code ?? 'uncoded';
    expect(['ERR_ABORTED', 'ERR_ENGINE_STOPPED', 'ERR_ENGINE_CLOSED', 'ERR_WORKER_DIED']).toContain(code);
    if (code === 'ERR_WORKER_DIED') {
      for (const p of op.pieces) state(p); // any mix of old and new bytes
    } else if (op.split) {
      // Part by part: each ran whole or not at all, and bytesCompleted counts the ones that ran.
      const p = op.pieces[0]!;
      const chunk = Math.ceil(p.len / 2 / 4096) * 4096;
      let done = 0;
      for (let at = 0; at < p.len; at += chunk) {
        const part = { dst: p.dst + at, len: Math.min(chunk, p.len - at), bytes: p.bytes.subarray(at, at + chunk) };
        const st = state(part);
        expect(st, `a part of a split copy that failed with ${code}`).not.toBe('mixed');
        if (st === 'new') done += part.len;
      }
      expect(error.bytesCompleted ?? 0).toBe(done);
    } else {
      for (const p of op.pieces) expect(state(p), `${op.kind} failed with ${code} but wrote`).toBe('old');
    }
  }
  for (const p of op.pieces) take(p);
}
