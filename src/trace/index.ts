// The kernel's DMA tracepoints: events, their text per kernel version, the ftrace and trace-cmd
// lines, the tracer, and the capture parser. Re-exports only (the sinks' classes stay inside).
export * from './events.js';
export * from './formats.js';
export * from './line.js';
export { lostLine, type TraceCallback, type TraceWritable, type TraceWhenFull, type TraceSinkStats } from './sinks.js';
export * from './tracer.js';
export * from './parser.js';
export * from './capture.js';
