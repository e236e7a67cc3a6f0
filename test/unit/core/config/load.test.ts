// Config loading: YAML files read with their line numbers, inputs merged file < env < flag, and
// every problem reported with the key, where its value came from and what it must be.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import {
  readConfigFile,
  resolveConfig,
  type ConfigInput,
} from '../../../../src/core/config/load.ts';
import { duration, host, path, port, positiveInt } from '../../../../src/core/config/fields.ts';
import { ConfigError } from '../../../../src/core/errors.ts';

const schema = z.strictObject({
  host: host().default('0.0.0.0'),
  port: port().default(7337),
  allowedRoot: z.array(path()).default([]),
  shutdownTimeout: duration().default(30_000),
});
const KNOWN_KEYS = 'host, port, allowedRoot, shutdownTimeout';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sparkplane-load-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function configFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Runs `action`, asserts it throws a ConfigError with `code`, and returns that error. */
function configError(action: () => unknown, code: ConfigError['code']): ConfigError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.exitCode, 2);
    return error;
  }
  assert.fail('expected a ConfigError, but nothing was thrown');
}

describe('readConfigFile', () => {
  it('reads each key with its value and line', () => {
    const file = configFile('good.yaml', '# sparkplane\nport: 9000\n\nallowedRoot:\n  - /a\n');
    assert.deepEqual(readConfigFile(file), [
      { key: 'port', value: 9000, origin: { kind: 'file', path: file, line: 2 } },
      { key: 'allowedRoot', value: ['/a'], origin: { kind: 'file', path: file, line: 4 } },
    ]);
  });

  it('reads an empty file or one with only comments as no inputs', () => {
    assert.deepEqual(readConfigFile(configFile('empty.yaml', '')), []);
    assert.deepEqual(readConfigFile(configFile('comments.yaml', '# nothing yet\n')), []);
  });

  it('reports invalid YAML as CONFIG_UNREADABLE with the line', () => {
    const file = configFile('invalid.yaml', 'port: 7337\nhost: a: b\nx: 1\n');
    const error = configError(() => readConfigFile(file), 'CONFIG_UNREADABLE');
    assert.equal(
      error.message,
      `config file ${file}:2 is not valid YAML: Nested mappings are not allowed in compact mappings`,
    );
    assert.notEqual(error.cause, undefined);
  });

  it('reports duplicate keys as invalid YAML at the second one', () => {
    const file = configFile('duplicate.yaml', 'port: 1\nport: 2\n');
    const error = configError(() => readConfigFile(file), 'CONFIG_UNREADABLE');
    assert.equal(error.message, `config file ${file}:2 is not valid YAML: Map keys must be unique`);
  });

  it('says a top-level list must be a mapping', () => {
    const file = configFile('list.yaml', '- port\n- 7337\n');
    const error = configError(() => readConfigFile(file), 'CONFIG_INVALID');
    assert.equal(
      error.message,
      `config file ${file} must be a mapping of keys to values (e.g. "port: 7337"), not a list`,
    );
  });

  it('says a top-level single value must be a mapping and shows it', () => {
    const file = configFile('scalar.yaml', 'hello\n');
    const error = configError(() => readConfigFile(file), 'CONFIG_INVALID');
    assert.equal(
      error.message,
      `config file ${file} must be a mapping of keys to values (e.g. "port: 7337"), not a single value ("hello")`,
    );
  });

  it('reports a missing file as CONFIG_UNREADABLE naming the path', () => {
    const file = join(dir, 'missing.yaml');
    const error = configError(() => readConfigFile(file), 'CONFIG_UNREADABLE');
    assert.equal(
      error.message,
      `cannot read config file ${file}: ENOENT: no such file or directory, open '${file}'`,
    );
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOENT');
  });

  it('resolves a relative path against the working directory', () => {
    const error = configError(() => readConfigFile('no-such-dir/x.yaml'), 'CONFIG_UNREADABLE');
    assert.match(error.message, /^cannot read config file \/\S+\/no-such-dir\/x\.yaml: ENOENT/);
    assert.ok(error.message.includes(join(process.cwd(), 'no-such-dir', 'x.yaml')));
  });

  it('resolves YAML aliases to the anchored value', () => {
    const file = configFile('alias.yaml', 'port: &p 9000\nshutdownTimeout: *p\n');
    assert.deepEqual(
      readConfigFile(file).map((input) => input.value),
      [9000, 9000],
    );
  });
});

describe('resolveConfig', () => {
  it('fills defaults when there are no inputs', () => {
    assert.deepEqual(resolveConfig(schema, []), {
      host: '0.0.0.0',
      port: 7337,
      allowedRoot: [],
      shutdownTimeout: 30_000,
    });
  });

  it('names the key, file and line, the rule and the value for a bad file value', () => {
    const file = configFile('bad-port.yaml', 'port: "not-a-port"\n');
    const error = configError(() => resolveConfig(schema, readConfigFile(file)), 'CONFIG_INVALID');
    assert.equal(
      error.message,
      `invalid config: port in ${file}:1 must be a number 1–65535 (got "not-a-port")`,
    );
    for (const part of ['port', `${file}:1`, 'must be a number 1–65535', '"not-a-port"']) {
      assert.ok(error.message.includes(part), `message lacks ${part}`);
    }
    assert.ok(error.cause instanceof z.ZodError);
  });

  it('names an item inside a list by its index', () => {
    const file = configFile('bad-root.yaml', 'port: 1\nallowedRoot: ["/a", ""]\n');
    const error = configError(() => resolveConfig(schema, readConfigFile(file)), 'CONFIG_INVALID');
    assert.equal(
      error.message,
      `invalid config: allowedRoot[1] in ${file}:2 must be a path, not empty (got "")`,
    );
  });

  it('suggests the known key closest to an unknown one', () => {
    const file = configFile('typo.yaml', 'host: a\nprot: 80\n');
    const error = configError(() => resolveConfig(schema, readConfigFile(file)), 'CONFIG_INVALID');
    assert.equal(
      error.message,
      `invalid config: unknown key "prot" in ${file}:2 (did you mean "port"? known keys: ${KNOWN_KEYS})`,
    );
  });

  it('lists the known keys without a guess when nothing is close', () => {
    const file = configFile('unknown.yaml', 'xyzzy: 1\n');
    const error = configError(() => resolveConfig(schema, readConfigFile(file)), 'CONFIG_INVALID');
    assert.equal(
      error.message,
      `invalid config: unknown key "xyzzy" in ${file}:1 (known keys: ${KNOWN_KEYS})`,
    );
  });

  it('names every problem, in one message', () => {
    const file = configFile('two-problems.yaml', 'port: 0\nshutdownTimeout: soon\n');
    const error = configError(() => resolveConfig(schema, readConfigFile(file)), 'CONFIG_INVALID');
    assert.equal(
      error.message,
      `invalid config: port in ${file}:1 must be a number 1–65535 (got 0); ` +
        `shutdownTimeout in ${file}:2 must be a duration such as 500ms, 3s or 2m (got "soon")`,
    );
  });

  describe('precedence', () => {
    const fromFile = (): ConfigInput[] =>
      readConfigFile(configFile('base.yaml', 'port: 1000\nhost: file-host\n'));
    const env: ConfigInput = {
      key: 'port',
      value: 2000,
      origin: { kind: 'env', name: 'SPARKPLANE_SHUFFLE_PORT' },
    };
    const flag: ConfigInput = {
      key: 'port',
      value: 3000,
      origin: { kind: 'flag', name: '--port' },
    };

    it('takes the file over the default', () => {
      assert.equal(resolveConfig(schema, fromFile()).port, 1000);
    });

    it('takes the environment over the file', () => {
      assert.deepEqual(resolveConfig(schema, [...fromFile(), env]), {
        host: 'file-host',
        port: 2000,
        allowedRoot: [],
        shutdownTimeout: 30_000,
      });
    });

    it('takes a flag over the environment and the file', () => {
      assert.equal(resolveConfig(schema, [...fromFile(), env, flag]).port, 3000);
    });

    it('only validates the value that won', () => {
      const bad = configFile('overridden.yaml', 'port: "not-a-port"\n');
      assert.equal(resolveConfig(schema, [...readConfigFile(bad), flag]).port, 3000);
    });

    it('names the flag when the flag value is wrong', () => {
      const badFlag: ConfigInput = {
        key: 'port',
        value: 'abc',
        origin: { kind: 'flag', name: '--port' },
      };
      const error = configError(
        () => resolveConfig(schema, [...fromFile(), env, badFlag]),
        'CONFIG_INVALID',
      );
      assert.equal(error.message, 'invalid config: --port must be a number 1–65535 (got "abc")');
    });

    it('names the variable when the environment value is wrong', () => {
      const badEnv: ConfigInput = { ...env, value: 99999 };
      const error = configError(() => resolveConfig(schema, [badEnv]), 'CONFIG_INVALID');
      assert.equal(
        error.message,
        'invalid config: SPARKPLANE_SHUFFLE_PORT must be a number 1–65535 (got 99999)',
      );
    });
  });

  describe('a required key with no value', () => {
    const required = z.strictObject({ concurrentUsers: positiveInt(), port: port().default(1) });

    it('is named by the label callback', () => {
      const error = configError(
        () => resolveConfig(required, [], (key) => `--${key} (config key ${key})`),
        'CONFIG_INVALID',
      );
      assert.equal(
        error.message,
        'invalid config: --concurrentUsers (config key concurrentUsers) is required: it must be a whole number of at least 1',
      );
    });

    it('is named by its key without a label callback', () => {
      const error = configError(() => resolveConfig(required, []), 'CONFIG_INVALID');
      assert.equal(
        error.message,
        'invalid config: concurrentUsers is required: it must be a whole number of at least 1',
      );
    });

    it('is not called required when a file gave it an empty value', () => {
      const file = configFile('null.yaml', 'concurrentUsers:\n');
      const error = configError(
        () => resolveConfig(required, readConfigFile(file), () => 'LABEL'),
        'CONFIG_INVALID',
      );
      assert.equal(
        error.message,
        `invalid config: concurrentUsers in ${file}:1 must be a whole number of at least 1 (got null)`,
      );
    });
  });
});
