// The in-repo Spark Connect server started the way spark-submit starts the real one: it takes
// spark-submit's arguments, listens on spark.connect.grpc.binding.port, logs the line Spark logs,
// and stops on SIGTERM. Used by test/support/fake-spark-home.ts.
import { startFakeSparkConnect } from './fake-spark-connect.ts';

const args = process.argv.slice(2);
const conf = new Map<string, string>();
for (let i = 0; i < args.length; i++) {
  const value = args[i + 1];
  if (args[i] === '--conf' && value !== undefined) {
    const at = value.indexOf('=');
    conf.set(value.slice(0, at), value.slice(at + 1));
  }
}
const name = args[args.indexOf('--name') + 1] ?? 'fake';

if (process.env.FAKE_CONNECT_FAIL !== undefined) {
  console.error(
    `Exception in thread "main" java.lang.IllegalStateException: ${process.env.FAKE_CONNECT_FAIL}`,
  );
  process.exit(1);
}
await new Promise((resolve) => setTimeout(resolve, Number(process.env.FAKE_CONNECT_DELAY_MS ?? 0)));
const server = await startFakeSparkConnect({
  port: Number(conf.get('spark.connect.grpc.binding.port') ?? 0),
  appId: `local-${name}-${String(Date.now())}`,
});
console.log(
  `INFO SparkConnectServer: Spark Connect server started at: 127.0.0.1:${String(server.port)}`,
);
const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
