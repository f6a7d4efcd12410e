// Input files as people have them: a path or `-` (stdin); a regular file only (never a device, a
// FIFO or a directory, which could block or never end); at most MAX_INPUT_BYTES; text in UTF-8
// (with or without a BOM) or UTF-16 with a BOM (what Windows PowerShell's `>` writes), with CRLF or
// LF line ends. Synchronous, because the topology loaders it feeds are.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { InputFileError } from './errors.js';

/** The largest input accepted, bytes (a full `lspci -vvv` of a large server is a few MiB). */
export const MAX_INPUT_BYTES = 32 * 2 ** 20;

/** Where readInput() reads `-` from, and the cap; tests replace them. */
export interface InputOptions {
  /** File descriptor read for `-` (default 0, stdin). */
  readonly stdinFd?: number;
  /** Cap in bytes (default MAX_INPUT_BYTES). */
  readonly maxBytes?: number;
}

/**
 * Reads the text of `path` (`-`: standard input) and returns it decoded, with a leading BOM
 * removed and CRLF (or lone CR) line ends turned into LF. Throws InputFileError (ERR_INPUT_FILE)
 * with `reason` 'not-found', 'unreadable', 'not-a-file' (a directory, device, FIFO or socket),
 * 'too-large' (over `maxBytes`) or 'encoding' (not valid UTF-8 or UTF-16). Reads nothing but the file.
 */
export function readInput(path: string, options: InputOptions = {}): string {
  const maxBytes = options.maxBytes ?? MAX_INPUT_BYTES;
  const bytes = path === '-' ? readStdin(options.stdinFd ?? 0, maxBytes) : readRegularFile(path, maxBytes);
  return decodeText(bytes, path);
}

function readRegularFile(path: string, maxBytes: number): Uint8Array {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputFileError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, {
      path, reason: code === 'ENOENT' ? 'not-found' : 'unreadable', cause: err,
    });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      const what = stat.isDirectory() ? 'a directory' : stat.isFIFO() ? 'a FIFO' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : 'not a regular file';
      throw new InputFileError(`cannot read ${path}: it is ${what} (give a regular file, or - for stdin)`, { path, reason: 'not-a-file' });
    }
    if (stat.size > maxBytes) throw tooLarge(path, maxBytes);
    return readAll(fd, path, maxBytes);
  } finally {
    closeSync(fd);
  }
}

function readStdin(fd: number, maxBytes: number): Uint8Array {
  return readAll(fd, '-', maxBytes);
}

// Reads to end of file, refusing more than maxBytes (a file may grow after fstat; stdin has no size).
function readAll(fd: number, path: string, maxBytes: number): Uint8Array {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (err) {
      // A non-blocking pipe with nothing in it yet: wait a moment and read again.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      throw new InputFileError(`cannot read ${path === '-' ? 'stdin' : path}: ${(err as Error).message}`, { path, reason: 'unreadable', cause: err });
    }
    if (n === 0) break;
    total += n;
    if (total > maxBytes) throw tooLarge(path, maxBytes);
    chunks.push(chunk.subarray(0, n));
  }
  return Buffer.concat(chunks, total);
}

function tooLarge(path: string, maxBytes: number): InputFileError {
  return new InputFileError(`${path === '-' ? 'stdin' : path} is larger than ${maxBytes} bytes, the most an input file may hold`, { path, reason: 'too-large' });
}

/**
 * Decodes input bytes: UTF-16 LE or BE when they start with that BOM, UTF-8 otherwise (a UTF-8
 * BOM is dropped); line ends become LF. Throws InputFileError (ERR_INPUT_FILE, reason 'encoding')
 * for bytes that are not valid in that encoding.
 */
export function decodeText(bytes: Uint8Array, path = '-'): string {
  let encoding: 'utf-8' | 'utf-16le' | 'utf-16be' = 'utf-8';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) encoding = 'utf-16le';
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) encoding = 'utf-16be';
  let text: string;
  try {
    // ignoreBOM false (the default): the decoder drops the BOM of its own encoding.
    text = new TextDecoder(encoding, { fatal: true }).decode(bytes);
  } catch (err) {
    throw new InputFileError(`${path === '-' ? 'stdin' : path} is not valid ${encoding.toUpperCase()} text`, { path, reason: 'encoding', cause: err });
  }
  return text.replace(/\r\n?/g, '\n');
}
