// A command is declared once: its options, each with a kind, a help line and a schema. From that
// one declaration come the command-line flags (`--state-dir`), the config-file keys (`stateDir`),
// the environment variables (`SPARKPLANE_SHUFFLE_STATE_DIR`) and the validation.
import { z } from 'zod';
import { readConfigFile, resolveConfig, type ConfigInput } from '../core/config/load.ts';

/** How a flag's or variable's text becomes a value before validation. */
export type OptionKind = 'string' | 'integer' | 'boolean' | 'list';

export interface OptionSpec<S extends z.ZodType = z.ZodType> {
  readonly kind: OptionKind;
  /** Placeholder in help, e.g. `PORT`; booleans have none. */
  readonly arg?: string;
  readonly help: string;
  readonly schema: S;
  /** The default as help shows it, when the schema's own (e.g. milliseconds) reads badly. */
  readonly defaultHelp?: string;
  /** Taken from the command's positional arguments rather than a flag. */
  readonly positional?: boolean;
}

export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly isTty: boolean;
}

export type ConfigOf<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: z.output<O[K]['schema']>;
};

export interface CommandSpec<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  readonly name: string;
  readonly summary: string;
  /** Longer text shown under the usage line of `--help`. */
  readonly description?: string;
  readonly options: O;
  /** Whether `--config FILE` is accepted (services and one-shot commands with many options). */
  readonly configFile: boolean;
  /**
   * Commands under this one (`sparkplane gateway drain`); each has its full name as `name`
   * ("gateway drain"), from which its environment variables are named too.
   */
  readonly subcommands?: readonly CommandSpec[];
  /** `reload` builds the config again from the same flags, the environment and the file as it is now. */
  run(config: ConfigOf<O>, io: CommandIo, reload: () => ConfigOf<O>): Promise<number>;
}

export function defineCommand<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
): CommandSpec<O> {
  return spec;
}

export const option = {
  string: <S extends z.ZodType>(arg: string, schema: S, help: string): OptionSpec<S> => ({
    kind: 'string',
    arg,
    schema,
    help,
  }),
  integer: <S extends z.ZodType>(arg: string, schema: S, help: string): OptionSpec<S> => ({
    kind: 'integer',
    arg,
    schema,
    help,
  }),
  list: <S extends z.ZodType>(arg: string, schema: S, help: string): OptionSpec<S> => ({
    kind: 'list',
    arg,
    schema,
    help,
  }),
  boolean: <S extends z.ZodType>(schema: S, help: string): OptionSpec<S> => ({
    kind: 'boolean',
    schema,
    help,
  }),
  positional: <S extends z.ZodType>(arg: string, schema: S, help: string): OptionSpec<S> => ({
    kind: 'list',
    arg,
    schema,
    help,
    positional: true,
  }),
};

export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

export function envName(command: string, key: string): string {
  return `SPARKPLANE_${command.toUpperCase().replace(/ /g, '_')}_${key.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}

export function configEnvName(command: string): string {
  return envName(command, 'config');
}

/** Turns flag or variable text into a value of the option's kind; odd text is left for the schema to name. */
export function fromText(kind: OptionKind, text: string | readonly string[]): unknown {
  const items = typeof text === 'string' ? [text] : text;
  switch (kind) {
    case 'string':
      return items.at(-1);
    case 'integer': {
      const last = items.at(-1) ?? '';
      return /^[+-]?\d+$/.test(last.trim()) ? Number(last) : last;
    }
    case 'boolean': {
      const last = (items.at(-1) ?? '').trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(last)) return true;
      if (['0', 'false', 'no', 'off'].includes(last)) return false;
      return last;
    }
    case 'list':
      return items
        .flatMap((item) => (typeof text === 'string' ? item.split(',') : [item]))
        .map((item) => item.trim())
        .filter((item) => item !== '');
  }
}

export interface RawInvocation {
  /** Flags the user gave, by config key, as text (booleans as true). */
  readonly flags: ReadonlyMap<string, string | readonly string[] | true>;
  readonly env: NodeJS.ProcessEnv;
}

/** Builds the command's validated config: schema defaults < config file < environment < flags. */
export function buildConfig<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  raw: RawInvocation,
): ConfigOf<O> {
  const schema = z.strictObject(
    Object.fromEntries(Object.entries(spec.options).map(([key, value]) => [key, value.schema])),
  );
  const inputs: ConfigInput[] = [];

  const configFlag = raw.flags.get('config');
  const configPath =
    typeof configFlag === 'string' ? configFlag : raw.env[configEnvName(spec.name)];
  if (spec.configFile && configPath !== undefined && configPath !== '')
    inputs.push(...readConfigFile(configPath));

  for (const [key, optionSpec] of Object.entries(spec.options)) {
    if (optionSpec.positional === true) continue;
    const name = envName(spec.name, key);
    const text = raw.env[name];
    if (text !== undefined)
      inputs.push({ key, value: fromText(optionSpec.kind, text), origin: { kind: 'env', name } });
  }
  for (const [key, given] of raw.flags) {
    const optionSpec = spec.options[key];
    if (optionSpec === undefined) continue;
    const value = given === true ? true : fromText(optionSpec.kind, given);
    const name = optionSpec.positional === true ? (optionSpec.arg ?? key) : flagName(key);
    inputs.push({ key, value, origin: { kind: 'flag', name } });
  }
  const label = (key: string): string => {
    const optionSpec = spec.options[key];
    if (optionSpec?.positional === true) return optionSpec.arg ?? key;
    return `${flagName(key)} (config key ${key}, env ${envName(spec.name, key)})`;
  };
  return resolveConfig(schema, inputs, label) as ConfigOf<O>;
}
