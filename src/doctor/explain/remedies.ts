// What each kind of log finding means and what fixes it: the layer that failed, the reason, how
// sure the verdict is (fail or warn), one sentence on what was seen and the fix with snippets.
// The remedies themselves live per layer; this picks one.
import {
  oversizedFrame,
  sparkAuth,
  thriftAuth,
  thriftTls,
  wrongBytes,
} from './remedies-protocol.ts';
import { connectionClosed, connectSession, quiet } from './remedies-session.ts';
import {
  connectionReset,
  connectTimeout,
  fetchFailed,
  noRoute,
  refused,
  shuffleOutputLost,
  unknownHost,
} from './remedies-transport.ts';
import type { FindingGroup, Remedy } from './remedy-words.ts';

export type { FindingGroup, Remedy } from './remedy-words.ts';

export function remedyFor(group: FindingGroup): Remedy {
  switch (group.kind) {
    case 'wrong-bytes':
      return wrongBytes(group);
    case 'oversized-frame':
      return oversizedFrame(group);
    case 'fetch-failed':
      return fetchFailed(group);
    case 'shuffle-output-lost':
      return shuffleOutputLost(group);
    case 'connection-refused':
      return refused(group);
    case 'connection-reset':
      return connectionReset(group);
    case 'connect-timeout':
      return connectTimeout(group);
    case 'no-route':
      return noRoute(group);
    case 'unknown-host':
      return unknownHost(group);
    case 'connection-quiet':
      return quiet(group);
    case 'connection-closed':
      return connectionClosed(group);
    case 'spark-auth':
      return sparkAuth(group);
    case 'thrift-auth':
      return thriftAuth(group);
    case 'thrift-tls':
      return thriftTls(group);
    case 'connect-session':
      return connectSession(group);
  }
}
