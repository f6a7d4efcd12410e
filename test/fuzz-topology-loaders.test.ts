// The topology loaders under the deterministic fuzzer (bench/reliability/fuzz-topology.ts): a fixed number of mutated and
// generated inputs, each either rejected with a coded error of the loader's kinds or accepted and
// round-tripping. Any finding fails the test and is printed with its input.
import { describe, expect, it } from 'vitest';
import { fuzzTopologyLoaders, printLspci, randomTopologySpec, FuzzRng } from '../dist/bench/reliability/fuzz-topology.js';
import { loadLspci, loadTopologyJson } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const rng = testRng('fuzz-topology-loaders');

function expectNoFindings(report: ReturnType<typeof fuzzTopologyLoaders>): void {
  for (const f of report.findings.slice(0, 5)) console.log(`[fuzz seed ${report.seed}] ${f.loader} #${f.iteration} ${f.kind}: ${f.detail}\n${f.input}`);
  expect(report.findings).toEqual([]);
}

describe('fuzzTopologyLoaders', () => {
  it('a fixed seed: 1500 inputs per loader, no findings, both outcomes exercised', () => {
    const report = fuzzTopologyLoaders({ iterations: 1500, seed: 0x5eed });
    expectNoFindings(report);
    for (const loader of [report.json, report.lspci]) {
      expect(loader.inputs).toBe(1500);
      // Mutations must reach both sides of the contract, or the fuzzer proves nothing.
      expect(loader.accepted).toBeGreaterThan(500);
      expect(loader.inputs - loader.accepted).toBeGreaterThan(500);
    }
    expect(report.json.rejected.ERR_TOPOLOGY).toBeGreaterThan(0);
    expect(report.lspci.rejected.ERR_LSPCI_PARSE).toBeGreaterThan(0);
  });

  it(`a fresh seed each run (${rng.seed}): 1000 inputs per loader, no findings`, () => {
    expectNoFindings(fuzzTopologyLoaders({ iterations: 1000, seed: rng.seed }));
  });

  it('is deterministic: the same seed gives the same counts', () => {
    const a = fuzzTopologyLoaders({ iterations: 200, seed: 7 });
    const b = fuzzTopologyLoaders({ iterations: 200, seed: 7 });
    expect({ ...a.json, slowestMs: 0 }).toEqual({ ...b.json, slowestMs: 0 });
    expect({ ...a.lspci, slowestMs: 0 }).toEqual({ ...b.lspci, slowestMs: 0 });
  });

  it('generated topologies load from JSON and from their lspci print into the same functions', () => {
    const gen = new FuzzRng(rng.seed);
    for (let i = 0; i < 100; i++) {
      const spec = randomTopologySpec(gen);
      const fromJson = loadTopologyJson(JSON.stringify(spec));
      const fromLspci = loadLspci(printLspci(spec));
      expect(fromLspci.devices().map((d) => d.bdf)).toEqual(fromJson.devices().map((d) => d.bdf));
      expect(fromLspci.endpoints().length).toBe(fromJson.endpoints().length);
    }
  });

  it('a degenerate corpus (empty, non-tree, non-object inputs) still yields only coded errors', () => {
    const report = fuzzTopologyLoaders({ iterations: 300, seed: 11, corpus: { json: ['{"hostBridges":[]}', '[]', '"x"'], lspci: ['', '-', '-[0000:00]-'] } });
    expectNoFindings(report);
    expect(report.json.rejected.ERR_TOPOLOGY).toBeGreaterThan(0);
  });
});
