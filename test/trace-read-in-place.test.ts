// readCapture() reads each line in place inside its chunk (no substring per line): whatever the
// chunking, every line parses as it would alone (same event, same error column), the prefilter
// passes the lines that hold its strings and no others, also when chunks repeat the same text.
import { describe, expect, it } from 'vitest';
import { readCapture, TraceLineParser, type TraceEvent } from '../dist/src/index.js';
import { testRng } from './support/random.js';
import { runWorkload } from './support/trace-workload.js';

const rng = testRng('trace-read-in-place');

function source(pieces: readonly string[]): AsyncIterable<string> {
  return { async *[Symbol.asyncIterator]() { yield* pieces; } };
}

function cut(text: string): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length;) {
    const n = rng.int(1, rng.next() < 0.3 ? 40 : 4000);
    out.push(text.slice(at, at + n));
    at += n;
  }
  return out;
}

// What readCapture must give: each line parsed alone.
function alone(text: string, prefilter?: readonly string[]): { events: [TraceEvent, number][]; filtered: number } {
  const parser = new TraceLineParser();
  const events: [TraceEvent, number][] = [];
  let filtered = 0;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    if (prefilter && !prefilter.some((w) => line.includes(w))) {
      filtered++;
      return;
    }
    const e = parser.parse(line, i + 1);
    if (e) events.push([e, i + 1]);
  });
  return { events, filtered };
}

describe('lines read in place', () => {
  it('any chunking gives the events of the lines parsed alone; the prefilter passes exactly the lines holding its strings', async () => {
    const outcome = await runWorkload(rng, { steps: 300, swiotlb: '512KiB', p2pPolicy: 'bounce' });
    // Mixed in: other events, CRLF ends, and a prefilter string that is rare (one line in many).
    const lines = outcome.lines.flatMap((l) => (rng.next() < 0.2 ? [`   <idle>-0   [001] d.h1.  ${(2000 + rng.next()).toFixed(6)}: irq_handler_entry: irq=30 name=nvme0q1`, l] : [l]));
    const text = lines.map((l) => (rng.next() < 0.1 ? l + '\r' : l)).join('\n') + '\n';
    for (const prefilter of [undefined, ['dma_map_', 'swiotlb_bounced'], ['dma_unmap_sg'], ['nothing-has-this'], ['\n']]) {
      const expected = alone(text, prefilter);
      const events: [TraceEvent, number][] = [];
      const summary = await readCapture(source(cut(text)), (e, n) => { events.push([e, n]); }, prefilter ? { prefilter } : {});
      expect(events, String(prefilter)).toEqual(expected.events);
      expect(summary.filtered, String(prefilter)).toBe(expected.filtered);
    }
  });

  it('byte chunks of up to 1 MiB, decoded in pieces: lines and multi-byte characters across piece ends arrive whole', async () => {
    const outcome = await runWorkload(rng, { steps: 400, swiotlb: '512KiB', p2pPolicy: 'bounce' });
    // Comments of multi-byte characters (2, 3 and 4 bytes in UTF-8) and long other-event lines, so
    // that piece ends fall inside characters and inside lines.
    const wide = ['é', '€', '🚀', 'ß'];
    const lines = outcome.lines.flatMap((l) => (rng.next() < 0.3 ? [`# ${Array.from({ length: rng.int(1, 3000) }, () => wide[rng.int(0, 3)]).join('')}`, l] : [l]));
    let text = lines.join('\n') + '\n';
    while (Buffer.byteLength(text) < 200 * 1024) text += text; // several 64 KiB pieces
    const expected = alone(text);
    const bytes = Buffer.from(text, 'utf8');
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length;) {
      const n = rng.int(1, rng.next() < 0.5 ? 1 << 20 : 70000);
      chunks.push(bytes.subarray(at, at + n));
      at += n;
    }
    const events: [TraceEvent, number][] = [];
    const summary = await readCapture(source(chunks as never), (e, n) => { events.push([e, n]); });
    expect(events).toEqual(expected.events);
    expect(summary.bytes).toBe(bytes.length);
    expect(summary.lines).toBe(text.split('\n').length - 1);
    expect(summary.comments).toBe(text.split('\n').filter((l) => l.startsWith('#')).length);
  });

  it('chunks that repeat the same text: each chunk is searched on its own', async () => {
    const block = [
      '  fio-1  [000] .....  1.000001: irq_handler_entry: irq=30 name=nvme0q1',
      '  fio-1  [000] .....  1.000002: dma_unmap_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 attrs=',
    ].join('\n') + '\n';
    const repeats = rng.int(3, 9);
    const summary = await readCapture(source(Array.from({ length: repeats }, () => block)), () => {}, { prefilter: ['dma_unmap_'] });
    expect(summary.events).toBe(repeats);
    expect(summary.filtered).toBe(repeats);
  });

  it('a malformed line in the middle of a chunk: the error names its line and the column within it', async () => {
    const good = '  fio-1  [000] .....  1.000002: dma_unmap_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 attrs=';
    const bad = '  fio-1  [000] .....  1.000003: dma_unmap_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=zz size=4096 attrs=';
    const before = rng.int(1, 50);
    const text = [...Array.from({ length: before }, () => good), bad, good].join('\n');
    let lone: unknown;
    try { new TraceLineParser().parse(bad, before + 1); } catch (e) { lone = e; }
    const read = await readCapture(source([text]), () => {}).then(() => undefined, (e: unknown) => e);
    expect(read).toMatchObject({ code: 'ERR_TRACE_PARSE', line: before + 1, column: (lone as { column: number }).column, message: (lone as Error).message });
    expect((lone as { column: number }).column).toBe(bad.indexOf('zz'));
  });
});
