// The dma-bounce CLI: p2p and topo output, --json discipline, coded errors and exit codes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTopologyJson } from '../dist/src/pci/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = join(root, 'dist/src/cli/main.js');
const example = (name: string) => join(root, 'examples', name);

function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [main, ...args], { cwd: root, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const scratch = mkdtempSync(join(tmpdir(), 'dma-bounce-cli-'));
function file(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

describe('dma-bounce p2p', () => {
  it('--json prints exactly one JSON document with every ordered pair of endpoints', () => {
    const { code, stdout, stderr } = cli('p2p', '--topology', example('switch-gpu-nvme.json'), '--json');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const doc = JSON.parse(stdout);
    expect(Object.keys(doc)).toEqual(['pairs']);
    expect(doc.pairs).toHaveLength(5 * 4);
    expect(doc.pairs).toContainEqual({ provider: '0000:03:00.0', client: '0000:04:00.0', type: 'BUS_ADDR', distance: 4, acsRedirect: false, reasons: [], cpuDependent: false });
    expect(doc.pairs).toContainEqual({ provider: '0000:05:00.0', client: '0000:05:00.1', type: 'BUS_ADDR', distance: 2, acsRedirect: false, reasons: [], cpuDependent: false });
    expect(doc.pairs).toContainEqual({ provider: '0000:03:00.0', client: '0000:05:00.0', type: 'THRU_HOST_BRIDGE', distance: 6, acsRedirect: false, reasons: [], cpuDependent: false });
    expect(doc.pairs.some((pair: any) => pair.provider === pair.client)).toBe(false);
  });

  it('prints a table and the kernel reasons as text', () => {
    const { code, stdout } = cli('p2p', '--topology', example('acs-switch.json'));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^PROVIDER +CLIENT +TYPE +DISTANCE +ACS$/m);
    expect(stdout).toMatch(/^0000:03:00\.0 +0000:05:00\.0 +BUS_ADDR +4 +-$/m);
    expect(stdout).toMatch(/^0000:03:00\.0 +0000:04:00\.0 +NOT_SUPPORTED +4 +redirect$/m);
    expect(stdout).toContain('0000:04:00.0: ACS redirect is set between the client and provider (0000:03:00.0)');
    expect(stdout).toContain('pci=disable_acs_redir=0000:02:01.0');
    expect(stdout).toContain('Host bridge not in P2PDMA whitelist: 8086:3e30');
  });

  it('reads lspci output with --acs-redirect and --cpu', () => {
    const plain = JSON.parse(cli('p2p', '--lspci', example('lspci-two-domains.txt'), '--json').stdout);
    const pair = (doc: any, p: string, c: string) => doc.pairs.find((x: any) => x.provider === p && x.client === c);
    expect(pair(plain, '0000:03:00.0', '0000:04:00.0')).toMatchObject({ type: 'BUS_ADDR', distance: 4 });
    expect(pair(plain, '0000:81:00.0', '0000:03:00.0')).toMatchObject({ type: 'NOT_SUPPORTED' });
    const { code, stdout } = cli('p2p', '--lspci', example('lspci-two-domains.txt'), '--acs-redirect', '0000:02:00.0,0000:02:01.0', '--cpu', 'AuthenticAMD:0x19', '--json');
    expect(code).toBe(0);
    const amd = JSON.parse(stdout);
    expect(pair(amd, '0000:03:00.0', '0000:04:00.0')).toMatchObject({ type: 'THRU_HOST_BRIDGE', distance: 4, acsRedirect: true });
    expect(pair(amd, '0000:81:00.0', '0000:03:00.0')).toMatchObject({ type: 'THRU_HOST_BRIDGE' });
    expect(amd.pairs).toHaveLength(13 * 12);
  });

  it('explains the two-socket example: whitelisted socket 0, refused socket 1', () => {
    const doc = JSON.parse(cli('p2p', '--topology', example('two-sockets.json'), '--json').stdout);
    const pair = (p: string, c: string) => doc.pairs.find((x: any) => x.provider === p && x.client === c);
    expect(pair('0000:01:00.0', '0000:02:00.0')).toMatchObject({ type: 'THRU_HOST_BRIDGE', distance: 4 });
    expect(pair('0000:01:00.0', '0000:81:00.0')).toMatchObject({ type: 'NOT_SUPPORTED', distance: 4 });
    expect(pair('0000:81:00.0', '0000:82:00.0').reasons).toContain('0000:80:00.0: Host bridge not in P2PDMA whitelist: 8086:6f00');
  });

  it('AMD Zen example: every cross-root-port pair goes through the host bridge', () => {
    const doc = JSON.parse(cli('p2p', '--topology', example('amd-zen.json'), '--json').stdout);
    expect(doc.pairs.filter((x: any) => x.type === 'NOT_SUPPORTED')).toEqual([]);
    expect(doc.pairs.filter((x: any) => x.type === 'BUS_ADDR').map((x: any) => `${x.provider}>${x.client}`)).toEqual(['0000:01:00.0>0000:01:00.1', '0000:01:00.1>0000:01:00.0']);
  });
});

describe('dma-bounce topo', () => {
  it('prints the tree with BAR addresses', () => {
    const { code, stdout, stderr } = cli('topo', '--topology', example('switch-gpu-nvme.json'));
    expect([code, stderr]).toEqual([0, '']);
    expect(stdout).toContain('Host bridge 0000:00: MMIO 0x20000000000 (1TiB), bus offset 0x10000000000, identity 0000:00:00.0 [8086:2020], whitelisted');
    expect(stdout).toContain('\n        0000:03:00.0  endpoint  [10de:20b0]  group 1  GA100 [A100 SXM4 40GB]\n');
    expect(stdout).toContain('BAR1  64MiB  phys 0x20004000000  bus 0x10004000000  p2pmem');
  });

  it('--json converts lspci output to loadable topology JSON', () => {
    const { code, stdout } = cli('topo', '--lspci', example('lspci-two-domains.txt'), '--cpu', 'GenuineIntel:6', '--json');
    expect(code).toBe(0);
    const t = loadTopologyJson(stdout);
    expect(t.devices()).toHaveLength(24);
    expect(t.cpu).toEqual({ vendor: 'GenuineIntel', family: 6 });
    expect(t.device('0000:02:02.0')).toMatchObject({ kind: 'downstream-port', secondaryBus: 5 });
  });
});

describe('errors and usage', () => {
  const cases: { name: string; args: string[]; code: number; error: RegExp }[] = [
    { name: 'unknown command lists the commands', args: ['frobnicate'], code: 2, error: /^dma-bounce: ERR_USAGE: unknown command "frobnicate" \(available: bench, explain, map-benchmark, p2p, policies, replay, report, topo; see dma-bounce --help\)\n$/ },
    { name: 'no source', args: ['p2p'], code: 2, error: /^dma-bounce: ERR_USAGE: p2p: give exactly one of --topology FILE and --lspci FILE/ },
    { name: 'two sources', args: ['topo', '--topology', 'a', '--lspci', 'b'], code: 2, error: /^dma-bounce: ERR_USAGE: topo: give exactly one/ },
    { name: 'unknown option', args: ['p2p', '--topolgy', 'x'], code: 2, error: /^dma-bounce: ERR_USAGE: p2p: Unknown option '--topolgy'/ },
    { name: 'stray argument', args: ['topo', 'file.json'], code: 2, error: /^dma-bounce: ERR_USAGE: topo: / },
    { name: 'missing file', args: ['p2p', '--topology', '/nonexistent/t.json'], code: 2, error: /^dma-bounce: ERR_INPUT_FILE: cannot read \/nonexistent\/t.json: no such file/ },
    { name: 'bad cpu', args: ['p2p', '--lspci', example('lspci-two-domains.txt'), '--cpu', 'AMD'], code: 2, error: /^dma-bounce: ERR_INVALID_ARGUMENT: cpu: expected VENDOR:FAMILY/ },
    { name: 'unknown ACS device', args: ['p2p', '--topology', example('amd-zen.json'), '--acs-redirect', '0000:09:00.0'], code: 1, error: /^dma-bounce: ERR_UNKNOWN_DEVICE: ACS redirect: no device 0000:09:00.0/ },
    {
      name: 'bad topology JSON names the path',
      args: ['p2p', '--topology', file('bad.json', JSON.stringify({ hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:00.0', kind: 'gpu' }] }] })), '--json'],
      code: 1,
      error: /^dma-bounce: ERR_TOPOLOGY: \$\.hostBridges\[0\]\.devices\[0\]\.kind: /,
    },
    { name: 'truncated lspci names the line', args: ['topo', '--lspci', file('cut.txt', '-[0000:00]-+-00.0\n           +-01.0-[01]----00.0\n')], code: 1, error: /^dma-bounce: ERR_LSPCI_PARSE: line 2: / },
  ];
  it.each(cases)('$name', ({ args, code, error }) => {
    const result = cli(...args);
    expect(result.code).toBe(code);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(error);
  });

  it('--help prints usage on stdout and exits 0', () => {
    for (const args of [['--help'], ['p2p', '--help'], ['topo', '-h']]) {
      const result = cli(...args);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(/^Usage: dma-bounce /);
    }
    expect(cli('--help').stdout).toMatch(/^ {2}p2p +P2P map type/m);
    expect(cli('p2p', '--help').stdout).toContain('--acs-redirect BDF,...');
  });

  it('no command prints usage on stderr and exits 2', () => {
    const result = cli();
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^Usage: dma-bounce <command>/);
  });
});
