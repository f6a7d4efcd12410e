// Import of the tree that `lspci -tv` / `lspci -tvnn` prints (pciutils ls-tree.c) into the topology model.
//
// The format, as ls-tree.c writes it: the forest starts with "-"; a host bridge group with one root bus
// prints "[SSSS:BB]-", with several "+-[SSSS:BB]-" ... "\-[SSSS:BB]-" on successive lines. A bus with one
// device prints "--" before it, with several "+-" ... "\-"; an empty bus prints nothing. A function is
// "DD.F"; a bridge adds "-[SS]-" or "-[SS-UU]-" (secondary, subordinate) and then "-" and its secondary bus;
// an endpoint adds "  name" with -v. Lines that continue a branch carry "|" in its column.
import { InvalidArgumentError, LspciParseError, TopologyError } from '../errors.js';
import { formatBdf } from './bdf.js';
import { applyOverrides, buildTopology, type Cpu, type DeviceSpec, type HostBridgeSpec, type Topology, type TopologySpec } from './topology.js';

/** What lspci output cannot say, given separately. */
export interface LspciOptions {
  /** BDFs whose ACS control has RR, CR or EC set. */
  acsRedirect?: readonly string[];
  /** The CPU; without it the CPU is unknown (not AMD Zen). */
  cpu?: Cpu | null;
}

interface Parsed<T> {
  value: T;
  last: number; // index of the last line consumed
}

interface BridgeRange {
  secondary: number;
  subordinate: number;
}

const FUNCTION = /^([0-9a-f]{2})\.([0-7])/;
const BUS_RANGE = /^-\[([0-9a-f]{2})(?:-([0-9a-f]{2}))?\]-/;
const ROOT_BUS = /^\[(?:([0-9a-f]{4,8}):)?([0-9a-f]{2})\]-/;
const IDS_AT_END = /\s*\[([0-9a-f]{4}):([0-9a-f]{4})\]$/;
const IDS_ONLY = /^([0-9a-f]{4}):([0-9a-f]{4})$/;
const REVISION_AT_END = /\s*\(rev ([0-9a-f]{2})\)$/;

class TreeParser {
  readonly lines: string[];
  readonly lineOf = new WeakMap<object, number>();
  readonly seen = new Map<string, number>();

  constructor(text: string) {
    this.lines = text.split(/\r?\n/).map((line) => line.replace(/\s+$/, ''));
  }

  fail(index: number, message: string): never {
    const line = index + 1;
    throw new LspciParseError(`line ${line}: ${message}`, { line });
  }

  parse(): TopologySpec {
    const start = this.lines.findIndex((line) => line !== '');
    if (start < 0) this.fail(0, 'no lspci tree (empty input)');
    const first = this.lines[start]!;
    if (first[0] !== '-') this.fail(start, `expected the tree to start with "-" (output of lspci -tv or lspci -tvnn), got "${first.slice(0, 20)}"`);
    let hostBridges: HostBridgeSpec[];
    let last: number;
    if (first.startsWith('+-', 1)) {
      ({ value: hostBridges, last } = this.siblings(start, 1, (li, col) => this.rootBus(li, col)));
    } else {
      const parsed = this.rootBus(start, 1);
      hostBridges = [parsed.value];
      last = parsed.last;
    }
    const extra = this.lines.findIndex((line, i) => i > last && line !== '');
    if (extra >= 0) this.fail(extra, 'unexpected text after the end of the tree');
    return { hostBridges };
  }

  rootBus(li: number, col: number): Parsed<HostBridgeSpec> {
    const text = this.lines[li]!;
    const match = ROOT_BUS.exec(text.slice(col));
    if (!match) this.fail(li, `expected a root bus "[SSSS:BB]-" at column ${col + 1}`);
    const segment = Number.parseInt(match[1] ?? '0', 16);
    const bus = Number.parseInt(match[2]!, 16);
    const hb: HostBridgeSpec = { segment, bus, devices: [] };
    this.lineOf.set(hb, li);
    const content = this.busContent(li, col + match[0].length, segment, bus, undefined);
    hb.devices = content.value;
    return { value: hb, last: content.last };
  }

  // The devices of one bus, starting at (li, col): nothing, "--" one device, or "+-" ... "\-" several.
  busContent(li: number, col: number, segment: number, bus: number, range: BridgeRange | undefined): Parsed<DeviceSpec[]> {
    const text = this.lines[li]!;
    if (col >= text.length) return { value: [], last: li };
    const connector = text.slice(col, col + 2);
    if (connector === '--') {
      const one = this.device(li, col + 2, segment, bus, range);
      return { value: [one.value], last: one.last };
    }
    if (connector === '+-' && text[col + 2] === '[') this.fail(li, 'a bridge whose range holds several buses is not supported by the model');
    if (connector === '+-') return this.siblings(li, col, (line, at) => this.device(line, at, segment, bus, range));
    return this.fail(li, `malformed connector "${connector}" at column ${col + 1} (expected "--", "+-" or the end of the line)`);
  }

  // Entries at column `col`: "+-" entries continue on later lines until the "\-" entry.
  siblings<T>(li: number, col: number, entry: (li: number, col: number) => Parsed<T>): Parsed<T[]> {
    const values: T[] = [];
    let line = li;
    for (;;) {
      const text = this.lines[line]!;
      const connector = text.slice(col, col + 2);
      const isLast = connector === '\\-';
      if (connector !== '+-' && !isLast) this.fail(line, `malformed connector "${connector}" at column ${col + 1} (expected "+-" or "\\-")`);
      const parsed = entry(line, col + 2);
      values.push(parsed.value);
      if (isLast) return { value: values, last: parsed.last };
      for (let k = line + 1; k <= parsed.last; k++) {
        if (this.lines[k]![col] !== '|') this.fail(k, `expected "|" at column ${col + 1} continuing the branch opened on line ${line + 1}`);
      }
      const next = parsed.last + 1;
      const nextText = this.lines[next];
      if (nextText === undefined || nextText === '') {
        this.fail(line, `the branch at column ${col + 1} never closes: no "\\-" entry follows (output cut short?)`);
      }
      if (!/^[ |]*$/.test(nextText.slice(0, col)) || nextText.length < col + 2) {
        this.fail(next, `expected "+-" or "\\-" at column ${col + 1} continuing the branch opened on line ${line + 1}`);
      }
      line = next;
    }
  }

  device(li: number, col: number, segment: number, bus: number, range: BridgeRange | undefined): Parsed<DeviceSpec> {
    const text = this.lines[li]!;
    const rest = text.slice(col);
    const fn = FUNCTION.exec(rest);
    if (!fn) this.fail(li, `expected a function "DD.F" at column ${col + 1}, got "${rest.slice(0, 12)}"`);
    const slot = Number.parseInt(fn[1]!, 16);
    if (slot > 0x1f) this.fail(li, `device number ${fn[1]} is above 1f`);
    const bdf = formatBdf(segment, bus, slot, Number(fn[2]));
    const earlier = this.seen.get(bdf);
    if (earlier !== undefined) this.fail(li, `${bdf} appears twice (first on line ${earlier + 1})`);
    this.seen.set(bdf, li);
    const spec: DeviceSpec = { bdf };
    this.lineOf.set(spec, li);
    const after = rest.slice(fn[0].length);
    const bridge = BUS_RANGE.exec(after);
    if (bridge) {
      const secondary = Number.parseInt(bridge[1]!, 16);
      const subordinate = bridge[2] === undefined ? secondary : Number.parseInt(bridge[2], 16);
      if (subordinate < secondary) this.fail(li, `bus range [${bridge[1]}-${bridge[2]}] is reversed`);
      if (secondary <= bus) this.fail(li, `bridge ${bdf}'s secondary bus ${bridge[1]} is not above its own bus`);
      if (range && (secondary < range.secondary || subordinate > range.subordinate)) {
        this.fail(li, `bridge ${bdf}'s buses [${bridge[1]}${bridge[2] ? `-${bridge[2]}` : ''}] are outside its parent's range`);
      }
      spec.secondaryBus = secondary;
      spec.kind = 'bridge';
      const at = col + fn[0].length + bridge[0].length;
      if (text[at] !== '-') {
        this.fail(li, `malformed bridge "${after.slice(0, bridge[0].length + 3)}" (expected "-" after the bus range)`);
      }
      const content = this.busContent(li, at + 1, segment, secondary, { secondary, subordinate });
      if (content.value.length > 0) spec.children = content.value;
      return { value: spec, last: content.last };
    }
    if (after !== '') {
      if (!after.startsWith('  ') || after.trim() === '') this.fail(li, `unexpected text after ${fn[0]}: "${after.slice(0, 20)}"`);
      describe(spec, after.trim());
    }
    return { value: spec, last: li };
  }

  lineForPath(spec: TopologySpec, path: string): number | undefined {
    let node: unknown = spec;
    let line: number | undefined;
    for (const step of path.matchAll(/\.(\w+)|\[(\d+)\]/g)) {
      if (typeof node !== 'object' || node === null) break;
      node = step[1] !== undefined ? (node as Record<string, unknown>)[step[1]] : (node as unknown[])[Number(step[2])];
      if (typeof node === 'object' && node !== null) line = this.lineOf.get(node) ?? line;
    }
    return line;
  }
}

function describe(spec: DeviceSpec, text: string): void {
  let name = text.replace(REVISION_AT_END, '');
  const only = IDS_ONLY.exec(name);
  const ids = only ?? IDS_AT_END.exec(name);
  if (ids) {
    spec.vendor = ids[1]!;
    spec.device = ids[2]!;
    name = only ? '' : name.slice(0, ids.index);
  }
  if (name !== '') spec.name = name;
}

// Kinds: lspci does not print them. A bridge on a root bus is a root port; a bridge below a root port or
// downstream port whose children include bridges is a switch upstream port, and those children are
// downstream ports; every other bridge stays 'bridge'.
function inferKinds(devices: DeviceSpec[], parentKind: string | undefined): void {
  for (const device of devices) {
    if (device.kind === 'bridge') {
      const hasBridgeChild = (device.children ?? []).some((child) => child.kind === 'bridge');
      if (parentKind === undefined) device.kind = 'root-port';
      else if (parentKind === 'upstream-port') device.kind = 'downstream-port';
      else if ((parentKind === 'root-port' || parentKind === 'downstream-port') && hasBridgeChild) device.kind = 'upstream-port';
    }
    inferKinds(device.children ?? [], device.kind);
  }
}

/**
 * Parses `lspci -tv` or `lspci -tvnn` output (also `-t` and `-tvn`) into a topology description: one host
 * bridge per root bus, bridges with their secondary bus, endpoints with name and vendor:device IDs when printed.
 * Returns the description. Throws LspciParseError (ERR_LSPCI_PARSE, field `line`, 1-based) for malformed or
 * truncated output. Pure.
 */
export function parseLspciTree(text: string): TopologySpec {
  const parser = new TreeParser(text);
  const spec = parser.parse();
  for (const hb of spec.hostBridges) inferKinds(hb.devices, undefined);
  return spec;
}

/**
 * Parses lspci tree output and builds the topology, applying `options` (ACS redirect BDFs, CPU).
 * Returns the topology. Throws LspciParseError (ERR_LSPCI_PARSE, field `line`) for malformed output or a tree
 * the model rejects (the line of the offending function), InvalidArgumentError (ERR_INVALID_ARGUMENT) for a
 * malformed option and UnknownDeviceError (ERR_UNKNOWN_DEVICE) for an ACS BDF not in the tree. Nothing is built
 * on failure.
 */
export function loadLspci(text: string, options: LspciOptions = {}): Topology {
  if (typeof text !== 'string') throw new InvalidArgumentError('lspci output must be a string', { argument: 'text' });
  const parser = new TreeParser(text);
  const parsed = parser.parse();
  for (const hb of parsed.hostBridges) inferKinds(hb.devices, undefined);
  let spec = parsed;
  if (options.acsRedirect !== undefined || options.cpu !== undefined) spec = applyOverrides(parsed, options);
  try {
    return buildTopology(spec);
  } catch (err) {
    if (!(err instanceof TopologyError)) throw err;
    const line = parser.lineForPath(parsed, String((err as TopologyError & { path?: unknown }).path ?? '$')) ?? 0;
    throw new LspciParseError(`line ${line + 1}: ${err.message}`, { line: line + 1, cause: err });
  }
}

