// What the dashboard's buttons do: drain or undrain one Spark Connect server behind the gateway,
// exactly as the admin API's POST does, and the sentence that tells the operator what happened.
import type { IncomingMessage } from 'node:http';
import type { Gateway } from '../gateway/gateway-server.ts';
import { BACKEND_ACTION_PREFIX } from './gateway-section.ts';
import type { Notice } from './page.ts';

/**
 * The urlencoded form of a POST, or undefined when it is larger than `maxBytes`. An oversize body
 * is left unread (not consumed without bound); the caller answers with `connection: close`.
 */
export function readForm(
  request: IncomingMessage,
  maxBytes: number,
): Promise<URLSearchParams | undefined> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData);
      request.pause();
      resolve(undefined);
    };
    request.on('data', onData);
    request.once('end', () => {
      resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    });
    request.once('error', reject);
  });
}

export function backendAction(
  request: IncomingMessage,
  gateway: Gateway | undefined,
  principal: string | undefined,
): Notice {
  const path = new URL(request.url ?? '/', 'http://admin').pathname;
  const [encoded = '', action = '', ...rest] = path.slice(BACKEND_ACTION_PREFIX.length).split('/');
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    return { ok: false, text: `"${encoded}" is not a server id; nothing changed.` };
  }
  if (gateway === undefined || rest.length > 0 || (action !== 'drain' && action !== 'undrain'))
    return { ok: false, text: `The dashboard has no action "${action}"; nothing changed.` };
  const backend = gateway.pool.get(id);
  if (backend === undefined || !gateway.pool.setDraining(id, action === 'drain'))
    return {
      ok: false,
      text: `No server ${id} behind this gateway (removed meanwhile?); nothing changed.`,
    };
  const sessions = gateway.sessions.sessionsPerBackend().get(id) ?? 0;
  const who = principal === undefined ? '' : ` by ${principal}`;
  if (action === 'undrain')
    return { ok: true, text: `${id} undrained${who}: new sessions may be placed on it again.` };
  return {
    ok: true,
    text:
      sessions === 0
        ? `${id} drained${who}: it has no sessions left and takes no new ones; safe to stop.`
        : `${id} draining${who}: it takes no new sessions; ${sessions === 1 ? '1 session keeps' : `${String(sessions)} sessions keep`} running on it until ${sessions === 1 ? 'it ends' : 'they end'}.`,
  };
}
