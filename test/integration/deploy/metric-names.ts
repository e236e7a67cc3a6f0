// The metric names a running service's GET /metrics serves, to hold the Prometheus alerts and the
// Grafana dashboard against.
import { get } from 'node:http';

/** Names in the exposition of GET /metrics, histogram and summary series included. */
export function exposedMetricNames(port: number): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('error', reject);
      response.on('end', () => {
        if (response.statusCode !== 200) {
          reject(new Error(`GET /metrics on port ${String(port)}: ${String(response.statusCode)}`));
          return;
        }
        const names = new Set<string>();
        for (const [, name = '', type = ''] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
          names.add(name);
          const suffixes =
            type === 'histogram'
              ? ['_bucket', '_sum', '_count']
              : type === 'summary'
                ? ['_sum', '_count']
                : [];
          for (const suffix of suffixes) names.add(`${name}${suffix}`);
        }
        resolve(names);
      });
    }).on('error', reject);
  });
}
