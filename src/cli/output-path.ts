// Output paths are checked before a long run starts, so that an hour of benchmarking is not lost
// to a typo in --out: a directory must be (or be creatable in) a writable directory, a file must
// not be a directory and must sit in a writable directory.
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { OutputPathError } from './errors.js';

/** What the flag names: a directory (created with its parents) or a file (its directory must exist). */
export type OutputKind = 'directory' | 'file';

/**
 * Checks that `path` (named by `flag`) can be written as `kind` and returns it resolved. Throws
 * OutputPathError (ERR_OUTPUT_PATH) when it cannot: a file where a directory is expected or the
 * other way round, a parent that is missing (for a file) or not a directory, no write permission.
 * Creates and changes nothing.
 */
export function checkOutputPath(path: string, flag: string, kind: OutputKind): string {
  const fail = (why: string): never => { throw new OutputPathError(`${flag} ${path}: ${why}`, { path, flag }); };
  if (path === '') fail('empty path');
  const full = resolve(path);
  const existing = statOrUndefined(full);
  if (existing) {
    if (kind === 'directory' && !existing.isDirectory()) fail('exists and is not a directory');
    if (kind === 'file' && existing.isDirectory()) fail('is a directory (give a file name)');
    if (!writable(full)) fail('is not writable');
    return full;
  }
  // Not there yet: a file needs its directory; a directory needs its nearest existing ancestor.
  let parent = dirname(full);
  let parentStat = statOrUndefined(parent);
  if (kind === 'directory') {
    while (!parentStat && dirname(parent) !== parent) {
      parent = dirname(parent);
      parentStat = statOrUndefined(parent);
    }
  }
  if (!parentStat) fail(`directory ${parent} does not exist`);
  if (!parentStat!.isDirectory()) fail(`${parent} is not a directory`);
  if (!writable(parent)) fail(`directory ${parent} is not writable`);
  return full;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
