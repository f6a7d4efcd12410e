// IOMMU groups as pci_device_group() forms them: ACS path isolation with REQ_ACS_FLAGS (SV, RR, CR, UF; a bit the
// capability lacks counts as hard-wired), multi-function isolation, and the aliases of PCIe-to-PCI bridges.
import { describe, expect, it } from 'vitest';
import { acsEnabled, buildTopology, iommuGroupOf, iommuGroups, type DeviceSpec, type TopologySpec } from '../dist/src/pci/index.js';

const ALL = ['SrcValid', 'TransBlk', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd', 'EgressCtrl', 'DirectTrans'] as const;
const ISOLATED = { capability: [...ALL], control: ['SrcValid', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd'] as (typeof ALL)[number][] };
const OPEN = { capability: [...ALL], control: [] as (typeof ALL)[number][] };

function machine(ports: { rp?: DeviceSpec['acs'] | null; dsp1?: DeviceSpec['acs'] | null; dsp2?: DeviceSpec['acs'] | null; nic?: DeviceSpec['acs'] | null } = {}): TopologySpec {
  const acs = (a: DeviceSpec['acs'] | null | undefined, fallback: DeviceSpec['acs']) => (a === null ? {} : { acs: a ?? fallback });
  return {
    hostBridges: [{
      segment: 0, bus: 0, devices: [
        { bdf: '0000:00:00.0', portType: 'pci' },
        { bdf: '0000:00:01.0', kind: 'root-port', portType: 'root-port', ...acs(ports.rp, ISOLATED), children: [
          { bdf: '0000:01:00.0', kind: 'upstream-port', portType: 'upstream-port', children: [
            { bdf: '0000:02:00.0', kind: 'downstream-port', portType: 'downstream-port', ...acs(ports.dsp1, ISOLATED), children: [{ bdf: '0000:03:00.0', portType: 'endpoint' }] },
            { bdf: '0000:02:01.0', kind: 'downstream-port', portType: 'downstream-port', ...acs(ports.dsp2, ISOLATED), children: [
              { bdf: '0000:04:00.0', portType: 'endpoint', ...acs(ports.nic, undefined) },
              { bdf: '0000:04:00.1', portType: 'endpoint', ...acs(ports.nic, undefined) },
            ] },
          ] },
        ] },
        { bdf: '0000:00:02.0', kind: 'root-port', portType: 'root-port', ...acs(undefined, ISOLATED), children: [
          { bdf: '0000:05:00.0', kind: 'bridge', portType: 'pcie-to-pci-bridge', children: [
            { bdf: '0000:06:01.0', portType: 'pci' },
            { bdf: '0000:06:02.0', portType: 'pci' },
          ] },
        ] },
      ],
    }],
  };
}

const partition = (spec: TopologySpec) => iommuGroups(buildTopology(spec)).map((g) => g.devices.map((d) => d.bdf).sort().join(' ')).sort();

describe('pci_device_group()', () => {
  it('every port isolated: one group per function, except the multi-function NIC without ACS and the PCI bus behind the bridge', () => {
    expect(partition(machine())).toEqual([
      '0000:00:00.0',
      '0000:00:01.0',
      '0000:00:02.0',
      '0000:01:00.0',
      '0000:02:00.0',
      '0000:02:01.0',
      '0000:03:00.0',
      '0000:04:00.0 0000:04:00.1', // multifunction, no ACS capability: pci_acs_enabled() is false
      '0000:05:00.0 0000:06:01.0 0000:06:02.0', // aliased to the PCIe-to-PCI bridge (pci_for_each_dma_alias)
    ]);
  });

  it('a multi-function device with ACS isolation keeps its functions apart', () => {
    expect(partition(machine({ nic: ISOLATED }))).toContain('0000:04:00.0');
    expect(partition(machine({ nic: ISOLATED }))).toContain('0000:04:00.1');
  });

  it('a downstream port without the REQ_ACS_FLAGS on: its device joins the port\'s group', () => {
    expect(partition(machine({ dsp1: OPEN }))).toContain('0000:02:00.0 0000:03:00.0');
    // ... and so does everything below a root port without them (the whole path must be isolated).
    expect(partition(machine({ rp: OPEN }))).toContain('0000:00:01.0 0000:01:00.0 0000:02:00.0 0000:02:01.0 0000:03:00.0 0000:04:00.0 0000:04:00.1');
  });

  it('a bit the capability does not offer counts as hard-wired on (acs_flags &= cap | EC)', () => {
    const noUf = { capability: ['SrcValid', 'ReqRedir', 'CmpltRedir'] as (typeof ALL)[number][], control: ['SrcValid', 'ReqRedir', 'CmpltRedir'] as (typeof ALL)[number][] };
    expect(partition(machine({ dsp1: noUf }))).toContain('0000:03:00.0');
    const t = buildTopology(machine({ dsp1: noUf }));
    expect(acsEnabled(t.device('0000:02:00.0'))).toBe(true);
  });

  it('a port with no ACS capability at all is not isolated', () => {
    expect(partition(machine({ dsp2: null }))).toContain('0000:02:01.0 0000:04:00.0 0000:04:00.1');
  });

  it('numbers groups in probe order and answers per device', () => {
    const t = buildTopology(machine());
    const groups = iommuGroups(t);
    expect(groups.map((g) => g.id)).toEqual(groups.map((_, i) => i));
    expect(iommuGroupOf(t.device('0000:06:02.0'))).toBe(iommuGroupOf(t.device('0000:05:00.0')));
    expect(iommuGroups(t)).toBe(groups); // computed once
  });

  it('the handmade EPYC dump: the groups equal the "IOMMU group:" lines written as the kernel forms them', async () => {
    const { readFileSync } = await import('node:fs');
    const { loadLspci, parseLspciDump } = await import('../dist/src/pci/index.js');
    const text = readFileSync(new URL('./fixtures/lspci/handmade-epyc-switch-acs.vvvnn.txt', import.meta.url), 'utf8');
    const kernel = new Map<string, string[]>();
    for (const f of parseLspciDump(text).functions) kernel.set(f.iommuGroup!, [...(kernel.get(f.iommuGroup!) ?? []), f.bdf]);
    const ours = iommuGroups(loadLspci(text)).map((g) => g.devices.map((d) => d.bdf).sort().join(' ')).sort();
    expect(ours).toEqual([...kernel.values()].map((g) => g.sort().join(' ')).sort());
  });
});
