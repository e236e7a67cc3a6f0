// Every command of `sparkplane`, in the order `--help` lists them. The entry point runs them and
// the config reference (docs/config-reference.md) is generated from them.
import { benchCommand } from './commands/bench.ts';
import { doctorCommand } from './commands/doctor.ts';
import { gatewayCommand } from './commands/gateway.ts';
import { planCommand } from './commands/plan.ts';
import { shuffleCommand } from './commands/shuffle.ts';
import { upCommand } from './commands/up.ts';
import { versionCommand } from './commands/version.ts';
import type { CommandSpec } from './command.ts';

export const COMMANDS: readonly CommandSpec[] = [
  upCommand,
  gatewayCommand,
  shuffleCommand,
  doctorCommand,
  planCommand,
  benchCommand,
  versionCommand,
];
