// What the doctor knows about each service it probes: its name in Spark's words, whether clients
// talk TLS to it by default, and the settings that make it listen, turn on TLS, or authenticate.
import type { ServiceName } from '../targets.ts';

export type TlsExpectation = 'plaintext' | 'tls' | 'either';

export interface ServiceFacts {
  readonly title: string;
  readonly tls: TlsExpectation;
  /** Settings that make the service listen on its port. */
  readonly listen?: { readonly platform: 'spark-conf' | 'shell'; readonly text: string };
  /** What a client sets to talk TLS to it. */
  readonly clientTls?: { readonly platform: 'spark-conf' | 'jdbc-url'; readonly text: string };
}

export const SERVICE_FACTS: Readonly<Record<ServiceName, ServiceFacts>> = {
  'spark-shuffle': {
    title: 'Spark external shuffle service',
    tls: 'plaintext',
    listen: {
      platform: 'spark-conf',
      text: 'spark.shuffle.service.enabled=true\nspark.shuffle.service.port=7337',
    },
    clientTls: {
      platform: 'spark-conf',
      text: 'spark.ssl.rpc.enabled=true\nspark.ssl.rpc.trustStore=/path/to/truststore.jks',
    },
  },
  'spark-master': {
    title: 'Spark standalone master',
    tls: 'plaintext',
    listen: { platform: 'shell', text: 'sbin/start-master.sh --host <address> --port 7077' },
    clientTls: {
      platform: 'spark-conf',
      text: 'spark.ssl.rpc.enabled=true\nspark.ssl.rpc.trustStore=/path/to/truststore.jks',
    },
  },
  'spark-connect': {
    title: 'Spark Connect server',
    tls: 'plaintext',
    listen: {
      platform: 'shell',
      text: 'sbin/start-connect-server.sh --conf spark.connect.grpc.binding.port=15002',
    },
    clientTls: { platform: 'spark-conf', text: 'spark.remote=sc://<host>:<port>/;use_ssl=true' },
  },
  'hive-thrift': {
    title: 'HiveServer2 / Spark Thrift Server',
    tls: 'plaintext',
    listen: {
      platform: 'shell',
      text: 'sbin/start-thriftserver.sh --hiveconf hive.server2.thrift.port=10000 --hiveconf hive.server2.thrift.bind.host=<address>',
    },
    clientTls: {
      platform: 'jdbc-url',
      text: 'jdbc:hive2://<host>:<port>/default;ssl=true;sslTrustStore=/path/to/truststore.jks;trustStorePassword=<password>',
    },
  },
  'hive-metastore': {
    title: 'Hive metastore',
    tls: 'plaintext',
    listen: {
      platform: 'spark-conf',
      text: 'spark.hadoop.hive.metastore.uris=thrift://<host>:9083',
    },
    clientTls: {
      platform: 'spark-conf',
      text: 'spark.hadoop.hive.metastore.use.SSL=true\nspark.hadoop.hive.metastore.truststore.path=/path/to/truststore.jks',
    },
  },
  'spark-ui': {
    title: 'Spark UI',
    tls: 'either',
    listen: { platform: 'spark-conf', text: 'spark.ui.enabled=true\nspark.ui.port=4040' },
  },
  https: { title: 'HTTPS endpoint', tls: 'tls' },
  http: { title: 'HTTP endpoint', tls: 'plaintext' },
  tcp: { title: 'TCP port', tls: 'either' },
  agent: {
    title: 'sparkplane doctor agent',
    tls: 'plaintext',
    listen: { platform: 'shell', text: 'sparkplane doctor agent --listen 7337' },
  },
};
