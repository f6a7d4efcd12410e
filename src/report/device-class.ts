// A function's device class for the report's filters. The model keeps no PCI class code today, so the class
// is read from the class code when a loader provides one, else from the device name lspci printed, else
// from the vendor: a guess that the page labels as such.

/** The classes the report filters by. */
export type DeviceClass = 'GPU' | 'storage' | 'network' | 'accelerator' | 'audio/media' | 'system' | 'other';

/** Every class, in the order the filters list them. */
export const DEVICE_CLASSES: readonly DeviceClass[] = ['GPU', 'storage', 'network', 'accelerator', 'audio/media', 'system', 'other'];

/** What the class is read from. */
export interface DeviceClassInput {
  /** The 16-bit PCI class code (base class << 8 | subclass), when known. */
  readonly classCode?: number | undefined;
  readonly name?: string | undefined;
  readonly vendorId?: number | undefined;
}

// PCI base class codes (the PCI Code and ID Assignment specification).
const BY_BASE_CLASS: ReadonlyMap<number, DeviceClass> = new Map([
  [0x01, 'storage'],
  [0x02, 'network'],
  [0x03, 'GPU'],
  [0x04, 'audio/media'],
  [0x05, 'system'],
  [0x06, 'system'],
  [0x08, 'system'],
  [0x0b, 'accelerator'],
  [0x12, 'accelerator'],
]);

// Checked in order: "Navi 21/23 HDMI/DP Audio Controller" is audio before it is a GPU. Plain alternations of
// words: no nested quantifiers, so matching is linear in the name's length.
const BY_NAME: readonly (readonly [RegExp, DeviceClass])[] = [
  [/\b(?:audio|hdmi|sound|multimedia)\b/i, 'audio/media'],
  [/\b(?:nvme|non-volatile|sata|sas|raid|ahci|ssd|storage)\b/i, 'storage'],
  [/\b(?:ethernet|network|connectx|infiniband|wi-?fi|wireless|nic|bluefield)\b/i, 'network'],
  [/\b(?:vga|3d controller|display|geforce|quadro|radeon|navi|gpu|tesla|a100|h100|ga1\d\d|instinct)\b/i, 'GPU'],
  [/\b(?:accelerator|dsa|iaa|iax|qat|quickassist|fpga|data streaming|processing)\b/i, 'accelerator'],
  [/\b(?:host bridge|registers|vt-d|memory map|lpc|espi|smbus|power management|chipset|root complex|iommu|ioat|pch)\b/i, 'system'],
];

const BY_VENDOR: ReadonlyMap<number, DeviceClass> = new Map([
  [0x10de, 'GPU'], // NVIDIA (its NICs carry Mellanox's ID)
  [0x1002, 'GPU'], // AMD/ATI graphics
  [0x15b3, 'network'], // Mellanox
]);

/** The class of a function and how it was found. Never throws. */
export function deviceClass(input: DeviceClassInput): { readonly deviceClass: DeviceClass; readonly from: 'class code' | 'name' | 'vendor' | 'nothing' } {
  if (typeof input.classCode === 'number') {
    const found = BY_BASE_CLASS.get(input.classCode >> 8);
    return { deviceClass: found ?? 'other', from: 'class code' };
  }
  if (typeof input.name === 'string') {
    for (const [pattern, found] of BY_NAME) if (pattern.test(input.name)) return { deviceClass: found, from: 'name' };
  }
  const byVendor = input.vendorId === undefined ? undefined : BY_VENDOR.get(input.vendorId);
  if (byVendor) return { deviceClass: byVendor, from: 'vendor' };
  return { deviceClass: 'other', from: 'nothing' };
}
