// `sparkplane up`: everything in one process with embedded state under one folder.
import { createAdminServer } from '../../core/admin-server.ts';
import { host, path, port, portOrZero } from '../../core/config/fields.ts';
import { defineCommand, option } from '../command.ts';
import { defaultStateDir, serviceOptions } from '../common-options.ts';
import { runServices } from '../run-service.ts';

export const upCommand = defineCommand({
  name: 'up',
  summary: 'start sparkplane in one process on this machine',
  description:
    'Start sparkplane in one process with its state in one folder: the admin endpoint (metrics, health) ' +
    'now; the gateway, the shuffle service and managed Spark Connect servers join it as they ship. ' +
    'Stops cleanly on Ctrl-C.',
  configFile: true,
  options: {
    host: option.string('HOST', host().default('127.0.0.1'), 'address to listen on'),
    gatewayPort: option.integer('PORT', port().default(15002), 'Spark Connect port of the gateway'),
    shufflePort: option.integer(
      'PORT',
      port().default(7337),
      'port of the external shuffle service',
    ),
    adminPort: option.integer(
      'PORT',
      portOrZero().default(15080),
      'admin port: metrics, health, dashboard',
    ),
    stateDir: {
      ...option.string('DIR', path().optional(), 'folder for embedded state'),
      defaultHelp: '$XDG_STATE_HOME/sparkplane',
    },
    ...serviceOptions,
  },
  async run(config, io) {
    const resolved = { ...config, stateDir: config.stateDir ?? defaultStateDir(io.env) };
    if (config.printConfig) {
      io.stdout(`${JSON.stringify(resolved, null, 2)}\n`);
      return 0;
    }
    return runServices(config, io, async ({ metrics }) => {
      const admin = createAdminServer({ host: config.host, port: config.adminPort, metrics });
      const bound = await admin.listen();
      io.stdout(
        `sparkplane is up\n  admin    http://${formatHost(bound.address)}:${bound.port}/  (metrics at /metrics)\n  state    ${resolved.stateDir}\nPress Ctrl-C to stop.\n`,
      );
      return [admin];
    });
  },
});

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
