// explainPair(): the walk as data, the rule, the kernel's warnings, and what would change the verdict. The
// suggested parameter, applied to the topology as pci_enable_acs() would apply it, really gives BUS_ADDR.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyAcsParameters, buildTopology, explainPair, formatExplanation, iommuGroups, loadLspci, mapType, parseAcsParameters, type DeviceSpec, type TopologySpec,
} from '../dist/src/pci/index.js';
import { errorOf } from './support/errors.js';

const text = readFileSync(new URL('./fixtures/lspci/handmade-epyc-switch-acs.vvvnn.txt', import.meta.url), 'utf8');
const INTEL = { vendor: 'GenuineIntel', family: 6 };

describe('explainPair on the handmade switch dump', () => {
  const t = loadLspci(text, { cpu: INTEL });
  const e = explainPair(t, t.device('0000:03:00.0'), t.device('0000:04:00.0'));

  it('walks hop by hop with each bridge\'s ACS bits, meets at the upstream port, distance 4', () => {
    expect(e.providerPath.map((h) => [h.bdf, h.step, h.redirect])).toEqual([['0000:03:00.0', 0, false], ['0000:02:08.0', 1, true], ['0000:01:00.0', 2, false]]);
    expect(e.clientPath.map((h) => [h.bdf, h.step, h.redirect])).toEqual([['0000:04:00.0', 0, false], ['0000:02:10.0', 1, true]]);
    expect(e.providerPath[1]!.acs?.control).toEqual(['SrcValid', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd']);
    expect(e.common).toBe('0000:01:00.0');
    expect(e.distance).toBe(4);
    expect(e.acsRedirectBridges).toEqual(['0000:02:08.0', '0000:02:10.0']);
  });

  it('gives the verdict with the kernel\'s own warnings, in order', () => {
    expect(e.type).toBe('NOT_SUPPORTED');
    expect(e.cpuDependent).toBe(true);
    expect(e.kernelWarnings).toEqual([
      '0000:04:00.0: ACS redirect is set between the client and provider (0000:03:00.0)',
      '0000:04:00.0: to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=0000:02:08.0;0000:02:10.0',
      '0000:00:00.0: Host bridge not in P2PDMA whitelist: 1022:1480',
      '0000:04:00.0: cannot be used for peer-to-peer DMA as the client and provider (0000:03:00.0) do not share an upstream bridge or whitelisted host bridge',
    ]);
    expect(e.whitelist).toEqual([{ hostBridge: '0000:00', identity: '0000:00:00.0', ids: '1022:1480', entry: null, allowed: false, checkedByKernel: true, reason: '0000:00:00.0: Host bridge not in P2PDMA whitelist: 1022:1480' }]);
  });

  it('suggests disable_acs_redir= with the exact list and the groups it merges; applied, the pair is BUS_ADDR', () => {
    expect(e.change.kind).toBe('kernel-parameter');
    if (e.change.kind !== 'kernel-parameter') return;
    expect(e.change.parameter).toBe('pci=disable_acs_redir=0000:02:08.0;0000:02:10.0');
    expect(e.change.cost.mergedGroups.map((g) => g.devices)).toEqual([['0000:02:08.0', '0000:03:00.0'], ['0000:02:10.0', '0000:04:00.0']]);
    expect([...e.change.cost.devicesLosingIsolation].sort()).toEqual(['0000:02:08.0', '0000:02:10.0', '0000:03:00.0', '0000:04:00.0']);
    for (const parameter of [e.change.parameter, e.change.alternative]) {
      const after = applyAcsParameters(t, parameter);
      expect(mapType(after.device('0000:03:00.0'), after.device('0000:04:00.0')), parameter).toMatchObject({ type: 'BUS_ADDR', distance: 4 });
      expect(after.device('0000:02:08.0').acs!.control & 0x2c).toBe(0);
    }
  });

  it('explains an AMD Zen pass and a BUS_ADDR pair', () => {
    const amd = loadLspci(text);
    const zen = explainPair(amd, amd.device('0000:03:00.0'), amd.device('0000:04:00.0'));
    expect(zen.type).toBe('THRU_HOST_BRIDGE');
    expect(zen.rule).toMatch(/AMD Zen or newer/);
    expect(zen.whitelist[0]!.checkedByKernel).toBe(false);
    expect(zen.notes.join('\n')).toMatch(/CPU taken as AuthenticAMD/);
    const same = explainPair(amd, amd.device('0000:05:00.0'), amd.device('0000:05:00.0'));
    expect(same).toMatchObject({ type: 'BUS_ADDR', distance: 0, change: { kind: 'none-needed' } });
  });

  it('formats as plain text a report cell can show', () => {
    const out = formatExplanation(e);
    expect(out).toMatch(/^0000:03:00\.0 \(provider\) -> 0000:04:00\.0 \(client\): NOT_SUPPORTED, distance 4/);
    expect(out).toContain('pci=disable_acs_redir=0000:02:08.0;0000:02:10.0');
    expect(out).not.toMatch(/\u001b/); // no terminal colours
  });
});

describe('when no setting can', () => {
  const twoHostBridges: TopologySpec = {
    cpu: INTEL,
    hostBridges: [
      { segment: 0, bus: 0, devices: [{ bdf: '0000:00:00.0', vendor: '8086', device: '6f00' }, { bdf: '0000:00:01.0', kind: 'root-port', children: [{ bdf: '0000:01:00.0' }] }] },
      { segment: 0, bus: 0x80, devices: [{ bdf: '0000:80:00.0', vendor: '8086', device: '6f00' }, { bdf: '0000:80:01.0', kind: 'root-port', children: [{ bdf: '0000:81:00.0' }] }] },
    ],
  };
  it('two host bridges, neither whitelisted: impossible, and says why', () => {
    const t = buildTopology(twoHostBridges);
    const e = explainPair(t, t.device('0000:01:00.0'), t.device('0000:81:00.0'));
    expect(e.type).toBe('NOT_SUPPORTED');
    expect(e.change).toMatchObject({ kind: 'impossible' });
    if (e.change.kind === 'impossible') expect(e.change.reason).toMatch(/share no upstream bridge.*neither host bridge is whitelisted/);
    // The kernel stops at the first refused host bridge: the second is not consulted.
    expect(e.whitelist.map((w) => w.checkedByKernel)).toEqual([true, false]);
  });
  it('whitelisted host bridges: THRU_HOST_BRIDGE is the best the machine can do, naming the entry', () => {
    const spec = structuredClone(twoHostBridges);
    spec.hostBridges[0]!.devices[0]!.device = '2020';
    spec.hostBridges[1]!.devices[0]!.device = '2020';
    const t = buildTopology(spec);
    const e = explainPair(t, t.device('0000:01:00.0'), t.device('0000:81:00.0'));
    expect(e.type).toBe('THRU_HOST_BRIDGE');
    expect(e.rule).toMatch(/8086:2020 \(Intel Skylake-E\)/);
    expect(e.change).toMatchObject({ kind: 'impossible' });
  });
  it('refuses devices of another topology with a coded error', () => {
    const a = buildTopology(twoHostBridges);
    const b = buildTopology(twoHostBridges);
    expect(errorOf(() => explainPair(a, a.device('0000:01:00.0'), b.device('0000:81:00.0')))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'client' });
  });
});

// Random switch trees with random ACS control bits: whenever the pair shares an upstream bridge, the suggested
// parameter turns the verdict into BUS_ADDR; otherwise explain says no setting can.
describe('the suggested parameter always works (random trees)', () => {
  const bits = fc.subarray(['SrcValid', 'TransBlk', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd', 'EgressCtrl', 'DirectTrans'] as const);
  const arbTopology = fc.record({ depth: fc.integer({ min: 1, max: 5 }), fanout: fc.integer({ min: 1, max: 3 }), controls: fc.array(bits, { minLength: 64, maxLength: 64 }), short: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }) });
  it('for every pair of endpoints', () => {
    fc.assert(fc.property(arbTopology, fc.nat(), fc.nat(), ({ depth, fanout, controls, short }, pi, ci) => {
      let bus = 1;
      let k = 0;
      const node = (bdf: string, level: number): DeviceSpec => {
        if (level === depth) return { bdf };
        const secondary = bus++;
        const children = Array.from({ length: fanout }, (_, i) => node(`0000:${secondary.toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}.0`, level + 1));
        const j = k++ % 64;
        return short[j]! ? { bdf, kind: 'bridge', acsRedirect: controls[j]!.includes('ReqRedir'), children } : { bdf, kind: 'bridge', acs: { capability: ['SrcValid', 'TransBlk', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd', 'EgressCtrl', 'DirectTrans'], control: [...controls[j]!] }, children };
      };
      const t = buildTopology({ cpu: INTEL, hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:00.0', vendor: '8086', device: '6f00' }, node('0000:00:01.0', 0), node('0000:00:02.0', 0)] }] });
      const endpoints = t.endpoints().filter((d) => d.bdf !== '0000:00:00.0');
      const provider = endpoints[pi % endpoints.length]!;
      const client = endpoints[ci % endpoints.length]!;
      const e = explainPair(t, provider, client);
      if (e.change.kind === 'kernel-parameter') {
        const after = applyAcsParameters(t, e.change.parameter);
        expect(mapType(after.device(provider.bdf), after.device(client.bdf)).type).toBe('BUS_ADDR');
        expect(iommuGroups(after).length).toBeLessThanOrEqual(iommuGroups(t).length);
      } else if (e.change.kind === 'impossible') {
        expect(e.common).toBeNull();
      } else expect(e.type).toBe('BUS_ADDR');
    }), { numRuns: 300 });
  });
});

describe('the ACS kernel parameters (kernel-parameters.txt syntax, pci_enable_acs())', () => {
  const t = loadLspci(text, { cpu: INTEL });
  it('parses pci=disable_acs_redir= and pci=config_acs=, several words and options joined by commas', () => {
    expect(parseAcsParameters('pci=disable_acs_redir=0000:02:08.0;02:10.0')).toEqual({ disableAcsRedir: '0000:02:08.0;02:10.0' });
    expect(parseAcsParameters('pci=noats,config_acs=1x@pci:10b5:8747'.replace('noats,', ''))).toEqual({ configAcs: '1x@pci:10b5:8747' });
    expect(parseAcsParameters('pci=disable_acs_redir=02:08.0 pci=config_acs=0@02:10.0')).toEqual({ disableAcsRedir: '02:08.0', configAcs: '0@02:10.0' });
  });
  it('matches devices by [domain:]bus:dev.fn, by path and by pci:vendor:device', () => {
    const byPath = applyAcsParameters(t, 'pci=disable_acs_redir=00:01.1/00.0/08.0');
    expect(byPath.device('0000:02:08.0').acsRedirect).toBe(false);
    expect(byPath.device('0000:02:10.0').acsRedirect).toBe(true);
    const byId = applyAcsParameters(t, 'pci=disable_acs_redir=pci:10b5:8747');
    expect(['0000:02:08.0', '0000:02:10.0', '0000:02:18.0'].map((b) => byId.device(b).acsRedirect)).toEqual([false, false, false]);
    expect(byId.device('0000:00:01.1').acsRedirect).toBe(true);
  });
  it('config_acs=: flags written MSB first, x leaves the firmware bit, the first entry naming a device decides', () => {
    const after = applyAcsParameters(t, 'pci=config_acs=1111111@0000:02:18.0;0000000@0000:02:18.0');
    expect(after.device('0000:02:18.0').acs!.control).toBe(0x7f);
    const sv = applyAcsParameters(t, 'pci=config_acs=0@0000:02:08.0');
    expect(sv.device('0000:02:08.0').acs!.control).toBe(0x1c); // only SrcValid (bit 0) cleared
  });
  it('refuses what the kernel would refuse, with coded errors', () => {
    for (const bad of ['pci=config_acs=02:08.0', 'pci=config_acs=12@02:08.0', 'pci=config_acs=11111111@02:08.0', 'pci=disable_acs_redir=zz', 'acs=on', 'pci=noats', '']) {
      expect(errorOf(() => applyAcsParameters(t, bad)), bad).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'parameter' });
    }
  });
});
