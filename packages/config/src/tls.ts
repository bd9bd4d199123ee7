/** Why a TLS handshake failed on the server's certificate, from Node's error codes; undefined for any other error. */
export type CertificateProblem = 'untrusted' | 'wrong-host' | 'expired';

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

export function certificateProblem(err: unknown): CertificateProblem | undefined {
  const code = (err as { code?: string } | undefined)?.code;
  if (code === undefined) return undefined;
  if (UNTRUSTED.has(code)) return 'untrusted';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'wrong-host';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return 'expired';
  return undefined;
}

/** What a certificate problem means and what to do, for the connection configured by `caSetting`. */
export function explainCertificate(problem: CertificateProblem, caSetting: string): string {
  switch (problem) {
    case 'untrusted':
      return `the server's certificate is not signed by a CA that ${caSetting} trusts: set ${caSetting} to the CA bundle that signed it (RDS, ElastiCache: the provider's bundle)`;
    case 'wrong-host':
      return `the server's certificate is not for this host name: connect by a name the certificate holds (its subject alternative names)`;
    case 'expired':
      return `the server's certificate is outside its validity period: the server must renew it`;
  }
}
