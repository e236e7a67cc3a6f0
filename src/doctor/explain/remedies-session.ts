// Remedies for findings at the session layer: connections that went silent or closed with
// requests outstanding, and Spark Connect sessions and operations the server does not hold.
import { NAT_IDLE_TIMEOUTS_S } from '../session-checks.ts';
import {
  EXCLUDE_SPARK_PORTS,
  fetchNote,
  KEEPALIVE,
  peer,
  times,
  where,
  type FindingGroup,
  type Remedy,
} from './remedy-words.ts';

export function quiet(group: FindingGroup): Remedy {
  const quietMs = group.details.quietMs;
  const seen =
    group.variant === 'retransmission-timeout'
      ? `An established connection with ${where(group.address)} timed out: retransmissions went unanswered`
      : `The connection to ${where(group.address)} was silent for ${String(quietMs)} ms with ` +
        'requests outstanding, and Spark closed it';
  return {
    layer: 'session',
    reason: 'idle-timeout',
    status: 'fail',
    summary: `${seen}${times(group)}${fetchNote(group)}`,
    fix: {
      summary:
        'Requests went out and nothing came back: a NAT gateway or firewall forgot the idle ' +
        `connection and drops its packets silently (Azure NAT gateway ${NAT_IDLE_TIMEOUTS_S.azureNatGateway} s, ` +
        `GCP Cloud NAT ${NAT_IDLE_TIMEOUTS_S.gcpCloudNat} s), a path MTU blackhole (small messages ` +
        'pass, large transfers stall), or a peer stuck in garbage collection. Keep TCP keepalive ' +
        'below the NAT idle timers, let ICMP "fragmentation needed" through, and raise ' +
        'spark.network.timeout only for GC pauses.',
      snippets: [
        KEEPALIVE,
        {
          platform: 'aws-cli',
          text: 'aws ec2 create-network-acl-entry --network-acl-id acl-… --rule-number 90 --ingress --protocol icmp --icmp-type-code Type=3,Code=4 --cidr-block 0.0.0.0/0 --rule-action allow',
        },
        { platform: 'shell', text: 'sysctl -w net.ipv4.tcp_mtu_probing=1' },
      ],
    },
  };
}

export function connectionClosed(group: FindingGroup): Remedy {
  return {
    layer: 'session',
    reason: 'idle-timeout',
    status: 'warn',
    summary:
      `A connection${peer('with', group.address)} closed while requests were outstanding` +
      `${times(group)}${fetchNote(group)}`,
    fix: {
      summary:
        'The peer or a middlebox closed it mid-request: the peer process exited (executor ' +
        'lost, OOMKilled, decommissioned — check its log first), a sidecar or load balancer ' +
        'closed it, or a NAT gateway dropped it after its idle timer.',
      snippets: [KEEPALIVE, { platform: 'istio-yaml', text: EXCLUDE_SPARK_PORTS }],
    },
  };
}

const SESSION_FIXES: Readonly<Record<string, string>> = {
  'INVALID_HANDLE.SESSION_NOT_FOUND':
    'The server does not hold this session: the call reached another Spark Connect server than ' +
    'the one that created it (a load balancer without session affinity), or the server restarted. ' +
    'Route every call of a session to one server (sparkplane gateway keeps that affinity) and ' +
    'reconnect after restarts.',
  'INVALID_HANDLE.SESSION_CHANGED':
    'The server behind the session restarted, or the call went to another driver: create a new ' +
    'session, and keep session affinity in front of several servers.',
  'INVALID_HANDLE.SESSION_CLOSED':
    'The session was released (spark.stop()) or expired idle ' +
    '(spark.connect.session.manager.defaultSessionTimeout, 60 min) and its id was used again. ' +
    'Right after stop, a releaseExecute racing it is harmless; otherwise open a new session ' +
    'instead of reusing the id.',
  'INVALID_HANDLE.OPERATION_NOT_FOUND':
    'A reattach or release named an operation this server does not have: it ran on another ' +
    'server (no affinity), or was removed after its result was consumed or abandoned.',
  'INVALID_HANDLE.OPERATION_ABANDONED':
    'No client was attached to the operation for spark.connect.execute.manager.detachedTimeout ' +
    '(5 min), so it was removed: the client lost its stream (an idle timeout or stream limit on ' +
    'the path) and came back too late.',
  'INVALID_CURSOR.DISCONNECTED':
    'The server dropped the result stream the client was reading: the client retries with ' +
    'ReattachExecute, which must reach the same server.',
};

export function connectSession(group: FindingGroup): Remedy {
  const errorClass = group.variant;
  const operation = group.details.operation;
  const cleanup =
    typeof operation === 'string' &&
    operation.startsWith('release') &&
    /SESSION_CLOSED|SESSION_NOT_FOUND|OPERATION_NOT_FOUND/.test(errorClass);
  const clientMistake = /FORMAT|OPERATION_ALREADY_EXISTS/.test(errorClass);
  return {
    layer: 'session',
    reason: 'session-lost',
    status: cleanup || clientMistake ? 'warn' : 'fail',
    summary:
      `Spark Connect answered ${errorClass}${typeof operation === 'string' ? ` during ${operation}` : ''}` +
      times(group),
    fix: {
      summary:
        SESSION_FIXES[errorClass] ??
        'Client and server disagree about the session or operation; see this error class in ' +
          'Spark’s error documentation.',
    },
  };
}
