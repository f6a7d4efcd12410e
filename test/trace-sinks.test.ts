// The tracer's sinks: a callback that throws, a stream that wants 'drain' (the next calls wait),
// an iterator whose reader is slow ('wait': calls wait; 'drop': counted and marked), and close()
// settling whatever waits.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, type DmaDevice } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const rng = testRng('trace-sinks');
const TO = DmaDirection.TO_DEVICE;

async function mapUnmap(device: DmaDevice, phys: number, length: number): Promise<void> {
  const m = await device.mapSingle(phys, length, TO);
  await device.unmapSingle(m.dmaAddress, length, TO);
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('tracing off', () => {
  it('a system without trace has no tracer, and its devices map as before', async () => {
    const system = DmaSystem.create();
    try {
      expect(system.tracer).toBeUndefined();
      const span = system.allocRam(4096);
      await mapUnmap(system.device('0000:04:00.0'), span.phys, 4096);
    } finally {
      await system.close();
    }
  });
});

describe('callback sink', () => {
  it('a throwing callback never fails the DMA call: errors are counted and the first kept', async () => {
    let calls = 0;
    const names: string[] = [];
    const system = DmaSystem.create({ trace: (_line: string, event: object) => { calls++; names.push((event as { name?: string }).name!); throw new Error('reader bug'); } });
    try {
      const span = system.allocRam(4096);
      const device = system.device('0000:04:00.0');
      for (let i = 0; i < 3; i++) await mapUnmap(device, span.phys, rng.int(1, 4096));
      const stats = system.tracer!.stats();
      expect(calls).toBe(6);
      expect(names).toEqual(['dma_map_phys', 'dma_unmap_phys', 'dma_map_phys', 'dma_unmap_phys', 'dma_map_phys', 'dma_unmap_phys']);
      expect(stats).toMatchObject({ lines: 6, errors: 6, lost: 0, format: 'latest', style: 'ftrace' });
      expect((stats.firstError as Error).message).toBe('reader bug');
      expect(() => system.tracer!.lines()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    } finally {
      await system.close();
    }
  });
});

describe('stream sink', () => {
  it('writes the header, then a line per event; when write() wants drain, the next call waits for it', async () => {
    const chunks: string[] = [];
    let release: (() => void) | undefined;
    // A writable that holds each write until released, with room for one chunk.
    const stream = new Writable({
      highWaterMark: 1,
      decodeStrings: false,
      write(chunk: string, _enc, done) {
        chunks.push(chunk);
        release = done;
      },
    });
    const system = DmaSystem.create({ trace: stream });
    try {
      expect(chunks[0]).toMatch(/^# tracer: nop\n/);
      const span = system.allocRam(4096);
      const device = system.device('0000:04:00.0');
      const p = device.mapSingle(span.phys, 100, TO);
      await tick();
      // The header is still being written: write() said wait, so the map has not started.
      expect(system.tracer!.blocked).toBeDefined();
      let settled = false;
      void p.then(() => { settled = true; });
      for (let i = 0; i < 5; i++) await tick();
      expect(settled).toBe(false);
      release!();
      const m = await p;
      expect(settled).toBe(true);
      release!();
      const u = device.unmapSingle(m.dmaAddress, 100, TO);
      for (let i = 0; i < 3; i++) { await tick(); release?.(); }
      await u;
      release?.();
      await tick();
      expect(chunks.slice(1).join('')).toMatch(/dma_map_phys: 0000:04:00\.0 dir=TO_DEVICE .*\n.*dma_unmap_phys: /);
    } finally {
      const closing = system.close();
      release?.();
      await closing;
    }
  });

  it('a create that fails after the trace option was read writes nothing to the stream', () => {
    const chunks: string[] = [];
    const stream = new Writable({ write(chunk, _e, done) { chunks.push(String(chunk)); done(); } });
    expect(() => DmaSystem.create({ trace: stream, engine: { workers: -1 } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(chunks).toEqual([]);
  });

  it('a stream that errors stops taking lines (counted as lost) and never blocks a call', async () => {
    const stream = new Writable({ write(_c, _e, done) { done(new Error('disk full')); } });
    stream.on('error', () => {});
    const system = DmaSystem.create({ trace: { sink: stream, header: false } });
    try {
      const span = system.allocRam(4096);
      const device = system.device('0000:04:00.0');
      for (let i = 0; i < 4; i++) await mapUnmap(device, span.phys, 64);
      const stats = system.tracer!.stats();
      expect(stats.errors).toBe(1);
      expect(stats.lines).toBe(8);
      expect(stats.lost).toBeGreaterThan(0);
    } finally {
      await system.close();
    }
  });
});

describe('iterator sink', () => {
  it("'wait': a full buffer makes the next call wait until the reader takes lines; every line arrives in order", async () => {
    const system = DmaSystem.create({ trace: { sink: 'iterator', capacity: 4 } });
    const span = system.allocRam(4096);
    const device = system.device('0000:04:00.0');
    const lengths = Array.from({ length: 6 }, () => rng.int(1, 4096));
    let done = 0;
    const work = (async () => {
      for (const length of lengths) {
        await mapUnmap(device, span.phys, length);
        done++;
      }
    })();
    for (let i = 0; i < 20; i++) await tick();
    // Four lines fill the buffer: two map/unmap pairs, and the third map waits.
    expect(done).toBe(2);
    expect(system.tracer!.blocked).toBeDefined();
    const lines: string[] = [];
    const reader = (async () => { for await (const line of system.tracer!.lines()) lines.push(line); })();
    await work;
    await system.close();
    await reader;
    expect(lines).toHaveLength(12);
    lines.forEach((line, i) => expect(line).toContain(i % 2 === 0 ? `dma_map_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=${span.phys.toString(16)} size=${lengths[i >> 1]} ` : `dma_unmap_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=${span.phys.toString(16)} size=${lengths[i >> 1]} `));
    expect(system.tracer!.stats().lost).toBe(0);
  });

  it("'drop': lines that do not fit are counted, and the reader gets a LOST mark before the next line", async () => {
    const system = DmaSystem.create({ trace: { sink: 'iterator', capacity: 3, whenFull: 'drop' } });
    const span = system.allocRam(4096);
    const device = system.device('0000:04:00.0');
    for (let i = 0; i < 4; i++) await mapUnmap(device, span.phys, 128);
    expect(system.tracer!.blocked).toBeUndefined();
    const lines: string[] = [];
    const iterator = system.tracer!.lines();
    for (let i = 0; i < 3; i++) lines.push((await iterator.next()).value!);
    await mapUnmap(device, span.phys, 128);
    await system.close();
    for await (const line of { [Symbol.asyncIterator]: () => iterator }) lines.push(line);
    expect(lines).toHaveLength(6);
    expect(lines[3]).toBe('CPU:0 [LOST 5 EVENTS]');
    expect(lines[4]).toContain('dma_map_phys');
    expect(system.tracer!.stats()).toMatchObject({ lines: 10, lost: 5 });
  });

  it('close() with a full buffer and nobody reading settles: the waiting call goes on, its line is kept, the buffer stays readable', async () => {
    const system = DmaSystem.create({ trace: { sink: 'iterator', capacity: 2 } });
    const span = system.allocRam(4096);
    const device = system.device('0000:04:00.0');
    await mapUnmap(device, span.phys, 64);
    const waiting = device.mapSingle(span.phys, 64, TO);
    let settled = false;
    void waiting.then(() => { settled = true; });
    for (let i = 0; i < 5; i++) await tick();
    expect(settled).toBe(false);
    await system.close();
    await expect(waiting).resolves.toMatchObject({ kind: 'direct' });
    // The late call's line is kept beyond the capacity, never dropped; a call after close() is refused.
    await expect(device.mapSingle(span.phys, 64, TO)).rejects.toMatchObject({ code: 'ERR_SYSTEM_CLOSED' });
    const lines: string[] = [];
    for await (const line of system.tracer!.lines()) lines.push(line);
    expect(lines).toHaveLength(3);
    expect(system.tracer!.stats().lost).toBe(0);
  });

  it('one reader: a second lines() is refused; breaking out drops the rest, counted', async () => {
    const system = DmaSystem.create({ trace: 'iterator' });
    const span = system.allocRam(4096);
    const device = system.device('0000:04:00.0');
    for (let i = 0; i < 3; i++) await mapUnmap(device, span.phys, 64);
    const iterator = system.tracer!.lines();
    expect(() => system.tracer!.lines()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    for await (const _line of { [Symbol.asyncIterator]: () => iterator }) break;
    await mapUnmap(device, span.phys, 64);
    await system.close();
    expect(system.tracer!.stats()).toMatchObject({ lines: 8, lost: 7 });
  });
});
