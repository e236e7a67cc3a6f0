// The relays the gateway's tests run against: --relay terminate, and --relay pinned run by each
// of its implementations — the TypeScript one, and the native core when it is built (under
// CI=true it must be: a test of it then fails rather than skips).
import type { GatewayOptions } from '../../src/gateway/gateway-server.ts';
import { loadNativeCore } from '../../src/gateway/native/native-core.ts';
import { prerequisiteOptions } from './prerequisite.ts';

export interface RelayVariant {
  /** As test names say it: "terminate", "pinned", "pinned, native core". */
  readonly name: string;
  readonly options: Pick<GatewayOptions, 'relay' | 'relayCore'>;
  /** node:test options: skipped, saying why, when the native core is not built. */
  readonly testOptions: { skip?: string };
}

export const PINNED_VARIANTS: readonly RelayVariant[] = [
  { name: 'pinned', options: { relay: 'pinned', relayCore: 'typescript' }, testOptions: {} },
  {
    name: 'pinned, native core',
    options: { relay: 'pinned', relayCore: 'native' },
    testOptions: prerequisiteOptions(loadNativeCore().missing),
  },
];

export const RELAY_VARIANTS: readonly RelayVariant[] = [
  { name: 'terminate', options: { relay: 'terminate' }, testOptions: {} },
  ...PINNED_VARIANTS,
];
