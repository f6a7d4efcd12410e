// readCaptureInWorker() on several workers: a capture cut into pieces of whole lines, parsed on two
// (or three) threads and put back in order, against readCapture() on the same chunks. Random
// captures (the model's own trace lines, the fixtures, comments, blank and CRLF lines, other
// events, byte-order marks, multi-byte characters, malformed lines) in random chunks (1 byte,
// inside lines and inside characters, strings, bytes and both mixed), with small pieces so a small
// capture is many: the same events with the same line numbers in the same order, the same summary,
// the same error after the same events; onEvent's failure closes the source; a line too long; no
// worker thread left once the read settles.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TRACE_LINE, readCapture, type CaptureOptions, type TraceEvent } from '../dist/src/index.js';
import { readCaptureInPieces, readCaptureInWorker } from '../dist/src/trace/capture-in-worker.js';
import { generateCapture } from '../dist/bench/trace/capture.js';
import { makeRng, testRng, type Rng } from './support/random.js';
import { runWorkload } from './support/trace-workload.js';

const rng = testRng('trace-parallel-parse');
const FIXTURES = new URL('./fixtures/traces/', import.meta.url);
const RUNS = 40;

type Chunk = string | Uint8Array;
type Source = AsyncIterable<Chunk> & { returned: boolean };

function sourceOf(chunks: readonly Chunk[]): Source {
  const source = {
    returned: false,
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        // Each read gets its own copy of a byte chunk: a reader that kept the view would see it change.
        next: async () => (i < chunks.length ? { done: false, value: copyOf(chunks[i++]!) } : { done: true, value: undefined }),
        return: async () => { source.returned = true; return { done: true, value: undefined }; },
      };
    },
  };
  return source as Source;
}

const copyOf = (chunk: Chunk): Chunk => (typeof chunk === 'string' ? chunk : new Uint8Array(chunk));

// The lines captures are made of.
const workload = await runWorkload(rng, { steps: 200, swiotlb: '512KiB', p2pPolicy: 'bounce' });
const fixtureLines = readdirSync(FIXTURES).filter((f) => f.endsWith('.trace') && !f.startsWith('not-a')).flatMap((f) => readFileSync(new URL(f, FIXTURES), 'utf8').split('\n'));
const benchLines: string[] = [];
generateCapture(300, (t: string) => benchLines.push(...t.split('\n').filter((l) => l !== '')));
const EVENT_LINES = [...workload.lines, ...benchLines];
const OTHER_LINES = [
  '', '   ', '\t', '# tracer: nop', '\uFEFF# tracer: nop', '#', 'cpus=4', 'version = 6', 'CPU:1 [LOST 12 EVENTS]', 'CPU 0 is empty',
  'hello world, pasted around the capture', 'naïve café — 😀 text',
  '          <idle>-0       [001] d.h1.  1000.000001: irq_handler_entry: irq=30 name=nvme0q1 é',
  '             fio-4242    [003] .....  1000.000002: dma_map_phys: [FAILED TO PARSE] dev_name=0000:04:00.0 dir=1',
  '             fio-4242    [003] .....  1000.000003: dma_map_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=1000 attrs=FROBNICATE',
];
const MALFORMED = '             fio-4242    [003] .....  1000.000001: dma_map_phys: 0000:04:00.0 dir=SIDEWAYS dma_addr=1 size=1 phys_addr=1 attrs=';

// Another event, its name from a few (digits too: an integer-like key must not reorder the names).
const otherEvent = (r: Rng) => `          <idle>-0       [00${r.int(0, 3)}] d.h1.  ${(1000 + r.next()).toFixed(6)}: ${r.pick(['irq_handler_entry', 'sched_switch', 'x1', '123', '7', 'netif_rx', `n${r.int(0, 80)}`, 'é😀'])}: irq=30`;

// A random capture: `malformed` lines placed at random (0 for a capture the strict read takes).
function randomText(r: Rng, malformed: number): string {
  const lines: string[] = [];
  const n = r.int(1, 400);
  for (let i = 0; i < n; i++) {
    const x = r.next();
    let line = x < 0.55 ? r.pick(EVENT_LINES) : x < 0.7 ? r.pick(fixtureLines) : x < 0.85 ? otherEvent(r) : r.pick(OTHER_LINES);
    if (r.next() < 0.1) line += '\r';
    lines.push(line);
  }
  for (let i = 0; i < malformed; i++) lines.splice(r.int(0, lines.length), 0, r.next() < 0.5 ? MALFORMED : r.pick(EVENT_LINES).slice(0, -3) + 'zz');
  const start = r.next() < 0.2 ? '\uFEFF' : '';
  return start + lines.join(r.next() < 0.1 ? '\r\n' : '\n') + (r.next() < 0.5 ? '\n' : '');
}

// The text in chunks: 'strings', 'bytes' (cut anywhere, inside characters too), 'tiny' (1-byte
// chunks), or 'mixed' (strings and bytes, and a few neighbours swapped: a string can come while
// the decoder holds part of a character).
function chunksOf(text: string, r: Rng, mode: 'strings' | 'bytes' | 'tiny' | 'mixed'): Chunk[] {
  const data = mode === 'strings' ? text : Buffer.from(text);
  const out: Chunk[] = [];
  const most = Math.max(1, Math.floor(data.length / r.int(1, 30)));
  for (let at = 0; at < data.length;) {
    const n = mode === 'tiny' ? 1 : r.int(1, r.next() < 0.3 ? 8 : most);
    const part = typeof data === 'string' ? data.slice(at, at + n) : data.subarray(at, at + n);
    at += n;
    if (mode === 'mixed' && typeof part !== 'string' && r.next() < 0.5) out.push(part.toString('utf8'));
    else out.push(typeof part === 'string' ? part : new Uint8Array(part));
  }
  if (mode === 'mixed') {
    for (let i = 0; i + 1 < out.length; i++) {
      if (r.next() < 0.05) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
    }
  }
  if (r.next() < 0.2) out.splice(r.int(0, out.length), 0, '', new Uint8Array(0));
  return out;
}

type Outcome = { events: [TraceEvent, number][]; result: unknown; returned: boolean };

type Behaviour = { failAt?: number; asyncFail?: boolean; promises?: boolean };

async function run(read: (source: Source, onEvent: (e: TraceEvent, n: number) => void | Promise<void>) => Promise<unknown>, chunks: readonly Chunk[], behaviour: Behaviour): Promise<Outcome> {
  const events: [TraceEvent, number][] = [];
  const source = sourceOf(chunks);
  let result: unknown;
  try {
    result = await read(source, (e, n) => {
      events.push([e, n]);
      if (events.length - 1 === behaviour.failAt) {
        const error = new Error(`onEvent failed at ${n}`);
        if (behaviour.asyncFail) return Promise.reject(error);
        throw error;
      }
      if (!behaviour.promises) return undefined;
      const k = events.length % 3;
      return k === 0 ? undefined : k === 1 ? Promise.resolve() : new Promise<void>((resolve) => setImmediate(resolve));
    });
  } catch (error) {
    const e = error as { code?: string; message?: string; line?: number; column?: number; event?: string; name?: string };
    result = { error: e.name, code: e.code, message: e.message, line: e.line, column: e.column, event: e.event };
  }
  return { events, result, returned: source.returned };
}

async function compare(chunks: readonly Chunk[], options: CaptureOptions, pieceSize: number, workers: number, behaviour: Behaviour = {}): Promise<[Outcome, Outcome]> {
  const main = await run((s, f) => readCapture(s, f, options), chunks, behaviour);
  const parallel = await run((s, f) => readCaptureInPieces(s, f, { ...options, workers }, pieceSize), chunks, behaviour);
  return [main, parallel];
}

const MODES = ['strings', 'bytes', 'tiny', 'mixed'] as const;

// A random case: the capture's seed, how it is cut, the read's options.
const caseArb = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  mode: fc.constantFrom(...MODES),
  pieceSize: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 64, max: 4000 })),
  workers: fc.constantFrom(2, 2, 2, 3),
  only: fc.option(fc.subarray(['dma_map_phys', 'dma_map_page', 'dma_unmap_phys', 'dma_map_sg', 'dma_unmap_sg', 'swiotlb_bounced', 'dma_sync_sg_for_cpu'], { minLength: 1 }), { nil: undefined }),
  prefilter: fc.option(fc.subarray(['dma_map', 'unmap', 'swiotlb', 'irq', '#', 'é'], { minLength: 1 }), { nil: undefined }),
});

const optionsOf = (c: { only?: string[]; prefilter?: string[] }, lenient: boolean): CaptureOptions => ({
  lenient,
  ...(c.only ? { only: new Set(c.only) } : {}),
  ...(c.prefilter ? { prefilter: c.prefilter } : {}),
});

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

function property(name: string, predicate: (c: Case) => Promise<void>) {
  it(name, async () => {
    const seed = rng.int(0, 2 ** 31 - 1);
    console.log(`[trace-parallel-parse] ${name}: fast-check seed ${seed}, ${RUNS} runs`);
    await fc.assert(fc.asyncProperty(caseArb, predicate), { seed, numRuns: RUNS, endOnFailure: true });
  }, 120_000);
}

describe('readCaptureInWorker on several workers against readCapture', () => {
  property('lenient, with malformed lines: the same events, line numbers and summary', async (c) => {
    const r = makeRng(c.seed);
    const text = randomText(r, r.int(0, 30));
    const chunks = chunksOf(text, r, c.mode);
    const [main, parallel] = await compare(chunks, optionsOf(c, true), c.pieceSize, c.workers);
    expect((main.result as { lines?: number }).lines).toBeGreaterThan(0);
    expect(parallel.events).toEqual(main.events);
    expect(parallel.result).toEqual(main.result);
    // Key order too: the names as first seen.
    expect(Object.keys((parallel.result as { eventsByName: object }).eventsByName)).toEqual(Object.keys((main.result as { eventsByName: object }).eventsByName));
  });

  property('strict: a malformed line is the same ERR_TRACE_PARSE, at the same line, after the same events', async (c) => {
    const r = makeRng(c.seed);
    const text = randomText(r, r.int(0, 3));
    const [main, parallel] = await compare(chunksOf(text, r, c.mode), optionsOf(c, false), c.pieceSize, c.workers);
    expect(parallel.events).toEqual(main.events);
    expect(parallel.result).toEqual(main.result);
  });

  property('onEvent returning promises, throwing or rejecting: the same events, the same error, the source closed', async (c) => {
    const r = makeRng(c.seed);
    const text = randomText(r, 0);
    const chunks = chunksOf(text, r, c.mode);
    const count = (await run((s, f) => readCapture(s, f, optionsOf(c, true)), chunks, {})).events.length;
    const behaviour: Behaviour = { promises: r.next() < 0.7, ...(count > 0 && r.next() < 0.7 ? { failAt: r.int(0, count - 1), asyncFail: r.next() < 0.5 } : {}) };
    const [main, parallel] = await compare(chunks, optionsOf(c, true), c.pieceSize, c.workers, behaviour);
    expect(parallel.events).toEqual(main.events);
    expect(parallel.result).toEqual(main.result);
    if (behaviour.failAt !== undefined) {
      expect((main.result as { message: string }).message).toMatch(/onEvent failed/);
      // The source is closed (the pump closes it once it has control). readCapture() leaves a
      // source it has read to the end as it is when onEvent fails on the last, unterminated line.
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (main.returned) expect(parallel.returned).toBe(true);
    }
  });

  it('many other-event names: the same 50 listed, admitted in the same order across pieces', async () => {
    const r = makeRng(rng.int(0, 2 ** 30));
    const lines: string[] = [];
    // 1500 names (more than the 1000 a read counts), some frequent, many first seen late.
    for (let i = 0; i < 6000; i++) lines.push(`  a-1 [000] .....   1.000000: ${r.next() < 0.3 ? `hot${r.int(0, 60)}` : `cold${r.int(0, 1500)}`}: x=1`);
    const text = lines.join('\n');
    for (const mode of ['strings', 'bytes'] as const) {
      const [main, parallel] = await compare(chunksOf(text, r, mode), {}, r.int(50, 3000), 2);
      expect(parallel.result).toEqual(main.result);
      expect(Object.keys((parallel.result as { otherByName: object }).otherByName)).toEqual(Object.keys((main.result as { otherByName: object }).otherByName));
    }
  });

  it('other-event names: a piece counts every name it sees, the merge admits the first 1000 as one read does', async () => {
    // Pieces of known extent: chunks that end at a newline and hold PIECE..2*PIECE characters are one piece each.
    const PIECE = 100_000;
    const line = (name: string) => `  a-1 [000] .....   1.000000: ${name}: x=1`;
    const chunkOf = (names: () => string): string => {
      const lines: string[] = [];
      let length = 0;
      while (length < PIECE) { const l = line(names()); lines.push(l); length += l.length + 1; }
      return lines.join('\n') + '\n';
    };
    const r = makeRng(rng.int(0, 2 ** 30));
    let b = 0;
    // 100 names; then 1200 new ones (the read stops admitting after 1000) and the first 100 again;
    // then 21 frequent new names, too late to be counted.
    const chunks = [chunkOf(() => `a${r.int(0, 99)}`), chunkOf(() => (b < 1200 ? `b${b++}` : `a${r.int(0, 99)}`)), chunkOf(() => `c${r.int(0, 20)}`)];
    for (const bytes of [false, true]) {
      const given = bytes ? chunks.map((c) => new Uint8Array(Buffer.from(c))) : chunks;
      const [main, parallel] = await compare(given, {}, PIECE, 2);
      expect(parallel.result).toEqual(main.result);
      expect(Object.keys((parallel.result as { otherByName: object }).otherByName)).toEqual(Object.keys((main.result as { otherByName: object }).otherByName));
    }
  });

  it('strings and bytes mixed, bytes cut inside characters just before a string: the text of the one decoder', async () => {
    const SHORT = ['é', '😀 x', '#é', '\uFEFF#', 'naïve — café', '', ...benchLines.slice(0, 3)];
    const seed = rng.int(0, 2 ** 31 - 1);
    console.log(`[trace-parallel-parse] mixed chunks: fast-check seed ${seed}`);
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 24 }), async (s, pieceSize) => {
      const r = makeRng(s);
      const lines = Array.from({ length: r.int(5, 80) }, () => r.pick(SHORT));
      const bytes = Buffer.from(lines.join('\n'));
      const chunks: Chunk[] = [];
      for (let at = 0; at < bytes.length;) {
        const n = r.int(1, 12);
        const part = bytes.subarray(at, at + n);
        chunks.push(r.next() < 0.5 ? part.toString('utf8') : new Uint8Array(part));
        at += n;
      }
      const [main, parallel] = await compare(chunks, {}, pieceSize, 2);
      expect(parallel.events).toEqual(main.events);
      expect(parallel.result).toEqual(main.result);
    }), { seed, numRuns: 60, endOnFailure: true });
  }, 120_000);

  it('a line longer than MAX_TRACE_LINE: the same ERR_TRACE_PARSE at its line, after the events before it', async () => {
    const head = benchLines.slice(0, 200).join('\n') + '\n';
    const long = 'x'.repeat(MAX_TRACE_LINE + 1);
    for (const [tail, mode] of [['\n' + benchLines.slice(0, 50).join('\n'), 'bytes'], ['', 'strings'], ['\n', 'bytes']] as const) {
      const text = head + long + tail;
      const r = makeRng(rng.int(0, 2 ** 30));
      const data = mode === 'bytes' ? Buffer.from(text) : text;
      const chunks: Chunk[] = [];
      for (let at = 0; at < data.length;) {
        const n = r.int(1, 2 ** 20);
        chunks.push(typeof data === 'string' ? data.slice(at, at + n) : new Uint8Array(data.subarray(at, at + n)));
        at += n;
      }
      const [main, parallel] = await compare(chunks, {}, r.int(1000, 100_000), 2);
      expect((main.result as { code: string; line: number }).code).toBe('ERR_TRACE_PARSE');
      expect((main.result as { line: number }).line).toBe(201);
      expect(parallel.result).toEqual(main.result);
      expect(parallel.events).toEqual(main.events);
      expect(parallel.returned).toBe(true);
    }
    // A line of exactly the limit is read.
    const exact = head + 'y'.repeat(MAX_TRACE_LINE) + '\n' + benchLines[0];
    const [main, parallel] = await compare([exact], {}, 4096, 2);
    expect((main.result as { lines: number }).lines).toBe(202);
    expect(parallel.result).toEqual(main.result);
  }, 60_000);

  it('a source that fails or yields a number mid-piece or between pieces: the same error after the same events', async () => {
    const text = benchLines.join('\n') + '\n';
    for (let round = 0; round < 12; round++) {
      const r = makeRng(rng.int(0, 2 ** 30));
      const bytes = Buffer.from(text);
      const cut = round % 2 === 0 ? r.int(1, bytes.length - 1) : bytes.indexOf(0x0a, r.int(0, bytes.length - 2)) + 1; // inside a line, or just after one
      const kind = round % 4 < 2 ? 'throw' : 'number';
      const failing = (): Source => {
        const source = {
          returned: false,
          async *[Symbol.asyncIterator]() {
            try {
              for (let at = 0; at < cut; at += 700) yield bytes.subarray(at, Math.min(at + 700, cut));
              if (kind === 'throw') throw new Error('disk on fire');
              yield 42 as unknown as Uint8Array;
            } finally {
              source.returned = true;
            }
          },
        };
        return source;
      };
      const outcomes: Outcome[] = [];
      for (const read of [(s: Source, f: (e: TraceEvent, n: number) => void) => readCapture(s, f), (s: Source, f: (e: TraceEvent, n: number) => void) => readCaptureInPieces(s, f, { workers: 2 }, r.int(1, 3000))]) {
        const events: [TraceEvent, number][] = [];
        const error = await read(failing(), (e, n) => { events.push([e, n]); }).then(() => undefined, (e: { code: string; message: string }) => ({ code: e.code, message: e.message }));
        outcomes.push({ events, result: error, returned: false });
      }
      expect(outcomes[0]!.result).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      expect(outcomes[1]).toEqual(outcomes[0]);
    }
  });

  it('two workers on a generated capture of a few MiB (real piece size): the same events and summary', async () => {
    const parts: string[] = [];
    generateCapture(40_000, (t: string) => parts.push(t));
    const bytes = Buffer.from(parts.join(''));
    const chunks: Chunk[] = [];
    for (let at = 0; at < bytes.length; at += 65536) chunks.push(new Uint8Array(bytes.subarray(at, at + 65536)));
    let lastLine = 0;
    let count = 0;
    const progress: number[] = [];
    const summary = await readCaptureInWorker(sourceOf(chunks), (_e, n) => { expect(n).toBeGreaterThan(lastLine); lastLine = n; count++; }, { workers: 2, onProgress: (n) => progress.push(n) });
    const reference = await readCapture(sourceOf(chunks), () => {});
    expect(summary).toEqual(reference);
    expect(count).toBe(reference.events);
    // Progress: rising byte counts, many of them, ending at the total.
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.length).toBeGreaterThan(10);
    expect(progress.at(-1)).toBe(summary.bytes);
    expect(bytes.length).toBeGreaterThan(3 * 2 ** 20);
  });
});

describe('bounded memory', () => {
  it('an onEvent that waits: the workers take at most a few MiB of text each ahead of it', async () => {
    const block = Buffer.from(benchLines.join('\n') + '\n');
    for (const workers of [2, 4]) {
      let pulled = 0;
      const source = {
        returned: false,
        [Symbol.asyncIterator]: () => ({
          next: async () => { pulled += block.length; return { done: false, value: block }; },
          return: async () => { source.returned = true; return { done: true, value: undefined }; },
        }),
      };
      let release: (error: Error) => void = () => {};
      const held = new Promise<void>((_resolve, reject) => { release = reject; });
      const read = readCaptureInWorker(source as unknown as AsyncIterable<Uint8Array>, () => held, { workers });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const ahead = pulled;
      release(new Error('stop'));
      await expect(read).rejects.toThrow('stop');
      // Per worker: 4 MiB of text sent and not taken, a piece being cut, the chunk its parser holds.
      expect(ahead).toBeGreaterThan(2 ** 20);
      expect(ahead).toBeLessThan(workers * 7 * 2 ** 20);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(source.returned).toBe(true);
    }
  });
});

describe('the workers option', () => {
  it('is an integer 1..8; readCapture() has no such option', async () => {
    const text = benchLines.slice(0, 10).join('\n');
    for (const workers of [0, 9, 1.5, -1, Number.NaN, '2', null]) {
      await expect(readCaptureInWorker(sourceOf([text]), () => {}, { workers } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.workers' });
    }
    await expect(readCapture(sourceOf([text]), () => {}, { workers: 2 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.workers' });
    for (const workers of [1, 8]) expect((await readCaptureInWorker(sourceOf([text]), () => {}, { workers })).lines).toBe(10);
  });

  it.skipIf(!existsSync('/proc/self/task'))('leaves no worker thread behind, whichever way the read settles', async () => {
    const threads = () => readdirSync('/proc/self/task').length;
    const text = benchLines.join('\n');
    await readCaptureInWorker(sourceOf([text]), () => {}, { workers: 3 }); // the libuv pool and the like start now
    const before = threads();
    await readCaptureInWorker(sourceOf([text]), () => {}, { workers: 4 });
    await expect(readCaptureInWorker(sourceOf([text + '\n' + MALFORMED]), () => {}, { workers: 4 })).rejects.toMatchObject({ code: 'ERR_TRACE_PARSE' });
    await expect(readCaptureInWorker(sourceOf([text]), () => { throw new Error('no'); }, { workers: 4 })).rejects.toThrow('no');
    expect(threads()).toBe(before);
  });
});
