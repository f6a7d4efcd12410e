// lspci output of every kind the model reads: the tree (-tv, -tvnn), the full dump (-vv, -vvv, with -nn, -D,
// -P/-PP and hex dumps), or both one after the other. Content decides which it is; a tree and a dump of the same
// machine must agree. The CPU is inferred from the host bridges where the dump names them.
import { InvalidArgumentError, LspciParseError, TopologyError } from '../errors.js';
import { inferCpuFromHostBridge, type Cpu, type CpuOrigin } from './cpu.js';
import { isDumpHeader, parseDumpLines, type DumpFunction, type ParsedDump } from './lspci-dump.js';
import { lspciLines, type InputLine } from './lspci-text.js';
import { inferKinds, parseTreeLines } from './lspci-tree.js';
import { buildTopology, overrideInPlace, type DeviceSpec, type Topology, type TopologySpec } from './topology.js';

export type { DumpFunction } from './lspci-dump.js';

/** What lspci output cannot say, given separately. */
export interface LspciOptions {
  /** BDFs whose ACS control has RR, CR or EC set. */
  acsRedirect?: readonly string[];
  /** BDFs of ports that face the outside (everything below them becomes untrusted). */
  externalFacing?: readonly string[];
  /** The CPU; `null` makes it unknown; undefined: inferred from the host bridges where possible. */
  cpu?: Cpu | null;
}

/** lspci output read into a description, before it is built. */
export interface ParsedLspci {
  readonly format: 'tree' | 'dump' | 'tree+dump';
  readonly spec: TopologySpec;
  /** The functions of the dump as printed (empty for a tree alone). */
  readonly functions: readonly DumpFunction[];
  readonly notes: readonly string[];
  /** @internal */
  readonly lineOf: WeakMap<object, number>;
}

function fail(line: number, message: string): never {
  throw new LspciParseError(`line ${line}: ${message}`, { line });
}

const isTreeStart = (text: string): boolean => text[0] === '-' && (text[1] === '[' || text[1] === '+' || text[1] === '\\');

function checkText(text: unknown): asserts text is string {
  if (typeof text !== 'string') throw new InvalidArgumentError('lspci output must be a string', { argument: 'text' });
}

/**
 * Reads lspci output: a tree, a dump, or both (in either order), told apart by their content. Returns the
 * description with the format found and notes. Throws LspciParseError (ERR_LSPCI_PARSE, field `line`, 1-based)
 * for malformed or truncated output, and for a tree and a dump that describe different machines;
 * InvalidArgumentError (ERR_INVALID_ARGUMENT) when `text` is not a string. Pure.
 */
export function parseLspci(text: string): ParsedLspci {
  checkText(text);
  const { lines } = lspciLines(text);
  const treeAt = lines.findIndex((line) => isTreeStart(line.text));
  let tree: ReturnType<typeof parseTreeLines> | undefined;
  let rest: InputLine[] = lines;
  if (treeAt >= 0) {
    // Only the tree lines go to the tree reader; what lies before and after it is the dump, if any.
    const treeLines = lines.slice(treeAt);
    tree = parseTreeLines(treeLines, false);
    const lastIndex = treeLines.findIndex((line) => line.number === tree!.last);
    const after = treeLines.slice(lastIndex + 1);
    const firstAfter = after.find((line) => line.text !== '');
    if (firstAfter && !isDumpHeader(firstAfter.text)) fail(firstAfter.number, 'unexpected text after the end of the tree');
    if (after.some((line) => isTreeStart(line.text))) fail(after.find((line) => isTreeStart(line.text))!.number, 'a second lspci tree (give one machine at a time)');
    rest = [...lines.slice(0, treeAt), ...after];
  }
  const hasDump = rest.some((line) => line.text !== '');
  if (!tree && !hasDump) fail(1, 'no lspci output (empty input): expected lspci -tv, -tvnn or -vv output');
  if (!hasDump) {
    inferKinds(tree!.spec);
    return { format: 'tree', spec: tree!.spec, functions: [], notes: [], lineOf: tree!.lineOf };
  }
  const firstDump = rest.find((line) => line.text !== '')!;
  if (!isDumpHeader(firstDump.text)) {
    const looksJson = firstDump.text.trimStart().startsWith('{');
    fail(firstDump.number, looksJson
      ? 'this is JSON, not lspci output: load it as a topology (--topology FILE)'
      : `expected lspci -tv/-tvnn (a tree starting with "-") or lspci -vv (devices "BB:DD.F Class: Vendor Device"), got "${firstDump.text.slice(0, 30)}"`);
  }
  const dump = parseDumpLines(rest);
  inferKinds(dump.spec);
  if (!tree) return { format: 'dump', spec: dump.spec, functions: dump.functions, notes: dump.notes, lineOf: dump.lineOf };
  inferKinds(tree.spec);
  compareTreeAndDump(tree, dump);
  return { format: 'tree+dump', spec: dump.spec, functions: dump.functions, notes: dump.notes, lineOf: dump.lineOf };
}

// Each function's place: its parent bridge (or root bus) and whether it is a bridge.
function places(spec: TopologySpec): Map<string, { above: string; bridge: boolean; node: DeviceSpec }> {
  const out = new Map<string, { above: string; bridge: boolean; node: DeviceSpec }>();
  const stack: { device: DeviceSpec; above: string }[] = [];
  for (const hb of spec.hostBridges) for (const device of hb.devices) stack.push({ device, above: `root ${hb.segment.toString(16).padStart(4, '0')}:${hb.bus.toString(16).padStart(2, '0')}` });
  while (stack.length > 0) {
    const { device, above } = stack.pop()!;
    out.set(device.bdf, { above, bridge: device.kind !== undefined && device.kind !== 'endpoint', node: device });
    for (const child of device.children ?? []) stack.push({ device: child, above: device.bdf });
  }
  return out;
}

function compareTreeAndDump(tree: ReturnType<typeof parseTreeLines>, dump: ParsedDump): void {
  const fromTree = places(tree.spec);
  const fromDump = places(dump.spec);
  for (const [bdf, t] of fromTree) {
    const d = fromDump.get(bdf);
    const line = tree.lineOf.get(t.node) ?? tree.first;
    if (!d) fail(line, `the tree shows ${bdf}, which the dump does not list (are they from the same machine?)`);
    if (d.above !== t.above) fail(line, `the tree puts ${bdf} below ${t.above}, the dump's Bus: lines below ${d.above}`);
    if (d.bridge !== t.bridge) fail(line, `the tree shows ${bdf} as ${t.bridge ? 'a bridge' : 'an endpoint'}, the dump as ${d.bridge ? 'a bridge' : 'an endpoint'}`);
  }
  for (const [bdf, d] of fromDump) {
    if (!fromTree.has(bdf)) fail(dump.lineOf.get(d.node) ?? 1, `the dump lists ${bdf}, which the tree does not show (are they from the same machine?)`);
  }
}

/**
 * Parses `lspci -tv` or `lspci -tvnn` output (also `-t` and `-tvn`) into a topology description: one host
 * bridge per root bus, bridges with their secondary bus, endpoints with name and vendor:device IDs when printed.
 * Returns the description. Throws LspciParseError (ERR_LSPCI_PARSE, field `line`, 1-based) for malformed or
 * truncated output, or text that is not a tree. Pure.
 */
export function parseLspciTree(text: string): TopologySpec {
  checkText(text);
  const parsed = parseTreeLines(lspciLines(text).lines, true);
  inferKinds(parsed.spec);
  return parsed.spec;
}

/**
 * Parses a full dump (`lspci -vv`, `-vvv`, `-vvvnn`, `-D`, `-PP`, with or without hex dumps) into a description
 * and the functions as printed (with the running kernel's "IOMMU group" where lspci showed it). Throws
 * LspciParseError (ERR_LSPCI_PARSE, field `line`) for text that is not such a dump. Pure.
 */
export function parseLspciDump(text: string): { spec: TopologySpec; functions: readonly DumpFunction[]; notes: readonly string[] } {
  checkText(text);
  const { lines } = lspciLines(text);
  const first = lines.find((line) => line.text !== '');
  if (!first) fail(1, 'no lspci dump (empty input)');
  if (!isDumpHeader(first.text)) fail(first.number, `expected a device header "BB:DD.F Class: Vendor Device" (lspci -vv), got "${first.text.slice(0, 30)}"`);
  const dump = parseDumpLines(lines);
  inferKinds(dump.spec);
  return { spec: dump.spec, functions: dump.functions, notes: dump.notes };
}

// The line of the object a JSON path names (or of the nearest named object above it).
function lineForPath(spec: TopologySpec, lineOf: WeakMap<object, number>, path: string): number | undefined {
  let node: unknown = spec;
  let line: number | undefined;
  let i = 1; // after '$'
  while (i < path.length && typeof node === 'object' && node !== null) {
    if (path[i] === '.') {
      let j = i + 1;
      while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
      node = (node as Record<string, unknown>)[path.slice(i + 1, j)];
      i = j;
    } else if (path[i] === '[') {
      const j = path.indexOf(']', i);
      if (j < 0) break;
      node = (node as unknown[])[Number(path.slice(i + 1, j))];
      i = j + 1;
    } else break;
    if (typeof node === 'object' && node !== null) line = lineOf.get(node) ?? line;
  }
  return line;
}

// External-facing ports as far as a dump can tell: Thunderbolt/USB4 root ports, and root ports above a
// Thunderbolt controller's upstream port (where firmware puts the ExternalFacingPort property).
function markExternalFacing(spec: TopologySpec, notes: string[]): void {
  const thunderbolt = (d: DeviceSpec | undefined) => d?.name !== undefined && (d.name.includes('Thunderbolt') || d.name.includes('USB4'));
  for (const hb of spec.hostBridges) {
    for (const port of hb.devices) {
      if (port.kind !== 'root-port' || port.externalFacing) continue;
      const below = port.children?.find((child) => child.kind === 'upstream-port' || child.portType === 'upstream-port');
      if (thunderbolt(port) || thunderbolt(below)) {
        port.externalFacing = true;
        notes.push(`${port.bdf}: taken as external-facing (${thunderbolt(port) ? 'a Thunderbolt/USB4 root port' : `above Thunderbolt controller ${below!.bdf}`}); lspci does not show the firmware property, so pass --external-facing to say otherwise`);
      }
    }
  }
}

// The pci.ids names of the whitelisted host bridges, for dumps printed without -nn: their identity device can
// still be matched. Only these names are known; any other host bridge without IDs stays unmatched.
const WHITELISTED_NAMES: ReadonlyMap<string, readonly [string, string]> = new Map([
  ['Intel Corporation Xeon E5/Core i7 DMI2', ['8086', '3c00']],
  ['Intel Corporation Xeon E5/Core i7 DMI2 in PCI Express Mode', ['8086', '3c01']],
  ['Intel Corporation Xeon E7 v3/Xeon E5 v3/Core i7 DMI2', ['8086', '2f00']],
  ['Intel Corporation Xeon E7 v3/Xeon E5 v3/Core i7 PCI Express Root Port 0', ['8086', '2f01']],
  ['Intel Corporation Sky Lake-E PCI Express Root Port A', ['8086', '2030']],
  ['Intel Corporation Sky Lake-E PCI Express Root Port B', ['8086', '2031']],
  ['Intel Corporation Sky Lake-E PCI Express Root Port C', ['8086', '2032']],
  ['Intel Corporation Sky Lake-E PCI Express Root Port D', ['8086', '2033']],
  ['Intel Corporation Sky Lake-E DMI3 Registers', ['8086', '2020']],
  ['Intel Corporation Ice Lake Memory Map/VT-d', ['8086', '09a2']],
]);

/** The CPU the host bridges of a description imply, and the evidence. Never throws. @internal */
export function inferCpu(spec: TopologySpec): { cpu: Cpu; from: string } | undefined {
  for (const hb of spec.hostBridges) {
    const first = hb.devices[0];
    if (!first) continue;
    const devfn0 = first.bdf.endsWith(':00.0');
    if (!devfn0 && first.kind !== 'root-port' && first.portType !== 'root-port') continue;
    const inferred = inferCpuFromHostBridge({
      bdf: first.bdf,
      vendorId: first.vendor === undefined ? undefined : Number.parseInt(first.vendor, 16),
      deviceId: first.device === undefined ? undefined : Number.parseInt(first.device, 16),
      name: first.name,
    });
    if (inferred) return inferred;
  }
  return undefined;
}

/**
 * Reads lspci output of any kind parseLspci() takes and builds the topology, applying `options` (ACS redirect and
 * external-facing BDFs, CPU). Without `options.cpu` the CPU is inferred from the host bridges where they name it
 * (an AMD Zen root complex, any Intel host bridge) and the topology's notes say so; otherwise it is unknown.
 * Returns the topology. Throws LspciParseError (ERR_LSPCI_PARSE, field `line`) for malformed output or a
 * description the model rejects (the line of the offending function), InvalidArgumentError
 * (ERR_INVALID_ARGUMENT) for a malformed option and UnknownDeviceError (ERR_UNKNOWN_DEVICE) for an override BDF
 * not in the output. Nothing is built on failure.
 */
export function loadLspci(text: string, options: LspciOptions = {}): Topology {
  checkText(text);
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object', { argument: 'options' });
  const parsed = parseLspci(text);
  const notes = [...parsed.notes];
  let spec = parsed.spec;
  markExternalFacing(spec, notes);
  for (const hb of spec.hostBridges) {
    const first = hb.devices[0];
    if (!first || first.vendor !== undefined || !(first.bdf.endsWith(':00.0') || first.kind === 'root-port')) continue;
    const ids = first.name === undefined ? undefined : WHITELISTED_NAMES.get(first.name);
    if (ids) {
      first.vendor = ids[0];
      first.device = ids[1];
      notes.push(`host bridge ${first.bdf}: IDs ${ids[0]}:${ids[1]} taken from its name "${first.name}" (the dump has no -nn IDs)`);
    } else notes.push(`host bridge ${first.bdf}${first.name ? ` (${first.name})` : ''} shows no vendor:device IDs (use lspci -nn): it cannot be matched against the P2PDMA whitelist`);
  }
  let cpuOrigin: CpuOrigin = 'unknown';
  const overrides = { ...(options.acsRedirect !== undefined ? { acsRedirect: options.acsRedirect } : {}), ...(options.externalFacing !== undefined ? { externalFacing: options.externalFacing } : {}) };
  if (options.cpu !== undefined) {
    cpuOrigin = options.cpu === null ? 'unknown' : 'option';
    spec = overrideInPlace(spec, { ...overrides, cpu: options.cpu });
  } else {
    const inferred = inferCpu(spec);
    if (inferred) {
      cpuOrigin = 'inferred';
      notes.push(`CPU taken as ${inferred.cpu.vendor} family 0x${inferred.cpu.family.toString(16)} from host bridge ${inferred.from} (give --cpu to override)`);
    }
    spec = overrideInPlace(spec, { ...overrides, cpu: inferred ? inferred.cpu : null });
  }
  try {
    return buildTopology(spec, { notes, cpuOrigin });
  } catch (err) {
    if (!(err instanceof TopologyError)) throw err;
    const line = lineForPath(parsed.spec, parsed.lineOf, String((err as TopologyError & { path?: unknown }).path ?? '$')) ?? 1;
    throw new LspciParseError(`line ${line}: ${err.message}`, { line, cause: err });
  }
}
