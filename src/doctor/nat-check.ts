// NAT in the path (spec §2.10): the agent says which source address and port it sees; when that
// is not this socket's own address, something between rewrote it. Pure, so the verdict is tested
// without a network.
import { fixNat } from './agent-fixes.ts';
import type { AddressPort } from './agent/messages.ts';
import { plainAddress } from './agent/proc-net-tcp.ts';
import type { Check } from './model.ts';
import { hostPort, makeCheck } from './probes/check.ts';
import type { Target } from './targets.ts';

export const NAT_CHECK_ID = 'route.nat';

export type NatVerdict = 'none' | 'nat' | 'pat' | 'port-only';

export function natVerdict(ours: AddressPort, seen: AddressPort): NatVerdict {
  const sameAddress = plainAddress(ours.address) === plainAddress(seen.address);
  const samePort = ours.port === seen.port;
  if (sameAddress) return samePort ? 'none' : 'port-only';
  return samePort ? 'nat' : 'pat';
}

export function natCheck(
  target: Target,
  ours: AddressPort,
  seen: AddressPort,
  agent: string,
): Check {
  const verdict = natVerdict(ours, seen);
  const mine = hostPort(plainAddress(ours.address), ours.port);
  const theirs = hostPort(plainAddress(seen.address), seen.port);
  const peer = hostPort(target.host, target.port);
  const evidence = { localAddress: mine, peerSeenAddress: theirs, agent, translation: verdict };
  if (verdict === 'none')
    return makeCheck(target, {
      id: NAT_CHECK_ID,
      layer: 'route',
      status: 'pass',
      reason: 'no-nat',
      summary: `the agent on ${peer} sees this connection as ${theirs}, this machine's own address: no NAT in the path`,
      evidence,
    });
  const how = {
    nat: 'the source address was rewritten (NAT, ports kept)',
    pat: 'the source address and port were rewritten (NAT with port translation, PAT)',
    'port-only': 'the source port was rewritten (port translation by a middlebox)',
  }[verdict];
  return makeCheck(target, {
    id: NAT_CHECK_ID,
    layer: 'route',
    status: 'warn',
    reason: 'nat-detected',
    summary: `the agent on ${peer} sees ${theirs} where this machine connected from ${mine}: ${how}`,
    evidence,
    fix: fixNat(plainAddress(ours.address), plainAddress(seen.address), peer),
  });
}
