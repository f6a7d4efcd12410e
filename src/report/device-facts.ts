// What the report shows about one PCI function, read from the model in one place. The model has kind, IDs,
// name, ACS redirect and BARs today; ACS capability/control bits, IOMMU groups, untrusted marks, BAR flags
// and class codes are being added to it, and show up here (optional fields) as soon as the model carries them.
import { formatSize } from '../size.js';
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
  readonly prefetchable?: boolean;
  readonly is64Bit?: boolean;
}

/** ACS capability and control bits, with lspci's names (SrcValid, TransBlk, ReqRedir, ...). */
export interface AcsFacts {
  readonly capability: readonly string[];
  readonly control: readonly string[];
}

/** One function as the report shows it. Optional fields are absent when the model does not know them. */
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
  readonly acs?: AcsFacts;
  readonly iommuGroup?: number;
  readonly untrusted?: boolean;
  readonly externalFacing?: boolean;
  readonly bars: readonly BarFacts[];
}

/** Whatever the model may carry beyond what it has today, read defensively. */
interface MaybeMore {
  readonly acs?: unknown;
  readonly iommuGroup?: unknown;
  readonly untrusted?: unknown;
  readonly externalFacing?: unknown;
  readonly classCode?: unknown;
  readonly prefetchable?: unknown;
  readonly is64Bit?: unknown;
}

const hexAddress = (value: number): string => (value < 0 ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`);

function names(value: unknown): readonly string[] | undefined {
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? [...(value as string[])] : undefined;
}

function acsOf(value: unknown): AcsFacts | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { capability, control } = value as { capability?: unknown; control?: unknown };
  const cap = names(capability);
  const ctl = names(control);
  return cap && ctl ? { capability: cap, control: ctl } : undefined;
}

// A group may be a number or an object with a numeric id (whichever the model settles on).
function groupOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'object' && value !== null) {
    const id = (value as { id?: unknown }).id;
    if (typeof id === 'number' && Number.isInteger(id)) return id;
  }
  return undefined;
}

function barFacts(bar: PciBar): BarFacts {
  const more = bar as unknown as MaybeMore;
  return {
    index: bar.index,
    size: bar.size,
    sizeText: formatSize(bar.size),
    phys: hexAddress(bar.phys),
    busAddress: hexAddress(bar.busAddress),
    p2pmem: bar.provider !== undefined,
    ...(typeof more.prefetchable === 'boolean' ? { prefetchable: more.prefetchable } : {}),
    ...(typeof more.is64Bit === 'boolean' ? { is64Bit: more.is64Bit } : {}),
  };
}

/**
 * The facts the report shows about `device`: kind, IDs, name, its device class (and what it was read from),
 * secondary bus, ACS redirect, BARs, and (when the model has them) ACS bits, IOMMU group, untrusted and
 * external-facing marks, BAR flags. Returns plain data. Never throws; reads the device only.
 */
export function deviceFacts(device: PciDevice): DeviceFacts {
  const more = device as unknown as MaybeMore;
  const acs = acsOf(more.acs);
  const iommuGroup = groupOf(more.iommuGroup);
  const cls = deviceClass({
    classCode: typeof more.classCode === 'number' ? more.classCode : undefined,
    name: device.name,
    vendorId: device.vendorId,
  });
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
    ...(acs ? { acs } : {}),
    ...(iommuGroup !== undefined ? { iommuGroup } : {}),
    ...(typeof more.untrusted === 'boolean' ? { untrusted: more.untrusted } : {}),
    ...(typeof more.externalFacing === 'boolean' ? { externalFacing: more.externalFacing } : {}),
    bars: device.bars.map(barFacts),
  };
}
