// IOMMU groups as the kernel forms them for PCI devices (models pci_device_group() in drivers/iommu/iommu.c, with
// pci_acs_enabled()/pci_acs_path_enabled() of drivers/pci/pci.c and the topology part of
// pci_for_each_dma_alias() in drivers/pci/search.c). Device-specific ACS quirks (pci_dev_acs_enabled[]) and
// quirk DMA aliases (dma_alias_mask) are not known to a topology and are not modelled.
import { InvalidArgumentError } from '../errors.js';
import { acsFlagsEnabled, REQ_ACS_FLAGS } from './acs.js';
import { PciDevice, Topology, type PortType } from './topology.js';

function checkDevice(device: unknown): asserts device is PciDevice {
  if (!(device instanceof PciDevice)) throw new InvalidArgumentError('device must be a PciDevice of a topology (topology.device(bdf))', { argument: 'device' });
}

function checkFlags(flags: unknown): asserts flags is number {
  if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0 || flags > 0x7f) throw new InvalidArgumentError('flags must be an ACS bitmask 0..0x7f', { argument: 'flags' });
}

/** One IOMMU group: the functions that share an IOMMU domain and can only be isolated together. */
export interface IommuGroup {
  /** Number in creation order (probe order), from 0. The kernel numbers groups across all IOMMUs. */
  readonly id: number;
  readonly devices: readonly PciDevice[];
}

const cache = new WeakMap<Topology, { groups: IommuGroup[]; of: Map<PciDevice, IommuGroup> }>();

// The Express type, or a guess from the tree position when the description does not say (lspci -t).
function typeOf(device: PciDevice): PortType | 'unknown-bridge' {
  if (device.portType !== undefined) return device.portType;
  switch (device.kind) {
    case 'root-port':
    case 'upstream-port':
    case 'downstream-port':
    case 'endpoint':
      return device.kind;
    default:
      return 'unknown-bridge';
  }
}

/**
 * Whether a function is isolated for `flags` (models pci_acs_enabled() without device quirks): conventional PCI
 * and PCI/PCI-X bridges never are; root and downstream ports need the bits (pci_acs_flags_enabled()); endpoints
 * and upstream ports are unless they are multi-function and lack the bits. Throws InvalidArgumentError
 * (ERR_INVALID_ARGUMENT) for something that is not a PciDevice or a bitmask outside 0..0x7f.
 */
export function acsEnabled(device: PciDevice, flags: number = REQ_ACS_FLAGS): boolean {
  checkDevice(device);
  checkFlags(flags);
  return isolated(device, flags);
}

function isolated(device: PciDevice, flags: number): boolean {
  switch (typeOf(device)) {
    case 'pci':
    case 'pcie-to-pci-bridge':
    case 'pci-to-pcie-bridge':
    case 'rc-event-collector':
    case 'unknown-bridge':
      return false;
    case 'root-port':
    case 'downstream-port':
      return acsFlagsEnabled(device.acs, flags);
    case 'endpoint':
    case 'upstream-port':
    case 'legacy-endpoint':
    case 'rc-integrated-endpoint':
      return device.multifunction ? acsFlagsEnabled(device.acs, flags) : true;
  }
}

/**
 * Whether every function from `start` up to its root bus is isolated (models pci_acs_path_enabled(start, NULL)).
 * Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) as acsEnabled() does.
 */
export function acsPathEnabled(start: PciDevice, flags: number = REQ_ACS_FLAGS): boolean {
  checkDevice(start);
  checkFlags(flags);
  return pathIsolated(start, flags);
}

function pathIsolated(start: PciDevice, flags: number): boolean {
  for (let device: PciDevice | null = start; device; device = device.upstream) if (!isolated(device, flags)) return false;
  return true;
}

// The nearest bridge above `device` that aliases its requester ID (a PCIe-to-PCI bridge, a PCI-to-PCIe bridge
// or a conventional bridge), as pci_for_each_dma_alias() walks; PCIe ports (and bridges of unknown type) pass
// the ID through.
function aliasingBridge(device: PciDevice): PciDevice | null {
  for (let bridge = device.upstream; bridge; bridge = bridge.upstream) {
    const type = typeOf(bridge);
    if (type === 'root-port' || type === 'upstream-port' || type === 'downstream-port' || type === 'unknown-bridge') continue;
    if (type === 'pcie-to-pci-bridge' || type === 'pci-to-pcie-bridge' || type === 'pci') return bridge;
  }
  return null;
}

// The order the kernel adds PCI devices (pci_bus_add_devices(): a bus's devices, then each bridge's subordinate
// bus), which is the order groups are created in.
function probeOrder(topology: Topology): PciDevice[] {
  const order: PciDevice[] = [];
  const buses: (readonly PciDevice[])[] = [];
  for (let i = topology.hostBridges.length - 1; i >= 0; i--) buses.push(topology.hostBridges[i]!.devices);
  while (buses.length > 0) {
    const bus = buses.pop()!;
    order.push(...bus);
    for (let i = bus.length - 1; i >= 0; i--) if (bus[i]!.children.length > 0) buses.push(bus[i]!.children);
  }
  return order;
}

function compute(topology: Topology): { groups: IommuGroup[]; of: Map<PciDevice, IommuGroup> } {
  const groups: { id: number; devices: PciDevice[] }[] = [];
  const of = new Map<PciDevice, IommuGroup>();
  const join = (device: PciDevice, group: { id: number; devices: PciDevice[] }) => {
    group.devices.push(device);
    of.set(device, group);
  };
  const bySlot = new Map<string, PciDevice[]>();
  for (const device of probeOrder(topology)) {
    // 1. A topology alias upstream: the device shares the aliasing bridge's group.
    const alias = aliasingBridge(device);
    const aliasGroup = alias ? of.get(alias) : undefined;
    if (aliasGroup) {
      join(device, aliasGroup as { id: number; devices: PciDevice[] });
      continue;
    }
    // 2. Not isolated from its upstream path by ACS: the parent bridge's group.
    const parent = device.upstream;
    if (parent && !pathIsolated(parent, REQ_ACS_FLAGS)) {
      join(device, of.get(parent) as { id: number; devices: PciDevice[] });
      continue;
    }
    // 3. A multi-function device without ACS shares the group of its non-isolated sibling functions.
    const slotKey = `${device.segment}:${device.bus}:${device.device}`;
    const slot = bySlot.get(slotKey) ?? [];
    bySlot.set(slotKey, slot);
    if (device.multifunction && !isolated(device, REQ_ACS_FLAGS)) {
      const sibling = slot.find((other) => !isolated(other, REQ_ACS_FLAGS) && of.has(other));
      if (sibling) {
        slot.push(device);
        join(device, of.get(sibling) as { id: number; devices: PciDevice[] });
        continue;
      }
    }
    slot.push(device);
    const group = { id: groups.length, devices: [] as PciDevice[] };
    groups.push(group);
    join(device, group);
  }
  return { groups, of };
}

/**
 * The IOMMU groups of a topology, in creation order; each group's devices in probe order. Computed once per
 * topology. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) for something that is not a Topology.
 */
export function iommuGroups(topology: Topology): readonly IommuGroup[] {
  if (!(topology instanceof Topology)) throw new InvalidArgumentError('topology must be a Topology (buildTopology(), loadLspci(), loadTopologyJson())', { argument: 'topology' });
  let entry = cache.get(topology);
  if (!entry) {
    entry = compute(topology);
    cache.set(topology, entry);
  }
  return entry.groups;
}

/** The IOMMU group of one function. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) for something that is not a PciDevice. */
export function iommuGroupOf(device: PciDevice): IommuGroup {
  checkDevice(device);
  iommuGroups(device.topology);
  return cache.get(device.topology)!.of.get(device)!;
}
