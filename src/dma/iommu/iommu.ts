// The system's IOMMU: its mode (off, strict, lazy, identity), granule and aperture, one DMA
// domain per IOMMU group (iommu_group_alloc_default_domain()), the per-device 32-bit-first
// state, and the fault log the hardware reports (DMAR for Intel VT-d, AMD-Vi event log).
import { EventEmitter } from 'node:events';
import { InvalidArgumentError, InvalidStateError } from '../../errors.js';
import { describe } from '../../fabric/input.js';
import { iommuGroupOf, type PciDevice } from '../../pci/index.js';
import { parseSize, type Size } from '../../size.js';
import { manualClock, realClock, type IommuClock } from './clock.js';
import { IommuDomain, type DomainType, type Pci32bitState } from './domain.js';

/** 'off': no IOMMU (dma-direct, today's model); 'identity': passthrough (dma-direct); 'strict' / 'lazy': translated. */
export type IommuMode = 'off' | 'strict' | 'lazy' | 'identity';

/** The `iommu` system option in full (a mode string is short for `{ mode }`). */
export interface IommuOptions {
  readonly mode: IommuMode;
  /** IOMMU page size: '4KiB' (default), '16KiB' or '64KiB'. */
  readonly granule?: Size;
  /** The IOVA space the IOMMU translates (domain->geometry); default 0 .. 2^48 - 1 (4-level tables). */
  readonly aperture?: { readonly start?: number; readonly end?: number };
  /** The per-CPU IOVA range caches; default true. See docs/iommu.md for what false changes. */
  readonly rcache?: boolean;
  /** 'real' (unref'd timers, the default) or 'manual': deferred work runs only on advanceTime(). */
  readonly clock?: 'real' | 'manual';
  /** Fault log format and reserved regions: 'intel' (VT-d, default) or 'amd' (AMD-Vi). */
  readonly vendor?: 'intel' | 'amd';
  /** num_online_cpus(), 1..8192: how many depot magazines the trim work keeps; default 1. */
  readonly cpus?: number;
}

/** A DMA the IOMMU refused, as the hardware logs it. */
export interface IommuFault {
  /** The requester, "SSSS:BB:DD.F". */
  readonly device: string;
  /** The IOVA the device used. */
  readonly address: number;
  /** 'read': the device read memory (DMA_TO_DEVICE data); 'write': it wrote. */
  readonly access: 'read' | 'write';
  /** 'not-present' (no translation) or 'permission' (mapped without IOMMU_READ / IOMMU_WRITE). */
  readonly reason: 'not-present' | 'permission';
  readonly domain: number;
  /** The kernel's log line for it (DMAR or AMD-Vi format). */
  readonly message: string;
}

const KEYS = new Set(['mode', 'granule', 'aperture', 'rcache', 'clock', 'vendor', 'cpus']);
const GRANULES = new Set([4096, 16384, 65536]);
const DEFAULT_APERTURE_END = 2 ** 48 - 1;
/** The interrupt window both VT-d and AMD-Vi reserve (IOMMU_RESV_MSI): 0xfee00000..0xfeefffff. */
const MSI_RANGE = [0xfee0_0000, 0xfeef_ffff] as const;
/** AMD-Vi's HyperTransport hole (IOMMU_RESV_RESERVED). */
const HT_RANGE = [0xfd_0000_0000, 0xff_ffff_ffff] as const;

/** The validated `iommu` option, every field filled with its default. */
export interface IommuSettings {
  readonly mode: IommuMode;
  readonly granule: number;
  readonly apertureStart: number;
  readonly apertureEnd: number;
  readonly rcache: boolean;
  readonly clock: 'real' | 'manual';
  readonly vendor: 'intel' | 'amd';
  readonly cpus: number;
}

/** Reads the `iommu` system option once and validates it (ERR_INVALID_ARGUMENT / ERR_INVALID_SIZE naming the field). */
export function iommuSettings(given: unknown): IommuSettings {
  const fail = (argument: string, message: string): never => { throw new InvalidArgumentError(message, { argument }); };
  if (given === undefined) given = 'off';
  const o: Record<string, unknown> = typeof given === 'string' ? { mode: given } : given !== null && typeof given === 'object' && !Array.isArray(given) ? { ...given } : fail('iommu', "iommu must be 'off', 'strict', 'lazy', 'identity' or { mode, ... }");
  for (const key of Object.keys(o)) if (!KEYS.has(key)) fail(`iommu.${key}`, `unknown iommu option "${key}" (known: ${[...KEYS].join(', ')})`);
  const mode = o.mode;
  if (mode !== 'off' && mode !== 'strict' && mode !== 'lazy' && mode !== 'identity') fail('iommu.mode', `iommu mode must be 'off', 'strict', 'lazy' or 'identity', got ${describe(mode)}`);
  const granule = parseSize((o.granule ?? 4096) as Size, 'iommu.granule');
  if (!GRANULES.has(granule)) fail('iommu.granule', `iommu granule must be 4KiB, 16KiB or 64KiB, got ${granule}`);
  const ap = o.aperture ?? {};
  if (ap === null || typeof ap !== 'object' || Array.isArray(ap)) fail('iommu.aperture', 'iommu.aperture must be { start, end }');
  const { start = 0, end = DEFAULT_APERTURE_END, ...rest } = { ...(ap as Record<string, unknown>) };
  if (Object.keys(rest).length > 0) fail('iommu.aperture', `unknown aperture key "${Object.keys(rest)[0]}"`);
  if (typeof start !== 'number' || !Number.isSafeInteger(start) || start < 0 || start % granule !== 0) fail('iommu.aperture.start', 'aperture.start must be a granule-aligned non-negative integer');
  if (typeof end !== 'number' || !Number.isSafeInteger(end) || (end + 1) % granule !== 0 || end <= (start as number) || end < 2 ** 32 - 1) {
    fail('iommu.aperture.end', 'aperture.end must be a safe integer at least 4 GiB - 1, above start, ending a granule (2^k - 1 style)');
  }
  for (const flag of ['rcache'] as const) if (o[flag] !== undefined && typeof o[flag] !== 'boolean') fail(`iommu.${flag}`, `iommu.${flag} must be a boolean`);
  const clock = o.clock ?? 'real';
  if (clock !== 'real' && clock !== 'manual') fail('iommu.clock', "iommu.clock must be 'real' or 'manual'");
  const vendor = o.vendor ?? 'intel';
  if (vendor !== 'intel' && vendor !== 'amd') fail('iommu.vendor', "iommu.vendor must be 'intel' or 'amd'");
  const cpus = o.cpus ?? 1;
  if (typeof cpus !== 'number' || !Number.isInteger(cpus) || cpus < 1 || cpus > 8192) fail('iommu.cpus', 'iommu.cpus must be an integer in 1..8192');
  return {
    mode: mode as IommuMode,
    granule,
    apertureStart: start as number,
    apertureEnd: end as number,
    rcache: (o.rcache as boolean | undefined) ?? true,
    clock: clock as 'real' | 'manual',
    vendor: vendor as 'intel' | 'amd',
    cpus: cpus as number,
  };
}

/** The group a function belongs to, as pci_device_group() forms it (iommuGroupOf(), cached per topology). */
function groupKey(pci: PciDevice): unknown {
  return iommuGroupOf(pci);
}

interface Group {
  readonly domain: IommuDomain | undefined;
  readonly type: DomainType | 'identity';
}

/**
 * The system's IOMMU (system.iommu): its settings, one DMA domain per IOMMU group, the fault log and
 * the flush-queue controls. Made by DmaSystem.create() for any mode but 'off'.
 */
export class Iommu {
  readonly settings: IommuSettings;
  /** Every fault reported, oldest first. */
  readonly faults: IommuFault[] = [];
  readonly #events = new EventEmitter();
  readonly #clock: IommuClock;
  readonly #groups = new Map<unknown, Group>();
  readonly #devices = new Map<PciDevice, Pci32bitState>();
  #nextDomain = 1;
  #closed = false;

  constructor(settings: IommuSettings) {
    this.settings = settings;
    this.#clock = settings.clock === 'manual' ? manualClock() : realClock();
  }

  /** The configured mode. */
  get mode(): IommuMode {
    return this.settings.mode;
  }

  /** Bytes per IOMMU page. */
  get granule(): number {
    return this.settings.granule;
  }

  /**
   * The DMA domain serving `pci`, or undefined for passthrough (identity). A group with an
   * untrusted device always gets a strict DMA domain, as the kernel never gives one identity or
   * a flush queue. Throws ERR_INVALID_STATE when an untrusted device joins a group that already
   * has an identity or lazy domain.
   */
  domainFor(pci: PciDevice, untrusted: boolean): IommuDomain | undefined {
    const key = groupKey(pci);
    let group = this.#groups.get(key);
    if (!group) {
      const mode = this.settings.mode;
      const type: DomainType | 'identity' = untrusted ? 'strict' : mode === 'lazy' ? 'lazy' : mode === 'identity' ? 'identity' : 'strict';
      group = { type, domain: type === 'identity' ? undefined : this.#newDomain(type, pci) };
      this.#groups.set(key, group);
    } else if (untrusted && group.type !== 'strict') {
      throw new InvalidStateError(`${pci.bdf} is untrusted but its IOMMU group already has a${group.type === 'identity' ? 'n identity' : ' lazy (flush queue)'} domain; untrusted devices need a strict DMA domain`, { state: group.type });
    }
    return group.domain;
  }

  /** dev->iommu of one PCI function (its 32-bit-first state). */
  deviceState(pci: PciDevice): Pci32bitState {
    let state = this.#devices.get(pci);
    if (!state) {
      state = { pci32bitWorkaround: true };
      this.#devices.set(pci, state);
    }
    return state;
  }

  /** Every DMA domain made so far. */
  domains(): IommuDomain[] {
    const out: IommuDomain[] = [];
    for (const g of this.#groups.values()) if (g.domain) out.push(g.domain);
    return out;
  }

  /** Calls `listener` with each fault as it is reported; returns a function that stops it. */
  onFault(listener: (fault: IommuFault) => void): () => void {
    this.#events.on('fault', listener);
    return () => this.#events.off('fault', listener);
  }

  /** Runs every lazy domain's flush now (what the 10 ms timer does): stale translations end, queued IOVAs are freed. */
  flushQueues(): void {
    for (const d of this.domains()) d.flushQueue?.flushNow();
  }

  /** With clock 'manual': moves time on by `ms`, running the flush timers and depot work due. Throws ERR_INVALID_STATE with a real clock. */
  advanceTime(ms: number): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError('ms must be a non-negative number', { argument: 'ms' });
    if (!this.#clock.manual) throw new InvalidStateError("advanceTime() needs the system option iommu.clock 'manual'");
    this.#clock.advance(ms);
  }

  /** Records a fault (the device's access then fails) and returns it. */
  reportFault(device: PciDevice, domain: IommuDomain, address: number, access: 'read' | 'write', reason: 'not-present' | 'permission'): IommuFault {
    const message = this.settings.vendor === 'amd' ? amdViLog(device, domain.id, address, access, reason) : dmarLog(device, address, access);
    const fault: IommuFault = { device: device.bdf, address, access, reason, domain: domain.id, message };
    this.faults.push(fault);
    this.#events.emit('fault', fault);
    return fault;
  }

  /** Stops every timer; later deferred work never runs. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const d of this.domains()) d.close();
  }

  // models iommu_dma_init_domain() + iova_reserve_iommu_regions() for the group's first device.
  #newDomain(type: DomainType, pci: PciDevice): IommuDomain {
    const s = this.settings;
    const shift = Math.log2(s.granule);
    const domain = new IommuDomain({
      id: this.#nextDomain++,
      type,
      granule: s.granule,
      startPfn: Math.max(1, Math.floor(s.apertureStart / 2 ** shift)),
      apertureEnd: s.apertureEnd,
      rcache: s.rcache,
      onlineCpus: s.cpus,
      clock: this.#clock,
    });
    const reserve = (lo: number, hi: number) => domain.iovad.reserveIova(Math.floor(lo / s.granule), Math.floor(hi / s.granule));
    // models iova_reserve_pci_windows(): the host bridge's MMIO windows, as bus addresses.
    const hb = pci.hostBridge;
    reserve(hb.mmioBase - hb.busOffset, hb.mmioBase - hb.busOffset + hb.mmioSize - 1);
    reserve(MSI_RANGE[0], MSI_RANGE[1]);
    if (s.vendor === 'amd') reserve(HT_RANGE[0], HT_RANGE[1]);
    return domain;
  }
}

const DMAR_REASON = { read: '0x06] PTE Read access is not set', write: '0x05] PTE Write access is not set' } as const;

// models dmar_fault_do_one(): VT-d records the faulting page, and reports a missing PTE as the
// missing permission of the access.
function dmarLog(device: PciDevice, address: number, access: 'read' | 'write'): string {
  const page = Math.floor(address / 4096) * 4096;
  const bdf = `${hex2(device.bus)}:${hex2(device.device)}.${device.fn}`;
  return `DMAR: [${access === 'read' ? 'DMA Read' : 'DMA Write'} NO_PASID] Request device [${bdf}] fault addr 0x${page.toString(16)} [fault reason ${DMAR_REASON[access]}`;
}

// models amd_iommu_report_page_fault(): flags PR (0x10) when a translation was present, RW (0x20) for writes.
function amdViLog(device: PciDevice, domainId: number, address: number, access: 'read' | 'write', reason: 'not-present' | 'permission'): string {
  const flags = (reason === 'permission' ? 0x10 : 0) | (access === 'write' ? 0x20 : 0);
  return `pci ${device.bdf}: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x${domainId.toString(16).padStart(4, '0')} address=0x${address.toString(16)} flags=0x${flags.toString(16).padStart(4, '0')}]`;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
