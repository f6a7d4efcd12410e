// P2P providers in the kernel's current shape (include/linux/pci-p2pdma.h, Linux 6.18+): a
// provider per BAR with its owner and bus offset and no struct page, the map type of each
// (provider owner, client) pair cached per owner, and a map state that classifies a segment once
// per provider while a list is walked.
import type { Region } from '../fabric/index.js';
import { mapType, type MapTypeResult, type PciBar, type PciDevice } from '../pci/index.js';

/** The kernel's enum pci_p2pdma_map_type, in its order (UNKNOWN = 0). */
export const P2pdmaMapType = {
  /** Not computed yet (never returned by a classification). */
  UNKNOWN: 0,
  /** Not P2P memory: host RAM, mapped the normal way. */
  NONE: 1,
  /** The transaction would cross a host bridge that is not allowed: mainline fails the mapping (-EREMOTEIO). */
  NOT_SUPPORTED: 2,
  /** Peers behind a common switch: the device is given the bus address (paddr + bus_offset). */
  BUS_ADDR: 3,
  /** Through an allowed host bridge: a normal mapping of the CPU physical address. */
  THRU_HOST_BRIDGE: 4,
} as const;
export type P2pdmaMapType = (typeof P2pdmaMapType)[keyof typeof P2pdmaMapType];

/** models struct p2pdma_provider: the BAR's owner and its bus offset (bus address = phys + busOffset, the kernel's sign). */
export interface P2pdmaProvider {
  readonly owner: PciDevice;
  readonly bar: PciBar;
  readonly busOffset: number;
}

/**
 * The providers of one system and the map types its clients have asked for. The cache is per
 * owner device and keyed as the kernel keys its xarray (map_types_idx(): domain, bus, devfn), so a
 * pair is computed once (models pci_p2pdma_map_type() over p2pdma->map_types).
 */
export class P2pdmaProviders {
  readonly #byRegion: ReadonlyMap<Region, P2pdmaProvider>;
  readonly #mapTypes = new Map<PciDevice, Map<number, MapTypeResult>>();

  constructor(barRegions: ReadonlyMap<PciBar, Region>) {
    const byRegion = new Map<Region, P2pdmaProvider>();
    // The model's PciBar.busOffset is phys - bus; the kernel's p2pdma_provider.bus_offset is bus - phys.
    for (const [bar, region] of barRegions) byRegion.set(region, { owner: bar.device, bar, busOffset: -bar.busOffset });
    this.#byRegion = byRegion;
  }

  /** The provider whose BAR backs `region`, or undefined (host RAM, the pool). */
  ofRegion(region: Region): P2pdmaProvider | undefined {
    return this.#byRegion.get(region);
  }

  /** The route from `owner`'s memory to `client` (calc_map_type_and_dist() once per pair, then the cache). */
  route(owner: PciDevice, client: PciDevice): MapTypeResult {
    let cache = this.#mapTypes.get(owner);
    if (!cache) this.#mapTypes.set(owner, (cache = new Map()));
    const key = mapTypesIndex(client);
    let result = cache.get(key);
    if (result === undefined) {
      result = mapType(owner, client);
      cache.set(key, result);
    }
    return result;
  }
}

// models map_types_idx(): (pci_domain_nr(bus) << 16) | pci_dev_id(client), a 32-bit index.
function mapTypesIndex(client: PciDevice): number {
  return client.segment * 65536 + client.bus * 256 + client.devfn;
}

/**
 * models struct pci_p2pdma_map_state and pci_p2pdma_state(): walking a list, the map type is
 * looked up again only when the provider changes, as the kernel does per pgmap.
 */
export class P2pdmaState {
  /** The provider of the last P2P segment classified (state->mem). */
  mem: P2pdmaProvider | undefined = undefined;
  /** Its map type for the client (state->map). */
  map: P2pdmaMapType = P2pdmaMapType.UNKNOWN;
  #route: MapTypeResult | undefined;
  // The last region classified and its answer: a list's segments mostly share a region, and the
  // region -> provider map never changes, so the lookup is skipped for a repeat.
  #region: Region | undefined = undefined;
  #regionMap: P2pdmaMapType = P2pdmaMapType.NONE;

  constructor(
    readonly providers: P2pdmaProviders,
    readonly client: PciDevice,
  ) {}

  /** Classifies memory in `region`: NONE for memory no provider owns, else the pair's map type. */
  classify(region: Region): P2pdmaMapType {
    if (region === this.#region) return this.#regionMap;
    const mem = this.providers.ofRegion(region);
    if (mem !== undefined && mem !== this.mem) {
      this.mem = mem;
      this.#route = this.providers.route(mem.owner, this.client);
      this.map = P2pdmaMapType[this.#route.type];
    }
    this.#region = region;
    this.#regionMap = mem === undefined ? P2pdmaMapType.NONE : this.map;
    return this.#regionMap;
  }

  /** The full verdict behind `map` (distance, ACS, the kernel's reasons), for messages. */
  get route(): MapTypeResult | undefined {
    return this.#route;
  }
}

/** models pci_p2pdma_bus_addr_map(): paddr + provider->bus_offset. */
export function p2pdmaBusAddrMap(provider: P2pdmaProvider, phys: number): number {
  return phys + provider.busOffset;
}
