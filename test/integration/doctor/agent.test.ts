// Doctor agents in this process on loopback, port 0: hello and the source address it sees, the
// MTU ladder, garbage from one client while another is served, a half-open report reaching the
// doctor's callback listener (the detector fed with table lines; the real drop is the lab's), the
// matrix of three agents on 127.0.0.1/2/3, and the idle probe against a relay that expires flows.
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { openAgentSession, type AgentSession } from '../../../src/doctor/agent/agent-client.ts';
import { startCallbackListener } from '../../../src/doctor/agent/callback.ts';
import { createDoctorAgent, type DoctorAgent } from '../../../src/doctor/agent/doctor-agent.ts';
import { AGENT_MAGIC, type Hello } from '../../../src/doctor/agent/messages.ts';
import { agentChannels } from '../../../src/doctor/agent/observability.ts';
import { idleCheck, runIdleProbe } from '../../../src/doctor/idle-probe.ts';
import { runMatrix } from '../../../src/doctor/matrix.ts';
import { probeTarget } from '../../../src/doctor/probe-target.ts';
import { startReturnPathWatch } from '../../../src/doctor/return-path-watch.ts';
import { createBudget } from '../../../src/doctor/probes/budget.ts';
import type { Target } from '../../../src/doctor/targets.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { startExpiringProxy } from './agent-idle-proxy.ts';

async function open(port: number, address = '127.0.0.1'): Promise<AgentSession> {
  const opened = await openAgentSession({ address, port }, { timeoutMs: 2000 });
  assert.equal(opened.kind, 'open', JSON.stringify(opened));
  return opened.session;
}

/** A raw client: every line the agent sends, and whether it closed. */
function rawClient(
  port: number,
): Promise<{ socket: Socket; lines: string[]; closed: Promise<void> }> {
  return new Promise((ready) => {
    const lines: string[] = [];
    let buffered = '';
    const socket = connect({ host: '127.0.0.1', port }, () => {
      ready({ socket, lines, closed });
    });
    const closed = new Promise<void>((done) => {
      socket.once('close', () => {
        done();
      });
    });
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines.push(...parts);
    });
  });
}

async function until(what: string, test: () => boolean, withinMs = 3000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((tick) => setTimeout(tick, 20));
  }
}

describe('doctor agent (in process)', () => {
  let resources: ResourceCounts;
  let agent: DoctorAgent;
  let port = 0;

  before(async () => {
    resources = activeResources();
    agent = createDoctorAgent({
      host: '127.0.0.1',
      ports: [0, 0],
      name: 'node-a',
      callbackPort: undefined,
    });
    [port = 0] = await agent.listen();
  });
  after(async () => {
    await agent.close(1000);
    await assertNothingLeaked(resources, 'the agent tests');
  });

  it('greets, and says which source address and port it sees, its name, ports and addresses', async () => {
    const session = await open(port);
    try {
      const answer = await session.request({ op: 'hello' }, 2000);
      assert.equal(answer.kind, 'answer');
      const hello = answer.body.hello as Hello;
      assert.deepEqual(
        hello.seen,
        session.local,
        'the agent sees our own socket address on loopback',
      );
      assert.equal(hello.name, 'node-a');
      assert.equal(hello.protocol, 1);
      assert.deepEqual(hello.ports, agent.ports);
      assert.equal(hello.ports.length, 2);
      assert.ok(
        hello.interfaces.some((entry) => entry.address === '127.0.0.1' && entry.mtu !== null),
      );
    } finally {
      session.close();
    }
  });

  it('moves bytes both ways for the MTU ladder, and the doctor reports protocol-ok, no-nat and mtu-ok', async () => {
    const target: Target = { host: '127.0.0.1', port, service: 'agent' };
    const checks = await probeTarget(target, { deadline: Date.now() + 5000 });
    const byId = new Map(checks.map((check) => [check.id, check]));
    assert.equal(byId.get('transport.connect')?.reason, 'open');
    assert.equal(byId.get('tls.handshake')?.reason, 'plaintext');
    assert.equal(byId.get('protocol.agent')?.reason, 'protocol-ok');
    assert.equal(byId.get('route.nat')?.reason, 'no-nat');
    const mtu = byId.get('path-mtu.ladder');
    assert.equal(mtu?.reason, 'mtu-ok', JSON.stringify(mtu));
    assert.equal(
      mtu.evidence.passed,
      '100 to-agent, 100 from-agent, 1200 to-agent, 1200 from-agent, 1400 to-agent, 1400 from-agent, 8000 to-agent, 8000 from-agent, 65536 to-agent, 65536 from-agent',
    );
    assert.equal(mtu.evidence.interface, 'lo');
    assert.equal(mtu.evidence.interfaceMtu, 65536);
  });

  it('answers garbage with coded errors and closes only that client, while another is served', async () => {
    const bad = await rawClient(port);
    const good = await open(port);
    const badInput: string[] = [];
    const stop = agentChannels.badInput.subscribe((event) => badInput.push(event.code));
    try {
      bad.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n{"id":9,"op":"format-disk"}\n');
      const [hello, sink, source] = await Promise.all([
        good.request({ op: 'hello' }, 2000),
        good.sink(65536, 2000),
        good.source(65536, 2000),
      ]);
      assert.equal(hello.kind, 'answer');
      assert.equal(sink.kind, 'done');
      assert.equal(source.kind, 'done');
      // Three bad lines (the blank one is passed over), each answered.
      await until('error answers', () => bad.lines.length >= 4);
      assert.equal(bad.lines[0], AGENT_MAGIC);
      const errors = bad.lines
        .slice(1)
        .map((line) => JSON.parse(line) as { id: unknown; ok: boolean; error: { code: string } });
      assert.ok(errors.every((error) => !error.ok));
      assert.deepEqual(
        errors.map((error) => [error.id, error.error.code]),
        [
          [null, 'AGENT_BAD_REQUEST'],
          [null, 'AGENT_BAD_REQUEST'],
          [9, 'AGENT_UNKNOWN_OP'],
        ],
      );
      bad.socket.write(Buffer.alloc(20_000, 0x41));
      await bad.closed;
      assert.match(bad.lines.at(-1) ?? '', /AGENT_LINE_TOO_LONG/);
      assert.ok(badInput.includes('AGENT_LINE_TOO_LONG'));
      const after = await good.request({ op: 'ping' }, 2000);
      assert.equal(after.kind, 'answer', 'the other client is still served');
    } finally {
      stop();
      good.close();
      bad.socket.destroy();
    }
  });

  it('delivers a half-open report to the doctor callback port, and the doctor proves the return path', async () => {
    const callback = await startCallbackListener('127.0.0.1', 0);
    // The client side of the stuck handshake: 127.0.0.1:40404 → the agent's port.
    const hex = (value: number): string => value.toString(16).toUpperCase().padStart(4, '0');
    const table = `  sl  local_address rem_address   st\n   0: 0100007F:${hex(7008)} 0100007F:${hex(40404)} 03 00000000:00000000 01:00000032 00000000     0        0 0\n`;
    const fed = createDoctorAgent({
      host: '127.0.0.1',
      ports: [0],
      name: 'node-b',
      callbackPort: callback.port,
      readTables: () => Promise.resolve(table.replace(hex(7008), hex(fed.ports[0] ?? 0))),
      halfOpenThresholdMs: 0,
      pollMs: 60_000,
    });
    const seen: string[] = [];
    const stop = agentChannels.halfOpen.subscribe((event) =>
      seen.push(`${event.entry.remote.address}:${String(event.entry.remote.port)}`),
    );
    try {
      const [fedPort = 0] = await fed.listen();
      const target: Target = { host: '127.0.0.1', port: fedPort, service: 'agent' };
      // This side's table: our connect from 127.0.0.1:40404 stuck in SYN_SENT.
      const ours = `   1: 0100007F:${hex(40404)} 0100007F:${hex(fedPort)} 02 00000001:00000000 01:00000032 00000001     0        0 1\n`;
      const watch = startReturnPathWatch(
        target,
        [{ address: '127.0.0.1', port: fedPort }],
        callback,
        () => Promise.resolve(ours),
        createBudget(Date.now() + 3000),
      );
      await new Promise((tick) => setTimeout(tick, 300));
      await fed.pollHalfOpen();
      await fed.pollHalfOpen();
      assert.deepEqual(seen, ['127.0.0.1:40404']);
      await until('the report', () => callback.reports().length === 1);
      // The connect "stayed silent": the watch gives the two-ended verdict, and its retry from a
      // low source port reaches this (healthy) agent.
      const check = await watch.finish(true);
      assert.ok(check !== undefined);
      assert.equal(check.status, 'fail');
      assert.equal(check.reason, 'return-path-blocked');
      assert.equal(check.evidence.agent, 'node-b');
      assert.match(String(check.evidence.confidence), /^high/);
      assert.match(String(check.evidence.ourSynSent), /^SYN_SENT 127\.0\.0\.1:40404 → /);
      assert.match(String(check.evidence.theirSynRecv), /← 127\.0\.0\.1:40404/);
      assert.match(String(check.evidence.lowPortRetry), /^from source port \d{4}: connected in/);
      assert.equal(callback.reports()[0]?.from.address, '127.0.0.1');
      const halfOpen = await open(fedPort);
      const listed = await halfOpen.request({ op: 'half-open' }, 2000);
      halfOpen.close();
      assert.equal(
        listed.kind === 'answer' &&
          Array.isArray(listed.body.entries) &&
          listed.body.entries.length,
        1,
      );
    } finally {
      stop();
      await fed.close(1000);
      await callback.close();
    }
  });

  it('remembers a reset that came while no request waited, and answers the next request with it', async () => {
    // A "NAT" that resets the flow while it is idle: the reset lands between requests.
    const resetting = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.write(`${AGENT_MAGIC}\n`);
      setTimeout(() => socket.resetAndDestroy(), 50);
    });
    await new Promise<void>((ready) => resetting.listen(0, '127.0.0.1', ready));
    const address = resetting.address();
    const session = await open(typeof address === 'object' && address !== null ? address.port : 0);
    try {
      await new Promise((tick) => setTimeout(tick, 200));
      assert.deepEqual(await session.request({ op: 'ping' }, 1000), {
        kind: 'closed',
        how: 'reset',
        errno: 'ECONNRESET',
      });
    } finally {
      session.close();
      await new Promise((done) => resetting.close(done));
    }
  });

  it('runs the matrix over three agents on 127.0.0.1/2/3, with a fourth node that has none', async () => {
    const free = createServer();
    await new Promise<void>((ready) => free.listen(0, '127.0.0.1', ready));
    const address = free.address();
    const shared = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise((done) => free.close(done));
    const agents = ['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((host, index) =>
      createDoctorAgent({
        host,
        ports: [shared],
        name: `node-${String(index + 1)}`,
        callbackPort: undefined,
      }),
    );
    try {
      for (const each of agents) await each.listen();
      const result = await runMatrix({
        hosts: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'],
        port: shared,
        agentPort: shared,
        probeTimeoutMs: 2000,
        concurrency: 4,
      });
      assert.deepEqual(result.grid.rows, ['...X', '...X', '...X', '????']);
      assert.deepEqual(
        result.grid.nodes.map((node) => node.agent),
        ['node-1', 'node-2', 'node-3', null],
      );
      assert.equal(result.reachable, 3);
      const pair = result.checks.find(
        (check) => check.source?.file === '127.0.0.2' && check.target.host === '127.0.0.3',
      );
      assert.equal(pair?.reason, 'open');
      assert.equal(
        pair.evidence.peerSaw?.toString().startsWith('127.0.0.2:'),
        true,
        'probes leave from the agent address',
      );
      const unreachable = result.checks.find((check) => check.id === 'matrix.agent');
      assert.equal(unreachable?.reason, 'refused');
      assert.equal(result.checks.filter((check) => check.id === 'matrix.probe').length, 16);
    } finally {
      for (const each of agents) await each.close(1000);
    }
  });

  it('idle probe: a short idle passes; a relay that expires flows is reported silent or reset', async () => {
    const target: Target = { host: '127.0.0.1', port, service: 'agent' };
    const direct = await runIdleProbe({ address: '127.0.0.1', port }, 300);
    assert.equal(idleCheck(target, 300, direct).reason, 'idle-ok');
    for (const expiry of ['silent', 'reset'] as const) {
      const relay = await startExpiringProxy({ address: '127.0.0.1', port }, 150, expiry);
      try {
        const result = await runIdleProbe(
          { address: '127.0.0.1', port: relay.port },
          400,
          undefined,
          800,
        );
        const check = idleCheck(target, 400, result);
        assert.equal(check.reason, 'idle-timeout', `${expiry}: ${check.summary}`);
        assert.equal(result.plain.fate, expiry);
        assert.match(
          check.summary,
          expiry === 'silent' ? /silent \(Azure\/GCP style\)/ : /reset \(AWS style\)/,
        );
      } finally {
        await relay.close();
      }
    }
  });
});
