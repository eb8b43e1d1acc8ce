import { Command, Option } from '@commander-js/extra-typings';
import { readFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { AckscopeError } from '../core/errors.js';

/**
 * `ackscope experiment --out DIR`: runs a matrix of measurements on the network rig and
 * writes a report folder (report.md, SVG plots, results.json). With no matrix it runs the
 * small default one (about a minute). Every session stays in the database (ACKSCOPE_DB or
 * --db), so the report's links open each session's timeline in `ackscope serve`.
 */
export function experimentCommand() {
  return new Command('experiment')
    .description('run a matrix of measurements on a network rig (needs root) and write a report')
    .requiredOption('--out <dir>', 'report folder (report.md, plots as SVG, results.json)')
    .option('--matrix <file>', 'matrix as JSON (keys as the flags below; see docs/experiment.md)')
    .option('--senders <list>', 'node, posix, winsock (comma-separated)')
    .addOption(new Option('--sender <list>', 'same as --senders').hideHelp())
    .option(
      '--command <line>',
      'any program as a sender, traced by the kernel tracer; {host} {port} {size} {count} {bytes} {mode} {sndbuf} are filled in per point (repeatable; with no --senders, the only senders)',
      (line: string, previous: string[]) => [...previous, line],
      [] as string[],
    )
    .option('--modes <list>', 'serial, overlapped:WINDOW, vectored:BUFFERS')
    .option('--sizes <list>', 'bytes per send call')
    .option('--sndbufs <list>', 'SO_SNDBUF values ("default" leaves it alone)')
    .option('--rates <list>', 'bottleneck rates (20mbit, 1gbit), "unshaped" (veth, no tbf) or "loopback"')
    .option('--receivers <list>', 'reads, late:MS (delay before each read), stops:AFTER_BYTES:PAUSE_MS')
    .option('--count <n>', 'send calls per point (default: about --bytes-per-point bytes)')
    .option('--bytes-per-point <n>', 'bytes per point when --count is not given (default 1 MiB)')
    .option('--ack-rate <rate>', 'also shape the ACK path (receiver egress) to this rate')
    .option('--repeat <n>', 'runs of every point')
    .option('--db <file>', 'database to keep the sessions in (default ACKSCOPE_DB, else data/ackscope.db)')
    .option('--url <url>', 'base URL of the service for the report links (default ACKSCOPE_URL)')
    .option('--representative <n>', 'point (1-based) whose run the per-run plots draw')
    .addOption(new Option('--progress <kind>', 'progress display').choices(['auto', 'bar', 'lines', 'quiet'] as const).default('auto' as const))
    .option('--dry-run', 'print the points and exit')
    .action(async (o) => {
      const { matrixFromFlags, expandMatrix } = await import('../experiment/matrix.js');
      let base: Record<string, unknown> = {};
      if (o.matrix) {
        try {
          base = JSON.parse(readFileSync(o.matrix, 'utf8')) as Record<string, unknown>;
        } catch (err) {
          throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `--matrix ${o.matrix}: ${(err as Error).message}`, { field: 'matrix' });
        }
      }
      const matrix = matrixFromFlags(
        {
          senders: o.senders ?? o.sender,
          modes: o.modes,
          sizes: o.sizes,
          sndbufs: o.sndbufs,
          rates: o.rates,
          receivers: o.receivers,
          count: o.count,
          bytesPerPoint: o.bytesPerPoint,
          ackRate: o.ackRate,
          repeat: o.repeat,
          commands: o.command,
        },
        base,
      );
      const points = expandMatrix(matrix);
      if (o.dryRun) {
        for (const p of points) console.log(`${String(p.index + 1).padStart(3)}. ${p.label} (${p.count} calls)`);
        return;
      }
      const { configFromEnv } = await import('../service/config.js');
      const config = configFromEnv();
      const dbPath = o.db ? resolve(o.db) : config.dbPath;
      const serviceUrl = (o.url ?? process.env.ACKSCOPE_URL ?? `http://${config.host}:${config.port}`).replace(/\/$/, '');
      let representative: number | undefined;
      if (o.representative !== undefined) {
        representative = Number(o.representative);
        if (!Number.isInteger(representative) || representative < 1 || representative > points.length) {
          throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `--representative: give a point number from 1 to ${points.length}`, {
            field: 'representative',
          });
        }
      }
      const { runExperiment } = await import('../experiment/run.js');
      const { createProgress } = await import('../experiment/progress.js');
      const { checkExpectations } = await import('../experiment/expectations.js');
      const outDir = resolve(o.out);
      const { run } = await runExperiment({ outDir, dbPath, matrix, serviceUrl, representative, progress: createProgress(o.progress) });
      const ok = run.results.filter((r) => r.status === 'ok').length;
      console.log(`${ok}/${run.results.length} points measured; report: ${join(outDir, 'report.md')}`);
      for (const c of checkExpectations(run.results)) {
        console.log(`  ${c.holds === null ? 'not covered ' : c.holds ? 'confirmed   ' : 'CONTRADICTED'}  ${c.expectation}: ${c.measured}`);
      }
      if (ok === 0) process.exitCode = 1;
    });
}
