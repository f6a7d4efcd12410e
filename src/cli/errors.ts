// The command line's own coded errors. They are not part of the library's API: only `dma-bounce`
// throws them, and main.ts turns each into an exit code (see exitCodeFor()).
import { DmaBounceError } from '../errors.js';

/** Bad command-line usage or a bad flag value (exit code 2). */
export class UsageError extends DmaBounceError {
  override name = 'UsageError';
  override readonly code = 'ERR_USAGE';
  /** The flag at fault (`'--threads'`), when one is. */
  readonly flag: string | undefined;
  constructor(message = 'Invalid usage', fields: { flag?: string; cause?: unknown } = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.flag = fields.flag;
  }
}

/** Why an input file was refused. */
export type InputFileReason = 'not-found' | 'unreadable' | 'not-a-file' | 'too-large' | 'encoding';

/** A file named on the command line (or stdin) cannot be used as input (exit code 2: fix the flag). */
export class InputFileError extends DmaBounceError {
  override name = 'InputFileError';
  override readonly code = 'ERR_INPUT_FILE';
  /** The path as given (`-` for stdin). */
  readonly path: string;
  readonly reason: InputFileReason;
  constructor(message: string, fields: { path: string; reason: InputFileReason; cause?: unknown }) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.path = fields.path;
    this.reason = fields.reason;
  }
}

/** An output path cannot be written (checked before a long run starts; exit code 2). */
export class OutputPathError extends DmaBounceError {
  override name = 'OutputPathError';
  override readonly code = 'ERR_OUTPUT_PATH';
  /** The path as given. */
  readonly path: string;
  /** The flag that named it (`'--out'`). */
  readonly flag: string;
  constructor(message: string, fields: { path: string; flag: string; cause?: unknown }) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.path = fields.path;
    this.flag = fields.flag;
  }
}

/** An input file of `dma-bounce report` (--bench, --policies, --replay) is not JSON of the expected shape (exit code 1). */
export class ReportInputError extends DmaBounceError {
  override name = 'ReportInputError';
  override readonly code = 'ERR_REPORT_INPUT';
  /** The file as given. */
  readonly file: string;
  /** The JSON path of the first offending value (`$.results[2].policy`; `$` when the text is not JSON). */
  readonly path: string;
  constructor(message: string, fields: { file: string; path: string; cause?: unknown }) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.file = fields.file;
    this.path = fields.path;
  }
}

/** The run had nothing to measure or report (exit code 1): no case matched, no route to measure. */
export class NothingToReportError extends DmaBounceError {
  override name = 'NothingToReportError';
  override readonly code = 'ERR_NOTHING_TO_REPORT';
}

/** An optional package the command needs is not installed (exit code 1). */
export class MissingDependencyError extends DmaBounceError {
  override name = 'MissingDependencyError';
  override readonly code = 'ERR_MISSING_DEPENDENCY';
  /** The packages to install, as `npm install` takes them. */
  readonly packages: readonly string[];
  constructor(message: string, fields: { packages: readonly string[]; cause?: unknown }) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.packages = fields.packages;
  }
}

/** Exit codes: 0 success, 1 a failure at run time, 2 usage or a bad flag value, 130 interrupted (Ctrl-C). */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, INTERRUPTED: 130 } as const;

// Codes that mean "what was typed is wrong": the library's argument and size errors reach the CLI
// only from flag values (file contents fail with ERR_TOPOLOGY or ERR_LSPCI_PARSE instead).
const USAGE_CODES: ReadonlySet<string> = new Set(['ERR_USAGE', 'ERR_INVALID_ARGUMENT', 'ERR_INVALID_SIZE', 'ERR_INPUT_FILE', 'ERR_OUTPUT_PATH']);

/** The exit code for an error a command threw: 2 for usage and bad flag values, 1 for anything else. */
export function exitCodeFor(err: unknown): number {
  return err instanceof DmaBounceError && USAGE_CODES.has(err.code) ? EXIT.USAGE : EXIT.FAILURE;
}
