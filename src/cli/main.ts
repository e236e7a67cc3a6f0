// Entry point of the `sparkplane` command (bin/sparkplane runs this file).
import { COMMANDS } from './commands.ts';
import { runCli } from './program.ts';

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
