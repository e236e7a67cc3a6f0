// The Spark Connect servers the gateway launched itself: whose they are (the shared pool, a user,
// a group, one session), their state, pid, port, age, sessions and log file. Shown only when the
// gateway launches servers.
import type { Gateway } from '../gateway/gateway-server.ts';
import type { ManagedServerView } from '../gateway/managed/managed-servers.ts';
import { markup, type Html } from './html.ts';
import {
  cappedTable,
  formatCount,
  formatDuration,
  formatInstant,
  statTiles,
  type DashboardSection,
} from './section.ts';

export function managedSection(gateway: Gateway): DashboardSection | undefined {
  const managed = gateway.managed;
  if (managed === undefined) return undefined;
  return {
    id: 'connect-servers',
    title: 'Spark Connect servers the gateway launched',
    render(context) {
      const servers = managed.list();
      const counts = gateway.sessions.sessionsPerBackend();
      const count = (state: string): string =>
        formatCount(servers.filter((server) => server.state === state).length);
      return markup`${statTiles([
        ['Running', count('running'), 'managed-running'],
        ['Starting', count('starting'), 'managed-starting'],
        ['Stopping', count('stopping'), 'managed-stopping'],
      ])}
        ${cappedTable({
          id: 'managed',
          rows: servers,
          maxRows: context.maxRows,
          noun: 'servers',
          head: ['Name', 'For', 'State', 'Server', 'Sessions', 'PID', 'Up for', 'Log'],
          row: (server) => serverRow(server, counts.get(server.backend) ?? 0, context.now),
          empty: 'None running: servers start at the first session that needs one.',
        })}`;
    },
  };
}

function serverRow(server: ManagedServerView, sessions: number, now: number): Html {
  return markup`<tr data-managed="${server.name}">
    <td class="mono">${server.name}</td>
    <td>${server.key ?? 'shared pool'}</td>
    <td>
      <span class="badge ${server.state === 'running' ? 'up' : 'checking'}" data-testid="managed-state"
        >${server.state}${server.adopted ? ' (adopted)' : ''}</span
      >
    </td>
    <td class="mono">${server.backend}</td>
    <td class="num">${formatCount(sessions)}</td>
    <td class="num">${server.pid > 0 ? String(server.pid) : '—'}</td>
    <td><span title="${formatInstant(server.startedAt)}">${formatDuration(now - server.startedAt)}</span></td>
    <td class="mono">${server.logFile}</td>
  </tr>`;
}
