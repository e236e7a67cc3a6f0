// The gateway's part of the dashboard: every Spark Connect server behind it with health, drain
// state, sessions, last check and why it is down, with drain/undrain buttons; then the sessions,
// most recently active first.
import type { Backend } from '../gateway/backends/backend-pool.ts';
import type { Gateway } from '../gateway/gateway-server.ts';
import type { SessionBinding } from '../gateway/routing/affinity-store.ts';
import { markup, type Html } from './html.ts';
import {
  cappedTable,
  formatAgo,
  formatCount,
  formatDuration,
  formatInstant,
  statTiles,
  type DashboardContext,
  type DashboardSection,
} from './section.ts';

export const BACKEND_ACTION_PREFIX = '/dashboard/backends/';

export function gatewaySection(gateway: Gateway): DashboardSection {
  return {
    id: 'gateway',
    title: 'Gateway · Spark Connect servers',
    render(context) {
      const counts = gateway.sessions.sessionsPerBackend();
      const backends = gateway.pool.list();
      const sessions = [...gateway.sessions.list()].sort((a, b) => b.lastSeenAt - a.lastSeenAt);
      const up = backends.filter((backend) => backend.health === 'up').length;
      const draining = backends.filter((backend) => backend.draining).length;
      return markup`${statTiles([
        ['Servers', formatCount(backends.length), 'gateway-servers'],
        ['Up', formatCount(up), 'gateway-up'],
        ['Draining', formatCount(draining), 'gateway-draining'],
        ['Sessions', formatCount(gateway.sessions.size), 'gateway-sessions'],
      ])}
        <h3>Servers</h3>
        ${cappedTable({
          id: 'backends',
          rows: backends,
          maxRows: context.maxRows,
          noun: 'servers',
          head: [
            'Server',
            'Health',
            'State',
            'Sessions',
            'Application',
            'Last check',
            'Down reason',
            '',
          ],
          row: (backend) => backendRow(backend, counts.get(backend.id) ?? 0, context),
          empty: 'No Spark Connect servers: add them with --backend HOST:PORT.',
        })}
        <h3>Sessions</h3>
        ${cappedTable({
          id: 'sessions',
          rows: sessions,
          maxRows: context.maxRows,
          noun: 'sessions (most recently active first)',
          head: ['User', 'Principal', 'Server', 'Client', 'Age', 'Last call', 'Session id'],
          row: (session) => sessionRow(session, context.now),
          empty: 'No sessions yet.',
        })}`;
    },
  };
}

function backendRow(backend: Backend, sessions: number, context: DashboardContext): Html {
  const state = backend.draining ? (sessions === 0 ? 'drained' : 'draining') : 'serving';
  const check = backend.lastCheck;
  return markup`<tr data-backend="${backend.id}">
    <td class="mono">${backend.id}</td>
    <td><span class="badge ${backend.health}" data-testid="health">${backend.health}</span></td>
    <td><span class="badge ${state}" data-testid="state">${state}</span></td>
    <td class="num" data-testid="backend-sessions">
      ${formatCount(sessions)}${backend.maxSessions === undefined ? '' : ` / ${formatCount(backend.maxSessions)}`}
    </td>
    <td class="mono">${backend.appId ?? '—'}</td>
    <td>
      ${check === undefined ? 'not yet' : markup`<span title="${formatInstant(check.at)}">${formatAgo(check.at, context.now)}</span> · ${check.ok ? markup`ok in ${Math.round(check.latencyMs)} ms` : markup`<span class="bad">failed</span>`}`}
    </td>
    <td>
      ${backend.downReason === undefined ? '—' : markup`<span class="bad">${backend.downReason}</span>${backend.downSince === undefined ? '' : markup` <span class="muted">(down for ${formatDuration(context.now - backend.downSince)})</span>`}`}
    </td>
    <td>${context.canChange ? drainForm(backend, context.csrf) : ''}</td>
  </tr>`;
}

function drainForm(backend: Backend, csrf: string): Html {
  const action = backend.draining ? 'undrain' : 'drain';
  return markup`<form
    method="post"
    action="${BACKEND_ACTION_PREFIX}${encodeURIComponent(backend.id)}/${action}"
  >
    <input type="hidden" name="csrf" value="${csrf}" /><button
      type="submit"
      class="${action}"
      data-testid="${action}"
    >
      ${backend.draining ? 'Undrain' : 'Drain'}
    </button>
  </form>`;
}

function sessionRow(session: SessionBinding, now: number): Html {
  return markup`<tr data-session="${session.sessionId}">
    <td>${session.userId}</td>
    <td>${session.principal === '' ? '—' : session.principal}</td>
    <td class="mono">${session.backend}</td>
    <td class="mono">${session.clientAddress}</td>
    <td>${formatDuration(now - session.createdAt)}</td>
    <td>
      <span title="${formatInstant(session.lastSeenAt)}"
        >${formatAgo(session.lastSeenAt, now)}</span
      >
    </td>
    <td class="mono" title="${session.sessionId}">${session.sessionId.slice(0, 8)}…</td>
  </tr>`;
}
