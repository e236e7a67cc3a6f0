// The real commands in child processes on loopback: three `sparkplane doctor agent` processes on
// 127.0.0.1/2/3, `sparkplane doctor HOST:PORT=agent` (with --idle-probe), `doctor matrix`, their
// JSON and exit codes, usage errors, and the agents' clean exit on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LAYERS, REASONS, STATUSES } from '../../../src/doctor/model.ts';
import { BIN, ROOT, runSparkplane, type CliRun } from '../../support/sparkplane-cli.ts';
import { freePort } from '../../support/sparkplane-service.ts';

/** The real command with colours off, so its text output reads the same on every terminal. */
function sparkplane(args: readonly string[]): Promise<CliRun> {
  return runSparkplane(args, { NO_COLOR: '1' });
}

/** Starts an agent and resolves once it logs that it listens. */
function startAgent(host: string, port: number, name: string): Promise<ChildProcess> {
  return new Promise((ready, fail) => {
    const child = spawn(
      BIN,
      [
        'doctor',
        'agent',
        '--listen',
        String(port),
        '--host',
        host,
        '--name',
        name,
        '--log-format',
        'json',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let text = '';
    const timer = setTimeout(() => {
      fail(new Error(`agent ${name} did not start: ${text}`));
    }, 15_000);
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes(`doctor agent \\"${name}\\" on ${host}`)) {
        clearTimeout(timer);
        ready(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`agent ${name} exited with ${String(code)}: ${text}`));
    });
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((done) => {
    if (child.exitCode !== null) done(child.exitCode);
    else
      child.once('exit', (code) => {
        done(code);
      });
  });
}

interface JsonCheck {
  id: string;
  layer: string;
  status: string;
  reason: string;
  source?: { file: string };
  target: { host: string; port: number; service: string };
  evidence: Record<string, unknown>;
}

describe('sparkplane doctor agent / doctor matrix (CLI)', () => {
  const agents: ChildProcess[] = [];
  const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  let port = 0;
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-agent-cli-'));

  /** `doctor matrix` over `nodes` (a comma list) on the agents' port. */
  const matrix = (nodes: string, ...more: string[]): Promise<CliRun> =>
    sparkplane(['doctor', 'matrix', '--nodes', nodes, '--port', String(port), ...more]);

  before(async () => {
    port = await freePort();
    for (const [index, host] of hosts.entries())
      agents.push(await startAgent(host, port, `node-${String(index + 1)}`));
  });
  after(() => {
    for (const child of agents) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad command lines with exit 2 and one clear line', async () => {
    const noPorts = await sparkplane(['doctor', 'agent']);
    assert.equal(noPorts.code, 2);
    assert.match(
      noPorts.stderr,
      /give the ports to listen on: sparkplane doctor agent --listen 7337/,
    );
    const badPort = await sparkplane(['doctor', 'agent', '--listen', '7337,http']);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /"http" must be ports 1–65535/);
    const idleWithoutAgent = await sparkplane(['doctor', '127.0.0.1:1', '--idle-probe', '1s']);
    assert.equal(idleWithoutAgent.code, 2);
    assert.match(idleWithoutAgent.stderr, /--idle-probe needs an agent target/);
    const noPort = await sparkplane(['doctor', 'matrix', '--nodes', '127.0.0.1']);
    assert.equal(noPort.code, 2);
    assert.match(noPort.stderr, /--port PORT/);
  });

  it('documents the new flags in --help, the idle probe as outside the budget', async () => {
    const doctor = await sparkplane(['doctor', '--help']);
    assert.match(doctor.stdout, /--idle-probe <DURATION>[\s\S]*outside --timeout/);
    assert.match(doctor.stdout, /--callback-port <PORT>/);
    const agent = await sparkplane(['doctor', 'agent', '--help']);
    assert.match(agent.stdout, /--listen <PORTS>/);
    assert.match(agent.stdout, /--callback-port <PORT>[\s\S]*\(default 7338\)/);
    const matrix = await sparkplane(['doctor', 'matrix', '--help']);
    assert.match(matrix.stdout, /R return path/);
  });

  it('probes an agent target: protocol, no NAT, MTU ladder, then the idle probe; JSON, exit 0', async () => {
    const callbackPort = await freePort();
    const run = await sparkplane([
      'doctor',
      `127.0.0.2:${String(port)}=agent`,
      '--callback-port',
      String(callbackPort),
      '--idle-probe',
      '1s',
      '--json',
    ]);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stderr, /idle probe: .* 1 s \(outside --timeout; slow by design\)/);
    const report = JSON.parse(run.stdout) as { checks: JsonCheck[] };
    const byId = new Map(report.checks.map((check) => [check.id, check]));
    assert.equal(byId.get('protocol.agent')?.reason, 'protocol-ok');
    assert.equal(byId.get('protocol.agent')?.evidence.agent, 'node-2');
    assert.equal(byId.get('route.nat')?.reason, 'no-nat');
    assert.equal(byId.get('path-mtu.ladder')?.reason, 'mtu-ok');
    assert.equal(byId.get('session.idle')?.reason, 'idle-ok');
    assert.equal(byId.get('session.idle')?.evidence.idleMs, 1000);
    for (const check of report.checks) {
      assert.ok((REASONS as readonly string[]).includes(check.reason), check.reason);
      assert.ok((LAYERS as readonly string[]).includes(check.layer), check.layer);
      assert.ok((STATUSES as readonly string[]).includes(check.status), check.status);
    }
  });

  it('prints the matrix of three agents as JSON with a check per pair, JUnit too, exit 0', async () => {
    const junit = join(dir, 'matrix.xml');
    const run = await matrix(hosts.join(','), '--json', '--junit', junit);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const report = JSON.parse(run.stdout) as {
      checks: JsonCheck[];
      matrix: {
        port: number;
        rows: string[];
        nodes: { host: string; agent: string }[];
        legend: Record<string, string>;
      };
    };
    assert.deepEqual(report.matrix.rows, ['...', '...', '...']);
    assert.equal(report.matrix.port, port);
    assert.deepEqual(
      report.matrix.nodes.map((node) => node.agent),
      ['node-1', 'node-2', 'node-3'],
    );
    assert.deepEqual(Object.keys(report.matrix.legend), ['.', 'T', 'R', 'X', 'N', 'M', '?']);
    assert.equal(report.checks.length, 9);
    assert.ok(
      report.checks.every((check) => check.source !== undefined && check.reason === 'open'),
    );
    assert.match(
      readFileSync(junit, 'utf8'),
      /<testsuites name="sparkplane doctor" tests="9" failures="0"/,
    );
    const text = await matrix(hosts.join(','));
    assert.match(
      text.stdout,
      /reachability on port \d+ \(rows: from, columns: to\)\n +1 +2 +3\n +1 127\.0\.0\.1 +\. +\. +\./,
    );
  });

  it('exits 3 when no agent can be reached, and 1 when a node has none', async () => {
    const none = await matrix('127.0.0.5');
    assert.equal(none.code, 3, none.stdout);
    assert.match(none.stdout, /\?/);
    const some = await matrix('127.0.0.1,127.0.0.5', '--json');
    assert.equal(some.code, 1);
    const report = JSON.parse(some.stdout) as { matrix: { rows: string[] } };
    assert.deepEqual(report.matrix.rows, ['.X', '??']);
  });

  it('stops every agent cleanly on SIGTERM (exit 0)', async () => {
    for (const child of agents) child.kill('SIGTERM');
    const codes = await Promise.all(agents.map(exitOf));
    assert.deepEqual(codes, [0, 0, 0]);
  });
});
