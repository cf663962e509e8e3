/**
 * Passkey ceremonies on the server side (@simplewebauthn/server), for the HTTP routes
 * (api/routes/passkeys.ts) and for pages served by this process that run them in a browser.
 *
 * - `passkeyRegistrationOptions(deps, principalId)`: options for `navigator.credentials.create`
 *   (ES256 only, user verification required), with a random challenge stored for the principal,
 *   single-use, for five minutes.
 * - `registerPasskey(deps, principalId, response)`: checks the browser's answer against that
 *   challenge and the configured origin and relying party id, then proposes the principal's next
 *   registry entry: the entry the principal resolves to now, plus the passkey. Like any proposal it
 *   counts for nothing until two trust-root admins endorse it (its hash is in the answer).
 * - `decisionChallenge(deps, refundId, approverId, decision, reason?, keyId?)`: builds the full
 *   decision statement (this refund's amount and currency, the approver's endorsed passkey,
 *   signed now, a fresh nonce) and the options for `navigator.credentials.get` whose challenge is
 *   the statement's hash. The approver posts the statement's fields and the assertion to
 *   `POST /v1/refunds/{id}/approvals` (`passkeyApprovalBody`); the workflow verifies it.
 *
 * Nothing here is trusted by the workflow: the server cannot make a passkey count (two admins
 * endorse it) or a decision verify (only the authenticator signs).
 */
import { generateAuthenticationOptions, generateRegistrationOptions, verifyRegistrationResponse } from '@simplewebauthn/server';
import { convertCOSEtoPKCS } from '@simplewebauthn/server/helpers';
import { sha256 } from '@noble/hashes/sha2.js';
import type { WebAuthnConfig } from '../config/api';
import type { DecisionChallengeView, PasskeyRegisteredView, PasskeyRegistrationBody } from '../client/passkey-views';
import { ApprovalRefusedError, RefundNotFoundError } from '../client/errors';
import type { Pool } from '../store/pool';
import { getRefundRow } from '../store/read-model';
import { proposeRegistryEntry, registryRecords } from '../store/registry';
import { consumeChallenge, issueChallenge } from '../store/webauthn-challenges';
import {
  base64urlDecode,
  base64urlEncode,
  canonicalBytes,
  canonicalId,
  challengeOf,
  DecisionStatement,
  newNonce,
  PASSKEY_ALG,
  PasskeyKey,
  RegistryEntry,
  resolvePrincipal,
  sha256Hex,
  type ResolvedPrincipal,
  type TrustRoots,
} from '../workflows/statements';
import { problem } from './plugins/problems';

/** How long a registration challenge, and a ceremony in the browser, may take. */
export const PASSKEY_CEREMONY_MS = 5 * 60_000;

/** ES256 (COSE -7): what the workflow verifies. */
const ES256 = -7;

/** The decision statement to sign and the options for `navigator.credentials.get` (DecisionChallengeView over HTTP). */
export interface DecisionChallenge extends Omit<DecisionChallengeView, 'options'> {
  options: Awaited<ReturnType<typeof generateAuthenticationOptions>>;
}

export interface PasskeyDeps {
  pool: Pool;
  webauthn: WebAuthnConfig;
  /** The trust roots the workers pin: a passkey is added to, and signs for, the entry that counts under them. */
  trustRoots: TrustRoots | undefined;
}

export type PasskeyRule = 'not_self' | 'challenge_unknown' | 'passkey_not_verified' | 'no_current_entry' | 'too_many_keys';

function refuse(rule: PasskeyRule, detail: string) {
  return problem('registry_refused', detail, { rule });
}

function rootsOf(deps: PasskeyDeps): TrustRoots {
  if (deps.trustRoots) return deps.trustRoots;
  throw problem('service_unavailable', 'this API has no trust roots: set REFUNDS_TRUST_ROOTS to the file the workers pin');
}

/** Who `principalId` is now, under the pinned trust roots: the entry a new passkey extends, and whose passkeys sign. */
async function currentPrincipal(deps: PasskeyDeps, principalId: string): Promise<ResolvedPrincipal | undefined> {
  const records = await registryRecords(deps.pool, principalId);
  const resolution = resolvePrincipal(records, principalId, rootsOf(deps), new Date());
  return resolution.ok ? resolution.principal : undefined;
}

/** Every passkey credential id in any stored entry of the principal (endorsed or not), so one authenticator is not registered twice. */
async function knownCredentialIds(deps: PasskeyDeps, principalId: string): Promise<string[]> {
  const records = await registryRecords(deps.pool, principalId);
  const ids = records.entries.flatMap((record) => {
    const entry = RegistryEntry.safeParse((record as { entry?: unknown }).entry);
    return entry.success ? entry.data.keys.flatMap((k) => (k.alg === PASSKEY_ALG ? [k.credentialId] : [])) : [];
  });
  return [...new Set(ids)];
}

/** Options for `navigator.credentials.create`, with a fresh single-use challenge stored for `principalId`. */
export async function passkeyRegistrationOptions(
  deps: PasskeyDeps,
  principalId: string,
): Promise<{ options: Awaited<ReturnType<typeof generateRegistrationOptions>>; expiresAt: string }> {
  const id = canonicalId(principalId);
  const options = await generateRegistrationOptions({
    rpName: deps.webauthn.rpName,
    rpID: deps.webauthn.rpId,
    userName: id,
    userID: sha256(new TextEncoder().encode(id)),
    attestationType: 'none',
    excludeCredentials: (await knownCredentialIds(deps, id)).map((credentialId) => ({ id: credentialId })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    supportedAlgorithmIDs: [ES256],
    timeout: PASSKEY_CEREMONY_MS,
  });
  await issueChallenge(deps.pool, { challenge: options.challenge, principalId: id, purpose: 'registration', ttlMs: PASSKEY_CEREMONY_MS });
  return { options, expiresAt: new Date(Date.now() + PASSKEY_CEREMONY_MS).toISOString() };
}

/** The key id a passkey gets in its principal's entry: derived from its credential id, so the same passkey keeps one id. */
export function passkeyKeyId(credentialId: string): string {
  return `passkey-${sha256Hex(base64urlDecode(credentialId) ?? credentialId).slice(0, 16)}`;
}

/**
 * Verifies the browser's registration answer and proposes `principalId`'s next registry entry with
 * the passkey added; answers the stored entry and its hash, for two admins to endorse. `actor`
 * names who proposed it on the principal's audit chain.
 */
export async function registerPasskey(
  deps: PasskeyDeps,
  principalId: string,
  response: PasskeyRegistrationBody,
  actor = `employee:${canonicalId(principalId)}`,
): Promise<PasskeyRegisteredView> {
  const id = canonicalId(principalId);
  const current = await currentPrincipal(deps, id);
  if (!current) {
    throw refuse(
      'no_current_entry',
      `${id} has no registry entry two trust-root admins endorsed: a passkey is added to an endorsed entry (register the principal first)`,
    );
  }
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  let challengeKnown = true;
  try {
    verification = await verifyRegistrationResponse({
      response: { ...response, clientExtensionResults: response.clientExtensionResults ?? {} },
      expectedChallenge: async (challenge) => {
        challengeKnown = await consumeChallenge(deps.pool, { challenge, principalId: id, purpose: 'registration' });
        return challengeKnown;
      },
      expectedOrigin: deps.webauthn.origin,
      expectedRPID: deps.webauthn.rpId,
      requireUserPresence: true,
      requireUserVerification: true,
      supportedAlgorithmIDs: [ES256],
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!challengeKnown) {
      throw refuse(
        'challenge_unknown',
        `the registration's challenge was not issued to ${id}, has expired or was used already: ask for new options`,
      );
    }
    throw refuse('passkey_not_verified', `the passkey registration does not verify: ${message}`);
  }
  if (!verification.verified) throw refuse('passkey_not_verified', 'the passkey registration does not verify');
  const { credential } = verification.registrationInfo;
  const key = PasskeyKey.safeParse({
    keyId: passkeyKeyId(credential.id),
    alg: PASSKEY_ALG,
    publicKey: base64urlEncode(convertCOSEtoPKCS(credential.publicKey)),
    credentialId: credential.id,
    rpId: deps.webauthn.rpId,
    origin: deps.webauthn.origin,
  });
  if (!key.success) throw refuse('passkey_not_verified', `the passkey is not a P-256 (ES256) key: ${key.error.issues[0]?.message}`);
  const keys = [...current.keys.filter((k) => k.keyId !== key.data.keyId), key.data];
  if (keys.length > 16) throw refuse('too_many_keys', `${id} has ${current.keys.length} keys; an entry holds at most 16: revoke one first`);
  const latest = Math.max(current.version, ...(await registryRecords(deps.pool, id)).entries.map(versionOf));
  const entry: RegistryEntry = {
    kind: 'registry_entry',
    principalId: id,
    version: latest + 1,
    roles: current.roles,
    approvalLimits: current.approvalLimits,
    keys,
    status: 'active',
    issuedAt: new Date().toISOString(),
  };
  const stored = await proposeRegistryEntry(deps.pool, entry, actor);
  return {
    created: stored.created,
    principalId: id,
    version: stored.entry.version,
    entryHash: stored.entryHash,
    entry: stored.entry,
    keyId: key.data.keyId,
    credentialId: key.data.credentialId,
  };
}

function versionOf(record: unknown): number {
  const version = (record as { entry?: { version?: unknown } }).entry?.version;
  return typeof version === 'number' && Number.isSafeInteger(version) ? version : 0;
}

/**
 * The decision statement `approverId` is to sign with a passkey for `refundId` (its amount and
 * currency from the read model; the workflow holds it to its own), and the options for
 * `navigator.credentials.get` whose challenge is the statement's hash. `keyId` picks the passkey;
 * by default the approver's newest endorsed one.
 */
export async function decisionChallenge(
  deps: PasskeyDeps,
  refundId: string,
  approverId: string,
  decision: 'approve' | 'reject',
  reason?: string,
  keyId?: string,
): Promise<DecisionChallenge> {
  const row = await getRefundRow(deps.pool, refundId);
  if (!row) throw new RefundNotFoundError(`refund ${refundId} not found`);
  if (row.state !== 'awaiting_approval')
    throw new ApprovalRefusedError('not_awaiting_approval', `refund is ${row.state}, not awaiting approval`);
  const id = canonicalId(approverId);
  const passkeys = ((await currentPrincipal(deps, id))?.keys ?? []).flatMap((k) => (k.alg === PASSKEY_ALG ? [k] : []));
  const key = keyId === undefined ? passkeys.at(-1) : passkeys.find((k) => k.keyId === keyId);
  if (!key) {
    const which = keyId === undefined ? 'no passkey' : `no passkey ${keyId}`;
    throw problem(
      'approval_refused',
      `${id} has ${which} in a registry entry two trust-root admins endorsed: register one and have it endorsed first`,
      { rule: 'no_endorsed_passkey' },
    );
  }
  const statement = DecisionStatement.parse({
    kind: 'decision',
    refundId: row.refundId,
    amount: row.amount,
    currency: row.currency,
    decision,
    ...(reason ? { reason } : {}),
    approverId: id,
    keyId: key.keyId,
    alg: PASSKEY_ALG,
    signedAt: new Date().toISOString(),
    nonce: newNonce(),
  });
  const hash = sha256(canonicalBytes(statement));
  const options = await generateAuthenticationOptions({
    rpID: key.rpId,
    allowCredentials: [{ id: key.credentialId }],
    challenge: hash,
    userVerification: 'required',
    timeout: PASSKEY_CEREMONY_MS,
  });
  return { statement, challenge: challengeOf(canonicalBytes(statement)), options };
}

/** The three ceremonies bound to their dependencies: what pages served by the API process call. */
export interface PasskeyCeremonies {
  passkeyRegistrationOptions(principalId: string): ReturnType<typeof passkeyRegistrationOptions>;
  registerPasskey(principalId: string, response: PasskeyRegistrationBody, actor?: string): Promise<PasskeyRegisteredView>;
  decisionChallenge(
    refundId: string,
    approverId: string,
    decision: 'approve' | 'reject',
    reason?: string,
    keyId?: string,
  ): Promise<DecisionChallenge>;
}

export function passkeyCeremonies(deps: PasskeyDeps): PasskeyCeremonies {
  return {
    passkeyRegistrationOptions: (principalId) => passkeyRegistrationOptions(deps, principalId),
    registerPasskey: (principalId, response, actor) => registerPasskey(deps, principalId, response, actor),
    decisionChallenge: (refundId, approverId, decision, reason, keyId) =>
      decisionChallenge(deps, refundId, approverId, decision, reason, keyId),
  };
}
