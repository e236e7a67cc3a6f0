// A self-signed certificate for localhost and 127.0.0.1, made with openssl, for TLS tests; more
// subject alternative names on request (e.g. a mesh workload's `URI:spiffe://…` identity).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  remove(): void;
}

export interface TestCertificateOptions {
  /** More subjectAltName entries in openssl's syntax, e.g. `URI:spiffe://cluster.local/ns/default/sa/spark`. */
  readonly extraSubjectAltNames?: readonly string[];
}

export function makeTestCertificate(options: TestCertificateOptions = {}): TestCertificate {
  const subjectAltNames = [
    'DNS:localhost',
    'IP:127.0.0.1',
    ...(options.extraSubjectAltNames ?? []),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      `subjectAltName=${subjectAltNames.join(',')}`,
    ],
    { stdio: 'ignore' },
  );
  return {
    dir,
    certFile,
    keyFile,
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
