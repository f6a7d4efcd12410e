// Every line the model emits matches its event's TP_printk format for the chosen kernel version,
// checked against the format strings written down in test/support/kernel-trace-formats.ts (not
// against the model's printer), and the fields say what the model did.
import { describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, TRACE_FORMATS, type TraceEvent } from '../dist/src/index.js';
import { checkAttrs, FTRACE_LINE, matchPrintf, parsePrintArray, TP_PRINTK, TRACE_CMD_LINE, type Version } from './support/kernel-trace-formats.js';
import { testRng } from './support/random.js';
import { runWorkload } from './support/trace-workload.js';

const rng = testRng('trace-format');
const DIRS = ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE'];

// The ftrace line around the payload, then the payload against its event's format.
function checkLine(line: string, version: Version, style: 'ftrace' | 'trace-cmd' = 'ftrace'): { name: string; fields: string[] } {
  const outer = matchPrintf(style === 'ftrace' ? FTRACE_LINE : TRACE_CMD_LINE, line);
  if (typeof outer === 'string') throw new Error(`${outer}\n${line}`);
  const [comm, pid, cpu, flags, secs, usecs, name, rawPayload] = outer as [string, string, string, string, string, string, string, string];
  expect(comm.length).toBeLessThanOrEqual(15);
  expect(Number(pid)).toBeGreaterThanOrEqual(0);
  expect(cpu).toMatch(/^\d{3,}$/);
  expect(flags).toBe('.....');
  expect(secs).toMatch(/^\d+$/);
  expect(usecs).toMatch(/^\d{6}$/);
  // trace-cmd pads the event name to 20 columns before the payload.
  const payload = style === 'trace-cmd' ? rawPayload.slice(Math.max(0, 20 - name.length)) : rawPayload;
  if (style === 'trace-cmd') expect(rawPayload.slice(0, Math.max(0, 20 - name.length)).trim()).toBe('');
  const format = TP_PRINTK[version][name];
  if (format === undefined) throw new Error(`${version} has no event ${name}: ${line}`);
  const fields = matchPrintf(format, payload);
  if (typeof fields === 'string') throw new Error(`${name}: ${fields}\n${payload}`);
  return { name, fields };
}

function hexValue(text: string): bigint {
  return BigInt(`0x${text}`);
}

// Field-by-field meaning, per event class.
function checkFields(name: string, fields: string[], event: TraceEvent, version: Version): void {
  const array = (text: string) => {
    const values = parsePrintArray(text);
    expect(values, `array ${text}`).toBeDefined();
    return values!.map(Number);
  };
  const failed = 'ffffffffffffffff';
  switch (event.type) {
    case 'map': {
      const [device, dir, dma, size, phys, attrs] = fields as [string, string, string, string, string, string];
      expect(device).toBe(event.device);
      expect(dir).toBe(DIRS[event.dir]);
      if (event.dmaAddr === -1) expect(dma).toBe(failed);
      else expect(hexValue(dma)).toBe(BigInt(event.dmaAddr));
      expect(Number(size)).toBe(event.size);
      expect(hexValue(phys)).toBe(BigInt(event.physAddr));
      expect(checkAttrs(attrs, version)).toBeUndefined();
      const mmio = (event.attrs & (1 << 10)) !== 0;
      expect(name).toBe(version === '6.12' || version === '6.13' ? (mmio ? 'dma_map_resource' : 'dma_map_page') : 'dma_map_phys');
      expect(attrs.split('|').includes('MMIO')).toBe(mmio && (version === '6.18' || version === 'latest'));
      break;
    }
    case 'unmap': {
      const [device, dir, dma, size] = fields as [string, string, string, string];
      expect(device).toBe(event.device);
      expect(dir).toBe(DIRS[event.dir]);
      expect(hexValue(dma)).toBe(BigInt(event.dmaAddr));
      expect(Number(size)).toBe(event.size);
      break;
    }
    case 'map_sg': {
      const counted = version === 'latest';
      const at = counted ? 7 : 2;
      if (counted) {
        expect(fields.slice(2, 7)).toEqual([String(Math.min(event.nents, 128)), String(event.nents), String(Math.min(event.ents, 128)), String(event.ents), event.nents > 128 || event.ents > 128 ? ' [TRUNCATED]' : '']);
      }
      expect(array(fields[at]!)).toEqual(event.dmaAddrs);
      expect(array(fields[at + 1]!)).toEqual(event.sizes);
      expect(array(fields[at + 2]!)).toEqual(event.physAddrs);
      expect(checkAttrs(fields[at + 3]!, version)).toBeUndefined();
      break;
    }
    case 'map_sg_err': {
      expect(version).not.toBe('6.12');
      expect(array(fields[2]!)).toEqual(event.physAddrs);
      expect([-5, -12, -22, -121]).toContain(Number(fields[3]));
      break;
    }
    case 'unmap_sg':
      expect(array(fields[2]!)).toEqual(event.physAddrs);
      break;
    case 'sync_single':
      expect(name).toBe(`dma_sync_single_for_${event.target}`);
      expect(hexValue(fields[2]!)).toBe(BigInt(event.dmaAddr));
      expect(Number(fields[3])).toBe(event.size);
      break;
    case 'sync_sg':
      expect(array(fields[2]!)).toEqual(event.dmaAddrs);
      expect(array(fields[3]!)).toEqual(event.sizes);
      break;
    case 'bounced': {
      const [device, mask, devAddr, size, force] = fields as [string, string, string, string, string];
      expect(device).toBe(event.device);
      expect(['ffffffff', 'ffffffffffffffff']).toContain(mask);
      expect(hexValue(devAddr)).toBe(BigInt(event.devAddr));
      expect(Number(size)).toBe(event.size);
      expect(['FORCE', 'NORMAL']).toContain(force);
      break;
    }
    default:
      throw new Error(`unexpected event ${event.type}`);
  }
}

describe('emitted lines against the kernel formats', () => {
  for (const version of TRACE_FORMATS) {
    it(`format ${version}: every line of a random workload matches its TP_printk, and its fields say what happened`, async () => {
      const outcome = await runWorkload(rng, { format: version, steps: 250 });
      expect(outcome.lines.length).toBeGreaterThan(100);
      // The sink is called once per printed event (6.12 prints no dma_map_sg_err).
      const printed = outcome.events.filter((e) => !(version === '6.12' && e.type === 'map_sg_err'));
      expect(outcome.lines.length).toBe(printed.length);
      const seen = new Set<string>();
      outcome.lines.forEach((line, i) => {
        const { name, fields } = checkLine(line, version);
        checkFields(name, fields, printed[i]!, version);
        seen.add(name);
      });
      // The workload reaches every streaming event class.
      for (const name of ['dma_map_sg', 'dma_unmap_sg', 'dma_sync_single_for_cpu', 'dma_sync_single_for_device', 'dma_sync_sg_for_cpu', 'swiotlb_bounced']) expect(seen).toContain(name);
      expect(seen).toContain(version === '6.12' || version === '6.13' ? 'dma_map_page' : 'dma_map_phys');
    });
  }

  it('a failed map prints dma_addr=ffffffffffffffff, a failed SG map dma_map_sg_err with its errno, a forced bounce FORCE', async () => {
    const lines: string[] = [];
    const system = DmaSystem.create({ swiotlb: { size: '256KiB' }, trace: { sink: (l: string) => lines.push(l), style: 'trace-cmd' } });
    try {
      const far = system.device('0000:81:00.0', { p2pPolicy: 'reject', forceBounce: true });
      const bar = system.barMemory('0000:03:00.0', 1);
      const span = bar.allocate(8192, 4096);
      await expect(far.mapSingle(span.phys, 4096, DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_DMA_P2P_NOT_SUPPORTED' });
      await expect(far.mapSg([{ phys: span.phys, length: 100 }], DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_DMA_P2P_NOT_SUPPORTED' });
      const ram = system.allocRam(300 * 1024, { alignment: 4096 });
      await expect(far.mapSingle(ram.phys, 256 * 1024 + 1, DmaDirection.FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_DMA_MAPPING' });
      const m = await far.mapSingle(ram.phys + 5, 1000, DmaDirection.FROM_DEVICE);
      await far.unmapSingle(m.dmaAddress, 1000, DmaDirection.FROM_DEVICE);
    } finally {
      await system.close();
    }
    const parsed = lines.map((l) => checkLine(l, 'latest', 'trace-cmd'));
    expect(parsed.map((p) => p.name)).toEqual(['dma_map_phys', 'dma_map_sg_err', 'swiotlb_bounced', 'dma_map_phys', 'swiotlb_bounced', 'dma_map_phys', 'dma_unmap_phys']);
    expect(parsed[0]!.fields[2]).toBe('ffffffffffffffff');
    expect(parsed[1]!.fields[3]).toBe('-121');
    expect(parsed[2]!.fields[4]).toBe('FORCE');
    expect(parsed[3]!.fields[2]).toBe('ffffffffffffffff');
    expect(parsed[5]!.fields[2]).not.toBe('ffffffffffffffff');
  });

  it('arrays over 128 entries: mainline caps them and says [TRUNCATED] (from 129 on); 6.18 prints them whole', async () => {
    for (const [version, n] of [['latest', 129], ['latest', 200], ['6.18', 200], ['latest', 128]] as const) {
      const lines: string[] = [];
      const system = DmaSystem.create({ trace: { sink: (l: string) => lines.push(l), format: version } });
      try {
        const near = system.device('0000:04:00.0');
        const span = system.allocRam(n * 64, { alignment: 64 });
        const sg = await near.mapSg(Array.from({ length: n }, (_, i) => ({ phys: span.phys + 64 * i, length: 64 })), DmaDirection.TO_DEVICE);
        await near.unmapSg(sg, DmaDirection.TO_DEVICE);
      } finally {
        await system.close();
      }
      const { fields } = checkLine(lines[0]!, version);
      if (version === 'latest') {
        const shown = String(Math.min(n, 128));
        expect(fields.slice(2, 7)).toEqual([shown, String(n), shown, String(n), n > 128 ? ' [TRUNCATED]' : '']);
        expect(parsePrintArray(fields[7]!)).toHaveLength(Math.min(n, 128));
        expect(parsePrintArray(fields[9]!)).toHaveLength(Math.min(n, 128));
      } else {
        expect(parsePrintArray(fields[2]!)).toHaveLength(n);
      }
      // dma_unmap_sg prints every entry in every version.
      expect(parsePrintArray(checkLine(lines[1]!, version).fields[2]!)).toHaveLength(n);
    }
  });
});
