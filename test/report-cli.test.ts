// dma-bounce report on the command line: what it writes (one self-contained page that asks for nothing),
// and how it refuses bad input: coded errors naming the file and JSON path, exit 2 for usage, bad flag
// values and unusable paths, 1 for bad file contents, and nothing written or left behind when it fails.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testRng } from './support/random.js';
import { randomBenchReport, randomPolicyReport, randomReplay } from './support/report-fixtures.js';
import { cli, example } from './support/report-page.js';

const rng = testRng('report-cli');
const scratch = mkdtempSync(join(tmpdir(), 'dma-bounce-report-cli-'));
const put = (name: string, value: unknown) => {
  const path = join(scratch, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
};
const TOPOLOGY = example('switch-gpu-nvme.json');
const freshOut = () => join(mkdtempSync(join(scratch, 'out-')), 'report');

describe('dma-bounce report writes one self-contained page', () => {
  it('with every input: the page inlines its script, styles, data and charts and refers to nothing outside', () => {
    const out = freshOut();
    const r = cli('report', '--topology', TOPOLOGY, '--bench', put('b.json', randomBenchReport(rng)), '--policies', put('p.json', randomPolicyReport(rng)), '--replay', put('r.json', randomReplay(rng)), '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*report\.html \(\d+ KiB\): 5 endpoints, 25 matrix cells, bench, policies, replay\n$/);
    expect(readdirSync(out)).toEqual(['report.html']);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'unsafe-inline'/);
    // No element loads anything: no src, no stylesheet link, no url() in styles, no import.
    expect(html).not.toMatch(/<(script|img|iframe|link|object|embed|source|video|audio)[^>]*\s(src|href)=/i);
    expect(html).not.toMatch(/url\(\s*['"]?(https?:|\/\/)/i);
    expect(html).not.toMatch(/\bimport\s*\(/);
    const hrefs = [...html.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs.every((href) => href!.startsWith('#'))).toBe(true);
    expect((html.match(/<svg[\s>]/g) ?? []).length).toBeGreaterThanOrEqual(3);
  });

  it('escapes device names: a name with markup stays text', () => {
    const spec = JSON.parse(readFileSync(TOPOLOGY, 'utf8'));
    spec.hostBridges[0].devices[0].name = '</script><img src=x onerror=alert(1)> & "quotes"';
    const out = freshOut();
    expect(cli('report', '--topology', put('evil.json', spec), '--out', out).code).toBe(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;');
    // The page data carries the name too, with every "<" escaped.
    const data = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html)![1]!;
    expect(JSON.parse(data).spec.hostBridges[0].devices[0].name).toBe(spec.hostBridges[0].devices[0].name);
  });

  it('overwrites an existing report in an existing directory, and accepts a UTF-8 BOM', () => {
    const out = freshOut();
    mkdirSync(out);
    writeFileSync(join(out, 'report.html'), 'old');
    writeFileSync(join(out, 'other.txt'), 'kept');
    const bom = put('bom.json', `\ufeff${JSON.stringify(randomReplay(rng, 5))}`);
    expect(cli('report', '--topology', TOPOLOGY, '--replay', bom, '--out', out).code).toBe(0);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/^<!doctype html>/);
    expect(readdirSync(out).sort()).toEqual(['other.txt', 'report.html']);
  });

  it('a write that fails leaves the directory as it was (no temporary file, no half page)', () => {
    const out = freshOut();
    mkdirSync(join(out, 'report.html', 'in-the-way'), { recursive: true }); // a directory where the page goes
    const r = cli('report', '--topology', TOPOLOGY, '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^dma-bounce: ERR_OUTPUT_PATH: --out .*: cannot write .*report\.html/);
    expect(readdirSync(out)).toEqual(['report.html']);
    expect(readdirSync(join(out, 'report.html'))).toEqual(['in-the-way']);
  });

  it('dma-bounce bench --out also writes the page for the default machine, with its charts', () => {
    const out = freshOut();
    const r = cli('bench', '--quick', '--only', 'swiotlb/alloc-free', '--out', out);
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['chart.svg', 'report.html', 'report.json']);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const bench = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(html).toContain('<title>dma-bounce report: the default machine</title>');
    const section = html.slice(html.indexOf('<section id="bench"'), html.indexOf('</section>', html.indexOf('<section id="bench"')));
    expect((section.match(/<tr><td><code>/g) ?? []).length).toBe(bench.cases.length);
    for (const row of bench.cases) expect(section).toContain(`<code>${row.name}</code>`);
    const { start, end } = bench.environment.coreRoundTripNs;
    if (start !== null && end !== null) expect(section).toContain(`; a cache line's round trip between two threads: ${Math.round(start)} ns at the start, ${Math.round(end)} ns at the end.</p>`);
    const data = JSON.parse(/<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html)![1]!);
    expect(data.endpoints.map((e: { bdf: string }) => e.bdf)).toEqual(['0000:00:00.0', '0000:03:00.0', '0000:04:00.0', '0000:05:00.0', '0000:80:00.0', '0000:81:00.0']);
  });

  it('--help prints the usage and the command is listed', () => {
    const help = cli('report', '--help');
    expect([help.code, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toMatch(/^Usage: dma-bounce report \(--topology FILE \| --lspci FILE\)/);
    expect(cli('--help').stdout).toMatch(/^ {2}report +the machine, its P2P matrix/m);
  });
});

describe('dma-bounce report refuses bad input', () => {
  const bench = randomBenchReport(rng);
  const policies = randomPolicyReport(rng);
  const i = rng.int(0, policies.results.length - 1);
  const wrongRoute = structuredClone(policies);
  wrongRoute.results[i].route = 'SIDEWAYS';
  const noLatency = structuredClone(policies);
  delete noLatency.results[i].latencyUs.p99;
  const noMeasure = structuredClone(bench);
  const j = rng.int(0, bench.cases.length - 1);
  for (const m of ['bytesPerSecond', 'segmentsPerSecond', 'opsPerSecond', 'latencySeconds']) delete noMeasure.cases[j][m];
  const replay = randomReplay(rng, 20);
  const k = rng.int(1, 19);
  const overfull = structuredClone(replay);
  overfull.poolOccupancy[k]!.usedSlots = overfull.poolOccupancy[k]!.totalSlots + 1;
  const backwards = structuredClone(replay);
  backwards.poolOccupancy[k - 1]!.t = 5;
  backwards.poolOccupancy[k]!.t = 4;
  const stringT = structuredClone(replay) as any;
  stringT.poolOccupancy[k].t = '3';
  const textRoundTrip = structuredClone(bench) as any;
  textRoundTrip.environment.coreRoundTripNs = { start: '112 ns', end: 120 };

  const cases: { name: string; args: () => string[]; code: number; error: RegExp }[] = [
    { name: 'no --out', args: () => ['--topology', TOPOLOGY], code: 2, error: /^dma-bounce: ERR_USAGE: report: --out DIR is required/ },
    { name: '--out without a value', args: () => ['--topology', TOPOLOGY, '--out'], code: 2, error: /^dma-bounce: ERR_USAGE: report: / },
    { name: 'an empty --out', args: () => ['--topology', TOPOLOGY, '--out', ''], code: 2, error: /^dma-bounce: ERR_USAGE: report: --out needs a directory name/ },
    { name: 'no topology', args: () => ['--out', freshOut()], code: 2, error: /^dma-bounce: ERR_USAGE: report: give exactly one of --topology FILE and --lspci FILE/ },
    { name: 'an unknown flag', args: () => ['--topology', TOPOLOGY, '--out', freshOut(), '--pdf'], code: 2, error: /^dma-bounce: ERR_USAGE: report: Unknown option '--pdf'/ },
    { name: 'a missing topology file', args: () => ['--topology', join(scratch, 'nope.json'), '--out', freshOut()], code: 2, error: /^dma-bounce: ERR_INPUT_FILE: cannot read .*nope\.json: no such file/ },
    { name: 'a missing bench file', args: () => ['--topology', TOPOLOGY, '--bench', join(scratch, 'nope.json'), '--out', freshOut()], code: 2, error: /^dma-bounce: ERR_INPUT_FILE: cannot read .*nope\.json: no such file/ },
    { name: 'a directory as --replay', args: () => ['--topology', TOPOLOGY, '--replay', scratch, '--out', freshOut()], code: 2, error: /^dma-bounce: ERR_INPUT_FILE: cannot read .*: it is a directory/ },
    { name: '--policies that is not JSON', args: () => ['--topology', TOPOLOGY, '--policies', put('garbage.json', '{"workload": '), '--out', freshOut()], code: 1, error: /^dma-bounce: ERR_REPORT_INPUT: .*garbage\.json: \$: not valid JSON/ },
    { name: 'a topology given as --bench', args: () => ['--topology', TOPOLOGY, '--bench', TOPOLOGY, '--out', freshOut()], code: 1, error: /^dma-bounce: ERR_REPORT_INPUT: .*switch-gpu-nvme\.json: \$\.environment: is required \(this looks like a topology: give it to --topology\)/ },
    { name: 'a policies report given as --bench', args: () => ['--topology', TOPOLOGY, '--bench', put('p.json', policies), '--out', freshOut()], code: 1, error: /\$\.environment: is required \(this looks like a --policies report\)/ },
    { name: 'an unknown route', args: () => ['--topology', TOPOLOGY, '--policies', put('route.json', wrongRoute), '--out', freshOut()], code: 1, error: new RegExp(`^dma-bounce: ERR_REPORT_INPUT: .*route\\.json: \\$\\.results\\[${i}\\]\\.route: must be one of BUS_ADDR, THRU_HOST_BRIDGE, NOT_SUPPORTED\\n$`) },
    { name: 'a missing percentile', args: () => ['--topology', TOPOLOGY, '--policies', put('p99.json', noLatency), '--out', freshOut()], code: 1, error: new RegExp(`\\$\\.results\\[${i}\\]\\.latencyUs\\.p99: is required\\n$`) },
    { name: 'a round trip that is not a number', args: () => ['--topology', TOPOLOGY, '--bench', put('rt.json', textRoundTrip), '--out', freshOut()], code: 1, error: /\$\.environment\.coreRoundTripNs\.start: / },
    { name: 'a bench case without a measure', args: () => ['--topology', TOPOLOGY, '--bench', put('m.json', noMeasure), '--out', freshOut()], code: 1, error: new RegExp(`\\$\\.cases\\[${j}\\]: needs one of bytesPerSecond`) },
    { name: 'more slots used than the pool has', args: () => ['--topology', TOPOLOGY, '--replay', put('full.json', overfull), '--out', freshOut()], code: 1, error: new RegExp(`\\$\\.poolOccupancy\\[${k}\\]\\.usedSlots: \\d+ is more than totalSlots`) },
    { name: 'samples out of time order', args: () => ['--topology', TOPOLOGY, '--replay', put('back.json', backwards), '--out', freshOut()], code: 1, error: new RegExp(`\\$\\.poolOccupancy\\[${k}\\]\\.t: .* samples must be in time order`) },
    { name: 'a time that is a string', args: () => ['--topology', TOPOLOGY, '--replay', put('t.json', stringT), '--out', freshOut()], code: 1, error: new RegExp(`\\$\\.poolOccupancy\\[${k}\\]\\.t: must be number`) },
    { name: 'an empty occupancy', args: () => ['--topology', TOPOLOGY, '--replay', put('empty.json', { poolOccupancy: [] }), '--out', freshOut()], code: 1, error: /\$\.poolOccupancy: must NOT have fewer than 1 items/ },
    { name: 'an --out that is a file', args: () => ['--topology', TOPOLOGY, '--out', TOPOLOGY], code: 2, error: /^dma-bounce: ERR_OUTPUT_PATH: --out .*switch-gpu-nvme\.json: exists and is not a directory/ },
    { name: 'an --out below a file', args: () => ['--topology', TOPOLOGY, '--out', join(TOPOLOGY, 'sub')], code: 2, error: /^dma-bounce: ERR_OUTPUT_PATH: --out .*sub: .*switch-gpu-nvme\.json is not a directory/ },
  ];
  it.each(cases)('$name', ({ args, code, error }) => {
    const argv = args();
    const r = cli('report', ...argv);
    expect(r.stderr).toMatch(error);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    // Nothing was written: the output directory (always fresh here) was never made.
    const out = argv[argv.indexOf('--out') + 1];
    if (out && out.startsWith(scratch)) expect(existsSync(out)).toBe(false);
  });
});
