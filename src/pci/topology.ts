// The PCI topology model: host bridges (root buses), bridges, endpoint functions, their BARs and the CPU.
// buildTopology() validates a description completely and then constructs the model in one pass, so a
// caller gets either a whole topology or a TopologyError naming the offending JSON path.
import { InvalidArgumentError, InvalidSizeError, TopologyError, UnknownDeviceError } from '../errors.js';
import { formatSize, parseSize, type Size } from '../size.js';
import { formatBus, hex, parseBdf, type Bdf } from './bdf.js';
import { P2pmemProvider } from './p2pmem.js';

/** What a function is. Everything but `endpoint` is a bridge (it has a secondary bus). */
export type DeviceKind = 'endpoint' | 'root-port' | 'upstream-port' | 'downstream-port' | 'bridge';
/** Every valid DeviceKind. */
export const DEVICE_KINDS: readonly DeviceKind[] = ['endpoint', 'root-port', 'upstream-port', 'downstream-port', 'bridge'];

/** The CPU, as far as P2PDMA cares: the x86 vendor string and family number. */
export interface Cpu {
  readonly vendor: string;
  readonly family: number;
}

/** An address in a description: a safe integer, or a string of hex ("0x4000000000") or decimal digits. */
export type AddressSpec = number | string;

/** A BAR in a description. `phys` (optional) pins its CPU physical base; otherwise it is assigned. */
export interface BarSpec {
  index: number;
  size: Size;
  p2pmem?: boolean;
  phys?: AddressSpec;
}

/** A PCI function in a description. A device with `children` is a bridge whatever its `kind`. */
export interface DeviceSpec {
  bdf: string;
  kind?: DeviceKind;
  name?: string;
  vendor?: string;
  device?: string;
  acsRedirect?: boolean;
  secondaryBus?: number;
  bars?: BarSpec[];
  children?: DeviceSpec[];
}

/** A host bridge (one root bus of a PCI segment) in a description. */
export interface HostBridgeSpec {
  segment: number;
  bus: number;
  mmioBase?: AddressSpec;
  mmioSize?: Size;
  busOffset?: AddressSpec;
  devices: DeviceSpec[];
}

/** A whole topology in a description: the JSON format of CONTRACTS.md plus the documented address keys. */
export interface TopologySpec {
  cpu?: Cpu | null;
  hostBridges: HostBridgeSpec[];
}

// Default address layout, in 1 TiB slots: host bridge i's CPU physical MMIO window is slot 2 + 2i, and its bus
// addresses (phys - busOffset) fill slot 1 + 2i. CPU and bus windows never overlap each other or RAM (< 1 TiB),
// so an address always says which space it is in, and there is room for 4095 host bridges below 2^53.
/** First host bridge's CPU physical MMIO window: 2 TiB. */
export const DEFAULT_MMIO_BASE = 2 ** 41;
/** Default window size: 1 TiB. */
export const DEFAULT_MMIO_SIZE = 2 ** 40;
/** Distance between default windows: host bridge i starts at DEFAULT_MMIO_BASE + i * DEFAULT_MMIO_STRIDE. */
export const DEFAULT_MMIO_STRIDE = 2 ** 41;
/** Default bus offset (phys - bus address, the sign of the kernel's pgmap bus_offset): 1 TiB. */
export const DEFAULT_BUS_OFFSET = 2 ** 40;
/** Smallest BAR the model accepts (and the granule of every window). */
export const MIN_BAR_SIZE = 4096;
const MAX_ADDRESS = 2 ** 53;

/** A memory BAR with its assigned CPU physical base. */
export class PciBar {
  /** The p2pmem provider when the BAR is published as peer-to-peer memory. */
  readonly provider: P2pmemProvider | undefined;

  /** @internal */
  constructor(
    readonly device: PciDevice,
    readonly index: number,
    readonly size: number,
    readonly phys: number,
    p2pmem: boolean,
  ) {
    this.provider = p2pmem ? new P2pmemProvider(this) : undefined;
  }

  /** phys - bus address for this BAR (the host bridge's offset; the kernel's pgmap bus_offset). */
  get busOffset(): number {
    return this.device.hostBridge.busOffset;
  }

  /** The BAR's base as a peer sees it on the bus: phys - busOffset. */
  get busAddress(): number {
    return this.phys - this.busOffset;
  }

  /** Whether [phys, phys + length) lies inside the BAR. Never throws. */
  contains(phys: number, length = 1): boolean {
    return phys >= this.phys && length >= 0 && phys + length <= this.phys + this.size;
  }
}

/** One PCI function. Immutable once built. */
export class PciDevice implements Bdf {
  readonly segment: number;
  readonly bus: number;
  readonly device: number;
  readonly fn: number;
  readonly devfn: number;
  /** The bridge whose secondary bus this function sits on; null on a root bus (models pci_upstream_bridge()). */
  readonly upstream: PciDevice | null;
  readonly bars: readonly PciBar[];
  readonly children: readonly PciDevice[];

  /** @internal */
  constructor(
    readonly topology: Topology,
    readonly hostBridge: HostBridge,
    upstream: PciDevice | null,
    readonly bdf: string,
    readonly kind: DeviceKind,
    readonly name: string | undefined,
    readonly vendorId: number | undefined,
    readonly deviceId: number | undefined,
    readonly acsRedirect: boolean,
    readonly secondaryBus: number | undefined,
    bars: readonly { index: number; size: number; phys: number; p2pmem: boolean }[],
    children: readonly DevicePlan[],
  ) {
    const parts = parseBdf(bdf)!;
    this.segment = parts.segment;
    this.bus = parts.bus;
    this.device = parts.device;
    this.fn = parts.fn;
    this.devfn = parts.devfn;
    this.upstream = upstream;
    this.bars = bars.map((bar) => new PciBar(this, bar.index, bar.size, bar.phys, bar.p2pmem));
    this.children = children.map((child) => instantiate(topology, hostBridge, this, child));
  }

  /** True for every kind but `endpoint`. */
  get isBridge(): boolean {
    return this.kind !== 'endpoint';
  }

  /** `vvvv:dddd`, or undefined when either ID is unknown. */
  get ids(): string | undefined {
    return this.vendorId === undefined || this.deviceId === undefined ? undefined : `${hex(this.vendorId, 4)}:${hex(this.deviceId, 4)}`;
  }

  /** The BAR with that index, if the device has one. */
  bar(index: number): PciBar | undefined {
    return this.bars.find((bar) => bar.index === index);
  }
}

/** A host bridge: one root bus of a segment, the devices on it in order, and its MMIO window. */
export class HostBridge {
  readonly devices: readonly PciDevice[];

  /** @internal */
  constructor(
    readonly topology: Topology,
    readonly index: number,
    readonly segment: number,
    readonly bus: number,
    readonly mmioBase: number,
    readonly mmioSize: number,
    readonly busOffset: number,
    devices: readonly DevicePlan[],
  ) {
    this.devices = devices.map((device) => instantiate(topology, this, null, device));
  }

  /** `SSSS:BB`, as lspci -t prints a root bus. */
  get name(): string {
    return formatBus(this.segment, this.bus);
  }
}

/** A built topology. Structure is immutable; p2pmem providers carry allocation state. */
export class Topology {
  readonly cpu: Cpu | null;
  readonly hostBridges: readonly HostBridge[];
  readonly #byBdf = new Map<string, PciDevice>();
  readonly #devices: PciDevice[] = [];

  /** @internal Use buildTopology(). */
  constructor(plan: TopologyPlan) {
    this.cpu = plan.cpu;
    this.hostBridges = plan.hostBridges.map(
      (hb, index) => new HostBridge(this, index, hb.segment, hb.bus, hb.mmioBase, hb.mmioSize, hb.busOffset, hb.devices),
    );
    const walk = (device: PciDevice): void => {
      this.#devices.push(device);
      this.#byBdf.set(device.bdf, device);
      device.children.forEach(walk);
    };
    for (const hb of this.hostBridges) hb.devices.forEach(walk);
  }

  /** Every function, in tree order (host bridges in order, depth first). */
  devices(): readonly PciDevice[] {
    return this.#devices;
  }

  /** Every endpoint function, in tree order. */
  endpoints(): PciDevice[] {
    return this.#devices.filter((device) => !device.isBridge);
  }

  #bars: readonly PciBar[] | undefined;

  /** Every BAR, in tree order. */
  bars(): readonly PciBar[] {
    // The structure is immutable once built, so the list is computed once.
    this.#bars ??= this.#devices.flatMap((device) => device.bars);
    return this.#bars;
  }

  /** Every p2pmem provider (published or not), in tree order. */
  providers(): P2pmemProvider[] {
    return this.bars().flatMap((bar) => (bar.provider ? [bar.provider] : []));
  }

  /** The function with that BDF, or undefined. Never throws. */
  findDevice(bdf: string): PciDevice | undefined {
    return this.#byBdf.get(bdf);
  }

  /**
   * The function with that BDF. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) for a malformed BDF and
   * UnknownDeviceError (ERR_UNKNOWN_DEVICE, field `bdf`) when there is no such function.
   */
  device(bdf: string): PciDevice {
    if (!parseBdf(bdf)) throw new InvalidArgumentError(`"${String(bdf)}" is not a BDF (SSSS:BB:DD.F, lower-case hex)`, { argument: 'bdf' });
    const device = this.#byBdf.get(bdf);
    if (!device) throw new UnknownDeviceError(`no device ${bdf} in the topology`, { bdf });
    return device;
  }

  /** The BAR containing CPU physical address `phys`, or undefined. Never throws. */
  barAt(phys: number): PciBar | undefined {
    return this.bars().find((bar) => bar.contains(phys));
  }

  /**
   * The description this topology was built from, with every assigned address filled in
   * (`mmioBase`, `mmioSize`, `busOffset`, BAR `phys`, bridge `secondaryBus`): buildTopology(toSpec()) rebuilds
   * the same structure (with fresh p2pmem state). Never throws.
   */
  toSpec(): TopologySpec {
    const device = (d: PciDevice): DeviceSpec => {
      const spec: DeviceSpec = { bdf: d.bdf, kind: d.kind };
      if (d.name !== undefined) spec.name = d.name;
      if (d.vendorId !== undefined) spec.vendor = hex(d.vendorId, 4);
      if (d.deviceId !== undefined) spec.device = hex(d.deviceId, 4);
      if (d.acsRedirect) spec.acsRedirect = true;
      if (d.secondaryBus !== undefined) spec.secondaryBus = d.secondaryBus;
      if (d.bars.length > 0) {
        spec.bars = d.bars.map((bar) => ({ index: bar.index, size: bar.size, p2pmem: bar.provider !== undefined, phys: `0x${bar.phys.toString(16)}` }));
      }
      if (d.children.length > 0) spec.children = d.children.map(device);
      return spec;
    };
    const spec: TopologySpec = {
      hostBridges: this.hostBridges.map((hb) => ({
        segment: hb.segment,
        bus: hb.bus,
        mmioBase: `0x${hb.mmioBase.toString(16)}`,
        mmioSize: hb.mmioSize,
        busOffset: hb.busOffset < 0 ? `-0x${(-hb.busOffset).toString(16)}` : `0x${hb.busOffset.toString(16)}`,
        devices: hb.devices.map(device),
      })),
    };
    if (this.cpu) spec.cpu = { vendor: this.cpu.vendor, family: this.cpu.family };
    return spec;
  }
}

/** Changes applied on top of a description (what lspci output cannot carry). */
export interface TopologyOverrides {
  /** BDFs whose ACS control has RR, CR or EC set. */
  acsRedirect?: readonly string[];
  /** The CPU; `null` makes it unknown. */
  cpu?: Cpu | null;
}

/**
 * Returns a copy of `spec` with the overrides applied (ACS redirect set on the listed functions, CPU replaced).
 * Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) for a malformed BDF and UnknownDeviceError
 * (ERR_UNKNOWN_DEVICE, field `bdf`) for a BDF not in the description. `spec` itself is never changed.
 */
export function applyOverrides(spec: TopologySpec, overrides: TopologyOverrides): TopologySpec {
  const copy = structuredClone(spec);
  if (overrides.cpu !== undefined) copy.cpu = overrides.cpu === null ? null : { vendor: overrides.cpu.vendor, family: overrides.cpu.family };
  const wanted = new Set<string>();
  for (const bdf of overrides.acsRedirect ?? []) {
    if (!parseBdf(bdf)) throw new InvalidArgumentError(`ACS redirect: "${bdf}" is not a BDF (SSSS:BB:DD.F, lower-case hex)`, { argument: 'acsRedirect' });
    wanted.add(bdf);
  }
  const visit = (devices: DeviceSpec[] | undefined): void => {
    for (const device of Array.isArray(devices) ? devices : []) {
      if (wanted.delete(device.bdf)) device.acsRedirect = true;
      visit(device.children);
    }
  };
  for (const hb of Array.isArray(copy.hostBridges) ? copy.hostBridges : []) visit(hb.devices);
  const [missing] = wanted;
  if (missing !== undefined) throw new UnknownDeviceError(`ACS redirect: no device ${missing} in the topology`, { bdf: missing });
  return copy;
}

/**
 * Parses a CPU given as `VENDOR:FAMILY` (`AuthenticAMD:25`, `AuthenticAMD:0x19`, `GenuineIntel:6`).
 * Returns the CPU. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, argument 'cpu') for anything else.
 */
export function parseCpu(text: string): Cpu {
  const match = /^([^:\s]+):(?:0x([0-9a-fA-F]+)|(\d+))$/.exec(text);
  if (!match) throw new InvalidArgumentError(`cpu: expected VENDOR:FAMILY such as AuthenticAMD:25 or GenuineIntel:6, got "${text}"`, { argument: 'cpu' });
  const family = match[2] !== undefined ? Number.parseInt(match[2], 16) : Number(match[3]);
  if (family > 0xffff) throw new InvalidArgumentError(`cpu: family ${family} is out of range`, { argument: 'cpu' });
  return { vendor: match[1]!, family };
}

// ---------------------------------------------------------------------------------------------------------------
// Validation: everything is checked into a plan before any object is built.

interface BarPlan {
  index: number;
  size: number;
  p2pmem: boolean;
  phys: number;
  pinned: boolean;
  path: string;
}

/** @internal */
export interface DevicePlan {
  bdf: string;
  kind: DeviceKind;
  name: string | undefined;
  vendorId: number | undefined;
  deviceId: number | undefined;
  acsRedirect: boolean;
  secondaryBus: number | undefined;
  bars: BarPlan[];
  children: DevicePlan[];
}

interface HostBridgePlan {
  segment: number;
  bus: number;
  mmioBase: number;
  mmioSize: number;
  busOffset: number;
  devices: DevicePlan[];
  path: string;
}

/** @internal */
export interface TopologyPlan {
  cpu: Cpu | null;
  hostBridges: HostBridgePlan[];
}

function instantiate(topology: Topology, hostBridge: HostBridge, upstream: PciDevice | null, plan: DevicePlan): PciDevice {
  return new PciDevice(
    topology,
    hostBridge,
    upstream,
    plan.bdf,
    plan.kind,
    plan.name,
    plan.vendorId,
    plan.deviceId,
    plan.acsRedirect,
    plan.secondaryBus,
    plan.bars,
    plan.children,
  );
}

function fail(path: string, message: string, cause?: unknown): never {
  throw new TopologyError(`${path}: ${message}`, cause === undefined ? { path } : { path, cause });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) if (!allowed.includes(key)) fail(`${path}.${key}`, `unknown key "${key}" (allowed: ${allowed.join(', ')})`);
}

function integer(value: unknown, path: string, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(path, `${what} must be an integer ${min}..${max}, got ${JSON.stringify(value) ?? typeof value}`);
  }
  return value;
}

function address(value: unknown, path: string, allowNegative: boolean): number {
  let parsed: number | undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) parsed = value;
  else if (typeof value === 'string') {
    const match = /^(-?)(?:0x([0-9a-fA-F]+)|(\d+))$/.exec(value);
    if (match) {
      const magnitude = match[2] !== undefined ? Number.parseInt(match[2], 16) : Number(match[3]);
      if (Number.isSafeInteger(magnitude)) parsed = match[1] ? -magnitude : magnitude;
    }
  }
  if (parsed === undefined) fail(path, `expected an address (a safe integer or "0x..." hex), got ${JSON.stringify(value) ?? typeof value}`);
  if (!allowNegative && parsed < 0) fail(path, 'address must not be negative');
  return parsed;
}

function size(value: unknown, path: string): number {
  try {
    return parseSize(value, path);
  } catch (err) {
    if (err instanceof InvalidSizeError) fail(path, err.message.replace(`${path}: `, ''), err);
    throw err;
  }
}

const isPowerOfTwo = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

interface Context {
  seen: Map<string, string>; // bdf -> path
  buses: Map<string, string>; // "segment:bus" -> path of the owner (root bus or bridge)
}

function validateDevice(value: unknown, path: string, segment: number, bus: number, ctx: Context): DevicePlan {
  if (!isObject(value)) fail(path, 'a device must be an object');
  checkKeys(value, ['bdf', 'kind', 'name', 'vendor', 'device', 'acsRedirect', 'secondaryBus', 'bars', 'children'], path);
  const parts = parseBdf(value.bdf);
  if (!parts) fail(`${path}.bdf`, `expected a BDF "SSSS:BB:DD.F" (lower-case hex), got ${JSON.stringify(value.bdf) ?? 'nothing'}`);
  const bdf = value.bdf as string;
  const first = ctx.seen.get(bdf);
  if (first !== undefined) fail(`${path}.bdf`, `duplicate BDF ${bdf} (first at ${first})`);
  ctx.seen.set(bdf, `${path}.bdf`);
  if (parts.segment !== segment || parts.bus !== bus) {
    fail(`${path}.bdf`, `${bdf} is not on bus ${formatBus(segment, bus)} where it is placed (a device's bus must be its parent bridge's secondary bus or the host bridge's root bus)`);
  }

  let kind: DeviceKind | undefined;
  if (value.kind !== undefined) {
    if (!DEVICE_KINDS.includes(value.kind as DeviceKind)) fail(`${path}.kind`, `kind must be one of ${DEVICE_KINDS.join(', ')}, got ${JSON.stringify(value.kind)}`);
    kind = value.kind as DeviceKind;
  }
  const hasChildren = value.children !== undefined;
  if (hasChildren && !Array.isArray(value.children)) fail(`${path}.children`, 'children must be an array');
  if (hasChildren && (kind === undefined || kind === 'endpoint')) kind = 'bridge';
  kind ??= 'endpoint';

  let name: string | undefined;
  if (value.name !== undefined) {
    if (typeof value.name !== 'string') fail(`${path}.name`, 'name must be a string');
    name = value.name;
  }
  const id = (key: 'vendor' | 'device'): number | undefined => {
    const raw = value[key];
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string' || !/^[0-9a-fA-F]{4}$/.test(raw)) fail(`${path}.${key}`, `${key} must be 4 hex digits, got ${JSON.stringify(raw)}`);
    return Number.parseInt(raw, 16);
  };
  const vendorId = id('vendor');
  const deviceId = id('device');
  if (value.acsRedirect !== undefined && typeof value.acsRedirect !== 'boolean') fail(`${path}.acsRedirect`, 'acsRedirect must be true or false');
  const acsRedirect = value.acsRedirect === true;

  const bars: BarPlan[] = [];
  if (value.bars !== undefined) {
    if (!Array.isArray(value.bars)) fail(`${path}.bars`, 'bars must be an array');
    value.bars.forEach((raw: unknown, k: number) => {
      const barPath = `${path}.bars[${k}]`;
      if (!isObject(raw)) fail(barPath, 'a BAR must be an object');
      checkKeys(raw, ['index', 'size', 'p2pmem', 'phys'], barPath);
      const index = integer(raw.index, `${barPath}.index`, 0, 5, 'BAR index');
      if (bars.some((bar) => bar.index === index)) fail(`${barPath}.index`, `BAR ${index} is listed twice`);
      const bytes = size(raw.size, `${barPath}.size`);
      if (bytes < MIN_BAR_SIZE || !isPowerOfTwo(bytes)) fail(`${barPath}.size`, `a BAR size must be a power of two of at least 4KiB, got ${bytes}`);
      if (raw.p2pmem !== undefined && typeof raw.p2pmem !== 'boolean') fail(`${barPath}.p2pmem`, 'p2pmem must be true or false');
      let phys = 0;
      const pinned = raw.phys !== undefined;
      if (pinned) {
        phys = address(raw.phys, `${barPath}.phys`, false);
        if (phys % bytes !== 0) fail(`${barPath}.phys`, `BAR base 0x${phys.toString(16)} is not aligned to its size ${bytes}`);
      }
      bars.push({ index, size: bytes, p2pmem: raw.p2pmem === true, phys, pinned, path: barPath });
    });
    bars.sort((a, b) => a.index - b.index);
  }

  let secondaryBus: number | undefined;
  const children: DevicePlan[] = [];
  if (value.secondaryBus !== undefined) {
    if (kind === 'endpoint') fail(`${path}.secondaryBus`, 'an endpoint has no secondary bus (give it a bridge kind or children)');
    secondaryBus = integer(value.secondaryBus, `${path}.secondaryBus`, 0, 255, 'secondaryBus');
  }
  const kids = (hasChildren ? value.children : []) as unknown[];
  if (secondaryBus === undefined && kids.length > 0) {
    const firstChild = kids[0];
    const childBdf = parseBdf(isObject(firstChild) ? firstChild.bdf : undefined);
    if (!childBdf) validateDevice(firstChild, `${path}.children[0]`, segment, -1, ctx); // throws with the exact path
    secondaryBus = childBdf!.bus;
  }
  if (secondaryBus !== undefined) {
    const where = value.secondaryBus !== undefined ? `${path}.secondaryBus` : `${path}.children[0].bdf`;
    if (secondaryBus <= bus) fail(where, `secondary bus ${hex(secondaryBus, 2)} of bridge ${bdf} must be above its own bus ${hex(bus, 2)}`);
    const key = `${segment}:${secondaryBus}`;
    const owner = ctx.buses.get(key);
    if (owner !== undefined) fail(where, `bus ${formatBus(segment, secondaryBus)} is already in use (by ${owner})`);
    ctx.buses.set(key, path);
    kids.forEach((child, j) => children.push(validateDevice(child, `${path}.children[${j}]`, segment, secondaryBus!, ctx)));
  }
  return { bdf, kind, name, vendorId, deviceId, acsRedirect, secondaryBus, bars, children };
}

function assignAddresses(hb: HostBridgePlan): void {
  const all: BarPlan[] = [];
  const walk = (device: DevicePlan): void => {
    all.push(...device.bars);
    device.children.forEach(walk);
  };
  hb.devices.forEach(walk);
  const end = hb.mmioBase + hb.mmioSize;
  const pinned = all.filter((bar) => bar.pinned).sort((a, b) => a.phys - b.phys);
  let previous: BarPlan | undefined;
  for (const bar of pinned) {
    if (bar.phys < hb.mmioBase || bar.phys + bar.size > end) {
      fail(`${bar.path}.phys`, `BAR 0x${bar.phys.toString(16)}+${bar.size} is outside host bridge ${formatBus(hb.segment, hb.bus)}'s window 0x${hb.mmioBase.toString(16)}..0x${end.toString(16)}`);
    }
    if (previous && previous.phys + previous.size > bar.phys) fail(`${bar.path}.phys`, `BAR overlaps ${previous.path}`);
    previous = bar;
  }
  let cursor = hb.mmioBase;
  for (const bar of all) {
    if (bar.pinned) continue;
    let at = Math.ceil(cursor / bar.size) * bar.size;
    for (;;) {
      const clash = pinned.find((p) => p.phys < at + bar.size && at < p.phys + p.size);
      if (!clash) break;
      at = Math.ceil((clash.phys + clash.size) / bar.size) * bar.size;
    }
    if (at + bar.size > end) fail(`${bar.path}.size`, `BAR does not fit host bridge ${formatBus(hb.segment, hb.bus)}'s MMIO window (0x${hb.mmioBase.toString(16)}, ${formatSize(hb.mmioSize)}) after the BARs before it in tree order`);
    bar.phys = at;
    cursor = at + bar.size;
  }
}

/** Validates a description into a plan. @internal */
export function planTopology(spec: unknown): TopologyPlan {
  const root = '$';
  if (!isObject(spec)) fail(root, 'a topology must be an object');
  // `$schema` lets editors validate a file against schema/topology.schema.json; the model ignores it.
  checkKeys(spec, ['$schema', 'cpu', 'hostBridges'], root);
  if (spec.$schema !== undefined && typeof spec.$schema !== 'string') fail('$.$schema', '$schema must be a string (the schema\'s URL or path)');
  let cpu: Cpu | null = null;
  if (spec.cpu !== undefined && spec.cpu !== null) {
    if (!isObject(spec.cpu)) fail('$.cpu', 'cpu must be an object { vendor, family }');
    checkKeys(spec.cpu, ['vendor', 'family'], '$.cpu');
    if (typeof spec.cpu.vendor !== 'string' || spec.cpu.vendor === '') fail('$.cpu.vendor', 'vendor must be a non-empty string such as "GenuineIntel" or "AuthenticAMD"');
    cpu = { vendor: spec.cpu.vendor, family: integer(spec.cpu.family, '$.cpu.family', 0, 0xffff, 'family') };
  }
  if (!Array.isArray(spec.hostBridges)) fail('$.hostBridges', 'hostBridges must be an array');
  const ctx: Context = { seen: new Map(), buses: new Map() };
  const raw = spec.hostBridges as unknown[];
  const headers = raw.map((value, i) => {
    const path = `$.hostBridges[${i}]`;
    if (!isObject(value)) fail(path, 'a host bridge must be an object');
    checkKeys(value, ['segment', 'bus', 'mmioBase', 'mmioSize', 'busOffset', 'devices'], path);
    const segment = integer(value.segment, `${path}.segment`, 0, 0xffffffff, 'segment');
    const bus = integer(value.bus, `${path}.bus`, 0, 255, 'bus');
    const key = `${segment}:${bus}`;
    const owner = ctx.buses.get(key);
    if (owner !== undefined) fail(path, `root bus ${formatBus(segment, bus)} is listed twice (first at ${owner})`);
    ctx.buses.set(key, path);
    return { value, path, segment, bus };
  });
  const hostBridges: HostBridgePlan[] = headers.map(({ value, path, segment, bus }, i) => {
    const mmioBase = value.mmioBase === undefined ? DEFAULT_MMIO_BASE + i * DEFAULT_MMIO_STRIDE : address(value.mmioBase, `${path}.mmioBase`, false);
    if (mmioBase % MIN_BAR_SIZE !== 0) fail(`${path}.mmioBase`, 'mmioBase must be a multiple of 4KiB');
    const mmioSize = value.mmioSize === undefined ? DEFAULT_MMIO_SIZE : size(value.mmioSize, `${path}.mmioSize`);
    if (mmioSize === 0 || mmioSize % MIN_BAR_SIZE !== 0) fail(`${path}.mmioSize`, 'mmioSize must be a non-zero multiple of 4KiB');
    if (mmioBase + mmioSize > MAX_ADDRESS) fail(`${path}.mmioSize`, 'the MMIO window must end at or below 2^53');
    const busOffset = value.busOffset === undefined ? DEFAULT_BUS_OFFSET : address(value.busOffset, `${path}.busOffset`, true);
    if (mmioBase - busOffset < 0 || mmioBase + mmioSize - busOffset > MAX_ADDRESS) fail(`${path}.busOffset`, 'bus addresses (phys - busOffset) of the window must lie in 0..2^53');
    if (!Array.isArray(value.devices)) fail(`${path}.devices`, 'devices must be an array');
    const devices = (value.devices as unknown[]).map((device, j) => validateDevice(device, `${path}.devices[${j}]`, segment, bus, ctx));
    return { segment, bus, mmioBase, mmioSize, busOffset, devices, path };
  });
  hostBridges.forEach((hb, i) => {
    const clash = hostBridges.find((other, j) => j < i && other.mmioBase < hb.mmioBase + hb.mmioSize && hb.mmioBase < other.mmioBase + other.mmioSize);
    if (clash) fail(`${hb.path}.mmioBase`, `MMIO window overlaps ${clash.path}'s`);
    assignAddresses(hb);
  });
  return { cpu, hostBridges };
}

/**
 * Builds a topology from a description (the JSON format of CONTRACTS.md, as an object; see docs/topology.md).
 * Every BAR gets a CPU physical base: its pinned `phys`, or the next naturally aligned address in its host
 * bridge's window, in tree order. Returns the topology. Throws TopologyError (ERR_TOPOLOGY, field `path`, a JSON
 * path such as `$.hostBridges[0].devices[1].bdf`) for anything malformed; nothing is built in that case.
 */
export function buildTopology(spec: TopologySpec | unknown): Topology {
  return new Topology(planTopology(spec));
}


