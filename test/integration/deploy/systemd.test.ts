// deploy/systemd checked by systemd itself (`systemd-analyze verify` in a scratch root holding
// the units, systemd's own unit files and the commands they run) and by sparkplane: the config
// and environment files the units read load without error, and the hardening the units promise
// is there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { prerequisiteOptions, programMissing } from '../../support/prerequisite.ts';
import { ROOT, printedConfig, runSparkplane } from '../../support/sparkplane-cli.ts';

const DIR = join(ROOT, 'deploy', 'systemd');
const SYSTEM_UNITS = '/usr/lib/systemd/system';

const MISSING =
  'systemd-analyze is not installed: the unit checks need it (Debian/Ubuntu: apt-get install systemd)';

function analyzeMissing(): string | undefined {
  return programMissing('systemd-analyze', MISSING);
}

/** Skipped with the reason where systemd-analyze is missing, except under CI=true. */
function analyzeOptions(): { skip?: string } {
  return prerequisiteOptions(analyzeMissing());
}

type Unit = Map<string, string[]>;

/** `Section.Key` → values, in order (a key may repeat). */
function readUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header !== null) {
      section = header[1] ?? '';
      continue;
    }
    const at = line.indexOf('=');
    assert.ok(at > 0, `not KEY=VALUE: ${line}`);
    const key = `${section}.${line.slice(0, at)}`;
    unit.set(key, [...(unit.get(key) ?? []), line.slice(at + 1)]);
  }
  return unit;
}

function value(unit: Unit, key: string): string | undefined {
  return unit.get(key)?.at(-1);
}

/**
 * Runs systemd-analyze verify on unit files in a scratch root: systemd's own units (targets the
 * units want) copied in, and an empty executable at every absolute path the units execute.
 */
function verify(units: Readonly<Record<string, string>>): {
  status: number | null;
  output: string;
} {
  const missing = analyzeMissing();
  if (missing !== undefined) throw new Error(missing);
  const root = mkdtempSync(join(tmpdir(), 'sparkplane-systemd-'));
  try {
    cpSync(SYSTEM_UNITS, join(root, SYSTEM_UNITS), { recursive: true });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    for (const [name, text] of Object.entries(units)) {
      writeFileSync(join(root, 'etc/systemd/system', name), text);
      for (const [key, values] of readUnit(text))
        if (key.startsWith('Service.Exec'))
          for (const command of values) {
            const program = command.replace(/^[-@:+!]+/, '').split(/\s+/)[0] ?? '';
            if (!program.startsWith('/')) continue;
            mkdirSync(dirname(join(root, program)), { recursive: true });
            writeFileSync(join(root, program), '#!/bin/sh\n');
            chmodSync(join(root, program), 0o755);
          }
    }
    const run = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...Object.keys(units)], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const UNITS = {
  gateway: 'sparkplane-gateway.service',
  shuffle: 'sparkplane-shuffle.service',
} as const;

function unitText(name: string): string {
  return readFileSync(join(DIR, name), 'utf8');
}

describe('deploy/systemd units', () => {
  it('pass systemd-analyze verify without a warning', analyzeOptions(), () => {
    const result = verify({
      [UNITS.gateway]: unitText(UNITS.gateway),
      [UNITS.shuffle]: unitText(UNITS.shuffle),
    });
    assert.deepEqual(result, { status: 0, output: '' });
  });

  it('the check catches a misspelt key and a bad value', analyzeOptions(), () => {
    const broken = unitText(UNITS.gateway)
      .replace('Restart=on-failure', 'Restart=sometimes')
      .replace('LimitNOFILE=', 'LimitNOFILES=');
    const result = verify({ [UNITS.gateway]: broken });
    assert.match(result.output, /restart specifier.*sometimes/);
    assert.match(result.output, /Unknown key 'LimitNOFILES'/);
  });

  for (const [command, name] of Object.entries(UNITS))
    it(`${name} runs \`sparkplane ${command}\` hardened, as its own user, with its state kept`, async () => {
      const unit = readUnit(unitText(name));
      const exec = value(unit, 'Service.ExecStart') ?? '';
      const match = /^\/opt\/sparkplane\/bin\/sparkplane (\w+) --config (\S+)$/.exec(exec);
      assert.ok(match !== null, exec);
      assert.equal(match[1], command);
      assert.equal(match[2], `/etc/sparkplane/${command}.yaml`);
      for (const [key, expected] of [
        ['Service.User', 'sparkplane'],
        ['Service.Group', 'sparkplane'],
        ['Service.Restart', 'on-failure'],
        ['Service.NoNewPrivileges', 'yes'],
        ['Service.ProtectSystem', 'strict'],
        ['Service.ProtectHome', 'yes'],
        ['Service.PrivateTmp', 'yes'],
        ['Service.LimitNOFILE', '65536'],
        ['Service.StateDirectory', `sparkplane/${command}`],
        ['Service.EnvironmentFile', `-/etc/sparkplane/${command}.env`],
        ['Install.WantedBy', 'multi-user.target'],
      ])
        assert.equal(value(unit, key ?? ''), expected, `${name}: ${key ?? ''}`);

      // The config file the unit reads, as shipped, loads and keeps its state in StateDirectory.
      const config = await printedConfig(command, ['--config', join(DIR, `${command}.yaml`)]);
      assert.equal(config.stateDir, `/var/lib/sparkplane/${command}`);
      assert.equal(value(unit, 'Service.WorkingDirectory'), config.stateDir);
    });

  it('the gateway reloads on SIGHUP and keeps its Spark Connect servers through a crash', () => {
    const unit = readUnit(unitText(UNITS.gateway));
    assert.equal(value(unit, 'Service.ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(value(unit, 'Service.KillMode'), 'process');
  });

  for (const command of Object.keys(UNITS))
    it(`${command}.env names only settings \`sparkplane ${command}\` has`, async () => {
      const help = await runSparkplane([command, '--help']);
      assert.equal(help.code, 0, help.stderr);
      const known = new Set(help.stdout.match(/SPARKPLANE_[A-Z0-9_]+/g) ?? []);
      const text = readFileSync(join(DIR, `${command}.env`), 'utf8');
      const env: Record<string, string> = {};
      for (const line of text.split('\n')) {
        const match = /^#?\s*(SPARKPLANE_[A-Z0-9_]+)=(.*)$/.exec(line);
        if (match === null) continue;
        const [, name = '', setting = ''] = match;
        assert.ok(known.has(name), `${name} is not a setting of sparkplane ${command}`);
        if (!line.startsWith('#')) env[name] = setting;
      }
      assert.ok(Object.keys(env).length > 0);
      const run = await runSparkplane(
        [command, '--config', join(DIR, `${command}.yaml`), '--print-config'],
        env,
      );
      assert.equal(run.code, 0, run.stderr);
    });
});
