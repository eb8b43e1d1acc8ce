/**
 * Prerequisites of the live tests, asserted rather than skipped: CI runs as root on a
 * machine where set-up installed the tools, so a missing prerequisite is a failure with
 * a message that says what to do, never a quietly skipped test.
 */
import assert from 'node:assert/strict';
import { nativeAvailable } from '../../capture/native/index.js';

export function requireRoot(why: string): void {
  assert.equal(process.getuid?.(), 0, `${why}: run the tests as root (npm test, as CI does)`);
}

export function requireLiveCapture(): void {
  requireRoot('live capture');
  assert.ok(nativeAvailable(), 'the capture addon must be built (bash scripts/build.sh)');
}
