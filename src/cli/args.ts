// Strict option parsing for commands: node:util parseArgs, with its errors turned into UsageError.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

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
