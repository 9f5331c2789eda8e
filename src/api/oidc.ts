import { errors, generators, Issuer, type BaseClient } from 'openid-client';
import { z } from 'zod';
import type { Config } from '../config';
import { ROLES, type Caller } from '../domain/access';
import { AppError, ServiceUnavailableError } from '../errors';
import type { Identity } from './auth';
import { uuid } from '../ids';

export interface OidcSettings {
  issuerUrl: string;
  clientId: string;
  clientSecret: string;
  /** Where the provider sends the person back: PUBLIC_BASE_URL + /dashboard/callback. */
  redirectUri: string;
  scopes: string;
  /** Which claims carry the user's id, role, organisation and name. */
  claims: { userId: string; role: string; orgId: string; name: string; email: string };
}

/** What a sign-in carries from its start to the provider's answer (kept in a short-lived HttpOnly cookie). */
export const pendingSignIn = z.strictObject({ state: z.string().min(16), nonce: z.string().min(16), codeVerifier: z.string().min(43) });
export type PendingSignIn = z.infer<typeof pendingSignIn>;

export class SignInFailedError extends AppError {
  constructor(message: string) {
    super(401, 'sign_in_failed', message);
  }
}

/**
 * The organisation's identity provider: an authorization-code sign-in with PKCE (S256), state and nonce, the
 * person's claims read from the ID token and the userinfo endpoint and mapped to the service's user.
 */
/** The sign-in the configuration names, if any. */
export function oidcFromConfig(config: Config, publicBaseUrl: string): OidcSignIn | undefined {
  if (!config.OIDC_ISSUER_URL || !config.OIDC_CLIENT_ID || !config.OIDC_CLIENT_SECRET) return undefined;
  return createOidcSignIn({
    issuerUrl: config.OIDC_ISSUER_URL,
    clientId: config.OIDC_CLIENT_ID,
    clientSecret: config.OIDC_CLIENT_SECRET,
    redirectUri: new URL(CALLBACK_PATH, publicBaseUrl).toString(),
    scopes: config.OIDC_SCOPES,
    claims: { userId: config.OIDC_USER_ID_CLAIM, role: config.OIDC_ROLE_CLAIM, orgId: config.OIDC_ORG_CLAIM, name: config.OIDC_NAME_CLAIM, email: config.OIDC_EMAIL_CLAIM },
  });
}

export const CALLBACK_PATH = '/dashboard/callback';

export function createOidcSignIn(settings: OidcSettings) {
  let client: Promise<BaseClient> | undefined;
  const clientOf = () => {
    client ??= Issuer.discover(settings.issuerUrl).then(
      (issuer) => new issuer.Client({ client_id: settings.clientId, client_secret: settings.clientSecret, redirect_uris: [settings.redirectUri], response_types: ['code'] }),
    );
    // A provider out of reach is asked again by the next sign-in, not remembered as gone.
    return client.catch(() => {
      client = undefined;
      throw new ServiceUnavailableError();
    });
  };

  const identitySchema = z.object({
    [settings.claims.userId]: uuid,
    [settings.claims.role]: z.enum(ROLES),
    [settings.claims.orgId]: uuid,
    [settings.claims.name]: z.string().max(200).optional(),
    [settings.claims.email]: z.email().max(320).optional(),
  });

  return {
    /** Where to send the person, and what to keep until they come back. */
    async start(): Promise<{ url: string; pending: PendingSignIn }> {
      const pending = { state: generators.state(), nonce: generators.nonce(), codeVerifier: generators.codeVerifier() };
      const url = (await clientOf()).authorizationUrl({
        scope: settings.scopes,
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: generators.codeChallenge(pending.codeVerifier),
        code_challenge_method: 'S256',
      });
      return { url, pending };
    },

    /** The provider's answer: the person it vouches for, or why not. */
    async finish(callbackUrl: string, pending: PendingSignIn): Promise<Identity> {
      const oidc = await clientOf();
      const params = oidc.callbackParams(callbackUrl);
      if (params.error) throw new SignInFailedError(`Your organisation's sign-in answered: ${params.error_description ?? params.error}`);
      let claims: Record<string, unknown>;
      try {
        const tokens = await oidc.callback(settings.redirectUri, params, { state: pending.state, nonce: pending.nonce, code_verifier: pending.codeVerifier });
        claims = { ...tokens.claims(), ...(tokens.access_token ? await oidc.userinfo(tokens) : {}) };
      } catch (error) {
        // The provider refused (a used or stale code, a state or nonce that does not match): start again. Anything
        // else is the provider out of reach.
        if (error instanceof errors.OPError || error instanceof errors.RPError) throw new SignInFailedError('The sign-in could not be completed: please start again');
        throw new ServiceUnavailableError();
      }
      const identity = identitySchema.safeParse(claims);
      if (!identity.success) {
        throw new SignInFailedError(`Your account lacks what this service needs (${identity.error.issues.map((issue) => issue.path.join('.')).join(', ')})`);
      }
      const value = (claim: string) => identity.data[claim] as string | undefined;
      return {
        caller: { userId: value(settings.claims.userId)!, role: value(settings.claims.role) as Caller['role'], orgId: value(settings.claims.orgId)! },
        name: value(settings.claims.name),
        email: value(settings.claims.email),
      };
    },
  };
}

export type OidcSignIn = ReturnType<typeof createOidcSignIn>;
