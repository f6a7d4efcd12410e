// topology/*: loading topologies of 10^3, 10^4 and 10^5 functions from JSON, from an lspci -tvnn tree and from an
// lspci -vvvnn dump, and the p2p walk, reported per function: the loaders are linear when the time per function
// is the same at every size (each larger size names the 10^3 case as its baseline, so the ratio shows it: 1.0 is
// flat, 0.1 would be quadratic).
import { buildTopology, loadLspci, loadTopologyJson, mapType, type DeviceSpec, type TopologySpec } from '../../src/pci/index.js';
import type { BenchCase } from '../runner.js';
import { printDump, printTree } from '../topology-printer.js';

const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');

/**
 * A machine of `n` functions: per segment, root ports with a switch (upstream port, 4 downstream ports with ACS)
 * and multi-function endpoints with BARs, repeated until `n` functions exist.
 */
export function syntheticMachine(n: number): TopologySpec {
  const hostBridges: TopologySpec['hostBridges'] = [];
  let count = 0;
  let segment = 0;
  while (count < n) {
    const devices: DeviceSpec[] = [{ bdf: `${hex(segment, 4)}:00:00.0`, vendor: '8086', device: '2020', name: 'Sky Lake-E DMI3 Registers' }];
    count++;
    let bus = 1;
    for (let port = 1; port < 32 && bus + 7 < 256 && count < n; port++) {
      const up = bus++; // the root port's secondary bus, where the switch's upstream port sits
      const inner = bus++; // the switch's internal bus, where its downstream ports sit
      const downstream: DeviceSpec[] = [];
      for (let d = 0; d < 4 && count < n; d++) {
        const sec = bus++;
        const endpoints: DeviceSpec[] = [];
        for (let f = 0; f < 8 && count + 3 < n; f++) {
          endpoints.push({ bdf: `${hex(segment, 4)}:${hex(sec, 2)}:00.${f}`, vendor: '144d', device: 'a80a', name: 'NVMe SSD Controller', bars: [{ index: 0, size: '16KiB', is64bit: true }, { index: 2, size: '1MiB', prefetchable: true, is64bit: true }] });
          count++;
        }
        downstream.push({ bdf: `${hex(segment, 4)}:${hex(inner, 2)}:${hex(d, 2)}.0`, kind: 'downstream-port', portType: 'downstream-port', acs: { capability: ['SrcValid', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd'], control: d === 0 ? ['SrcValid', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd'] : [] }, ...(endpoints.length > 0 ? { children: endpoints } : { secondaryBus: sec }) });
        count++;
      }
      devices.push({ bdf: `${hex(segment, 4)}:00:${hex(port, 2)}.0`, kind: 'root-port', portType: 'root-port', children: [{ bdf: `${hex(segment, 4)}:${hex(up, 2)}:00.0`, kind: 'upstream-port', portType: 'upstream-port', children: downstream }] });
      count += 2;
    }
    hostBridges.push({ segment, bus: 0, devices });
    segment++;
  }
  return { cpu: { vendor: 'GenuineIntel', family: 6 }, hostBridges };
}

const SIZES = [1_000, 10_000, 100_000] as const;

/** The loader cases: opsPerSecond counts functions loaded per second (one op = one function). */
export function topologyCases(options: { skipHuge?: boolean } = {}): BenchCase[] {
  const sizes = options.skipHuge ? SIZES.slice(0, 2) : SIZES;
  const cases: BenchCase[] = [];
  const inputs = new Map<number, { json: string; tree: string; dump: string; functions: number }>();
  const input = (n: number) => {
    let i = inputs.get(n);
    if (!i) {
      const spec = syntheticMachine(n);
      const functions = buildTopology(spec).devices().length;
      i = { json: JSON.stringify(spec), tree: printTree(spec), dump: printDump(spec), functions };
      inputs.set(n, i);
    }
    return i;
  };
  for (const format of ['json', 'lspci-tree', 'lspci-dump'] as const) {
    for (const n of sizes) {
      const name = `topology/load/${format}/${n}`;
      let text = '';
      cases.push({
        name,
        measure: 'opsPerSecond',
        // Inputs are built only when a case runs (bench --only may select none of these).
        get unitsPerOp() {
          return input(n).functions;
        },
        ...(n === sizes[0] ? {} : { baseline: `topology/load/${format}/${sizes[0]}` }),
        setup: () => {
          const i = input(n);
          text = format === 'json' ? i.json : format === 'lspci-tree' ? i.tree : i.dump;
        },
        run: () => {
          const t = format === 'json' ? loadTopologyJson(text) : loadLspci(text);
          if (t.devices().length === 0) throw new Error('nothing loaded');
        },
      });
    }
  }
  // The p2p walk: every endpoint against one far endpoint, per pair (the table is n^2 pairs; each pair is walked
  // in time proportional to the depth of the two devices).
  for (const n of sizes) {
    let pairs: { endpoints: ReturnType<ReturnType<typeof buildTopology>['endpoints']>; far: ReturnType<ReturnType<typeof buildTopology>['endpoints']>[number] } | undefined;
    const prepare = () => {
      if (!pairs) {
        const endpoints = buildTopology(syntheticMachine(n)).endpoints();
        pairs = { endpoints, far: endpoints[endpoints.length - 1]! };
      }
      return pairs;
    };
    cases.push({
      name: `topology/p2p/${n}`,
      measure: 'opsPerSecond',
      get unitsPerOp() {
        return prepare().endpoints.length;
      },
      ...(n === sizes[0] ? {} : { baseline: `topology/p2p/${sizes[0]}` }),
      setup: () => void prepare(),
      run: () => {
        const { endpoints, far } = prepare();
        for (const e of endpoints) mapType(e, far);
      },
    });
  }
  return cases;
}
