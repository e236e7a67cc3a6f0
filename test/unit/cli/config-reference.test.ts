import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../../src/cli/commands.ts';
import { renderConfigReference } from '../../../src/cli/config-reference.ts';

describe('docs/config-reference.md', () => {
  const reference = renderConfigReference(COMMANDS);

  it('is current with the command declarations (npm run docs:config rewrites it)', () => {
    const committed = readFileSync(
      new URL('../../../docs/config-reference.md', import.meta.url),
      'utf8',
    );
    assert.ok(
      committed === reference,
      'docs/config-reference.md differs from the declarations: run npm run docs:config and commit it',
    );
  });

  it('lists every option of every command and subcommand with its flag, key and variable', () => {
    assert.match(reference, /^## sparkplane gateway drain$/m);
    assert.match(
      reference,
      /\| `--managed-servers N` \| `managedServers` \| `SPARKPLANE_GATEWAY_MANAGED_SERVERS` \| `0` \|/,
    );
    assert.match(
      reference,
      /\| `--backend HOST:PORT` \| `backend` \| `SPARKPLANE_GATEWAY_BACKEND` \| none \|/,
    );
    assert.match(
      reference,
      /\| `--session-idle-timeout DURATION` \| `sessionIdleTimeout` \| .* \| `60m` \|/,
    );
  });
});
