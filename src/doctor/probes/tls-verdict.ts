// What a TLS ClientHello's outcome means for a service: pure rules over what was observed (the
// handshake, Node's error code, the raw bytes, the certificate), so each case is testable without
// a server. A plaintext service is expected to fail the handshake; a TLS one to complete it.
import type { Check } from '../model.ts';
import type { Target } from '../targets.ts';
import type { TimedOut } from './budget.ts';
import { cutShort, hostPort, makeCheck, type Evidence } from './check.ts';
import { classifyConnectError, ms } from './connect-errors.ts';
import type { Endpoint } from './connection.ts';
import {
  fixClientCertRequired,
  fixMeshMtls,
  fixNoAnswer,
  fixPlaintextOnTlsPort,
  fixResetAfterConnect,
  fixTlsHandshake,
  fixTlsRequired,
} from './fixes.ts';
import { SERVICE_FACTS } from './service-facts.ts';
import { describeAnswer, hexPrefix, identifyAnswer } from './wire/fingerprint.ts';
import { isClientHello, readServerFlight } from './wire/tls-record.ts';

export const TLS_CHECK_ID = 'tls.handshake';

/** A wait the deadline cut shorter than this proves nothing about TLS. */
const CONCLUSIVE_SILENCE_MS = 500;

export interface CertificateFacts {
  readonly subject: string;
  readonly issuer: string;
  readonly subjectAltName: string;
  readonly validTo: string;
  /** The `spiffe://…` URI SAN of a service-mesh workload certificate. */
  readonly spiffeId?: string;
}

export interface TlsObservation {
  readonly handshake: 'complete' | 'failed' | 'silent';
  /** The TCP connect itself failed with this errno. */
  readonly connectErrno?: string;
  readonly connectTimedOut?: boolean;
  /** Node's error during the handshake, e.g. ERR_SSL_WRONG_VERSION_NUMBER. */
  readonly errorCode?: string;
  /** Node's error after the handshake, e.g. ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED. */
  readonly postHandshakeError?: string;
  /** The first bytes the server sent, as they came off the wire. */
  readonly raw: Buffer;
  readonly peerEnd?: 'fin' | 'reset' | 'error';
  readonly handshakeMs?: number;
  readonly protocol?: string;
  readonly alpn?: string;
  readonly certificate?: CertificateFacts;
  readonly timedOut?: TimedOut;
  readonly elapsedMs: number;
}

export interface TlsResult {
  readonly check: Check;
  /** Run the protocol probe after this layer. */
  readonly proceed: boolean;
  /** Run it inside TLS. */
  readonly secure: boolean;
}

/** Alerts that say "a client certificate was wanted", and one that does when it was requested. */
const CERTIFICATE_ALERTS = new Set([
  'certificate_required',
  'bad_certificate',
  'certificate_unknown',
]);

/** `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED` → `certificate_required`. */
export function alertOfErrorCode(code: string | undefined): string | undefined {
  const match = code === undefined ? null : /_ALERT_([A-Z0-9_]+)$/.exec(code);
  return match?.[1]?.toLowerCase();
}

export function classifyTls(target: Target, endpoint: Endpoint, seen: TlsObservation): TlsResult {
  const remote = hostPort(endpoint.address, endpoint.port);
  const expectation = SERVICE_FACTS[target.service].tls;
  const evidence = tlsEvidence(seen);
  const result = (
    proceed: boolean,
    secure: boolean,
    fields: Omit<Parameters<typeof makeCheck>[1], 'id' | 'layer'>,
  ): TlsResult => ({
    proceed,
    secure,
    check: makeCheck(target, {
      id: TLS_CHECK_ID,
      layer: 'tls',
      ...fields,
      evidence: { ...evidence, ...fields.evidence },
    }),
  });

  if (seen.connectErrno !== undefined) {
    const failure = classifyConnectError(seen.connectErrno, seen.elapsedMs);
    return result(false, false, {
      status: 'fail',
      reason: failure.reason,
      summary: `the connection for the TLS probe failed: ${failure.summary}`,
      evidence: { errno: seen.connectErrno },
    });
  }

  if (seen.connectTimedOut === true && seen.timedOut !== undefined) {
    if (seen.timedOut.end !== 'limit' && seen.timedOut.waitedMs < CONCLUSIVE_SILENCE_MS)
      return {
        proceed: false,
        secure: false,
        check: cutShort(
          target,
          TLS_CHECK_ID,
          'tls',
          'connecting for the TLS probe',
          seen.timedOut,
          evidence,
        ),
      };
    const failure = classifyConnectError(undefined, seen.timedOut.waitedMs);
    return result(false, false, {
      status: 'fail',
      reason: failure.reason,
      summary: `the connection for the TLS probe failed: ${failure.summary}`,
    });
  }

  if (isClientHello(seen.raw)) {
    const echo = `${remote} sent our TLS ClientHello back unchanged: it echoes what it receives and is no TLS server`;
    return expectation === 'tls'
      ? result(false, false, {
          status: 'fail',
          reason: 'plaintext',
          summary: echo,
          fix: fixPlaintextOnTlsPort(target),
        })
      : result(true, false, { status: 'pass', reason: 'plaintext', summary: echo });
  }

  const flight = readServerFlight(seen.raw);
  const alert =
    alertOfErrorCode(seen.postHandshakeError) ??
    alertOfErrorCode(seen.errorCode) ??
    flight?.alert?.name;
  const certificateDemanded =
    (alert !== undefined && CERTIFICATE_ALERTS.has(alert)) ||
    (flight?.certificateRequested === true &&
      (seen.handshake !== 'complete' || seen.postHandshakeError !== undefined));
  const identity = seen.certificate?.spiffeId;

  if (certificateDemanded) {
    if (identity !== undefined) {
      return result(false, false, {
        status: 'fail',
        reason: 'mesh-mtls',
        summary: `${remote} is wrapped in service-mesh mutual TLS: the certificate names the mesh workload ${identity} and the server demands a client certificate (${alert ?? 'CertificateRequest'}); plaintext clients outside the mesh are reset`,
        fix: fixMeshMtls(target),
      });
    }
    return result(false, false, {
      status: 'fail',
      reason: 'client-cert-required',
      summary: `${remote} speaks TLS and demands a client certificate (${alert ?? 'CertificateRequest'}); clients without one are turned away`,
      fix: fixClientCertRequired(target),
    });
  }

  if (seen.handshake === 'complete') {
    const version = `${seen.protocol ?? 'TLS'}${identity === undefined ? '' : `, mesh identity ${identity}`}`;
    if (expectation === 'plaintext') {
      return result(true, true, {
        status: 'warn',
        reason: 'tls-required',
        summary: `${remote} speaks TLS (${version}) where the ${SERVICE_FACTS[target.service].title} is plaintext by default: clients must enable TLS`,
        fix: fixTlsRequired(target),
      });
    }
    return result(true, true, {
      status: 'pass',
      reason: 'tls-ok',
      summary: `${remote} completes a TLS handshake (${version}) without asking for a client certificate`,
    });
  }

  if (flight !== undefined) {
    const problem = alert ?? seen.errorCode ?? 'the handshake failed';
    return result(false, false, {
      status: 'fail',
      reason: 'tls-handshake-failed',
      summary: `${remote} speaks TLS, but the handshake fails: ${problem}`,
      fix: fixTlsHandshake(target, problem),
    });
  }

  if (seen.handshake === 'silent' && seen.timedOut !== undefined) {
    if (seen.timedOut.end !== 'limit' && seen.timedOut.waitedMs < CONCLUSIVE_SILENCE_MS)
      return {
        proceed: false,
        secure: false,
        check: cutShort(target, TLS_CHECK_ID, 'tls', 'the TLS probe', seen.timedOut, evidence),
      };
    if (expectation === 'tls') {
      return result(false, false, {
        status: 'fail',
        reason: 'no-answer',
        summary: `${remote} does not answer a TLS ClientHello (${ms(seen.timedOut.waitedMs)} of silence)`,
        fix: fixNoAnswer(target),
      });
    }
    return result(true, false, {
      status: 'pass',
      reason: 'plaintext',
      summary: `${remote} does not answer a TLS ClientHello (a TLS server answers at once): no TLS here, as expected`,
    });
  }

  if (seen.raw.length === 0 && seen.peerEnd === 'reset') {
    return result(false, false, {
      status: 'fail',
      reason: 'reset-after-connect',
      summary: `${remote} reset the connection on the first bytes (a TLS ClientHello) without answering: a proxy or sidecar intercepts the port with nothing behind it`,
      fix: fixResetAfterConnect(target),
    });
  }

  const answered =
    seen.raw.length === 0
      ? 'closed the connection without answering'
      : `answered ${describeAnswer(identifyAnswer(seen.raw).answer)}`;
  if (expectation === 'tls') {
    return result(false, false, {
      status: 'fail',
      reason: 'plaintext',
      summary: `${remote} does not speak TLS: it ${answered} to a TLS ClientHello`,
      fix: fixPlaintextOnTlsPort(target),
    });
  }
  return result(true, false, {
    status: 'pass',
    reason: 'plaintext',
    summary: `${remote} is not a TLS server: it ${answered} to a TLS ClientHello`,
  });
}

function tlsEvidence(seen: TlsObservation): Evidence {
  const evidence: Evidence = { elapsedMs: Math.round(seen.elapsedMs) };
  if (seen.handshakeMs !== undefined) evidence.handshakeMs = Math.round(seen.handshakeMs);
  if (seen.protocol !== undefined) evidence.tlsVersion = seen.protocol;
  if (seen.alpn !== undefined) evidence.alpn = seen.alpn;
  if (seen.errorCode !== undefined) evidence.tlsError = seen.errorCode;
  if (seen.postHandshakeError !== undefined)
    evidence.tlsErrorAfterHandshake = seen.postHandshakeError;
  if (seen.peerEnd !== undefined) evidence.closedBy = seen.peerEnd;
  if (seen.raw.length > 0) evidence.bytesHex = hexPrefix(seen.raw);
  const certificate = seen.certificate;
  if (certificate !== undefined) {
    evidence.certSubject = certificate.subject;
    evidence.certIssuer = certificate.issuer;
    evidence.certSan = certificate.subjectAltName;
    evidence.certValidTo = certificate.validTo;
    if (certificate.spiffeId !== undefined) evidence.spiffeId = certificate.spiffeId;
  }
  return evidence;
}
