// lspci -tv / -tvnn import: real-looking trees, every shape ls-tree.c prints, errors by line, seeded round trips.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadLspci, mapType, parseLspciTree, type DeviceSpec, type TopologySpec } from '../dist/src/pci/index.js';
import { printLspciTree } from './support/lspci-printer.js';
import { errorOf } from './support/errors.js';

const twoDomains = readFileSync(new URL('../examples/lspci-two-domains.txt', import.meta.url), 'utf8');

describe('the example lspci -tvnn tree', () => {
  const t = loadLspci(twoDomains);

  it('has one host bridge per root bus, in printed order, across domains', () => {
    expect(t.hostBridges.map((hb) => hb.name)).toEqual(['0001:00', '0000:80', '0000:00']);
  });

  it('reads every function with its bus from the parent bridge', () => {
    expect(t.devices().map((d) => `${d.bdf} ${d.kind}${d.secondaryBus === undefined ? '' : ` ${d.secondaryBus.toString(16)}`}`)).toEqual([
      '0001:00:00.0 endpoint',
      '0001:00:01.0 root-port 1',
      '0001:01:00.0 bridge 2', // an empty secondary bus, below a root port: kind unknown
      '0001:00:02.0 root-port 3',
      '0001:03:00.0 endpoint',
      '0001:03:00.1 endpoint',
      '0000:80:00.0 root-port 81',
      '0000:81:00.0 endpoint',
      '0000:80:01.0 root-port 82', // empty bridge
      '0000:80:05.0 endpoint',
      '0000:00:00.0 endpoint',
      '0000:00:01.0 root-port 1',
      '0000:01:00.0 upstream-port 2',
      '0000:02:00.0 downstream-port 3',
      '0000:03:00.0 endpoint',
      '0000:02:01.0 downstream-port 4',
      '0000:04:00.0 endpoint',
      '0000:02:02.0 downstream-port 5',
      '0000:00:1c.0 root-port 6',
      '0000:06:00.0 endpoint',
      '0000:06:00.1 endpoint',
      '0000:00:1f.0 endpoint',
      '0000:00:1f.2 endpoint',
      '0000:00:1f.4 endpoint',
    ]);
  });

  it('splits names, bracketed vendor text, IDs and revisions', () => {
    const navi = t.device('0000:06:00.0');
    expect(navi.name).toBe('Advanced Micro Devices, Inc. [AMD/ATI] Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]');
    expect(navi.ids).toBe('1002:73bf');
    expect(t.device('0000:00:00.0').ids).toBe('8086:2020');
    expect(t.device('0000:00:00.0').name).toBe('Intel Corporation Sky Lake-E DMI3 Registers');
    expect(t.device('0001:03:00.1').name).toBe('Mellanox Technologies MT28908 Family [ConnectX-6]');
    expect(t.device('0000:00:01.0').ids).toBeUndefined(); // lspci -t prints no names for bridges
  });

  it('gives the p2p rules the right shape', () => {
    const d = (bdf: string) => t.device(bdf);
    expect(mapType(d('0000:03:00.0'), d('0000:04:00.0'))).toMatchObject({ type: 'BUS_ADDR', distance: 4 });
    expect(mapType(d('0000:06:00.0'), d('0000:06:00.1'))).toMatchObject({ type: 'BUS_ADDR', distance: 2 });
    expect(mapType(d('0000:03:00.0'), d('0000:06:00.0'))).toMatchObject({ type: 'THRU_HOST_BRIDGE', distance: 6 }); // 8086:2020
    expect(mapType(d('0001:03:00.0'), d('0000:00:1f.0'))).toMatchObject({ type: 'THRU_HOST_BRIDGE', distance: 3 }); // 8086:09a2 and 8086:2020
    expect(mapType(d('0000:81:00.0'), d('0000:03:00.0'))).toMatchObject({ type: 'NOT_SUPPORTED' }); // 80:00.0 is a root port without IDs
  });

  it('applies ACS redirect and CPU options', () => {
    const amd = loadLspci(twoDomains, { acsRedirect: ['0000:02:01.0'], cpu: { vendor: 'AuthenticAMD', family: 0x19 } });
    expect(amd.device('0000:02:01.0').acsRedirect).toBe(true);
    expect(mapType(amd.device('0000:03:00.0'), amd.device('0000:04:00.0'))).toMatchObject({ type: 'THRU_HOST_BRIDGE', acsRedirect: true });
    expect(mapType(amd.device('0000:81:00.0'), amd.device('0000:03:00.0')).type).toBe('THRU_HOST_BRIDGE');
    expect(errorOf(() => loadLspci(twoDomains, { acsRedirect: ['0000:09:00.0'] }))).toMatchObject({ code: 'ERR_UNKNOWN_DEVICE', bdf: '0000:09:00.0' });
  });
});

describe('tree shapes', () => {
  const shapes: { name: string; text: string; bdfs: string[] }[] = [
    { name: 'single domain, -tv without IDs', text: '-[0000:00]-+-00.0  Intel Corporation Device\n           \\-1f.3  Intel Corporation Cannon Lake PCH cAVS\n', bdfs: ['0000:00:00.0', '0000:00:1f.3'] },
    { name: 'one device on the root bus', text: '-[0000:00]---00.0  Red Hat, Inc. QEMU PCIe Host bridge [1b36:0008]\n', bdfs: ['0000:00:00.0'] },
    { name: 'lspci -t (no names)', text: '-[0000:00]-+-00.0\n           +-02.0-[01]----00.0\n           \\-02.1-[02]--\n', bdfs: ['0000:00:00.0', '0000:00:02.0', '0000:01:00.0', '0000:00:02.1'] },
    { name: 'lspci -tn (IDs only)', text: '-[0000:00]-+-00.0  8086:2020\n           \\-01.0-[01]----00.0  10de:2204\n', bdfs: ['0000:00:00.0', '0000:00:01.0', '0000:01:00.0'] },
    { name: 'CRLF and trailing spaces', text: '-[0000:00]-+-00.0  Host [8086:2020]   \r\n           \\-01.0  Other [8086:1234]\r\n\r\n', bdfs: ['0000:00:00.0', '0000:00:01.0'] },
    { name: 'a root bus with nothing on it', text: '-+-[0000:40]-\n \\-[0000:00]---00.0\n', bdfs: ['0000:00:00.0'] },
    { name: 'VMD domain', text: '-+-[10000:00]-+-02.0-[01]----00.0\n |            \\-03.0-[02]--\n \\-[0000:00]---00.0\n', bdfs: ['10000:00:02.0', '10000:01:00.0', '10000:00:03.0', '0000:00:00.0'] },
  ];
  it.each(shapes)('$name', ({ text, bdfs }) => {
    expect(loadLspci(text).devices().map((d) => d.bdf)).toEqual(bdfs);
  });

  it('reads -tvn IDs and -tv names', () => {
    const t = loadLspci(shapes[3]!.text);
    expect(t.device('0000:01:00.0').ids).toBe('10de:2204');
    expect(t.device('0000:01:00.0').name).toBeUndefined();
    expect(loadLspci(shapes[0]!.text).device('0000:00:1f.3').ids).toBeUndefined();
  });
});

describe('malformed and truncated output names the line', () => {
  const lines = twoDomains.trimEnd().split('\n');
  const cases: { name: string; text: string; line: number }[] = [
    { name: 'empty input', text: '\n\n', line: 1 },
    { name: 'not a tree', text: '00:00.0 Host bridge: Intel Corporation Device 2020\n', line: 1 },
    { name: 'cut after the first root bus line', text: lines.slice(0, 1).join('\n'), line: 1 },
    { name: 'cut inside the second domain', text: lines.slice(0, 6).join('\n'), line: 6 },
    { name: 'cut inside a switch', text: lines.slice(0, 9).join('\n'), line: 9 },
    { name: 'cut before the last entry', text: lines.slice(0, lines.length - 1).join('\n'), line: 15 },
    { name: 'missing "|" inside a branch', text: lines.map((l, i) => (i === 9 ? ` ${l.slice(1, 13)} ${l.slice(14)}` : l)).join('\n'), line: 10 },
    { name: 'malformed connector', text: lines.map((l, i) => (i === 13 ? l.replace('+-1f.0', '*-1f.0') : l)).join('\n'), line: 14 },
    { name: 'bad function', text: lines.map((l, i) => (i === 13 ? l.replace('1f.0', '1g.0') : l)).join('\n'), line: 14 },
    { name: 'device number above 1f', text: lines.map((l, i) => (i === 13 ? l.replace('1f.0', '3f.0') : l)).join('\n'), line: 14 },
    { name: 'text glued to a function', text: lines.map((l, i) => (i === 13 ? l.replace('1f.0  ', '1f.0 ') : l)).join('\n'), line: 14 },
    { name: 'text after the tree', text: twoDomains + 'Unable to load libkmod resources\n', line: 17 },
    { name: 'function listed twice', text: '-[0000:00]-+-00.0\n           \\-00.0\n', line: 2 },
    { name: 'bridge bus range reversed', text: '-[0000:00]---01.0-[05-03]--\n', line: 1 },
    { name: 'bridge secondary bus not above its bus', text: '-[0000:05]---01.0-[05]--\n', line: 1 },
    { name: 'child bridge outside its parent range', text: '-[0000:00]---01.0-[01-02]----00.0-[07]--\n', line: 1 },
    { name: 'bridge with several buses', text: '-[0000:00]---01.0-[01-03]-+-[0000:01]---00.0\n                          \\-[0000:03]---00.0\n', line: 1 },
    { name: 'a bus number used twice (caught by the model)', text: '-+-[0000:00]---01.0-[01]----00.0\n \\-[0000:01]---00.0\n', line: 2 },
  ];
  it.each(cases)('$name -> line $line', ({ text, line }) => {
    const err = errorOf(() => loadLspci(text));
    expect(err?.code).toBe('ERR_LSPCI_PARSE');
    expect(err.line).toBe(line);
    expect(err.message.startsWith(`line ${line}: `)).toBe(true);
  });
});

// --- seeded random trees: print as ls-tree.c does, parse back, compare; truncate, expect an error.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSpec(random: () => number): { spec: TopologySpec; names: Map<string, string> } {
  const int = (n: number) => Math.floor(random() * n);
  const hx = (n: number, w: number) => n.toString(16).padStart(w, '0');
  const names = new Map<string, string>();
  const words = ['Intel Corporation', 'Advanced Micro Devices, Inc. [AMD/ATI]', 'NVIDIA Corporation', 'Samsung Electronics Co Ltd', 'Broadcom / LSI', 'Mellanox Technologies'];
  const models = ['Device', 'Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]', 'NVMe SSD Controller SM981/PM981/PM983', 'PEX 8747 48-Lane PCIe Switch', 'GA102 [GeForce RTX 3090]'];
  const hostBridges: TopologySpec['hostBridges'] = [];
  for (let s = 0, segments = 1 + int(2); s < segments; s++) {
    const segment = s === 0 ? 0 : 1 + int(0x20);
    let busCursor = int(3);
    for (let r = 0, roots = 1 + int(3); r < roots && busCursor < 200; r++) {
      const rootBus = busCursor++;
      const bus = (number: number, depth: number): DeviceSpec[] => {
        const devices: DeviceSpec[] = [];
        const slots = [...new Set(Array.from({ length: 1 + int(3) }, () => int(32)))].sort((a, b) => a - b);
        for (const slot of slots) {
          const fns = [...new Set([0, ...Array.from({ length: int(3) }, () => int(8))])].sort((a, b) => a - b);
          for (const fn of fns) {
            const bdf = `${hx(segment, 4)}:${hx(number, 2)}:${hx(slot, 2)}.${fn}`;
            if (depth < 3 && busCursor < 240 && random() < 0.35) {
              const secondary = busCursor++;
              const children = random() < 0.25 ? [] : bus(secondary, depth + 1);
              devices.push(children.length > 0 ? { bdf, secondaryBus: secondary, children } : { bdf, secondaryBus: secondary });
            } else {
              const ids = random() < 0.7 ? ` [${hx(int(0x10000), 4)}:${hx(int(0x10000), 4)}]` : '';
              const rev = random() < 0.5 ? ` (rev ${hx(int(256), 2)})` : '';
              names.set(bdf, `${words[int(words.length)]} ${models[int(models.length)]}${ids}${rev}`);
              devices.push({ bdf });
            }
          }
        }
        return devices;
      };
      hostBridges.push({ segment, bus: rootBus, devices: bus(rootBus, 0) });
      busCursor += int(20);
    }
  }
  return { spec: { hostBridges }, names };
}

function shape(devices: DeviceSpec[]): unknown[] {
  return devices.map((d) => [d.bdf, d.secondaryBus ?? null, shape(d.children ?? [])]);
}

describe('seeded round trips through the ls-tree.c format', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  console.log(`pci-lspci round-trip seed: ${seed} (rerun with SEED=${seed})`);
  const random = mulberry32(seed);
  const trees = Array.from({ length: 200 }, () => randomSpec(random));

  it('parses back the same tree, names and IDs', () => {
    for (const [i, { spec, names }] of trees.entries()) {
      const text = printLspciTree(spec, (d) => names.get(d.bdf) ?? '');
      const parsed = parseLspciTree(text);
      expect(parsed.hostBridges.map((hb) => [hb.segment, hb.bus, shape(hb.devices)]), `seed ${seed} tree ${i}:\n${text}`).toEqual(
        spec.hostBridges.map((hb) => [hb.segment, hb.bus, shape(hb.devices)]),
      );
      const topology = loadLspci(text);
      for (const device of topology.endpoints()) {
        const printed = names.get(device.bdf)!.replace(/ \(rev [0-9a-f]{2}\)$/, '');
        const ids = / \[([0-9a-f]{4}:[0-9a-f]{4})\]$/.exec(printed);
        expect(device.ids).toBe(ids?.[1]);
        expect(device.name).toBe(ids ? printed.slice(0, ids.index) : printed);
      }
    }
  });

  it('rejects every truncation by whole lines, naming a line that was kept', () => {
    for (const [i, { spec, names }] of trees.entries()) {
      const lines = printLspciTree(spec, (d) => names.get(d.bdf) ?? '').trimEnd().split('\n');
      if (lines.length < 2) continue;
      const keep = 1 + Math.floor(random() * (lines.length - 1));
      const err = errorOf(() => loadLspci(lines.slice(0, keep).join('\n') + '\n'));
      expect(err?.code, `seed ${seed} tree ${i} cut to ${keep} lines`).toBe('ERR_LSPCI_PARSE');
      expect(err.line).toBeGreaterThanOrEqual(1);
      expect(err.line).toBeLessThanOrEqual(keep);
    }
  });
});
