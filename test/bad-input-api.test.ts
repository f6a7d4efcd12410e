// The bad-input catalogue (test/support/bad-input-catalogue.ts): every public entry point and CLI flag with
// wrong types, NaN, negative, huge, unaligned, out-of-range and overlapping values gets a coded error (never
// a TypeError or a message to match), changes nothing, and is listed in docs/bad-input.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DmaBounceError } from '../dist/src/index.js';
import { catalogue, cliCatalogue, makeRig, type CliRow, type Row } from './support/bad-input-catalogue.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const DOC = join(root, 'docs/bad-input.md');
const rig = makeRig();
const rows = catalogue(rig);
afterAll(() => rig.system.close());

const scratch = mkdtempSync(join(tmpdir(), 'dma-bounce-bad-input-'));
const files = {
  json: join(root, 'examples/switch-gpu-nvme.json'),
  lspci: join(root, 'examples/lspci-two-domains.txt'),
  missing: join(scratch, 'no-such-file.json'),
  garbage: join(scratch, 'garbage.json'),
};
writeFileSync(files.garbage, '{"hostBridges": [ {"segment": 0, ');
const cliRows = cliCatalogue(files);

async function outcome(row: Row): Promise<unknown> {
  try {
    const value = await row.run();
    // Something that should have failed was built: release it so nothing leaks, and report it.
    const closable = value as { close?: () => Promise<void> } | undefined;
    if (closable && typeof closable.close === 'function') await closable.close();
    return { resolved: true };
  } catch (error) {
    return error;
  }
}

function cli(argv: readonly string[]) {
  const r = spawnSync(process.execPath, [join(root, 'dist/src/cli/main.js'), ...argv], { cwd: root, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Rows and codes per input class, most frequent code first.
function summaryTable(all: readonly { cls: string; code: string }[]): string {
  const byClass = new Map<string, Map<string, number>>();
  for (const { cls, code } of all) {
    const codes = byClass.get(cls) ?? new Map<string, number>();
    codes.set(code, (codes.get(code) ?? 0) + 1);
    byClass.set(cls, codes);
  }
  const lines = ['| input class | rows | codes |', '| --- | --- | --- |'];
  for (const [cls, codes] of [...byClass].sort((a, b) => a[0].localeCompare(b[0]))) {
    const total = [...codes.values()].reduce((a, n) => a + n, 0);
    const list = [...codes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([code, n]) => `\`${code}\` (${n})`).join(', ');
    lines.push(`| ${cls} | ${total} | ${list} |`);
  }
  return lines.join('\n');
}

function docRow(api: string, cls: string, input: string, code: string): string {
  return `| \`${api}\` | ${cls} | ${input.replace(/\|/g, '\\|')} | \`${code}\` |`;
}

describe('bad input: library API', () => {
  const usedBefore = rig.system.swiotlb.stats().usedSlots;
  const scratchBefore = rig.system.fabric.scratch.stats().allocations;
  it.each(rows.map((row) => [`${row.api}: ${row.cls}: ${row.input}`, row] as const))('%s', async (_name, row) => {
    const error = await outcome(row);
    expect(error, 'an uncoded error or no error at all').toBeInstanceOf(DmaBounceError);
    expect((error as DmaBounceError).code).toBe(row.code);
  });

  it('left nothing behind: no swiotlb slot, no scratch allocation, no bounce mapping', () => {
    expect(rig.system.swiotlb.stats().usedSlots).toBe(usedBefore);
    expect(rig.system.fabric.scratch.stats().allocations).toBe(scratchBefore);
    expect(rig.device.bounceMappings()).toBe(0);
  });

  it('covers every input class', () => {
    const classes = new Set(rows.map((r) => r.cls));
    for (const cls of ['wrong type', 'NaN', 'negative', 'huge', 'unaligned', 'out of range', 'overlapping']) expect(classes).toContain(cls);
  });
});

describe('bad input: CLI flags', () => {
  it.each(cliRows.map((row) => [row.argv.join(' ').replace(root, ''), row] as const))('dma-bounce %s', (_name, row: CliRow) => {
    const r = cli(row.argv);
    // Exit codes: 2 for usage and bad flag values (the input errors of what was typed), 1 for failures at run time.
    expect(r.status).toBe(row.exit ?? (['ERR_USAGE', 'ERR_INVALID_ARGUMENT', 'ERR_INVALID_SIZE', 'ERR_INPUT_FILE', 'ERR_OUTPUT_PATH'].includes(row.code) ? 2 : 1));
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^dma-bounce: ${row.code}: `));
  });
});

describe('docs/bad-input.md', () => {
  it('lists every row of the catalogue with its code', () => {
    const cliDoc = (row: CliRow) => docRow(`dma-bounce ${row.argv.map((a) => (a.startsWith(root) ? a.slice(root.length) : a.startsWith(scratch) ? a.slice(scratch.length + 1) : a)).join(' ')}`, row.cls, 'see command', row.code);
    const summary = summaryTable([...rows, ...cliRows]);
    if (process.env.DMA_BOUNCE_WRITE_DOCS) {
      const [head] = readFileSync(DOC, 'utf8').split('<!-- catalogue -->');
      const [before, rest] = head!.split('<!-- summary -->');
      const after = rest === undefined ? '' : rest.split('<!-- /summary -->')[1] ?? '';
      const table = ['| entry point | input class | input | error code |', '| --- | --- | --- | --- |', ...rows.map((r) => docRow(r.api, r.cls, r.input, r.code)), ...cliRows.map(cliDoc)].join('\n');
      writeFileSync(DOC, `${before}<!-- summary -->\n${summary}\n<!-- /summary -->${after}<!-- catalogue -->\n${table}\n`);
    }
    const doc = readFileSync(DOC, 'utf8');
    expect(doc, 'the summary is generated from the catalogue (DMA_BOUNCE_WRITE_DOCS=1 rewrites it)').toContain(`<!-- summary -->\n${summary}\n<!-- /summary -->`);
    for (const row of rows) expect(doc).toContain(docRow(row.api, row.cls, row.input, row.code));
    for (const row of cliRows) expect(doc).toContain(cliDoc(row));
  });
});
