// The real `sparkplane plan` in a child process: the plan printed and as JSON, the files it
// writes (the YARN queue config parsed back, the systemd units byte for byte the ones in
// deploy/systemd, the gateway config loaded by `sparkplane gateway --print-config`), and exit code
// 2 with one line for every bad input.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { readHadoopConfiguration } from '../../unit/plan/hadoop-configuration.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { ROOT, runSparkplane as sparkplane } from '../../support/sparkplane-cli.ts';

const GUIDE_EXAMPLE = [
  'plan',
  '--concurrent-users',
  '20',
  '--driver-memory',
  '4g',
  '--cluster-memory',
  '640g',
];
/** A value --print-config shows parsed, back in the form the file gives it. */
function asWritten(key: string, value: unknown): unknown {
  // sparkConf KEY=VALUE strings are shown as [KEY, VALUE] pairs.
  if (key === 'sparkConf' && Array.isArray(value))
    return value.map((pair: unknown) => (Array.isArray(pair) ? pair.join('=') : pair));
  return value;
}

let dir = '';
let resources: ResourceCounts;
before(() => {
  resources = activeResources();
  dir = mkdtempSync(join(tmpdir(), 'sparkplane-plan-'));
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await assertNothingLeaked(resources, 'sparkplane plan runs');
});

describe('sparkplane plan', () => {
  it("prints the guide's example step by step and writes nothing without --output-dir", async () => {
    const run = await sparkplane(GUIDE_EXAMPLE);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^Plan for 20 concurrent users, 4 GiB drivers, 640 GiB/);
    assert.match(run.stdout, /max\(3, ceil\(20 \/ 5\)\) = 4\n/);
    assert.match(run.stdout, /16 GiB \/ 640 GiB = 2\.5 %\n/);
    assert.match(run.stdout, /= max\(30 %, ceil\(5 %\)\) = 30 %\n/);
    assert.match(run.stdout, /min\(100 %, capacity \+ 10\) = 40 %\n/);
    assert.match(run.stdout, /80 GB \/ 640 GB = 12\.5 %/);
    assert.match(run.stdout, /Nothing written: give --output-dir DIR/);
  });

  it('--json prints the plan', async () => {
    const run = await sparkplane([
      ...GUIDE_EXAMPLE,
      '--json',
      '--queue',
      'bi',
      '--users-per-server',
      '4',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(plan.servers, 5);
    assert.equal(plan.neededPercent, 3.125);
    assert.deepEqual(plan.queues, [
      {
        name: 'bi',
        capacity: 30,
        maximumCapacity: 40,
        maximumApplications: 10,
        userLimitFactor: 1.4,
      },
      { name: 'default', capacity: 70, maximumCapacity: 100 },
    ]);
    assert.deepEqual(plan.sparkConf, [
      'spark.yarn.queue=bi',
      'spark.driver.memory=4g',
      'spark.submit.deployMode=client',
    ]);
    assert.equal((plan.steps as unknown[]).length, 8);
    assert.deepEqual(plan.files, []);
  });

  it('takes its settings from a config file and the environment too', async () => {
    const file = join(dir, 'plan.yaml');
    writeFileSync(file, 'concurrentUsers: 100\ndriverMemory: 8g\n');
    const run = await sparkplane(['plan', '--config', file, '--json'], {
      SPARKPLANE_PLAN_CLUSTER_MEMORY: '2t',
    });
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as { servers: number; neededPercent: number };
    assert.equal(plan.servers, 20);
    assert.equal(plan.neededPercent, 7.8125);
  });

  it('--output-dir writes the queue config, the gateway config and the units from deploy/', async () => {
    const out = join(dir, 'out');
    const run = await sparkplane([
      ...GUIDE_EXAMPLE,
      '--output-dir',
      out,
      '--spark-home',
      '/opt/spark',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const names = [
      'capacity-scheduler.xml',
      'gateway.yaml',
      'sparkplane-gateway.service',
      'sparkplane-shuffle.service',
      'gateway.env',
      'shuffle.yaml',
      'shuffle.env',
    ];
    assert.deepEqual(readdirSync(out).sort(), [...names].sort());
    for (const name of names) assert.match(run.stdout, new RegExp(`${join(out, name)} `));

    const conf = readHadoopConfiguration(readFileSync(join(out, 'capacity-scheduler.xml'), 'utf8'));
    assert.equal(conf.get('yarn.scheduler.capacity.root.queues'), 'default,sparkconnect');
    assert.equal(conf.get('yarn.scheduler.capacity.root.sparkconnect.capacity'), '30');
    assert.equal(conf.get('yarn.scheduler.capacity.root.default.capacity'), '70');

    for (const name of names.slice(2))
      assert.equal(
        readFileSync(join(out, name), 'utf8'),
        readFileSync(join(ROOT, 'deploy', 'systemd', name), 'utf8'),
        `${name} differs from deploy/systemd/${name}`,
      );

    const gateway = parse(readFileSync(join(out, 'gateway.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(gateway.managedServers, 4);
    assert.equal(gateway.sparkHome, '/opt/spark');

    // A second run replaces the files.
    const again = await sparkplane([
      ...GUIDE_EXAMPLE,
      '--output-dir',
      out,
      '--concurrent-users',
      '40',
    ]);
    assert.equal(again.code, 0, again.stderr);
    const replaced = parse(readFileSync(join(out, 'gateway.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(replaced.managedServers, 8);
  });

  it('the gateway config it writes loads in `sparkplane gateway --print-config`', async () => {
    const out = join(dir, 'roundtrip');
    assert.equal((await sparkplane([...GUIDE_EXAMPLE, '--output-dir', out])).code, 0);
    const written = parse(readFileSync(join(out, 'gateway.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    // The file as written, the managed-server keys included (sparkHome, sparkMaster,
    // managedServers, managedMaxServers, isolation, sparkConf).
    for (const key of ['managedServers', 'managedMaxServers', 'sparkMaster', 'sparkConf'])
      assert.ok(key in written, key);
    const file = join(out, 'gateway.yaml');
    const run = await sparkplane(['gateway', '--config', file, '--print-config']);
    assert.equal(run.code, 0, run.stderr);
    const loaded = JSON.parse(run.stdout) as Record<string, unknown>;
    for (const [key, value] of Object.entries(written))
      assert.deepEqual(
        asWritten(key, loaded[key]),
        value,
        `gateway read ${key} as ${JSON.stringify(loaded[key])}`,
      );
  });
});

describe('sparkplane plan refuses bad input with exit code 2 and one line', () => {
  const cases: [string, string[], RegExp][] = [
    ['zero users', ['--concurrent-users', '0'], /--concurrent-users must be a whole number/],
    ['a size it cannot read', ['--driver-memory', 'four'], /--driver-memory must be a size/],
    ['a zero size', ['--cluster-memory', '0g'], /--cluster-memory must be a size/],
    ['driver memory ≥ cluster memory', ['--driver-memory', '640g'], /not smaller than/],
    [
      'drivers that do not fit',
      ['--concurrent-users', '900', '--driver-memory', '4g'],
      /more than the cluster's/,
    ],
    ['a queue that starves default', ['--driver-memory', '80g'], /less than 10 %/],
    ['the default queue as the Connect queue', ['--queue', 'default'], /--queue/],
    ['an unknown flag', ['--users', '3'], /--users/],
  ];
  for (const [what, args, pattern] of cases)
    it(what, async () => {
      const run = await sparkplane([...GUIDE_EXAMPLE, ...args]);
      assert.equal(run.code, 2, `${run.stdout}${run.stderr}`);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, pattern);
      assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
    });

  it('a missing flag', async () => {
    const run = await sparkplane(['plan', '--concurrent-users', '5', '--driver-memory', '4g']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--cluster-memory .* is required/);
  });

  it('an output folder it cannot write ends with exit code 1', async () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const run = await sparkplane([...GUIDE_EXAMPLE, '--output-dir', join(blocker, 'out')]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot write the plan's files into .*--output-dir/);
  });
});
