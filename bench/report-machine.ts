// Synthetic machines for the report's benchmark and tests: `endpoints` endpoint functions spread over host
// bridges (one PCI segment each, alternately whitelisted or not), root ports with a switch of eight
// downstream ports below each, GPUs, NVMe drives, two-function NICs and accelerators, and ACS redirect on
// some downstream ports, all chosen by a seeded generator so that a seed names a machine.
import type { DeviceSpec, HostBridgeSpec, TopologySpec } from '../src/pci/topology.js';

const ENDPOINTS_PER_HOST_BRIDGE = 100;

interface Model {
  readonly vendor: string;
  readonly device: string;
  readonly name: string;
  readonly functions: number;
  readonly bars: DeviceSpec['bars'];
}

const MODELS: readonly Model[] = [
  { vendor: '10de', device: '20b0', name: 'GA100 [A100 PCIe 40GB]', functions: 1, bars: [{ index: 0, size: '16MiB' }, { index: 1, size: '64MiB', p2pmem: true }] },
  { vendor: '144d', device: 'a808', name: 'NVMe SSD Controller SM981/PM981/PM983', functions: 1, bars: [{ index: 0, size: '16KiB' }] },
  { vendor: '15b3', device: '101b', name: 'MT28908 Family [ConnectX-6]', functions: 2, bars: [{ index: 0, size: '32MiB' }] },
  { vendor: '8086', device: '0b25', name: 'Data Streaming Accelerator (DSA)', functions: 1, bars: [{ index: 0, size: '64KiB' }] },
];

/** A seeded generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (value: number, width: number) => value.toString(16).padStart(width, '0');

/** A machine with exactly `endpoints` endpoint functions (at least 1). Pure: the seed decides everything. */
export function syntheticMachine(endpoints: number, seed = 1): TopologySpec {
  const random = rng(seed);
  const hostBridges: HostBridgeSpec[] = [];
  let left = endpoints;
  for (let segment = 0; left > 0; segment++) {
    let budget = Math.min(left, ENDPOINTS_PER_HOST_BRIDGE);
    left -= budget;
    const seg = hex(segment, 4);
    const devices: DeviceSpec[] = [
      { bdf: `${seg}:00:00.0`, kind: 'endpoint', vendor: '8086', device: segment % 2 === 0 ? '2020' : '6f00', name: segment % 2 === 0 ? 'Sky Lake-E DMI3 Registers' : 'Xeon E7 v4/Xeon E5 v4 DMI2' },
    ];
    budget--; // the host bridge's own function is an endpoint too
    let bus = 1;
    for (let port = 1; budget > 0; port++) {
      const switchBus = bus;
      const downstream: DeviceSpec[] = [];
      for (let d = 0; d < 8 && budget > 0; d++) {
        const model = MODELS[Math.floor(random() * MODELS.length)]!;
        const secondary = switchBus + 1 + d + 1;
        const functions = Math.min(model.functions, budget);
        budget -= functions;
        const children: DeviceSpec[] = [];
        for (let fn = 0; fn < functions; fn++) {
          children.push({ bdf: `${seg}:${hex(secondary, 2)}:00.${fn}`, vendor: model.vendor, device: model.device, name: model.name, bars: model.bars!.map((bar) => ({ ...bar })) });
        }
        downstream.push({ bdf: `${seg}:${hex(switchBus + 1, 2)}:${hex(d, 2)}.0`, kind: 'downstream-port', acsRedirect: random() < 0.15, secondaryBus: secondary, children });
      }
      devices.push({
        bdf: `${seg}:00:${hex(port, 2)}.0`,
        kind: 'root-port',
        secondaryBus: switchBus,
        children: [{ bdf: `${seg}:${hex(switchBus, 2)}:00.0`, kind: 'upstream-port', vendor: '10b5', device: '8747', secondaryBus: switchBus + 1, children: downstream }],
      });
      bus = switchBus + 2 + downstream.length;
    }
    hostBridges.push({ segment, bus: 0, devices });
  }
  return { cpu: { vendor: 'GenuineIntel', family: 6 }, hostBridges };
}
