// The readers' options are read once and checked before anything is read: readCapture() and the
// worker reader refuse the same bad options with the same coded error, a getter is read once, and a
// Set changed after the call cannot change what is parsed.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readCapture } from '../dist/src/index.js';
import { readCaptureInWorker } from '../dist/src/trace/capture-in-worker.js';
import { testRng } from './support/random.js';

const rng = testRng('trace-capture-options');
const line = (i: number, name: string) => `  nvme-${i} [000] .....  ${(100 + i / 1000).toFixed(6)}: ${name}: 0000:04:00.0 dir=TO_DEVICE dma_addr=${(0x1000 * (i + 1)).toString(16)} size=4096 attrs=\n`;
const readers = [['readCapture', readCapture], ['readCaptureInWorker', readCaptureInWorker]] as const;
const any = (v: unknown) => v as never;

describe('capture options', () => {
  for (const [name, read] of readers) {
    it(`${name}: bad options are refused with the option's name, before the source is read`, async () => {
      const cases: [unknown, string][] = [
        [null, 'options'], [[], 'options'], [{ lenent: true }, 'options.lenent'], [{ lenient: 'yes' }, 'options.lenient'],
        [{ onProgress: 5 }, 'options.onProgress'], [{ only: 'dma_unmap_phys' }, 'options.only'], [{ only: new Set([42]) }, 'options.only'],
        [{ only: ['dma_unmap_pyhs'] }, 'options.only'], [{ prefilter: [1] }, 'options.prefilter'], [{ prefilter: [''] }, 'options.prefilter'],
      ];
      for (const [options, argument] of cases) {
        let pulled = 0;
        const source = (async function* () { pulled++; yield line(0, 'dma_unmap_phys'); })();
        await expect(read(source, () => {}, any(options))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument });
        expect(pulled, `${JSON.stringify(options)}: nothing read`).toBe(0);
      }
    });

    it(`${name}: options are read once; a Set changed after the call changes nothing`, async () => {
      const n = rng.int(20, 200);
      const names = Array.from({ length: n }, () => (rng.int(0, 1) === 0 ? 'dma_unmap_phys' : 'dma_unmap_page'));
      const text = names.map((e, i) => line(i, e)).join('');
      let reads = 0;
      const only = new Set(['dma_unmap_phys']);
      const options = { get only() { reads++; return only; } };
      const seen: number[] = [];
      const done = read(Readable.from([text]), (_event, lineNo) => { seen.push(lineNo); }, options);
      only.add('dma_unmap_page'); // after the call: not what it parses
      await done;
      expect(reads).toBe(1);
      const want = names.flatMap((e, i) => (e === 'dma_unmap_phys' ? [i + 1] : []));
      expect(seen).toEqual(want);
    });
  }

  it('a source is read by one call at a time: a second read while the first runs is refused and takes nothing from it', async () => {
    const n = rng.int(50, 500);
    const text = Array.from({ length: n }, (_, i) => line(i, 'dma_unmap_phys')).join('');
    for (const [first, second] of [[readCapture, readCapture], [readCaptureInWorker, readCapture], [readCapture, readCaptureInWorker]] as const) {
      const source = Readable.from([text.slice(0, text.length >> 1), text.slice(text.length >> 1)]);
      const events: number[] = [];
      const reading = first(source, (_e, lineNo) => { events.push(lineNo); });
      await expect(second(source, () => {})).rejects.toMatchObject({ code: 'ERR_INVALID_STATE', state: 'reading', argument: 'source' });
      expect((await reading).events).toBe(n);
      expect(events).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      // Once the first read has settled the source may be read again (an ended stream holds nothing).
      await expect(readCapture(source, () => {})).resolves.toMatchObject({ events: 0 });
    }
  });
});
