#!/usr/bin/env node
// dma-bounce: dispatches to the commands in ./commands/.
import { readFileSync } from 'node:fs';
import { DmaBounceError } from '../errors.js';
import type { Command, Io } from './command.js';
import { registry } from './commands/index.js';
import { EXIT, exitCodeFor, UsageError } from './errors.js';

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
  return `Usage: dma-bounce <command> [options]
       dma-bounce help <command>     the command's options (same as <command> --help)
       dma-bounce --version          the package version

Commands:
${await listing()}

Wherever a command takes a FILE, - reads standard input.
Exit codes: 0 success, 1 failure at run time, 2 usage or a bad flag value, 130 interrupted.
`;
}

/** The package's version, from its package.json. */
export function version(): string {
  // dist/src/cli/main.js and src/cli/main.ts both sit three levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function commandLoader(name: string): (() => Promise<Command>) | undefined {
  return Object.hasOwn(registry, name) ? registry[name] : undefined;
}

function unknownCommand(name: string): UsageError {
  return new UsageError(`unknown command "${name}" (available: ${Object.keys(registry).join(', ')}; see dma-bounce --help)`);
}

/**
 * Runs one CLI invocation. Returns the exit code: 0 success, 1 a failure at run time, 2 usage or a
 * bad flag value (see exitCodeFor()). Errors are reported on `io.stderr` as
 * `dma-bounce: ERR_CODE: message`; stdout gets only the command's output.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      io.stderr(await usage());
      return EXIT.USAGE;
    }
    if (name === '--help' || name === '-h') {
      io.stdout(await usage());
      return EXIT.OK;
    }
    if (name === '--version' || name === '-V') {
      io.stdout(`${version()}\n`);
      return EXIT.OK;
    }
    if (name === 'help') {
      if (rest.length === 0) {
        io.stdout(await usage());
        return EXIT.OK;
      }
      if (rest.length > 1) throw new UsageError(`help takes one command name, got ${rest.length}`);
      const load = commandLoader(rest[0]!);
      if (!load) throw unknownCommand(rest[0]!);
      return await (await load()).run(['--help'], io);
    }
    const load = commandLoader(name);
    if (!load) throw unknownCommand(name);
    const command = await load();
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof DmaBounceError) {
      io.stderr(`dma-bounce: ${err.code}: ${err.message}\n`);
      return exitCodeFor(err);
    }
    const message = err instanceof Error ? (process.env.DMA_BOUNCE_DEBUG ? (err.stack ?? err.message) : err.message) : String(err);
    io.stderr(`dma-bounce: ERR_INTERNAL: ${message}\n`);
    return EXIT.FAILURE;
  }
}

// Ctrl-C: bench, map-benchmark and policies stop early, report what they measured and return 130;
// every other command is ended by the signal, which a shell reports as 130 too.
process.exitCode = await main(process.argv.slice(2));
