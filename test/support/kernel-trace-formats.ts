// The kernel's TP_printk strings, written down once from include/trace/events/dma.h and
// include/trace/events/swiotlb.h (v6.12, v6.13, v6.18, mainline), and a small printf-format
// matcher: lines the model emits are checked against these, never against the model's printer.

export type Version = '6.12' | '6.13' | '6.18' | 'latest';

const MAP = '%s dir=%s dma_addr=%llx size=%zu phys_addr=%llx attrs=%s';
const UNMAP = '%s dir=%s dma_addr=%llx size=%zu attrs=%s';
const SG_OLD = '%s dir=%s dma_addrs=%s sizes=%s phys_addrs=%s attrs=%s';
const SG_NEW = '%s dir=%s nents=%d/%d ents=%d/%d%s dma_addrs=%s sizes=%s phys_addrs=%s attrs=%s';
const SG_ERR = '%s dir=%s dma_addrs=%s err=%d attrs=%s';
const UNMAP_SG = '%s dir=%s phys_addrs=%s attrs=%s';
const SYNC_SINGLE = '%s dir=%s dma_addr=%llx size=%zu';
const SYNC_SG = '%s dir=%s dma_addrs=%s sizes=%s';
const BOUNCED = 'dev_name: %s dma_mask=%llx dev_addr=%llx size=%zu %s';

/** Event name -> TP_printk format, for each version; an event missing from a version's table is not emitted by it. */
export const TP_PRINTK: Readonly<Record<Version, Readonly<Record<string, string>>>> = {
  '6.12': {
    dma_map_page: MAP, dma_map_resource: MAP, dma_unmap_page: UNMAP, dma_unmap_resource: UNMAP,
    dma_map_sg: SG_OLD, dma_unmap_sg: UNMAP_SG,
    dma_sync_single_for_cpu: SYNC_SINGLE, dma_sync_single_for_device: SYNC_SINGLE, dma_sync_sg_for_cpu: SYNC_SG, dma_sync_sg_for_device: SYNC_SG,
    swiotlb_bounced: BOUNCED,
  },
  '6.13': {
    dma_map_page: MAP, dma_map_resource: MAP, dma_unmap_page: UNMAP, dma_unmap_resource: UNMAP,
    dma_map_sg: SG_OLD, dma_map_sg_err: SG_ERR, dma_unmap_sg: UNMAP_SG,
    dma_sync_single_for_cpu: SYNC_SINGLE, dma_sync_single_for_device: SYNC_SINGLE, dma_sync_sg_for_cpu: SYNC_SG, dma_sync_sg_for_device: SYNC_SG,
    swiotlb_bounced: BOUNCED,
  },
  '6.18': {
    dma_map_phys: MAP, dma_unmap_phys: UNMAP,
    dma_map_sg: SG_OLD, dma_map_sg_err: SG_ERR, dma_unmap_sg: UNMAP_SG,
    dma_sync_single_for_cpu: SYNC_SINGLE, dma_sync_single_for_device: SYNC_SINGLE, dma_sync_sg_for_cpu: SYNC_SG, dma_sync_sg_for_device: SYNC_SG,
    swiotlb_bounced: BOUNCED,
  },
  latest: {
    dma_map_phys: MAP, dma_unmap_phys: UNMAP,
    dma_map_sg: SG_NEW, dma_map_sg_err: SG_ERR, dma_unmap_sg: UNMAP_SG,
    dma_sync_single_for_cpu: SYNC_SINGLE, dma_sync_single_for_device: SYNC_SINGLE, dma_sync_sg_for_cpu: SYNC_SG, dma_sync_sg_for_device: SYNC_SG,
    swiotlb_bounced: BOUNCED,
  },
};

/** decode_dma_attrs() tables, in order. */
export const ATTR_NAMES: Readonly<Record<Version, readonly string[]>> = {
  '6.12': ['WEAK_ORDERING', 'WRITE_COMBINE', 'NO_KERNEL_MAPPING', 'SKIP_CPU_SYNC', 'FORCE_CONTIGUOUS', 'ALLOC_SINGLE_PAGES', 'NO_WARN', 'PRIVILEGED'],
  '6.13': ['WEAK_ORDERING', 'WRITE_COMBINE', 'NO_KERNEL_MAPPING', 'SKIP_CPU_SYNC', 'FORCE_CONTIGUOUS', 'ALLOC_SINGLE_PAGES', 'NO_WARN', 'PRIVILEGED'],
  '6.18': ['WEAK_ORDERING', 'WRITE_COMBINE', 'NO_KERNEL_MAPPING', 'SKIP_CPU_SYNC', 'FORCE_CONTIGUOUS', 'ALLOC_SINGLE_PAGES', 'NO_WARN', 'PRIVILEGED', 'MMIO'],
  latest: ['WEAK_ORDERING', 'WRITE_COMBINE', 'NO_KERNEL_MAPPING', 'SKIP_CPU_SYNC', 'FORCE_CONTIGUOUS', 'ALLOC_SINGLE_PAGES', 'NO_WARN', 'PRIVILEGED', 'MMIO', 'CACHELINES_OVERLAP', 'REQUIRE_COHERENT', 'CC_SHARED', 'ALLOC_CC_SHARED'],
};

/** The ftrace line (trace_print_context() + print_trace_fmt()) and trace-cmd report's. */
export const FTRACE_LINE = '%16s-%-7d [%03d] %s %5lu.%06lu: %s: %s';
export const TRACE_CMD_LINE = '%16s-%-5d [%03d] %s %5lu.%06lu: %s: %s';

interface Conversion {
  readonly flags: string;
  readonly width: number;
  readonly type: 's' | 'd' | 'llx' | 'zu' | 'lu';
}

type Token = string | Conversion;

function tokens(format: string): Token[] {
  const out: Token[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    if (format[i] !== '%') {
      literal += format[i];
      continue;
    }
    if (literal) out.push(literal);
    literal = '';
    let j = i + 1;
    let flags = '';
    while (format[j] === '-' || format[j] === '0') flags += format[j++];
    let width = '';
    while (format[j]! >= '0' && format[j]! <= '9') width += format[j++];
    const rest = format.slice(j);
    const type = (['llx', 'zu', 'lu', 'd', 's'] as const).find((t) => rest.startsWith(t));
    if (!type) throw new Error(`unsupported conversion in ${format} at ${i}`);
    out.push({ flags, width: Number(width || 0), type });
    i = j + type.length - 1;
  }
  if (literal) out.push(literal);
  return out;
}

/**
 * Matches `text` against a printf format: literals exactly, %d/%zu/%lu decimal, %llx lower-case hex
 * without 0x or leading zeros, %s up to an occurrence of the next literal (each tried in turn, so a
 * task name may hold "-"), or the end. Widths: right-aligned with spaces, '-' left-aligned, '0'
 * zero-padded. Returns the converted fields as printed (padding removed), or what failed.
 */
export function matchPrintf(format: string, text: string): string[] | string {
  const toks = tokens(format);
  let why = 'no match';
  const match = (t: number, at: number, fields: string[]): string[] | undefined => {
    if (t === toks.length) {
      if (at === text.length) return fields;
      why = `trailing text ${JSON.stringify(text.slice(at))}`;
      return undefined;
    }
    const tok = toks[t]!;
    if (typeof tok === 'string') {
      if (!text.startsWith(tok, at)) {
        why = `expected "${tok}" at ${at}: ${JSON.stringify(text.slice(at, at + 30))}`;
        return undefined;
      }
      return match(t + 1, at + tok.length, fields);
    }
    const next = toks[t + 1];
    const ends: number[] = [];
    if (tok.type === 's') {
      if (typeof next === 'string') {
        for (let e = text.indexOf(next, at); e >= 0 && ends.length < 64; e = text.indexOf(next, e + 1)) ends.push(e);
        if (ends.length === 0) why = `no "${next}" after %s at ${at}`;
      } else ends.push(text.length);
    } else {
      let end = at;
      while (end < text.length && text[end] === ' ') end++;
      if (tok.type === 'd' && text[end] === '-') end++;
      const digits = tok.type === 'llx' ? /[0-9a-f]/ : /[0-9]/;
      while (end < text.length && digits.test(text[end]!)) end++;
      if (tok.flags.includes('-')) while (end < text.length && text[end] === ' ' && end - at < tok.width) end++;
      ends.push(end);
    }
    for (const end of ends) {
      const raw = text.slice(at, end);
      const problem = checkField(tok, raw);
      if (problem !== undefined) {
        why = problem;
        continue;
      }
      const value = tok.width === 0 ? raw : tok.flags.includes('-') ? raw.trimEnd() : tok.flags.includes('0') ? raw : raw.trimStart();
      const found = match(t + 1, end, [...fields, value]);
      if (found) return found;
    }
    return undefined;
  };
  return match(0, 0, []) ?? why;
}

function checkField(tok: Conversion, raw: string): string | undefined {
  if (raw.length < tok.width) return `field ${raw} narrower than ${tok.width}`;
  const value = tok.width === 0 ? raw : tok.flags.includes('-') ? raw.trimEnd() : tok.flags.includes('0') ? raw : raw.trimStart();
  if (tok.width > 0 && raw.length > tok.width && value.length !== raw.length) return `field ${JSON.stringify(raw)} padded beyond its width`;
  if (tok.flags.includes('0') && tok.width > 0 && !/^[0-9]+$/.test(value)) return `zero-padded field ${raw} is not digits`;
  if (tok.type === 'llx' && !/^(0|[1-9a-f][0-9a-f]*)$/.test(value)) return `%llx field ${raw} is not lower-case hex without leading zeros`;
  if ((tok.type === 'zu' || tok.type === 'lu') && !tok.flags.includes('0') && !/^(0|[1-9][0-9]*)$/.test(value)) return `%${tok.type} field ${raw} is not an unsigned decimal`;
  if (tok.type === 'd' && !tok.flags.includes('0') && !/^-?(0|[1-9][0-9]*)$/.test(value)) return `%d field ${raw} is not a decimal`;
  return undefined;
}

/** __print_array() output: {} or {0x..,0x..}, lower-case hex without leading zeros. */
export function parsePrintArray(text: string): bigint[] | undefined {
  if (text === '{}') return [];
  if (!text.startsWith('{') || !text.endsWith('}')) return undefined;
  const parts = text.slice(1, -1).split(',');
  if (!parts.every((p) => /^0x(0|[1-9a-f][0-9a-f]*)$/.test(p))) return undefined;
  return parts.map((p) => BigInt(p));
}

/** __print_flags(attrs, "|", table): names in table order, each once; "" for none. */
export function checkAttrs(text: string, version: Version): string | undefined {
  if (text === '') return undefined;
  const names = text.split('|');
  const table = ATTR_NAMES[version];
  let last = -1;
  for (const name of names) {
    const at = table.indexOf(name);
    if (at < 0) return `attribute ${name} is not in the ${version} table`;
    if (at <= last) return `attributes out of table order: ${text}`;
    last = at;
  }
  return undefined;
}
