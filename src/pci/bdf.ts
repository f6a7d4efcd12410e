// PCI addresses: segment (domain), bus, device, function, written SSSS:BB:DD.F as pci_name() prints them.

/** A parsed PCI address. `devfn` is (device << 3) | function, as the kernel keeps it. */
export interface Bdf {
  readonly segment: number;
  readonly bus: number;
  readonly device: number;
  readonly fn: number;
  readonly devfn: number;
}

/**
 * Parses `SSSS:BB:DD.F` (lower-case hex; segment 4 to 8 digits, as VMD domains from 0x10000 print with 5;
 * device 00..1f, function 0..7). Returns the parts, or undefined when `text` is not a BDF. Never throws.
 */
export function parseBdf(text: unknown): Bdf | undefined {
  // Scanned by hand: loaders call this once per function, and a regular expression's match array and
  // substrings were a tenth of what loading 10^5 functions allocated.
  if (typeof text !== 'string') return undefined;
  const length = text.length;
  const segmentDigits = length - 8; // ":BB:DD.F" follows the segment
  if (segmentDigits < 4 || segmentDigits > 8) return undefined;
  let segment = 0;
  for (let i = 0; i < segmentDigits; i++) {
    const digit = hexDigit(text.charCodeAt(i));
    if (digit < 0) return undefined;
    segment = segment * 16 + digit;
  }
  const at = segmentDigits;
  if (text.charCodeAt(at) !== 0x3a || text.charCodeAt(at + 3) !== 0x3a || text.charCodeAt(at + 6) !== 0x2e) return undefined;
  const bus1 = hexDigit(text.charCodeAt(at + 1));
  const bus2 = hexDigit(text.charCodeAt(at + 2));
  const dev1 = text.charCodeAt(at + 4) - 0x30; // 0 or 1
  const dev2 = hexDigit(text.charCodeAt(at + 5));
  const fn = text.charCodeAt(at + 7) - 0x30; // 0..7
  if (bus1 < 0 || bus2 < 0 || dev1 < 0 || dev1 > 1 || dev2 < 0 || fn < 0 || fn > 7) return undefined;
  const bus = bus1 * 16 + bus2;
  const device = dev1 * 16 + dev2;
  return { segment, bus, device, fn, devfn: (device << 3) | fn };
}

/** The value of a lower-case hex digit's character code, or -1. */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/** Formats a BDF the way the kernel's pci_name() does: `0000:03:00.0`. Pure; never throws. */
export function formatBdf(segment: number, bus: number, device: number, fn: number): string {
  return `${hex(segment, 4)}:${hex(bus, 2)}:${hex(device, 2)}.${fn}`;
}

/** Formats a root bus as lspci does: `0000:80`. */
export function formatBus(segment: number, bus: number): string {
  return `${hex(segment, 4)}:${hex(bus, 2)}`;
}

/** Orders BDFs by segment, bus, devfn (the order pci_get_device() walks). Returns <0, 0 or >0. */
export function compareBdf(a: Bdf, b: Bdf): number {
  return a.segment - b.segment || a.bus - b.bus || a.devfn - b.devfn;
}

/** Lower-case hex, zero-padded to `width` digits. */
export function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}
