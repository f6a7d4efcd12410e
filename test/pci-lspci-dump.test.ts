// The full lspci dump (-vv, -vvv, -nn, -D, -PP, hex dumps): a corpus of public dumps loads; the tree from a
// dump alone equals the -tvnn tree of the same machine; what people paste (tabs or spaces, BOM, CRLF, quoting,
// prompts, wrapped lines, access denied) reads the same; malformed dumps fail with the line and what was expected.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadLspci, mapType, parseLspci, parseLspciDump, type Topology } from '../dist/src/pci/index.js';
import { errorOf } from './support/errors.js';

const dir = new URL('./fixtures/lspci/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, dir), 'utf8');
const corpus = readdirSync(dir).filter((name) => name.endsWith('.txt')).sort();

// Each function's place: parent bridge (or root bus) and whether it is a bridge.
function shape(t: Topology): string[] {
  return t.devices().map((d) => `${d.bdf} <- ${d.upstream?.bdf ?? `root ${d.hostBridge.name}`}${d.isBridge ? ` bridge ${d.secondaryBus?.toString(16)}` : ''}`).sort();
}

describe('the corpus of public dumps', () => {
  it('has at least 8 machines, Intel and AMD, with switches, GPUs and NVMe', () => {
    const machines = new Set(corpus.map((name) => name.replace(/\.(v|vvv|vvvnn|tvnn|xxxx)\.txt$/, '')));
    expect(machines.size).toBeGreaterThanOrEqual(8);
    const all = corpus.map(fixture).join('\n');
    expect(all).toContain('Advanced Micro Devices');
    expect(all).toContain('Intel Corporation');
    expect(all).toMatch(/Express \(v\d\) (Upstream|Downstream) Port/);
    expect(all).toMatch(/VGA compatible controller|3D controller/);
    expect(all).toContain('Non-Volatile memory controller');
  });

  it.each(corpus)('%s loads', (name) => {
    const t = loadLspci(fixture(name));
    expect(t.devices().length).toBeGreaterThan(3);
    // Every function is reachable from a host bridge and every bridge's children sit on its secondary bus.
    for (const d of t.devices()) if (d.upstream) expect(d.bus).toBe(d.upstream.secondaryBus);
  });

  it.each(['asus-p6t6', 'fujitsu-p8010', 'fsl-p2020', 'PCI-X-bridges-and-domains'])('%s: the tree from -vvvnn alone, from the hex dump alone and from -tvnn are the same', (machine) => {
    const tree = loadLspci(fixture(`pciutils-${machine}.tvnn.txt`));
    const dump = loadLspci(fixture(`pciutils-${machine}.vvvnn.txt`));
    const hex = loadLspci(fixture(`pciutils-${machine}.xxxx.txt`));
    expect(shape(dump)).toEqual(shape(tree));
    expect(shape(hex)).toEqual(shape(tree));
    // Both at once: they agree, so they load as one machine.
    const both = loadLspci(`${fixture(`pciutils-${machine}.tvnn.txt`)}\n${fixture(`pciutils-${machine}.vvvnn.txt`)}`);
    expect(shape(both)).toEqual(shape(tree));
    expect(parseLspci(`${fixture(`pciutils-${machine}.vvvnn.txt`)}\n${fixture(`pciutils-${machine}.tvnn.txt`)}`).format).toBe('tree+dump');
  });

  it('reads port types, ACS and BAR flags of the P6T6 (X58 with a switch and a GeForce)', () => {
    const t = loadLspci(fixture('pciutils-asus-p6t6.vvvnn.txt'));
    expect(t.device('0000:02:00.0').portType).toBe('upstream-port');
    expect(t.device('0000:03:00.0').portType).toBe('downstream-port');
    expect(t.device('0000:00:03.0').portType).toBe('root-port');
    const gpu = t.device('0000:06:00.0');
    expect(gpu.ids).toBe('10de:0a65');
    expect(gpu.bars.map((b) => [b.index, b.prefetchable, b.is64bit])).toEqual([[0, false, false], [1, true, true], [3, true, true]]);
    expect(gpu.multifunction).toBe(true);
    // A tree and a hex dump of the same machine give the same ACS bits as the decoded text.
    const hex = loadLspci(fixture('pciutils-asus-p6t6.xxxx.txt'));
    for (const d of t.devices()) expect(hex.device(d.bdf).acs, d.bdf).toEqual(d.acs);
  });

  it('reads the Broadwell-EP server: a PCIe-to-PCI bridge behind a Renesas switch, the P100 BARs, conventional PCI functions', () => {
    const t = loadLspci(fixture('xeon-e5v4-p100-renesas.vvv.txt'));
    expect(t.device('0000:09:00.0').portType).toBe('pcie-to-pci-bridge');
    expect(t.device('0000:0a:00.0').upstream?.bdf).toBe('0000:09:00.0');
    const p100 = t.device('0000:04:00.0');
    expect(p100.bar(1)?.details).toMatchObject({ address: '0x3b800000000', reportedSize: 16 * 2 ** 30, prefetchable: true, is64bit: true });
    expect(t.device('0000:00:1d.0').portType).toBe('pci');
    expect(t.cpuOrigin).toBe('inferred');
    expect(t.cpu).toEqual({ vendor: 'GenuineIntel', family: 6 });
  });

  it('infers an AMD Zen CPU from a Renoir root complex and says so', () => {
    const t = loadLspci(fixture('lenovo-yoga-slim7-amd.v.txt'));
    expect(t.cpu).toEqual({ vendor: 'AuthenticAMD', family: 0x17 });
    expect(t.notes.join('\n')).toMatch(/CPU taken as AuthenticAMD family 0x17 from host bridge 0000:00:00\.0 .*Renoir Root Complex/);
    expect(loadLspci(fixture('lenovo-yoga-slim7-amd.v.txt'), { cpu: null }).cpu).toBeNull();
  });

  it('matches whitelisted Skylake-SP host bridges by name when the dump has no -nn IDs', () => {
    const t = loadLspci(fixture('skylake-sp-connectx.vvv.txt'));
    const ids = t.hostBridges.map((hb) => `${hb.devices[0]!.bdf} ${hb.devices[0]!.ids}`);
    expect(ids[0]).toBe('0000:00:00.0 8086:2020');
    expect(ids.filter((id) => id.endsWith(' 8086:2030'))).toHaveLength(6);
    // 0000:80 starts with 80:04.0 (CBDMA): neither 00.0 nor a root port, so it has no identity (pci_host_bridge_dev()).
    expect(ids).toContain('0000:80:04.0 undefined');
    const [a, b] = [t.hostBridges[1]!, t.hostBridges[2]!].map((hb) => hb.devices.find((d) => d.children.length > 0)!.children[0]!);
    expect(mapType(a!, b!).type).toBe('THRU_HOST_BRIDGE');
  });
});

describe('hand-worked ACS on switch ports (handmade-epyc-switch-acs)', () => {
  const text = fixture('handmade-epyc-switch-acs.vvvnn.txt');
  const intel = loadLspci(text, { cpu: { vendor: 'GenuineIntel', family: 6 } });
  const d = (t: Topology, bdf: string) => t.device(bdf);

  it('reads every ACS bit, the slot and hot-plug, Resizable BAR and SR-IOV regions', () => {
    expect(d(intel, '0000:02:08.0').acs).toEqual({ capability: 0x7f, control: 0x1d });
    expect(d(intel, '0000:02:18.0').acs).toEqual({ capability: 0x7f, control: 0 });
    expect(d(intel, '0000:02:08.0').slot).toEqual({ number: 1, hotPlug: true, surprise: false });
    const gpu = d(intel, '0000:03:00.0');
    expect(gpu.bar(1)?.details.resizable?.supported).toHaveLength(11);
    expect(gpu.bar(1)?.details.resizable?.current).toBe(64 * 2 ** 30);
    expect(gpu.sriov).toEqual({ totalVfs: 20, numVfs: 0, vfDevice: '20f1', bars: [{ index: 0, address: '0xf1000000' }, { index: 1, address: '0x38800000000', prefetchable: true, is64bit: true }, { index: 3, address: '0x39002000000', prefetchable: true, is64bit: true }] });
  });

  it('ReqRedir on both downstream ports: THRU_HOST_BRIDGE only with AMD Zen, else NOT_SUPPORTED (host bridge 1022:1480 is not listed)', () => {
    const amd = loadLspci(text);
    expect(mapType(d(amd, '0000:03:00.0'), d(amd, '0000:04:00.0'))).toMatchObject({ type: 'THRU_HOST_BRIDGE', distance: 4, acsRedirect: true, cpuDependent: true });
    expect(mapType(d(intel, '0000:03:00.0'), d(intel, '0000:04:00.0'))).toMatchObject({ type: 'NOT_SUPPORTED', distance: 4, acsRedirect: true });
    expect(mapType(d(intel, '0000:03:00.0'), d(intel, '0000:04:00.0')).reasons[1]).toBe(
      '0000:04:00.0: to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=0000:02:08.0;0000:02:10.0',
    );
  });

  it('ReqRedir on the provider port only still counts (the common node is the upstream port above it)', () => {
    const r = mapType(d(intel, '0000:05:00.0'), d(intel, '0000:03:00.0'));
    expect(r).toMatchObject({ type: 'NOT_SUPPORTED', acsRedirect: true });
    expect(r.reasons[1]).toMatch(/disable_acs_redir=0000:02:08\.0$/);
  });

  it('without ReqRedir anywhere on the path: BUS_ADDR (ACS redirect on the root port above the common node does not count)', () => {
    const edited = text.replace(/(02:08\.0[\s\S]*?ACSCtl:\tSrcValid\+ TransBlk- )ReqRedir\+ CmpltRedir\+/, '$1ReqRedir- CmpltRedir-').replace(/(02:10\.0[\s\S]*?ACSCtl:\tSrcValid\+ TransBlk- )ReqRedir\+ CmpltRedir\+/, '$1ReqRedir- CmpltRedir-');
    const t = loadLspci(edited, { cpu: { vendor: 'GenuineIntel', family: 6 } });
    expect(d(t, '0000:00:01.1').acsRedirect).toBe(true);
    expect(mapType(d(t, '0000:03:00.0'), d(t, '0000:04:00.0'))).toMatchObject({ type: 'BUS_ADDR', distance: 4, acsRedirect: false, reasons: [] });
  });

  it('EgressCtrl alone counts as redirect, as pci_bridge_has_acs_redir() reads it', () => {
    const edited = text.replace(/(02:18\.0[\s\S]*?ACSCtl:\t)SrcValid- TransBlk- ReqRedir- CmpltRedir- UpstreamFwd- EgressCtrl-/, '$1SrcValid- TransBlk- ReqRedir- CmpltRedir- UpstreamFwd- EgressCtrl+');
    const t = loadLspci(edited, { cpu: { vendor: 'GenuineIntel', family: 6 } });
    expect(d(t, '0000:02:18.0').acsRedirect).toBe(true);
    expect(mapType(d(t, '0000:05:00.0'), d(t, '0000:05:00.0')).type).toBe('BUS_ADDR'); // the function itself
  });
});

describe('what a person would call the same dump', () => {
  const text = fixture('handmade-epyc-switch-acs.vvvnn.txt');
  const base = JSON.stringify(loadLspci(text).toSpec());
  const same = (variant: string) => JSON.stringify(loadLspci(variant).toSpec());
  const lines = text.split('\n');
  it.each([
    ['spaces instead of tabs', text.replace(/\t/g, '        ')],
    ['a UTF-8 BOM and CRLF', `\ufeff${text.replace(/\n/g, '\r\n')}`],
    ['e-mail quoting', text.split('\n').map((l) => `> ${l}`).join('\n')],
    ['a shell prompt and a Markdown fence', `user@host:~$ sudo lspci -vvvnn\n\`\`\`\n${text}\`\`\`\n`],
    ['lspci warnings on stderr mixed in', `lspci: Unable to load libkmod resources: error -2\n${text}`],
    ['a header wrapped by a narrow terminal', text.replace('[1022:1483] (prog-if 00 [Normal decode])', '[1022:1483]\n(prog-if 00 [Normal decode])')],
    ['an ACSCtl line wrapped', text.replace('ACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-', 'ACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+\n\t\t\tUpstreamFwd+ EgressCtrl- DirectTrans-')],
    ['-D domains', lines.map((l) => (/^[0-9a-f]{2}:/.test(l) ? `0000:${l}` : l)).join('\n')],
    ['trailing blanks', text.replace(/\n/g, '   \n')],
  ])('%s', (_name, variant) => {
    expect(same(variant)).toBe(base);
  });

  it('-PP paths place devices as the Bus: lines do', () => {
    const pp = text.replace(/^03:00\.0 /m, '00:01.1/01:00.0/02:08.0/03:00.0 ').replace(/^04:00\.0 /m, '00:01.1/01:00.0/02:10.0/04:00.0 ');
    const p = text.replace(/^03:00\.0 /m, '00:01.1/00.0/08.0/00.0 ');
    expect(same(pp)).toBe(base);
    expect(same(p)).toBe(base);
  });

  it('capabilities without names and "<access denied>" leave the rest readable, with a note', () => {
    const denied = text.replace(/(02:18\.0[\s\S]*?)\tCapabilities: \[68\][\s\S]*?(\tKernel driver in use: pcieport)/, '$1\tCapabilities: <access denied>\n$2');
    const t = loadLspci(denied, { cpu: null });
    expect(t.device('0000:02:18.0').acs).toBeUndefined();
    expect(t.device('0000:02:18.0').portType).toBeUndefined();
    expect(t.device('0000:02:18.0').kind).toBe('downstream-port'); // told from the tree position
    expect(t.notes.join('\n')).toMatch(/access denied/);
    const unnamed = text.replace('Capabilities: [bb0 v1] Physical Resizable BAR', 'Capabilities: [bb0 v1] Extended Capability ID 0x15');
    expect(loadLspci(unnamed).device('0000:03:00.0').bar(1)?.details.resizable).toBeUndefined();
  });

  it('[size=49184M] and sizes below 4 KiB keep the size lspci printed', () => {
    const t = loadLspci(text.replace('[size=64G]', '[size=49184M]').replace('f1200000 (64-bit, non-prefetchable) [size=16K]', 'f1200000 (64-bit, non-prefetchable) [size=256]'));
    expect(t.device('0000:03:00.0').bar(1)?.details.reportedSize).toBe(49184 * 2 ** 20);
    expect(t.device('0000:03:00.0').bar(1)?.size).toBe(64 * 2 ** 30);
    expect(t.device('0000:04:00.0').bar(0)?.details.reportedSize).toBe(256);
  });

  it('[disabled], [virtual], <unassigned>, <ignored> and the old "[virtual] Memory at" form', () => {
    const t = loadLspci(text
      .replace('Region 0: Memory at f1200000 (64-bit, non-prefetchable) [size=16K]', 'Region 0: Memory at f1200000 (64-bit, non-prefetchable) [disabled] [size=16K]')
      .replace('Region 0: Memory at f1100000 (64-bit, non-prefetchable) [size=16K]', 'Region 0: Memory at <unassigned> (64-bit, non-prefetchable) [size=16K]\n\tRegion 2: [virtual] Memory at f1000000 (32-bit, prefetchable) [size=4K]\n\tRegion 4: Memory at <ignored> (32-bit, non-prefetchable)'));
    expect(t.device('0000:04:00.0').bar(0)?.details).toMatchObject({ disabled: true, address: '0xf1200000' });
    const nvme = t.device('0000:05:00.0');
    expect(nvme.bar(0)?.details).toMatchObject({ unassigned: true, address: undefined });
    expect(nvme.bar(2)?.details).toMatchObject({ virtual: true, prefetchable: true });
    expect(nvme.bar(4)?.details).toMatchObject({ unassigned: true, reportedSize: null });
  });

  it('keeps the kernel\'s IOMMU group numbers as printed', () => {
    const dump = parseLspciDump(text);
    expect(dump.functions.find((f) => f.bdf === '0000:05:00.0')?.iommuGroup).toBe('6');
  });
});

describe('malformed dumps name the line and what was expected', () => {
  const text = fixture('handmade-epyc-switch-acs.vvvnn.txt');
  const lineOf = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  it.each([
    ['a property before any header', `\tControl: I/O-\n${text}`, 1, /expected lspci -tv\/-tvnn .* or lspci -vv/],
    ['garbage at column 0', text.replace('\n02:10.0', '\nhello world\n02:10.0'), lineOf('02:10.0') + 0, /expected a device header/],
    ['a malformed ACSCtl line', text.replace('ACSCtl:\tSrcValid- TransBlk-', 'ACSCtl:\tSrcValid? TransBlk-'), lineOf('ACSCtl:\tSrcValid- TransBlk-'), /malformed ACSCtl line/],
    ['a malformed Bus: line', text.replace('Bus: primary=02, secondary=05', 'Bus: primary=02, secondary=5'), lineOf('Bus: primary=02, secondary=05'), /malformed "Bus:" line/],
    ['a region with a bad size', text.replace('[size=16M]', '[size=16Q]'), lineOf('[size=16M]'), /malformed BAR size/],
    ['a function listed twice', `${text}\n05:00.0 Non-Volatile memory controller [0108]: X [144d:a80a]\n\tRegion 0: Memory at f0000000 (64-bit, non-prefetchable) [size=16K]\n`, text.split('\n').length + 1, /appears twice/],
    ['two bridges claiming one bus', text.replace('Bus: primary=02, secondary=05', 'Bus: primary=02, secondary=04'), lineOf('Bus: primary=02, secondary=05'), /already the secondary bus/],
    ['a filtered dump (bus inside a range, its bridge missing)', text.replace(/02:18\.0[\s\S]*?\n\n/, ''), text.replace(/02:18\.0[\s\S]*?\n\n/, '').split('\n').findIndex((l) => l.startsWith('05:00.0')) + 1, /no bridge in the dump has it as secondary bus/],
    ['lspci without -v', '00:00.0 Host bridge: Intel Corporation Device 2020\n00:01.0 PCI bridge: Intel Corporation Device\n', 1, /without -v/],
    ['JSON given to --lspci', '{"hostBridges": []}', 1, /this is JSON/],
  ])('%s', (_name, input, line, message) => {
    const err = errorOf(() => loadLspci(input));
    expect(err?.code).toBe('ERR_LSPCI_PARSE');
    expect(err.message).toMatch(message);
    expect(err.line).toBe(line);
  });

  it('a tree and a dump of different machines are refused at the differing function', () => {
    const tree = fixture('pciutils-asus-p6t6.tvnn.txt');
    const err = errorOf(() => loadLspci(`${tree}\n${text}`));
    expect(err?.code).toBe('ERR_LSPCI_PARSE');
    expect(err.message).toMatch(/not list|does not show|below/);
  });
});
