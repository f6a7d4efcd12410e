// The CPU as P2PDMA sees it (cpu_supports_p2pdma() reads the boot CPU's x86 vendor and family): parsing it from
// the command line and /proc/cpuinfo, and telling it from a host bridge when nothing else says.
import { InvalidArgumentError } from '../errors.js';

/** The CPU, as far as P2PDMA cares: the x86 vendor string and family number. */
export interface Cpu {
  readonly vendor: string;
  readonly family: number;
}

/** Where the CPU of a topology came from: its description, an option, this machine, its host bridges, or nowhere. */
export type CpuOrigin = 'description' | 'option' | 'this-machine' | 'inferred' | 'unknown';

/** Whether the CPU allows P2P through any host bridge: AMD Zen or newer (models cpu_supports_p2pdma()). Never throws. */
export function cpuSupportsP2pdma(cpu: Cpu | null): boolean {
  return cpu !== null && cpu.vendor === 'AuthenticAMD' && cpu.family >= 0x17;
}

/**
 * Parses a CPU given as `VENDOR:FAMILY` (`AuthenticAMD:25`, `AuthenticAMD:0x19`, `GenuineIntel:6`).
 * Returns the CPU. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, argument 'cpu') for anything else.
 */
export function parseCpu(text: string): Cpu {
  if (typeof text !== 'string') throw new InvalidArgumentError(`cpu: expected a string VENDOR:FAMILY, got ${typeof text}`, { argument: 'cpu' });
  const match = /^([^:\s]{1,64}):(?:0x([0-9a-fA-F]{1,8})|(\d{1,10}))$/.exec(text);
  if (!match) throw new InvalidArgumentError(`cpu: expected VENDOR:FAMILY such as AuthenticAMD:25 or GenuineIntel:6, got "${text.slice(0, 80)}"`, { argument: 'cpu' });
  const family = match[2] !== undefined ? Number.parseInt(match[2], 16) : Number(match[3]);
  if (family > 0xffff) throw new InvalidArgumentError(`cpu: family ${family} is out of range`, { argument: 'cpu' });
  return { vendor: match[1]!, family };
}

/**
 * The boot CPU described by /proc/cpuinfo text (its first `vendor_id` and `cpu family` lines, as the kernel's
 * cpu_data(0) is CPU 0). Returns the CPU. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, argument 'cpu') when
 * the text names no x86 vendor and family (other architectures: cpu_supports_p2pdma() is false there anyway, so
 * give `--cpu` explicitly). Reads the text once, line by line.
 */
export function cpuFromCpuinfo(text: string): Cpu {
  if (typeof text !== 'string') throw new InvalidArgumentError('cpuinfo must be text', { argument: 'cpu' });
  let vendor: string | undefined;
  let family: number | undefined;
  let start = 0;
  while (start <= text.length && (vendor === undefined || family === undefined)) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'vendor_id' && vendor === undefined && value !== '') vendor = value;
    else if (key === 'cpu family' && family === undefined && /^\d{1,5}$/.test(value)) family = Number(value);
  }
  if (vendor === undefined || family === undefined) {
    throw new InvalidArgumentError('cpu this: /proc/cpuinfo names no x86 vendor_id and cpu family; give --cpu VENDOR:FAMILY', { argument: 'cpu' });
  }
  return { vendor, family };
}

/** A CPU told from a host bridge, and what it was told from. */
export interface InferredCpu {
  readonly cpu: Cpu;
  /** The evidence, in words ("0000:00:00.0 [1022:1480] Starship/Matisse Root Complex"). */
  readonly from: string;
}

// AMD root complexes (pci.ids, vendor 1022) and the CPU family they come with. Only the family bucket matters
// here: cpu_supports_p2pdma() asks for family 0x17 (Zen) or newer.
const AMD_ROOT_COMPLEX_FAMILY: ReadonlyMap<number, number> = new Map([
  [0x1450, 0x17], [0x1480, 0x17], [0x15d0, 0x17], [0x1630, 0x17], [0x1645, 0x17], [0x14b5, 0x17],
  [0x14a4, 0x19], [0x14d8, 0x19], [0x14e8, 0x19], [0x1507, 0x1a], [0x153a, 0x1a], [0x1122, 0x1a],
  [0x1410, 0x15], [0x1422, 0x15], [0x1576, 0x15], [0x1536, 0x16], [0x1566, 0x16], [0x1510, 0x14], [0x1705, 0x12],
]);
const AMD_NAME_FAMILY: readonly (readonly [string, number])[] = [
  ['Family 17h', 0x17], ['Family 19h', 0x19], ['Family 1ah', 0x1a], ['Starship/Matisse', 0x17], ['Raven', 0x17], ['Renoir', 0x17],
  ['VanGogh', 0x17], ['Genoa', 0x19], ['Raphael', 0x19], ['Phoenix', 0x19], ['Strix', 0x1a], ['Turin', 0x1a], ['Krackan', 0x1a],
  ['Family 15h', 0x15], ['Family 16h', 0x16], ['Family 14h', 0x14], ['Family 12h', 0x12],
];
const AMD = 0x1022;
const INTEL = 0x8086;

/**
 * The CPU a host bridge identity device implies, or undefined when it implies none: an AMD root complex whose
 * ID or name gives the family (Zen root complexes come only with Zen CPUs), or any Intel host bridge (family 6).
 * Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) for a malformed device object. Pure.
 */
export function inferCpuFromHostBridge(device: { readonly bdf: string; readonly vendorId: number | undefined; readonly deviceId: number | undefined; readonly name: string | undefined }): InferredCpu | undefined {
  if (device === null || typeof device !== 'object') throw new InvalidArgumentError('device must be an object { bdf, vendorId, deviceId, name }', { argument: 'device' });
  const id = (v: unknown, what: string) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff)) throw new InvalidArgumentError(`${what} must be an integer 0..0xffff or undefined`, { argument: what });
  };
  id(device.vendorId, 'vendorId');
  id(device.deviceId, 'deviceId');
  if (typeof device.bdf !== 'string' || (device.name !== undefined && typeof device.name !== 'string')) throw new InvalidArgumentError('bdf and name must be strings', { argument: 'device' });
  const ids = device.vendorId !== undefined && device.deviceId !== undefined ? ` [${device.vendorId.toString(16).padStart(4, '0')}:${device.deviceId.toString(16).padStart(4, '0')}]` : '';
  const from = `${device.bdf}${ids}${device.name ? ` ${device.name}` : ''}`;
  const name = device.name ?? '';
  const amd = device.vendorId === AMD || (device.vendorId === undefined && name.startsWith('Advanced Micro Devices'));
  if (amd) {
    let family = device.deviceId === undefined ? undefined : AMD_ROOT_COMPLEX_FAMILY.get(device.deviceId);
    if (family === undefined && name.includes('Root Complex')) family = AMD_NAME_FAMILY.find(([word]) => name.includes(word))?.[1];
    return family === undefined ? undefined : { cpu: { vendor: 'AuthenticAMD', family }, from };
  }
  const intel = device.vendorId === INTEL || (device.vendorId === undefined && name.startsWith('Intel Corporation'));
  return intel ? { cpu: { vendor: 'GenuineIntel', family: 6 }, from } : undefined;
}
