#!/usr/bin/env node
// dma-bounce: dispatches to the commands in ./commands/.
import { DmaBounceError, UsageError } from '../errors.js';
import type { Command, Io } from './command.js';
import { registry } from './commands/index.js';

const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

async function listing(): Promise<string> {
  const commands: Command[] = await Promise.all(Object.values(registry).map((load) => load()));
  const width = Math.max(...commands.map((command) => command.name.length));
  return commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n');
}

async function usage(): Promise<string> {
  return `Usage: dma-bounce <command> [options]\n\nCommands:\n${await listing()}\n\nRun 'dma-bounce <command> --help' for a command's options.\n`;
}

/**
 * Runs one CLI invocation. Returns the exit code: 0 success, 2 usage error, 1 any other error.
 * Errors are reported on `io.stderr` as `dma-bounce: ERR_CODE: message`; stdout gets only the command's output.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      io.stderr(await usage());
      return 2;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      io.stdout(await usage());
      return 0;
    }
    const load = Object.hasOwn(registry, name) ? registry[name] : undefined;
    if (!load) throw new UsageError(`unknown command "${name}" (available: ${Object.keys(registry).join(', ')})`);
    const command = await load();
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof DmaBounceError) {
      io.stderr(`dma-bounce: ${err.code}: ${err.message}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    const message = err instanceof Error ? (process.env.DMA_BOUNCE_DEBUG ? (err.stack ?? err.message) : err.message) : String(err);
    io.stderr(`dma-bounce: ERR_INTERNAL: ${message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
