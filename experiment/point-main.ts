/**
 * Program entry of one experiment point (experiment/point-driver.ts), started by
 * experiment/run.ts with `ip netns exec <sender namespace> node point-main <spec JSON>`.
 */
import { drive, type DriverSpec } from './point-driver.js';

const raw = process.argv[2];
if (!raw) {
  process.stderr.write('usage: point-main <spec JSON>\n');
  process.exit(2);
}
// Exit explicitly once done: the outcome is already on stdout, and a handle left open
// (stdin, a lingering socket) must not keep the point, and so the experiment, waiting.
drive(JSON.parse(raw) as DriverSpec).then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(`point driver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
