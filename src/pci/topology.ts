// The PCI topology model: host bridges (root buses), bridges, functions with their BARs, ACS and port types,
// and the CPU. buildTopology() validates a description completely and then constructs the model in one pass,
// so a caller gets either a whole topology or a TopologyError naming the offending JSON path. Every walk over
// the description or the model is iterative: no input depth can overflow the stack.
import { InvalidArgumentError, InvalidSizeError, TopologyError, UnknownDeviceError } from '../errors.js';
import { describeValue } from '../describe-value.js';
import { formatSize, parseSize, type Size } from '../size.js';
import { ACS_FLAG_NAMES, PCI_ACS_RR, acsMaskOf, acsNames, acsRedirects, type AcsFlagName, type AcsState } from './acs.js';
import { formatBus, hex, parseBdf, type Bdf } from './bdf.js';
import type { Cpu, CpuOrigin } from './cpu.js';
import { P2pmemProvider } from './p2pmem.js';

export { parseCpu, type Cpu } from './cpu.js';

/** What a function is in the tree. Everything but `endpoint` is a bridge (it has a secondary bus). */
export type DeviceKind = 'endpoint' | 'root-port' | 'upstream-port' | 'downstream-port' | 'bridge';
/** Every valid DeviceKind. */
export const DEVICE_KINDS: readonly DeviceKind[] = ['endpoint', 'root-port', 'upstream-port', 'downstream-port', 'bridge'];

/**
 * The device/port type of the PCI Express capability (lspci's "Express (v2) Root Port"...), or `pci` for a
 * function without one (conventional PCI). Absent when unknown (lspci -t, or capabilities not readable).
 */
export type PortType =
  | 'pci'
  | 'endpoint'
  | 'legacy-endpoint'
  | 'rc-integrated-endpoint'
  | 'rc-event-collector'
  | 'root-port'
  | 'upstream-port'
  | 'downstream-port'
  | 'pcie-to-pci-bridge'
  | 'pci-to-pcie-bridge';
/** Every valid PortType. */
export const PORT_TYPES: readonly PortType[] = [
  'pci', 'endpoint', 'legacy-endpoint', 'rc-integrated-endpoint', 'rc-event-collector', 'root-port', 'upstream-port', 'downstream-port', 'pcie-to-pci-bridge', 'pci-to-pcie-bridge',
];

/** An address in a description: a safe integer, or a string of hex ("0x4000000000") or decimal digits. */
export type AddressSpec = number | string;

/** Resizable BAR: the current size and every size the function supports. */
export interface ResizableBarSpec {
  current: Size;
  supported: Size[];
}

/**
 * A memory BAR in a description. `size` places it in the model's address map (a power of two, at least 4 KiB);
 * `phys` (optional) pins its model base. The other keys record what lspci showed and change no address:
 * `address` (the machine's own address, hex), `reportedSize` (the size lspci printed when it differs from `size`,
 * `null` when lspci printed none), the flags, and Resizable BAR sizes.
 */
export interface BarSpec {
  index: number;
  size: Size;
  p2pmem?: boolean;
  phys?: AddressSpec;
  prefetchable?: boolean;
  is64bit?: boolean;
  address?: string;
  reportedSize?: Size | null;
  disabled?: boolean;
  virtual?: boolean;
  unassigned?: boolean;
  resizable?: ResizableBarSpec;
}

/** ACS bit by bit, with the lspci names (SrcValid, TransBlk, ReqRedir, CmpltRedir, UpstreamFwd, EgressCtrl, DirectTrans). */
export interface AcsSpec {
  capability: AcsFlagName[];
  control: AcsFlagName[];
}

/** A slot: its number (SltCap "Slot #N"), lspci's "Physical Slot" name, and hot-plug capabilities. */
export interface SlotSpec {
  number?: number;
  physical?: string;
  hotPlug?: boolean;
  surprise?: boolean;
}

/** A VF BAR region of the SR-IOV capability. */
export interface SriovBarSpec {
  index: number;
  address?: string;
  prefetchable?: boolean;
  is64bit?: boolean;
}

/** The SR-IOV capability, as lspci -vv shows it. */
export interface SriovSpec {
  totalVfs?: number;
  numVfs?: number;
  vfDevice?: string;
  bars?: SriovBarSpec[];
}

/** A PCI function in a description. A device with `children` is a bridge whatever its `kind`. */
export interface DeviceSpec {
  bdf: string;
  kind?: DeviceKind;
  portType?: PortType;
  name?: string;
  vendor?: string;
  device?: string;
  /** Short form of ACS: control has ReqRedir, CmpltRedir or EgressCtrl set. */
  acsRedirect?: boolean;
  acs?: AcsSpec;
  /** A port that faces the outside (firmware's external-facing / Thunderbolt): everything below it is untrusted. */
  externalFacing?: boolean;
  /** Derived (below an external-facing port); when given it must agree. */
  untrusted?: boolean;
  /** The header's multi-function bit; default: another function of the slot exists or this is not function 0. */
  multifunction?: boolean;
  slot?: SlotSpec;
  sriov?: SriovSpec;
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

/** A whole topology in a description: the JSON format of docs/topology.md. */
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
/** Smallest BAR the model places (and the granule of every window). */
export const MIN_BAR_SIZE = 4096;
const MAX_ADDRESS = 2 ** 53;

/** A BAR's record of what lspci showed (see BarSpec). */
export interface BarDetails {
  readonly prefetchable: boolean;
  readonly is64bit: boolean;
  readonly address: string | undefined;
  /** Bytes lspci printed, the model size when it printed the same, or null when it printed none. */
  readonly reportedSize: number | null;
  readonly disabled: boolean;
  readonly virtual: boolean;
  readonly unassigned: boolean;
  readonly resizable: { readonly current: number; readonly supported: readonly number[] } | undefined;
}

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
    readonly details: BarDetails,
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

  /** Prefetchable memory (what pci_p2pdma_add_resource() users publish). */
  get prefetchable(): boolean {
    return this.details.prefetchable;
  }

  /** A 64-bit BAR. */
  get is64bit(): boolean {
    return this.details.is64bit;
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
  readonly kind: DeviceKind;
  readonly portType: PortType | undefined;
  readonly name: string | undefined;
  readonly vendorId: number | undefined;
  readonly deviceId: number | undefined;
  /** ACS capability and control bits, when the function has an ACS capability the description knows. */
  readonly acs: AcsState | undefined;
  /** ACS control has RR, CR or EC set (pci_bridge_has_acs_redir()). */
  readonly acsRedirect: boolean;
  readonly externalFacing: boolean;
  /** Below an external-facing port (as pci_set_untrusted()/set_pcie_untrusted() mark it). */
  readonly untrusted: boolean;
  /** The header's multi-function bit (given, or derived from the other functions of the slot). */
  readonly multifunction: boolean;
  readonly slot: Readonly<SlotSpec> | undefined;
  readonly sriov: Readonly<SriovSpec> | undefined;
  readonly secondaryBus: number | undefined;
  /** The functions on the secondary bus, in order. */
  readonly children: readonly PciDevice[];
  /** @internal */
  readonly childList: PciDevice[] = [];

  /** @internal */
  constructor(readonly topology: Topology, readonly hostBridge: HostBridge, upstream: PciDevice | null, plan: DevicePlan, multifunction: boolean) {
    const parts = parseBdf(plan.bdf)!;
    this.segment = parts.segment;
    this.bus = parts.bus;
    this.device = parts.device;
    this.fn = parts.fn;
    this.devfn = parts.devfn;
    this.upstream = upstream;
    this.bdf = plan.bdf;
    this.kind = plan.kind;
    this.portType = plan.portType;
    this.name = plan.name;
    this.vendorId = plan.vendorId;
    this.deviceId = plan.deviceId;
    this.acs = plan.acs;
    this.acsRedirect = plan.acsRedirect;
    this.externalFacing = plan.externalFacing;
    this.untrusted = upstream !== null && (upstream.untrusted || upstream.externalFacing);
    this.multifunction = multifunction;
    this.slot = plan.slot;
    this.sriov = plan.sriov;
    this.secondaryBus = plan.secondaryBus;
    this.children = this.childList;
    this.bars = plan.bars.map((bar) => new PciBar(this, bar.index, bar.size, bar.phys, bar.p2pmem, bar.details));
  }

  readonly bdf: string;

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
  /** @internal */
  readonly deviceList: PciDevice[] = [];
  readonly devices: readonly PciDevice[] = this.deviceList;

  /** @internal */
  constructor(
    readonly topology: Topology,
    readonly index: number,
    readonly segment: number,
    readonly bus: number,
    readonly mmioBase: number,
    readonly mmioSize: number,
    readonly busOffset: number,
  ) {}

  /** `SSSS:BB`, as lspci -t prints a root bus. */
  get name(): string {
    return formatBus(this.segment, this.bus);
  }
}

/** Options of buildTopology(): notes from an importer, and where the CPU came from. */
export interface BuildOptions {
  /** What an importer wants the reader to know (a CPU it inferred, capabilities it could not read). */
  readonly notes?: readonly string[];
  /** Where the CPU came from; default `description` when the description names one, else `unknown`. */
  readonly cpuOrigin?: CpuOrigin;
}

/** A built topology. Structure is immutable; p2pmem providers carry allocation state. */
export class Topology {
  readonly cpu: Cpu | null;
  readonly cpuOrigin: CpuOrigin;
  /** Notes of the importer that built it (empty for JSON). */
  readonly notes: readonly string[];
  readonly hostBridges: readonly HostBridge[];
  readonly #byBdf = new Map<string, PciDevice>();
  readonly #devices: PciDevice[] = [];
  #bars: readonly PciBar[] | undefined;
  #barsByPhys: readonly PciBar[] | undefined;

  /** @internal Use buildTopology(). */
  constructor(plan: TopologyPlan, options: BuildOptions = {}) {
    this.cpu = plan.cpu;
    this.cpuOrigin = options.cpuOrigin ?? (plan.cpu ? 'description' : 'unknown');
    this.notes = [...(options.notes ?? [])];
    const bridges: HostBridge[] = [];
    this.hostBridges = bridges;
    plan.hostBridges.forEach((hb, index) => {
      const bridge = new HostBridge(this, index, hb.segment, hb.bus, hb.mmioBase, hb.mmioSize, hb.busOffset);
      bridges.push(bridge);
      // Depth first, children in order, with an explicit stack (parents are built before their children).
      const stack: { plan: DevicePlan; parent: PciDevice | null; siblings: readonly DevicePlan[] }[] = [];
      for (let i = hb.devices.length - 1; i >= 0; i--) stack.push({ plan: hb.devices[i]!, parent: null, siblings: hb.devices });
      while (stack.length > 0) {
        const { plan: p, parent, siblings } = stack.pop()!;
        const device = new PciDevice(this, bridge, parent, p, p.multifunction ?? slotShared(p, siblings));
        (parent ? parent.childList : bridge.deviceList).push(device);
        this.#devices.push(device);
        this.#byBdf.set(device.bdf, device);
        for (let i = p.children.length - 1; i >= 0; i--) stack.push({ plan: p.children[i]!, parent: device, siblings: p.children });
      }
    });
  }

  /** Every function, in tree order (host bridges in order, depth first). */
  devices(): readonly PciDevice[] {
    return this.#devices;
  }

  /** Every endpoint function, in tree order. */
  endpoints(): PciDevice[] {
    return this.#devices.filter((device) => !device.isBridge);
  }

  /** Every BAR, in tree order. */
  bars(): readonly PciBar[] {
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
    if (!parseBdf(bdf)) throw new InvalidArgumentError(`${describeValue(bdf)} is not a BDF (SSSS:BB:DD.F, lower-case hex)`, { argument: 'bdf' });
    const device = this.#byBdf.get(bdf);
    if (!device) throw new UnknownDeviceError(`no device ${bdf} in the topology`, { bdf });
    return device;
  }

  /** The BAR containing CPU physical address `phys`, or undefined (a binary search: BARs never overlap). Never throws. */
  barAt(phys: number): PciBar | undefined {
    if (typeof phys !== 'number') return undefined; // a compare would coerce it, or throw (a Symbol)
    this.#barsByPhys ??= [...this.bars()].sort((a, b) => a.phys - b.phys);
    const bars = this.#barsByPhys;
    let lo = 0;
    let hi = bars.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bars[mid]!.phys <= phys) lo = mid + 1;
      else hi = mid;
    }
    const bar = bars[lo - 1];
    return bar && bar.contains(phys) ? bar : undefined;
  }

  /**
   * The description this topology was built from, with every assigned address filled in
   * (`mmioBase`, `mmioSize`, `busOffset`, BAR `phys`, bridge `secondaryBus`) and `untrusted` written where it
   * holds: buildTopology(toSpec()) rebuilds the same structure (with fresh p2pmem state). Never throws.
   */
  toSpec(): TopologySpec {
    const spec: TopologySpec = { hostBridges: [] };
    for (const hb of this.hostBridges) {
      const hbSpec: HostBridgeSpec = {
        segment: hb.segment,
        bus: hb.bus,
        mmioBase: `0x${hb.mmioBase.toString(16)}`,
        mmioSize: hb.mmioSize,
        busOffset: hb.busOffset < 0 ? `-0x${(-hb.busOffset).toString(16)}` : `0x${hb.busOffset.toString(16)}`,
        devices: [],
      };
      spec.hostBridges.push(hbSpec);
      const stack: { device: PciDevice; into: DeviceSpec[] }[] = [];
      for (let i = hb.devices.length - 1; i >= 0; i--) stack.push({ device: hb.devices[i]!, into: hbSpec.devices });
      while (stack.length > 0) {
        const { device: d, into } = stack.pop()!;
        const out = deviceToSpec(d);
        into.push(out);
        if (d.children.length > 0) {
          out.children = [];
          for (let i = d.children.length - 1; i >= 0; i--) stack.push({ device: d.children[i]!, into: out.children });
        }
      }
    }
    if (this.cpu) spec.cpu = { vendor: this.cpu.vendor, family: this.cpu.family };
    return spec;
  }
}

function slotShared(plan: DevicePlan, siblings: readonly DevicePlan[]): boolean {
  if (plan.fn !== 0) return true;
  return siblings.some((other) => other !== plan && other.slotNumber === plan.slotNumber && other.busNumber === plan.busNumber);
}

function deviceToSpec(d: PciDevice): DeviceSpec {
  const spec: DeviceSpec = { bdf: d.bdf, kind: d.kind };
  if (d.portType !== undefined) spec.portType = d.portType;
  if (d.name !== undefined) spec.name = d.name;
  if (d.vendorId !== undefined) spec.vendor = hex(d.vendorId, 4);
  if (d.deviceId !== undefined) spec.device = hex(d.deviceId, 4);
  if (d.acs) spec.acs = { capability: acsNames(d.acs.capability), control: acsNames(d.acs.control) };
  else if (d.acsRedirect) spec.acsRedirect = true;
  if (d.externalFacing) spec.externalFacing = true;
  if (d.untrusted) spec.untrusted = true;
  if (d.multifunction !== defaultMultifunction(d)) spec.multifunction = d.multifunction;
  if (d.slot) spec.slot = { ...d.slot };
  if (d.sriov) spec.sriov = structuredClone(d.sriov) as SriovSpec;
  if (d.secondaryBus !== undefined) spec.secondaryBus = d.secondaryBus;
  if (d.bars.length > 0) {
    spec.bars = d.bars.map((bar) => {
      const out: BarSpec = { index: bar.index, size: bar.size, p2pmem: bar.provider !== undefined, phys: `0x${bar.phys.toString(16)}` };
      const x = bar.details;
      if (x.prefetchable) out.prefetchable = true;
      if (x.is64bit) out.is64bit = true;
      if (x.address !== undefined) out.address = x.address;
      if (x.reportedSize !== bar.size) out.reportedSize = x.reportedSize;
      if (x.disabled) out.disabled = true;
      if (x.virtual) out.virtual = true;
      if (x.unassigned) out.unassigned = true;
      if (x.resizable) out.resizable = { current: x.resizable.current, supported: [...x.resizable.supported] };
      return out;
    });
  }
  return spec;
}

function defaultMultifunction(d: PciDevice): boolean {
  if (d.fn !== 0) return true;
  const siblings = d.upstream ? d.upstream.children : d.hostBridge.devices;
  return siblings.some((other) => other !== d && other.device === d.device);
}

/** Changes applied on top of a description (what lspci output cannot carry). */
export interface TopologyOverrides {
  /** BDFs whose ACS control has RR, CR or EC set. */
  acsRedirect?: readonly string[];
  /** BDFs of ports that face the outside (everything below them becomes untrusted). */
  externalFacing?: readonly string[];
  /** The CPU; `null` makes it unknown. */
  cpu?: Cpu | null;
}

/**
 * Returns a copy of `spec` with the overrides applied (ACS redirect set on the listed functions, external-facing
 * ports marked, CPU replaced). Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) for a malformed BDF or option
 * and UnknownDeviceError (ERR_UNKNOWN_DEVICE, field `bdf`) for a BDF not in the description. `spec` itself is
 * never changed.
 */
export function applyOverrides(spec: TopologySpec, overrides: TopologyOverrides): TopologySpec {
  return overrideInPlace(structuredClone(spec), overrides);
}

/** applyOverrides() on a description the caller owns (an importer's fresh one): changes and returns it. @internal */
export function overrideInPlace(copy: TopologySpec, overrides: TopologyOverrides): TopologySpec {
  if (overrides === null || typeof overrides !== 'object') throw new InvalidArgumentError('overrides must be an object', { argument: 'overrides' });
  const acsList = bdfList(overrides.acsRedirect, 'acsRedirect');
  const externalList = bdfList(overrides.externalFacing, 'externalFacing');
  const cpu = overrides.cpu;
  if (cpu !== undefined && cpu !== null && (typeof cpu !== 'object' || typeof cpu.vendor !== 'string' || cpu.vendor === '' || !Number.isInteger(cpu.family) || cpu.family < 0 || cpu.family > 0xffff)) {
    throw new InvalidArgumentError('cpu must be { vendor: non-empty string, family: integer 0..0xffff } or null', { argument: 'cpu' });
  }
  if (cpu !== undefined) copy.cpu = cpu === null ? null : { vendor: cpu.vendor, family: cpu.family };
  const acs = new Set(acsList);
  const external = new Set(externalList);
  const stack: unknown[] = [];
  for (const hb of Array.isArray(copy.hostBridges) ? copy.hostBridges : []) if (Array.isArray(hb?.devices)) stack.push(...hb.devices);
  while (stack.length > 0) {
    const device = stack.pop() as DeviceSpec | null;
    if (device === null || typeof device !== 'object') continue;
    if (acs.delete(device.bdf)) {
      device.acsRedirect = true;
      if (device.acs && Array.isArray(device.acs.control) && !device.acs.control.includes('ReqRedir')) device.acs.control = acsNames((acsMaskOf(device.acs.control) ?? 0) | PCI_ACS_RR);
    }
    if (external.delete(device.bdf)) device.externalFacing = true;
    if (Array.isArray(device.children)) stack.push(...device.children);
  }
  const [missingAcs] = acs;
  if (missingAcs !== undefined) throw new UnknownDeviceError(`ACS redirect: no device ${missingAcs} in the topology`, { bdf: missingAcs });
  const [missingPort] = external;
  if (missingPort !== undefined) throw new UnknownDeviceError(`external-facing: no device ${missingPort} in the topology`, { bdf: missingPort });
  return copy;
}

function bdfList(list: unknown, name: string): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new InvalidArgumentError(`${name} must be an array of BDFs`, { argument: name });
  const out: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const bdf: unknown = list[i];
    if (!parseBdf(bdf)) throw new InvalidArgumentError(`${name}: ${bdf === undefined ? 'nothing' : describeValue(bdf)} is not a BDF (SSSS:BB:DD.F, lower-case hex)`, { argument: name });
    out.push(bdf as string);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation: everything is checked into a plan before any object is built.

interface BarPlan {
  index: number;
  size: number;
  p2pmem: boolean;
  phys: number;
  pinned: boolean;
  at: PathRef;
  details: BarDetails;
}

/** @internal */
export interface DevicePlan {
  bdf: string;
  busNumber: number;
  slotNumber: number;
  fn: number;
  kind: DeviceKind;
  portType: PortType | undefined;
  name: string | undefined;
  vendorId: number | undefined;
  deviceId: number | undefined;
  acs: AcsState | undefined;
  acsRedirect: boolean;
  externalFacing: boolean;
  untrusted: boolean | undefined;
  multifunction: boolean | undefined;
  slot: SlotSpec | undefined;
  sriov: SriovSpec | undefined;
  secondaryBus: number | undefined;
  bars: BarPlan[];
  children: DevicePlan[];
  /** @internal where it sits in the description */
  at: unknown;
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

function fail(path: string, message: string, cause?: unknown): never {
  throw new TopologyError(`${path}: ${message}`, cause === undefined ? { path } : { path, cause });
}

// Where a value sits in the description. Paths are built only for an error message: building one string per
// value of a large description would make the garbage collector the loader's main cost.
interface PathRef {
  readonly parent: PathRef | string;
  readonly key: string;
  readonly index: number;
}
type At = PathRef | string;

function pathOf(at: At, suffix = ''): string {
  const parts: string[] = [suffix];
  let ref: At = at;
  while (typeof ref !== 'string') {
    parts.push(`.${ref.key}[${ref.index}]`);
    ref = ref.parent;
  }
  parts.push(ref);
  return parts.reverse().join('');
}

function failAt(at: At, suffix: string, message: string, cause?: unknown): never {
  return fail(pathOf(at, suffix), message, cause);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], at: At, suffix = ''): void {
  for (const key in value) {
    if (Object.hasOwn(value, key) && !allowed.includes(key)) failAt(at, `${suffix}.${key}`, `unknown key "${key.slice(0, 40)}" (allowed: ${allowed.join(', ')})`);
  }
}

function integer(value: unknown, at: At, suffix: string, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    failAt(at, suffix, `${what} must be an integer ${min}..${max}, got ${JSON.stringify(value)?.slice(0, 40) ?? typeof value}`);
  }
  return value;
}

function boolean(value: unknown, at: At, suffix: string, what: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') failAt(at, suffix, `${what} must be true or false`);
  return value;
}

function text(value: unknown, at: At, suffix: string, what: string, max = 4096): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max) failAt(at, suffix, Number.isFinite(max) ? `${what} must be a string of at most ${max} characters` : `${what} must be a string`);
  return value;
}

function address(value: unknown, path: string, allowNegative: boolean): number {
  let parsed: number | undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) parsed = value;
  else if (typeof value === 'string' && value.length <= 40) {
    const match = /^(-?)(?:0x([0-9a-fA-F]+)|(\d+))$/.exec(value);
    if (match) {
      const magnitude = match[2] !== undefined ? Number.parseInt(match[2], 16) : Number(match[3]);
      if (Number.isSafeInteger(magnitude)) parsed = match[1] ? -magnitude : magnitude;
    }
  }
  if (parsed === undefined) fail(path, `expected an address (a safe integer or "0x..." hex), got ${JSON.stringify(value)?.slice(0, 40) ?? typeof value}`);
  if (!allowNegative && parsed < 0) fail(path, 'address must not be negative');
  return parsed;
}

function size(value: unknown, at: At, suffix = ''): number {
  try {
    return parseSize(value, 'size');
  } catch (err) {
    if (err instanceof InvalidSizeError) {
      const message = err.message.startsWith('size: ') ? err.message.slice(6) : err.message;
      failAt(at, suffix, message, err);
    }
    throw err;
  }
}

const isPowerOfTwo = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

const HEX_ADDRESS = /^0x[0-9a-f]{1,16}$/;

interface Context {
  seen: Map<string, PathRef>; // bdf -> where it was first
  buses: Map<string, At>; // "segment:bus" -> the owner (root bus or bridge)
}

// The object, key and BDF checks of one device: shared by validation and by the look at a bridge's first child.
function deviceHead(value: unknown, at: At): { value: Record<string, unknown>; parts: Bdf; bdf: string } {
  if (!isObject(value)) failAt(at, '', 'a device must be an object');
  checkKeys(value, ['bdf', 'kind', 'portType', 'name', 'vendor', 'device', 'acsRedirect', 'acs', 'externalFacing', 'untrusted', 'multifunction', 'slot', 'sriov', 'secondaryBus', 'bars', 'children'], at);
  const parts = parseBdf(value.bdf);
  if (!parts) failAt(at, '.bdf', `expected a BDF "SSSS:BB:DD.F" (lower-case hex), got ${JSON.stringify(value.bdf)?.slice(0, 40) ?? 'nothing'}`);
  return { value, parts, bdf: value.bdf as string };
}

function isHex4(raw: string): boolean {
  if (raw.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const c = raw.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function id(raw: unknown, at: At, suffix: string, key: string): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !isHex4(raw)) failAt(at, suffix, `${key} must be 4 hex digits, got ${JSON.stringify(raw)?.slice(0, 40)}`);
  return Number.parseInt(raw, 16);
}

function acsList(raw: unknown, at: At, suffix: string): number {
  if (!Array.isArray(raw)) failAt(at, suffix, `must be an array of ACS flag names (${ACS_FLAG_NAMES.join(', ')})`);
  const mask = acsMaskOf(raw);
  if (mask === undefined) failAt(at, suffix, `ACS flags must be among ${ACS_FLAG_NAMES.join(', ')}, got ${JSON.stringify(raw).slice(0, 80)}`);
  return mask;
}

function validateBars(raw: unknown, owner: PathRef): BarPlan[] {
  const bars: BarPlan[] = [];
  if (raw === undefined) return bars;
  if (!Array.isArray(raw)) failAt(owner, '.bars', 'bars must be an array');
  let used = 0;
  for (let k = 0; k < raw.length; k++) {
    const item: unknown = raw[k];
    const at: PathRef = { parent: owner, key: 'bars', index: k };
    if (!isObject(item)) failAt(at, '', 'a BAR must be an object');
    checkKeys(item, ['index', 'size', 'p2pmem', 'phys', 'prefetchable', 'is64bit', 'address', 'reportedSize', 'disabled', 'virtual', 'unassigned', 'resizable'], at);
    const index = integer(item.index, at, '.index', 0, 5, 'BAR index');
    if (used & (1 << index)) failAt(at, '.index', `BAR ${index} is listed twice`);
    used |= 1 << index;
    const bytes = size(item.size, at, '.size');
    if (bytes < MIN_BAR_SIZE || !isPowerOfTwo(bytes)) failAt(at, '.size', `a BAR size must be a power of two of at least 4KiB, got ${bytes}`);
    const p2pmem = boolean(item.p2pmem, at, '.p2pmem', 'p2pmem') === true;
    let phys = 0;
    const pinned = item.phys !== undefined;
    if (pinned) {
      phys = address(item.phys, pathOf(at, '.phys'), false);
      if (phys % bytes !== 0) failAt(at, '.phys', `BAR base 0x${phys.toString(16)} is not aligned to its size ${bytes}`);
    }
    const realAddress = text(item.address, at, '.address', 'address', 18);
    if (realAddress !== undefined && !HEX_ADDRESS.test(realAddress)) failAt(at, '.address', `address must be "0x" and 1..16 lower-case hex digits, got ${JSON.stringify(realAddress)}`);
    let reportedSize: number | null = bytes;
    if (item.reportedSize === null) reportedSize = null;
    else if (item.reportedSize !== undefined) {
      reportedSize = size(item.reportedSize, at, '.reportedSize');
      if (reportedSize === 0) failAt(at, '.reportedSize', 'reportedSize must not be 0');
    }
    let resizable: BarDetails['resizable'];
    if (item.resizable !== undefined) {
      const r = item.resizable;
      if (!isObject(r)) failAt(at, '.resizable', 'resizable must be an object { current, supported }');
      checkKeys(r, ['current', 'supported'], at, '.resizable');
      const current = size(r.current, at, '.resizable.current');
      if (!Array.isArray(r.supported) || r.supported.length > 64) failAt(at, '.resizable.supported', 'supported must be an array of at most 64 sizes');
      const supported = r.supported.map((v: unknown, j: number) => size(v, at, `.resizable.supported[${j}]`));
      resizable = { current, supported };
    }
    const details: BarDetails = {
      prefetchable: boolean(item.prefetchable, at, '.prefetchable', 'prefetchable') === true,
      is64bit: boolean(item.is64bit, at, '.is64bit', 'is64bit') === true,
      address: realAddress,
      reportedSize,
      disabled: boolean(item.disabled, at, '.disabled', 'disabled') === true,
      virtual: boolean(item.virtual, at, '.virtual', 'virtual') === true,
      unassigned: boolean(item.unassigned, at, '.unassigned', 'unassigned') === true,
      resizable,
    };
    bars.push({ index, size: bytes, p2pmem, phys, pinned, at, details });
  }
  // Descriptions list BARs in order almost always; sort only when they are not (sort() allocates even for two).
  for (let i = 1; i < bars.length; i++) {
    if (bars[i - 1]!.index > bars[i]!.index) {
      bars.sort((a, b) => a.index - b.index);
      break;
    }
  }
  return bars;
}

function validateSlot(raw: unknown, at: PathRef): SlotSpec | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) failAt(at, '.slot', 'slot must be an object { number?, physical?, hotPlug?, surprise? }');
  checkKeys(raw, ['number', 'physical', 'hotPlug', 'surprise'], at, '.slot');
  const slot: SlotSpec = {};
  if (raw.number !== undefined) slot.number = integer(raw.number, at, '.slot.number', 0, 0x1fff, 'slot number');
  const physical = text(raw.physical, at, '.slot.physical', 'physical', 256);
  if (physical !== undefined) slot.physical = physical;
  const hotPlug = boolean(raw.hotPlug, at, '.slot.hotPlug', 'hotPlug');
  if (hotPlug !== undefined) slot.hotPlug = hotPlug;
  const surprise = boolean(raw.surprise, at, '.slot.surprise', 'surprise');
  if (surprise !== undefined) slot.surprise = surprise;
  return slot;
}

function validateSriov(raw: unknown, at: PathRef): SriovSpec | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) failAt(at, '.sriov', 'sriov must be an object { totalVfs?, numVfs?, vfDevice?, bars? }');
  checkKeys(raw, ['totalVfs', 'numVfs', 'vfDevice', 'bars'], at, '.sriov');
  const out: SriovSpec = {};
  if (raw.totalVfs !== undefined) out.totalVfs = integer(raw.totalVfs, at, '.sriov.totalVfs', 0, 0xffff, 'totalVfs');
  if (raw.numVfs !== undefined) out.numVfs = integer(raw.numVfs, at, '.sriov.numVfs', 0, 0xffff, 'numVfs');
  if (raw.vfDevice !== undefined) {
    if (id(raw.vfDevice, at, '.sriov.vfDevice', 'vfDevice') !== undefined) out.vfDevice = (raw.vfDevice as string).toLowerCase();
  }
  if (raw.bars !== undefined) {
    if (!Array.isArray(raw.bars) || raw.bars.length > 6) failAt(at, '.sriov.bars', 'bars must be an array of at most 6 VF BARs');
    out.bars = raw.bars.map((b: unknown, j: number) => {
      const p: PathRef = { parent: at, key: 'sriov.bars', index: j };
      if (!isObject(b)) failAt(p, '', 'a VF BAR must be an object');
      checkKeys(b, ['index', 'address', 'prefetchable', 'is64bit'], p);
      const bar: SriovBarSpec = { index: integer(b.index, p, '.index', 0, 5, 'VF BAR index') };
      const a = text(b.address, p, '.address', 'address', 18);
      if (a !== undefined) {
        if (!HEX_ADDRESS.test(a)) failAt(p, '.address', `address must be "0x" and 1..16 lower-case hex digits, got ${JSON.stringify(a)}`);
        bar.address = a;
      }
      if (boolean(b.prefetchable, p, '.prefetchable', 'prefetchable')) bar.prefetchable = true;
      if (boolean(b.is64bit, p, '.is64bit', 'is64bit')) bar.is64bit = true;
      return bar;
    });
  }
  return out;
}

// Validates one device, not its children (the caller's stack walks those). Returns the plan and the raw children.
function validateDevice(raw: unknown, at: PathRef, segment: number, bus: number, ctx: Context, parentUntrusted: boolean): { plan: DevicePlan; kids: unknown[] } {
  const { value, parts, bdf } = deviceHead(raw, at);
  const first = ctx.seen.get(bdf);
  if (first !== undefined) failAt(at, '.bdf', `duplicate BDF ${bdf} (first at ${pathOf(first, '.bdf')})`);
  ctx.seen.set(bdf, at);
  if (parts.segment !== segment || parts.bus !== bus) {
    failAt(at, '.bdf', `${bdf} is not on bus ${formatBus(segment, bus)} where it is placed (a device's bus must be its parent bridge's secondary bus or the host bridge's root bus)`);
  }

  let kind: DeviceKind | undefined;
  if (value.kind !== undefined) {
    if (!DEVICE_KINDS.includes(value.kind as DeviceKind)) failAt(at, '.kind', `kind must be one of ${DEVICE_KINDS.join(', ')}, got ${JSON.stringify(value.kind)?.slice(0, 40)}`);
    kind = value.kind as DeviceKind;
  }
  let portType: PortType | undefined;
  if (value.portType !== undefined) {
    if (!PORT_TYPES.includes(value.portType as PortType)) failAt(at, '.portType', `portType must be one of ${PORT_TYPES.join(', ')}, got ${JSON.stringify(value.portType)?.slice(0, 40)}`);
    portType = value.portType as PortType;
  }
  const hasChildren = value.children !== undefined;
  if (hasChildren && !Array.isArray(value.children)) failAt(at, '.children', 'children must be an array');
  if (kind === undefined && (portType === 'root-port' || portType === 'upstream-port' || portType === 'downstream-port') && (hasChildren || value.secondaryBus !== undefined)) kind = portType;
  if (kind === undefined && (portType === 'pcie-to-pci-bridge' || portType === 'pci-to-pcie-bridge')) kind = 'bridge';
  if (hasChildren && (kind === undefined || kind === 'endpoint')) kind = 'bridge';
  kind ??= 'endpoint';

  const name = text(value.name, at, '.name', 'name', Number.POSITIVE_INFINITY);
  const vendorId = id(value.vendor, at, '.vendor', 'vendor');
  const deviceId = id(value.device, at, '.device', 'device');
  const shortRedirect = boolean(value.acsRedirect, at, '.acsRedirect', 'acsRedirect');
  let acs: AcsState | undefined;
  if (value.acs !== undefined) {
    if (!isObject(value.acs)) failAt(at, '.acs', 'acs must be an object { capability: [...], control: [...] }');
    checkKeys(value.acs, ['capability', 'control'], at, '.acs');
    acs = { capability: acsList(value.acs.capability, at, '.acs.capability'), control: acsList(value.acs.control, at, '.acs.control') };
  }
  // The short form may only repeat what the bits say.
  if (acs && shortRedirect !== undefined && shortRedirect !== acsRedirects(acs)) {
    failAt(at, '.acsRedirect', `acsRedirect ${shortRedirect} contradicts acs.control (${acsNames(acs.control).join(' ') || 'nothing'} set)`);
  }
  const acsRedirect = acs ? acsRedirects(acs) : shortRedirect === true;
  const externalFacing = boolean(value.externalFacing, at, '.externalFacing', 'externalFacing') === true;
  if (externalFacing && kind === 'endpoint') failAt(at, '.externalFacing', 'externalFacing marks a port (a bridge); an endpoint has nothing below it');
  const untrusted = boolean(value.untrusted, at, '.untrusted', 'untrusted');
  if (untrusted !== undefined && untrusted !== parentUntrusted) {
    failAt(at, '.untrusted', `untrusted is derived: ${bdf} is ${parentUntrusted ? '' : 'not '}below an external-facing port, so it must be ${parentUntrusted}`);
  }
  const multifunction = boolean(value.multifunction, at, '.multifunction', 'multifunction');
  const slot = validateSlot(value.slot, at);
  const sriov = validateSriov(value.sriov, at);
  const bars = validateBars(value.bars, at);

  let secondaryBus: number | undefined;
  if (value.secondaryBus !== undefined) {
    if (kind === 'endpoint') failAt(at, '.secondaryBus', 'an endpoint has no secondary bus (give it a bridge kind or children)');
    secondaryBus = integer(value.secondaryBus, at, '.secondaryBus', 0, 255, 'secondaryBus');
  }
  const kids = (hasChildren ? value.children : EMPTY) as unknown[];
  if (secondaryBus === undefined && kids.length > 0) secondaryBus = deviceHead(kids[0], { parent: at, key: 'children', index: 0 }).parts.bus;
  if (secondaryBus !== undefined) {
    const where = value.secondaryBus !== undefined ? '.secondaryBus' : '.children[0].bdf';
    if (secondaryBus <= bus) failAt(at, where, `secondary bus ${hex(secondaryBus, 2)} of bridge ${bdf} must be above its own bus ${hex(bus, 2)}`);
    const key = `${segment}:${secondaryBus}`;
    const owner = ctx.buses.get(key);
    if (owner !== undefined) failAt(at, where, `bus ${formatBus(segment, secondaryBus)} is already in use (by ${pathOf(owner)})`);
    ctx.buses.set(key, at);
  }
  const plan: DevicePlan = {
    bdf, busNumber: parts.bus, slotNumber: parts.device, fn: parts.fn, kind, portType, name, vendorId, deviceId, acs, acsRedirect, externalFacing,
    untrusted, multifunction, slot, sriov, secondaryBus, bars, children: [], at,
  };
  return { plan, kids };
}

const EMPTY: readonly unknown[] = [];

function validateDevices(list: unknown[], hbPath: string, segment: number, bus: number, ctx: Context): DevicePlan[] {
  const roots: DevicePlan[] = [];
  // Depth first in document order (so "duplicate BDF" names the later one), with an explicit stack.
  type Item = { raw: unknown; at: PathRef; bus: number; into: DevicePlan[]; untrusted: boolean };
  const stack: Item[] = [];
  for (let j = list.length - 1; j >= 0; j--) stack.push({ raw: list[j], at: { parent: hbPath, key: 'devices', index: j }, bus, into: roots, untrusted: false });
  while (stack.length > 0) {
    const item = stack.pop()!;
    const { plan, kids } = validateDevice(item.raw, item.at, segment, item.bus, ctx, item.untrusted);
    item.into.push(plan);
    const below = item.untrusted || plan.externalFacing;
    for (let j = kids.length - 1; j >= 0; j--) stack.push({ raw: kids[j], at: { parent: item.at, key: 'children', index: j }, bus: plan.secondaryBus!, into: plan.children, untrusted: below });
  }
  return roots;
}

function assignAddresses(hb: HostBridgePlan): void {
  const all: BarPlan[] = [];
  const stack: DevicePlan[] = [...hb.devices].reverse();
  while (stack.length > 0) {
    const device = stack.pop()!;
    all.push(...device.bars);
    for (let i = device.children.length - 1; i >= 0; i--) stack.push(device.children[i]!);
  }
  const end = hb.mmioBase + hb.mmioSize;
  const pinned = all.filter((bar) => bar.pinned).sort((a, b) => a.phys - b.phys);
  let previous: BarPlan | undefined;
  for (const bar of pinned) {
    if (bar.phys < hb.mmioBase || bar.phys + bar.size > end) {
      failAt(bar.at, '.phys', `BAR 0x${bar.phys.toString(16)}+${bar.size} is outside host bridge ${formatBus(hb.segment, hb.bus)}'s window 0x${hb.mmioBase.toString(16)}..0x${end.toString(16)}`);
    }
    if (previous && previous.phys + previous.size > bar.phys) failAt(bar.at, '.phys', `BAR overlaps ${pathOf(previous.at)}`);
    previous = bar;
  }
  // The cursor only moves up, so one pass over the sorted pinned BARs finds every clash (linear, not quadratic).
  let cursor = hb.mmioBase;
  let next = 0; // first pinned BAR that ends above the cursor
  for (const bar of all) {
    if (bar.pinned) continue;
    let at = Math.ceil(cursor / bar.size) * bar.size;
    for (;;) {
      while (next < pinned.length && pinned[next]!.phys + pinned[next]!.size <= at) next++;
      const clash = pinned[next];
      if (!clash || clash.phys >= at + bar.size) break;
      at = Math.ceil((clash.phys + clash.size) / bar.size) * bar.size;
    }
    if (at + bar.size > end) failAt(bar.at, '.size', `BAR does not fit host bridge ${formatBus(hb.segment, hb.bus)}'s MMIO window (0x${hb.mmioBase.toString(16)}, ${formatSize(hb.mmioSize)}) after the BARs before it in tree order`);
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
    if (typeof spec.cpu.vendor !== 'string' || spec.cpu.vendor === '' || spec.cpu.vendor.length > 64) fail('$.cpu.vendor', 'vendor must be a non-empty string such as "GenuineIntel" or "AuthenticAMD"');
    cpu = { vendor: spec.cpu.vendor, family: integer(spec.cpu.family, '$.cpu.family', '', 0, 0xffff, 'family') };
  }
  if (!Array.isArray(spec.hostBridges)) fail('$.hostBridges', 'hostBridges must be an array');
  const ctx: Context = { seen: new Map(), buses: new Map() };
  const raw = spec.hostBridges as unknown[];
  const headers = raw.map((value, i) => {
    const path = `$.hostBridges[${i}]`;
    if (!isObject(value)) fail(path, 'a host bridge must be an object');
    checkKeys(value, ['segment', 'bus', 'mmioBase', 'mmioSize', 'busOffset', 'devices'], path);
    const segment = integer(value.segment, path, '.segment', 0, 0xffffffff, 'segment');
    const bus = integer(value.bus, path, '.bus', 0, 255, 'bus');
    const key = `${segment}:${bus}`;
    const owner = ctx.buses.get(key);
    if (owner !== undefined) fail(path, `root bus ${formatBus(segment, bus)} is listed twice (first at ${pathOf(owner)})`);
    ctx.buses.set(key, path);
    return { value, path, segment, bus };
  });
  const hostBridges: HostBridgePlan[] = headers.map(({ value, path, segment, bus }, i) => {
    const mmioBase = value.mmioBase === undefined ? DEFAULT_MMIO_BASE + i * DEFAULT_MMIO_STRIDE : address(value.mmioBase, `${path}.mmioBase`, false);
    if (mmioBase % MIN_BAR_SIZE !== 0) fail(`${path}.mmioBase`, 'mmioBase must be a multiple of 4KiB');
    const mmioSize = value.mmioSize === undefined ? DEFAULT_MMIO_SIZE : size(value.mmioSize, path, '.mmioSize');
    if (mmioSize === 0 || mmioSize % MIN_BAR_SIZE !== 0) fail(`${path}.mmioSize`, 'mmioSize must be a non-zero multiple of 4KiB');
    if (mmioBase + mmioSize > MAX_ADDRESS) fail(`${path}.mmioSize`, 'the MMIO window must end at or below 2^53');
    const busOffset = value.busOffset === undefined ? DEFAULT_BUS_OFFSET : address(value.busOffset, `${path}.busOffset`, true);
    if (mmioBase - busOffset < 0 || mmioBase + mmioSize - busOffset > MAX_ADDRESS) fail(`${path}.busOffset`, 'bus addresses (phys - busOffset) of the window must lie in 0..2^53');
    if (!Array.isArray(value.devices)) fail(`${path}.devices`, 'devices must be an array');
    const devices = validateDevices(value.devices as unknown[], path, segment, bus, ctx);
    return { segment, bus, mmioBase, mmioSize, busOffset, devices, path };
  });
  // Windows may not overlap: sorted by base, each must end before the next starts (the earlier in the list is named).
  const byBase = hostBridges.map((hb, i) => ({ hb, i })).sort((a, b) => a.hb.mmioBase - b.hb.mmioBase || a.i - b.i);
  for (let k = 1; k < byBase.length; k++) {
    const lower = byBase[k - 1]!;
    const upper = byBase[k]!;
    if (lower.hb.mmioBase + lower.hb.mmioSize > upper.hb.mmioBase) {
      const [first, later] = lower.i < upper.i ? [lower.hb, upper.hb] : [upper.hb, lower.hb];
      fail(`${later.path}.mmioBase`, `MMIO window overlaps ${first.path}'s`);
    }
  }
  hostBridges.forEach(assignAddresses);
  return { cpu, hostBridges };
}

/**
 * Builds a topology from a description (the JSON format of docs/topology.md, as an object). Every BAR gets a CPU
 * physical base: its pinned `phys`, or the next naturally aligned address in its host bridge's window, in tree
 * order. Returns the topology. Throws TopologyError (ERR_TOPOLOGY, field `path`, a JSON path such as
 * `$.hostBridges[0].devices[1].bdf`) for anything malformed; nothing is built in that case.
 */
export function buildTopology(spec: TopologySpec | unknown, options: BuildOptions = {}): Topology {
  return new Topology(planTopology(spec), options);
}
