/**
 * Passkeys over HTTP: the registration ceremony's answer (the browser's
 * `navigator.credentials.create` result as JSON, e.g. @simplewebauthn/browser's
 * `startRegistration`), what the API answers at each step, and the decision challenge: the full
 * decision statement the approver's passkey signs (its challenge is the statement's hash) with
 * the options for `navigator.credentials.get`. `passkeyApprovalBody` turns that statement and the
 * browser's assertion into the body of `POST /v1/refunds/{id}/approvals`.
 */
import { z } from 'zod';
import { DecisionStatement, PASSKEY_ALG, type WebAuthnAssertion } from '../workflows/statements';
import type { ApprovalBody } from './views';
import { StoredEntryView } from './registry-views';

const base64url = (what: string, max: number) =>
  z
    .string({ error: `${what} must be a string` })
    .regex(/^[A-Za-z0-9_-]+$/, `${what} must be unpadded base64url`)
    .max(max, `${what} must be at most ${max} characters`);

/** The browser's answer to `navigator.credentials.create` as JSON (RegistrationResponseJSON); unknown fields are ignored. */
export const PasskeyRegistrationBody = z
  .object({
    id: base64url('id', 1366),
    rawId: base64url('rawId', 1366),
    type: z.literal('public-key', { error: 'type must be "public-key"' }),
    response: z.object({
      clientDataJSON: base64url('response.clientDataJSON', 8192),
      attestationObject: base64url('response.attestationObject', 65536),
      transports: z.array(z.string().max(32)).max(16).optional(),
    }),
    authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
    clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'PasskeyRegistrationBody' });
export type PasskeyRegistrationBody = z.infer<typeof PasskeyRegistrationBody>;

/** Options for `navigator.credentials.create` / `.get` as @simplewebauthn/server makes them (pass to @simplewebauthn/browser). */
const CeremonyOptions = z.record(z.string(), z.unknown());

export const PasskeyRegistrationOptionsView = z
  .object({
    options: CeremonyOptions.describe(
      'PublicKeyCredentialCreationOptionsJSON: ES256 only, user verification required; its challenge is single-use and expires',
    ),
    expiresAt: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'PasskeyRegistrationOptions' });
export type PasskeyRegistrationOptionsView = z.infer<typeof PasskeyRegistrationOptionsView>;

export const PasskeyRegisteredView = StoredEntryView.extend({
  keyId: z.string().describe('the passkey’s key id in the proposed entry; decisions it signs name it'),
  credentialId: z.string(),
}).meta({ id: 'PasskeyRegistered' });
export type PasskeyRegisteredView = z.infer<typeof PasskeyRegisteredView>;

export const DecisionChallengeBody = DecisionStatement.pick({ decision: true, reason: true })
  .extend({
    keyId: DecisionStatement.shape.keyId.optional().describe('the passkey to sign with (default: the approver’s newest endorsed passkey)'),
  })
  .meta({ id: 'DecisionChallengeBody' });
export type DecisionChallengeBody = z.infer<typeof DecisionChallengeBody>;

export const DecisionChallengeView = z
  .object({
    statement: DecisionStatement.describe('the decision statement to sign, exactly as the workflow will verify it'),
    challenge: z.string().describe('base64url(SHA-256(RFC 8785 canonical JSON of the statement))'),
    options: CeremonyOptions.describe('PublicKeyCredentialRequestOptionsJSON for navigator.credentials.get, with that challenge'),
  })
  .meta({ id: 'DecisionChallenge' });
export type DecisionChallengeView = z.infer<typeof DecisionChallengeView>;

/** An approval body signed with a passkey. */
export type PasskeyApprovalBody = Extract<ApprovalBody, { alg: typeof PASSKEY_ALG }>;

/** The approval body that sends `statement` (as the decision challenge answered it) signed by the browser's `assertion`. */
export function passkeyApprovalBody(statement: DecisionStatement, assertion: WebAuthnAssertion): PasskeyApprovalBody {
  const { kind: _kind, refundId: _refundId, approverId: _approverId, alg: _alg, ...fields } = statement;
  const { authenticatorData, clientDataJSON, signature } = assertion;
  return { ...fields, alg: PASSKEY_ALG, assertion: { authenticatorData, clientDataJSON, signature } };
}
