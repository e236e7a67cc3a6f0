// The shuffle service's part of the dashboard: registrations, connections, what it has served
// and how fast, then the applications with their executors.
import type { ShuffleServer } from '../shuffle/server/shuffle-server.ts';
import { markup } from './html.ts';
import {
  cappedTable,
  formatAgo,
  formatBytes,
  formatCount,
  formatInstant,
  statTiles,
  type DashboardSection,
} from './section.ts';
import type { ShuffleStats } from './shuffle-stats.ts';

interface AppRow {
  readonly appId: string;
  readonly executors: readonly string[];
  readonly firstRegisteredAt: number;
  readonly localDirs: number;
}

export function shuffleSection(server: ShuffleServer, stats: ShuffleStats): DashboardSection {
  return {
    id: 'shuffle',
    title: 'Shuffle service',
    render(context) {
      const totals = stats.totals();
      const apps: AppRow[] = server.registry.applications().map((appId) => {
        const executors = server.registry.executorsOf(appId);
        return {
          appId,
          executors: executors.map((entry) => entry.execId),
          firstRegisteredAt: Math.min(...executors.map((entry) => entry.registeredAt)),
          localDirs: new Set(executors.flatMap((entry) => entry.info.localDirs)).size,
        };
      });
      const rate = `${formatBytes(totals.bytesPerSecond)}/s`;
      return markup`${statTiles([
        ['Applications', formatCount(server.registry.applicationCount), 'shuffle-apps'],
        ['Executors', formatCount(server.registry.executorCount), 'shuffle-executors'],
        ['Connections', formatCount(server.connections), 'shuffle-connections'],
        ['Open streams', formatCount(server.streams.size), 'shuffle-streams'],
        ['Blocks served', formatCount(totals.blocks), 'shuffle-blocks'],
        ['Bytes served', formatBytes(totals.bytes), 'shuffle-bytes'],
        [`Throughput (last ${String(totals.windowSeconds)} s)`, rate, 'shuffle-throughput'],
        ['Blocks/s', totals.blocksPerSecond.toFixed(1), 'shuffle-block-rate'],
      ])}
        <p class="muted">Served since ${formatInstant(totals.since)}.</p>
        <h3>Applications</h3>
        ${cappedTable({
          id: 'shuffle-apps-table',
          rows: apps,
          maxRows: context.maxRows,
          noun: 'applications',
          head: ['Application', 'Executors', 'Local dirs', 'First registered'],
          row: (app) =>
            markup`<tr data-app="${app.appId}">
              <td class="mono">${app.appId}</td>
              <td class="num">
                ${formatCount(app.executors.length)}
                <span class="muted"
                  >(ids
                  ${app.executors.slice(0, 8).join(', ')}${app.executors.length > 8 ? ', …' : ''})</span
                >
              </td>
              <td class="num">${formatCount(app.localDirs)}</td>
              <td>
                <span title="${formatInstant(app.firstRegisteredAt)}"
                  >${formatAgo(app.firstRegisteredAt, context.now)}</span
                >
              </td>
            </tr>`,
          empty: 'No executors registered.',
        })}`;
    },
  };
}
