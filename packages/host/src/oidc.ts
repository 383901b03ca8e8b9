import { createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { HostEnv } from './config.js';
import type { Principal, Role } from './tenants.js';

const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

/** Why a bearer JWT was refused (the message is safe to return). */
export class OidcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OidcError';
  }
}

/** The issuer's discovery document or JWKS could not be read: the token cannot be checked now. */
export class OidcUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OidcUnavailableError';
  }
}

export interface OidcOptions {
  issuer: string;
  audience: string;
  /** Default: `jwks_uri` of `<issuer>/.well-known/openid-configuration`. */
  jwksUrl?: string | undefined;
  tenantClaim: string;
  roleClaim: string;
  algorithms: string[];
  /** Whether a tenant id names an existing tenant. */
  tenantExists: (id: string) => Promise<boolean>;
  /** Allowed clock difference for exp/nbf/iat. Default 5 s. */
  clockToleranceSeconds?: number;
}

export function oidcOptionsFromEnv(
  env: HostEnv,
  tenantExists: (id: string) => Promise<boolean>,
): OidcOptions | undefined {
  if (!env.IMPACT_IN_OIDC_ISSUER || !env.IMPACT_IN_OIDC_AUDIENCE) return undefined;
  return {
    issuer: env.IMPACT_IN_OIDC_ISSUER,
    audience: env.IMPACT_IN_OIDC_AUDIENCE,
    jwksUrl: env.IMPACT_IN_OIDC_JWKS_URL,
    tenantClaim: env.IMPACT_IN_OIDC_TENANT_CLAIM,
    roleClaim: env.IMPACT_IN_OIDC_ROLE_CLAIM,
    algorithms: env.IMPACT_IN_OIDC_ALGORITHMS,
    tenantExists,
  };
}

/** Whether a bearer credential looks like a JWT (three base64url parts) rather than an API key. */
export const looksLikeJwt = (token: string) => /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);

/**
 * Verifies OIDC bearer JWTs (e.g. Google SSO) with jose against the issuer's JWKS: signature,
 * `iss`, `aud`, `exp`/`nbf`, and an allow-list of algorithms (so `alg: none` and HMAC confusion
 * are refused). The tenant and role come from configurable claims.
 */
export class OidcVerifier {
  readonly #options: OidcOptions;
  #jwks: JWTVerifyGetKey | undefined;

  constructor(options: OidcOptions) {
    if (options.algorithms.some((alg) => alg.toLowerCase() === 'none' || alg.startsWith('HS'))) {
      throw new Error('[impact-in] [oidc] only asymmetric signing algorithms are accepted');
    }
    this.#options = options;
  }

  async #keys(): Promise<JWTVerifyGetKey> {
    if (this.#jwks) return this.#jwks;
    let url = this.#options.jwksUrl;
    if (!url) {
      const discovery = `${this.#options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      let document: { jwks_uri?: unknown };
      try {
        const response = await fetch(discovery, { signal: AbortSignal.timeout(5_000) });
        if (!response.ok) {
          await response.body?.cancel();
          throw new OidcUnavailableError(`the issuer's discovery document answered ${response.status}`);
        }
        document = (await response.json()) as { jwks_uri?: unknown };
      } catch (error) {
        if (error instanceof OidcUnavailableError) throw error;
        throw new OidcUnavailableError(
          `cannot read the issuer's discovery document (${(error as Error).name})`,
        );
      }
      if (typeof document.jwks_uri !== 'string' || !URL.canParse(document.jwks_uri)) {
        throw new OidcUnavailableError('the discovery document has no valid jwks_uri');
      }
      url = document.jwks_uri;
    }
    this.#jwks = createRemoteJWKSet(new URL(url), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
    return this.#jwks;
  }

  async verify(token: string): Promise<Principal> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, await this.#keys(), {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        algorithms: this.#options.algorithms,
        clockTolerance: this.#options.clockToleranceSeconds ?? 5,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      if (error instanceof OidcError || error instanceof OidcUnavailableError) throw error;
      if (error instanceof errors.JWKSTimeout)
        throw new OidcUnavailableError('the issuer’s JWKS did not answer in time');
      if (error instanceof errors.JWTExpired) throw new OidcError('the token has expired');
      if (error instanceof errors.JWTClaimValidationFailed) {
        throw new OidcError(`the token's "${error.claim}" claim is not accepted`);
      }
      if (error instanceof errors.JOSEAlgNotAllowed)
        throw new OidcError('the token is signed with an algorithm not accepted');
      if (error instanceof errors.JOSEError) throw new OidcError(`the token is not valid (${error.code})`);
      // fetch failures (refused, reset, DNS) come out of the JWKS lookup as plain errors.
      throw new OidcUnavailableError(`cannot read the issuer's JWKS (${(error as Error).name})`);
    }
    const tenant = payload[this.#options.tenantClaim];
    const role = payload[this.#options.roleClaim];
    if (typeof tenant !== 'string' || !(await this.#options.tenantExists(tenant.toLowerCase()))) {
      throw new OidcError(`the token's "${this.#options.tenantClaim}" claim names no tenant`);
    }
    if (typeof role !== 'string' || !ROLES.includes(role as Role)) {
      throw new OidcError(
        `the token's "${this.#options.roleClaim}" claim must be one of: ${ROLES.join(', ')}`,
      );
    }
    return { keyId: String(payload.sub), tenantId: tenant.toLowerCase(), role: role as Role, via: 'oidc' };
  }
}
