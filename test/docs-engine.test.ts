// docs/engine.md's examples run as written: each ```js block of its "Examples" section is written
// into the package root (so that 'dma-bounce' resolves to this package), run with node, and its
// output checked against the sentence that follows it ("It prints `...`, `...` and `...`").
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const doc = readFileSync(join(root, 'docs/engine.md'), 'utf8');
const section = doc.slice(doc.indexOf('\n## Examples'));
const examples = [...section.matchAll(/### (.+)\n[\s\S]*?```js\n([\s\S]*?)```\n\nIt prints ([^\n]+(?:\n[^\n]+)*)/g)].map((m) => ({
  title: m[1]!,
  code: m[2]!,
  // The quoted lines of the sentence after the block, in order.
  prints: [...m[3]!.slice(0, m[3]!.search(/`[.:](\s|$)/) + 1).matchAll(/`([^`]+)`/g)].map((q) => q[1]!),
}));

describe('docs/engine.md examples', () => {
  it('has the three examples the page promises', () => {
    expect(examples.map((e) => e.title)).toEqual([
      '`CopyEngine.create`: promises over worker rings',
      "A `DmaChannel`'s ring: enqueue, submit, gather",
      'Your own piscina pool, both modes',
    ]);
    for (const e of examples) expect(e.prints.length, e.title).toBeGreaterThanOrEqual(3);
  });

  it.each(examples.map((e, i) => [e.title, e, i] as const))('%s prints what the page says', async (_title, example, i) => {
    const file = join(root, `engine-example-${i}.tmp.mjs`);
    writeFileSync(file, example.code);
    try {
      const { stdout, stderr } = await run(process.execPath, [file], { cwd: root, timeout: 60_000 });
      expect(stderr).toBe('');
      expect(stdout.trim().split('\n')).toEqual(example.prints);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
