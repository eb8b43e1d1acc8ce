import { Command } from '@commander-js/extra-typings';
import { registerCommands } from './commands.js';

const program = new Command()
  .name('ackscope')
  .description(
    'What did a send completion mean? ackscope joins libpcap captures with instrumented send calls\n' +
      'and tells, per completion, whether the bytes were queued, on the wire, or acked.',
  )
  .version('0.1.0');

registerCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  console.error(`ackscope: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`);
  process.exit(1);
});
