// Reading the measurement files `dma-bounce report` takes: each is read once, parsed, checked against its
// schema (ajv) and the few rules a schema cannot say, and handed on as typed data, or refused with a coded
// error naming the file and the JSON path. ajv is an optional package, like the chart libraries: it loads
// only when a measurement file is given.
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { BenchReport } from '../../bench/report.js';
import type { PolicyReport } from '../../bench/policies/run.js';
import { MissingDependencyError, ReportInputError } from '../cli/errors.js';
import { readInput } from '../cli/input.js';
import { BENCH_MEASURES, BENCH_SCHEMA, POLICIES_SCHEMA, REPLAY_SCHEMA } from './input-schemas.js';

/** One occupancy sample: at `t` seconds from the start, `usedSlots` of `totalSlots` swiotlb slots are in use. */
export interface OccupancySample {
  readonly t: number;
  readonly usedSlots: number;
  readonly totalSlots: number;
}

/** What the report reads from a replay's JSON. */
export interface ReplayReport {
  readonly title?: string;
  readonly poolOccupancy: readonly OccupancySample[];
}

/** The measurement inputs, by the flag that names them. */
export interface ReportInputKinds {
  readonly bench: BenchReport;
  readonly policies: PolicyReport;
  readonly replay: ReplayReport;
}
export type ReportInputKind = keyof ReportInputKinds;

const SCHEMAS = { bench: BENCH_SCHEMA, policies: POLICIES_SCHEMA, replay: REPLAY_SCHEMA } as const;
/** The package the input checks need, as `npm install` takes it (the version package.json asks for). */
export const INPUT_CHECK_PACKAGES = ['ajv@^8.20.0'] as const;

type Validators = Readonly<Record<ReportInputKind, ValidateFunction>>;
let validators: Promise<Validators> | undefined;

/**
 * Loads ajv and compiles the three schemas (once per process). Resolves with the validators; rejects with
 * MissingDependencyError (ERR_MISSING_DEPENDENCY, `packages` what to install) when ajv is not installed.
 */
export function loadInputChecks(): Promise<Validators> {
  validators ??= import('ajv').then(
    ({ Ajv }) => {
      const ajv = new Ajv({ allErrors: false, strict: true });
      return { bench: ajv.compile(SCHEMAS.bench), policies: ajv.compile(SCHEMAS.policies), replay: ajv.compile(SCHEMAS.replay) };
    },
    (err: unknown) => {
      validators = undefined;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err;
      throw new MissingDependencyError(`checking --bench, --policies and --replay files needs the optional package ajv, which is not installed: run npm install ${INPUT_CHECK_PACKAGES.join(' ')}`, {
        packages: INPUT_CHECK_PACKAGES,
        cause: err,
      });
    },
  );
  return validators;
}

// "/results/2/latencyUs" -> "$.results[2].latencyUs" (the topology loader's path style).
function jsonPath(pointer: string, extra?: string): string {
  let path = '$';
  const parts = pointer === '' ? [] : pointer.slice(1).split('/');
  if (extra !== undefined) parts.push(extra);
  for (const raw of parts) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(key)) path += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) path += `.${key}`;
    else path += `[${JSON.stringify(key)}]`;
  }
  return path;
}

function describeError(error: ErrorObject): { path: string; message: string } {
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return { path: jsonPath(error.instancePath, missing), message: 'is required' };
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
    return { path: jsonPath(error.instancePath), message: `must be one of ${allowed.join(', ')}` };
  }
  return { path: jsonPath(error.instancePath), message: error.message ?? `fails ${error.keyword}` };
}

// What else the document might be, for the error's hint.
function looksLike(value: unknown, kind: ReportInputKind, validate: Validators): string {
  if (typeof value === 'object' && value !== null && 'hostBridges' in value) return ' (this looks like a topology: give it to --topology)';
  for (const other of Object.keys(SCHEMAS) as ReportInputKind[]) {
    if (other !== kind && validate[other](value)) return ` (this looks like a --${other} report)`;
  }
  return '';
}

function fail(file: string, path: string, message: string, hint = ''): never {
  throw new ReportInputError(`${file}: ${path}: ${message}${hint}`, { file, path });
}

// The rules a schema cannot say.
function checkRules(kind: ReportInputKind, value: unknown, file: string): void {
  if (kind === 'bench') {
    (value as { cases: Record<string, unknown>[] }).cases.forEach((row, i) => {
      if (!BENCH_MEASURES.some((m) => typeof row[m] === 'number')) fail(file, `$.cases[${i}]`, `needs one of ${BENCH_MEASURES.join(', ')}`);
    });
  } else if (kind === 'replay') {
    let previous = 0;
    (value as ReplayReport).poolOccupancy.forEach((sample, i) => {
      if (sample.usedSlots > sample.totalSlots) fail(file, `$.poolOccupancy[${i}].usedSlots`, `${sample.usedSlots} is more than totalSlots ${sample.totalSlots}`);
      if (sample.t < previous) fail(file, `$.poolOccupancy[${i}].t`, `${sample.t} is earlier than the sample before it (${previous}): samples must be in time order`);
      previous = sample.t;
    });
  }
}

/**
 * Parses `text` (the contents of `file`) as a `kind` report and checks its shape. Resolves with the
 * document. Rejects with ReportInputError (ERR_REPORT_INPUT, fields `file` and `path`: `$` when the text is
 * not JSON, else the JSON path of the first offending value), or MissingDependencyError
 * (ERR_MISSING_DEPENDENCY) when ajv is not installed. Nothing but the text is read.
 */
export async function parseReportInput<K extends ReportInputKind>(kind: K, text: string, file: string): Promise<ReportInputKinds[K]> {
  const validate = await loadInputChecks();
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    fail(file, '$', `not valid JSON: ${(err as Error).message}`);
  }
  const check = validate[kind];
  if (!check(value)) {
    const { path, message } = describeError(check.errors![0]!);
    fail(file, path, message, path === '$' || /^\$\.[A-Za-z]+$/.test(path) ? looksLike(value, kind, validate) : '');
  }
  checkRules(kind, value, file);
  return value as ReportInputKinds[K];
}

/**
 * Reads `file` (a regular file, or `-` for standard input, as the command line reads every input) and
 * parses it as a `kind` report (parseReportInput()). Resolves with the document. Rejects with
 * InputFileError (ERR_INPUT_FILE) when the file is missing, is not a regular file, cannot be read or is too
 * large, and as parseReportInput() for its content.
 */
export async function readReportInput<K extends ReportInputKind>(kind: K, file: string): Promise<ReportInputKinds[K]> {
  const text = readInput(file);
  return parseReportInput(kind, text, file);
}
