// The capture parser: real captures, hand-written ones in both forms, malformed lines at several
// positions, long lines, chunk boundaries anywhere, and the model's own printer parsed back.
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fc, test as fcTest } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { formatEvent, formatLine, readCapture, TraceLineParser, TRACE_FORMATS, type TraceEvent } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const rng = testRng('trace-parser');
const FIXTURES = new URL('./fixtures/traces/', import.meta.url);

async function parseText(text: string, options: { lenient?: boolean; chunks?: number[] } = {}) {
  const events: { event: TraceEvent; line: number }[] = [];
  // Split the text at the given offsets, so lines span chunks.
  const cuts = [...(options.chunks ?? [])].filter((c) => c > 0 && c < text.length).sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  const bytes = Buffer.from(text, 'utf8');
  let last = 0;
  for (const cut of cuts) {
    pieces.push(bytes.subarray(last, cut));
    last = cut;
  }
  pieces.push(bytes.subarray(last));
  const summary = await readCapture(Readable.from(pieces), (event, line) => { events.push({ event, line }); }, { lenient: options.lenient ?? false });
  return { events, summary };
}

async function parseFile(name: string, lenient = false) {
  const events: TraceEvent[] = [];
  const summary = await readCapture(createReadStream(new URL(name, FIXTURES)), (e) => { events.push(e); }, { lenient });
  return { events, summary };
}

describe('real captures', () => {
  it('the QEMU edu capture: header lines are comments, both bounces parse with their mask, address and size', async () => {
    const { events, summary } = await parseFile('real-qemu-edu-swiotlb.trace');
    expect(summary.comments).toBe(12);
    expect(events).toEqual([
      { type: 'bounced', ts: 285.655295, cpu: 2, device: '0000:00:0a.0', dmaMask: 'ffffffff', devAddr: 0x17c407000, size: 256, force: 'NORMAL' },
      { type: 'bounced', ts: 285.75486, cpu: 2, device: '0000:00:0a.0', dmaMask: 'ffffffff', devAddr: 0x17c407000, size: 256, force: 'NORMAL' },
    ]);
  });

  it('the SpacemiT capture: platform device names, task names holding "-", unpadded columns, an all-ones dev_addr', async () => {
    const { events, summary } = await parseFile('real-spacemit-k1-sdhci.trace');
    expect(summary.events).toBe(12);
    expect(new Set(events.map((e) => e.device))).toEqual(new Set(['d4280800.sdh', 'd4281000.sdh']));
    expect(events.map((e) => e.cpu)).toEqual([0, 0, 6, 6, 6, 6, 6, 5, 5, 5, 5, 0]);
    expect(events.map((e) => (e as { size: number }).size)).toEqual([4, 4, 4096, 4096, 4096, 4096, 4096, 4, 4, 212, 4, 4]);
    expect(events.every((e) => (e as { devAddr: number }).devAddr === -1)).toBe(true);
  });

  it('the Arm CCA trace_pipe lines inside a program log: other text is unrecognised, FORCE and b..2. flags parse', async () => {
    const { events, summary } = await parseFile('real-arm-cca-realm-trace-pipe.trace');
    expect(summary.unrecognised).toBe(2);
    expect(events.map((e) => [e.type, (e as { force?: string }).force, (e as { dmaMask?: string }).dmaMask])).toEqual([['bounced', 'FORCE', 'ffffffffffffffff'], ['bounced', 'FORCE', 'ffffffffffffffff']]);
  });

  it('a format no kernel prints is a coded error naming its line; with lenient it is counted and skipped', async () => {
    await expect(parseFile('not-a-kernel-format.trace')).rejects.toMatchObject({ code: 'ERR_TRACE_PARSE', line: 3, event: 'swiotlb_bounced' });
    const { summary } = await parseFile('not-a-kernel-format.trace', true);
    expect(summary.malformed).toBe(2);
    expect(summary.malformedLines).toEqual([3, 4]);
  });
});

describe('hand-written captures in both forms', () => {
  const expected = (names: { map: string; unmap: string }) => [
    ['bounced', '0000:81:00.0'],
    [names.map, '0000:81:00.0'],
    ['dma_map_sg', '0000:04:00.0'],
    ['dma_sync_single_for_cpu', '0000:81:00.0'],
    ['dma_sync_sg_for_cpu', '0000:04:00.0'],
    [names.unmap, '0000:81:00.0'],
    ['dma_unmap_sg', '0000:04:00.0'],
    [names.map, '0000:81:00.0'],
    ['dma_map_sg_err', '0000:81:00.0'],
    [names.unmap, '0000:04:00.0'],
  ];
  const nameOf = (e: TraceEvent) => ('name' in e ? e.name : e.type === 'bounced' ? 'bounced' : e.type === 'map_sg' ? 'dma_map_sg' : e.type === 'map_sg_err' ? 'dma_map_sg_err' : e.type === 'unmap_sg' ? 'dma_unmap_sg' : e.type === 'sync_single' ? `dma_sync_single_for_${e.target}` : e.type === 'sync_sg' ? `dma_sync_sg_for_${e.target}` : (e as { type: string }).type);

  it('the raw trace form (mainline names and formats)', async () => {
    const { events, summary } = await parseFile('handwritten-ftrace.trace');
    expect(events.slice(0, 10).map((e) => [nameOf(e), e.device])).toEqual(expected({ map: 'dma_map_phys', unmap: 'dma_unmap_phys' }));
    expect(summary.otherEvents).toBe(2);
    expect(summary.otherByName).toEqual({ irq_handler_entry: 1, dma_fence_init: 1 });
    expect(summary.lostEvents).toBe(3);
    const sg = events[2] as Extract<TraceEvent, { type: 'map_sg' }>;
    expect(sg).toMatchObject({ nents: 2, ents: 2, truncated: false, dmaAddrs: [0x10003000, 0x10005000], sizes: [0x1000, 0x800], attrs: (1 << 5) | (1 << 8), dir: 2 });
    expect(events[7]).toMatchObject({ type: 'map', dmaAddr: -1, size: 262145, physAddr: 0x100200000, dir: 0 });
    expect(events[8]).toMatchObject({ type: 'map_sg_err', err: -5, physAddrs: [0x100300000] });
    expect(events[10]).toMatchObject({ device: '0000:c1:00.0', attrs: 1 << 1 });
  });

  it('the trace-cmd report form (6.12 names, old dma_map_sg), with a perf script line and a [FAILED TO PARSE] one', async () => {
    const { events, summary } = await parseFile('handwritten-trace-cmd.trace');
    expect(events.slice(0, 10).map((e) => [nameOf(e), e.device])).toEqual(expected({ map: 'dma_map_page', unmap: 'dma_unmap_page' }));
    expect(events[2]).toMatchObject({ type: 'map_sg', nents: 2, ents: 2, sizes: [0x1000, 0x800] });
    expect(events[10]).toMatchObject({ type: 'map', name: 'dma_map_page', device: '0000:c1:00.0', cpu: 2 });
    expect(summary.failedToParse).toBe(1);
    expect(summary.comments).toBe(2);
    expect(summary.otherEvents).toBe(2);
  });

  it('both forms describe the same calls with the same fields', async () => {
    const a = (await parseFile('handwritten-ftrace.trace')).events.slice(0, 10);
    const b = (await parseFile('handwritten-trace-cmd.trace')).events.slice(0, 10);
    const strip = (e: TraceEvent) => { const { name: _n, ...rest } = e as TraceEvent & { name?: string }; return rest; };
    expect(b.map(strip)).toEqual(a.map(strip));
  });
});

describe('malformed lines', () => {
  const good = '  node-1 [000] .....   1.000001: dma_map_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=1000 size=16 phys_addr=1000 attrs=';
  const bad = [
    '  node-1 [000] .....   1.000002: dma_map_phys: 0000:04:00.0 dir=SIDEWAYS dma_addr=1000 size=16 phys_addr=1000 attrs=',
    '  node-1 [000] .....   1.000002: dma_map_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=10g0 size=16 phys_addr=1000 attrs=',
    '  node-1 [000] .....   1.000002: dma_map_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=1000 size=16',
    '  node-1 [000] .....   1.000002: dma_map_sg: 0000:04:00.0 dir=TO_DEVICE dma_addrs={0x1000,0x2000} sizes={0x10} phys_addrs={0x1000,0x2000} attrs=',
    '  node-1 [000] .....   1.000002: dma_map_sg: 0000:04:00.0 dir=TO_DEVICE nents=3/3 ents=2/2 dma_addrs={0x1000,0x2000} sizes={0x10,0x10} phys_addrs={0x1000,0x2000} attrs=',
    '  node-1 [000] .....   1.000002: dma_unmap_sg: 0000:04:00.0 dir=TO_DEVICE phys_addrs={0x1000,,0x2000} attrs=',
    '  node-1 [000] .....   1.000002: dma_unmap_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=1000 size=16 attrs=SKIP_CPU_SYNC extra',
    '  node-1 [000] .....   1.000002: swiotlb_bounced: dev_name: 0000:04:00.0 dma_mask=ffffffff dev_addr=1000 size=16 MAYBE',
    '  node-1 [000] .....   1.000002: dma_map_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=11112222333344445 size=16 phys_addr=1000 attrs=',
    '  node-1 [000] .....   1.000002: dma_map_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=1000 size=16 phys_addr=1000 attrs=skip',
  ];

  it.each(bad.map((line, i) => [i, line] as const))('malformed line %i: an error with its line number at the first, a middle and the last (unterminated) line', async (_i, line) => {
    for (const at of ['first', 'middle', 'last'] as const) {
      const lines = at === 'first' ? [line, good, good] : at === 'middle' ? [good, good, line, good] : [good, good, line];
      const expectedLine = at === 'first' ? 1 : 3;
      const text = lines.join('\n') + (at === 'last' ? '' : '\n');
      await expect(parseText(text)).rejects.toMatchObject({ code: 'ERR_TRACE_PARSE', line: expectedLine });
      const { events, summary } = await parseText(text, { lenient: true });
      expect(summary.malformed).toBe(1);
      expect(summary.malformedLines).toEqual([expectedLine]);
      expect(events).toHaveLength(lines.length - 1);
    }
  });

  it('a CRLF capture parses as LF', async () => {
    const { events } = await parseText(`${good}\r\n${good}\r\n`);
    expect(events).toHaveLength(2);
    expect(events[0]!.event).toMatchObject({ attrs: 0 });
  });
});

describe('streaming and long lines', () => {
  it('a 100 KB line of another event and a 200,000-character dma_map_sg parse, whatever the chunk boundaries', async () => {
    const n = 8000;
    const addrs = Array.from({ length: n }, (_, i) => `0x${(0x10000000 + i * 64).toString(16)}`).join(',');
    const sizes = Array.from({ length: n }, () => '0x40').join(',');
    const sg = `  node-1 [000] .....   2.000000: dma_map_sg: 0000:04:00.0 dir=TO_DEVICE dma_addrs={${addrs}} sizes={${sizes}} phys_addrs={${addrs}} attrs=`;
    const other = `  node-1 [000] .....   1.000000: bpf_trace_printk: ${'x'.repeat(100_000)}`;
    const text = `${other}\n${sg}\n`;
    expect(sg.length).toBeGreaterThan(200_000);
    const chunks = Array.from({ length: 30 }, () => rng.int(1, text.length - 1));
    const { events, summary } = await parseText(text, { chunks });
    expect(summary.otherEvents).toBe(1);
    const event = events[0]!.event as Extract<TraceEvent, { type: 'map_sg' }>;
    expect(event.nents).toBe(n);
    expect(event.physAddrs[n - 1]).toBe(0x10000000 + (n - 1) * 64);
  });

  it('a line with no end beyond the limit is refused, not held', async () => {
    async function* endless() {
      const chunk = 'y'.repeat(1 << 20);
      for (let i = 0; i < 20; i++) yield chunk;
    }
    await expect(readCapture(endless(), () => {})).rejects.toMatchObject({ code: 'ERR_TRACE_PARSE', line: 1 });
  });

  it('multi-byte UTF-8 split between chunks (a task name) does not corrupt the line', async () => {
    const line = '  présent-12 [003] .....   3.000000: dma_unmap_phys: 0000:04:00.0 dir=FROM_DEVICE dma_addr=abc size=1 attrs=';
    const at = Buffer.from(line).indexOf(0xc3) + 1;
    const { events } = await parseText(`${line}\n`, { chunks: [at] });
    expect(events[0]!.event).toMatchObject({ type: 'unmap', cpu: 3, dmaAddr: 0xabc });
  });
});

// Every event the printer can print, parsed back, is the event (the parser and printer agree).
const address = fc.integer({ min: 0, max: 2 ** 52 });
const context = { ts: fc.integer({ min: 0, max: 10 ** 9 }).map((us) => us / 1e6), cpu: fc.integer({ min: 0, max: 999 }), device: fc.constantFrom('0000:04:00.0', 'd4280800.sdh', '0000:ff:1f.7') };
const dir = fc.integer({ min: 0, max: 3 });
const attrs = fc.subarray([1 << 1, 1 << 2, 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8, 1 << 9]).map((bits) => bits.reduce((a, b) => a | b, 0));
const list = fc.array(address, { minLength: 1, maxLength: 12 });
const eventArb: fc.Arbitrary<TraceEvent> = fc.oneof(
  fc.record({ type: fc.constant('map' as const), name: fc.constant(''), ...context, dir, dmaAddr: fc.oneof(address, fc.constant(-1)), size: fc.integer({ min: 1, max: 2 ** 32 }), physAddr: address, attrs }),
  fc.record({ type: fc.constant('unmap' as const), name: fc.constant(''), ...context, dir, dmaAddr: address, size: fc.integer({ min: 1, max: 2 ** 32 }), attrs }),
  list.chain((phys) => fc.record({ type: fc.constant('map_sg' as const), ...context, dir, nents: fc.constant(phys.length), ents: fc.constant(phys.length), truncated: fc.constant(false), dmaAddrs: fc.array(address, { minLength: phys.length, maxLength: phys.length }), sizes: fc.array(fc.integer({ min: 1, max: 2 ** 31 }), { minLength: phys.length, maxLength: phys.length }), physAddrs: fc.constant(phys), attrs })),
  fc.record({ type: fc.constant('map_sg_err' as const), ...context, dir, physAddrs: list, err: fc.constantFrom(-5, -12, -22, -121), attrs }),
  fc.record({ type: fc.constant('unmap_sg' as const), ...context, dir, physAddrs: list, attrs }),
  fc.record({ type: fc.constant('sync_single' as const), target: fc.constantFrom('cpu' as const, 'device' as const), ...context, dir, dmaAddr: address, size: fc.integer({ min: 1, max: 2 ** 32 }) }),
  list.chain((dma) => fc.record({ type: fc.constant('sync_sg' as const), target: fc.constantFrom('cpu' as const, 'device' as const), ...context, dir, dmaAddrs: fc.constant(dma), sizes: fc.array(fc.integer({ min: 1, max: 2 ** 31 }), { minLength: dma.length, maxLength: dma.length }) })),
  fc.record({ type: fc.constant('bounced' as const), ...context, dmaMask: fc.constantFrom('ffffffff', 'ffffffffffffffff', 'fffffffff'), devAddr: address, size: fc.integer({ min: 1, max: 2 ** 32 }), force: fc.constantFrom('FORCE' as const, 'NORMAL' as const) }),
);

describe('printer and parser agree', () => {
  fcTest.prop([eventArb, fc.constantFrom(...TRACE_FORMATS), fc.constantFrom('ftrace' as const, 'trace-cmd' as const)], { numRuns: 400 })('every printable event parses back to itself', (event, format, style) => {
    const printed = formatEvent(event, format);
    if (!printed) {
      expect(format === '6.12' && event.type === 'map_sg_err').toBe(true);
      return;
    }
    const parser = new TraceLineParser();
    const line = formatLine(style, { comm: 'fuzz-task', pid: 7 }, event.cpu, event.ts, printed);
    const parsed = parser.parse(line, 1)!;
    const named = event.type === 'map' || event.type === 'unmap' ? { ...event, name: printed.name } : event;
    expect(parsed).toEqual(named);
  });
});

describe('summary counters', () => {
  it('counts blank lines, headers and lost events of a trace_pipe capture', async () => {
    const text = readFileSync(new URL('handwritten-ftrace.trace', FIXTURES), 'utf8');
    const { summary } = await parseText(`\n${text}\n\n`);
    expect(summary.blank).toBe(3);
    expect(summary.events).toBe(11);
    expect(summary.eventsByName).toMatchObject({ dma_map_phys: 3, dma_unmap_phys: 2, swiotlb_bounced: 1 });
    expect(summary.firstTs).toBe(100.0001);
    expect(summary.lastTs).toBe(100.001);
  });
});
