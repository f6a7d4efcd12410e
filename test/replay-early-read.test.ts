// The first run's read starts on a worker while the scan still reads the capture (early-read.ts):
// the result is the sequential replay's, progress still reports the passes in order, and a
// replay that fails before its first run (a malformed line, a capture too large for the model, a
// failing source) rejects as before and leaves no worker thread behind.
import { createReadStream, existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { replayCapture } from '../dist/src/index.js';
import { EarlyRead } from '../dist/src/replay/early-read.js';
import { generateCapture } from '../dist/bench/trace/capture.js';
import { testRng } from './support/random.js';

const rng = testRng('replay-early-read');
const MAP = (ts: string, phys: number, size: number) => `  fio-1 [000] ..... ${ts}: dma_map_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=${phys.toString(16)} size=${size} phys_addr=${phys.toString(16)} attrs=`;

function capture(events: number, extra = ''): { file: string; bytes: number } {
  const parts: string[] = [];
  generateCapture(events, (t: string) => parts.push(t));
  // A random point of the capture gets the extra lines (at a line boundary).
  const text = parts.join('');
  const cut = text.indexOf('\n', Math.floor(rng.next() * text.length)) + 1;
  const file = join(mkdtempSync(join(tmpdir(), 'dma-bounce-early-read-')), 'capture.trace');
  writeFileSync(file, text.slice(0, cut) + extra + text.slice(cut));
  return { file, bytes: statSync(file).size };
}

const threads = () => readdirSync('/proc/self/task').length;

describe('the first run read ahead while the scan runs', () => {
  it('gives the sequential result, and progress passes in order up to the whole capture', async () => {
    const { file, bytes } = capture(20000);
    const open = () => createReadStream(file, { highWaterMark: 1 << 14 });
    const configs = [{ swiotlb: '256KiB', forceBounce: true }, { swiotlb: '1MiB' }, { swiotlb: '64MiB' }];
    const sequential = await replayCapture(open, configs, { parseInWorker: false });
    const seen: [number, number][] = [];
    const early = await replayCapture(open, configs, { parseInWorker: true, onProgress: (pass, n) => seen.push([pass, n]) });
    expect(early).toEqual(sequential);
    expect(sequential.runs[0]!.pool.fullEvents).toBeGreaterThan(0);
    // Passes in order, bytes rising within each, every pass to the end.
    for (let i = 1; i < seen.length; i++) {
      const [pass, n] = seen[i]!;
      const [prevPass, prevN] = seen[i - 1]!;
      expect(pass).toBeGreaterThanOrEqual(prevPass);
      if (pass === prevPass) expect(n).toBeGreaterThanOrEqual(prevN);
    }
    for (const pass of [0, 1, 2, 3]) expect(Math.max(...seen.filter(([p]) => p === pass).map(([, n]) => n))).toBe(bytes);
  });

  it('hands its events to one run: a second start() is ERR_INVALID_STATE', async () => {
    const early = new EarlyRead(Readable.from([`${MAP('1.0', 0x1000, 64)}\n${MAP('1.1', 0x2000, 64)}\n`]), false);
    const lines: number[] = [];
    const done = early.start((_e, line) => { lines.push(line); }, undefined);
    expect(() => early.start(() => {}, undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect((await done).events).toBe(2);
    expect(lines).toEqual([1, 2]);
  });

  it.skipIf(!existsSync('/proc/self/task'))('a replay that fails before its first run rejects as before, with no worker left', async () => {
    const good = capture(5000);
    await replayCapture(() => createReadStream(good.file), [{}], { parseInWorker: true }); // threads Node starts once start now
    const before = threads();
    // A malformed dma: line, somewhere in the capture.
    const bad = capture(5000, '  fio-1 [000] ..... 1000.5: dma_map_phys: 0000:04:00.0 dir=SIDEWAYS\n');
    for (const parseInWorker of [true, undefined]) {
      const error = await replayCapture(() => createReadStream(bad.file), [{}], { parseInWorker }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_TRACE_PARSE', event: 'dma_map_phys' });
    }
    // More distinct memory than the model's 4 GiB can give: the plan fails after the scan.
    const huge = capture(5000, `${MAP('1000.6', 0x10_0000_0000, 0xf000_0000)}\n${MAP('1000.7', 0x20_0000_0000, 0xf000_0000)}\n`);
    await expect(replayCapture(() => createReadStream(huge.file), [{}], { parseInWorker: true })).rejects.toMatchObject({ code: 'ERR_TRACE_REPLAY' });
    // A source that fails partway (the scan's and the early read's alike).
    let opened = 0;
    const failing = () => {
      opened++;
      return Readable.from((async function* () {
        yield `${MAP('1.0', 0x1000, 64)}\n`;
        throw new Error('disk gone');
      })());
    };
    await expect(replayCapture(failing, [{}], { parseInWorker: true })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'source' });
    expect(opened).toBe(2); // the scan's source and the early read's
    await new Promise((resolve) => setTimeout(resolve, 50)); // a terminated thread leaves /proc a moment later
    expect(threads()).toBe(before);
  });
});
