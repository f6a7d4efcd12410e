// src/cli/input.ts and src/cli/output-path.ts: input files as people have them (BOMs, UTF-16, CRLF,
// stdin), what is refused (devices, FIFOs, directories, files over the cap, bad encodings), and the
// output-path check made before a long run.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputFileError, OutputPathError } from '../dist/src/cli/errors.js';
import { decodeText, MAX_INPUT_BYTES, readInput } from '../dist/src/cli/input.js';
import { checkOutputPath } from '../dist/src/cli/output-path.js';
import { testRng } from './support/random.js';

const rng = testRng('cli-input');
const dir = mkdtempSync(join(tmpdir(), 'dma-bounce-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Random printable text with random LF, CRLF and lone-CR line ends, and its LF form.
function randomText(lines: number): { raw: string; lf: string } {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 -+[]:.{}"äöü€µ─┬';
  const body = Array.from({ length: lines }, () => Array.from({ length: rng.int(0, 40) }, () => rng.pick([...alphabet])).join(''));
  const ends = body.map(() => rng.pick(['\n', '\r\n', '\r']));
  // A lone CR then an empty line ending in LF reads as one CRLF: the text means one line break there.
  for (let i = 0; i + 1 < body.length; i++) if (ends[i] === '\r' && body[i + 1] === '' && ends[i + 1] === '\n') ends[i] = '\r\n';
  return { raw: body.map((l, i) => l + ends[i]).join(''), lf: body.map((l) => l + '\n').join('') };
}

function file(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function refusal(fn: () => unknown): InputFileError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputFileError);
    return err as InputFileError;
  }
  throw new Error('no error');
}

describe('readInput', () => {
  it('decodes UTF-8 with and without a BOM, UTF-16 LE and BE with a BOM, and turns CRLF and CR into LF', () => {
    const { raw, lf } = randomText(rng.int(20, 60));
    const utf16be = Buffer.from(raw, 'utf16le').swap16();
    const encodings: [string, Buffer][] = [
      ['utf8', Buffer.from(raw, 'utf8')],
      ['utf8-bom', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(raw, 'utf8')])],
      ['utf16le-bom', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(raw, 'utf16le')])],
      ['utf16be-bom', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be])],
    ];
    for (const [name, bytes] of encodings) expect(readInput(file(name, bytes)), name).toBe(lf);
  });

  it('reads - from stdin (a pipe), with the same decoding', () => {
    const { raw, lf } = randomText(30);
    const script = `import { readInput } from ${JSON.stringify(new URL('../dist/src/cli/input.js', import.meta.url).href)}; process.stdout.write(JSON.stringify(readInput('-')));`;
    const input = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(raw, 'utf16le')]);
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { input });
    expect(JSON.parse(out.toString())).toBe(lf);
  });

  it('refuses a missing file, a directory, a device and a FIFO with ERR_INPUT_FILE, without blocking', () => {
    expect(refusal(() => readInput(join(dir, 'missing.json')))).toMatchObject({ code: 'ERR_INPUT_FILE', reason: 'not-found', path: join(dir, 'missing.json') });
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    expect(refusal(() => readInput(sub))).toMatchObject({ reason: 'not-a-file', message: expect.stringContaining('it is a directory') });
    expect(refusal(() => readInput('/dev/zero'))).toMatchObject({ reason: 'not-a-file', message: expect.stringContaining('it is a device') });
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // No writer ever opens it: a blocking open would hang this test.
    expect(refusal(() => readInput(fifo))).toMatchObject({ reason: 'not-a-file', message: expect.stringContaining('it is a FIFO') });
  });

  it('refuses a file over the cap (checked by size and while reading), and accepts one at the cap', () => {
    const cap = rng.int(100, 5000);
    const at = file('at-cap', Buffer.alloc(cap, 0x61));
    expect(readInput(at, { maxBytes: cap })).toHaveLength(cap);
    const over = file('over-cap', Buffer.alloc(cap + 1, 0x61));
    expect(refusal(() => readInput(over, { maxBytes: cap }))).toMatchObject({ reason: 'too-large' });
    // stdin has no size: the cap holds while reading.
    const fd = openSync(over, 'r');
    try {
      expect(refusal(() => readInput('-', { maxBytes: cap, stdinFd: fd }))).toMatchObject({ reason: 'too-large', path: '-' });
    } finally {
      closeSync(fd);
    }
    expect(MAX_INPUT_BYTES).toBe(32 * 2 ** 20);
  });

  it('refuses bytes that are not valid in their encoding', () => {
    expect(refusal(() => decodeText(Uint8Array.from([0x7b, 0xc3, 0x28, 0x7d]), 'x.json'))).toMatchObject({ reason: 'encoding', path: 'x.json' });
    // A lone high surrogate in UTF-16 LE.
    expect(refusal(() => decodeText(Uint8Array.from([0xff, 0xfe, 0x00, 0xd8, 0x41, 0x00])))).toMatchObject({ reason: 'encoding' });
  });
});

describe('checkOutputPath', () => {
  const fails = (path: string, kind: 'file' | 'directory'): OutputPathError => {
    try {
      checkOutputPath(path, '--out', kind);
    } catch (err) {
      expect(err).toBeInstanceOf(OutputPathError);
      return err as OutputPathError;
    }
    throw new Error('no error');
  };

  it('accepts an existing directory, a new directory under existing ones, a new file in a directory', () => {
    expect(checkOutputPath(dir, '--out', 'directory')).toBe(dir);
    expect(checkOutputPath(join(dir, 'new', 'deeper'), '--out', 'directory')).toBe(join(dir, 'new', 'deeper'));
    expect(checkOutputPath(join(dir, 'trace.json'), '--trace', 'file')).toBe(join(dir, 'trace.json'));
  });

  it('refuses a file where a directory is expected and the other way round, a missing parent, and creates nothing', () => {
    const existing = file('report.json', '{}');
    expect(fails(existing, 'directory')).toMatchObject({ code: 'ERR_OUTPUT_PATH', flag: '--out', path: existing, message: expect.stringContaining('exists and is not a directory') });
    expect(fails(join(existing, 'sub'), 'directory').message).toContain('is not a directory');
    expect(fails(dir, 'file').message).toContain('is a directory');
    expect(fails(join(dir, 'no-such-dir', 'trace.json'), 'file').message).toContain('does not exist');
    expect(fails('', 'file').message).toContain('empty path');
    expect(() => readInput(join(dir, 'new'))).toThrow(InputFileError);
  });
});
