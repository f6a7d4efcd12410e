// readCaptureInWorker(): the lines parsed on a worker thread, the events handed to onEvent here.
// Against readCapture() on the same text, cut into random chunks (strings or bytes): the same
// events with the same line numbers in the same order, the same summary, the same errors after
// the same events; onEvent's own failure closes the source; a replay parsed in a worker gives the
// result the sequential one gives.
import { createReadStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCapture, replayCapture, type TraceEvent } from '../dist/src/index.js';
import { readCaptureInWorker } from '../dist/src/trace/capture-in-worker.js';
import { EventDecoder, EventEncoder } from '../dist/src/trace/event-codec.js';
import { generateCapture } from '../dist/bench/trace/capture.js';
import { makeRng, testRng, type Rng } from './support/random.js';
import { runWorkload } from './support/trace-workload.js';

const rng = testRng('trace-capture-worker');
const FIXTURES = new URL('./fixtures/traces/', import.meta.url);

describe('an onEvent that fails on the last line, which has no newline', () => {
  it('closes the source in both readers, as on every other line', async () => {
    const lines = generateText(300).trimEnd().split('\n');
    while (!/: (dma|swiotlb)_/.test(lines.at(-1)!)) lines.pop(); // end on a dma/swiotlb event
    const text = lines.join('\n'); // no newline after the last line
    for (const read of [readCapture, readCaptureInWorker]) {
      for (const bytes of [false, true]) {
        const failure = new Error('onEvent failed on the last line');
        let last = 0;
        let events = 0;
        const outcome = await read(chunked(text, rng, bytes), (_e, line) => { events++; last = line; }).catch((e: unknown) => e);
        expect(outcome).toMatchObject({ lines: lines.length });
        expect(last).toBe(lines.length); // the last line is an event line
        // Again, failing on the last event (the capture's last line is one).
        const again = chunked(text, rng, bytes);
        await expect(read(again, (_e, line) => { if (line === last) throw failure; })).rejects.toBe(failure);
        expect(events).toBeGreaterThan(0);
        await new Promise((r) => setTimeout(r, 20));
        expect(again.returned).toBe(true);
      }
    }
  });
});

// Text cut at random places (inside lines, inside multi-byte characters), as strings or bytes.
function chunked(text: string, r: Rng, bytes: boolean): AsyncIterable<string | Uint8Array> & { returned: boolean } {
  const data = bytes ? Buffer.from(text) : text;
  const pieces: (string | Uint8Array)[] = [];
  for (let at = 0; at < data.length;) {
    const n = r.int(1, Math.max(1, Math.floor(data.length / r.int(1, 40))));
    pieces.push(typeof data === 'string' ? data.slice(at, at + n) : data.subarray(at, at + n));
    at += n;
  }
  const source = {
    returned: false,
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        next: async () => (i < pieces.length ? { done: false, value: pieces[i++]! } : { done: true, value: undefined }),
        return: async () => { source.returned = true; return { done: true, value: undefined }; },
      };
    },
  };
  return source as AsyncIterable<string | Uint8Array> & { returned: boolean };
}

type Seen = { events: [TraceEvent, number][]; outcome: unknown };

async function both(text: string, options: Parameters<typeof readCapture>[2] = {}, onEvent?: (e: TraceEvent, n: number, i: number) => void | Promise<void>): Promise<[Seen, Seen]> {
  const seen: Seen[] = [];
  const bytes = rng.next() < 0.5;
  const seed = rng.int(0, 2 ** 30);
  for (const read of [readCapture, readCaptureInWorker]) {
    const events: [TraceEvent, number][] = [];
    const local = makeRng(seed); // the same cuts for both readers
    let outcome: unknown;
    try {
      outcome = await read(chunked(text, local, bytes), (e, n) => { events.push([e, n]); return onEvent?.(e, n, events.length - 1); }, options);
    } catch (error) {
      const e = error as { code?: string; message?: string; line?: number; column?: number; event?: string };
      outcome = { code: e.code, message: e.message, line: e.line, column: e.column, event: e.event };
    }
    seen.push({ events, outcome });
  }
  return [seen[0]!, seen[1]!];
}

// A random capture: the model's own trace of a random workload, other events, comments, blank and CRLF lines.
async function randomCapture(): Promise<string> {
  const outcome = await runWorkload(rng, { steps: rng.int(50, 300), swiotlb: '512KiB', p2pPolicy: rng.pick(['bounce', 'reject'] as const) });
  const lines: string[] = [];
  for (const line of outcome.lines) {
    const r = rng.next();
    if (r < 0.05) lines.push('# tracer: nop');
    else if (r < 0.08) lines.push('');
    else if (r < 0.12) lines.push(`          <idle>-0       [001] d.h1.  ${(1000 + rng.next()).toFixed(6)}: irq_handler_entry: irq=30 name=nvme0q1 é`);
    lines.push(rng.next() < 0.1 ? line + '\r' : line);
  }
  return lines.join('\n') + (rng.next() < 0.5 ? '\n' : '');
}

describe('readCaptureInWorker against readCapture', () => {
  it('the same events, lines and summary for random captures in random chunks', async () => {
    for (let round = 0; round < 6; round++) {
      const text = await randomCapture();
      const [main, worker] = await both(text, { lenient: rng.next() < 0.5 });
      expect(main.events.length).toBeGreaterThan(20);
      expect(worker.events).toEqual(main.events);
      expect(worker.outcome).toEqual(main.outcome);
    }
  });

  it('the real and hand-written fixtures, with the first pass filter (only, prefilter) and progress', async () => {
    for (const name of ['real-qemu-edu-swiotlb.trace', 'handwritten-ftrace.trace', 'handwritten-trace-cmd.trace', 'handwritten-p2p-6.18.trace', 'real-arm-cca-realm-trace-pipe.trace']) {
      const text = readFileSync(new URL(name, FIXTURES), 'utf8');
      const only = new Set(['dma_map_phys', 'dma_map_page', 'dma_map_sg', 'swiotlb_bounced']);
      const [main, worker] = await both(text, { lenient: true, only, prefilter: ['dma_map_', 'swiotlb_bounced'] });
      expect(worker.events, name).toEqual(main.events);
      expect(worker.outcome, name).toEqual(main.outcome);
    }
    // onProgress: rising byte counts ending at the total.
    const text = generateText(3000);
    const progress: number[] = [];
    const summary = await readCaptureInWorker(chunked(text, rng, true), () => {}, { onProgress: (n) => progress.push(n) });
    expect(progress.at(-1)).toBe(summary.bytes);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('a malformed line: ERR_TRACE_PARSE with its line, after every event before it', async () => {
    const text = await randomCapture();
    const lines = text.split('\n');
    const at = rng.int(5, lines.length - 2);
    lines.splice(at, 0, '             fio-4242    [003] .....  1000.000001: dma_map_phys: 0000:04:00.0 dir=SIDEWAYS dma_addr=1 size=1 phys_addr=1 attrs=');
    const [main, worker] = await both(lines.join('\n'));
    expect((main.outcome as { code: string }).code).toBe('ERR_TRACE_PARSE');
    expect((main.outcome as { line: number }).line).toBe(at + 1);
    expect(worker.outcome).toEqual(main.outcome);
    expect(worker.events).toEqual(main.events);
  });

  it('an onEvent that throws (or rejects) stops the read there and closes the source', async () => {
    const text = generateText(20000);
    const stopAt = rng.int(0, 15000);
    // A finite source (read whole before the failure) and an endless one (read while it happens).
    const endless = () => {
      const block = Buffer.from(text);
      const source = {
        returned: false,
        [Symbol.asyncIterator]: () => ({
          next: async () => ({ done: false, value: block }),
          return: async () => { source.returned = true; return { done: true, value: undefined }; },
        }),
      };
      return source as unknown as ReturnType<typeof chunked>;
    };
    for (const [async, source] of [[false, chunked(text, rng, true)], [true, chunked(text, rng, false)], [false, endless()], [true, endless()]] as const) {
      const seen: number[] = [];
      const failure = new Error('onEvent failed');
      await expect(readCaptureInWorker(source, (_e, line) => {
        seen.push(line);
        if (seen.length - 1 === stopAt) { if (async) return Promise.reject(failure); throw failure; }
        return async ? Promise.resolve() : undefined;
      })).rejects.toBe(failure);
      expect(seen).toHaveLength(stopAt + 1);
      // The source is closed now or when its pending read returns.
      await new Promise((r) => setTimeout(r, 50));
      expect(source.returned).toBe(true);
    }
  });

  it('a source that fails, yields a number, or is no source: ERR_INVALID_ARGUMENT as readCapture says it', async () => {
    const text = generateText(5000);
    const half = Buffer.from(text).subarray(0, Math.floor(text.length / 2));
    const failing = (kind: 'throw' | 'number') => ({
      async *[Symbol.asyncIterator]() {
        yield half;
        if (kind === 'throw') throw new Error('disk on fire');
        yield 42 as unknown as Uint8Array;
      },
    });
    for (const kind of ['throw', 'number'] as const) {
      const outcomes = [];
      for (const read of [readCapture, readCaptureInWorker]) {
        const events: number[] = [];
        const error = await read(failing(kind), (_e, line) => { events.push(line); }).then(() => undefined, (e: { code: string; message: string }) => e);
        outcomes.push({ code: error?.code, message: error?.message, events });
      }
      expect(outcomes[1]).toEqual(outcomes[0]);
      expect(outcomes[0]!.code).toBe('ERR_INVALID_ARGUMENT');
    }
    await expect(readCaptureInWorker(42 as never, () => {})).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'source' });
    await expect(readCaptureInWorker(chunked(text, rng, false), 'x' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'onEvent' });
  });
});

describe('the event codec', () => {
  it('every event decodes to the object the parser made, strings numbered across batches', async () => {
    const outcome = await runWorkload(rng, { steps: 300, swiotlb: '512KiB', p2pPolicy: 'bounce' });
    const events: [TraceEvent, number][] = [];
    await readCapture(chunked(outcome.lines.join('\n'), rng, false), (e, n) => { events.push([e, n]); });
    // Coherent events and huge SG lists too (the encoder grows its buffer).
    events.push([{ type: 'coherent', name: 'dma_alloc', ts: 1.5, cpu: 3, device: 'd4280800.sdh' }, 99999]);
    const many = Array.from({ length: 70000 }, () => rng.int(0, 2 ** 52));
    events.push([{ type: 'unmap_sg', ts: 2, cpu: 0, device: '0000:04:00.0', dir: 1, physAddrs: many, attrs: 0 }, 100000]);
    const encoder = new EventEncoder();
    const decoder = new EventDecoder();
    const out: [TraceEvent, number][] = [];
    for (const [e, n] of events) {
      encoder.push(e, n);
      if (rng.next() < 0.1) {
        decoder.begin(encoder.take());
        for (let d = decoder.next(); d; d = decoder.next()) out.push([d, decoder.line]);
      }
    }
    decoder.begin(encoder.take());
    for (let d = decoder.next(); d; d = decoder.next()) out.push([d, decoder.line]);
    expect(out).toEqual(events);
    // Field order too (the objects keep one shape per kind).
    expect(out.map(([e]) => Object.keys(e).join())).toEqual(events.map(([e]) => Object.keys(e).join()));
  });
});

describe('replay with the runs parsed in a worker', () => {
  it('gives the result of the sequential replay; parseInWorker must be a boolean', async () => {
    const file = writeCapture(30000);
    const open = () => createReadStream(file, { highWaterMark: 1 << 16 });
    const configs = [{ swiotlb: '256KiB', forceBounce: true }, { swiotlb: '64MiB' }];
    const sequential = await replayCapture(open, configs, { parseInWorker: false });
    const parallel = await replayCapture(open, configs, { parseInWorker: true });
    expect(parallel).toEqual(sequential);
    expect(sequential.runs[0]!.total.calls).toBeGreaterThan(20000);
    expect(sequential.runs[0]!.pool.fullEvents).toBeGreaterThan(0);
    await expect(replayCapture(open, configs, { parseInWorker: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'parseInWorker' });
  });
});

function generateText(events: number): string {
  const parts: string[] = [];
  generateCapture(events, (t: string) => parts.push(t));
  return parts.join('');
}

function writeCapture(events: number): string {
  const file = join(mkdtempSync(join(tmpdir(), 'dma-bounce-capture-worker-')), 'capture.trace');
  writeFileSync(file, generateText(events));
  return file;
}
