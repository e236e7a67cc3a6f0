// Command declarations: one option spec yields the flag, the config key, the variable and the
// validation, and buildConfig merges them default < --config file < environment < flag.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import {
  buildConfig,
  configEnvName,
  defineCommand,
  envName,
  flagName,
  fromText,
  option,
  type RawInvocation,
} from '../../../src/cli/command.ts';
import { duration, path, port } from '../../../src/core/config/fields.ts';
import { ConfigError } from '../../../src/core/errors.ts';

describe('flagName and envName', () => {
  for (const [key, flag, env] of [
    ['port', '--port', 'SPARKPLANE_SHUFFLE_PORT'],
    ['stateDir', '--state-dir', 'SPARKPLANE_SHUFFLE_STATE_DIR'],
    ['shutdownTimeout', '--shutdown-timeout', 'SPARKPLANE_SHUFFLE_SHUTDOWN_TIMEOUT'],
    ['allowedRoot', '--allowed-root', 'SPARKPLANE_SHUFFLE_ALLOWED_ROOT'],
  ] as const) {
    it(`${key} → ${flag}, ${env}`, () => {
      assert.equal(flagName(key), flag);
      assert.equal(envName('shuffle', key), env);
    });
  }

  it('names the config-file variable of a command', () => {
    assert.equal(configEnvName('gateway'), 'SPARKPLANE_GATEWAY_CONFIG');
  });
});

describe('fromText', () => {
  it('string: the last value wins', () => {
    assert.equal(fromText('string', 'a'), 'a');
    assert.equal(fromText('string', ['a', 'b']), 'b');
  });

  it('integer: whole numbers become numbers, anything else stays text for the schema', () => {
    assert.equal(fromText('integer', '7337'), 7337);
    assert.equal(fromText('integer', ' 42 '), 42);
    assert.equal(fromText('integer', '-1'), -1);
    assert.equal(fromText('integer', '+5'), 5);
    assert.equal(fromText('integer', ['1', '2']), 2);
    assert.equal(fromText('integer', 'abc'), 'abc');
    assert.equal(fromText('integer', '1.5'), '1.5');
    assert.equal(fromText('integer', '1e3'), '1e3');
    assert.equal(fromText('integer', ''), '');
  });

  it('boolean: the usual words, anything else stays text', () => {
    for (const yes of ['1', 'true', 'YES', ' on ']) assert.equal(fromText('boolean', yes), true);
    for (const no of ['0', 'false', 'No', 'off']) assert.equal(fromText('boolean', no), false);
    assert.equal(fromText('boolean', 'maybe'), 'maybe');
  });

  it('list: a variable splits on commas, repeated flags do not', () => {
    assert.deepEqual(fromText('list', '/a, /b,,'), ['/a', '/b']);
    assert.deepEqual(fromText('list', ['/a,/b', ' /c ']), ['/a,/b', '/c']);
    assert.deepEqual(fromText('list', ''), []);
  });
});

const serveCommand = defineCommand({
  name: 'serve',
  summary: 'a small command for tests',
  configFile: true,
  options: {
    port: option.integer('PORT', port().default(7337), 'port'),
    stateDir: option.string('DIR', path().optional(), 'state'),
    root: option.list('DIR', z.array(path()).default([]), 'roots'),
    timeout: option.string('DURATION', duration().default(3000), 'timeout'),
    verbose: option.boolean(z.boolean().default(false), 'more output'),
    targets: option.positional('TARGET', z.array(z.string()).default([]), 'targets'),
  },
  run: () => Promise.resolve(0),
});

describe('buildConfig', () => {
  let dir = '';
  let file = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sparkplane-command-'));
    file = join(dir, 'serve.yaml');
    writeFileSync(file, 'port: 1000\nstateDir: /from-file\ntimeout: 1s\n');
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const invocation = (
    flags: Record<string, string | string[] | true>,
    env: Record<string, string> = {},
  ): RawInvocation => ({ flags: new Map(Object.entries(flags)), env });

  it('uses the schema defaults when nothing is given', () => {
    assert.deepEqual(buildConfig(serveCommand, invocation({})), {
      port: 7337,
      root: [],
      timeout: 3000,
      verbose: false,
      targets: [],
    });
  });

  it('takes the --config file over the defaults', () => {
    assert.deepEqual(buildConfig(serveCommand, invocation({ config: file })), {
      port: 1000,
      stateDir: '/from-file',
      root: [],
      timeout: 1000,
      verbose: false,
      targets: [],
    });
  });

  it('finds the config file through its variable too', () => {
    const config = buildConfig(serveCommand, invocation({}, { SPARKPLANE_SERVE_CONFIG: file }));
    assert.equal(config.port, 1000);
  });

  it('takes the environment over the file', () => {
    const config = buildConfig(
      serveCommand,
      invocation(
        { config: file },
        {
          SPARKPLANE_SERVE_PORT: '2000',
          SPARKPLANE_SERVE_ROOT: '/x,/y',
          SPARKPLANE_SERVE_VERBOSE: 'yes',
        },
      ),
    );
    assert.equal(config.port, 2000);
    assert.equal(config.stateDir, '/from-file');
    assert.deepEqual(config.root, ['/x', '/y']);
    assert.equal(config.verbose, true);
  });

  it('takes flags over the environment and the file', () => {
    const config = buildConfig(
      serveCommand,
      invocation(
        { config: file, port: '3000', root: ['/a', '/b'], verbose: true, targets: ['h:1', 'h:2'] },
        { SPARKPLANE_SERVE_PORT: '2000', SPARKPLANE_SERVE_ROOT: '/x' },
      ),
    );
    assert.deepEqual(config, {
      port: 3000,
      stateDir: '/from-file',
      root: ['/a', '/b'],
      timeout: 1000,
      verbose: true,
      targets: ['h:1', 'h:2'],
    });
  });

  it('ignores variables of other commands and of positional options', () => {
    const config = buildConfig(
      serveCommand,
      invocation({}, { SPARKPLANE_SHUFFLE_PORT: '1', SPARKPLANE_SERVE_TARGETS: 'h:1' }),
    );
    assert.equal(config.port, 7337);
    assert.deepEqual(config.targets, []);
  });

  it('names the flag of a bad flag value', () => {
    assert.throws(() => buildConfig(serveCommand, invocation({ port: 'abc' })), {
      name: 'ConfigError',
      code: 'CONFIG_INVALID',
      message: 'invalid config: --port must be a number 1–65535 (got "abc")',
    });
  });

  it('names the variable of a bad environment value', () => {
    assert.throws(
      () => buildConfig(serveCommand, invocation({}, { SPARKPLANE_SERVE_TIMEOUT: 'soon' })),
      {
        code: 'CONFIG_INVALID',
        message:
          'invalid config: SPARKPLANE_SERVE_TIMEOUT must be a duration such as 500ms, 3s or 2m (got "soon")',
      },
    );
  });

  it('reports a missing --config file', () => {
    const missing = join(dir, 'missing.yaml');
    assert.throws(
      () => buildConfig(serveCommand, invocation({ config: missing })),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'CONFIG_UNREADABLE' &&
        error.message.startsWith(`cannot read config file ${missing}: ENOENT`),
    );
  });

  it('does not read a config file for a command without one', () => {
    const noFile = defineCommand({ ...serveCommand, name: 'nofile', configFile: false });
    const config = buildConfig(noFile, invocation({}, { SPARKPLANE_NOFILE_CONFIG: file }));
    assert.equal(config.port, 7337);
  });

  it('labels a missing required option with its flag, key and variable', () => {
    const needy = defineCommand({
      name: 'needy',
      summary: 'needs a port',
      configFile: false,
      options: { listenPort: option.integer('PORT', port(), 'port') },
      run: () => Promise.resolve(0),
    });
    assert.throws(() => buildConfig(needy, invocation({})), {
      message:
        'invalid config: --listen-port (config key listenPort, env SPARKPLANE_NEEDY_LISTEN_PORT) is required: it must be a number 1–65535',
    });
  });
});
