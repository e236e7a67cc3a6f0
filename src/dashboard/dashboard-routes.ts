// The dashboard on the admin port: `/` and `/dashboard` serve a server-rendered page of the
// services this process runs, `/dashboard/live` its live fragment, and POST
// `/dashboard/backends/HOST:PORT/{drain,undrain}` the buttons on it.
//
// Mount it beside the other admin routes and close it with the services:
//
//   const dashboard = createDashboardRoutes({ gateway, shuffle, extraSections });
//   createAdminServer({ …, auth, routes: { ...gatewayAdminRoutes(gateway), ...dashboard.routes } });
//   return [gatewayService, shuffleService, dashboard, admin];
//
// Every source is optional and only those given get a section: a gateway-only process shows no
// shuffle section. `extraSections` lets the caller add its own (`DashboardSection`, built with
// `markup` from ./html.ts so every value is escaped). Changes follow the admin API's rule
// (loopback, or any address for a principal authenticated with --admin-auth-file), and each form
// carries a token bound to the viewer's principal.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mayChange, requestPrincipal } from '../core/admin-http.ts';
import type { AdminHandler } from '../core/admin-server.ts';
import type { Closeable } from '../core/lifecycle.ts';
import type { Gateway } from '../gateway/gateway-server.ts';
import type { ShuffleServer } from '../shuffle/server/shuffle-server.ts';
import { backendAction, createCsrfTokens, createNotices, readForm } from './dashboard-actions.ts';
import { BACKEND_ACTION_PREFIX, gatewaySection } from './gateway-section.ts';
import { markup, type Html } from './html.ts';
import { LIVE_PATH, sendFragment, sendPage } from './page.ts';
import type { DashboardContext, DashboardSection } from './section.ts';
import { managedSection } from './managed-section.ts';
import { shuffleSection } from './shuffle-section.ts';
import { createShuffleStats, type ShuffleStats } from './shuffle-stats.ts';

export type { DashboardContext, DashboardSection } from './section.ts';
export { markup, type Html } from './html.ts';

export interface DashboardSources {
  readonly gateway?: Gateway | undefined;
  readonly shuffle?: ShuffleServer | undefined;
  /** Sections of the caller's own, after the built-in ones. */
  readonly extraSections?: readonly DashboardSection[] | undefined;
  /** Rows a table shows at most (default 200), so 10,000 sessions do not make a 10 MB page. */
  readonly maxRows?: number | undefined;
  readonly title?: string | undefined;
}

export interface DashboardRoutes extends Closeable {
  readonly routes: Record<string, AdminHandler>;
}

const DEFAULT_MAX_ROWS = 200;
const MAX_FORM_BYTES = 4096;

export function createDashboardRoutes(sources: DashboardSources): DashboardRoutes {
  const stats: ShuffleStats | undefined =
    sources.shuffle === undefined ? undefined : createShuffleStats();
  const sections: DashboardSection[] = [
    ...(sources.gateway === undefined ? [] : [gatewaySection(sources.gateway)]),
    ...[sources.gateway === undefined ? undefined : managedSection(sources.gateway)].filter(
      (section) => section !== undefined,
    ),
    ...(sources.shuffle === undefined || stats === undefined
      ? []
      : [shuffleSection(sources.shuffle, stats)]),
    ...(sources.extraSections ?? []),
  ];
  const title = sources.title ?? 'sparkplane';
  const maxRows = sources.maxRows ?? DEFAULT_MAX_ROWS;
  const csrf = createCsrfTokens();
  const notices = createNotices();

  const contextOf = (request: IncomingMessage): DashboardContext => {
    const principal = requestPrincipal(request);
    return {
      now: Date.now(),
      principal,
      canChange: mayChange(request),
      csrf: csrf.issue(principal),
      maxRows,
    };
  };
  const live = (context: DashboardContext): Html =>
    sections.length === 0
      ? markup`<p class="empty">No services run in this process yet.</p>`
      : markup`${sections.map(
          (section) =>
            markup`<section id="${section.id}" data-testid="section-${section.id}">
              <h2>${section.title}</h2>
              ${section.render(context)}
            </section>`,
        )}`;

  const page = (request: IncomingMessage, response: ServerResponse): void => {
    if (!allowMethod(request, response, 'GET')) return;
    const context = contextOf(request);
    const noticeId = new URL(request.url ?? '/', 'http://admin').searchParams.get('notice');
    sendPage(response, {
      title,
      principal: context.principal,
      notice: notices.get(noticeId, context.principal),
      live: live(context),
    });
  };

  const act = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const context = contextOf(request);
    const refuse = (text: string, status: number): void => {
      sendPage(
        response,
        { title, principal: context.principal, notice: { ok: false, text }, live: live(context) },
        status,
      );
    };
    if (!context.canChange) {
      refuse(
        'Changes are accepted from this machine only; start the service with --admin-auth-file and log in to make them from elsewhere.',
        403,
      );
      return;
    }
    const form = await readForm(request, MAX_FORM_BYTES);
    if (form === undefined) {
      response.setHeader('connection', 'close');
      refuse(`The form is larger than ${String(MAX_FORM_BYTES)} bytes; nothing changed.`, 413);
      return;
    }
    if (!csrf.verify(context.principal, form.get('csrf') ?? undefined)) {
      refuse(
        'This form was not made by this dashboard for you (or the service restarted since the page loaded); nothing changed. Reload the page and try again.',
        403,
      );
      return;
    }
    const notice = backendAction(request, sources.gateway, context.principal);
    const id = notices.add(context.principal, notice);
    response.writeHead(303, { location: `/dashboard?notice=${id}`, 'cache-control': 'no-store' });
    response.end();
  };

  const routes: Record<string, AdminHandler> = {
    '/': page,
    '/dashboard': page,
    '/dashboard/': async (request, response) => {
      const path = new URL(request.url ?? '/', 'http://admin').pathname;
      if (path === '/dashboard/') {
        page(request, response);
        return;
      }
      if (path === LIVE_PATH) {
        if (allowMethod(request, response, 'GET')) sendFragment(response, live(contextOf(request)));
        return;
      }
      if (path.startsWith(BACKEND_ACTION_PREFIX) && sources.gateway !== undefined) {
        if (allowMethod(request, response, 'POST')) await act(request, response);
        return;
      }
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(`no dashboard page ${path}; the dashboard is at /dashboard\n`);
    },
  };
  return {
    name: 'dashboard',
    routes,
    close() {
      stats?.close();
      return Promise.resolve(true);
    },
  };
}

function allowMethod(request: IncomingMessage, response: ServerResponse, method: string): boolean {
  if (request.method === method || (method === 'GET' && request.method === 'HEAD')) return true;
  response.writeHead(405, { allow: method, 'content-type': 'text/plain; charset=utf-8' });
  response.end(`use ${method} for ${request.url ?? '/'}\n`);
  return false;
}
