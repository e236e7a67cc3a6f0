// The fix for every warning and failure a probe reports (spec §5.3): what to do, in a sentence, and
// snippets to paste. Placeholders in angle brackets are what the doctor cannot know (security
// group ids, CIDRs, namespaces).
import type { Fix } from '../model.ts';
import type { ServiceName, Target } from '../targets.ts';
import { SERVICE_FACTS } from './service-facts.ts';

type Snippet = NonNullable<Fix['snippets']>[number];

function listenSnippets(service: ServiceName): Snippet[] {
  const listen = SERVICE_FACTS[service].listen;
  return listen === undefined ? [] : [listen];
}

export function fixDnsFailure(target: Target): Fix {
  return {
    summary: `Make ${target.host} resolve from here: check the spelling, this machine's resolver, and that a private DNS zone holding the name is associated with this network.`,
    snippets: [
      { platform: 'shell', text: `getent ahosts ${target.host}\ncat /etc/resolv.conf` },
      {
        platform: 'aws-cli',
        text: 'aws route53 associate-vpc-with-hosted-zone --hosted-zone-id <zone-id> --vpc VPCRegion=<region>,VPCId=<vpc-id>',
      },
      { platform: 'shell', text: 'kubectl -n kube-system logs -l k8s-app=kube-dns --tail=50' },
    ],
  };
}

export function fixFiltered(target: Target): Fix {
  const port = String(target.port);
  return {
    summary: `Allow TCP ${port} from this machine's address range to ${target.host} in the destination's security group, NSG or firewall. If a stateless network ACL sits in the path, also allow the return traffic to ephemeral ports 1024–65535.`,
    snippets: [
      {
        platform: 'aws-cli',
        text:
          `aws ec2 authorize-security-group-ingress --group-id <destination-sg-id> --protocol tcp --port ${port} --cidr <source-cidr>\n` +
          'aws ec2 create-network-acl-entry --network-acl-id <destination-subnet-acl-id> --rule-number 120 --egress --protocol tcp --port-range From=1024,To=65535 --cidr-block <source-cidr> --rule-action allow',
      },
      {
        platform: 'azure-cli',
        text: `az network nsg rule create --resource-group <rg> --nsg-name <nsg> --name allow-tcp-${port} --priority 200 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes <source-cidr> --destination-port-ranges ${port}`,
      },
      {
        platform: 'gcloud',
        text: `gcloud compute firewall-rules create allow-tcp-${port} --network <network> --direction INGRESS --allow tcp:${port} --source-ranges <source-cidr>`,
      },
    ],
  };
}

export function fixRefused(target: Target): Fix {
  const { title } = SERVICE_FACTS[target.service];
  return {
    summary: `Nothing accepts connections on ${String(target.port)}: start the ${title} and make it listen on an address reachable from here (not only 127.0.0.1). If it does listen, a firewall REJECT rule, a Kubernetes Service without endpoints or a load balancer without healthy targets answers instead.`,
    snippets: [
      ...listenSnippets(target.service),
      {
        platform: 'shell',
        text: `ss -ltnp 'sport = :${String(target.port)}'    # on ${target.host}\nkubectl get endpoints -A | grep ':${String(target.port)}'`,
      },
    ],
  };
}

export function fixUnreachable(target: Target): Fix {
  return {
    summary: `A router or firewall answers that ${target.host} cannot be reached (ICMP unreachable or administratively prohibited). Find it with a capture while probing, then fix its route or rule; check that the host is up.`,
    snippets: [
      { platform: 'shell', text: `ip route get ${target.host}\nsudo tcpdump -ni any icmp` },
      {
        platform: 'aws-cli',
        text: 'aws ec2 describe-route-tables --filters Name=association.subnet-id,Values=<source-subnet-id>',
      },
    ],
  };
}

export function fixNoRoute(target: Target): Fix {
  return {
    summary: `There is no route to ${target.host}: add one for the destination network (peering, transit gateway or VPN attachment), here or at the router that answered.`,
    snippets: [
      { platform: 'shell', text: `ip route get ${target.host}` },
      {
        platform: 'aws-cli',
        text: 'aws ec2 create-route --route-table-id <source-route-table-id> --destination-cidr-block <destination-cidr> --vpc-peering-connection-id <pcx-id>',
      },
    ],
  };
}

const EXCLUDE_INBOUND = (port: number): Snippet => ({
  platform: 'k8s-yaml',
  text: `metadata:\n  annotations:\n    traffic.sidecar.istio.io/excludeInboundPorts: "${String(port)}"   # recreate the pods`,
});

export function fixResetAfterConnect(target: Target): Fix {
  return {
    summary: `Something accepts the connection and resets it at once: usually a service-mesh sidecar that intercepts port ${String(target.port)} while nothing listens behind it, or STRICT mTLS rejecting a plaintext client. Check what intercepts the port, make the service listen behind it, or exclude the port from interception.`,
    snippets: [
      { platform: 'shell', text: 'istioctl x describe pod <server-pod> -n <namespace>' },
      EXCLUDE_INBOUND(target.port),
    ],
  };
}

export function fixTlsRequired(target: Target): Fix {
  const facts = SERVICE_FACTS[target.service];
  const clientTls = facts.clientTls;
  return {
    summary: `The ${facts.title} on ${String(target.port)} speaks TLS; plaintext clients fail (often as "Connection reset" or a hang). Enable TLS in the client, or turn TLS off on the server if that was not intended.`,
    snippets:
      clientTls === undefined
        ? [{ platform: 'shell', text: `curl -vk https://${target.host}:${String(target.port)}/` }]
        : [clientTls],
  };
}

export function fixPlaintextOnTlsPort(target: Target): Fix {
  return {
    summary: `Port ${String(target.port)} does not speak TLS: use http:// for it, enable TLS on the server, or point clients at the TLS port.`,
    snippets: [
      { platform: 'shell', text: `curl -v http://${target.host}:${String(target.port)}/` },
    ],
  };
}

export function fixMeshMtls(target: Target): Fix {
  const port = String(target.port);
  return {
    summary: `Port ${port} is wrapped in service-mesh mTLS (the certificate carries a SPIFFE identity), so plaintext ${SERVICE_FACTS[target.service].title} clients outside the mesh are reset. Let plaintext in on this port (PERMISSIVE or DISABLE for it), or exclude the port from the sidecar.`,
    snippets: [
      {
        platform: 'istio-yaml',
        text:
          'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: allow-plaintext-' +
          port +
          '\n  namespace: <namespace>\nspec:\n  selector:\n    matchLabels:\n      app: <server-app-label>\n  mtls:\n    mode: STRICT\n  portLevelMtls:\n    ' +
          port +
          ':\n      mode: PERMISSIVE',
      },
      EXCLUDE_INBOUND(target.port),
    ],
  };
}

export function fixClientCertRequired(target: Target): Fix {
  const snippets: Snippet[] =
    target.service === 'hive-thrift'
      ? [
          {
            platform: 'jdbc-url',
            text: 'jdbc:hive2://<host>:<port>/default;ssl=true;twoWay=true;sslTrustStore=<truststore.jks>;trustStorePassword=<password>;sslKeyStore=<keystore.jks>;keyStorePassword=<password>',
          },
        ]
      : [
          {
            platform: 'spark-conf',
            text: 'spark.ssl.keyStore=/path/to/client-keystore.jks\nspark.ssl.keyStorePassword=<password>\nspark.ssl.trustStore=/path/to/truststore.jks',
          },
        ];
  return {
    summary: `The server on ${String(target.port)} demands a client certificate (mutual TLS). Give clients a certificate the server trusts, or stop requiring one on the server.`,
    snippets,
  };
}

export function fixTlsHandshake(target: Target, problem: string): Fix {
  return {
    summary: `TLS with the server on ${String(target.port)} fails (${problem}): the TLS versions or cipher suites of client and server do not overlap, or the server rejects the client. Compare the server's TLS settings with the client's.`,
    snippets: [
      {
        platform: 'shell',
        text: `openssl s_client -connect ${target.host}:${String(target.port)} -brief </dev/null`,
      },
    ],
  };
}

/** `answer` names what answered, e.g. `HTTP/1.1 400 Bad Request, server: envoy`. */
export function fixWrongProtocol(target: Target, answer: string, httpAnswered: boolean): Fix {
  const { title } = SERVICE_FACTS[target.service];
  const port = String(target.port);
  if (httpAnswered) {
    return {
      summary: `Port ${port} answers HTTP (${answer}), not the ${title}: a mesh or proxy treats the port as HTTP (protocol sniffing or an HTTP listener), or another service owns it. Declare the port as plain TCP, exclude it from the sidecar, or point clients at the real ${title} port.`,
      snippets: [
        {
          platform: 'k8s-yaml',
          text: `ports:\n  - name: tcp-${target.service}\n    port: ${port}\n    appProtocol: tcp`,
        },
        EXCLUDE_INBOUND(target.port),
      ],
    };
  }
  return {
    summary: `Port ${port} answers ${answer}, not the ${title}: clients are pointed at the wrong port or host. Check which service owns ${port} and use the ${title}'s port.`,
    snippets: [
      {
        platform: 'shell',
        text: `ss -ltnp 'sport = :${port}'    # on ${target.host}: which process owns the port`,
      },
    ],
  };
}

export function fixHiveHttpMode(target: Target): Fix {
  return {
    summary: `Port ${String(target.port)} answers HTTP: HiveServer2 may run in HTTP transport mode. Use the HTTP transport in the JDBC URL, or the binary port.`,
    snippets: [
      {
        platform: 'jdbc-url',
        text: `jdbc:hive2://${target.host}:${String(target.port)}/default;transportMode=http;httpPath=cliservice`,
      },
    ],
  };
}

export type AuthKind = 'spark-rpc' | 'spark-connect' | 'metastore-sasl' | 'http' | 'mesh-rbac';

export function fixAuthRequired(target: Target, kind: AuthKind): Fix {
  switch (kind) {
    case 'spark-rpc':
      return {
        summary: `The ${SERVICE_FACTS[target.service].title} requires authentication (spark.authenticate). Clients must enable it with the same secret; on YARN and Kubernetes Spark generates the secret, elsewhere set it on both sides.`,
        snippets: [
          {
            platform: 'spark-conf',
            text: 'spark.authenticate=true\nspark.authenticate.secret=<the cluster secret>    # not needed on YARN',
          },
        ],
      };
    case 'spark-connect':
      return {
        summary:
          'The Spark Connect server requires a token (spark.connect.authenticate.token or SPARK_CONNECT_AUTHENTICATE_TOKEN on the server): put the same token in the connection string. Python and Scala clients then insist on TLS, so the server needs a TLS-terminating proxy in front of it.',
        snippets: [
          { platform: 'spark-conf', text: 'spark.remote=sc://<host>:<port>/;token=<token>' },
        ],
      };
    case 'metastore-sasl':
      return {
        summary:
          'The Hive metastore speaks SASL (Kerberos): clients must enable SASL and name the metastore principal.',
        snippets: [
          {
            platform: 'spark-conf',
            text: 'spark.hadoop.hive.metastore.sasl.enabled=true\nspark.hadoop.hive.metastore.kerberos.principal=hive/_HOST@<REALM>',
          },
        ],
      };
    case 'http':
      return {
        summary: `The endpoint on ${String(target.port)} requires credentials: send them with requests (see its WWW-Authenticate header).`,
      };
    case 'mesh-rbac':
      return {
        summary:
          'The service mesh refuses this caller (Envoy "RBAC: access denied"): allow it in the AuthorizationPolicy of the destination workload.',
        snippets: [
          {
            platform: 'istio-yaml',
            text: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: allow-<caller>\n  namespace: <namespace>\nspec:\n  selector:\n    matchLabels:\n      app: <server-app-label>\n  action: ALLOW\n  rules:\n    - from:\n        - source:\n            principals: ["cluster.local/ns/<caller-namespace>/sa/<caller-service-account>"]',
          },
        ],
      };
  }
}

export function fixProxyUpstream(target: Target, answer: string): Fix {
  return {
    summary: `A proxy answers on ${String(target.port)} (${answer}) but cannot reach the service behind it: check that the service runs and that the proxy's upstream (mesh sidecar, gateway, load balancer target) points at it.`,
    snippets: [{ platform: 'shell', text: 'istioctl proxy-config endpoints <pod> -n <namespace>' }],
  };
}

export function fixNoAnswer(target: Target): Fix {
  const { title } = SERVICE_FACTS[target.service];
  return {
    summary: `The connection opens but nothing answers a ${title} request: check that ${String(target.port)} really is the ${title}'s port, whether a proxy in between holds the connection without an upstream, and whether the server is overloaded or stuck.`,
    snippets: [
      {
        platform: 'shell',
        text: `ss -ltnp 'sport = :${String(target.port)}'    # on ${target.host}`,
      },
    ],
  };
}

export function fixForMoreTime(): Fix {
  return {
    summary:
      'Give the doctor more time (a slow path, or many targets at once), then look at this layer again.',
    snippets: [{ platform: 'shell', text: 'sparkplane doctor --timeout 10s <targets>' }],
  };
}
