// The TLS and mesh layer: a real ClientHello on a fresh connection whose raw bytes are kept. It
// tells a plaintext service from a TLS one, a server that demands a client certificate (mutual
// TLS) from one that does not, and a service mesh (a SPIFFE identity in the certificate) from the
// service's own TLS. With TLS 1.3 the certificate demand is encrypted: it shows as an alert right
// after the handshake, so the connection is watched a little longer.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { systemErrorCode } from '../../core/system-errors.ts';
import type { Target } from '../targets.ts';
import { waitFor, type Budget } from './budget.ts';
import {
  connectSocket,
  tapConnection,
  type Endpoint,
  type TappedConnection,
} from './connection.ts';
import {
  classifyTls,
  type CertificateFacts,
  type TlsObservation,
  type TlsResult,
} from './tls-verdict.ts';
import { readServerFlight } from './wire/tls-record.ts';

export { TLS_CHECK_ID, type TlsResult } from './tls-verdict.ts';

/** A TLS server answers a ClientHello at once; silence this long means there is none. */
const TLS_LIMIT_MS = 1500;
/** After the handshake, how long to wait for a TLS 1.3 certificate_required alert. */
const ALERT_WAIT_MIN_MS = 150;
const ALERT_WAIT_MAX_MS = 1000;

export const PROBE_ALPN = ['h2', 'http/1.1'] as const;

/** SNI for a target: its host name, never an IP address. */
export function serverNameOf(host: string): string | undefined {
  return isIP(host) === 0 && host !== '' ? host : undefined;
}

export async function probeTls(
  target: Target,
  endpoint: Endpoint,
  budget: Budget,
): Promise<TlsResult> {
  return classifyTls(
    target,
    endpoint,
    await observeTls(endpoint, serverNameOf(target.host), budget),
  );
}

function observeTls(
  endpoint: Endpoint,
  servername: string | undefined,
  budget: Budget,
): Promise<TlsObservation> {
  const began = performance.now();
  let tap: TappedConnection | undefined;
  let secure: TLSSocket | undefined;
  let handshake:
    { ms: number; protocol: string; alpn: string; certificate?: CertificateFacts } | undefined;
  const observed = (fields: Partial<TlsObservation>): TlsObservation => {
    const raw = tap?.received() ?? Buffer.alloc(0);
    const peerEnd = tap?.peerEnd();
    const certificate = handshake?.certificate ?? certificateFromFlight(raw);
    return {
      handshake: handshake === undefined ? 'failed' : 'complete',
      raw,
      elapsedMs: performance.now() - began,
      ...(peerEnd === undefined ? {} : { peerEnd: peerEnd.how }),
      ...(handshake === undefined
        ? {}
        : { handshakeMs: handshake.ms, protocol: handshake.protocol, alpn: handshake.alpn }),
      ...(certificate === undefined ? {} : { certificate }),
      ...fields,
    };
  };
  return waitFor<TlsObservation>(
    budget,
    TLS_LIMIT_MS,
    (finish) => {
      const raw = connectSocket(endpoint, undefined);
      let alertWait: NodeJS.Timeout | undefined;
      raw.on('error', (error) => {
        if (tap === undefined) finish(observed({ connectErrno: systemErrorCode(error) }));
      });
      raw.once('connect', () => {
        tap = tapConnection(raw);
        const socket = tlsConnect({
          socket: tap.stream,
          ...(servername === undefined ? {} : { servername }),
          ALPNProtocols: [...PROBE_ALPN],
          rejectUnauthorized: false,
        });
        secure = socket;
        socket.once('secureConnect', () => {
          const handshakeMs = performance.now() - began;
          const certificate = certificateFromSocket(socket);
          handshake = {
            ms: handshakeMs,
            protocol: socket.getProtocol() ?? 'unknown',
            alpn: socket.alpnProtocol === false ? 'none' : (socket.alpnProtocol ?? 'none'),
            ...(certificate === undefined ? {} : { certificate }),
          };
          // Reading lets OpenSSL see an alert the server sends after our Finished.
          socket.resume();
          alertWait = setTimeout(
            () => {
              finish(observed({}));
            },
            Math.min(ALERT_WAIT_MAX_MS, Math.max(ALERT_WAIT_MIN_MS, 4 * handshakeMs)),
          );
        });
        socket.on('error', (error) => {
          const code = systemErrorCode(error);
          finish(
            observed(handshake === undefined ? { errorCode: code } : { postHandshakeError: code }),
          );
        });
        socket.once('close', () => {
          finish(observed({}));
        });
      });
      return () => {
        if (alertWait !== undefined) clearTimeout(alertWait);
        secure?.destroy();
        tap?.destroy();
        raw.destroy();
      };
    },
    (timedOut) =>
      tap === undefined
        ? observed({ handshake: 'silent', timedOut, connectTimedOut: true })
        : observed(handshake === undefined ? { handshake: 'silent', timedOut } : {}),
  );
}

function certificateFromSocket(socket: TLSSocket): CertificateFacts | undefined {
  const raw = socket.getPeerX509Certificate();
  return raw === undefined ? undefined : certificateFacts(raw);
}

/** In TLS 1.2 the certificate travels in clear: read it even when the handshake failed. */
function certificateFromFlight(raw: Buffer): CertificateFacts | undefined {
  const der = readServerFlight(raw)?.certificates[0];
  if (der === undefined) return undefined;
  try {
    return certificateFacts(new X509Certificate(der));
  } catch {
    return undefined;
  }
}

function certificateFacts(certificate: X509Certificate): CertificateFacts {
  const oneLine = (name: string): string => name.split('\n').filter(Boolean).join(', ');
  const subjectAltName = certificate.subjectAltName ?? '';
  const spiffe = /URI:(spiffe:\/\/[^,\s]+)/.exec(subjectAltName)?.[1];
  return {
    subject: oneLine(certificate.subject),
    issuer: oneLine(certificate.issuer),
    subjectAltName,
    validTo: certificate.validTo,
    ...(spiffe === undefined ? {} : { spiffeId: spiffe }),
  };
}
