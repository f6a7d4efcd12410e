// What the report shows about one PCI function, read from the model in one place: kind, IDs, name, ACS
// redirect and bits, the IOMMU group (as pci_device_group() forms it), untrusted and external-facing marks,
// BARs with their flags.
import { formatSize } from '../size.js';
import { acsNames } from '../pci/acs.js';
import { iommuGroupOf } from '../pci/iommu-group.js';
import type { DeviceKind, PciBar, PciDevice } from '../pci/topology.js';
import { deviceClass, type DeviceClass } from './device-class.js';

/** A memory BAR as the report shows it. */
export interface BarFacts {
  readonly index: number;
  readonly size: number;
  /** "64MiB". */
  readonly sizeText: string;
  /** CPU physical base, "0x..." hex. */
  readonly phys: string;
  /** Base as a peer sees it on the bus, "0x..." hex. */
  readonly busAddress: string;
  /** Published as peer-to-peer memory (a p2pmem provider). */
  readonly p2pmem: boolean;
  readonly prefetchable: boolean;
  readonly is64Bit: boolean;
}

/** ACS capability and control bits, with lspci's names (SrcValid, TransBlk, ReqRedir, ...). */
export interface AcsFacts {
  readonly capability: readonly string[];
  readonly control: readonly string[];
}

/** One function as the report shows it. Optional fields are absent when the description does not say. */
export interface DeviceFacts {
  readonly bdf: string;
  readonly kind: DeviceKind;
  readonly isBridge: boolean;
  readonly name?: string;
  /** "vvvv:dddd". */
  readonly ids?: string;
  readonly deviceClass: DeviceClass;
  /** What the class was read from: the class code, the name, the vendor, or nothing (then it is "other"). */
  readonly classFrom: 'class code' | 'name' | 'vendor' | 'nothing';
  readonly secondaryBus?: number;
  /** ACS control has RR, CR or EC set (the bits the P2P rules count). */
  readonly acsRedirect: boolean;
  /** Absent when the description has no ACS capability bits (lspci -t, or the short form acsRedirect). */
  readonly acs?: AcsFacts;
  /** The IOMMU group's number (iommuGroupOf()). */
  readonly iommuGroup: number;
  readonly untrusted: boolean;
  readonly externalFacing: boolean;
  readonly bars: readonly BarFacts[];
}

const hexAddress = (value: number): string => (value < 0 ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`);

function barFacts(bar: PciBar): BarFacts {
  return {
    index: bar.index,
    size: bar.size,
    sizeText: formatSize(bar.size),
    phys: hexAddress(bar.phys),
    busAddress: hexAddress(bar.busAddress),
    p2pmem: bar.provider !== undefined,
    prefetchable: bar.prefetchable,
    is64Bit: bar.is64bit,
  };
}

// A class code, should the model ever carry one (lspci -nn shows it; the model keeps the name instead).
function classCodeOf(device: PciDevice): number | undefined {
  const value = (device as unknown as { readonly classCode?: unknown }).classCode;
  return typeof value === 'number' ? value : undefined;
}

/**
 * The facts the report shows about `device`: kind, IDs, name, its device class (and what it was read from),
 * secondary bus, ACS redirect, ACS bits (when the description has them), IOMMU group, untrusted and
 * external-facing marks, BARs with their flags. Returns plain data. Never throws; reads the device only.
 */
export function deviceFacts(device: PciDevice): DeviceFacts {
  const acs = device.acs;
  const cls = deviceClass({ classCode: classCodeOf(device), name: device.name, vendorId: device.vendorId });
  return {
    bdf: device.bdf,
    kind: device.kind,
    isBridge: device.isBridge,
    ...(device.name !== undefined ? { name: device.name } : {}),
    ...(device.ids !== undefined ? { ids: device.ids } : {}),
    deviceClass: cls.deviceClass,
    classFrom: cls.from,
    ...(device.secondaryBus !== undefined ? { secondaryBus: device.secondaryBus } : {}),
    acsRedirect: device.acsRedirect,
    ...(acs ? { acs: { capability: acsNames(acs.capability), control: acsNames(acs.control) } } : {}),
    iommuGroup: iommuGroupOf(device).id,
    untrusted: device.untrusted,
    externalFacing: device.externalFacing,
    bars: device.bars.map(barFacts),
  };
}
