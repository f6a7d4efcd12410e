// The model's new keys: ACS bit by bit (with acsRedirect as the short form), port types, external-facing ports
// and the untrusted functions below them, BAR flags and lspci details, slots, SR-IOV; the CPU from /proc/cpuinfo
// and from a host bridge. Every malformation names its JSON path; everything round-trips.
import { describe, expect, it } from 'vitest';
import { buildTopology, cpuFromCpuinfo, inferCpuFromHostBridge, loadLspci, loadTopologyJson, topologyToJson, type TopologySpec } from '../dist/src/pci/index.js';
import { errorOf } from './support/errors.js';

function base(): TopologySpec {
  return {
    hostBridges: [{
      segment: 0, bus: 0, devices: [
        { bdf: '0000:00:00.0', vendor: '8086', device: '9a14', portType: 'pci' },
        { bdf: '0000:00:07.0', kind: 'root-port', portType: 'root-port', externalFacing: true, name: 'Thunderbolt 4 PCI Express Root Port #0',
          acs: { capability: ['SrcValid', 'TransBlk', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd'], control: ['SrcValid', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd'] },
          slot: { number: 4, hotPlug: true, surprise: true },
          children: [{ bdf: '0000:01:00.0', kind: 'upstream-port', portType: 'upstream-port', children: [
            { bdf: '0000:02:00.0', kind: 'downstream-port', children: [{ bdf: '0000:03:00.0', portType: 'endpoint', bars: [{ index: 0, size: '256MiB', prefetchable: true, is64bit: true, address: '0x6000000000', resizable: { current: '256MiB', supported: ['256MiB', '512MiB'] } }] }] },
          ] }],
        },
        { bdf: '0000:00:0d.0', portType: 'rc-integrated-endpoint', sriov: { totalVfs: 7, numVfs: 0, vfDevice: '46b3', bars: [{ index: 0, address: '0x4010000000', is64bit: true }] } },
      ],
    }],
  };
}

describe('untrusted below an external-facing port', () => {
  const t = buildTopology(base());
  it('marks everything below the port, not the port itself', () => {
    expect(t.device('0000:00:07.0').externalFacing).toBe(true);
    expect(t.device('0000:00:07.0').untrusted).toBe(false);
    expect(['0000:01:00.0', '0000:02:00.0', '0000:03:00.0'].map((b) => t.device(b).untrusted)).toEqual([true, true, true]);
    expect(t.device('0000:00:0d.0').untrusted).toBe(false);
  });
  it('round-trips through JSON with untrusted written out, and refuses a contradicting untrusted', () => {
    const json = topologyToJson(t);
    expect(JSON.parse(json).hostBridges[0].devices[1].children[0].untrusted).toBe(true);
    expect(topologyToJson(loadTopologyJson(json))).toBe(json);
    const bad = base();
    bad.hostBridges[0]!.devices[2]!.untrusted = true;
    expect(errorOf(() => buildTopology(bad))).toMatchObject({ code: 'ERR_TOPOLOGY', path: '$.hostBridges[0].devices[2].untrusted' });
  });
  it('the lspci importer takes Thunderbolt root ports as external-facing and says so; --external-facing adds ports', () => {
    const tree = '-[0000:00]-+-00.0  Intel Corporation 11th Gen Core Processor Host Bridge/DRAM Registers [8086:9a14]\n           +-07.0-[01-2b]----00.0  Dummy\n           \\-1c.0-[2c]----00.0  Realtek [10ec:8168]\n';
    const withNames = loadLspci(tree);
    expect(withNames.device('0000:00:07.0').externalFacing).toBe(false); // a tree shows no bridge names
    const marked = loadLspci(tree, { externalFacing: ['0000:00:1c.0'] });
    expect(marked.device('0000:2c:00.0').untrusted).toBe(true);
    expect(errorOf(() => loadLspci(tree, { externalFacing: ['0000:00:09.0'] }))).toMatchObject({ code: 'ERR_UNKNOWN_DEVICE', bdf: '0000:00:09.0' });
  });
});

describe('ACS, port types, BAR details, slots and SR-IOV in the JSON format', () => {
  it('keeps every value and writes it back', () => {
    const t = buildTopology(base());
    const port = t.device('0000:00:07.0');
    expect(port.acs).toEqual({ capability: 0x1f, control: 0x1d });
    expect(port.acsRedirect).toBe(true);
    expect(port.slot).toEqual({ number: 4, hotPlug: true, surprise: true });
    const bar = t.device('0000:03:00.0').bar(0)!;
    expect([bar.prefetchable, bar.is64bit, bar.details.address, bar.details.resizable]).toEqual([true, true, '0x6000000000', { current: 256 * 2 ** 20, supported: [256 * 2 ** 20, 512 * 2 ** 20] }]);
    expect(t.device('0000:00:0d.0').sriov?.bars?.[0]).toEqual({ index: 0, address: '0x4010000000', is64bit: true });
    const again = loadTopologyJson(topologyToJson(t));
    expect(topologyToJson(again)).toBe(topologyToJson(t));
  });

  it('orders BARs by index whatever order the description lists them in', () => {
    const spec = base() as any;
    spec.hostBridges[0].devices.push({ bdf: '0000:00:1f.0', bars: [{ index: 4, size: '4KiB' }, { index: 0, size: '8KiB' }, { index: 2, size: '16KiB' }] });
    const t = buildTopology(spec);
    expect(t.device('0000:00:1f.0').bars.map((bar) => [bar.index, bar.size])).toEqual([[0, 8192], [2, 16384], [4, 4096]]);
    expect(JSON.parse(topologyToJson(t)).hostBridges[0].devices.at(-1).bars.map((bar: { index: number }) => bar.index)).toEqual([0, 2, 4]);
  });

  const cases: { name: string; edit: (t: any) => void; path: string }[] = [
    { name: 'unknown ACS flag', edit: (t) => void (t.hostBridges[0].devices[1].acs.control = ['ReqRedirect']), path: '$.hostBridges[0].devices[1].acs.control' },
    { name: 'acs not an object', edit: (t) => void (t.hostBridges[0].devices[1].acs = 'on'), path: '$.hostBridges[0].devices[1].acs' },
    { name: 'acs unknown key', edit: (t) => void (t.hostBridges[0].devices[1].acs.ctrl = []), path: '$.hostBridges[0].devices[1].acs.ctrl' },
    { name: 'acsRedirect contradicting the bits', edit: (t) => void (t.hostBridges[0].devices[1].acsRedirect = false), path: '$.hostBridges[0].devices[1].acsRedirect' },
    { name: 'unknown port type', edit: (t) => void (t.hostBridges[0].devices[0].portType = 'switch'), path: '$.hostBridges[0].devices[0].portType' },
    { name: 'externalFacing on an endpoint', edit: (t) => void (t.hostBridges[0].devices[2].externalFacing = true), path: '$.hostBridges[0].devices[2].externalFacing' },
    { name: 'BAR address not hex', edit: (t) => void (t.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].address = '6000000000'), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].address' },
    { name: 'BAR prefetchable not boolean', edit: (t) => void (t.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].prefetchable = 1), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].prefetchable' },
    { name: 'resizable size malformed', edit: (t) => void (t.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].resizable.supported = ['256MB']), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].resizable.supported[0]' },
    { name: 'reportedSize 0', edit: (t) => void (t.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].reportedSize = 0), path: '$.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].reportedSize' },
    { name: 'slot number out of range', edit: (t) => void (t.hostBridges[0].devices[1].slot.number = 99999), path: '$.hostBridges[0].devices[1].slot.number' },
    { name: 'sriov unknown key', edit: (t) => void (t.hostBridges[0].devices[2].sriov.vfs = 1), path: '$.hostBridges[0].devices[2].sriov.vfs' },
    { name: 'multifunction not boolean', edit: (t) => void (t.hostBridges[0].devices[2].multifunction = 'yes'), path: '$.hostBridges[0].devices[2].multifunction' },
  ];
  it.each(cases)('$name -> $path', ({ edit, path }) => {
    const t = base() as any;
    edit(t);
    expect(errorOf(() => loadTopologyJson(JSON.stringify(t)))).toMatchObject({ code: 'ERR_TOPOLOGY', path });
  });
});

describe('the CPU', () => {
  it('reads the boot CPU from /proc/cpuinfo', () => {
    const info = 'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n';
    expect(cpuFromCpuinfo(info)).toEqual({ vendor: 'AuthenticAMD', family: 25 });
    expect(cpuFromCpuinfo(info.replace(/\n/g, '\r\n'))).toEqual({ vendor: 'AuthenticAMD', family: 25 });
    expect(errorOf(() => cpuFromCpuinfo('processor : 0\nBogoMIPS : 50.00\nCPU implementer : 0x41\n'))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'cpu' });
  });
  it('tells a Zen CPU from its root complex by ID or name, and an older AMD from its', () => {
    expect(inferCpuFromHostBridge({ bdf: '0000:00:00.0', vendorId: 0x1022, deviceId: 0x14a4, name: undefined })?.cpu).toEqual({ vendor: 'AuthenticAMD', family: 0x19 });
    expect(inferCpuFromHostBridge({ bdf: '0000:00:00.0', vendorId: undefined, deviceId: undefined, name: 'Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex' })?.cpu.family).toBe(0x17);
    expect(inferCpuFromHostBridge({ bdf: '0000:00:00.0', vendorId: 0x1022, deviceId: 0x1410, name: undefined })?.cpu.family).toBe(0x15);
    expect(inferCpuFromHostBridge({ bdf: '0000:00:00.0', vendorId: 0x1022, deviceId: 0x9999, name: 'Advanced Micro Devices, Inc. [AMD] Something' })).toBeUndefined();
    expect(inferCpuFromHostBridge({ bdf: '0000:00:00.0', vendorId: 0x1b36, deviceId: 0x0008, name: 'Red Hat, Inc. QEMU PCIe Host bridge' })).toBeUndefined();
  });
});
