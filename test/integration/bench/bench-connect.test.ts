// `sparkplane bench connect` against a real gateway in front of two in-repo Spark Connect
// servers, with the gateway's admin API: sessions spread over both servers and stay on theirs,
// the spread table says so, a server that fails calls shows up in the errors (and the exit
// code), wrong results, a server that restarts under a session, and timeouts are failures, TLS
// with a private CA works, and nothing leaks.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { setTimeout } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { benchQueryFinished } from '../../../src/bench/bench-channels.ts';
import { runBench, type BenchOptions } from '../../../src/bench/run-bench.ts';
import { fetchSessionSpread, type SessionSpread } from '../../../src/bench/session-spread.ts';
import { findMix } from '../../../src/bench/query-mix.ts';
import { benchCommand } from '../../../src/cli/commands/bench.ts';
import { runCli } from '../../../src/cli/program.ts';
import { createAdminServer, type AdminServer } from '../../../src/core/admin-server.ts';
import { createMetrics } from '../../../src/core/metrics.ts';
import { grpcCall } from '../../../src/gateway/proxy/grpc-call.ts';
import { encodeReleaseSessionRequest } from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { gatewayAdminRoutes } from '../../../src/gateway/admin-api.ts';
import type { Gateway } from '../../../src/gateway/gateway-server.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { startTestGateway } from '../../support/test-gateway.ts';
import { makeTestCertificate } from '../../support/tls-cert.ts';

async function cli(
  argv: string[],
  isTty = false,
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['bench', ...argv], [benchCommand], {
    stdout: (text) => (out += text),
    stderr: (text) => (err += text),
    env: {},
    isTty,
  });
  return { code, out, err };
}

async function until(check: () => boolean, what: string, withinMs = 2000): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`${what} within ${String(withinMs)} ms`);
    await setTimeout(20);
  }
}

function light(): NonNullable<ReturnType<typeof findMix>> {
  const mix = findMix('light');
  assert.ok(mix !== undefined);
  return mix;
}

describe('sparkplane bench connect through the gateway', () => {
  let baseline: ResourceCounts = new Map();
  let fakes: FakeSparkConnect[] = [];
  let gateway: Gateway;
  let admin: AdminServer;
  let adminUrl = '';
  let url = '';

  const options = (
    extra: Partial<BenchOptions> = {},
    omit: readonly (keyof BenchOptions)[] = [],
  ): BenchOptions => {
    const all: BenchOptions = {
      endpoint: {
        host: '127.0.0.1',
        port: gateway.address.port,
        tls: false,
        metadata: {},
        label: url,
      },
      sessions: 6,
      queriesPerSession: 4,
      rampUpMs: 0,
      queryTimeoutMs: 5000,
      connectTimeoutMs: 5000,
      mix: light(),
      userId: 'bench-user',
      clientType: 'sparkplane-bench',
      spread: (ids) => fetchSessionSpread(adminUrl, ids, 5000),
      ...extra,
    };
    return Object.fromEntries(
      Object.entries(all).filter(([key]) => !omit.includes(key as keyof BenchOptions)),
    ) as unknown as BenchOptions;
  };

  /** Ends the sessions a failing server kept (their release failed), so placement starts even. */
  const releaseLeftovers = async (): Promise<void> => {
    const listed = (await (await fetch(`${adminUrl}/api/gateway/sessions`)).json()) as {
      sessions: { sessionId: string; userId: string }[];
    };
    const connection = http2.connect(`http://127.0.0.1:${String(gateway.address.port)}`);
    connection.on('error', () => undefined);
    try {
      for (const session of listed.sessions) {
        const reply = await grpcCall(
          connection,
          '/spark.connect.SparkConnectService/ReleaseSession',
          encodeReleaseSessionRequest(session),
          { timeoutMs: 5000 },
        );
        assert.equal(reply.status, 0, reply.message);
      }
    } finally {
      connection.destroy();
    }
    assert.equal(gateway.sessions.size, 0);
  };

  before(async () => {
    baseline = activeResources();
    fakes = [await startFakeSparkConnect(), await startFakeSparkConnect()];
    // Health checks far apart: a server told to fail calls keeps its sessions (no ejection).
    gateway = await startTestGateway(fakes, {
      health: { intervalMs: 60_000, timeoutMs: 500, fall: 2, rise: 2 },
    });
    admin = createAdminServer({
      host: '127.0.0.1',
      port: 0,
      metrics: createMetrics(),
      routes: gatewayAdminRoutes(gateway),
    });
    adminUrl = `http://127.0.0.1:${String((await admin.listen()).port)}`;
    url = `sc://127.0.0.1:${String(gateway.address.port)}`;
  });
  after(async () => {
    await admin.close(1000);
    await gateway.close(1000);
    for (const fake of fakes) await fake.close();
    await assertNothingLeaked(baseline, 'the bench connect tests');
  });

  it('spreads the sessions over both servers, keeps each on its own, and releases them', async () => {
    const before = fakes.map((fake) => fake.calls.length);
    const result = await runBench(options());
    assert.equal(result.stats.queries, 24);
    assert.equal(result.stats.failed, 0, JSON.stringify(result.stats.errors()));
    assert.equal(result.endedBy, 'queries');
    assert.deepEqual(result.releases, { released: 6, unimplemented: 0, failed: 0 });
    assert.ok(result.spread.available);
    assert.deepEqual(
      result.spread.backends.map((share) => share.sessionIndexes.length),
      [3, 3],
    );
    assert.deepEqual(
      result.spread.backends.map((share) => share.backend).sort(),
      fakes.map((fake) => fake.address).sort(),
    );
    assert.deepEqual(result.spread.unlisted, []);
    // Each session's calls all reached the one server the spread names for it.
    for (const share of result.spread.backends) {
      const fake = fakes.find((candidate) => candidate.address === share.backend);
      assert.ok(fake !== undefined);
      for (const index of share.sessionIndexes) {
        const id = result.sessions[index]?.sessionId ?? '';
        const perFake: number[] = fakes.map(
          (each) => each.calls.filter((call) => call.sessionId === id).length,
        );
        assert.deepEqual(
          perFake,
          fakes.map((each): number => (each === fake ? 5 : 0)),
          `session ${String(index)}: 4 ExecutePlan calls and a ReleaseSession on ${share.backend}`,
        );
      }
    }
    const newCalls = fakes.flatMap((fake, index) => fake.calls.slice(before[index]));
    const operations = newCalls.filter((call) => call.method === 'ExecutePlan');
    assert.equal(
      new Set(operations.map((call) => call.operationId)).size,
      24,
      'fresh operation ids',
    );
    assert.ok(operations.every((call) => call.userId === 'bench-user'));
    assert.ok(
      fakes.every((fake) => fake.sessions.size === 0),
      'every session released',
    );
  });

  it('counts the failures of a server that fails calls, by status and message, and only on it', async () => {
    const broken = fakes[1];
    assert.ok(broken !== undefined);
    broken.failWith = {
      status: 13,
      message: 'executor lost on query 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed',
    };
    try {
      const result = await runBench(options({ sessions: 4, queriesPerSession: 3 }));
      assert.ok(result.spread.available);
      const shares = new Map(result.spread.backends.map((share) => [share.backend, share]));
      const bad = shares.get(broken.address)?.sessionIndexes ?? [];
      const good = shares.get(fakes[0]?.address ?? '')?.sessionIndexes ?? [];
      assert.equal(bad.length, 2);
      assert.equal(good.length, 2);
      for (const index of bad) assert.equal(result.sessions[index]?.failed, 3);
      for (const index of good) assert.equal(result.sessions[index]?.failed, 0);
      assert.deepEqual(result.stats.errors(), [
        { status: 'INTERNAL', where: 'select-1', message: 'executor lost on query <id>', count: 6 },
        {
          status: 'INTERNAL',
          where: 'ReleaseSession',
          message: 'executor lost on query <id>',
          count: 2,
        },
      ]);
      assert.deepEqual(result.releases, { released: 2, unimplemented: 0, failed: 2 });
    } finally {
      broken.failWith = undefined;
      await releaseLeftovers();
    }
  });

  it('backs off a session whose queries fail instead of flooding the endpoint', async () => {
    const broken = fakes[1];
    assert.ok(broken !== undefined);
    broken.failWith = { status: 14, message: 'down' };
    try {
      const result = await runBench(
        options({ sessions: 2, durationMs: 600 }, ['queriesPerSession']),
      );
      assert.ok(result.spread.available);
      const [bad] = result.spread.backends.filter((share) => share.backend === broken.address);
      const failing = result.sessions[bad?.sessionIndexes[0] ?? -1];
      const healthy = result.sessions.find((session) => session !== failing);
      // 0, 50, 150, 350 ms … after the start: a handful of attempts, not hundreds.
      assert.ok(
        failing !== undefined && failing.failed >= 3 && failing.failed <= 6,
        String(failing?.failed),
      );
      assert.equal(failing.failed, failing.queries);
      assert.ok((healthy?.queries ?? 0) > 10, String(healthy?.queries));
      assert.equal(healthy?.failed, 0);
    } finally {
      broken.failWith = undefined;
      await releaseLeftovers();
    }
  });

  it('fails a query whose result has the wrong number of rows', async () => {
    for (const fake of fakes) fake.resultBatches = 2;
    try {
      const result = await runBench(options({ sessions: 2, queriesPerSession: 2 }, ['spread']));
      assert.equal(result.stats.failed, 4);
      assert.deepEqual(result.stats.errors(), [
        { status: 'WRONG_RESULT', where: 'select-1', message: 'expected 1 rows, got 2', count: 4 },
      ]);
      assert.equal(result.spread.available, false);
    } finally {
      for (const fake of fakes) fake.resultBatches = 1;
    }
  });

  it('fails the queries a restarted server answers in a new server-side session', async () => {
    let restarts = 0;
    const unsubscribe = benchQueryFinished.subscribe((event) => {
      // The server forgets every session after the session's first query.
      if (event.sessionIndex === 0 && event.kind === 'select-1' && restarts === 0) {
        restarts++;
        for (const fake of fakes) fake.restart();
      }
    });
    try {
      const result = await runBench(options({ sessions: 1, queriesPerSession: 3 }));
      assert.equal(restarts, 1);
      assert.deepEqual(
        result.stats.errors().map((group) => [group.status, group.where, group.count]),
        [['SESSION_CHANGED', 'select-1', 2]],
      );
      assert.match(result.stats.errors()[0]?.message ?? '', /server-side session id changed/);
    } finally {
      unsubscribe();
    }
  });

  it('prints the report with the spread table and exits 0', async () => {
    const { code, out, err } = await cli([
      'connect',
      '--url',
      url,
      '--admin-url',
      adminUrl,
      '--mix',
      'light',
      '--sessions',
      '4',
      '--queries-per-session',
      '3',
    ]);
    assert.equal(code, 0, err);
    assert.equal(err, '');
    assert.match(out, /4 sessions, 3 queries\/session/);
    assert.match(out, /ran [\d.]+s \(ended by queries\): 12 queries, 0 failed/);
    assert.match(out, /^select-1 +12 +0 /m);
    assert.match(out, /ERRORS: none/);
    for (const fake of fakes)
      assert.match(out, new RegExp(`^${fake.address.replace(/\./g, '\\.')} +2 +6 +0 `, 'm'));
    assert.match(out, /released 4 sessions/);
    assert.match(out, /^OK: 0 of 16 calls failed/m);
  });

  it('shows progress on a terminal, and none with --json', async () => {
    const args = ['connect', '--url', url, '--mix', 'light', '--sessions', '2'];
    const tty = await cli([...args, '--queries-per-session', '2'], true);
    assert.equal(tty.code, 0, tty.err);
    const lines = tty.err.split('\r\x1b[2K');
    assert.ok(lines.length >= 3, JSON.stringify(tty.err));
    assert.match(lines.at(-2) ?? '', /^\d+s {2}sessions 2\/2 {2}queries 4\/4 \(0 failed\)/);
    assert.ok(tty.err.endsWith('\r\x1b[2K'), 'the line is cleared before the report');
    assert.match(tty.out, /^OK: /m);
    const json = await cli([...args, '--queries-per-session', '1', '--json'], true);
    assert.equal(json.err, '');
    assert.equal((JSON.parse(json.out) as { queries: number }).queries, 2);
  });

  it('exits 1 above --max-error-rate and 0 within it, with the JSON report', async () => {
    const broken = fakes[0];
    assert.ok(broken !== undefined);
    broken.failWith = { status: 14, message: 'down for maintenance' };
    try {
      const args = ['connect', '--url', url, '--mix', 'light', '--sessions', '2'];
      const strict = await cli([...args, '--queries-per-session', '2', '--json']);
      assert.equal(strict.code, 1, strict.err);
      const report = JSON.parse(strict.out) as {
        failed: number;
        errors: { status: string; count: number }[];
        spread: { available: boolean; reason: string };
        verdict: { ok: boolean; errorRate: number };
      };
      assert.equal(report.failed, 2);
      assert.equal(report.errors[0]?.status, 'UNAVAILABLE');
      assert.equal(report.verdict.ok, false);
      assert.match(report.spread.reason, /needs --admin-url/);
      broken.failWith = undefined;
      await releaseLeftovers();
      broken.failWith = { status: 14, message: 'down for maintenance' };
      const lenient = await cli([...args, '--queries-per-session', '2', '--max-error-rate', '60%']);
      assert.equal(lenient.code, 0, lenient.out);
      assert.match(lenient.out, /^OK: 3 of 6 calls failed \(50%\), within --max-error-rate 60%/m);
    } finally {
      broken.failWith = undefined;
      await releaseLeftovers();
    }
  });

  it('ends a --duration run by itself', async () => {
    const began = performance.now();
    const result = await runBench(
      options({ sessions: 3, durationMs: 300, rampUpMs: 100 }, ['queriesPerSession']),
    );
    const tookMs = performance.now() - began;
    assert.equal(result.endedBy, 'duration');
    assert.ok(result.stats.queries > 3, `only ${String(result.stats.queries)} queries`);
    assert.equal(result.stats.failed, 0);
    assert.ok(tookMs < 3000, `took ${String(tookMs)} ms`);
  });

  it('says the endpoint cannot be reached (exit 3) and refuses bad flags (exit 2)', async () => {
    const closed = await startFakeSparkConnect();
    const port = closed.port;
    await closed.close();
    const unreachable = await cli(['connect', '--url', `sc://127.0.0.1:${String(port)}`]);
    assert.equal(unreachable.code, 3);
    assert.match(
      unreachable.err,
      /cannot reach the Spark Connect endpoint 127\.0\.0\.1:\d+ .*ECONNREFUSED/,
    );

    const badUrl = await cli(['connect', '--url', 'sc://host/;token=a=b']);
    assert.equal(badUrl.code, 2);
    assert.match(
      badUrl.err,
      /--url sc:\/\/host\/;token=\*\*\*: the parameter .* must be one key=value pair/,
    );
    const badRate = await cli(['connect', '--url', url, '--max-error-rate', '150%']);
    assert.equal(badRate.code, 2);
    assert.match(badRate.err, /--max-error-rate .*must be a fraction 0–1 or a percentage/);
    const badMix = await cli(['connect', '--url', url, '--mix', 'nope']);
    assert.equal(badMix.code, 2);
    const bare = await cli([]);
    assert.equal(bare.code, 2);
    const parent = await cli(['--help']);
    assert.equal(parent.code, 0);
  });
});

describe('sparkplane bench connect: timeouts, TLS and admin credentials', () => {
  it('reads the spread from an admin port that requires a token, and says when one is missing', async () => {
    const baseline = activeResources();
    const admin = http.createServer((request, response) => {
      if (request.headers.authorization !== 'Bearer admin-secret') {
        response.writeHead(401, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ sessions: [{ sessionId: 's1', backend: '10.0.0.1:15002' }] }));
    });
    await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${String((admin.address() as { port: number }).port)}`;
    try {
      const reason = (spread: SessionSpread): string => (spread.available ? '' : spread.reason);
      assert.match(
        reason(await fetchSessionSpread(base, ['s1'], 2000)),
        /HTTP 401.*give --admin-token-file FILE/,
      );
      assert.match(
        reason(await fetchSessionSpread(base, ['s1'], 2000, 'nope')),
        /token of --admin-token-file is not one it accepts/,
      );
      const spread = await fetchSessionSpread(base, ['s1', 's2'], 2000, 'admin-secret');
      assert.deepEqual(spread, {
        available: true,
        backends: [{ backend: '10.0.0.1:15002', sessionIndexes: [0] }],
        unlisted: [1],
      });
      assert.match(
        reason(await fetchSessionSpread('http://127.0.0.1:1', ['s1'], 2000)),
        /check --admin-url/,
      );
    } finally {
      await new Promise((resolve) => admin.close(resolve));
    }
    await assertNothingLeaked(baseline, 'the admin token test');
  });

  it('cancels a query that runs past --query-timeout and counts it as DEADLINE_EXCEEDED', async () => {
    const baseline = activeResources();
    const server = http2.createServer();
    let cancelled = 0;
    server.on('stream', (stream) => {
      stream.on('error', () => undefined);
      stream.on('close', () => {
        if (stream.rstCode === http2.constants.NGHTTP2_CANCEL) cancelled++;
      });
      stream.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const result = await runBench({
        endpoint: { host: '127.0.0.1', port, tls: false, metadata: {}, label: 'silent' },
        sessions: 2,
        queriesPerSession: 1,
        rampUpMs: 0,
        queryTimeoutMs: 200,
        connectTimeoutMs: 1000,
        mix: light(),
        userId: 'u',
        clientType: 'sparkplane-bench',
      });
      assert.deepEqual(
        result.stats.errors().map((group) => [group.status, group.where, group.count]),
        [
          ['DEADLINE_EXCEEDED', 'select-1', 2],
          ['DEADLINE_EXCEEDED', 'ReleaseSession', 2],
        ],
      );
      await until(() => cancelled === 4, 'every timed-out call cancelled on the server');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    await assertNothingLeaked(baseline, 'the timeout test');
  });

  it('speaks TLS to a gateway with a private CA, and says what to do without the CA', async () => {
    const baseline = activeResources();
    const certificate = makeTestCertificate();
    const fake = await startFakeSparkConnect();
    const gateway = await startTestGateway([fake], {
      tls: { cert: certificate.cert, key: certificate.key },
    });
    try {
      const tlsUrl = `sc://127.0.0.1:${String(gateway.address.port)}/;use_ssl=true`;
      const args = ['connect', '--url', tlsUrl, '--mix', 'light', '--sessions', '2'];
      const ok = await cli([
        ...args,
        '--queries-per-session',
        '2',
        '--tls-ca',
        certificate.certFile,
      ]);
      assert.equal(ok.code, 0, ok.err + ok.out);
      assert.match(ok.out, /4 queries, 0 failed/);
      const noCa = await cli([...args, '--queries-per-session', '1']);
      assert.equal(noCa.code, 3);
      assert.match(noCa.err, /cannot reach .*certificate.*--tls-ca FILE/);
      const cleartext = await cli([
        'connect',
        '--url',
        `sc://127.0.0.1:${String(gateway.address.port)}`,
        '--tls-ca',
        certificate.certFile,
      ]);
      assert.equal(cleartext.code, 2);
      assert.match(cleartext.err, /--tls-ca is given but .* is cleartext/);
    } finally {
      await gateway.close(1000);
      await fake.close();
      certificate.remove();
    }
    await assertNothingLeaked(baseline, 'the TLS test');
  });
});
