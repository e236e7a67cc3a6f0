// The capacity-scheduler.xml `sparkplane plan` writes, judged by YARN itself: Hadoop's own
// ResourceManager with the CapacityScheduler is initialised on each file (java/YarnQueueCheck.java)
// and must build the queue tree with the plan's numbers. Hadoop 3.4.1 is the Hadoop of Spark 4.x;
// its jars come from Maven Central once, into .cache/hadoop-yarn/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prerequisiteOptions } from '../../support/prerequisite.ts';
import { ROOT, runSparkplane } from '../../support/sparkplane-cli.ts';

const HADOOP_VERSION = '3.4.1';
const LIB = join(ROOT, '.cache', 'hadoop-yarn', HADOOP_VERSION, 'lib');
const CHECKER = join(ROOT, 'test', 'integration', 'deploy', 'java', 'YarnQueueCheck.java');

const MISSING =
  'java and mvn are needed to judge capacity-scheduler.xml with YARN (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless maven)';

let missingReason: string | undefined | null = null;

function toolsMissing(): string | undefined {
  if (missingReason !== null) return missingReason;
  missingReason = undefined;
  for (const [tool, flag] of [
    ['java', '-version'],
    ['mvn', '-v'],
  ] as const) {
    const probe = spawnSync(tool, [flag], { stdio: 'ignore' });
    if (probe.error !== undefined || probe.status !== 0) missingReason = MISSING;
  }
  return missingReason;
}

function options(): { skip?: string; timeout: number } {
  return { ...prerequisiteOptions(toolsMissing()), timeout: 15 * 60_000 };
}

/** The ResourceManager's jars and their dependencies, fetched by Maven once. */
function hadoopJars(): string {
  const missing = toolsMissing();
  if (missing !== undefined) throw new Error(missing);
  const done = join(LIB, '.complete');
  if (existsSync(done)) return LIB;
  const project = mkdtempSync(join(tmpdir(), 'sparkplane-yarn-pom-'));
  try {
    writeFileSync(
      join(project, 'pom.xml'),
      `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>sparkplane.test</groupId><artifactId>yarn-queues</artifactId><version>1</version>
<dependencies><dependency><groupId>org.apache.hadoop</groupId>
<artifactId>hadoop-yarn-server-resourcemanager</artifactId><version>${HADOOP_VERSION}</version>
</dependency></dependencies></project>`,
    );
    mkdirSync(LIB, { recursive: true });
    const run = spawnSync(
      'mvn',
      [
        '-q',
        '-B',
        'dependency:copy-dependencies',
        `-DoutputDirectory=${LIB}`,
        '-DincludeScope=runtime',
      ],
      { cwd: project, encoding: 'utf8', timeout: 10 * 60_000 },
    );
    assert.equal(
      run.status,
      0,
      `Maven could not fetch Hadoop ${HADOOP_VERSION}: ${run.stdout}${run.stderr}`,
    );
    writeFileSync(done, '');
    return LIB;
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
}

interface YarnQueue {
  capacity: number;
  maximumCapacity: number;
  state: string;
  maximumApplications?: number;
  userLimitFactor?: number;
}

/** queue path → the queue, or `error` → what YARN refused the file with. */
type YarnResult = Record<string, YarnQueue | string | undefined>;

function errorOf(result: YarnResult): string | undefined {
  return typeof result.error === 'string' ? result.error : undefined;
}

/** Every file read by YARN in one JVM: file → its queues under root, or the error YARN gave. */
function readByYarn(files: readonly string[]): Record<string, YarnResult> {
  const run = spawnSync('java', ['-cp', join(hadoopJars(), '*'), CHECKER, ...files], {
    encoding: 'utf8',
    timeout: 5 * 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, YarnResult>;
}

interface PlannedQueue {
  name: string;
  capacity: number;
  maximumCapacity: number;
  maximumApplications?: number;
  userLimitFactor?: number;
}

const CASES = [
  [
    'the guide example',
    ['--concurrent-users', '20', '--driver-memory', '4g', '--cluster-memory', '640g'],
  ],
  [
    'a large plan in queue bi',
    [
      '--concurrent-users',
      '50',
      '--driver-memory',
      '8g',
      '--cluster-memory',
      '256g',
      '--queue',
      'bi',
    ],
  ],
  [
    'the smallest plan',
    ['--concurrent-users', '1', '--driver-memory', '1g', '--cluster-memory', '2t'],
  ],
] as const;

describe('capacity-scheduler.xml read by a YARN ResourceManager', () => {
  let dir = '';
  const planned = new Map<string, PlannedQueue[]>();
  let yarn: Record<string, YarnResult> = {};
  let broken = '';

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'sparkplane-yarn-'));
      if (options().skip !== undefined) return;
      for (const [name, args] of CASES) {
        const out = join(dir, name.replace(/\W+/g, '-'));
        const run = await runSparkplane(['plan', ...args, '--output-dir', out, '--json']);
        assert.equal(run.code, 0, run.stderr);
        const file = join(out, 'capacity-scheduler.xml');
        planned.set(file, (JSON.parse(run.stdout) as { queues: PlannedQueue[] }).queues);
      }
      // The guide example with the default queue shrunk: capacities under root add up to 90.
      const [first = ''] = planned.keys();
      broken = join(dir, 'broken.xml');
      writeFileSync(
        broken,
        readFileSync(first, 'utf8').replace(
          /(root\.default\.capacity<\/name>\s*<value>)70</,
          '$160<',
        ),
      );
      assert.notEqual(readFileSync(broken, 'utf8'), readFileSync(first, 'utf8'));
      yarn = readByYarn([...planned.keys(), broken]);
    },
    { timeout: options().timeout },
  );

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("builds the plan's queues with the plan's numbers", options(), () => {
    assert.equal(planned.size, CASES.length);
    for (const [file, queues] of planned) {
      const seen = yarn[file];
      assert.ok(seen !== undefined, file);
      assert.equal(errorOf(seen), undefined, file);
      assert.deepEqual(Object.keys(seen).sort(), queues.map((q) => `root.${q.name}`).sort());
      for (const queue of queues) {
        const read: YarnQueue | string | undefined = seen[`root.${queue.name}`];
        assert.ok(typeof read === 'object', `YARN has no queue root.${queue.name}`);
        // YARN keeps capacities as floats (0.3 is 0.3 in float32, printed as such).
        assert.ok(Math.abs(read.capacity - queue.capacity / 100) < 1e-6, `${queue.name} capacity`);
        assert.ok(Math.abs(read.maximumCapacity - queue.maximumCapacity / 100) < 1e-6);
        assert.equal(read.state, 'RUNNING');
        if (queue.maximumApplications !== undefined) {
          assert.equal(read.maximumApplications, queue.maximumApplications);
          assert.ok(Math.abs((read.userLimitFactor ?? 0) - (queue.userLimitFactor ?? 0)) < 1e-6);
        }
      }
    }
  });

  it('refuses capacities that do not add up to 100 (the check can fail)', options(), () => {
    assert.match(
      errorOf(yarn[broken] ?? {}) ?? '',
      /Illegal capacity sum of 0\.9\d* for children of queue root/,
    );
  });
});
