// dma-bounce explain, and the real-machine options of topo, p2p and policies (--lspci dumps, --cpu this,
// --external-facing, --provider/--client).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = join(root, 'dist/src/cli/main.js');
const fixture = (name: string) => join(root, 'test/fixtures/lspci', name);
const dump = fixture('handmade-epyc-switch-acs.vvvnn.txt');
const scratch = mkdtempSync(join(tmpdir(), 'dma-bounce-explain-'));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('dma-bounce explain', () => {
  it('prints the walk, the kernel warnings and the parameter that makes the pair BUS_ADDR', () => {
    const r = cli('explain', '--lspci', dump, '--cpu', 'GenuineIntel:6', '0000:03:00.0', '0000:04:00.0');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^0000:03:00\.0 \(provider\) -> 0000:04:00\.0 \(client\): NOT_SUPPORTED, distance 4 \(depends on the CPU\)/);
    expect(r.stdout).toContain('paths meet at 0000:01:00.0; distance 4');
    expect(r.stdout).toContain('Host bridge not in P2PDMA whitelist: 1022:1480');
    expect(r.stdout).toContain('pci=disable_acs_redir=0000:02:08.0;0000:02:10.0');
    expect(r.stdout).toMatch(/Cost: 4 function\(s\) leave their isolation/);
  });

  it('--json prints one document; the AMD host bridge gives the Zen rule', () => {
    const r = cli('explain', '--lspci', dump, '0000:03:00.0', '0000:04:00.0', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ provider: '0000:03:00.0', client: '0000:04:00.0', type: 'THRU_HOST_BRIDGE', cpuOrigin: 'inferred', cpu: { vendor: 'AuthenticAMD', family: 0x17 }, change: { kind: 'kernel-parameter' } });
  });

  it('usage errors: missing or extra BDFs, unknown devices', () => {
    expect(cli('explain', '--lspci', dump, '0000:03:00.0')).toMatchObject({ code: 2, stdout: '' });
    expect(cli('explain', '--lspci', dump, '0000:03:00.0', '0000:04:00.0', 'x').code).toBe(2);
    expect(cli('explain', '--lspci', dump, '0000:03:00.0', '0000:09:00.0').stderr).toMatch(/^dma-bounce: ERR_UNKNOWN_DEVICE: /);
    expect(cli('explain', '--lspci', dump, '3:00.0', '0000:04:00.0').stderr).toMatch(/^dma-bounce: ERR_INVALID_ARGUMENT: /);
    expect(cli('explain', '--help').stdout).toMatch(/^Usage: dma-bounce explain/);
  });
});

describe('real machines in topo, p2p and policies', () => {
  it('topo --lspci shows BAR sizes and addresses, ACS, IOMMU groups and untrusted functions', () => {
    const r = cli('topo', '--lspci', dump, '--external-facing', '0000:02:18.0');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/BAR1 {2}64GiB at 0x38000000000 \(64-bit, prefetchable\) {2}resizable 64GiB of 64MiB .* {2}phys 0x/);
    expect(r.stdout).toMatch(/0000:02:08\.0 {2}downstream-port .*group 4 {2}ACS SrcValid\+ReqRedir\+CmpltRedir\+UpstreamFwd \(redirect\)/);
    expect(r.stdout).toContain('group 6: 0000:02:18.0 0000:05:00.0');
    expect(r.stdout).toContain('Untrusted functions: 0000:05:00.0');
  });

  it('p2p marks the verdicts that depend on an assumed CPU', () => {
    const tree = join(root, 'examples/lspci-two-domains.txt');
    const r = cli('p2p', '--lspci', fixture('pciutils-fsl-p2020.tvnn.txt'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^CPU: unknown: assumed not AMD Zen/m);
    expect(r.stdout).toMatch(/NOT_SUPPORTED\*/);
    expect(r.stdout).toMatch(/\* depends on the CPU \(unknown\)/);
    expect(cli('p2p', '--lspci', tree, '--cpu', 'GenuineIntel:6').stdout).not.toMatch(/\*/);
  });

  it('--cpu this reads /proc/cpuinfo', () => {
    const r = cli('p2p', '--lspci', dump, '--cpu', 'this', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).pairs.length).toBeGreaterThan(0);
  });

  it('lspci output given to --topology is refused with a hint', () => {
    const r = cli('p2p', '--topology', dump);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dma-bounce: ERR_TOPOLOGY: \$: this is lspci output, not topology JSON: load it with --lspci/);
  });

  it('policies --lspci --provider --client runs each route of the machine, data checked', () => {
    const r = cli('policies', '--lspci', dump, '--provider', '0000:03:00.0:1', '--client', '0000:04:00.0,0000:05:00.0', '--ios', '8', '--qd', '2', '--size', '16KiB', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.results.map((x: { client: string; route: string; policy: string }) => `${x.client} ${x.route} ${x.policy}`)).toEqual([
      '0000:04:00.0 THRU_HOST_BRIDGE reject', '0000:04:00.0 THRU_HOST_BRIDGE bounce', '0000:04:00.0 THRU_HOST_BRIDGE staged',
      '0000:05:00.0 THRU_HOST_BRIDGE reject', '0000:05:00.0 THRU_HOST_BRIDGE bounce', '0000:05:00.0 THRU_HOST_BRIDGE staged',
    ]);
    for (const row of report.results) expect(row).toMatchObject({ ok: true, corrupted: 0 });
  });

  it('policies refuses a provider without a prefetchable BAR, a bridge client and --lspci without --provider', () => {
    expect(cli('policies', '--lspci', dump, '--provider', '0000:04:00.0').stderr).toMatch(/ERR_INVALID_ARGUMENT: provider 0000:04:00\.0 has no prefetchable memory BAR/);
    expect(cli('policies', '--lspci', dump, '--provider', '0000:03:00.0', '--client', '0000:02:08.0', '--ios', '2').stderr).toMatch(/ERR_INVALID_ARGUMENT: client 0000:02:08\.0 is a bridge/);
    expect(cli('policies', '--lspci', dump).code).toBe(2);
    expect(cli('policies', '--provider', '03:00.0').stderr).toMatch(/ERR_INVALID_ARGUMENT: --provider/);
    expect(cli('policies', '--client', '0000:04:00.0,zz').stderr).toMatch(/ERR_INVALID_ARGUMENT: --client/);
  });

  it('a p2p table of a few hundred endpoints prints without overflowing the stack', () => {
    const devices = Array.from({ length: 400 }, (_, i) => ({ bdf: `0000:${(i >> 8).toString(16).padStart(2, '0')}:${((i >> 3) & 31).toString(16).padStart(2, '0')}.${i & 7}` }));
    const file = join(scratch, 'wide.json');
    writeFileSync(file, JSON.stringify({ hostBridges: [{ segment: 0, bus: 0, devices: devices.slice(0, 256) }, { segment: 0, bus: 1, devices: devices.slice(256).map((d) => ({ bdf: d.bdf })) }] }));
    const r = cli('p2p', '--topology', file);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => /^0000:/.test(l))).toHaveLength(400 * 399);
  }, 60_000);
});
