// Strict option parsing for commands: node:util parseArgs, with its errors turned into UsageError,
// and the checks of flag values that every command needs (exit code 2 when they fail).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DmaBounceError } from '../errors.js';
import { UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

/**
 * Parses `argv` strictly against `options` (no positionals). Returns the values. Throws UsageError
 * (ERR_USAGE) for an unknown option, a missing value or a stray argument.
 */
export function parseOptions<O extends Options>(command: string, argv: string[], options: O): Values<O> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    throw new UsageError(`${command}: ${message} (see dma-bounce ${command} --help)`);
  }
}

/**
 * The whole number `text` given to `--flag`, checked to lie in lo..hi; undefined when the flag was
 * not given. Throws UsageError (ERR_USAGE, `flag` set) otherwise.
 */
export function wholeNumberFlag(command: string, flag: string, text: string | undefined, lo: number, hi: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= lo && value <= hi)) {
    throw new UsageError(`${command}: --${flag} must be a whole number in ${lo}..${hi}, got "${text}"`, { flag: `--${flag}` });
  }
  return value;
}

/**
 * Runs `parse(text)` for the value of `--flag` and returns its result; a coded error it throws
 * becomes a UsageError (ERR_USAGE) naming the flag, with the original as `cause`.
 */
export function flagValue<T>(command: string, flag: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof DmaBounceError)) throw err;
    throw new UsageError(`${command}: --${flag} ${JSON.stringify(text)}: ${err.message} (${err.code})`, { flag: `--${flag}`, cause: err });
  }
}
