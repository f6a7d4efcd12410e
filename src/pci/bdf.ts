// PCI addresses: segment (domain), bus, device, function, written SSSS:BB:DD.F as pci_name() prints them.

/** A parsed PCI address. `devfn` is (device << 3) | function, as the kernel keeps it. */
export interface Bdf {
  readonly segment: number;
  readonly bus: number;
  readonly device: number;
  readonly fn: number;
  readonly devfn: number;
}

// Segment is at least 4 hex digits; VMD domains (0x10000 and up) print as 5.
const BDF_PATTERN = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/;

/**
 * Parses `SSSS:BB:DD.F` (lower-case hex; device 00..1f, function 0..7).
 * Returns the parts, or undefined when `text` is not a BDF. Never throws.
 */
export function parseBdf(text: unknown): Bdf | undefined {
  if (typeof text !== 'string') return undefined;
  const match = BDF_PATTERN.exec(text);
  if (!match) return undefined;
  const segment = Number.parseInt(match[1]!, 16);
  const bus = Number.parseInt(match[2]!, 16);
  const device = Number.parseInt(match[3]!, 16);
  const fn = Number(match[4]);
  return { segment, bus, device, fn, devfn: (device << 3) | fn };
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
