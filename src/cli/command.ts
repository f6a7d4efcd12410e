// What every CLI command provides, and where it writes.

/** Output sinks; the CLI passes process.stdout/stderr, tests may capture. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** One `dma-bounce <name>` command. `run` returns the exit code; it throws coded errors for failures. */
export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly usage: string;
  run(argv: string[], io: Io): Promise<number> | number;
}
