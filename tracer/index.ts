/** The kernel tracer: run it, parse its events (lines or binary frames), join its moments to its calls. */
export * from './errors.js';
export * from './events.js';
export * from './frames.js';
export * from './join.js';
export * from './run.js';
export * from './feed.js';
