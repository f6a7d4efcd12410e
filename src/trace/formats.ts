// The payload text of each event, per kernel version, as TP_printk in include/trace/events/dma.h
// and swiotlb.h prints it. The trace header carries its own direction and attribute tables
// (decode_dma_data_direction, decode_dma_attrs), so this file keeps its own copy of them.
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../describe-value.js';
import { TRACE_MAPPING_ERROR, type TraceEvent } from './events.js';

/**
 * The kernel versions whose formats the tracer prints. '6.12': dma_map_page / dma_map_resource,
 * no dma_map_sg_err; '6.13' (to 6.17): dma_map_sg_err added; '6.18': dma_map_phys and the MMIO
 * attribute; 'latest' (mainline, later 6.18.y): dma_map_sg prints nents=/ents= and caps its arrays
 * at 128 entries.
 */
export const TRACE_FORMATS = ['6.12', '6.13', '6.18', 'latest'] as const;
/** One of TRACE_FORMATS. */
export type TraceFormat = (typeof TRACE_FORMATS)[number];
/** The format the tracer prints unless told otherwise: mainline's. */
export const DEFAULT_TRACE_FORMAT: TraceFormat = 'latest';

/** DMA_TRACE_MAX_ENTRIES: the most array entries dma_map_sg prints ('latest'). */
export const DMA_TRACE_MAX_ENTRIES = 128;

const DIRECTIONS = ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE', 'NONE'] as const;

// decode_dma_attrs(), in table order. MMIO joined the table in 6.18; the last four after it.
const ATTRS_612: readonly (readonly [number, string])[] = [
  [1 << 1, 'WEAK_ORDERING'],
  [1 << 2, 'WRITE_COMBINE'],
  [1 << 4, 'NO_KERNEL_MAPPING'],
  [1 << 5, 'SKIP_CPU_SYNC'],
  [1 << 6, 'FORCE_CONTIGUOUS'],
  [1 << 7, 'ALLOC_SINGLE_PAGES'],
  [1 << 8, 'NO_WARN'],
  [1 << 9, 'PRIVILEGED'],
];
const ATTRS_618 = [...ATTRS_612, [1 << 10, 'MMIO']] as const;
const ATTRS_LATEST = [...ATTRS_618, [1 << 11, 'CACHELINES_OVERLAP'], [1 << 12, 'REQUIRE_COHERENT'], [1 << 13, 'CC_SHARED']] as const;
/** DMA_ATTR_MMIO's bit: before 6.18 an MMIO mapping is dma_map_resource and the bit does not exist. */
export const TRACE_ATTR_MMIO = 1 << 10;

/** Every attribute name a capture of any supported version may print, with its bit. */
export const TRACE_ATTR_BITS: ReadonlyMap<string, number> = new Map(ATTRS_LATEST.map(([bit, name]) => [name, bit]));

/** The attribute table decode_dma_attrs() of `format` prints with. */
export function attrTable(format: TraceFormat): readonly (readonly [number, string])[] {
  return format === '6.12' || format === '6.13' ? ATTRS_612 : format === '6.18' ? ATTRS_618 : ATTRS_LATEST;
}

/** Throws ERR_INVALID_ARGUMENT unless `format` is one of TRACE_FORMATS. */
export function checkTraceFormat(format: unknown, argument = 'format'): asserts format is TraceFormat {
  if (!(TRACE_FORMATS as readonly unknown[]).includes(format)) {
    throw new InvalidArgumentError(`trace format ${describeValue(format)} is not one of ${TRACE_FORMATS.join(', ')}`, { argument });
  }
}

/** __print_symbolic(dir, ...): the name, or 0x%lx for a value not in the table. */
export function directionText(dir: number): string {
  return DIRECTIONS[dir] ?? `0x${dir.toString(16)}`;
}

/** The direction number of a printed name, or -1. */
export function directionValue(text: string): number {
  return (DIRECTIONS as readonly string[]).indexOf(text);
}

/** __print_flags(attrs, "|", ...): the names of the set bits in table order, then any rest as 0x%lx; "" for 0. */
export function attrsText(attrs: number, format: TraceFormat): string {
  if (attrs === 0) return '';
  let rest = attrs;
  let out = '';
  for (const [bit, name] of attrTable(format)) {
    if ((rest & bit) === bit) {
      out = out === '' ? name : `${out}|${name}`;
      rest &= ~bit;
    }
  }
  if (rest !== 0) out = out === '' ? `0x${(rest >>> 0).toString(16)}` : `${out}|0x${(rest >>> 0).toString(16)}`;
  return out;
}

const DIGITS = '0123456789abcdef';
const BYTES: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

// A 32-bit word in hex, without leading zeros when `lead` (a byte table: Number#toString(16) is slow for doubles).
function word(w: number, lead: boolean): string {
  const a = w >>> 24;
  const b = (w >>> 16) & 255;
  const c = (w >>> 8) & 255;
  const d = w & 255;
  if (!lead) return BYTES[a]! + BYTES[b]! + BYTES[c]! + BYTES[d]!;
  if (a !== 0) return (a < 16 ? DIGITS[a]! : BYTES[a]!) + BYTES[b]! + BYTES[c]! + BYTES[d]!;
  if (b !== 0) return (b < 16 ? DIGITS[b]! : BYTES[b]!) + BYTES[c]! + BYTES[d]!;
  if (c !== 0) return (c < 16 ? DIGITS[c]! : BYTES[c]!) + BYTES[d]!;
  return d < 16 ? DIGITS[d]! : BYTES[d]!;
}

/** %llx of an address (a non-negative safe integer): lower-case hex, no 0x; TRACE_MAPPING_ERROR prints as 64 one bits. */
export function hex(value: number): string {
  if (value === TRACE_MAPPING_ERROR) return 'ffffffffffffffff';
  if (value < 4294967296) return word(value >>> 0, true);
  const high = Math.floor(value / 4294967296);
  return word(high, true) + word((value - high * 4294967296) >>> 0, false);
}

/** __print_array(): {0x1,0x2} (lower-case hex, no spaces), at most `max` entries. */
export function arrayText(values: readonly number[], max = Infinity): string {
  const n = Math.min(values.length, max);
  if (n === 0) return '{}';
  // One join makes one flat string (a += chain would leave a rope of n pieces for the GC).
  const parts: string[] = new Array(n);
  for (let i = 0; i < n; i++) parts[i] = hex(values[i]!);
  return `{0x${parts.join(',0x')}}`;
}

const MASKS: string[] = Array.from({ length: 65 }, (_, bits) => (bits >= 64 ? 'ffffffffffffffff' : ((1n << BigInt(bits)) - 1n).toString(16)));

/** The dma_mask the swiotlb_bounced event prints for a device with `bits` address bits (%llx of DMA_BIT_MASK(bits)). */
export function dmaMaskText(bits: number): string {
  return MASKS[Math.min(64, Math.max(0, Math.floor(bits)))]!;
}

/** What one event prints: its kernel name and payload, or undefined where `format`'s kernel emits nothing for it. */
export interface FormattedEvent {
  readonly name: string;
  readonly payload: string;
}

/**
 * Formats an event as `format`'s kernel prints it (the TP_printk text after "name: "). Returns
 * undefined for an event that kernel does not emit (dma_map_sg_err before 6.13, coherent events).
 * Takes events as the model and the parser make them (no checks: this is the tracer's hot path).
 */
export function formatEvent(event: TraceEvent, format: TraceFormat): FormattedEvent | undefined {
  const old = format === '6.12' || format === '6.13';
  const dir = 'dir' in event ? directionText(event.dir) : '';
  switch (event.type) {
    case 'map': {
      const mmio = old && (event.attrs & TRACE_ATTR_MMIO) !== 0;
      const name = old ? (mmio ? 'dma_map_resource' : 'dma_map_page') : 'dma_map_phys';
      const attrs = attrsText(mmio ? event.attrs & ~TRACE_ATTR_MMIO : event.attrs, format);
      return { name, payload: `${event.device} dir=${dir} dma_addr=${hex(event.dmaAddr)} size=${event.size} phys_addr=${hex(event.physAddr)} attrs=${attrs}` };
    }
    case 'unmap': {
      const mmio = old && (event.attrs & TRACE_ATTR_MMIO) !== 0;
      const name = old ? (mmio ? 'dma_unmap_resource' : 'dma_unmap_page') : 'dma_unmap_phys';
      const attrs = attrsText(mmio ? event.attrs & ~TRACE_ATTR_MMIO : event.attrs, format);
      return { name, payload: `${event.device} dir=${dir} dma_addr=${hex(event.dmaAddr)} size=${event.size} attrs=${attrs}` };
    }
    case 'map_sg': {
      const attrs = attrsText(event.attrs, format);
      if (format !== 'latest') {
        return { name: 'dma_map_sg', payload: `${event.device} dir=${dir} dma_addrs=${arrayText(event.dmaAddrs)} sizes=${arrayText(event.sizes)} phys_addrs=${arrayText(event.physAddrs)} attrs=${attrs}` };
      }
      const max = DMA_TRACE_MAX_ENTRIES;
      const truncated = event.nents > max || event.ents > max ? ' [TRUNCATED]' : '';
      return {
        name: 'dma_map_sg',
        payload: `${event.device} dir=${dir} nents=${Math.min(event.nents, max)}/${event.nents} ents=${Math.min(event.ents, max)}/${event.ents}${truncated} dma_addrs=${arrayText(event.dmaAddrs, max)} sizes=${arrayText(event.sizes, max)} phys_addrs=${arrayText(event.physAddrs, max)} attrs=${attrs}`,
      };
    }
    case 'map_sg_err':
      if (format === '6.12') return undefined;
      return { name: 'dma_map_sg_err', payload: `${event.device} dir=${dir} dma_addrs=${arrayText(event.physAddrs)} err=${event.err} attrs=${attrsText(event.attrs, format)}` };
    case 'unmap_sg':
      return { name: 'dma_unmap_sg', payload: `${event.device} dir=${dir} phys_addrs=${arrayText(event.physAddrs)} attrs=${attrsText(event.attrs, format)}` };
    case 'sync_single':
      return { name: `dma_sync_single_for_${event.target}`, payload: `${event.device} dir=${dir} dma_addr=${hex(event.dmaAddr)} size=${event.size}` };
    case 'sync_sg':
      return { name: `dma_sync_sg_for_${event.target}`, payload: `${event.device} dir=${dir} dma_addrs=${arrayText(event.dmaAddrs)} sizes=${arrayText(event.sizes)}` };
    case 'bounced':
      return { name: 'swiotlb_bounced', payload: `dev_name: ${event.device} dma_mask=${event.dmaMask} dev_addr=${hex(event.devAddr)} size=${event.size} ${event.force}` };
    case 'coherent':
      return undefined;
  }
}
