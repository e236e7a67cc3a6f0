// Remedies for findings at the protocol and TLS layers: other protocols on a Spark port (what
// "Too large frame" decodes to), real frames over 2 GiB, and authentication that the two ends of a
// Spark RPC or HiveServer2 connection do not agree on.
import type { Fix } from '../model.ts';
import {
  EXCLUDE_SPARK_PORTS,
  fetchNote,
  peer,
  TCP_SERVICE_PORT,
  times,
  where,
  type FindingGroup,
  type Remedy,
} from './remedy-words.ts';

export function wrongBytes(group: FindingGroup): Remedy {
  const seen =
    `${where(group.address)} sent a Spark RPC port bytes it cannot read${times(group)}: ` +
    `"${String(group.details.message)}" decodes to ${String(group.details.firstBytesHex)} ` +
    `("${String(group.details.firstBytesText)}"), ${String(group.details.sender)}`;
  const fixes: Readonly<Record<string, Fix>> = {
    'http2-preface': {
      summary:
        'A Spark Connect (gRPC) client is pointed at a Spark RPC port (shuffle service, driver, ' +
        'master): connect to the Spark Connect port, 15002 by default ' +
        '(spark.connect.grpc.binding.port). If no client was set up so, a mesh sidecar upgraded ' +
        'the connection to HTTP/2: declare the Spark port as plain TCP.',
      snippets: [
        { platform: 'shell', text: 'pyspark --remote "sc://SPARK_CONNECT_HOST:15002"' },
        { platform: 'k8s-yaml', text: TCP_SERVICE_PORT },
      ],
    },
    'http1-request': {
      summary:
        'An HTTP client reached the Spark RPC port: point browsers, scrapers and HTTP health ' +
        'checks at the UI (4040), and check Spark RPC ports with a TCP probe.',
      snippets: [{ platform: 'k8s-yaml', text: 'livenessProbe:\n  tcpSocket:\n    port: 7337' }],
    },
    'http1-response': {
      summary:
        'An HTTP server answers where a Spark RPC server was expected: an Envoy HTTP listener ' +
        '(the sidecar sniffed the port or was told it is HTTP) or a Service mapped to the wrong ' +
        'container port. Keep the port out of the sidecar, or declare it as TCP.',
      snippets: [
        { platform: 'istio-yaml', text: EXCLUDE_SPARK_PORTS },
        { platform: 'k8s-yaml', text: TCP_SERVICE_PORT },
      ],
    },
    'tls-client-hello': {
      summary:
        'A TLS client reached a plaintext Spark port: RPC TLS (spark.ssl.rpc.enabled, Spark 4) ' +
        'must be on at both ends or neither, the shuffle service included. With Istio, a client ' +
        'sidecar originated mTLS to a pod without a sidecar: keep 7337 out of the clients’ ' +
        'outbound capture.',
      snippets: [
        { platform: 'spark-conf', text: 'spark.ssl.rpc.enabled false' },
        { platform: 'istio-yaml', text: EXCLUDE_SPARK_PORTS },
      ],
    },
  };
  const tlsServer: Fix = {
    summary:
      'This side spoke plaintext to a TLS port: turn RPC TLS on here as well ' +
      '(spark.ssl.rpc.enabled), or remove the TLS wrapper (a sidecar) in front of the peer.',
    snippets: [{ platform: 'spark-conf', text: 'spark.ssl.rpc.enabled true' }],
  };
  const thriftClient: Fix = {
    summary:
      'A HiveServer2 or metastore client reached a Spark RPC port: point JDBC and beeline at ' +
      'HiveServer2 (10000) and metastore clients at 9083.',
    snippets: [{ platform: 'jdbc-url', text: 'jdbc:hive2://HIVESERVER2_HOST:10000/default' }],
  };
  const other: Fix = {
    summary:
      'Both ends must agree on encryption and authentication: spark.authenticate, ' +
      'spark.network.crypto.enabled, spark.network.crypto.cipher and ' +
      'spark.authenticate.enableSaslEncryption — in the application and in the shuffle service.',
    snippets: [
      {
        platform: 'spark-conf',
        text: 'spark.authenticate true\nspark.network.crypto.enabled true',
      },
    ],
  };
  const fix =
    fixes[group.variant] ??
    (group.variant.startsWith('tls-')
      ? tlsServer
      : group.variant.startsWith('thrift-')
        ? thriftClient
        : other);
  return {
    layer: 'protocol',
    reason: 'wrong-protocol',
    status: 'fail',
    summary: seen,
    fix,
  };
}

export function oversizedFrame(group: FindingGroup): Remedy {
  return {
    layer: 'protocol',
    reason: 'oversized-frame',
    status: 'fail',
    summary:
      `A Spark frame of ${String(group.details.reportedFrameSize)} bytes${times(group)} was refused: ` +
      'a block over 2 GiB cannot cross the wire',
    fix: {
      summary:
        'Keep blocks far below 2 GiB (more shuffle partitions) and stream large remote blocks ' +
        'to disk instead of memory.',
      snippets: [
        {
          platform: 'spark-conf',
          text: 'spark.sql.shuffle.partitions 2000\nspark.maxRemoteBlockSizeFetchToMem 200m',
        },
      ],
    },
  };
}

export function sparkAuth(group: FindingGroup): Remedy {
  const secretConf = {
    platform: 'spark-conf',
    text: 'spark.authenticate true\nspark.authenticate.secret <the same secret on both ends>',
  } as const;
  const variants: Readonly<Record<string, { summary: string; fix: Fix }>> = {
    'client-without-auth': {
      summary:
        `The server requires spark.authenticate but a client${peer('at', group.address)} sent an RPC without it ` +
        '("Expected SaslMessage")',
      fix: {
        summary:
          'Turn authentication on in the application with the secret the server uses (a ' +
          'standalone shuffle service reads its own spark.authenticate.secret).',
        snippets: [secretConf],
      },
    },
    'server-without-auth': {
      summary:
        `The client authenticates but the server${peer('at', group.address)} does not: it took the ` +
        `authentication message for a shuffle message ("${String(group.details.message)}")`,
      fix: {
        summary:
          'Start the shuffle service (or the peer) with spark.authenticate and the same secret, or ' +
          'turn authentication off in the application.',
        snippets: [secretConf],
      },
    },
    'secret-mismatch': {
      summary: `Authentication${peer('with', group.address)} failed: the two ends use different secrets`,
      fix: {
        summary:
          'Give both ends the same spark.authenticate.secret and the same spark.network.crypto settings.',
        snippets: [secretConf],
      },
    },
    'crypto-mismatch': {
      summary:
        `The server${peer('at', group.address)} expected Spark's AuthEngine handshake and got SASL, with SASL fallback off ` +
        '("Unknown challenge message.")',
      fix: {
        summary: 'Set spark.network.crypto.enabled alike on both ends, or allow the SASL fallback.',
        snippets: [
          {
            platform: 'spark-conf',
            text: 'spark.network.crypto.enabled true\nspark.network.crypto.saslFallback true',
          },
        ],
      },
    },
    'unknown-app': {
      summary: `The shuffle service has no secret for application ${String(group.details.appId)}`,
      fix: {
        summary:
          'The shuffle service never learned this application (on YARN: the NodeManager restarted ' +
          'without recovery, or the aux service failed to start); run the application again after ' +
          'the service is up, with its recovery enabled.',
      },
    },
  };
  const chosen = variants[group.variant] ?? variants['secret-mismatch'];
  return {
    layer: 'protocol',
    reason: 'auth-required',
    status: 'fail',
    summary: `${chosen?.summary ?? ''}${times(group)}${fetchNote(group)}`,
    fix: chosen?.fix ?? { summary: 'Configure authentication alike on both ends.' },
  };
}

export function thriftAuth(group: FindingGroup): Remedy {
  const message = String(group.details.message);
  const fixes: Readonly<Record<string, Fix>> = {
    'plain-client-sasl-server': {
      summary:
        'A plain (NOSASL) Thrift client reached a SASL HiveServer2 ("Invalid status -128"): drop ' +
        'auth=noSasl from the client, or configure both ends alike (hive.server2.authentication).',
      snippets: [
        { platform: 'jdbc-url', text: 'jdbc:hive2://HOST:10000/default;user=USER;password=…' },
      ],
    },
    mechanism: {
      summary:
        'Client and server use different SASL mechanisms (Kerberos against LDAP/PLAIN, or a ' +
        'ZooKeeper entry pointing at the wrong server): use the URL form the server’s ' +
        'authentication expects.',
      snippets: [
        {
          platform: 'jdbc-url',
          text: 'jdbc:hive2://HOST:10000/default;principal=hive/_HOST@REALM',
        },
      ],
    },
    kerberos: {
      summary:
        'Kerberos failed: get a ticket (kinit), check the server principal in the URL and that ' +
        'clocks agree within 5 minutes.',
    },
    login: { summary: 'The server rejected the credentials: check user, password or token.' },
  };
  return {
    layer: 'protocol',
    reason: 'auth-required',
    status: 'fail',
    summary: `HiveServer2/Thrift authentication${peer('with', group.address)} failed: ${message}${times(group)}`,
    fix: fixes[group.variant] ?? { summary: 'Configure client and server authentication alike.' },
  };
}

export function thriftTls(group: FindingGroup): Remedy {
  return {
    layer: 'tls',
    reason: 'tls-required',
    status: 'fail',
    summary:
      `A plain Thrift client got a TLS alert${peer('from', group.address)} ("Invalid status 21")` +
      `${times(group)}: the server requires TLS`,
    fix: {
      summary: 'Turn TLS on in the client (and trust the server’s CA).',
      snippets: [{ platform: 'jdbc-url', text: 'jdbc:hive2://HOST:10000/default;ssl=true' }],
    },
  };
}
