// The command line in process: the real command declarations, commander's parsing, and the
// promise that every usage error is one line on stderr with exit code 2.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defineCommand, type CommandIo, type CommandSpec } from '../../../src/cli/command.ts';
import { doctorCommand } from '../../../src/cli/commands/doctor.ts';
import { gatewayCommand } from '../../../src/cli/commands/gateway.ts';
import { planCommand } from '../../../src/cli/commands/plan.ts';
import { shuffleCommand } from '../../../src/cli/commands/shuffle.ts';
import { upCommand } from '../../../src/cli/commands/up.ts';
import { versionCommand } from '../../../src/cli/commands/version.ts';
import { runCli } from '../../../src/cli/program.ts';
import { VERSION } from '../../../src/core/version.ts';
import { SPARK_PROFILE } from '../../../src/doctor/targets.ts';

// src/cli/main.ts runs the CLI when imported, so the list is built here in the same order.
const COMMANDS: readonly CommandSpec[] = [
  upCommand,
  gatewayCommand,
  shuffleCommand,
  doctorCommand,
  planCommand,
  versionCommand,
];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  commands: readonly CommandSpec[] = COMMANDS,
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env,
    isTty: false,
  };
  const code = await runCli(argv, commands, io);
  return { code, stdout, stderr };
}

/** Asserts a usage failure: exit code 2, nothing on stdout, exactly one line on stderr. */
function assertOneLineError(result: Run, expected: string): void {
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, `${expected}\n`);
  assert.equal(result.code, 2);
}

function printedJson(result: Run): unknown {
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  return JSON.parse(result.stdout);
}

describe('runCli: help and version', () => {
  it('--help lists every command on stdout and exits 0', async () => {
    const result = await run(['--help']);
    assert.equal(result.code, 0);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, /^Usage: sparkplane \[options\] \[command\]\n/);
    const listed = [...result.stdout.matchAll(/^ {2}([a-z]+) \[/gm)].map((match) => match[1]);
    assert.deepEqual(listed, ['up', 'gateway', 'shuffle', 'doctor', 'plan', 'version', 'help']);
  });

  it('--version prints the version', async () => {
    assert.deepEqual(await run(['--version']), { code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('help for a command shows its flags, variables and config keys', async () => {
    const result = await run(['help', 'shuffle']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage: sparkplane shuffle \[options\]\n/);
    assert.match(result.stdout, /--port <PORT> +port executors use/);
    assert.match(result.stdout, /--shutdown-timeout <DURATION>/);
    assert.match(result.stdout, /\(default\s+30s\)/);
    assert.ok(
      result.stdout.includes(
        'Config keys (file, env SPARKPLANE_SHUFFLE_*, flags; flags win): host, port, allowedRoot, stateDir, metricsPort, adminAuthFile, authSecretFile, authEngineVersion, idleTimeout, maxConnections, cleanupLocalDirs, sweepInterval, logLevel, logFormat, shutdownTimeout, printConfig\n',
      ),
    );
  });

  it('no arguments print help on stderr and exit 2', async () => {
    const result = await run([]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^Usage: sparkplane \[options\] \[command\]\n/);
    assert.match(result.stderr, /^ {2}shuffle \[options\] +run the external shuffle service$/m);
  });

  it('no arguments print only the help', async () => {
    const result = await run([]);
    assert.ok(!result.stderr.includes('outputHelp'), result.stderr);
  });
});

describe('runCli: usage errors', () => {
  it('an unknown command is one line and exit 2', async () => {
    assertOneLineError(
      await run(['bogus']),
      "sparkplane: unknown command 'bogus' (see 'sparkplane --help')",
    );
  });

  it('a misspelt command gets a suggestion', async () => {
    assertOneLineError(
      await run(['shufle']),
      "sparkplane: unknown command 'shufle'; did you mean shuffle? (see 'sparkplane --help')",
    );
  });

  it('an unknown flag is one line naming it and suggesting the close one', async () => {
    const result = await run(['shuffle', '--prot', '1']);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr.split('\n').length, 2, 'exactly one line');
    assert.match(result.stderr, /^sparkplane.*: unknown option '--prot'; did you mean --port\?/);
  });

  it('an unknown flag names the command it was given to', async () => {
    assertOneLineError(
      await run(['shuffle', '--prot', '1']),
      "sparkplane shuffle: unknown option '--prot'; did you mean --port? (see 'sparkplane shuffle --help')",
    );
  });

  it('a flag without its value is exit 2', async () => {
    const result = await run(['shuffle', '--port']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /: option '--port <PORT>' argument missing /);
  });

  it('a bad flag value names the flag', async () => {
    assertOneLineError(
      await run(['shuffle', '--port', 'abc']),
      'sparkplane shuffle: invalid config: --port must be a number 1–65535 (got "abc")',
    );
  });

  it('a bad variable names the variable', async () => {
    assertOneLineError(
      await run(['shuffle'], { SPARKPLANE_SHUFFLE_PORT: '99999' }),
      'sparkplane shuffle: invalid config: SPARKPLANE_SHUFFLE_PORT must be a number 1–65535 (got 99999)',
    );
  });

  describe('with a config file', () => {
    let dir = '';
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'sparkplane-program-'));
    });
    after(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('a bad file value names the key and the file', async () => {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'port: "not-a-port"\n');
      assertOneLineError(
        await run(['shuffle', '--config', file]),
        `sparkplane shuffle: invalid config: port in ${file}:1 must be a number 1–65535 (got "not-a-port")`,
      );
    });

    it('flags win over the file given by variable', async () => {
      const file = join(dir, 'good.yaml');
      writeFileSync(file, 'port: 9000\nhost: 127.0.0.1\n');
      const result = await run(['shuffle', '--print-config', '--port', '9001'], {
        SPARKPLANE_SHUFFLE_CONFIG: file,
      });
      assert.deepEqual(printedJson(result), {
        host: '127.0.0.1',
        port: 9001,
        allowedRoot: [],
        authEngineVersion: 1,
        idleTimeout: 120_000,
        maxConnections: 10_000,
        cleanupLocalDirs: false,
        sweepInterval: 600_000,
        logLevel: 'info',
        logFormat: 'auto',
        shutdownTimeout: 30_000,
        printConfig: true,
      });
    });
  });
});

describe('runCli: shuffle and gateway', () => {
  it('shuffle --print-config collects repeated flags', async () => {
    const result = await run([
      'shuffle',
      '--print-config',
      '--allowed-root',
      '/a',
      '--allowed-root',
      '/b',
      '--port',
      '9000',
    ]);
    assert.deepEqual(printedJson(result), {
      host: '0.0.0.0',
      port: 9000,
      allowedRoot: ['/a', '/b'],
      authEngineVersion: 1,
      idleTimeout: 120_000,
      maxConnections: 10_000,
      cleanupLocalDirs: false,
      sweepInterval: 600_000,
      logLevel: 'info',
      logFormat: 'auto',
      shutdownTimeout: 30_000,
      printConfig: true,
    });
  });

  it('shuffle without --allowed-root exits 2 and says what to give', async () => {
    assert.deepEqual(await run(['shuffle']), {
      code: 2,
      stdout: '',
      stderr:
        'sparkplane shuffle: invalid config: allowedRoot (--allowed-root) is required: give the folders executors keep shuffle files under (their spark.local.dir), e.g. --allowed-root /var/lib/spark\n',
    });
  });

  it('gateway refuses --tls-cert without --tls-key, exit 2', async () => {
    assert.deepEqual(await run(['gateway', '--tls-cert', '/x.pem']), {
      code: 2,
      stdout: '',
      stderr:
        'sparkplane gateway: invalid config: --tls-cert and --tls-key go together; give both for TLS, or neither\n',
    });
  });

  it('gateway parses each --backend into host and port', async () => {
    const result = await run([
      'gateway',
      '--backend',
      'h:1',
      '--backend',
      '[::1]:2',
      '--print-config',
    ]);
    const config = printedJson(result) as Record<string, unknown>;
    assert.deepEqual(config.backend, [
      { host: 'h', port: 1 },
      { host: '::1', port: 2 },
    ]);
    assert.equal(config.port, 15002);
    assert.equal(config.adminPort, 15080);
  });

  it('gateway names the backend that is not HOST:PORT', async () => {
    assertOneLineError(
      await run(['gateway', '--backend', 'h:1', '--backend', 'h:0']),
      'sparkplane gateway: invalid config: --backend[1] must be HOST:PORT with a port 1–65535 (got "h:0")',
    );
  });
});

describe('runCli: doctor', () => {
  it('without targets is exit 2', async () => {
    assertOneLineError(
      await run(['doctor']),
      'sparkplane doctor: no targets: give HOST:PORT[=SERVICE] arguments, --profile spark HOST, or --targets-file FILE',
    );
  });

  it('a well-known port names its service', async () => {
    const config = printedJson(await run(['doctor', '10.0.0.1:7337', '--print-config']));
    assert.deepEqual(config, {
      targets: [{ host: '10.0.0.1', port: 7337, service: 'spark-shuffle' }],
      timeout: 3000,
      callbackPort: 7338,
      json: false,
      strict: false,
      verbose: false,
      printConfig: true,
    });
  });

  it('an unknown service lists the known ones', async () => {
    assertOneLineError(
      await run(['doctor', 'h:1=bogus']),
      'sparkplane doctor: target "h:1=bogus" names unknown service "bogus" (known: spark-shuffle, spark-connect, hive-thrift, hive-metastore, spark-ui, spark-master, https, http, tcp, agent)',
    );
  });

  it('--profile spark expands a host into the profile ports', async () => {
    const config = printedJson(
      await run(['doctor', '--profile', 'spark', 'hostA', '--print-config']),
    ) as { targets: unknown[]; profile: string };
    assert.equal(config.profile, 'spark');
    assert.equal(config.targets.length, 9);
    assert.deepEqual(
      config.targets,
      SPARK_PROFILE.map(({ port, service }) => ({ host: 'hostA', port, service })),
    );
  });

  it('--profile refuses HOST:PORT', async () => {
    assertOneLineError(
      await run(['doctor', '--profile', 'spark', 'hostA:7337']),
      'sparkplane doctor: with --profile, "hostA:7337" must be a bare host (the profile supplies the ports)',
    );
  });

  it('--profile accepts an IPv6 address', async () => {
    const config = printedJson(
      await run(['doctor', '--profile', 'spark', '::1', '--print-config']),
    ) as { targets: { host: string }[] };
    assert.equal(config.targets[0]?.host, '::1');
  });
});

describe('runCli: plan and version', () => {
  it('plan without its required flags names them', async () => {
    const result = await run(['plan']);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr.split('\n').length, 2, 'exactly one line');
    assert.ok(
      result.stderr.startsWith(
        'sparkplane plan: invalid config: --concurrent-users (config key concurrentUsers, env SPARKPLANE_PLAN_CONCURRENT_USERS) is required: it must be a whole number of at least 1; ',
      ),
      result.stderr,
    );
    assert.ok(result.stderr.includes('--driver-memory (config key driverMemory'));
    assert.ok(result.stderr.includes('--cluster-memory (config key clusterMemory'));
  });

  it('plan reads sizes into bytes', async () => {
    const result = await run([
      'plan',
      '--concurrent-users',
      '10',
      '--driver-memory',
      '8g',
      '--cluster-memory',
      '1t',
      '--print-config',
    ]);
    assert.deepEqual(printedJson(result), {
      concurrentUsers: 10,
      driverMemory: 8 * 1024 ** 3,
      clusterMemory: 1024 ** 4,
      usersPerServer: 5,
      queue: 'sparkconnect',
      sparkHome: '/usr/lib/spark',
      json: false,
      printConfig: true,
    });
  });

  it('version --json prints the versions as JSON', async () => {
    assert.deepEqual(printedJson(await run(['version', '--json'])), {
      sparkplane: VERSION,
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
    });
  });

  it('version prints one line of text', async () => {
    const result = await run(['version']);
    assert.equal(
      result.stdout,
      `sparkplane ${VERSION} (Node.js ${process.versions.node}, ${process.platform}-${process.arch})\n`,
    );
  });

  it('version has no --config', async () => {
    const result = await run(['version', '--config', 'x.yaml']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown option '--config'/);
  });
});

describe('runCli: errors from a command', () => {
  const failing = defineCommand({
    name: 'fail',
    summary: 'fails',
    configFile: false,
    options: {},
    run: () => Promise.reject(new Error('boom')),
  });

  it('an unexpected error is exit 1 with its stack', async () => {
    const result = await run(['fail'], {}, [failing]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^sparkplane fail: internal error: Error: boom\n {4}at /);
  });
});
