// Work bounded by the size of the input: the shapes that used to take seconds or overflow the stack load
// correctly (timing is the benchmark's job: bench/suites/topology.ts).
import { describe, expect, it } from 'vitest';
import { buildTopology, loadLspci, loadTopologyJson, mapType, topologyToJson, type DeviceSpec, type TopologySpec } from '../dist/src/pci/index.js';
import { printDump, printTree } from '../dist/bench/topology-printer.js';
import { printLspciTree } from './support/lspci-printer.js';
import { testRng } from './support/random.js';
import { errorOf } from './support/errors.js';

const rng = testRng('pci-linear');
const hx = (n: number, w: number) => n.toString(16).padStart(w, '0');

// A chain of `depth` bridges (one bus each), an endpoint at the bottom and one beside the first bridge.
function chain(depth: number): TopologySpec {
  let leaf: DeviceSpec = { bdf: `0000:${hx(depth, 2)}:00.0`, name: 'Deep endpoint' };
  for (let bus = depth - 1; bus >= 1; bus--) leaf = { bdf: `0000:${hx(bus, 2)}:00.0`, kind: 'bridge', children: [leaf] };
  return { hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:01.0', kind: 'root-port', children: [leaf] }, { bdf: '0000:00:02.0', name: 'Shallow' }] }] };
}

// `n` endpoints spread over as many segments as needed (256 buses of 32 devices x 8 functions each).
function wide(n: number): TopologySpec {
  const hostBridges: TopologySpec['hostBridges'] = [];
  for (let i = 0; i < n; i++) {
    const segment = Math.floor(i / 65536);
    const bus = Math.floor(i / 256) % 256;
    if (hostBridges.length === 0 || hostBridges[hostBridges.length - 1]!.segment !== segment || hostBridges[hostBridges.length - 1]!.bus !== bus) hostBridges.push({ segment, bus, devices: [] });
    hostBridges[hostBridges.length - 1]!.devices.push({ bdf: `${hx(segment, 4)}:${hx(bus, 2)}:${hx((i >> 3) & 31, 2)}.${i & 7}`, bars: [{ index: 0, size: '4KiB' }] });
  }
  return { hostBridges };
}

describe('deep bridge chains', () => {
  it('a 255-bridge chain loads from JSON, a tree and a dump, and walks in order', () => {
    const spec = chain(255);
    const fromJson = loadTopologyJson(JSON.stringify(spec));
    const fromTree = loadLspci(printTree(spec));
    const fromDump = loadLspci(printDump(spec));
    for (const t of [fromJson, fromTree, fromDump]) {
      const deep = t.device('0000:ff:00.0');
      let hops = 0;
      for (let d = deep.upstream; d; d = d.upstream) hops++;
      expect(hops).toBe(255);
      expect(mapType(deep, t.device('0000:00:02.0')).distance).toBe(257);
      expect(topologyToJson(loadTopologyJson(topologyToJson(t)))).toBe(topologyToJson(t));
    }
  });

  it('nesting deeper than the bus numbers allow is refused at the first bus that goes backwards, not by a stack overflow', () => {
    let node: unknown = { bdf: '0000:01:00.0' };
    for (let i = 0; i < 100_000; i++) node = { bdf: '0000:01:00.0', children: [node] };
    const err = errorOf(() => buildTopology({ hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:01.0', children: [node] }] }] }));
    expect(err?.code).toBe('ERR_TOPOLOGY');
  });
});

describe('long lines and long runs of blanks', () => {
  it('a name with 100 KB of spaces before "(rev xx)" keeps its text and IDs', () => {
    const name = `Vendor${' '.repeat(100_000)}Device [10de:2204] (rev a1)`;
    const t = loadLspci(`-[0000:00]---00.0  ${name}\n`);
    expect(t.device('0000:00:00.0').ids).toBe('10de:2204');
    expect(t.device('0000:00:00.0').name).toBe(`Vendor${' '.repeat(100_000)}Device`);
  });

  it('a tree line of 100 KB of trailing blanks, and one of blanks without an end', () => {
    expect(loadLspci(`-[0000:00]---00.0  X [8086:2020]${' '.repeat(100_000)}\n`).devices()).toHaveLength(1);
    expect(loadLspci(`-[0000:00]---00.0${' '.repeat(100_000)}x\n`).device('0000:00:00.0').name).toBe('x');
    expect(errorOf(() => loadLspci(`-[0000:00]---00.0 ${'\t'.repeat(100_000)}x\n`))?.code).toBe('ERR_LSPCI_PARSE');
  });

  it('a dump header of 100 KB, a property line of 100 KB and a run of tabs', () => {
    const long = `00:00.0 Host bridge [0600]: ${'A'.repeat(50_000)}${' '.repeat(50_000)}B [8086:2020] (rev 01)\n\tControl: ${'x'.repeat(100_000)}\n${'\t'.repeat(100_000)}Status: Cap-\n`;
    const t = loadLspci(long);
    expect(t.device('0000:00:00.0').ids).toBe('8086:2020');
  });

  it('JSON with a 100 KB name loads; a 100 KB bad key and lspci text given as JSON get coded errors with the path', () => {
    expect(loadTopologyJson(JSON.stringify({ hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:00.0', name: 'x'.repeat(100_000) }] }] })).devices()[0]!.name).toHaveLength(100_000);
    expect(errorOf(() => loadTopologyJson(JSON.stringify({ hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:00.0', [' '.repeat(100_000)]: 1 }] }] }))).code).toBe('ERR_TOPOLOGY');
    expect(errorOf(() => loadTopologyJson('-[0000:00]---00.0\n')).message).toMatch(/lspci output.*--lspci/);
  });
});

describe('10^5 rows', () => {
  it('10^5 functions load from JSON, a tree and a dump, with the same functions in the same order', () => {
    const spec = wide(100_000);
    const fromJson = buildTopology(spec);
    expect(fromJson.devices()).toHaveLength(100_000);
    const tree = loadLspci(printTree(spec));
    expect(tree.devices().map((d) => d.bdf)).toEqual(fromJson.devices().map((d) => d.bdf));
    const dump = loadLspci(printDump(spec));
    expect(dump.devices()).toHaveLength(100_000);
    // barAt() finds a random BAR by binary search.
    const bar = fromJson.bars()[rng.int(0, 99_999)]!;
    expect(fromJson.barAt(bar.phys + 17)).toBe(bar);
  });

  it('pinned BARs among many placed ones are skipped in one pass', () => {
    const devices: DeviceSpec[] = [];
    for (let i = 0; i < 4096; i++) devices.push({ bdf: `0000:00:${hx(i >> 3 & 31, 2)}.${i & 7}`.replace(/^/, ''), bars: [{ index: 0, size: '4KiB', ...(i % 3 === 0 ? { phys: 2 ** 41 + i * 8192 } : {}) }] });
    const unique = devices.slice(0, 256);
    const t = buildTopology({ hostBridges: [{ segment: 0, bus: 0, devices: unique }] });
    const phys = t.bars().map((b) => b.phys).sort((a, b) => a - b);
    for (let i = 1; i < phys.length; i++) expect(phys[i]! - phys[i - 1]!).toBeGreaterThanOrEqual(4096);
  });
});

describe('printers agree with the ones the other tests trust', () => {
  it('bench/topology-printer prints trees as test/support/lspci-printer does (random trees)', () => {
    for (let n = 0; n < 50; n++) {
      let bus = 1;
      const make = (depth: number, prefixBus: number): DeviceSpec[] => {
        const out: DeviceSpec[] = [];
        const count = rng.int(1, 4);
        for (let i = 0; i < count; i++) {
          const bdf = `0000:${hx(prefixBus, 2)}:${hx(i, 2)}.0`;
          if (depth < 4 && rng.next() < 0.4) {
            const secondary = bus++;
            out.push(rng.next() < 0.3 ? { bdf, kind: 'bridge', secondaryBus: secondary } : { bdf, kind: 'bridge', children: make(depth + 1, secondary) });
          } else out.push({ bdf, name: `Dev${i}`, vendor: '10de', device: hx(rng.int(0, 0xffff), 4) });
        }
        return out;
      };
      const spec: TopologySpec = { hostBridges: [{ segment: 0, bus: 0, devices: make(0, 0) }] };
      expect(printTree(spec), `seed ${rng.seed} tree ${n}`).toBe(printLspciTree(spec, (d) => `${d.name} [${d.vendor}:${d.device}]`));
    }
  });
});
