import { DEFAULT_SERVICE_URL } from '../core/api-reply.js';
import type { Command } from '@commander-js/extra-typings';
import { sendCommand } from './send.js';
import { receiveCommand } from './receive.js';
import { experimentCommand } from './experiment.js';
import { reportCommand } from './report.js';
import { traceCommand } from './trace.js';
import { hostsCommand } from './hosts.js';

/**
 * Every subcommand, one module each under cli/. Add a command with one line here.
 */
export function registerCommands(program: Command): void {
  program.addCommand(sendCommand());
  program.addCommand(receiveCommand());
  program.addCommand(experimentCommand());
  program.addCommand(reportCommand());
  program.addCommand(traceCommand());
  program.addCommand(hostsCommand());
  program
    .command('serve')
    .description('start the HTTP API (ACKSCOPE_HOST, ACKSCOPE_PORT, ACKSCOPE_DB)')
    .action(async () => {
      const { serve } = await import('../service/server.js');
      await serve();
    });

  program
    .command('import')
    .description('stream a pcap or pcapng file into an import session (created unless --session is given)')
    .argument('<file>', 'capture file (pcap or pcapng)')
    .option('--url <url>', `the service (default ACKSCOPE_URL, else ${DEFAULT_SERVICE_URL})`)
    .option('--session <id>', 'an existing import session to fill')
    .option('--name <name>', 'name of the new session (default: the file name)')
    .action(async (file, options) => {
      const { runImportCommand } = await import('./import.js');
      await runImportCommand(file, options);
    });

  program
    .command('ingest')
    .description('post an NDJSON file of completion records (docs/completions.md) to a session, streamed')
    .argument('<file>', 'NDJSON completion records, e.g. from sender/c/build/ackscope-send-posix --out FILE')
    .requiredOption('--session <id>', 'session to add the completions to')
    .option('--url <url>', `the service (default ACKSCOPE_URL, else ${DEFAULT_SERVICE_URL})`)
    .option('--allow-far-from-capture', "accept records far from the session's time span (a session with no capture; docs/completions.md)")
    .action(async (file, options) => {
      const { runIngestCommand } = await import('./ingest.js');
      await runIngestCommand(file, options);
    });
}
