/**
 * Passkeys over HTTP (the ceremonies are in api/passkeys.ts). A principal registers its own
 * passkey in two steps (options, then the browser's answer), which proposes its next registry
 * entry for two trust-root admins to endorse; an approver asks for a decision challenge (the
 * statement to sign and the options for `navigator.credentials.get`) and posts the signed decision
 * to `POST /v1/refunds/{id}/approvals`, where the workflow verifies the assertion.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  DecisionChallengeBody,
  DecisionChallengeView,
  PasskeyRegisteredView,
  PasskeyRegistrationBody,
  PasskeyRegistrationOptionsView,
} from '../../client/passkey-views';
import type { WebAuthnConfig } from '../../config/api';
import { principalId } from '../../workflows/schemas';
import { principalOf, requireRole } from '../plugins/authentication';
import { problem } from '../plugins/problems';
import { passkeyCeremonies, type PasskeyCeremonies } from '../passkeys';
import { bearer, problems, RefundPath, withAuth, type RouteDeps } from './shared';

declare module 'fastify' {
  interface FastifyInstance {
    /** The passkey ceremonies with this app's database, relying party and trust roots, for pages served by the same app. */
    passkeys: PasskeyCeremonies;
  }
}

const PrincipalPath = z.strictObject({ principalId: principalId('principalId') });

/** WebAuthn options are plain JSON objects; the view declares them as such. */
const asJson = (options: object) => options as Record<string, unknown>;

function requireSelf(callerId: string, principalId: string): void {
  if (callerId === principalId) return;
  throw problem('registry_refused', `${callerId} may register passkeys only for themselves, not for ${principalId}`, { rule: 'not_self' });
}

export function registerPasskeyRoutes(app: FastifyInstance, deps: RouteDeps, webauthn: WebAuthnConfig): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const passkeys = passkeyCeremonies({ pool: deps.pool, webauthn, trustRoots: deps.trustRoots });
  app.decorate('passkeys', passkeys);

  api.post(
    '/v1/principals/:principalId/passkeys/options',
    {
      onRequest: requireRole(deps.pool),
      schema: {
        tags: ['registry'],
        summary: 'Start registering a passkey: options for navigator.credentials.create',
        description:
          'By the principal itself. ES256 only, user verification required, relying party REFUNDS_WEBAUTHN_RP_ID; the challenge ' +
          'is kept for five minutes and taken once, by `POST /v1/principals/{id}/passkeys`.',
        security: bearer,
        params: PrincipalPath,
        response: { 200: PasskeyRegistrationOptionsView, ...problems(400, 413, 415, 422, ...withAuth) },
      },
    },
    async (request) => {
      requireSelf(principalOf(request).id, request.params.principalId);
      const { options, expiresAt } = await passkeys.passkeyRegistrationOptions(request.params.principalId);
      return { options: asJson(options), expiresAt };
    },
  );

  api.post(
    '/v1/principals/:principalId/passkeys',
    {
      onRequest: requireRole(deps.pool),
      schema: {
        tags: ['registry'],
        summary: 'Register a passkey: propose the principal’s next registry entry with it',
        description:
          'By the principal itself, with the browser’s answer to navigator.credentials.create (RegistrationResponseJSON). The ' +
          'registration must answer a challenge issued to the principal (`challenge_unknown`) and verify for the configured ' +
          'origin and relying party with user verification and an ES256 key (`passkey_not_verified`). The principal’s entry that ' +
          'counts now (`no_current_entry` without one) is proposed again at the next version with the passkey added, and counts ' +
          'for nothing until two trust-root admins endorse it (`entryHash`). Audited as `registry_entry_proposed`.',
        security: bearer,
        params: PrincipalPath,
        body: PasskeyRegistrationBody,
        response: { 200: PasskeyRegisteredView, 201: PasskeyRegisteredView, ...problems(400, 409, 413, 415, 422, 503, ...withAuth) },
      },
    },
    async (request, reply) => {
      const caller = principalOf(request);
      requireSelf(caller.id, request.params.principalId);
      const registered = await passkeys.registerPasskey(request.params.principalId, request.body, `employee:${caller.id}`);
      return reply.code(registered.created ? 201 : 200).send(registered);
    },
  );

  api.post(
    '/v1/refunds/:refundId/approvals/challenge',
    {
      onRequest: requireRole(deps.pool, 'approver'),
      schema: {
        tags: ['approvers'],
        summary: 'A decision to sign with a passkey: the statement and the options for navigator.credentials.get',
        description:
          'The full decision statement (this refund’s amount and currency, the caller, their newest endorsed passkey or `keyId`, ' +
          'signed now, a fresh nonce; `alg: "webauthn-es256"`) and WebAuthn request options whose challenge is ' +
          'base64url(SHA-256(the statement’s canonical JSON)). Sign it in the browser and post the statement’s fields with ' +
          '`alg` and the `assertion` to `POST /v1/refunds/{id}/approvals` within the hour; the workflow verifies it. Refused ' +
          'with 403 `no_endorsed_passkey` when the caller has no endorsed passkey, 409 when the refund is not awaiting approval.',
        security: bearer,
        params: RefundPath,
        body: DecisionChallengeBody,
        response: { 200: DecisionChallengeView, ...problems(400, 404, 409, 413, 415, 422, 503, ...withAuth) },
      },
    },
    async (request) => {
      const { decision, reason, keyId } = request.body;
      const challenge = await passkeys.decisionChallenge(request.params.refundId, principalOf(request).id, decision, reason, keyId);
      return { ...challenge, options: asJson(challenge.options) };
    },
  );
}
