// schema/topology.schema.json against the JSON loader: every example validates and loads; the schema
// allows exactly the keys the loader's checkKeys() lists allow (read from src/pci/topology.ts, so
// that one changing without the other fails here); generated valid topologies validate; and a key
// the loader refuses is refused by the schema too.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { FuzzRng, randomTopologySpec } from '../dist/bench/reliability/fuzz-topology.js';
import { DEVICE_KINDS, loadTopologyJson } from '../dist/src/index.js';
import { testRng } from './support/random.js';

const root = new URL('..', import.meta.url).pathname;
const schema = JSON.parse(readFileSync(join(root, 'schema/topology.schema.json'), 'utf8'));
// ajv is CommonJS: under NodeNext its class is the default export's `default`.
const validate = new Ajv.default({ allErrors: true, strict: true }).compile(schema);
const rng = testRng('docs-schema');

// Keys another branch is adding, already in the schema. Delete an entry once the loader accepts it
// (the test below fails until then... and after, if the entry stays). None at present.
const COMING: Readonly<Record<string, readonly string[]>> = {};

// Each checkKeys(value, [...keys], path) call of the loader, as key lists.
function loaderKeyLists(): string[][] {
  const file = join(root, 'src/pci/topology.ts');
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const lists: string[][] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'checkKeys') {
      const keys = n.arguments[1];
      expect(keys && ts.isArrayLiteralExpression(keys), 'checkKeys takes its keys as an array literal').toBe(true);
      lists.push((keys as ts.ArrayLiteralExpression).elements.map((e) => (e as ts.StringLiteral).text));
    }
    ts.forEachChild(n, visit);
  };
  visit(source);
  return lists;
}

// The schema object a key list describes, by a key only that object has.
const OBJECTS: Readonly<Record<string, { key: string; properties: () => Record<string, unknown> }>> = {
  root: { key: 'hostBridges', properties: () => schema.properties },
  cpu: { key: 'family', properties: () => schema.definitions.cpu.properties },
  hostBridge: { key: 'segment', properties: () => schema.definitions.hostBridge.properties },
  device: { key: 'bdf', properties: () => schema.definitions.device.properties },
  bar: { key: 'p2pmem', properties: () => schema.definitions.bar.properties },
  acs: { key: 'capability', properties: () => schema.definitions.acs.properties },
  slot: { key: 'hotPlug', properties: () => schema.definitions.slot.properties },
  sriov: { key: 'totalVfs', properties: () => schema.definitions.sriov.properties },
  resizable: { key: 'supported', properties: () => schema.definitions.resizable.properties },
  // After bar: a VF BAR's keys are a BAR's without p2pmem.
  sriovBar: { key: 'index', properties: () => schema.definitions.sriovBar.properties },
};

describe('schema/topology.schema.json', () => {
  it('is valid JSON Schema (draft-07) and every example validates against it and loads', () => {
    const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.json'));
    expect(examples.length).toBeGreaterThanOrEqual(4);
    for (const name of examples) {
      const text = readFileSync(join(root, 'examples', name), 'utf8');
      const value = JSON.parse(text);
      expect(value.$schema, `${name} names the schema`).toBe('../schema/topology.schema.json');
      expect(validate(value), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(() => loadTopologyJson(text), name).not.toThrow();
    }
  });

  it('allows exactly the keys the loader allows, object by object', () => {
    const lists = loaderKeyLists();
    const matched = new Set<string>();
    for (const keys of lists) {
      const object = Object.entries(OBJECTS).find(([, o]) => keys.includes(o.key));
      expect(object, `a schema object for the loader's keys ${keys.join(', ')}`).toBeDefined();
      const [name, { properties }] = object!;
      matched.add(name);
      const coming = COMING[name] ?? [];
      for (const key of coming) expect(keys, `${name}.${key} is accepted by the loader now: remove it from COMING`).not.toContain(key);
      expect(Object.keys(properties()).sort(), name).toEqual([...keys, ...coming].sort());
      expect(schema.definitions[name]?.additionalProperties ?? schema.additionalProperties, `${name} refuses other keys`).toBe(false);
    }
    for (const name of Object.keys(OBJECTS)) if (!matched.has(name)) expect(COMING.device ?? [], `${name} is only in the schema`).toContain(name);
  });

  it('lists the device kinds the loader knows', () => {
    expect(schema.definitions.device.properties.kind.enum).toEqual([...DEVICE_KINDS]);
  });

  it(`accepts every generated valid topology (seed ${rng.seed})`, () => {
    const gen = new FuzzRng(rng.seed);
    for (let i = 0; i < 200; i++) {
      const spec = randomTopologySpec(gen);
      expect(() => loadTopologyJson(JSON.stringify(spec))).not.toThrow();
      expect(validate(spec), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('refuses what the loader refuses by shape: unknown keys, bad BDFs, decimal sizes, bad kinds', () => {
    const base = JSON.parse(readFileSync(join(root, 'examples/switch-gpu-nvme.json'), 'utf8'));
    const variants: [string, (spec: any) => void][] = [
      ['unknown root key', (s) => { s.cpus = 2; }],
      ['unknown device key', (s) => { s.hostBridges[0].devices[0].colour = 'red'; }],
      ['upper-case BDF', (s) => { s.hostBridges[0].devices[0].bdf = '0000:00:0A.0'; }],
      ['decimal size unit', (s) => { s.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].size = '64MB'; }],
      ['unknown kind', (s) => { s.hostBridges[0].devices[0].kind = 'gpu'; }],
      ['BAR index 6', (s) => { s.hostBridges[0].devices[1].children[0].children[0].children[0].bars[0].index = 6; }],
      ['$schema not a string', (s) => { s.$schema = 7; }],
    ];
    for (const [name, mutate] of variants) {
      const spec = structuredClone(base);
      mutate(spec);
      expect(validate(spec), name).toBe(false);
      expect(() => loadTopologyJson(JSON.stringify(spec)), name).toThrow(expect.objectContaining({ code: 'ERR_TOPOLOGY' }));
    }
  });
});
