// `sparkplane doctor agent`: the far end of the doctor's two-ended checks. Runs on a node until
// SIGTERM or SIGINT, listening on the ports that node should have open.
import { hostname } from 'node:os';
import { z } from 'zod';
import { host, portOrZero } from '../../core/config/fields.ts';
import { UsageError } from '../../core/errors.ts';
import { createDoctorAgent } from '../../doctor/agent/doctor-agent.ts';
import { DEFAULT_CALLBACK_PORT } from '../../doctor/agent/messages.ts';
import { subscribeAgentLogs } from '../../doctor/agent/observability.ts';
import { defineCommand, option } from '../command.ts';
import { serviceOptions } from '../common-options.ts';
import { runServices } from '../run-service.ts';

const PORTS_PROBLEM = 'must be ports 1–65535 (0 picks a free one), as a comma list or repeated';

/** Ports as `7337,7338`, repeated flags, or a list in the config file. */
const portList = () =>
  z.array(z.union([z.string(), z.number()]), { error: PORTS_PROBLEM }).transform((items, ctx) => {
    const ports: number[] = [];
    for (const item of items.flatMap((entry) => String(entry).split(','))) {
      const text = item.trim();
      if (text === '') continue;
      const parsed = portOrZero().safeParse(/^\d+$/.test(text) ? Number(text) : text);
      if (!parsed.success) {
        ctx.issues.push({ code: 'custom', message: `"${text}" ${PORTS_PROBLEM}`, input: item });
        return z.NEVER;
      }
      ports.push(parsed.data);
    }
    return [...new Set(ports)];
  });

export const doctorAgentCommand = defineCommand({
  name: 'doctor agent',
  summary: 'run the far end of two-ended doctor checks on a node',
  description:
    'Listen on the given ports (e.g. 7337 before the shuffle service runs there) and answer the ' +
    "doctor: the source address it sees (NAT), bytes both ways (MTU ladder), probes of other nodes' " +
    'agents (doctor matrix). Watches /proc/net/tcp for connections to its ports stuck half-open ' +
    "(SYN_RECV: the return path drops its answers), logs them and reports them to the client's " +
    'doctor on --callback-port. Runs until SIGTERM or SIGINT.',
  configFile: true,
  options: {
    listen: option.list('PORTS', portList().default([]), 'ports to listen on (comma list)'),
    host: option.string('ADDR', host().default('0.0.0.0'), 'address to listen on'),
    name: {
      ...option.string(
        'NAME',
        z.string().min(1).max(128).default(hostname()),
        'name the agent gives in answers',
      ),
      defaultHelp: 'the host name',
    },
    callbackPort: {
      ...option.integer(
        'PORT',
        portOrZero().default(DEFAULT_CALLBACK_PORT),
        "port on a half-open client's address where its doctor listens for the report (0 = do not report)",
      ),
    },
    ...serviceOptions,
  },
  run(config, io) {
    if (config.listen.length === 0)
      throw new UsageError(
        'give the ports to listen on: sparkplane doctor agent --listen 7337[,PORT...]',
      );
    if (config.printConfig) {
      io.stdout(`${JSON.stringify(config, null, 2)}\n`);
      return Promise.resolve(0);
    }
    return runServices(config, io, async ({ logger }) => {
      const stopLogs = subscribeAgentLogs(logger);
      const agent = createDoctorAgent({
        host: config.host,
        ports: config.listen,
        name: config.name,
        callbackPort: config.callbackPort === 0 ? undefined : config.callbackPort,
      });
      let ports: number[];
      try {
        ports = await agent.listen();
      } catch (error) {
        await agent.close(0);
        stopLogs();
        throw error;
      }
      logger.info(
        { name: config.name, ports, callbackPort: config.callbackPort },
        `doctor agent "${config.name}" on ${config.host} ports ${ports.join(', ')}`,
      );
      return [
        {
          name: 'doctor-agent',
          close: async (deadlineMs: number) => {
            const drained = await agent.close(deadlineMs);
            stopLogs();
            return drained;
          },
        },
      ];
    });
  },
});
