// Test machinery, not part of the library. A deterministic fuzzer for the two topology loaders
// (loadTopologyJson, loadLspci). It mutates a corpus
// (the files in examples/ plus topologies it generates and prints itself) with a seeded generator, feeds
// every input to its loader and checks the loader's contract:
//   - a rejected input throws a coded error of the loader's documented kinds (ERR_TOPOLOGY with a `path`
//     starting at `$`, ERR_LSPCI_PARSE with a 1-based `line`, ERR_UNKNOWN_DEVICE, ERR_INVALID_ARGUMENT);
//   - an accepted input round-trips: topologyToJson() loads again into the same description;
//   - an unmutated generated input is accepted, and its lspci print loads into the same functions;
//   - no input takes longer than `slowMs`.
// Anything else is a finding, returned (never thrown) so a caller can count and print them.
import { readdirSync, readFileSync } from 'node:fs';
import { DmaBounceError } from '../../src/errors.js';
import { loadLspci } from '../../src/pci/lspci.js';
import { loadTopologyJson, topologyToJson } from '../../src/pci/json.js';
import type { DeviceSpec, HostBridgeSpec, Topology, TopologySpec } from '../../src/pci/topology.js';

export interface FuzzOptions {
  /** Inputs to try per loader. */
  readonly iterations: number;
  /** Seed of the mutation generator: the same seed gives the same inputs. */
  readonly seed: number;
  /** Seed inputs; default: every `*.json` and `*.txt` in the package's examples/ plus generated topologies. */
  readonly corpus?: { readonly json: readonly string[]; readonly lspci: readonly string[] };
  /** An input taking longer than this (ms) is a finding; default 1000. */
  readonly slowMs?: number;
}

export interface FuzzFinding {
  readonly loader: 'json' | 'lspci';
  readonly iteration: number;
  /** 'uncoded-error', 'wrong-code', 'no-path', 'no-line', 'round-trip', 'valid-rejected', 'print-mismatch', 'slow'. */
  readonly kind: string;
  readonly detail: string;
  /** The input (cut to 2000 characters). */
  readonly input: string;
}

export interface LoaderCounts {
  readonly inputs: number;
  readonly accepted: number;
  /** Rejections by error code. */
  readonly rejected: Readonly<Record<string, number>>;
  /** The slowest input, ms. */
  readonly slowestMs: number;
}

export interface FuzzReport {
  readonly seed: number;
  readonly iterations: number;
  readonly json: LoaderCounts;
  readonly lspci: LoaderCounts;
  readonly findings: readonly FuzzFinding[];
}

const ALLOWED: Readonly<Record<'json' | 'lspci', readonly string[]>> = {
  json: ['ERR_TOPOLOGY', 'ERR_UNKNOWN_DEVICE', 'ERR_INVALID_ARGUMENT'],
  lspci: ['ERR_LSPCI_PARSE', 'ERR_UNKNOWN_DEVICE', 'ERR_INVALID_ARGUMENT'],
};

/**
 * Runs `iterations` inputs through each loader. Returns the counts and every finding; throws only
 * InvalidArgumentError-like TypeErrors for options that are not numbers (a programming error).
 */
export function fuzzTopologyLoaders(options: FuzzOptions): FuzzReport {
  const { iterations, seed } = options;
  if (!Number.isSafeInteger(iterations) || iterations < 0) throw new RangeError('iterations must be a non-negative integer');
  const slowMs = options.slowMs ?? 1000;
  const rng = new FuzzRng(seed);
  const corpus = options.corpus ?? defaultCorpus();
  const findings: FuzzFinding[] = [];
  const json = new Counter();
  const lspci = new Counter();

  for (let i = 0; i < iterations; i++) {
    // JSON: a third generated-and-checked, the rest mutations of the corpus or of a generated description.
    const spec = randomTopologySpec(rng);
    const specText = JSON.stringify(spec, null, rng.chance(0.5) ? 2 : undefined);
    if (i % 3 === 0) {
      checkValidJson(specText, i, json, findings, slowMs);
    } else {
      const base = rng.chance(0.5) && corpus.json.length > 0 ? rng.pick(corpus.json) : specText;
      const input = rng.chance(0.6) ? mutateJson(base, rng) : mutateText(base, rng, JSON_ALPHABET);
      runJson(input, i, json, findings, slowMs);
    }
    // lspci: a generated tree printed as lspci -tvnn (checked), or a mutation.
    const printed = printLspci(spec, rng.chance(0.7));
    if (i % 3 === 0) {
      checkValidLspci(printed, spec, i, lspci, findings, slowMs);
    } else {
      const base = rng.chance(0.5) && corpus.lspci.length > 0 ? rng.pick(corpus.lspci) : printed;
      const input = mutateText(base, rng, LSPCI_ALPHABET);
      runLspci(input, i, lspci, findings, slowMs, rng);
    }
  }
  return { seed, iterations, json: json.report(), lspci: lspci.report(), findings };
}

// ---- oracles

class Counter {
  inputs = 0;
  accepted = 0;
  slowestMs = 0;
  readonly rejected: Record<string, number> = {};
  report(): LoaderCounts {
    return { inputs: this.inputs, accepted: this.accepted, rejected: { ...this.rejected }, slowestMs: Math.round(this.slowestMs * 10) / 10 };
  }
}

function timed<T>(counter: Counter, run: () => T): { value?: T; error?: unknown; ms: number } {
  const start = performance.now();
  let out: { value?: T; error?: unknown };
  try {
    out = { value: run() };
  } catch (error) {
    out = { error };
  }
  const ms = performance.now() - start;
  counter.inputs++;
  if (ms > counter.slowestMs) counter.slowestMs = ms;
  return { ...out, ms };
}

function cut(text: string): string {
  return text.length > 2000 ? `${text.slice(0, 2000)}...` : text;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

// Classifies a rejection; returns false (after recording a finding) when it breaks the contract.
function checkRejection(loader: 'json' | 'lspci', error: unknown, input: string, iteration: number, counter: Counter, findings: FuzzFinding[]): void {
  const finding = (kind: string, detail: string) => findings.push({ loader, iteration, kind, detail, input: cut(input) });
  if (!(error instanceof DmaBounceError)) {
    finding('uncoded-error', describeError(error));
    return;
  }
  counter.rejected[error.code] = (counter.rejected[error.code] ?? 0) + 1;
  if (!ALLOWED[loader].includes(error.code)) finding('wrong-code', `${error.code}: ${error.message}`);
  const fields = error as unknown as { path?: unknown; line?: unknown };
  if (error.code === 'ERR_TOPOLOGY' && !(typeof fields.path === 'string' && fields.path.startsWith('$'))) finding('no-path', error.message);
  if (error.code === 'ERR_LSPCI_PARSE' && !(Number.isSafeInteger(fields.line) && (fields.line as number) >= 1)) finding('no-line', error.message);
}

function checkRoundTrip(loader: 'json' | 'lspci', topology: Topology, input: string, iteration: number, findings: FuzzFinding[]): void {
  try {
    const text = topologyToJson(topology);
    const again = topologyToJson(loadTopologyJson(text));
    if (again !== text) findings.push({ loader, iteration, kind: 'round-trip', detail: 'topologyToJson(load(topologyToJson(t))) differs from topologyToJson(t)', input: cut(input) });
  } catch (error) {
    findings.push({ loader, iteration, kind: 'round-trip', detail: `the loader's own output does not load: ${describeError(error)}`, input: cut(input) });
  }
}

function slow(loader: 'json' | 'lspci', ms: number, slowMs: number, input: string, iteration: number, findings: FuzzFinding[]): void {
  if (ms > slowMs) findings.push({ loader, iteration, kind: 'slow', detail: `${ms.toFixed(0)} ms`, input: cut(input) });
}

function runJson(input: string, iteration: number, counter: Counter, findings: FuzzFinding[], slowMs: number): Topology | undefined {
  const { value, error, ms } = timed(counter, () => loadTopologyJson(input));
  slow('json', ms, slowMs, input, iteration, findings);
  if (value === undefined) {
    checkRejection('json', error, input, iteration, counter, findings);
    return undefined;
  }
  counter.accepted++;
  checkRoundTrip('json', value, input, iteration, findings);
  return value;
}

function checkValidJson(input: string, iteration: number, counter: Counter, findings: FuzzFinding[], slowMs: number): void {
  const before = findings.length;
  const topology = runJson(input, iteration, counter, findings, slowMs);
  if (!topology && findings.length === before) {
    findings.push({ loader: 'json', iteration, kind: 'valid-rejected', detail: 'a generated, valid description was rejected', input: cut(input) });
  }
}

function runLspci(input: string, iteration: number, counter: Counter, findings: FuzzFinding[], slowMs: number, rng?: FuzzRng): Topology | undefined {
  // Sometimes with options, to reach the override paths (and their errors).
  const options = rng?.chance(0.2) ? { acsRedirect: [rng.pick(['0000:00:01.0', '0000:02:00.0', 'zzzz', '0000:ff:1f.7'])], cpu: rng.pick([null, { vendor: 'AuthenticAMD', family: 0x19 }]) } : {};
  const { value, error, ms } = timed(counter, () => loadLspci(input, options));
  slow('lspci', ms, slowMs, input, iteration, findings);
  if (value === undefined) {
    checkRejection('lspci', error, input, iteration, counter, findings);
    return undefined;
  }
  counter.accepted++;
  checkRoundTrip('lspci', value, input, iteration, findings);
  return value;
}

function checkValidLspci(input: string, spec: TopologySpec, iteration: number, counter: Counter, findings: FuzzFinding[], slowMs: number): void {
  const before = findings.length;
  const topology = runLspci(input, iteration, counter, findings, slowMs);
  if (!topology) {
    if (findings.length === before) findings.push({ loader: 'lspci', iteration, kind: 'valid-rejected', detail: 'a printed, valid tree was rejected', input: cut(input) });
    return;
  }
  const want = flatten(spec).join(' ');
  const got = topology.devices().map((d) => `${d.bdf}${d.isBridge ? '/b' : ''}`).join(' ');
  if (want !== got) findings.push({ loader: 'lspci', iteration, kind: 'print-mismatch', detail: `functions ${got} instead of ${want}`, input: cut(input) });
}

function flatten(spec: TopologySpec): string[] {
  const out: string[] = [];
  const walk = (d: DeviceSpec) => {
    out.push(`${d.bdf}${d.children !== undefined || d.secondaryBus !== undefined ? '/b' : ''}`);
    d.children?.forEach(walk);
  };
  for (const hb of spec.hostBridges) hb.devices.forEach(walk);
  return out;
}

// ---- corpus

function defaultCorpus(): { json: string[]; lspci: string[] } {
  // dist/bench/reliability/fuzz-topology.js and bench/reliability/fuzz-topology.ts sit three and two levels below the package root.
  for (const up of ['../../../examples/', '../../examples/']) {
    const dir = new URL(up, import.meta.url);
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');
    const json = names.filter((n) => n.endsWith('.json')).map(read);
    const lspci = names.filter((n) => n.endsWith('.txt')).map(read);
    if (json.length + lspci.length > 0) return { json, lspci };
  }
  return { json: [], lspci: [] };
}

// ---- seeded generator (mulberry32)

/** The fuzzer's deterministic random source. */
export class FuzzRng {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/**
 * A random, valid topology description: 1..3 host bridges (whitelisted, not whitelisted, or identified by a
 * root port), root ports, switches (upstream + downstream ports), plain bridges, multi-function endpoints,
 * p2pmem BARs, ACS redirect flags, and an Intel, AMD Zen, older AMD or unknown CPU.
 */
export function randomTopologySpec(rng: FuzzRng, limits: { maxDevices?: number } = {}): TopologySpec {
  const maxDevices = limits.maxDevices ?? 24;
  let devices = 0;
  const nextBus = new Map<number, number>();
  const takeBus = (segment: number): number => {
    const bus = nextBus.get(segment) ?? 0;
    nextBus.set(segment, bus + 1);
    return bus;
  };
  const endpoint = (segment: number, bus: number, dev: number, fn: number): DeviceSpec => {
    devices++;
    const d: DeviceSpec = { bdf: `${hex(segment, 4)}:${hex(bus, 2)}:${hex(dev, 2)}.${fn}` };
    const ids = rng.pick([['10de', '20b0'], ['144d', 'a808'], ['15b3', '101b'], ['1002', '73bf'], undefined]);
    if (ids) {
      d.vendor = ids[0]!;
      d.device = ids[1]!;
      d.name = rng.pick(['GA100 [A100 SXM4 40GB]', 'NVMe SSD Controller SM981/PM981/PM983', 'MT28908 Family [ConnectX-6]', 'Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]']);
    }
    if (rng.chance(0.7)) {
      const used = new Set<number>();
      d.bars = [];
      for (let k = rng.int(1, 2); k > 0; k--) {
        const index = rng.int(0, 5);
        if (used.has(index)) continue;
        used.add(index);
        d.bars.push({ index, size: rng.pick(['4KiB', '16KiB', '1MiB', '16MiB', '64MiB', 65536]), ...(rng.chance(0.6) ? { p2pmem: true } : {}) });
      }
    }
    if (rng.chance(0.1)) d.acsRedirect = rng.chance(0.5);
    return d;
  };
  const bridge = (segment: number, bus: number, dev: number, kind: DeviceSpec['kind'], depth: number): DeviceSpec => {
    devices++;
    const secondary = takeBus(segment);
    const d: DeviceSpec = { bdf: `${hex(segment, 4)}:${hex(bus, 2)}:${hex(dev, 2)}.0`, kind };
    if (rng.chance(0.25)) d.acsRedirect = true;
    const children = busDevices(segment, secondary, depth + 1, kind);
    if (children.length > 0) d.children = children;
    else d.secondaryBus = secondary;
    return d;
  };
  const busDevices = (segment: number, bus: number, depth: number, parentKind: DeviceSpec['kind'] | 'root'): DeviceSpec[] => {
    const out: DeviceSpec[] = [];
    const count = parentKind === 'root-port' || parentKind === 'downstream-port' ? rng.int(0, 1) : rng.int(1, 3);
    for (let dev = 0; dev < count && devices < maxDevices; dev++) {
      const slot = parentKind === 'upstream-port' ? dev * 8 : parentKind === 'root' ? dev + 1 : dev;
      const asBridge = depth < 3 && rng.chance(parentKind === 'upstream-port' ? 0.9 : 0.45);
      if (asBridge) {
        const kind: DeviceSpec['kind'] = parentKind === 'root' ? 'root-port' : parentKind === 'upstream-port' ? 'downstream-port' : parentKind === 'root-port' || parentKind === 'downstream-port' ? 'upstream-port' : 'bridge';
        out.push(bridge(segment, bus, slot, kind, depth));
      } else {
        out.push(endpoint(segment, bus, slot, 0));
        if (rng.chance(0.2)) out.push(endpoint(segment, bus, slot, 1));
      }
    }
    return out;
  };
  const hostBridges: HostBridgeSpec[] = [];
  for (let h = rng.int(1, 3); h > 0; h--) {
    const segment = rng.pick([0, 0, 1]);
    const bus = takeBus(segment);
    const identity = rng.pick([['8086', '2020'], ['8086', '09a2'], ['8086', '3c00'], ['8086', '6f00'], ['1022', '1480'], undefined]);
    const devices0: DeviceSpec[] = identity ? [{ bdf: `${hex(segment, 4)}:${hex(bus, 2)}:00.0`, vendor: identity[0]!, device: identity[1]! }] : [];
    if (identity) devices++;
    hostBridges.push({ segment, bus, devices: [...devices0, ...busDevices(segment, bus, 0, 'root')] });
  }
  const cpu = rng.pick([{ vendor: 'GenuineIntel', family: 6 }, { vendor: 'AuthenticAMD', family: 0x19 }, { vendor: 'AuthenticAMD', family: 0x15 }, null, undefined]);
  return cpu === undefined ? { hostBridges } : { cpu, hostBridges };
}

/** Prints a description the way pciutils' ls-tree.c prints `lspci -tvnn` (names and IDs when `verbose`). */
export function printLspci(spec: TopologySpec, verbose = true): string {
  const out: string[] = [];
  const printIt = (line: string): string => {
    out.push(line);
    return [...line].map((c) => (c === '+' || c === '|' ? '|' : ' ')).join('');
  };
  const secondaryOf = (d: DeviceSpec) => d.secondaryBus ?? Number.parseInt(d.children![0]!.bdf.split(':')[1]!, 16);
  const subordinate = (d: DeviceSpec): number => {
    let max = secondaryOf(d);
    for (const child of d.children ?? []) if (child.secondaryBus !== undefined || child.children) max = Math.max(max, subordinate(child));
    return max;
  };
  const showDev = (d: DeviceSpec, line: string): string => {
    line += d.bdf.split(':')[2]!;
    if (d.secondaryBus !== undefined || (d.children?.length ?? 0) > 0) {
      const sec = secondaryOf(d);
      const sub = subordinate(d);
      line += sec === sub ? `-[${hex(sec, 2)}]-` : `-[${hex(sec, 2)}-${hex(sub, 2)}]-`;
      return showBus(d.children ?? [], `${line}-`);
    }
    if (!verbose) return printIt(line);
    const ids = d.vendor && d.device ? ` [${d.vendor}:${d.device}]` : '';
    const name = `${d.name ?? 'Device'}${ids}`;
    return printIt(`${line}  ${name}`);
  };
  const showBus = (devices: readonly DeviceSpec[], line: string): string => {
    if (devices.length === 0) return printIt(line);
    if (devices.length === 1) return showDev(devices[0]!, `${line}--`);
    const n = line.length;
    devices.forEach((d, i) => {
      line = showDev(d, line.slice(0, n) + (i < devices.length - 1 ? '+-' : '\\-'));
    });
    return line;
  };
  const roots = spec.hostBridges;
  if (roots.length === 1) {
    const hb = roots[0]!;
    showBus(hb.devices, `-[${hex(hb.segment, 4)}:${hex(hb.bus, 2)}]-`);
  } else {
    let line = '-';
    roots.forEach((hb, i) => {
      line = showBus(hb.devices, line.slice(0, 1) + (i < roots.length - 1 ? '+-' : '\\-') + `[${hex(hb.segment, 4)}:${hex(hb.bus, 2)}]-`);
    });
  }
  return `${out.join('\n')}\n`;
}

// ---- mutations

const JSON_ALPHABET = '{}[]:,"0123456789abcdefx.-+eE \n\\ntrufalsenul';
const LSPCI_ALPHABET = '-+\\| []:.()0123456789abcdef\n\r\tvrevx';

/** A byte-level mutation of text: flips, inserts, deletions, duplications, truncation, line swaps. */
function mutateText(text: string, rng: FuzzRng, alphabet: string): string {
  let s = text;
  for (let n = rng.int(1, 4); n > 0; n--) {
    const at = rng.int(0, s.length);
    switch (rng.int(0, 9)) {
      case 0: s = s.slice(0, at) + rng.pick([...alphabet]) + s.slice(at + 1); break;
      case 1: s = s.slice(0, at) + rng.pick([...alphabet]) + s.slice(at); break;
      case 2: s = s.slice(0, at) + s.slice(Math.min(s.length, at + rng.int(1, 20))); break;
      case 3: { const len = rng.int(1, 40); s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at); break; }
      case 4: s = s.slice(0, at); break;
      case 5: {
        const lines = s.split('\n');
        const i = rng.int(0, lines.length - 1), j = rng.int(0, lines.length - 1);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        s = lines.join('\n');
        break;
      }
      case 6: s = s.replace(/[0-9a-f]/g, (c) => (rng.chance(0.05) ? rng.pick([...'0123456789abcdefABCDEFg']) : c)); break;
      case 7: s = s.replace(/\n/g, rng.pick(['\r\n', '\n\n', '\n ', ' \n'])); break;
      case 8: s = s.slice(0, at) + rng.pick(['99999999999999999999', '-1', 'NaN', '1e308', '\u0000', '\uffff', '[[[[[[[[', '"', '0x', 'ffff:ff:1f.7']) + s.slice(at); break;
      default: { const lines = s.split('\n'); const i = rng.int(0, lines.length - 1); lines.splice(i, 0, lines[i] ?? ''); s = lines.join('\n'); break; }
    }
  }
  return s;
}

const ODD_VALUES: readonly unknown[] = [
  null, true, false, 0, -1, 1.5, Number.MAX_SAFE_INTEGER, 2 ** 53, 1e308, -0, '', 'x', '0x', '-0x10', '0x1000000000000000', '64MB', '4KiB',
  '1TiB', '0000:00:00.0', '0000:00:00.8', 'FFFF:FF:1F.7', [], {}, [null], { bdf: '0000:00:00.0' }, 'a'.repeat(5000),
];

/** A structural mutation of JSON text: change, delete, duplicate or add keys and array items anywhere. */
function mutateJson(text: string, rng: FuzzRng): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return mutateText(text, rng, JSON_ALPHABET);
  }
  for (let n = rng.int(1, 3); n > 0; n--) {
    // Pick a random container along a random path.
    const containers: (Record<string, unknown> | unknown[])[] = [];
    const walk = (v: unknown, depth: number) => {
      if (depth > 12 || v === null || typeof v !== 'object') return;
      containers.push(v as Record<string, unknown>);
      for (const child of Object.values(v as object)) walk(child, depth + 1);
    };
    walk(value, 0);
    if (containers.length === 0) return JSON.stringify(rng.pick(ODD_VALUES));
    const target = rng.pick(containers);
    const keys = Object.keys(target);
    const key = keys.length > 0 ? rng.pick(keys) : undefined;
    const odd = structuredClone(rng.pick(ODD_VALUES));
    switch (rng.int(0, 5)) {
      case 0: if (key !== undefined) (target as Record<string, unknown>)[key] = odd; break;
      case 1:
        if (key !== undefined) {
          if (Array.isArray(target)) target.splice(Number(key), 1);
          else delete target[key];
        }
        break;
      case 2:
        if (Array.isArray(target) && key !== undefined) target.push(structuredClone(target[Number(key)]));
        else if (key !== undefined) (target as Record<string, unknown>)[`${key}${rng.pick(['', 'X', 's'])}`] = structuredClone((target as Record<string, unknown>)[key]);
        break;
      case 3: if (!Array.isArray(target)) target[rng.pick(['extra', 'bdf', 'kind', 'bars', 'children', 'secondaryBus', 'phys', 'busOffset', 'mmioBase', 'mmioSize', '__proto__', 'constructor'])] = odd; break;
      case 4:
        if (key !== undefined && typeof (target as Record<string, unknown>)[key] === 'number') {
          (target as Record<string, unknown>)[key] = ((target as Record<string, unknown>)[key] as number) + rng.pick([-1, 1, 255, 256, 2 ** 32, -(2 ** 31)]);
        } else if (key !== undefined && typeof (target as Record<string, unknown>)[key] === 'string') {
          const s = (target as Record<string, unknown>)[key] as string;
          (target as Record<string, unknown>)[key] = mutateText(s, rng, '0123456789abcdef:.xKMGiB ');
        }
        break;
      default: if (key !== undefined) (target as Record<string, unknown>)[key] = [structuredClone((target as Record<string, unknown>)[key])]; break;
    }
  }
  return JSON.stringify(value, null, rng.chance(0.5) ? 1 : undefined);
}
