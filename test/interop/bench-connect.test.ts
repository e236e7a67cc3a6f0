// `sparkplane bench connect` through `sparkplane gateway` in front of two real Spark Connect
// servers: 8 sessions × (a temp view + 5 queries of the default mix), no failure, every result
// of the right size (each session reads back its own temp view, which it would not find on the
// other server), the sessions on both servers, and each released (Spark 3.5 has no
// ReleaseSession: UNIMPLEMENTED, which the benchmark expects there). Then the text report.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { startProcess, type ManagedProcess } from './harness/process-tree.ts';
import { forEachSparkVersion, inSparkRun, keepAll } from './harness/run.ts';
import { REPO_ROOT } from './harness/spark-install.ts';
import { startConnectServer, type SparkRun } from './harness/spark-processes.ts';
import { startSparkplaneGateway } from './harness/sparkplane-processes.ts';

interface LatencyJson {
  readonly count: number;
  readonly p50: number | null;
  readonly failed?: number;
}
interface BenchJson {
  readonly queries: number;
  readonly failed: number;
  readonly rows: number;
  readonly endedBy: string;
  readonly latencyMs: Record<string, LatencyJson>;
  readonly errors: { status: string; where: string; message: string; count: number }[];
  readonly spread: {
    readonly available: boolean;
    readonly backends?: { backend: string; sessions: number; queries: number; failed: number }[];
  };
  readonly releases: { released: number; unimplemented: number; failed: number };
  readonly verdict: { ok: boolean };
}

const SESSIONS = 8;
const QUERIES = 5;

function startBench(run: SparkRun, name: string, args: readonly string[]): ManagedProcess {
  return startProcess({
    name,
    command: join(REPO_ROOT, 'bin', 'sparkplane'),
    args: ['bench', 'connect', ...args],
    env: { ...process.env, NO_COLOR: '1' },
    cwd: run.dir,
    logDir: join(run.dir, 'logs'),
  });
}

forEachSparkVersion('sparkplane bench connect through sparkplane gateway', (install) => {
  it(
    `runs ${String(SESSIONS)} sessions × ${String(QUERIES)} queries over two real servers without a failure`,
    { timeout: 600_000 },
    async () => {
      await inSparkRun(install, 'bench-connect', async (run, keep) => {
        const [a, b] = await keepAll(keep, [startConnectServer(run), startConnectServer(run)]);
        const gateway = keep(await startSparkplaneGateway(run, { backends: [a.port, b.port] }));
        const adminUrl = `http://127.0.0.1:${String(gateway.adminPort)}`;
        const common = ['--url', gateway.url, '--admin-url', adminUrl];

        const json = keep(
          startBench(run, 'bench-json', [
            ...common,
            '--sessions',
            String(SESSIONS),
            '--queries-per-session',
            String(QUERIES),
            '--json',
          ]),
        );
        const jsonExit = await json.exited;
        const log = json.log();
        assert.equal(jsonExit.code, 0, `bench exited ${String(jsonExit.code)}: ${log}`);
        const report = JSON.parse(log.slice(log.indexOf('{'))) as BenchJson;

        assert.deepEqual(report.errors, []);
        assert.equal(report.failed, 0);
        assert.equal(report.queries, SESSIONS * (1 + QUERIES));
        assert.equal(report.endedBy, 'queries');
        assert.equal(report.verdict.ok, true);
        // Every session ran its view-create and read its own view back (row counts checked).
        assert.equal(report.latencyMs['view-create']?.count, SESSIONS);
        assert.ok((report.latencyMs['view-read']?.count ?? 0) >= SESSIONS, JSON.stringify(report));
        for (const kind of ['select-1', 'aggregate', 'join', 'many-rows'])
          assert.ok((report.latencyMs[kind]?.count ?? 0) > 0, `no ${kind} query ran`);

        // Both servers got sessions (least-sessions placement: half each).
        assert.equal(report.spread.available, true);
        const backends = report.spread.backends ?? [];
        assert.deepEqual(
          backends.map((row) => row.backend).sort(),
          [`127.0.0.1:${String(a.port)}`, `127.0.0.1:${String(b.port)}`].sort(),
        );
        assert.deepEqual(
          backends.map((row) => row.sessions),
          [SESSIONS / 2, SESSIONS / 2],
        );

        if (install.pin.line === '3.5')
          assert.deepEqual(report.releases, { released: 0, unimplemented: SESSIONS, failed: 0 });
        else assert.deepEqual(report.releases, { released: SESSIONS, unimplemented: 0, failed: 0 });

        // The text report of a short affinity run names both servers in its spread table.
        const text = keep(
          startBench(run, 'bench-text', [
            ...common,
            '--mix',
            'affinity',
            '--sessions',
            '4',
            '--queries-per-session',
            '3',
            '--ramp-up',
            '1s',
          ]),
        );
        const textExit = await text.exited;
        const output = text.log();
        assert.equal(textExit.code, 0, output);
        assert.match(output, /ERRORS: none/);
        assert.match(output, new RegExp(`127\\.0\\.0\\.1:${String(a.port)} +2 +8 +0 `));
        assert.match(output, new RegExp(`127\\.0\\.0\\.1:${String(b.port)} +2 +8 +0 `));
        assert.match(output, /^OK: 0 of \d+ calls failed/m);
      });
    },
  );
});
