// Writes docs/config-reference.md from the command declarations (npm run docs:config).
import { writeFileSync } from 'node:fs';
import { COMMANDS } from '../src/cli/commands.ts';
import { renderConfigReference } from '../src/cli/config-reference.ts';

const target = new URL('../docs/config-reference.md', import.meta.url);
writeFileSync(target, renderConfigReference(COMMANDS));
process.stdout.write(`wrote ${target.pathname}\n`);
