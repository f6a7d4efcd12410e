// The full dump lspci prints with -v, -vv or -vvv (pciutils lspci.c, ls-caps.c, ls-ecaps.c), with or without
// -nn IDs, -D domains, -P/-PP paths and -x/-xxx/-xxxx hex dumps, read into a topology description. Without a
// tree, the hierarchy comes from each bridge's "Bus: primary=, secondary=, subordinate=" line (or, in a hex dump,
// from the same registers). Each line is scanned once by position; no pattern can backtrack over a long line.
import { LspciParseError } from '../errors.js';
import { formatBdf, hex } from './bdf.js';
import { ACS_FLAG_NAMES, acsNames, type AcsFlagName, type AcsState } from './acs.js';
import { decodeConfig, expressType, type ConfigFacts } from './lspci-config.js';
import { indentOf, type InputLine } from './lspci-text.js';
import { describeName } from './lspci-tree.js';
import type { BarSpec, DeviceSpec, HostBridgeSpec, PortType, SlotSpec, SriovSpec, TopologySpec } from './topology.js';

/** One function of a dump, with what the model does not keep (the kernel's IOMMU group number as printed). */
export interface DumpFunction {
  readonly bdf: string;
  readonly line: number;
  readonly className: string;
  /** "IOMMU group: N" of lspci -vv (the running kernel's group), when printed. */
  readonly iommuGroup: string | undefined;
  /** Capabilities were not readable ("<access denied>": lspci was not run as root). */
  readonly capabilitiesDenied: boolean;
}

/** A parsed dump. */
export interface ParsedDump {
  readonly spec: TopologySpec;
  readonly lineOf: WeakMap<object, number>;
  readonly functions: readonly DumpFunction[];
  readonly notes: readonly string[];
}

interface Bar {
  index: number;
  kind: 'memory' | 'io';
  address: string | undefined;
  unassigned: boolean;
  prefetchable: boolean;
  is64bit: boolean;
  disabled: boolean;
  virtual: boolean;
  size: number | null;
}

interface Fn {
  line: number;
  segment: number;
  bus: number | undefined; // undefined until a -P path is resolved
  slot: number;
  fn: number;
  path: { segment: number | undefined; bus: number | undefined; slot: number; fn: number }[];
  className: string;
  classCode: number | undefined;
  spec: DeviceSpec;
  busLine: { primary: number; secondary: number; subordinate: number } | undefined;
  busLineNumber: number;
  portType: PortType | undefined;
  slotFlag: boolean;
  acsCap: number | undefined;
  acsCtl: number | undefined;
  acsSeen: boolean;
  bars: Bar[];
  nextBarIndex: number;
  rebar: Map<number, { current: number; supported: number[] }>;
  sriov: SriovSpec | undefined;
  slotInfo: SlotSpec;
  iommuGroup: string | undefined;
  denied: boolean;
  hex: Uint8Array | undefined;
  hexLength: number;
  hexNext: number;
  hexLine: number;
  headerText: string;
  sawCaps: boolean;
  statusNoCaps: boolean;
  properties: number;
}

const isHexDigit = (c: string | undefined): boolean => c !== undefined && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));

function hexLength(text: string, at: number, max: number): number {
  let n = 0;
  while (n < max && isHexDigit(text[at + n])) n++;
  return n;
}

function fail(line: number, message: string): never {
  throw new LspciParseError(`line ${line}: ${message}`, { line });
}

// "[DDDD:]BB:DD.F" at `at`; returns the parts and the end, or undefined.
function slotAt(text: string, at: number, withBus: boolean): { segment: number | undefined; bus: number | undefined; slot: number; fn: number; end: number } | undefined {
  let p = at;
  let segment: number | undefined;
  let bus: number | undefined;
  const first = hexLength(text, p, 9);
  if (text[p + first] === ':' && first >= 4 && first <= 8) {
    segment = Number.parseInt(text.slice(p, p + first), 16);
    p += first + 1;
  }
  const run = hexLength(text, p, 3);
  if (run === 2 && text[p + 2] === ':') {
    bus = Number.parseInt(text.slice(p, p + 2), 16);
    p += 3;
  } else if (withBus || segment !== undefined) return undefined;
  if (hexLength(text, p, 3) !== 2 || text[p + 2] !== '.' || !(text[p + 3]! >= '0' && text[p + 3]! <= '7')) return undefined;
  const slot = Number.parseInt(text.slice(p, p + 2), 16);
  if (slot > 0x1f) return undefined;
  return { segment, bus, slot, fn: Number(text[p + 3]), end: p + 4 };
}

/** Whether a line starts like a dump's device header ("00:1f.3 ...", "0000:00:1f.3 ...", "00:01.0/00.0 ..."). Never throws. */
export function isDumpHeader(text: string): boolean {
  const head = slotAt(text, 0, true);
  return head !== undefined && (text[head.end] === ' ' || text[head.end] === '/' || text[head.end] === '\t' || head.end === text.length);
}

// "NNN[KMGT]" after "[size=" -> bytes; lspci's show_size() divides by 1024 while it can.
function sizeValue(text: string): number | undefined {
  let digits = 0;
  while (digits < text.length && text[digits]! >= '0' && text[digits]! <= '9') digits++;
  if (digits === 0 || digits > 12) return undefined;
  const n = Number(text.slice(0, digits));
  const unit = text.slice(digits);
  const scale = unit === '' ? 1 : unit === 'K' ? 2 ** 10 : unit === 'M' ? 2 ** 20 : unit === 'G' ? 2 ** 30 : unit === 'T' ? 2 ** 40 : undefined;
  if (scale === undefined || n === 0) return undefined;
  const bytes = n * scale;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

// Resizable BAR sizes: " 256MB", " 16GB" (print_rebar_range_size(): powers of two from 1MB).
function rebarSize(token: string): number | undefined {
  const m = /^(\d{1,4})(MB|GB|TB|PB|EB)$/.exec(token);
  if (!m) return undefined;
  const scale = { MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40, PB: 2 ** 50, EB: 2 ** 60 }[m[2] as 'MB'];
  const bytes = Number(m[1]) * scale;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

// "SrcValid+ TransBlk- ..." -> bits set; undefined if any token is not a known flag.
function acsFlags(text: string): { mask: number; names: number } | undefined {
  let mask = 0;
  let names = 0;
  for (const token of text.split(/[ \t]+/)) {
    if (token === '') continue;
    const sign = token[token.length - 1];
    const bit = ACS_FLAG_NAMES.indexOf(token.slice(0, -1) as AcsFlagName);
    if (bit < 0 || (sign !== '+' && sign !== '-')) return undefined;
    names |= 1 << bit;
    if (sign === '+') mask |= 1 << bit;
  }
  return { mask, names };
}

function parseHeader(text: string, line: number): Fn {
  const head = slotAt(text, 0, true)!;
  const path: Fn['path'] = [{ segment: head.segment, bus: head.bus, slot: head.slot, fn: head.fn }];
  let at = head.end;
  while (text[at] === '/') {
    const part = slotAt(text, at + 1, false);
    if (!part || part.segment !== undefined) fail(line, `malformed -P path component at column ${at + 2} (expected DD.F or BB:DD.F)`);
    path.push({ segment: undefined, bus: part.bus, slot: part.slot, fn: part.fn });
    at = part.end;
  }
  const last = path[path.length - 1]!;
  const rest = text.slice(at).trim();
  const colon = rest.indexOf(': ');
  let className = rest;
  let description = '';
  if (colon >= 0) {
    className = rest.slice(0, colon);
    description = rest.slice(colon + 2);
  } else if (rest.endsWith(':')) className = rest.slice(0, -1);
  let classCode: number | undefined;
  if (className.endsWith(']') && className.length >= 6 && className[className.length - 6] === '[' && hexLength(className, className.length - 5, 4) === 4) {
    classCode = Number.parseInt(className.slice(-5, -1), 16);
    className = className.slice(0, -6).trimEnd();
  } else if (className.length === 4 && hexLength(className, 0, 4) === 4) {
    classCode = Number.parseInt(className, 16);
  }
  // " (prog-if 00 [VGA controller])" comes after " (rev xx)"; both end the line.
  if (description.endsWith(')')) {
    const prog = description.lastIndexOf(' (prog-if ');
    if (prog >= 0) description = description.slice(0, prog).trimEnd();
  }
  const spec: DeviceSpec = { bdf: '' };
  describeName(spec, description);
  return {
    line,
    segment: head.segment ?? 0,
    bus: last.bus,
    slot: last.slot,
    fn: last.fn,
    path,
    className,
    classCode,
    spec,
    busLine: undefined,
    busLineNumber: 0,
    portType: undefined,
    slotFlag: false,
    acsCap: undefined,
    acsCtl: undefined,
    acsSeen: false,
    bars: [],
    nextBarIndex: 0,
    rebar: new Map(),
    sriov: undefined,
    slotInfo: {},
    iommuGroup: undefined,
    denied: false,
    hex: undefined,
    hexLength: 0,
    hexNext: 0,
    hexLine: 0,
    headerText: text,
    sawCaps: false,
    statusNoCaps: false,
    properties: 0,
  };
}

// "Memory at f0000000 (64-bit, prefetchable) [disabled] [size=16M]" and the older "[virtual] Memory at ...".
function parseRegion(fn: Fn, body: string, index: number | undefined, line: number): void {
  let text = body;
  let virtual = false;
  if (text.startsWith('[virtual] ')) {
    virtual = true;
    text = text.slice(10);
  }
  if (text.startsWith('I/O ports at ')) {
    const i = index ?? fn.nextBarIndex;
    fn.nextBarIndex = i + 1;
    return;
  }
  if (!text.startsWith('Memory at ')) return;
  text = text.slice(10);
  let address: string | undefined;
  let unassigned = false;
  const run = hexLength(text, 0, 17);
  if (run > 0 && run <= 16) {
    address = `0x${text.slice(0, run).toLowerCase().replace(/^0+(?=.)/, '')}`;
    text = text.slice(run);
  } else if (text.startsWith('<')) {
    const close = text.indexOf('>');
    if (close < 0) fail(line, 'malformed memory region (expected an address, <unassigned>, <ignored> or <broken-64-bit-slot>)');
    unassigned = true;
    text = text.slice(close + 1);
  } else fail(line, `malformed memory region "${body.slice(0, 60)}" (expected an address after "Memory at")`);
  let is64bit = false;
  let prefetchable = false;
  if (text.startsWith(' (')) {
    const close = text.indexOf(')');
    if (close < 0) fail(line, 'malformed memory region: "(" without ")"');
    const [width = '', pref = ''] = text.slice(2, close).split(', ');
    is64bit = width === '64-bit';
    prefetchable = pref === 'prefetchable';
    if (pref !== 'prefetchable' && pref !== 'non-prefetchable') fail(line, `malformed memory region type "${text.slice(1, close + 1)}" (expected "(32-bit|64-bit|low-1M, prefetchable|non-prefetchable)")`);
    text = text.slice(close + 1);
  }
  let disabled = false;
  let size: number | null = null;
  for (const flag of text.split(' [')) {
    const f = flag.trim();
    if (f === '') continue;
    const inner = f.startsWith('[') ? f.slice(1) : f;
    const word = inner.endsWith(']') ? inner.slice(0, -1) : inner;
    if (word === 'disabled') disabled = true;
    else if (word === 'virtual') virtual = true;
    else if (word.startsWith('size=')) {
      const bytes = sizeValue(word.slice(5));
      if (bytes === undefined) fail(line, `malformed BAR size "[${word}]" (expected [size=N] with K, M, G or T)`);
      size = bytes;
    }
  }
  const i = index ?? fn.nextBarIndex;
  fn.nextBarIndex = i + (is64bit ? 2 : 1);
  if (i > 5) return; // more regions than a type-0 header has: not a standard BAR
  fn.bars.push({ index: i, kind: 'memory', address, unassigned, prefetchable, is64bit, disabled, virtual, size });
}

function parseExpress(fn: Fn, rest: string): void {
  // "Express (v2) Root Port (Slot+), MSI 00" / "Express Endpoint, IntMsgNum 0"
  let text = rest.slice(8);
  if (text.startsWith('(v')) {
    const close = text.indexOf(') ');
    if (close > 0) text = text.slice(close + 2);
  }
  const comma = text.indexOf(',');
  const typeText = (comma >= 0 ? text.slice(0, comma) : text).trim();
  const table: [string, PortType][] = [
    ['Root Complex Integrated Endpoint', 'rc-integrated-endpoint'],
    ['Root Complex Event Collector', 'rc-event-collector'],
    ['Legacy Endpoint', 'legacy-endpoint'],
    ['Endpoint', 'endpoint'],
    ['Root Port', 'root-port'],
    ['Upstream Port', 'upstream-port'],
    ['Downstream Port', 'downstream-port'],
    ['PCI-Express to PCI/PCI-X Bridge', 'pcie-to-pci-bridge'],
    ['PCI/PCI-X to PCI-Express Bridge', 'pci-to-pcie-bridge'],
  ];
  for (const [label, type] of table) {
    if (typeText.startsWith(label)) {
      fn.portType = type;
      fn.slotFlag = typeText.includes('(Slot+)');
      return;
    }
  }
  const unknown = /^Unknown type (\d{1,2})$/.exec(typeText);
  if (unknown) fn.portType = expressType(Number(unknown[1]));
}

function numberAfter(text: string, label: string): number | undefined {
  const at = text.indexOf(label);
  if (at < 0) return undefined;
  let p = at + label.length;
  let end = p;
  while (end < text.length && text[end]! >= '0' && text[end]! <= '9' && end - p < 6) end++;
  return end > p ? Number(text.slice(p, end)) : undefined;
}

// One hex dump line "0a0: 00 01 ... " (up to 16 bytes) into the function's config space.
function hexLine(fn: Fn, text: string, line: number): boolean {
  const run = hexLength(text, 0, 4);
  if ((run !== 2 && run !== 3) || text[run] !== ':') return false;
  const offset = Number.parseInt(text.slice(0, run), 16);
  const bytes: number[] = [];
  let p = run + 1;
  while (p < text.length) {
    if (text[p] !== ' ' || hexLength(text, p + 1, 3) !== 2) return false;
    bytes.push(Number.parseInt(text.slice(p + 1, p + 3), 16));
    p += 3;
  }
  if (bytes.length === 0 || bytes.length > 16) return false;
  if (offset !== fn.hexNext || offset % 16 !== 0) fail(line, `hex dump offset ${text.slice(0, run)} out of order (expected ${hex(fn.hexNext, 2)})`);
  fn.hex ??= new Uint8Array(4096);
  fn.hex.set(bytes, offset);
  fn.hexNext = offset + bytes.length;
  fn.hexLength = fn.hexNext;
  fn.hexLine = line;
  return true;
}

/**
 * Parses dump lines (from lspciLines()). Returns the description (hierarchy from the Bus lines), the input line of
 * every device, the functions as printed and notes. Throws LspciParseError (ERR_LSPCI_PARSE, field `line`) for a
 * malformed header, region, ACS line, hex dump, or a hierarchy the Bus lines contradict. @internal
 */
export function parseDumpLines(input: readonly InputLine[]): ParsedDump {
  const fns: Fn[] = [];
  const notes: string[] = [];
  let current: Fn | undefined;
  let section = '';
  let sectionIndent = 0;
  let previousKind: 'header' | 'acs-cap' | 'acs-ctl' | 'other' = 'other';
  let pendingSlotNumber = false;
  for (const { text, number } of input) {
    if (text === '') {
      current = undefined;
      previousKind = 'other';
      continue;
    }
    const indent = indentOf(text);
    const body = text.trim();
    if (indent === 0) {
      if (isDumpHeader(text)) {
        current = parseHeader(text, number);
        fns.push(current);
        section = '';
        previousKind = 'header';
        continue;
      }
      if (current && hexLine(current, body, number)) continue;
      // A header wrapped by a narrow terminal or mail client: the rest of the line, unindented.
      if (current && previousKind === 'header') {
        const joined = parseHeader(`${current.headerText} ${body}`, current.line);
        current.headerText = `${current.headerText} ${body}`;
        current.className = joined.className;
        current.classCode = joined.classCode;
        current.spec = joined.spec;
        continue;
      }
      fail(number, `expected a device header "BB:DD.F Class: Vendor Device" (lspci -vv), got "${body.slice(0, 40)}"`);
    }
    if (!current) fail(number, `property line outside a device (expected a header "BB:DD.F ..." first): "${body.slice(0, 40)}"`);
    if (hexLine(current, body, number)) continue;
    current.properties++;
    if (indent <= sectionIndent) section = '';
    // Wrapped continuation of an ACS line: only flag tokens.
    if ((previousKind === 'acs-cap' || previousKind === 'acs-ctl') && acsFlags(body) && !body.includes(':')) {
      const flags = acsFlags(body)!;
      if (previousKind === 'acs-cap') current.acsCap = (current.acsCap ?? 0) | flags.mask;
      else current.acsCtl = (current.acsCtl ?? 0) | flags.mask;
      continue;
    }
    previousKind = 'other';
    if (body.startsWith('Status: ') && body.includes(' Cap- ')) current.statusNoCaps = true;
    if (body.startsWith('Capabilities: ')) {
      current.sawCaps = true;
      const rest = body.slice(14);
      sectionIndent = indent;
      const close = rest.indexOf('] ');
      const name = close >= 0 ? rest.slice(close + 2) : rest;
      if (rest.startsWith('<access denied>') || name.startsWith('<access denied>')) {
        current.denied = true;
        section = '';
        continue;
      }
      if (name.startsWith('Express ')) parseExpress(current, name);
      if (name.startsWith('Access Control Services')) current.acsSeen = true;
      section = name.startsWith('Single Root I/O Virtualization') ? 'sriov' : name.includes('Resizable BAR') && !name.startsWith('Virtual') ? 'rebar' : name.startsWith('Access Control Services') ? 'acs' : name.startsWith('Express') ? 'express' : 'other';
      if (section === 'sriov') current.sriov = {};
      continue;
    }
    if (body.startsWith('ACSCap:') || body.startsWith('ACSCtl:')) {
      const flags = acsFlags(body.slice(7));
      if (!flags) fail(number, `malformed ${body.slice(0, 6)} line (expected ACS flags such as "SrcValid+ TransBlk- ReqRedir+ ...")`);
      current.acsSeen = true;
      if (body.startsWith('ACSCap:')) {
        current.acsCap = flags.mask;
        previousKind = 'acs-cap';
      } else {
        current.acsCtl = flags.mask;
        previousKind = 'acs-ctl';
      }
      continue;
    }
    if (section === 'sriov' && current.sriov) {
      const s = current.sriov;
      const total = numberAfter(body, 'Total VFs: ');
      if (total !== undefined) s.totalVfs = total;
      const num = numberAfter(body, 'Number of VFs: ');
      if (num !== undefined) s.numVfs = num;
      const did = body.indexOf('Device ID: ');
      if (did >= 0 && hexLength(body, did + 11, 5) === 4) s.vfDevice = body.slice(did + 11, did + 15).toLowerCase();
      if (body.startsWith('Region ')) {
        const colon = body.indexOf(': ');
        const idx = Number(body.slice(7, colon));
        const region = body.slice(colon + 2);
        if (Number.isInteger(idx) && idx >= 0 && idx <= 5 && region.startsWith('Memory at ')) {
          const run = hexLength(region, 10, 17);
          const typeStart = region.indexOf('(', 10);
          const type = typeStart >= 0 ? region.slice(typeStart) : '';
          s.bars ??= [];
          s.bars.push({
            index: idx,
            ...(run > 0 && run <= 16 ? { address: `0x${region.slice(10, 10 + run).toLowerCase().replace(/^0+(?=.)/, '')}` } : {}),
            ...(type.includes(', prefetchable') ? { prefetchable: true } : {}),
            ...(type.startsWith('(64') ? { is64bit: true } : {}),
          });
        }
      }
      continue;
    }
    if (section === 'rebar' && body.startsWith('BAR ')) {
      const m = /^BAR (\d): current size: ?(\S+)(?:, supported:(.*))?$/.exec(body);
      if (m) {
        const current_ = rebarSize(m[2]!);
        const supported = (m[3] ?? '').split(' ').filter(Boolean).map(rebarSize);
        if (current_ !== undefined && supported.every((v) => v !== undefined)) current.rebar.set(Number(m[1]), { current: current_, supported: supported as number[] });
      }
      continue;
    }
    if (body.startsWith('Bus: primary=')) {
      const m = /^Bus: primary=([0-9a-f]{2}), secondary=([0-9a-f]{2}), subordinate=([0-9a-f]{2})/.exec(body);
      if (!m) fail(number, 'malformed "Bus:" line (expected "Bus: primary=BB, secondary=BB, subordinate=BB")');
      current.busLine = { primary: Number.parseInt(m[1]!, 16), secondary: Number.parseInt(m[2]!, 16), subordinate: Number.parseInt(m[3]!, 16) };
      current.busLineNumber = number;
      continue;
    }
    if (body.startsWith('Region ')) {
      const colon = body.indexOf(': ');
      const idx = colon > 7 ? Number(body.slice(7, colon)) : Number.NaN;
      if (!Number.isInteger(idx) || idx < 0 || idx > 5) fail(number, `malformed region line "${body.slice(0, 40)}" (expected "Region N: ..." with N 0..5)`);
      parseRegion(current, body.slice(colon + 2), idx, number);
      continue;
    }
    if (body.startsWith('Memory at ') || body.startsWith('I/O ports at ') || body.startsWith('[virtual] Memory at ')) {
      parseRegion(current, body, undefined, number);
      continue;
    }
    if (body.startsWith('[size=') && current.bars.length > 0 && current.bars[current.bars.length - 1]!.size === null) {
      // A region line wrapped before its size.
      const bytes = sizeValue(body.slice(6, body.indexOf(']')));
      if (bytes !== undefined) current.bars[current.bars.length - 1]!.size = bytes;
      continue;
    }
    if (body.startsWith('Physical Slot: ')) {
      current.slotInfo.physical = body.slice(15);
      continue;
    }
    if (body.startsWith('SltCap:')) {
      current.slotInfo.hotPlug = body.includes('HotPlug+');
      current.slotInfo.surprise = body.includes('Surprise+');
      pendingSlotNumber = true;
      continue;
    }
    if (pendingSlotNumber && body.startsWith('Slot #')) {
      const n = numberAfter(body, 'Slot #');
      if (n !== undefined) current.slotInfo.number = n;
      pendingSlotNumber = false;
      continue;
    }
    pendingSlotNumber = false;
    if (body.startsWith('IOMMU group: ')) {
      current.iommuGroup = body.slice(13);
      continue;
    }
    // Everything else lspci prints (Control:, Status:, LnkCap:, Kernel driver in use: ...) says nothing the model keeps.
  }
  return assemble(fns, notes);
}

function assemble(fns: Fn[], notes: string[]): ParsedDump {
  const lineOf = new WeakMap<object, number>();
  if (fns.length === 0) fail(1, 'no device in the dump (expected lspci -vv output: "BB:DD.F Class: Vendor Device" headers)');
  if (fns.every((fn) => fn.properties === 0 && !fn.hex)) {
    fail(fns[0]!.line, 'this is lspci output without -v: it shows no bridge bus numbers, so the hierarchy is unknown (give lspci -vv, -vvv or -tv output)');
  }
  // Fill what the text lacks from hex dumps.
  const facts = new Map<Fn, ConfigFacts>();
  for (const fn of fns) if (fn.hex) facts.set(fn, decodeConfig(fn.hex, fn.hexLength));
  // Resolve -P paths (the bus of each component after the first is the secondary bus of the one before it).
  const byKey = new Map<string, Fn>();
  const key = (segment: number, bus: number, slot: number, f: number) => `${segment}:${bus}:${slot}:${f}`;
  const secondaryOf = (fn: Fn): number | undefined => fn.busLine?.secondary ?? facts.get(fn)?.bus?.secondary;
  const parentByPath = new Map<Fn, Fn>();
  for (const fn of fns) {
    if (fn.path.length > 1) {
      let bus = fn.path[0]!.bus!;
      let parent: Fn | undefined;
      for (let i = 0; i < fn.path.length; i++) {
        const part = fn.path[i]!;
        if (i > 0) {
          const sec = parent ? secondaryOf(parent) : undefined;
          if (part.bus !== undefined) bus = part.bus;
          else if (sec !== undefined) bus = sec;
          else fail(fn.line, 'a -P path component names no bus and its bridge shows no "Bus:" line: cannot place the device');
        }
        if (i === fn.path.length - 1) break;
        parent = byKey.get(key(fn.segment, bus, part.slot, part.fn));
        if (!parent) fail(fn.line, `the -P path names bridge ${formatBdf(fn.segment, bus, part.slot, part.fn)}, which the dump does not list before it`);
      }
      fn.bus = bus;
      if (parent) parentByPath.set(fn, parent);
    }
    fn.spec.bdf = formatBdf(fn.segment, fn.bus!, fn.slot, fn.fn);
    const k = key(fn.segment, fn.bus!, fn.slot, fn.fn);
    const earlier = byKey.get(k);
    if (earlier) fail(fn.line, `${fn.spec.bdf} appears twice (first on line ${earlier.line})`);
    byKey.set(k, fn);
  }
  // Bridges by secondary bus.
  const bySecondary = new Map<string, Fn>();
  for (const fn of fns) {
    const sec = secondaryOf(fn);
    if (sec === undefined) continue;
    const line = fn.busLineNumber || fn.hexLine || fn.line;
    // The primary bus number is not checked: firmware of some root ports leaves it stale after Linux renumbers
    // buses, and neither the kernel nor lspci -t uses it.
    if (sec <= fn.bus!) fail(line, `bridge ${fn.spec.bdf}'s secondary bus ${hex(sec, 2)} is not above its own bus`);
    const sub = fn.busLine?.subordinate ?? facts.get(fn)?.bus?.subordinate ?? sec;
    if (sub < sec) fail(line, `bridge ${fn.spec.bdf}'s bus range [${hex(sec, 2)}-${hex(sub, 2)}] is reversed`);
    const k = `${fn.segment}:${sec}`;
    const other = bySecondary.get(k);
    if (other) fail(line, `bridge ${fn.spec.bdf} claims bus ${hex(sec, 2)}, already the secondary bus of ${other.spec.bdf} (line ${other.line})`);
    bySecondary.set(k, fn);
  }
  // Properties into the description.
  let denied = 0;
  for (const fn of fns) {
    const f = facts.get(fn);
    const spec = fn.spec;
    if (spec.vendor === undefined && f?.vendor !== undefined && f.device !== undefined) {
      spec.vendor = hex(f.vendor, 4);
      spec.device = hex(f.device, 4);
    }
    const portType = fn.portType ?? f?.portType ?? (fn.denied || fn.hex || fn.acsSeen ? undefined : expressLess(fn));
    if (portType !== undefined) spec.portType = portType;
    const sec = secondaryOf(fn);
    const isBridge = sec !== undefined || (f?.headerType !== undefined && f.headerType !== 0) || fn.classCode === 0x0604 || fn.classCode === 0x0607 || fn.className === 'PCI bridge' || fn.className === 'CardBus bridge';
    if (isBridge) {
      spec.kind = portType === 'root-port' || portType === 'upstream-port' || portType === 'downstream-port' ? portType : 'bridge';
      if (sec !== undefined) spec.secondaryBus = sec;
    } else spec.kind = 'endpoint';
    const acsCap = fn.acsCap ?? f?.acs?.capability;
    const acsCtl = fn.acsCtl ?? f?.acs?.control;
    if (acsCap !== undefined && acsCtl !== undefined) spec.acs = { capability: acsNames(acsCap), control: acsNames(acsCtl) };
    else if (fn.acsSeen && !fn.denied) notes.push(`${spec.bdf}: the dump shows an ACS capability without its ACSCap/ACSCtl lines (run lspci -vv or -vvv)`);
    if (f?.multifunction !== undefined) spec.multifunction = f.multifunction;
    if (fn.slotInfo.physical !== undefined || fn.slotInfo.number !== undefined || fn.slotInfo.hotPlug !== undefined) spec.slot = { ...fn.slotInfo };
    if (fn.sriov && Object.keys(fn.sriov).length > 0) spec.sriov = fn.sriov;
    const bars: BarSpec[] = [];
    for (const bar of fn.bars) {
      const placement = bar.size === null ? 4096 : Math.max(4096, 2 ** Math.ceil(Math.log2(bar.size)));
      const out: BarSpec = { index: bar.index, size: placement };
      if (bar.prefetchable) out.prefetchable = true;
      if (bar.is64bit) out.is64bit = true;
      if (bar.address !== undefined) out.address = bar.address;
      if (bar.size !== placement) out.reportedSize = bar.size;
      if (bar.disabled) out.disabled = true;
      if (bar.virtual) out.virtual = true;
      if (bar.unassigned) out.unassigned = true;
      const rebar = fn.rebar.get(bar.index);
      if (rebar) out.resizable = { current: rebar.current, supported: rebar.supported };
      bars.push(out);
    }
    if (bars.length > 0) spec.bars = bars;
    if (fn.denied) denied++;
    lineOf.set(spec, fn.line);
  }
  if (denied > 0) notes.push(`${denied} function(s) show "Capabilities: <access denied>": port types and ACS are unknown there (run lspci as root)`);
  // Hierarchy: a function hangs below the bridge whose secondary bus it sits on (or below its -P path parent).
  const roots = new Map<string, HostBridgeSpec>();
  const rootOrder: HostBridgeSpec[] = [];
  for (const fn of fns) {
    const viaPath = parentByPath.get(fn);
    const parent = bySecondary.get(`${fn.segment}:${fn.bus}`);
    if (viaPath && parent && viaPath !== parent) fail(fn.line, `the -P path puts ${fn.spec.bdf} below ${viaPath.spec.bdf} but ${parent.spec.bdf}'s Bus: line claims its bus`);
    const above = viaPath ?? parent;
    if (above) {
      (above.spec.children ??= []).push(fn.spec);
      continue;
    }
    const k = `${fn.segment}:${fn.bus}`;
    let hb = roots.get(k);
    if (!hb) {
      // A bus inside some bridge's range that no bridge claims as its secondary bus cannot be placed.
      for (const bridge of bySecondary.values()) {
        const sub = bridge.busLine?.subordinate ?? facts.get(bridge)?.bus?.subordinate ?? secondaryOf(bridge)!;
        if (bridge.segment === fn.segment && fn.bus! > secondaryOf(bridge)! && fn.bus! <= sub) {
          fail(fn.line, `${fn.spec.bdf} is on bus ${hex(fn.bus!, 2)}, inside bridge ${bridge.spec.bdf}'s range but no bridge in the dump has it as secondary bus (was the dump filtered?)`);
        }
      }
      hb = { segment: fn.segment, bus: fn.bus!, devices: [] };
      lineOf.set(hb, fn.line);
      roots.set(k, hb);
      rootOrder.push(hb);
    }
    hb.devices.push(fn.spec);
  }
  // Children were pushed in dump order, which is bus/devfn order within each bus.
  const functions = fns.map((fn) => ({ bdf: fn.spec.bdf, line: fn.line, className: fn.className, iommuGroup: fn.iommuGroup, capabilitiesDenied: fn.denied }));
  return { spec: { hostBridges: rootOrder }, lineOf, functions, notes };
}

// A function that printed its capability list but no Express capability is conventional PCI.
function expressLess(fn: Fn): PortType | undefined {
  return fn.portType === undefined && (fn.sawCaps || fn.statusNoCaps) ? 'pci' : undefined;
}
