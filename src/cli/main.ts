// Entry point of the `sparkplane` command (bin/sparkplane runs this file).
import { benchCommand } from './commands/bench.ts';
import { doctorCommand } from './commands/doctor.ts';
import { gatewayCommand } from './commands/gateway.ts';
import { planCommand } from './commands/plan.ts';
import { shuffleCommand } from './commands/shuffle.ts';
import { upCommand } from './commands/up.ts';
import { versionCommand } from './commands/version.ts';
import type { CommandSpec } from './command.ts';
import { runCli } from './program.ts';

export const COMMANDS: readonly CommandSpec[] = [
  upCommand,
  gatewayCommand,
  shuffleCommand,
  doctorCommand,
  planCommand,
  benchCommand,
  versionCommand,
];

// A reader that goes away (`sparkplane --help | head`) is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const code = await runCli(process.argv.slice(2), COMMANDS, {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  isTty: process.stderr.isTTY,
});
// Services have closed (or a second signal asked not to wait): nothing left should hold the process.
process.exit(code);
