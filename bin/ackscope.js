#!/usr/bin/env node
// Launcher: the compiled CLI (npm start/test build it first).
import('../dist/cli/ackscope.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli')) {
    console.error('ackscope is not built yet: run `npm run setup` (or `npm start`) first.');
    process.exit(1);
  }
  throw err;
});
