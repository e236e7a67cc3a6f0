// The command line: commander parses, the command declarations (command.ts) validate. Every usage
// error becomes one line on stderr and exit code 2.
import { Command, CommanderError, Option } from 'commander';
import { isSparkplaneError } from '../core/errors.ts';
import { VERSION } from '../core/version.ts';
import {
  buildConfig,
  configEnvName,
  envName,
  flagName,
  type CommandIo,
  type CommandSpec,
  type OptionSpec,
} from './command.ts';

const USAGE_EXIT_CODE = 2;

export async function runCli(
  argv: readonly string[],
  commands: readonly CommandSpec[],
  io: CommandIo,
): Promise<number> {
  let exitCode = 0;
  let current = 'sparkplane';
  const program = new Command('sparkplane')
    .description(
      'The network plane for Apache Spark: a Spark Connect gateway, an external shuffle service and a connectivity doctor.',
    )
    .version(VERSION, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => undefined })
    .exitOverride();

  const register = (parent: Command, spec: CommandSpec): void => {
    const command = parent
      .command(spec.name.split(' ').at(-1) ?? spec.name)
      .summary(spec.summary)
      .description(spec.description ?? spec.summary)
      .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => undefined })
      .showSuggestionAfterError(true)
      .exitOverride();
    for (const [key, optionSpec] of Object.entries(spec.options))
      addOption(command, spec, key, optionSpec);
    if (spec.configFile) {
      command.addOption(
        new Option(
          '--config <FILE>',
          `YAML file with any of the keys above in camelCase (env ${configEnvName(spec.name)})`,
        ),
      );
    }
    command.addHelpText('after', helpFooter(spec));
    command.action(async (...args: unknown[]) => {
      const flags = collectFlags(spec, command, args);
      const config = buildConfig(spec, { flags, env: io.env });
      exitCode = await spec.run(config, io, () => buildConfig(spec, { flags, env: io.env }));
    });
    if (spec.subcommands !== undefined && spec.subcommands.length > 0) {
      // Options after a subcommand's name are the subcommand's own.
      command.enablePositionalOptions();
      command.hook('preSubcommand', (_command, subcommand) => {
        current = `${current} ${subcommand.name()}`;
      });
      for (const child of spec.subcommands) register(command, child);
    }
  };
  program.enablePositionalOptions();
  for (const spec of commands) register(program, spec);

  if (argv.length === 0) {
    io.stderr(program.helpInformation());
    return USAGE_EXIT_CODE;
  }
  program.hook('preSubcommand', (_command, subcommand) => {
    current = `${current} ${subcommand.name()}`;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      io.stderr(`${current}: ${oneLine(error.message)} (see '${current} --help')\n`);
      return USAGE_EXIT_CODE;
    }
    if (isSparkplaneError(error)) {
      io.stderr(`${current}: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr(
      `${current}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}

function addOption(command: Command, spec: CommandSpec, key: string, optionSpec: OptionSpec): void {
  if (optionSpec.positional === true) {
    command.argument(`[${optionSpec.arg ?? key}...]`, optionSpec.help);
    return;
  }
  const flag = flagName(key);
  const env = envName(spec.name, key);
  const shown = optionSpec.defaultHelp ?? defaultText(optionSpec);
  const repeatable = optionSpec.kind === 'list' ? ', repeatable' : '';
  const help = `${optionSpec.help}${shown === undefined ? '' : ` (default ${shown})`} [env ${env}${repeatable}]`;
  if (optionSpec.kind === 'boolean') {
    command.addOption(new Option(flag, help));
    return;
  }
  const option = new Option(`${flag} <${optionSpec.arg ?? 'VALUE'}>`, help);
  if (optionSpec.kind === 'list') {
    option.argParser((value: string, previous: string[] | undefined) => [
      ...(previous ?? []),
      value,
    ]);
  }
  command.addOption(option);
}

function defaultText(optionSpec: OptionSpec): string | undefined {
  const parsed = optionSpec.schema.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return undefined;
  const value: unknown = parsed.data;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.join(',');
  if (value === false) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function collectFlags(
  spec: CommandSpec,
  command: Command,
  args: unknown[],
): Map<string, string | string[] | true> {
  const flags = new Map<string, string | string[] | true>();
  const values = command.opts<Record<string, unknown>>();
  for (const [key, value] of Object.entries(values)) {
    if (command.getOptionValueSource(key) !== 'cli') continue;
    if (value === true || typeof value === 'string') flags.set(key, value);
    else if (Array.isArray(value)) flags.set(key, value.map(String));
  }
  const positional = Object.entries(spec.options).find(
    ([, optionSpec]) => optionSpec.positional === true,
  );
  const given = args[0];
  if (positional !== undefined && Array.isArray(given) && given.length > 0)
    flags.set(positional[0], given.map(String));
  return flags;
}

function helpFooter(spec: CommandSpec): string {
  const keys = Object.entries(spec.options)
    .filter(([, optionSpec]) => optionSpec.positional !== true)
    .map(([key]) => key);
  if (!spec.configFile) return '';
  return `\nConfig keys (file, env ${envName(spec.name, '')}*, flags; flags win): ${keys.join(', ')}\n`;
}

function oneLine(message: string): string {
  return message
    .replace(/^error: /, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => line.replace(/^\((.*)\)$/, '$1').replace(/^Did you mean/, 'did you mean'))
    .join('; ');
}
