// An `agent` target past the transport layer: one connection to the doctor agent, its greeting
// and hello (the protocol check), then on the same connection what only a far end can tell —
// the source address it sees (NAT) and how big a transfer gets through (the MTU ladder).
import { openAgentSession } from './agent/agent-client.ts';
import type { Hello } from './agent/messages.ts';
import type { Check } from './model.ts';
import { natCheck, NAT_CHECK_ID } from './nat-check.ts';
import { MTU_CHECK_ID, mtuCheck, pathFacts, runMtuLadder } from './mtu-ladder.ts';
import { hostPort, makeCheck, skipped } from './probes/check.ts';
import { ms } from './probes/connect-errors.ts';
import { fixNoAnswer, fixResetAfterConnect, fixWrongProtocol } from './probes/fixes.ts';
import {
  PROTOCOL_LIMIT_MS,
  protocolCheckId,
  type ProtocolContext,
} from './probes/protocol-probe.ts';

export async function probeAgent(context: ProtocolContext): Promise<Check[]> {
  const { target, endpoint, budget } = context;
  const id = protocolCheckId(target);
  const remote = hostPort(endpoint.address, endpoint.port);
  const later = (because: string): Check[] => [
    skipped(target, NAT_CHECK_ID, 'route', because),
    skipped(target, MTU_CHECK_ID, 'path-mtu', because),
  ];
  const limit = Math.min(PROTOCOL_LIMIT_MS, budget.remainingMs());
  const opened = await openAgentSession(endpoint, { timeoutMs: limit });
  if (opened.kind === 'failed') {
    const evidence = {
      remoteAddress: remote,
      outcome: opened.outcome,
      errno: opened.errno,
      elapsedMs: Math.round(opened.elapsedMs),
      answerHex: opened.answerHex ?? null,
    };
    const check =
      opened.outcome === 'not-an-agent' && opened.answerHex !== undefined
        ? makeCheck(target, {
            id,
            layer: 'protocol',
            status: 'fail',
            reason: 'wrong-protocol',
            summary: `${remote} answered, but not with the doctor agent's greeting: another service holds the port`,
            evidence,
            fix: fixWrongProtocol(target, 'another service', false),
          })
        : opened.outcome === 'reset-after-connect'
          ? makeCheck(target, {
              id,
              layer: 'protocol',
              status: 'fail',
              reason: 'reset-after-connect',
              summary: `${remote} closed the connection before the agent's greeting: a proxy or sidecar intercepts the port`,
              evidence,
              fix: fixResetAfterConnect(target),
            })
          : makeCheck(target, {
              id,
              layer: 'protocol',
              status: 'warn',
              reason: 'no-answer',
              summary: `${remote} sent no agent greeting within ${ms(opened.elapsedMs)} (${opened.outcome})`,
              evidence,
              fix: fixNoAnswer(target),
            });
    return [check, ...later('the agent did not greet')];
  }
  const { session } = opened;
  try {
    const answer = await session.request({ op: 'hello' }, Math.max(1, budget.remainingMs()));
    const hello = answer.kind === 'answer' ? (answer.body.hello as Hello | undefined) : undefined;
    if (hello === undefined) {
      return [
        makeCheck(target, {
          id,
          layer: 'protocol',
          status: 'warn',
          reason: 'no-answer',
          summary: `the agent on ${remote} greeted but did not answer hello (${answer.kind})`,
          evidence: { remoteAddress: remote },
          fix: fixNoAnswer(target),
        }),
        ...later('the agent did not answer hello'),
      ];
    }
    const protocol = makeCheck(target, {
      id,
      layer: 'protocol',
      status: 'pass',
      reason: 'protocol-ok',
      summary: `the doctor agent "${hello.name}" (sparkplane ${hello.version}, protocol ${String(hello.protocol)}) answers on ${remote}; it listens on ${hello.ports.join(', ')}`,
      evidence: {
        remoteAddress: remote,
        agent: hello.name,
        agentVersion: hello.version,
        agentPorts: hello.ports.join(','),
        agentAddresses: hello.interfaces.map((entry) => entry.address).join(','),
        elapsedMs: Math.round(session.connectMs),
      },
    });
    const nat = natCheck(target, session.local, hello.seen, hello.name);
    const steps = await runMtuLadder(session, budget);
    const facts = await pathFacts(session.local.address, endpoint.address);
    return [protocol, nat, mtuCheck(target, steps, facts)];
  } finally {
    session.close();
  }
}
