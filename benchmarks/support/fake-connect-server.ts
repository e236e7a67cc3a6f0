// The in-repo Spark Connect server as a process of its own, so that in the gateway benchmark the
// client, the proxy and the backend each have their own event loop. Listens on 127.0.0.1, a free
// port, prints {"port": N} on stdout once it accepts calls, and stops on SIGTERM or SIGINT.
//   scripts/node benchmarks/support/fake-connect-server.ts [--batch-bytes N] [--batches N]
import { parseArgs } from 'node:util';
import { startFakeSparkConnect } from '../../test/support/fake-spark-connect.ts';

const { values: args } = parseArgs({
  options: {
    // Every ExecutePlan answers with this many arrow batches of this many bytes.
    'batch-bytes': { type: 'string', default: String(4 * 1024 * 1024) },
    batches: { type: 'string', default: '64' },
  },
});

const server = await startFakeSparkConnect({ appId: 'local-bench-fake-connect' });
server.resultBatchBytes = Number(args['batch-bytes']);
server.resultBatches = Number(args.batches);
// Benchmarks make millions of calls; the call log is for tests.
server.recordCalls = false;

const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
console.log(JSON.stringify({ port: server.port }));
