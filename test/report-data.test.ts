// The report's data, without a browser: the matrix encoding against mapType() for every pair, the device
// facts (today's model and the fields it is about to gain), device classes, keyboard movement and axis order
// against simple references, occupancy folding, the palette's contrast, and the input shapes against what
// the real commands print.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { runPolicies } from '../dist/bench/policies/run.js';
import { syntheticMachine } from '../dist/bench/report-machine.js';
import { buildTopology, explainPair, formatExplanation, iommuGroupOf, loadLspci, loadTopologyJson, mapType } from '../dist/src/pci/index.js';
import { axisOrder, busAddressPeers } from '../dist/src/report/browser/matrix-axes.js';
import { moveFocus } from '../dist/src/report/browser/matrix-keys.js';
import {
  CELL_STYLES, DEVICE_CLASSES, decodeMatrix, deviceClass, deviceFacts, encodeMatrix, occupancyPoints, occupancySummary, pageData, pairDetail, parseReportInput, treeCounts,
} from '../dist/src/report/index.js';
import { readFileSync } from 'node:fs';
import { testRng } from './support/random.js';
import { randomBenchReport, randomPolicyReport, randomReplay } from './support/report-fixtures.js';
import { example } from './support/report-page.js';

const rng = testRng('report-data');

describe('the matrix encoding', () => {
  const machines = [
    ['lspci-two-domains.txt', () => loadLspci(readFileSync(example('lspci-two-domains.txt'), 'utf8'), { acsRedirect: ['0000:02:00.0'] })],
    ['acs-switch.json', () => loadTopologyJson(readFileSync(example('acs-switch.json'), 'utf8'))],
    ['amd-zen.json', () => loadTopologyJson(readFileSync(example('amd-zen.json'), 'utf8'))],
    [`synthetic machine (seed ${rng.seed})`, () => buildTopology(syntheticMachine(rng.int(2, 150), rng.int(1, 1e9)))],
  ] as const;
  it.each(machines)('%s: every cell decodes to mapType() of its pair, the diagonal to SELF', (_name, load) => {
    const topology = load();
    const endpoints = topology.endpoints();
    const data = pageData(topology);
    expect(data.endpoints.map((e) => e.bdf)).toEqual(endpoints.map((d) => d.bdf));
    const cells = decodeMatrix(data.matrix);
    const counts: Record<string, number> = { BUS_ADDR: 0, THRU_HOST_BRIDGE: 0, NOT_SUPPORTED: 0 };
    endpoints.forEach((p, i) => endpoints.forEach((c, j) => {
      if (i === j) return expect(cells.kind(i, j)).toBe('SELF');
      const want = mapType(p, c);
      counts[want.type]!++;
      expect([cells.kind(i, j), cells.distance(i, j), cells.acsRedirect(i, j)]).toEqual([want.type, want.distance, want.acsRedirect]);
    }));
    expect(data.pairCounts).toEqual(counts);
    // The page rebuilds the topology from the spec it carries: the same verdicts.
    const rebuilt = buildTopology(data.spec, data.build);
    const [p, c] = [rng.pick(endpoints), rng.pick(endpoints)];
    if (p !== c) {
      const detail = pairDetail(rebuilt.device(p.bdf), rebuilt.device(c.bdf));
      expect(detail).toEqual(pairDetail(p, c));
      // The cell says what `dma-bounce explain` says for the pair.
      expect(detail.lines.slice(1)).toEqual(formatExplanation(explainPair(p.topology, p, c)).split('\n').slice(1));
    }
  });

  test.prop([fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 2 ** 31 })])('random verdicts round-trip, wide distances included', (n, seed) => {
    const types = ['BUS_ADDR', 'THRU_HOST_BRIDGE', 'NOT_SUPPORTED'] as const;
    const wide = seed % 2 === 0;
    const verdict = (p: number, c: number) => ({ type: types[(p * 7 + c * 13 + seed) % 3]!, distance: ((p * 31 + c * 17 + seed) % (wide ? 70000 : 256)) % 65536, acsRedirect: (p + c + seed) % 5 === 0 });
    const cells = decodeMatrix(encodeMatrix(n, verdict));
    for (let p = 0; p < n; p++) for (let c = 0; c < n; c++) {
      if (p === c) expect(cells.kind(p, c)).toBe('SELF');
      else expect([cells.kind(p, c), cells.distance(p, c), cells.acsRedirect(p, c)]).toEqual([verdict(p, c).type, verdict(p, c).distance, verdict(p, c).acsRedirect]);
    }
  });

  it('refuses data that does not match its size', () => {
    const encoded = encodeMatrix(3, () => ({ type: 'BUS_ADDR', distance: 2, acsRedirect: false }));
    expect(() => decodeMatrix({ ...encoded, n: 4 })).toThrow(RangeError);
  });
});

describe('device facts', () => {
  const topology = loadTopologyJson(readFileSync(example('switch-gpu-nvme.json'), 'utf8'));
  it('shows kind, IDs, name, class, BARs with p2pmem and flags, the IOMMU group and the trust marks', () => {
    const gpu = deviceFacts(topology.device('0000:03:00.0'));
    expect(gpu).toMatchObject({ bdf: '0000:03:00.0', kind: 'endpoint', ids: '10de:20b0', name: 'GA100 [A100 SXM4 40GB]', deviceClass: 'GPU', classFrom: 'name', acsRedirect: false, untrusted: false, externalFacing: false });
    expect(gpu.bars).toEqual([
      { index: 0, size: 16 * 2 ** 20, sizeText: '16MiB', phys: '0x20000000000', busAddress: '0x10000000000', p2pmem: false, prefetchable: false, is64Bit: false },
      { index: 1, size: 64 * 2 ** 20, sizeText: '64MiB', phys: '0x20004000000', busAddress: '0x10004000000', p2pmem: true, prefetchable: false, is64Bit: false },
    ]);
    expect(gpu).not.toHaveProperty('acs');
    expect(gpu.iommuGroup).toBe(iommuGroupOf(topology.device('0000:03:00.0')).id);
    expect(deviceFacts(topology.device('0000:02:08.0'))).toMatchObject({ isBridge: true, kind: 'downstream-port', secondaryBus: 3 });
  });

  it('shows ACS bits by name, the untrusted mark below an external-facing port and BAR flags from the model', () => {
    const spec = topology.toSpec() as any;
    const port = spec.hostBridges[0].devices.find((d: { bdf: string }) => d.bdf === '0000:00:01.0');
    port.acs = { capability: ['SrcValid', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd'], control: ['SrcValid', 'ReqRedir'] };
    delete port.acsRedirect;
    port.externalFacing = true;
    const model = buildTopology(spec);
    expect(deviceFacts(model.device('0000:00:01.0'))).toMatchObject({ acs: { capability: ['SrcValid', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd'], control: ['SrcValid', 'ReqRedir'] }, acsRedirect: true, externalFacing: true, untrusted: false });
    expect(deviceFacts(model.device('0000:04:00.0'))).toMatchObject({ untrusted: true, iommuGroup: iommuGroupOf(model.device('0000:04:00.0')).id });
    const flagged = structuredClone(spec);
    const nvme = flagged.hostBridges[0].devices[0];
    nvme.bars = [{ index: 0, size: '16KiB', prefetchable: true, is64bit: true }];
    expect(deviceFacts(buildTopology(flagged).device(nvme.bdf)).bars[0]).toMatchObject({ prefetchable: true, is64Bit: true });
  });

  it('classes: class code first, then the name, then the vendor', () => {
    expect(deviceClass({ classCode: 0x0302, name: 'NVMe' }).deviceClass).toBe('GPU');
    expect(deviceClass({ classCode: 0x1200 }).deviceClass).toBe('accelerator');
    expect(deviceClass({ classCode: 0xff00 }).deviceClass).toBe('other');
    expect(deviceClass({ name: 'Navi 21/23 HDMI/DP Audio Controller', vendorId: 0x1002 }).deviceClass).toBe('audio/media');
    expect(deviceClass({ name: 'Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]' }).deviceClass).toBe('GPU');
    expect(deviceClass({ name: 'NVMe SSD Controller PM9A1/PM9A3/980PRO' }).deviceClass).toBe('storage');
    expect(deviceClass({ name: 'MT28908 Family [ConnectX-6]' }).deviceClass).toBe('network');
    expect(deviceClass({ name: 'Sky Lake-E DMI3 Registers' }).deviceClass).toBe('system');
    expect(deviceClass({ name: 'Frobnicator', vendorId: 0x10de })).toEqual({ deviceClass: 'GPU', from: 'vendor' });
    expect(deviceClass({})).toEqual({ deviceClass: 'other', from: 'nothing' });
    // Linear: a long name with no class word is refused quickly by every pattern.
    expect(deviceClass({ name: `${'a '.repeat(100_000)}x` }).deviceClass).toBe('other');
  });

  it('tree counts follow the topology', () => {
    expect(treeCounts(topology)).toEqual({ hostBridges: 1, functions: 10, endpoints: 5, bridges: 5, bars: 6, p2pmemBars: 2 });
  });
});

describe('keyboard movement', () => {
  const reference = (key: string, ctrl: boolean, row: number, col: number, rows: number, cols: number, page: number) => {
    const r = (v: number) => Math.max(0, Math.min(rows - 1, v));
    const c = (v: number) => Math.max(0, Math.min(cols - 1, v));
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [r(row), c(col - 1)], ArrowRight: [r(row), c(col + 1)], ArrowUp: [r(row - 1), c(col)], ArrowDown: [r(row + 1), c(col)],
      PageUp: [r(row - page), c(col)], PageDown: [r(row + page), c(col)],
      Home: ctrl ? [0, 0] : [r(row), 0], End: ctrl ? [rows - 1, cols - 1] : [r(row), cols - 1],
    };
    return moves[key];
  };
  const keys = ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'PageUp', 'PageDown', 'Home', 'End', 'Tab', 'a', 'Enter'];
  test.prop([fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 60 }), fc.array(fc.tuple(fc.constantFrom(...keys), fc.boolean()), { maxLength: 60 })])(
    'every key sequence stays in the grid and moves as the reference says',
    (rows, cols, page, presses) => {
      let at = { row: 0, col: 0 };
      for (const [key, ctrl] of presses) {
        const next = moveFocus(key, ctrl, at, { rows, cols, pageRows: page });
        const want = reference(key, ctrl, at.row, at.col, rows, cols, page);
        if (!want) expect(next).toBeUndefined();
        else {
          expect(next).toEqual({ row: want[0], col: want[1] });
          at = next!;
        }
      }
    },
  );
  it('an empty grid never moves', () => expect(moveFocus('ArrowDown', false, { row: 0, col: 0 }, { rows: 0, cols: 5, pageRows: 3 })).toBeUndefined());
});

describe('axis order', () => {
  const topology = buildTopology(syntheticMachine(rng.int(20, 120), rng.int(1, 1e9)));
  const data = pageData(topology);
  const cells = decodeMatrix(data.matrix);
  const peers = busAddressPeers(cells);
  it('filters keep exactly one class, in tree order; sorts are permutations ordered by their key', () => {
    for (const cls of ['', ...DEVICE_CLASSES] as const) {
      expect(axisOrder(data.endpoints, 'tree', cls)).toEqual(data.endpoints.flatMap((e, i) => (cls === '' || e.deviceClass === cls ? [i] : [])));
    }
    const byReach = axisOrder(data.endpoints, 'reach', '', peers);
    expect([...byReach].sort((a, b) => a - b)).toEqual(data.endpoints.map((_, i) => i));
    for (let k = 1; k < byReach.length; k++) {
      const [a, b] = [byReach[k - 1]!, byReach[k]!];
      expect(peers[a]! > peers[b]! || (peers[a] === peers[b] && a < b)).toBe(true);
    }
    const byClass = axisOrder(data.endpoints, 'class', '');
    for (let k = 1; k < byClass.length; k++) {
      expect(DEVICE_CLASSES.indexOf(data.endpoints[byClass[k - 1]!]!.deviceClass)).toBeLessThanOrEqual(DEVICE_CLASSES.indexOf(data.endpoints[byClass[k]!]!.deviceClass));
    }
    // Peers: as provider plus as client, against the verdicts themselves.
    const i = rng.int(0, data.endpoints.length - 1);
    const endpoints = topology.endpoints();
    const expected = endpoints.reduce((n, other, j) => n + (j !== i && mapType(endpoints[i]!, other).type === 'BUS_ADDR' ? 1 : 0) + (j !== i && mapType(other, endpoints[i]!).type === 'BUS_ADDR' ? 1 : 0), 0);
    expect(peers[i]).toBe(expected);
  });
});

describe('replay occupancy', () => {
  test.prop([fc.array(fc.integer({ min: 0, max: 4096 }), { minLength: 1, maxLength: 5000 }), fc.integer({ min: 1, max: 1200 })])('folding keeps every peak and trough, and at most maxPoints points', (used, maxPoints) => {
    const samples = used.map((u, i) => ({ t: i / 1000, usedSlots: u, totalSlots: 4096 }));
    const points = occupancyPoints(samples, maxPoints);
    expect(points.length).toBeLessThanOrEqual(Math.max(1, maxPoints));
    expect(Math.max(...points.map((p) => p.used))).toBe(Math.max(...used));
    expect(Math.min(...points.map((p) => p.low))).toBe(Math.min(...used));
    expect(points[0]!.t).toBe(0);
    const summary = occupancySummary(samples);
    expect(summary.peakUsed).toBe(Math.max(...used));
    expect(summary.peakAt).toBe(used.indexOf(Math.max(...used)) / 1000);
  });
});

describe('the palette', () => {
  const luminance = (hex: string) => {
    const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const contrast = (a: string, b: string) => { const [x, y] = [luminance(a), luminance(b)].sort((m, n) => n - m); return (x! + 0.05) / (y! + 0.05); };
  it('every letter reads on its fill (WCAG AA, 4.5:1), and the fills differ in lightness as well as hue', () => {
    for (const style of Object.values(CELL_STYLES)) expect(contrast(style.fill, style.ink)).toBeGreaterThanOrEqual(4.5);
    expect(new Set(Object.values(CELL_STYLES).map((s) => s.letter)).size).toBe(4);
    const fills = Object.values(CELL_STYLES).map((s) => s.fill);
    expect(new Set(fills).size).toBe(4);
    expect(contrast(CELL_STYLES.THRU_HOST_BRIDGE.fill, CELL_STYLES.NOT_SUPPORTED.fill)).toBeGreaterThan(1.5);
    expect(contrast(CELL_STYLES.THRU_HOST_BRIDGE.fill, CELL_STYLES.BUS_ADDR.fill)).toBeGreaterThan(2);
  });
});

describe('input shapes', () => {
  it('accept what dma-bounce policies really prints', async () => {
    const report = await runPolicies({ ios: 4, queueDepth: 2, ioSize: 4096 });
    expect(report.results.length).toBeGreaterThan(0);
    const text = JSON.stringify(report, null, 2);
    expect(await parseReportInput('policies', text, 'policies.json')).toEqual(report);
    await expect(parseReportInput('bench', text, 'policies.json')).rejects.toThrow(/this looks like a --policies report/);
  });

  it('accept random reports of every kind, and each refuses the others', async () => {
    const docs = { bench: randomBenchReport(rng), policies: randomPolicyReport(rng), replay: randomReplay(rng) } as const;
    for (const [kind, doc] of Object.entries(docs) as [keyof typeof docs, unknown][]) {
      expect(await parseReportInput(kind, JSON.stringify(doc), `${kind}.json`)).toEqual(doc);
      for (const other of Object.keys(docs) as (keyof typeof docs)[]) {
        if (other === kind) continue;
        try {
          await parseReportInput(other, JSON.stringify(doc), `${kind}.json`);
          expect.unreachable(`${kind} accepted as ${other}`);
        } catch (err: any) {
          expect(err.code).toBe('ERR_REPORT_INPUT');
          expect(err.file).toBe(`${kind}.json`);
          expect(err.path).toMatch(/^\$/);
        }
      }
    }
  });

  it('a wrong leaf anywhere is named by its JSON path', async () => {
    const doc = randomPolicyReport(rng);
    const i = rng.int(0, doc.results.length - 1);
    const key = rng.pick(['ios', 'bytesCopied', 'bytesPerSecond', 'corrupted', 'ok', 'provider']);
    doc.results[i][key] = key === 'ok' || key === 'provider' ? 42 : -1;
    if (key === 'provider') doc.results[i][key] = 42;
    try {
      await parseReportInput('policies', JSON.stringify(doc), 'x.json');
      expect.unreachable();
    } catch (err: any) {
      expect([err.code, err.path]).toEqual(['ERR_REPORT_INPUT', `$.results[${i}].${key}`]);
      expect(err.message).toMatch(new RegExp(`^x\\.json: \\$\\.results\\[${i}\\]\\.${key}: `));
    }
  });
});
