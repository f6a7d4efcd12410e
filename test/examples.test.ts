// The README's library example and the examples/ scripts run as written.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;

describe('examples', () => {
  it('the README library example prints what the README says', async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    // Inside the package, so that 'dma-bounce' resolves to this package (self-reference).
    const file = `${root}readme-example.tmp.mjs`;
    writeFileSync(file, code!);
    try {
      const { stdout } = await run(process.execPath, [file], { cwd: root });
      const lines = stdout.trim().split('\n');
      expect(lines[0]).toBe('ERR_DMA_P2P_NOT_SUPPORTED EREMOTEIO');
      expect(lines[1]).toMatch(/^bounced p2p-not-supported 0x[0-9a-f]+$/);
      expect(lines[2]).toBe('device reads 5a5a5a5a');
      expect(lines[3]).toBe('bus-address');
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('examples/own-pool.mjs copies in batch and ring mode', async () => {
    const { stdout } = await run(process.execPath, ['examples/own-pool.mjs'], { cwd: root });
    expect(stdout).toContain('batch result: { ok: true, bytes: 65536 }');
    expect(stdout).toContain('ring op 0 SUCCESS');
    expect(stdout).toContain('bytes equal: true');
  });
});
