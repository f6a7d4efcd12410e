// Topology JSON: every malformation names its JSON path; addresses are assigned as documented.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BUS_OFFSET,
  DEFAULT_MMIO_BASE,
  DEFAULT_MMIO_STRIDE,
  buildTopology,
  loadTopologyJson,
  topologyToJson,
} from '../dist/src/pci/index.js';

const example = readFileSync(new URL('../examples/switch-gpu-nvme.json', import.meta.url), 'utf8');

// A small valid topology, cloned and broken by each case.
function base(): any {
  return {
    cpu: { vendor: 'GenuineIntel', family: 6 },
    hostBridges: [
      {
        segment: 0,
        bus: 0,
        devices: [
          { bdf: '0000:00:00.0', vendor: '8086', device: '2020' },
          {
            bdf: '0000:00:01.0',
            kind: 'root-port',
            children: [
              {
                bdf: '0000:01:00.0',
                kind: 'upstream-port',
                children: [
                  { bdf: '0000:02:00.0', kind: 'downstream-port', children: [{ bdf: '0000:03:00.0', bars: [{ index: 0, size: '64MiB', p2pmem: true }] }] },
                  { bdf: '0000:02:01.0', kind: 'downstream-port', children: [{ bdf: '0000:04:00.0' }] },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}

const rp = (t: any) => t.hostBridges[0].devices[1];
const usp = (t: any) => rp(t).children[0];
const gpu = (t: any) => usp(t).children[0].children[0];

const cases: { name: string; edit: (t: any) => unknown; path: string }[] = [
  { name: 'root is not an object', edit: () => [], path: '$' },
  { name: 'unknown root key', edit: (t) => void (t.version = 1), path: '$.version' },
  { name: 'hostBridges missing', edit: (t) => void delete t.hostBridges, path: '$.hostBridges' },
  { name: 'cpu family is a string', edit: (t) => void (t.cpu.family = '6'), path: '$.cpu.family' },
  { name: 'cpu unknown key', edit: (t) => void (t.cpu.model = 85), path: '$.cpu.model' },
  { name: 'cpu vendor empty', edit: (t) => void (t.cpu.vendor = ''), path: '$.cpu.vendor' },
  { name: 'host bridge bus out of range', edit: (t) => void (t.hostBridges[0].bus = 256), path: '$.hostBridges[0].bus' },
  { name: 'host bridge unknown key', edit: (t) => void (t.hostBridges[0].name = 'x'), path: '$.hostBridges[0].name' },
  { name: 'root bus listed twice', edit: (t) => void t.hostBridges.push({ segment: 0, bus: 0, devices: [] }), path: '$.hostBridges[1]' },
  { name: 'devices not an array', edit: (t) => void (t.hostBridges[0].devices = {}), path: '$.hostBridges[0].devices' },
  { name: 'upper-case BDF', edit: (t) => void (t.hostBridges[0].devices[0].bdf = '0000:00:1F.0'), path: '$.hostBridges[0].devices[0].bdf' },
  { name: 'BDF without segment', edit: (t) => void (t.hostBridges[0].devices[0].bdf = '00:00.0'), path: '$.hostBridges[0].devices[0].bdf' },
  { name: 'function 8', edit: (t) => void (t.hostBridges[0].devices[0].bdf = '0000:00:00.8'), path: '$.hostBridges[0].devices[0].bdf' },
  { name: 'device 20', edit: (t) => void (t.hostBridges[0].devices[0].bdf = '0000:00:20.0'), path: '$.hostBridges[0].devices[0].bdf' },
  { name: 'device on the wrong root bus', edit: (t) => void (t.hostBridges[0].devices[0].bdf = '0000:01:00.0'), path: '$.hostBridges[0].devices[0].bdf' },
  { name: 'device on the wrong segment', edit: (t) => void (t.hostBridges[0].devices[0].bdf = '0001:00:00.0'), path: '$.hostBridges[0].devices[0].bdf' },
  { name: 'duplicate BDF', edit: (t) => void usp(t).children[1].children.push({ bdf: '0000:04:00.0' }), path: '$.hostBridges[0].devices[1].children[0].children[1].children[1].bdf' },
  { name: 'child not on its bridge\'s secondary bus', edit: (t) => void usp(t).children.push({ bdf: '0000:05:00.0' }), path: '$.hostBridges[0].devices[1].children[0].children[2].bdf' },
  { name: 'secondaryBus disagrees with the children', edit: (t) => void (usp(t).secondaryBus = 7), path: '$.hostBridges[0].devices[1].children[0].children[0].bdf' },
  { name: 'secondary bus not above the bridge', edit: (t) => void (rp(t).children[0].bdf = '0000:00:05.0'), path: '$.hostBridges[0].devices[1].children[0].bdf' },
  { name: 'secondary bus used twice', edit: (t) => void t.hostBridges[0].devices.push({ bdf: '0000:00:02.0', kind: 'root-port', secondaryBus: 2 }), path: '$.hostBridges[0].devices[2].secondaryBus' },
  { name: 'secondary bus is another root bus', edit: (t) => void t.hostBridges.push({ segment: 0, bus: 3, devices: [] }), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bdf' },
  { name: 'secondaryBus on an endpoint', edit: (t) => void (t.hostBridges[0].devices[0].secondaryBus = 9), path: '$.hostBridges[0].devices[0].secondaryBus' },
  { name: 'children not an array', edit: (t) => void (t.hostBridges[0].devices[0].children = {}), path: '$.hostBridges[0].devices[0].children' },
  { name: 'unknown kind', edit: (t) => void (rp(t).kind = 'switch'), path: '$.hostBridges[0].devices[1].kind' },
  { name: 'unknown device key', edit: (t) => void (gpu(t).colour = 'green'), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].colour' },
  { name: 'vendor of 3 digits', edit: (t) => void (t.hostBridges[0].devices[0].vendor = '808'), path: '$.hostBridges[0].devices[0].vendor' },
  { name: 'device ID as a number', edit: (t) => void (t.hostBridges[0].devices[0].device = 2020), path: '$.hostBridges[0].devices[0].device' },
  { name: 'acsRedirect not boolean', edit: (t) => void (rp(t).acsRedirect = 'yes'), path: '$.hostBridges[0].devices[1].acsRedirect' },
  { name: 'bars not an array', edit: (t) => void (gpu(t).bars = {}), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars' },
  { name: 'BAR index 6', edit: (t) => void (gpu(t).bars[0].index = 6), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].index' },
  { name: 'BAR index twice', edit: (t) => void gpu(t).bars.push({ index: 0, size: '4KiB' }), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[1].index' },
  { name: 'BAR size with a decimal unit', edit: (t) => void (gpu(t).bars[0].size = '64MB'), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].size' },
  { name: 'BAR size not a power of two', edit: (t) => void (gpu(t).bars[0].size = 12288), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].size' },
  { name: 'BAR size below 4KiB', edit: (t) => void (gpu(t).bars[0].size = '2KiB'), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].size' },
  { name: 'BAR unknown key', edit: (t) => void (gpu(t).bars[0].prefetch = true), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].prefetch' },
  { name: 'BAR p2pmem not boolean', edit: (t) => void (gpu(t).bars[0].p2pmem = 1), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].p2pmem' },
  { name: 'BAR phys misaligned', edit: (t) => void (gpu(t).bars[0].phys = '0x20000100000'), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].phys' },
  { name: 'BAR phys outside the window', edit: (t) => void (gpu(t).bars[0].phys = '0x1000000000'), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].phys' },
  { name: 'BAR phys not an address', edit: (t) => void (gpu(t).bars[0].phys = '4000000000h'), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].phys' },
  {
    name: 'pinned BARs overlap',
    edit: (t) => void (usp(t).children[1].children[0].bars = [{ index: 0, size: '4KiB', phys: '0x20000001000' }], gpu(t).bars[0].phys = '0x20000000000'),
    path: '$.hostBridges[0].devices[1].children[0].children[1].children[0].bars[0].phys',
  },
  { name: 'BAR larger than the window', edit: (t) => void (t.hostBridges[0].mmioSize = '32MiB'), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].size' },
  { name: 'mmioBase not 4KiB aligned', edit: (t) => void (t.hostBridges[0].mmioBase = 4097), path: '$.hostBridges[0].mmioBase' },
  { name: 'mmioSize zero', edit: (t) => void (t.hostBridges[0].mmioSize = 0), path: '$.hostBridges[0].mmioSize' },
  { name: 'busOffset beyond the window', edit: (t) => void (t.hostBridges[0].busOffset = '0x30000000000'), path: '$.hostBridges[0].busOffset' },
  {
    name: 'windows overlap',
    edit: (t) => void t.hostBridges.push({ segment: 0, bus: 0x80, mmioBase: DEFAULT_MMIO_BASE + 2 ** 30, devices: [] }),
    path: '$.hostBridges[1].mmioBase',
  },
];

describe('loadTopologyJson errors name the JSON path', () => {
  it.each(cases)('$name -> $path', ({ edit, path }) => {
    const t = base();
    const replaced = edit(t);
    const text = JSON.stringify(replaced ?? t);
    let caught: any;
    try {
      loadTopologyJson(text);
    } catch (err) {
      caught = err;
    }
    expect(caught?.code).toBe('ERR_TOPOLOGY');
    expect(caught.path).toBe(path);
    expect(caught.message.startsWith(`${path}: `)).toBe(true);
  });

  it('reports text that is not JSON at $', () => {
    expect(() => loadTopologyJson('{"hostBridges": [')).toThrow(expect.objectContaining({ code: 'ERR_TOPOLOGY', path: '$' }));
  });

  it('the base case itself is valid', () => {
    expect(loadTopologyJson(JSON.stringify(base())).devices()).toHaveLength(7);
  });
});

describe('topology model from JSON', () => {
  it('loads the contract example: kinds, IDs, upstream links, bridges', () => {
    const t = loadTopologyJson(example);
    expect(t.cpu).toEqual({ vendor: 'GenuineIntel', family: 6 });
    expect(t.devices().map((d) => d.bdf)).toEqual([
      '0000:00:00.0', '0000:00:01.0', '0000:01:00.0', '0000:02:08.0', '0000:03:00.0', '0000:02:10.0', '0000:04:00.0', '0000:00:02.0', '0000:05:00.0', '0000:05:00.1',
    ]);
    expect(t.endpoints().map((d) => d.bdf)).toEqual(['0000:00:00.0', '0000:03:00.0', '0000:04:00.0', '0000:05:00.0', '0000:05:00.1']);
    const gpuDev = t.device('0000:03:00.0');
    expect(gpuDev.upstream?.bdf).toBe('0000:02:08.0');
    expect(gpuDev.upstream?.upstream?.upstream?.bdf).toBe('0000:00:01.0');
    expect(gpuDev.upstream?.upstream?.upstream?.upstream).toBeNull();
    expect(gpuDev.ids).toBe('10de:20b0');
    expect(gpuDev.hostBridge.name).toBe('0000:00');
    expect(t.device('0000:01:00.0').secondaryBus).toBe(2);
    expect(t.device('0000:01:00.0').kind).toBe('upstream-port');
  });

  it('a device with children is a bridge whatever its kind; a childless bridge keeps its kind', () => {
    const t = buildTopology({
      hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:01.0', kind: 'endpoint', children: [{ bdf: '0000:01:00.0' }] }, { bdf: '0000:00:02.0', kind: 'root-port' }] }],
    });
    expect(t.device('0000:00:01.0').kind).toBe('bridge');
    expect(t.device('0000:00:01.0').isBridge).toBe(true);
    expect(t.device('0000:00:02.0').isBridge).toBe(true);
    expect(t.device('0000:00:02.0').secondaryBus).toBeUndefined();
    expect(t.cpu).toBeNull();
  });

  it('device() throws coded errors', () => {
    const t = loadTopologyJson(example);
    expect(() => t.device('0000:09:00.0')).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_DEVICE', bdf: '0000:09:00.0' }));
    expect(() => t.device('9:00.0')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('accepts VMD-style 5-digit segments', () => {
    const t = buildTopology({ hostBridges: [{ segment: 0x10000, bus: 0, devices: [{ bdf: '10000:00:00.0' }] }] });
    expect(t.device('10000:00:00.0').segment).toBe(0x10000);
  });
});

describe('BAR addresses', () => {
  it('assigns naturally aligned bases in tree order inside each host bridge window', () => {
    const t = loadTopologyJson(example);
    const base0 = DEFAULT_MMIO_BASE;
    const MiB = 2 ** 20;
    const expected: [string, number, number][] = [
      ['0000:03:00.0', 0, base0],
      ['0000:03:00.0', 1, base0 + 64 * MiB], // 16MiB then a 64MiB BAR aligned to 64MiB
      ['0000:04:00.0', 0, base0 + 128 * MiB],
      ['0000:04:00.0', 2, base0 + 128 * MiB + 2 * MiB], // 16KiB then 2MiB aligned up
      ['0000:05:00.0', 0, base0 + 160 * MiB],
      ['0000:05:00.1', 0, base0 + 192 * MiB],
    ];
    expect(t.bars().map((bar) => [bar.device.bdf, bar.index, bar.phys])).toEqual(expected);
    for (const bar of t.bars()) {
      expect(bar.busOffset).toBe(DEFAULT_BUS_OFFSET);
      expect(bar.busAddress).toBe(bar.phys - DEFAULT_BUS_OFFSET);
    }
    expect(t.barAt(base0 + 64 * MiB + 5)?.device.bdf).toBe('0000:03:00.0');
    expect(t.barAt(base0 + 64 * MiB - 1)).toBeUndefined();
  });

  it('gives host bridge i the window at base + i * stride', () => {
    const t = loadTopologyJson(readFileSync(new URL('../examples/two-sockets.json', import.meta.url), 'utf8'));
    expect(t.hostBridges.map((hb) => hb.mmioBase)).toEqual([DEFAULT_MMIO_BASE, DEFAULT_MMIO_BASE + DEFAULT_MMIO_STRIDE]);
    expect(t.device('0000:81:00.0').bar(0)?.phys).toBe(DEFAULT_MMIO_BASE + DEFAULT_MMIO_STRIDE);
  });

  it('keeps default bus addresses apart from every CPU physical window and from RAM below 1 TiB', () => {
    const t = loadTopologyJson(readFileSync(new URL('../examples/two-sockets.json', import.meta.url), 'utf8'));
    const windows = t.hostBridges.map((hb) => [hb.mmioBase, hb.mmioBase + hb.mmioSize] as const);
    for (const bar of t.bars()) {
      expect(bar.busAddress).toBeGreaterThanOrEqual(2 ** 40);
      for (const [lo, hi] of windows) expect(bar.busAddress + bar.size <= lo || bar.busAddress >= hi).toBe(true);
    }
  });

  it('honours mmioBase, busOffset and pinned BAR phys, placing the others around pinned ones', () => {
    const t = buildTopology({
      hostBridges: [
        {
          segment: 0,
          bus: 0,
          mmioBase: '0x80000000',
          mmioSize: '1GiB',
          busOffset: '-0x10000000',
          devices: [
            { bdf: '0000:00:01.0', bars: [{ index: 0, size: '1MiB' }] },
            { bdf: '0000:00:02.0', bars: [{ index: 0, size: '2MiB', phys: 0x80200000 }] },
            { bdf: '0000:00:03.0', bars: [{ index: 0, size: '1MiB' }, { index: 1, size: '4KiB' }] },
          ],
        },
      ],
    });
    expect(t.bars().map((bar) => bar.phys)).toEqual([0x80000000, 0x80200000, 0x80100000, 0x80400000]);
    expect(t.device('0000:00:02.0').bar(0)?.busAddress).toBe(0x80200000 + 0x10000000);
  });

  it('topologyToJson round-trips structure and addresses', () => {
    const t = loadTopologyJson(example, { acsRedirect: ['0000:02:10.0'] });
    const again = loadTopologyJson(topologyToJson(t));
    expect(topologyToJson(again)).toBe(topologyToJson(t));
    expect(again.device('0000:02:10.0').acsRedirect).toBe(true);
    expect(again.bars().map((bar) => bar.phys)).toEqual(t.bars().map((bar) => bar.phys));
  });
});

describe('overrides', () => {
  it('sets ACS redirect and the CPU without touching the file', () => {
    const t = loadTopologyJson(example, { acsRedirect: ['0000:02:08.0'], cpu: { vendor: 'AuthenticAMD', family: 0x19 } });
    expect(t.device('0000:02:08.0').acsRedirect).toBe(true);
    expect(t.cpu).toEqual({ vendor: 'AuthenticAMD', family: 0x19 });
  });

  it('rejects unknown and malformed BDFs with coded errors', () => {
    expect(() => loadTopologyJson(example, { acsRedirect: ['0000:0a:00.0'] })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_DEVICE', bdf: '0000:0a:00.0' }));
    expect(() => loadTopologyJson(example, { acsRedirect: ['02:08.0'] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
