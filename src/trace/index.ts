// The kernel's DMA tracepoints: events, their text per kernel version, the ftrace and trace-cmd
// lines, the tracer and its sinks, and the capture parser. Re-exports only.
export * from './events.js';
export * from './formats.js';
export * from './line.js';
export * from './sinks.js';
export * from './tracer.js';
export * from './parser.js';
export * from './capture.js';
