// Remedies for findings at the transport, route and DNS layers, and for shuffle fetch failures
// whose cause the log does not show: refused, reset, unanswered, unroutable, unresolvable.
import { NAT_IDLE_TIMEOUTS_S } from '../session-checks.ts';
import type { Fix } from '../model.ts';
import {
  EXCLUDE_SPARK_PORTS,
  fetchNote,
  KEEPALIVE,
  peer,
  probe,
  serviceAt,
  times,
  where,
  type FindingGroup,
  type Remedy,
} from './remedy-words.ts';

/** Resets of established connections: a sidecar, a proxy, a NAT gateway, a dying peer. */
export function connectionReset(group: FindingGroup): Remedy {
  return {
    layer: 'transport',
    reason: 'reset-after-connect',
    status: 'warn',
    summary: `Connections${peer('with', group.address)} were reset${times(group)}${fetchNote(group)}`,
    fix: {
      summary:
        'Something closed established connections with a reset: an Istio sidecar in STRICT ' +
        'mTLS resetting plaintext Spark RPC from outside the mesh, a proxy with no upstream, an ' +
        `AWS NAT gateway answering a connection idle for over ${NAT_IDLE_TIMEOUTS_S.awsNatGateway} s, ` +
        'or the peer process dying. Keep the Spark ports out of the sidecar and TCP keepalive ' +
        'below the NAT idle timer.',
      snippets: [{ platform: 'istio-yaml', text: EXCLUDE_SPARK_PORTS }, KEEPALIVE],
    },
  };
}

export function noRoute(group: FindingGroup): Remedy {
  return {
    layer: 'route',
    reason: 'no-route',
    status: 'fail',
    summary: `No route to ${where(group.address)}${times(group)}${fetchNote(group)}`,
    fix: {
      summary:
        'A router answered "unreachable" or this host has no route: add the route to the ' +
        'peer network (through the peering or transit attachment, not the NAT gateway) and ' +
        'check the local route.',
      snippets: [
        { platform: 'shell', text: `ip route get ${group.address?.host ?? 'HOST'}` },
        {
          platform: 'aws-cli',
          text: 'aws ec2 create-route --route-table-id rtb-… --destination-cidr-block PEER_CIDR --vpc-peering-connection-id pcx-…',
        },
      ],
    },
  };
}

export function unknownHost(group: FindingGroup): Remedy {
  return {
    layer: 'dns',
    reason: 'dns-failure',
    status: 'fail',
    summary: `The name ${group.address?.host ?? ''} does not resolve${times(group)}`,
    fix: {
      summary:
        'Fix the name or DNS where the process runs. On Kubernetes executors reach the driver ' +
        'through its headless service (spark.driver.host): check that it exists in the namespace.',
      snippets: [{ platform: 'shell', text: `getent hosts ${group.address?.host ?? 'NAME'}` }],
    },
  };
}

export function shuffleOutputLost(group: FindingGroup): Remedy {
  return {
    layer: 'log',
    reason: 'log-finding',
    status: 'warn',
    summary:
      `Map output of shuffle ${String(group.details.shuffleId)} is missing${times(group)}: ` +
      'the executor that wrote it is gone, so the stage runs again',
    fix: {
      summary:
        'Look for ExecutorLostFailure or OOMKilled before this line. Keep shuffle files when ' +
        'executors go: an external shuffle service, or migrate them on decommission.',
      snippets: [
        {
          platform: 'spark-conf',
          text: 'spark.decommission.enabled true\nspark.storage.decommission.shuffleBlocks.enabled true',
        },
      ],
    },
  };
}

export function fetchFailed(group: FindingGroup): Remedy {
  const connect = /Failed to connect|Connection/.test(String(group.details.message ?? ''));
  const from =
    group.details.blockManager === undefined
      ? peer('from', group.address)
      : ` from ${String(group.details.blockManager)}`;
  return {
    layer: connect ? 'transport' : 'log',
    reason: 'log-finding',
    status: 'fail',
    summary: `Shuffle fetches${from} failed${times(group)} (FetchFailedException)`,
    fix: {
      summary:
        'A reducer could not read map output from that block manager or shuffle service, so the ' +
        'stage runs again. The lines after it name the cause; test the path from an executor. If ' +
        'executors come and go (dynamic allocation, spot nodes), keep their shuffle files.',
      snippets: [
        probe(group.address),
        {
          platform: 'spark-conf',
          text: 'spark.decommission.enabled true\nspark.storage.decommission.shuffleBlocks.enabled true',
        },
      ],
    },
  };
}

export function refused(group: FindingGroup): Remedy {
  const port = group.address?.port;
  const base =
    'Something at that address answered with a reset: nothing listens on the port there, or a ' +
    'REJECT rule, kube-proxy or load balancer answers for it (cloud security groups and NSGs drop ' +
    'silently; they never refuse).';
  let fix: Fix;
  if (port === 7337) {
    fix = {
      summary:
        `${base} Start the external shuffle service on that node (it must run where the executor ` +
        'wrote its blocks), or stop depending on it: Spark on Kubernetes ships none, so use shuffle tracking.',
      snippets: [
        {
          platform: 'spark-conf',
          text: 'spark.shuffle.service.enabled false\nspark.dynamicAllocation.shuffleTracking.enabled true',
        },
        probe(group.address),
      ],
    };
  } else if (port === 15002 || port === 10001) {
    fix = {
      summary: `${base} Start the Spark Connect server, or point the client at the port it listens on (spark.connect.grpc.binding.port).`,
      snippets: [probe(group.address)],
    };
  } else {
    fix = {
      summary:
        `${base} The process behind it is gone or listens elsewhere: an executor that exited ` +
        '(look for ExecutorLostFailure or OOMKilled at this time), a driver bound to another ' +
        'address (spark.driver.bindAddress, spark.driver.host). Fix the random ports when a ' +
        'firewall must allow them.',
      snippets: [
        { platform: 'spark-conf', text: 'spark.driver.port 7078\nspark.blockManager.port 7079' },
        probe(group.address),
      ],
    };
  }
  return {
    layer: 'transport',
    reason: 'refused',
    status: 'fail',
    summary:
      `Connections to ${where(group.address)} (${serviceAt(port)}) were refused${times(group)}` +
      fetchNote(group),
    fix,
  };
}

export function connectTimeout(group: FindingGroup): Remedy {
  const port = group.address?.port ?? 0;
  const portText = port === 0 ? 'PORT' : String(port);
  const timeout = group.details.timeoutMs;
  return {
    layer: 'transport',
    reason: 'filtered',
    status: 'fail',
    summary:
      `No answer when connecting to ${where(group.address)}` +
      `${timeout === undefined ? '' : ` within ${String(timeout)} ms`}${times(group)}${fetchNote(group)}`,
    fix: {
      summary:
        'The SYN went unanswered: a security group, NSG, firewall or network ACL drops it, the ' +
        'reply is dropped on its way back (a stateless ACL on the ephemeral ports 1024–65535), or ' +
        `the host is down. Allow TCP ${portText} from the Spark subnets at the destination and the ` +
        'return traffic in stateless ACLs; the doctor tells a forward drop from a return-path drop.',
      snippets: [
        probe(group.address),
        {
          platform: 'aws-cli',
          text: `aws ec2 authorize-security-group-ingress --group-id sg-… --protocol tcp --port ${portText} --cidr SPARK_SUBNET_CIDR`,
        },
        {
          platform: 'azure-cli',
          text: `az network nsg rule create --resource-group RG --nsg-name NSG --name allow-spark-${portText} --priority 300 --protocol Tcp --destination-port-ranges ${portText} --source-address-prefixes SPARK_SUBNET_CIDR`,
        },
        {
          platform: 'gcloud',
          text: `gcloud compute firewall-rules create allow-spark-${portText} --network NETWORK --allow tcp:${portText} --source-ranges SPARK_SUBNET_CIDR`,
        },
      ],
    },
  };
}
