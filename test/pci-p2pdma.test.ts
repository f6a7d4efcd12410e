// The P2PDMA rules (calc_map_type_and_dist, pci_p2pdma_distance_many, pci_p2pmem_find_many), one row per branch.
import { describe, expect, it } from 'vitest';
import { buildTopology, distanceMany, findProvider, mapType, type Cpu, type DeviceSpec, type Topology } from '../dist/src/pci/index.js';

const INTEL: Cpu = { vendor: 'GenuineIntel', family: 6 };

// One host bridge (8086:2020, whitelisted) with a switch, two root ports and root-bus endpoints.
//   00:00.0 host bridge device 8086:2020
//   00:01.0 root port -> 01:00.0 switch upstream -> 02:00.0 DSP -> 03:00.0, 03:00.1 (one device, two functions)
//                                                -> 02:01.0 DSP -> 04:00.0
//   00:02.0 root port -> 05:00.0 endpoint, 05:01.0 bridge -> 06:00.0
//   00:1f.0, 00:1f.3 endpoints on the root bus
function switchTopology(acs: readonly string[] = [], cpu: Cpu | null = INTEL, hostIds = { vendor: '8086', device: '2020' }): Topology {
  const flag = (bdf: string) => (acs.includes(bdf) ? { acsRedirect: true } : {});
  const d = (bdf: string, extra: Partial<DeviceSpec> = {}): DeviceSpec => ({ bdf, ...flag(bdf), ...extra });
  return buildTopology({
    cpu,
    hostBridges: [
      {
        segment: 0,
        bus: 0,
        devices: [
          d('0000:00:00.0', hostIds),
          d('0000:00:01.0', {
            kind: 'root-port',
            children: [
              d('0000:01:00.0', {
                kind: 'upstream-port',
                children: [
                  d('0000:02:00.0', { kind: 'downstream-port', children: [d('0000:03:00.0'), d('0000:03:00.1')] }),
                  d('0000:02:01.0', { kind: 'downstream-port', children: [d('0000:04:00.0')] }),
                ],
              }),
            ],
          }),
          d('0000:00:02.0', {
            kind: 'root-port',
            children: [d('0000:05:00.0'), d('0000:05:01.0', { kind: 'bridge', children: [d('0000:06:00.0')] })],
          }),
          d('0000:00:1f.0'),
          d('0000:00:1f.3'),
        ],
      },
    ],
  });
}

const ACS_MSG = (client: string, provider: string) => `${client}: ACS redirect is set between the client and provider (${provider})`;
const ACS_FIX = (client: string, list: string) => `${client}: to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=${list}`;
const NO_PATH = (client: string, provider: string) =>
  `${client}: cannot be used for peer-to-peer DMA as the client and provider (${provider}) do not share an upstream bridge or whitelisted host bridge`;

describe('mapType on one host bridge (calc_map_type_and_dist)', () => {
  const cases: { name: string; acs?: string[]; provider: string; client: string; type: string; distance: number; acsRedirect: boolean; reasons: string[]; hostIds?: { vendor: string; device: string } }[] = [
    { name: 'same function', provider: '0000:03:00.0', client: '0000:03:00.0', type: 'BUS_ADDR', distance: 0, acsRedirect: false, reasons: [] },
    { name: 'two functions of one device', provider: '0000:03:00.0', client: '0000:03:00.1', type: 'BUS_ADDR', distance: 2, acsRedirect: false, reasons: [] },
    { name: 'two devices behind one switch', provider: '0000:03:00.0', client: '0000:04:00.0', type: 'BUS_ADDR', distance: 4, acsRedirect: false, reasons: [] },
    { name: 'same switch, reversed', provider: '0000:04:00.0', client: '0000:03:00.1', type: 'BUS_ADDR', distance: 4, acsRedirect: false, reasons: [] },
    { name: 'common upstream at the root port', provider: '0000:05:00.0', client: '0000:06:00.0', type: 'BUS_ADDR', distance: 3, acsRedirect: false, reasons: [] },
    { name: 'endpoint and its own upstream bridge', provider: '0000:06:00.0', client: '0000:05:01.0', type: 'BUS_ADDR', distance: 1, acsRedirect: false, reasons: [] },
    { name: 'different root ports, whitelisted host bridge', provider: '0000:03:00.0', client: '0000:05:00.0', type: 'THRU_HOST_BRIDGE', distance: 6, acsRedirect: false, reasons: [] },
    { name: 'two functions on the root bus (no upstream bridge)', provider: '0000:00:1f.0', client: '0000:00:1f.3', type: 'THRU_HOST_BRIDGE', distance: 2, acsRedirect: false, reasons: [] },
    { name: 'root bus endpoint to a switch endpoint', provider: '0000:00:1f.0', client: '0000:04:00.0', type: 'THRU_HOST_BRIDGE', distance: 5, acsRedirect: false, reasons: [] },
    {
      name: 'ACS redirect on the provider side',
      acs: ['0000:02:00.0'],
      provider: '0000:03:00.0', client: '0000:04:00.0', type: 'THRU_HOST_BRIDGE', distance: 4, acsRedirect: true,
      reasons: [ACS_MSG('0000:04:00.0', '0000:03:00.0'), ACS_FIX('0000:04:00.0', '0000:02:00.0')],
    },
    {
      name: 'ACS redirect on the client side',
      acs: ['0000:02:01.0'],
      provider: '0000:03:00.0', client: '0000:04:00.0', type: 'THRU_HOST_BRIDGE', distance: 4, acsRedirect: true,
      reasons: [ACS_MSG('0000:04:00.0', '0000:03:00.0'), ACS_FIX('0000:04:00.0', '0000:02:01.0')],
    },
    {
      name: 'ACS redirect on both sides (provider path listed first)',
      acs: ['0000:02:00.0', '0000:02:01.0'],
      provider: '0000:04:00.0', client: '0000:03:00.0', type: 'THRU_HOST_BRIDGE', distance: 4, acsRedirect: true,
      reasons: [ACS_MSG('0000:03:00.0', '0000:04:00.0'), ACS_FIX('0000:03:00.0', '0000:02:01.0;0000:02:00.0')],
    },
    {
      name: 'ACS redirect on the common node counts (it is on the provider walk)',
      acs: ['0000:01:00.0'],
      provider: '0000:03:00.0', client: '0000:04:00.0', type: 'THRU_HOST_BRIDGE', distance: 4, acsRedirect: true,
      reasons: [ACS_MSG('0000:04:00.0', '0000:03:00.0'), ACS_FIX('0000:04:00.0', '0000:01:00.0')],
    },
    { name: 'ACS redirect above the common node is ignored', acs: ['0000:00:01.0'], provider: '0000:03:00.0', client: '0000:04:00.0', type: 'BUS_ADDR', distance: 4, acsRedirect: false, reasons: [] },
    { name: 'ACS redirect off the path is ignored', acs: ['0000:02:01.0'], provider: '0000:03:00.0', client: '0000:03:00.1', type: 'BUS_ADDR', distance: 2, acsRedirect: false, reasons: [] },
    {
      name: 'ACS redirect on the provider function itself (same function)',
      acs: ['0000:03:00.0'],
      provider: '0000:03:00.0', client: '0000:03:00.0', type: 'THRU_HOST_BRIDGE', distance: 0, acsRedirect: true,
      reasons: [ACS_MSG('0000:03:00.0', '0000:03:00.0'), ACS_FIX('0000:03:00.0', '0000:03:00.0')],
    },
    { name: 'ACS redirect without a common node is not reported', acs: ['0000:00:01.0', '0000:00:02.0'], provider: '0000:03:00.0', client: '0000:05:00.0', type: 'THRU_HOST_BRIDGE', distance: 6, acsRedirect: false, reasons: [] },
    {
      name: 'ACS redirect and a host bridge not in the whitelist',
      acs: ['0000:02:00.0'], hostIds: { vendor: '8086', device: '3e30' },
      provider: '0000:03:00.0', client: '0000:04:00.0', type: 'NOT_SUPPORTED', distance: 4, acsRedirect: true,
      reasons: [
        ACS_MSG('0000:04:00.0', '0000:03:00.0'),
        ACS_FIX('0000:04:00.0', '0000:02:00.0'),
        '0000:00:00.0: Host bridge not in P2PDMA whitelist: 8086:3e30',
        NO_PATH('0000:04:00.0', '0000:03:00.0'),
      ],
    },
    {
      name: 'different root ports, host bridge not in the whitelist',
      hostIds: { vendor: '8086', device: '3e30' },
      provider: '0000:03:00.0', client: '0000:05:00.0', type: 'NOT_SUPPORTED', distance: 6, acsRedirect: false,
      reasons: ['0000:00:00.0: Host bridge not in P2PDMA whitelist: 8086:3e30', NO_PATH('0000:05:00.0', '0000:03:00.0')],
    },
    { name: 'same-host-bridge-only entry (8086:3c00), same host bridge', hostIds: { vendor: '8086', device: '3c00' }, provider: '0000:03:00.0', client: '0000:05:00.0', type: 'THRU_HOST_BRIDGE', distance: 6, acsRedirect: false, reasons: [] },
    { name: 'same switch needs no whitelist', hostIds: { vendor: '8086', device: '3e30' }, provider: '0000:03:00.0', client: '0000:04:00.0', type: 'BUS_ADDR', distance: 4, acsRedirect: false, reasons: [] },
  ];
  it.each(cases)('$name: $provider -> $client is $type, distance $distance', (c) => {
    const topology = switchTopology(c.acs ?? [], INTEL, c.hostIds);
    const result = mapType(topology.device(c.provider), topology.device(c.client));
    // Every verdict of this table that reached the host bridge step was decided by the whitelist and this Intel CPU.
    expect(result).toEqual({ type: c.type, distance: c.distance, acsRedirect: c.acsRedirect, reasons: c.reasons, cpuDependent: c.type === 'NOT_SUPPORTED' });
  });
});

// Host bridge identities for the two-host-bridge table.
type Identity = 'any' | 'sameOnly' | 'unlisted' | 'none' | 'rootPort' | 'unknownIds';
function hostBridge(bus: number, identity: Identity) {
  const b = bus.toString(16).padStart(2, '0');
  const child = (bus + 1).toString(16).padStart(2, '0');
  const first: Record<Identity, DeviceSpec> = {
    any: { bdf: `0000:${b}:00.0`, vendor: '8086', device: '2020' },
    sameOnly: { bdf: `0000:${b}:00.0`, vendor: '8086', device: '2f00' },
    unlisted: { bdf: `0000:${b}:00.0`, vendor: '8086', device: '6f00' },
    // First device is neither devfn 00.0 nor a root port: no identity, even with whitelisted IDs.
    none: { bdf: `0000:${b}:00.1`, vendor: '8086', device: '2020' },
    // Skylake: a root port at 02.0 is the first device and carries the whitelisted ID.
    rootPort: { bdf: `0000:${b}:02.0`, kind: 'root-port', vendor: '8086', device: '2032' },
    unknownIds: { bdf: `0000:${b}:00.0` },
  };
  return {
    segment: 0,
    bus,
    devices: [first[identity], { bdf: `0000:${b}:03.0`, kind: 'root-port' as const, children: [{ bdf: `0000:${child}:00.0` }] }],
  };
}

describe('host bridge whitelist (host_bridge_whitelist, pci_host_bridge_dev)', () => {
  const identities: Identity[] = ['any', 'sameOnly', 'unlisted', 'none', 'rootPort', 'unknownIds'];
  const allowedAcross = (i: Identity) => i === 'any' || i === 'rootPort';
  const allowedWithin = (i: Identity) => i === 'any' || i === 'rootPort' || i === 'sameOnly';

  const pairs = identities.flatMap((a) => identities.map((b) => ({ a, b })));
  it.each(pairs)('two host bridges: $a x $b', ({ a, b }) => {
    const topology = buildTopology({ cpu: INTEL, hostBridges: [hostBridge(0x00, a), hostBridge(0x80, b)] });
    const result = mapType(topology.device('0000:01:00.0'), topology.device('0000:81:00.0'));
    expect(result.type).toBe(allowedAcross(a) && allowedAcross(b) ? 'THRU_HOST_BRIDGE' : 'NOT_SUPPORTED');
    expect(result.distance).toBe(4);
    expect(result.acsRedirect).toBe(false);
    if (result.type === 'NOT_SUPPORTED') expect(result.reasons.at(-1)).toBe(NO_PATH('0000:81:00.0', '0000:01:00.0'));
    else expect(result.reasons).toEqual([]);
  });

  it.each(identities)('same host bridge, different root ports: %s', (identity) => {
    const hb = hostBridge(0x00, identity);
    hb.devices.push({ bdf: '0000:00:04.0', kind: 'root-port', children: [{ bdf: '0000:02:00.0' }] });
    const topology = buildTopology({ cpu: INTEL, hostBridges: [hb] });
    const result = mapType(topology.device('0000:01:00.0'), topology.device('0000:02:00.0'));
    expect(result.type).toBe(allowedWithin(identity) ? 'THRU_HOST_BRIDGE' : 'NOT_SUPPORTED');
    expect(result.distance).toBe(4);
  });

  it('names why each host bridge was refused', () => {
    const reasons = (a: Identity, b: Identity) => {
      const t = buildTopology({ cpu: INTEL, hostBridges: [hostBridge(0x00, a), hostBridge(0x80, b)] });
      return mapType(t.device('0000:01:00.0'), t.device('0000:81:00.0')).reasons;
    };
    expect(reasons('unlisted', 'any')[0]).toBe('0000:00:00.0: Host bridge not in P2PDMA whitelist: 8086:6f00');
    expect(reasons('any', 'sameOnly')[0]).toBe('0000:80:00.0: host bridge 8086:2f00 is whitelisted only for peer-to-peer DMA under the same host bridge');
    expect(reasons('none', 'any')[0]).toMatch(/^host bridge 0000:00 has no identifying device/);
    expect(reasons('any', 'unknownIds')[0]).toBe('0000:80:00.0: Host bridge not in P2PDMA whitelist: ????:????');
    expect(reasons('unlisted', 'unlisted')).toHaveLength(3);
  });

  it('only the first device of the root bus identifies the host bridge', () => {
    const hb = hostBridge(0x00, 'unlisted');
    hb.devices.splice(1, 0, { bdf: '0000:00:00.1', vendor: '8086', device: '2020' });
    const topology = buildTopology({ cpu: INTEL, hostBridges: [hb, hostBridge(0x80, 'any')] });
    expect(mapType(topology.device('0000:01:00.0'), topology.device('0000:81:00.0')).type).toBe('NOT_SUPPORTED');
  });
});

describe('CPU rule (cpu_supports_p2pdma)', () => {
  const cpus: { cpu: Cpu | null; zen: boolean }[] = [
    { cpu: { vendor: 'AuthenticAMD', family: 0x17 }, zen: true },
    { cpu: { vendor: 'AuthenticAMD', family: 0x19 }, zen: true },
    { cpu: { vendor: 'AuthenticAMD', family: 0x1a }, zen: true },
    { cpu: { vendor: 'AuthenticAMD', family: 0x16 }, zen: false },
    { cpu: { vendor: 'GenuineIntel', family: 0x19 }, zen: false },
    { cpu: { vendor: 'HygonGenuine', family: 0x18 }, zen: false },
    { cpu: null, zen: false },
  ];
  it.each(cpus)('$cpu.vendor family $cpu.family: through unlisted host bridges only if Zen ($zen)', ({ cpu, zen }) => {
    const topology = buildTopology({ cpu, hostBridges: [hostBridge(0x00, 'unlisted'), hostBridge(0x80, 'none')] });
    const result = mapType(topology.device('0000:01:00.0'), topology.device('0000:81:00.0'));
    expect(result.type).toBe(zen ? 'THRU_HOST_BRIDGE' : 'NOT_SUPPORTED');
    expect(result.distance).toBe(4);
    expect(result.reasons.length > 0).toBe(!zen);
  });

  it('AMD Zen with ACS redirect: through the host bridge, with the ACS warning only', () => {
    const topology = switchTopology(['0000:02:01.0'], { vendor: 'AuthenticAMD', family: 25 }, { vendor: '1022', device: '1480' });
    expect(mapType(topology.device('0000:03:00.0'), topology.device('0000:04:00.0'))).toEqual({
      type: 'THRU_HOST_BRIDGE',
      distance: 4,
      acsRedirect: true,
      reasons: [ACS_MSG('0000:04:00.0', '0000:03:00.0'), ACS_FIX('0000:04:00.0', '0000:02:01.0')],
      cpuDependent: true, // the host bridge 1022:1480 is not whitelisted: only the Zen CPU allows this
    });
  });
});

describe('distanceMany (pci_p2pdma_distance_many)', () => {
  const topology = switchTopology(['0000:02:01.0'], INTEL, { vendor: '8086', device: '3c00' });
  const dev = (bdf: string) => topology.device(bdf);
  it.each([
    { name: 'no clients', clients: [] as string[], expected: -1 },
    { name: 'itself', clients: ['0000:03:00.0'], expected: 0 },
    { name: 'sibling function and itself', clients: ['0000:03:00.1', '0000:03:00.0'], expected: 2 },
    { name: 'through the host bridge counts its distance', clients: ['0000:03:00.1', '0000:05:00.0'], expected: 2 + 6 },
    { name: 'ACS-redirected pair counts its distance', clients: ['0000:04:00.0', '0000:03:00.1'], expected: 4 + 2 },
  ])('$name -> $expected', ({ clients, expected }) => {
    expect(distanceMany(dev('0000:03:00.0'), clients.map(dev))).toBe(expected);
  });

  it('is -1 when any pair is NOT_SUPPORTED', () => {
    const t = buildTopology({ cpu: INTEL, hostBridges: [hostBridge(0x00, 'any'), hostBridge(0x80, 'unlisted')] });
    expect(distanceMany(t.device('0000:01:00.0'), [t.device('0000:00:00.0')])).toBe(3);
    expect(distanceMany(t.device('0000:01:00.0'), [t.device('0000:00:00.0'), t.device('0000:81:00.0')])).toBe(-1);
  });

  it('refuses devices of another topology', () => {
    const other = switchTopology();
    expect(() => distanceMany(dev('0000:03:00.0'), [other.device('0000:04:00.0')])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => mapType(dev('0000:03:00.0'), other.device('0000:04:00.0'))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('findProvider (pci_p2pmem_find_many)', () => {
  const bar = (index: number, p2pmem = true) => ({ index, size: '1MiB', p2pmem });
  function providers(): Topology {
    return buildTopology({
      cpu: INTEL,
      hostBridges: [
        {
          segment: 0,
          bus: 0,
          devices: [
            { bdf: '0000:00:00.0', vendor: '8086', device: '2020' },
            {
              bdf: '0000:00:01.0', kind: 'root-port', children: [{
                bdf: '0000:01:00.0', kind: 'upstream-port', children: [
                  { bdf: '0000:02:00.0', kind: 'downstream-port', children: [{ bdf: '0000:03:00.0', bars: [bar(0, false), bar(2), bar(4)] }] },
                  { bdf: '0000:02:01.0', kind: 'downstream-port', children: [{ bdf: '0000:04:00.0', bars: [bar(2)] }] },
                  { bdf: '0000:02:02.0', kind: 'downstream-port', children: [{ bdf: '0000:05:00.0', bars: [bar(0)] }] },
                  { bdf: '0000:02:03.0', kind: 'downstream-port', children: [{ bdf: '0000:06:00.0' }] },
                ],
              }],
            },
            { bdf: '0000:00:02.0', kind: 'root-port', children: [{ bdf: '0000:07:00.0', bars: [bar(0)] }] },
          ],
        },
        { segment: 0, bus: 0x80, devices: [{ bdf: '0000:80:00.0', vendor: '8086', device: '6f00' }, { bdf: '0000:80:01.0', kind: 'root-port', children: [{ bdf: '0000:81:00.0', bars: [bar(0)] }] }] },
      ],
    });
  }

  it('prefers a client that is itself a provider (distance 0)', () => {
    const t = providers();
    const found = findProvider([t.device('0000:04:00.0')]);
    expect(found?.provider.bdf).toBe('0000:04:00.0');
    expect(found?.distance).toBe(0);
  });

  it('breaks ties by lowest BDF, then lowest published BAR index', () => {
    const t = providers();
    // 03, 04 and 05 are all 4 away from 06 behind the same switch; 03's BAR0 is not published.
    const found = findProvider([t.device('0000:06:00.0')]);
    expect(found?.provider.bdf).toBe('0000:03:00.0');
    expect(found?.provider.bar.index).toBe(2);
    expect(found?.distance).toBe(4);
  });

  it('skips unpublished providers and providers with a NOT_SUPPORTED client', () => {
    const t = providers();
    for (const p of t.providers()) if (p.bdf === '0000:03:00.0') p.publish(false);
    expect(findProvider([t.device('0000:06:00.0')])?.provider.bdf).toBe('0000:04:00.0');
    // 81:00.0 sits under a non-whitelisted host bridge: only itself qualifies.
    expect(findProvider([t.device('0000:81:00.0')])?.provider.bdf).toBe('0000:81:00.0');
    expect(findProvider([t.device('0000:81:00.0'), t.device('0000:06:00.0')])).toBeNull();
  });

  it('sums distances over all clients', () => {
    const t = providers();
    // 07 is under the other root port: 07->06 is 2+4=6 through the host bridge; 04->(06,07) = 4+6 = 10, 07->(06,07) = 6+0.
    const found = findProvider([t.device('0000:06:00.0'), t.device('0000:07:00.0')]);
    expect(found?.provider.bdf).toBe('0000:07:00.0');
    expect(found?.distance).toBe(6);
  });

  it('returns null for no clients', () => {
    expect(findProvider([])).toBeNull();
  });
});

describe('the kernel\'s ACS list buffer (128 bytes of seq_buf)', () => {
  // A chain of switches, every downstream port redirecting: the list outgrows the kernel's buffer.
  it('prints at most 127 characters and keeps the last ";" when the list is cut', () => {
    const hx = (n: number) => n.toString(16).padStart(2, '0');
    let leaf: any = { bdf: '0000:15:00.0' };
    for (let bus = 0x14; bus >= 1; bus--) leaf = { bdf: `0000:${hx(bus)}:00.0`, kind: 'bridge', acsRedirect: true, children: [leaf] };
    const t = buildTopology({ cpu: INTEL, hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:01.0', kind: 'root-port', children: [leaf, { bdf: '0000:01:01.0' }].slice(0, 1) }] }] });
    // provider at the bottom, client the root port's first bridge: 20 redirecting bridges on the provider path
    const r = mapType(t.device('0000:15:00.0'), t.device('0000:01:00.0'));
    const fix = r.reasons[1]!;
    const list = fix.slice(fix.indexOf('pci=disable_acs_redir=') + 'pci=disable_acs_redir='.length);
    expect(list).toHaveLength(127);
    expect(list.startsWith('0000:14:00.0;0000:13:00.0;')).toBe(true);
    const short = mapType(t.device('0000:15:00.0'), t.device('0000:13:00.0')).reasons[1]!;
    expect(short.endsWith('pci=disable_acs_redir=0000:14:00.0;0000:13:00.0')).toBe(true);
  });
});
