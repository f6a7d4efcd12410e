// The line around an event's payload: the raw ftrace form (/sys/kernel/tracing/trace and
// trace_pipe, kernel/trace/trace_output.c) and the `trace-cmd report` form (libtraceevent).
import type { FormattedEvent } from './formats.js';

/** 'ftrace': what /sys/kernel/tracing/trace prints; 'trace-cmd': what `trace-cmd report` prints. */
export type TraceLineStyle = 'ftrace' | 'trace-cmd';
/** Every line style. */
export const TRACE_LINE_STYLES: readonly TraceLineStyle[] = ['ftrace', 'trace-cmd'];

/** Who emitted the events: the task's comm (at most 15 characters, TASK_COMM_LEN) and pid. */
export interface TraceTask {
  readonly comm: string;
  readonly pid: number;
}

/** The irqs-off, need-resched, hardirq/softirq, preempt-depth and migrate-disable columns: a task context with nothing set. */
export const TRACE_FLAGS = '.....';

/** "%5lu.%06lu" of a timestamp in seconds (trace_print_time()). */
export function timestampText(seconds: number): string {
  const us = Math.max(0, Math.round(seconds * 1e6));
  const secs = Math.floor(us / 1e6);
  return `${String(secs).padStart(5)}.${String(us - secs * 1e6).padStart(6, '0')}`;
}

/**
 * One event line without its newline. ftrace (trace_print_context()): "%16s-%-7d [%03d] FFFFF
 * %5lu.%06lu: name: payload". trace-cmd report: "%16s-%-5d [%03d] FFFFF %5lu.%06lu: name: " with the
 * name padded to 20 columns before the payload.
 */
export function formatLine(style: TraceLineStyle, task: TraceTask, cpu: number, seconds: number, event: FormattedEvent): string {
  const comm = task.comm.padStart(16);
  const cpuText = String(cpu).padStart(3, '0');
  if (style === 'ftrace') return `${comm}-${String(task.pid).padEnd(7)} [${cpuText}] ${TRACE_FLAGS} ${timestampText(seconds)}: ${event.name}: ${event.payload}`;
  const pad = event.name.length < 20 ? ' '.repeat(20 - event.name.length) : '';
  return `${comm}-${String(task.pid).padEnd(5)} [${cpuText}] ${TRACE_FLAGS} ${timestampText(seconds)}: ${event.name}: ${pad}${event.payload}`;
}

/** The header a file of this style starts with: the trace file's column legend, or trace-cmd's cpus= line. */
export function traceHeader(style: TraceLineStyle, cpus: number): string {
  if (style === 'trace-cmd') return `cpus=${cpus}\n`;
  return [
    '# tracer: nop',
    '#',
    '#                                _-----=> irqs-off/BH-disabled',
    '#                               / _----=> need-resched',
    '#                              | / _---=> hardirq/softirq',
    '#                              || / _--=> preempt-depth',
    '#                              ||| / _-=> migrate-disable',
    '#                              |||| /     delay',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '#              | |         |   |||||     |         |',
    '',
  ].join('\n');
}
