import type { Command } from '@commander-js/extra-typings';

/**
 * Every subcommand, one module each under cli/. Add a command with one line here.
 */
export function registerCommands(program: Command): void {
  program
    .command('serve')
    .description('start the HTTP API (ACKSCOPE_HOST, ACKSCOPE_PORT, ACKSCOPE_DB)')
    .action(async () => {
      const { serve } = await import('../service/server.js');
      await serve();
    });
}
