/**
 * Passkeys (WebAuthn, ES256) as registry keys, and the assertions they sign decisions with,
 * verified here, inside the workflow: pure and deterministic (no Node built-ins, no clock), so a
 * passkey decision replays like any other.
 *
 * A passkey key in a registry entry holds the credential's P-256 public key (the uncompressed
 * 65-byte point), its credential id, and the relying party id and origin it was registered for;
 * two trust-root admins endorse the entry like any other, so nothing about the passkey counts
 * before that. A statement with `alg: "webauthn-es256"` carries, instead of an Ed25519
 * signature, the browser's assertion `{ authenticatorData, clientDataJSON, signature }`, whose
 * challenge is the statement itself: base64url(SHA-256(canonical bytes of the statement)).
 *
 * `verifyAssertion` checks, in this order: the ECDSA P-256 signature (DER, as browsers give it;
 * high S accepted, since authenticators do not normalise it) over
 * `authenticatorData || SHA-256(clientDataJSON)` with the registered key (`bad_signature`); then
 * what the signed client data and authenticator data say: a `webauthn.get` ceremony
 * (`wrong_client_data_type`), for this very statement (`challenge_mismatch`), on the registered
 * origin and not inside another origin's frame (`origin_mismatch`), for the registered relying
 * party (`rp_id_mismatch`), with the user present (`user_not_present`) and verified by the
 * authenticator, with a PIN or biometric (`user_not_verified`): a decision moves money, so
 * holding the device is not enough. Anything unreadable is `malformed_assertion`.
 *
 * Not checked: the signature counter (the workflow keeps no per-credential state across refunds,
 * and synced passkeys report 0); a replayed assertion is the same statement, which each refund
 * counts once and no other refund takes (its refund id, amount and freshness are in it).
 */
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import { base64urlDecode, base64urlEncode } from './encoding';
import { Base64urlBytes, KeyId } from './keys';
import { builtOnce } from '../built-once';

const built = builtOnce('workflows/statements/webauthn');

export const PASSKEY_ALG = 'webauthn-es256';

const HOST = /^(?![0-9.]+$)(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ORIGIN = /^https?:\/\/[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::[0-9]{1,5})?$/;

/** Base64url text (unpadded) of 1 to `max` bytes, as a pattern the OpenAPI document shows. */
const base64url = (what: string, max: number) =>
  z
    .string({ error: `${what} must be a string` })
    .regex(new RegExp(`^[A-Za-z0-9_-]{2,${Math.ceil((8 * max) / 6)}}$`), `${what} must be unpadded base64url of at most ${max} bytes`);

/** An uncompressed P-256 point (0x04 || x || y) that is on the curve. */
function isP256Point(text: string): boolean {
  const bytes = base64urlDecode(text);
  if (bytes?.length !== 65 || bytes[0] !== 4) return false;
  try {
    p256.Point.fromBytes(bytes).assertValidity();
    return true;
  } catch {
    return false;
  }
}

/** The relying party id a passkey is scoped to: a lowercase host name (WebAuthn refuses IP addresses). */
export const RpId = built('RpId', () =>
  z
    .string({ error: 'rpId must be a string' })
    .regex(HOST, 'rpId must be a lowercase host name such as localhost or refunds.example.com (not an IP address)'),
);

/** The web origin a passkey signs on: scheme, host and optional port, nothing after. */
export const WebOrigin = built('WebOrigin', () =>
  z
    .string({ error: 'origin must be a string' })
    .regex(ORIGIN, 'origin must be http(s)://host[:port] in lowercase, with no path, such as https://refunds.example.com'),
);

/** A passkey in a registry entry. */
export const PasskeyKey = built('PasskeyKey', () =>
  z.strictObject({
    keyId: KeyId(),
    alg: z.literal(PASSKEY_ALG),
    publicKey: Base64urlBytes('publicKey', 65).refine(
      isP256Point,
      'publicKey is not an uncompressed P-256 public key (65 bytes, 0x04 || x || y)',
    ),
    credentialId: base64url('credentialId', 1023).refine(
      (text) => base64urlDecode(text) !== undefined,
      'credentialId is not valid base64url',
    ),
    rpId: RpId,
    origin: WebOrigin,
  }),
);
export type PasskeyKey = z.infer<typeof PasskeyKey>;

/** What the browser's `navigator.credentials.get` answers (its `response`), base64url each. */
export const WebAuthnAssertion = built('WebAuthnAssertion', () =>
  z.strictObject({
    authenticatorData: base64url('authenticatorData', 1024),
    clientDataJSON: base64url('clientDataJSON', 4096),
    signature: base64url('signature', 72),
  }),
);
export type WebAuthnAssertion = z.infer<typeof WebAuthnAssertion>;

export type AssertionRule =
  | 'malformed_assertion'
  | 'bad_signature'
  | 'wrong_client_data_type'
  | 'challenge_mismatch'
  | 'origin_mismatch'
  | 'rp_id_mismatch'
  | 'user_not_present'
  | 'user_not_verified';

export interface AssertionRefusal {
  rule: AssertionRule;
  message: string;
}

const FLAG_USER_PRESENT = 0x01;
const FLAG_USER_VERIFIED = 0x04;

/** The challenge a passkey signs for a statement: base64url(SHA-256(its canonical bytes)). */
export function challengeOf(statementBytes: Uint8Array): string {
  return base64urlEncode(sha256(statementBytes));
}

/**
 * Why `assertion` is not `key`'s assertion of the statement whose canonical bytes are
 * `statementBytes`, or undefined when it is. Never throws.
 */
export function verifyAssertion(assertion: WebAuthnAssertion, statementBytes: Uint8Array, key: PasskeyKey): AssertionRefusal | undefined {
  const authenticatorData = base64urlDecode(assertion.authenticatorData);
  const clientDataJSON = base64urlDecode(assertion.clientDataJSON);
  const signature = base64urlDecode(assertion.signature);
  const publicKey = base64urlDecode(key.publicKey);
  if (!authenticatorData || !clientDataJSON || !signature || !publicKey) {
    return { rule: 'malformed_assertion', message: 'the assertion is not valid base64url' };
  }
  if (authenticatorData.length < 37) {
    return { rule: 'malformed_assertion', message: `authenticatorData is ${authenticatorData.length} bytes; it has at least 37` };
  }
  if (!verifyEs256(signature, concat(authenticatorData, sha256(clientDataJSON)), publicKey)) {
    return { rule: 'bad_signature', message: `the assertion's signature does not verify with passkey ${key.keyId}` };
  }
  const clientData = parseClientData(clientDataJSON);
  if (!clientData) return { rule: 'malformed_assertion', message: 'clientDataJSON is not a JSON object in UTF-8' };
  if (clientData.type !== 'webauthn.get') {
    return { rule: 'wrong_client_data_type', message: `the assertion is of a ${quoted(clientData.type)} ceremony, not webauthn.get` };
  }
  const expected = challengeOf(statementBytes);
  if (clientData.challenge !== expected) {
    return {
      rule: 'challenge_mismatch',
      message: `the assertion signs challenge ${quoted(clientData.challenge)}; this statement's is ${expected} (base64url SHA-256 of its canonical bytes)`,
    };
  }
  if (clientData.origin !== key.origin) {
    return {
      rule: 'origin_mismatch',
      message: `the assertion was made on ${quoted(clientData.origin)}; passkey ${key.keyId} is for ${key.origin}`,
    };
  }
  if (clientData.crossOrigin === true) {
    return { rule: 'origin_mismatch', message: `the assertion was made inside a frame of another origin than ${key.origin}` };
  }
  if (!equalBytes(authenticatorData.subarray(0, 32), sha256(new TextEncoder().encode(key.rpId)))) {
    return { rule: 'rp_id_mismatch', message: `the authenticator signed for another relying party than ${key.rpId}` };
  }
  const flags = authenticatorData[32]!;
  if ((flags & FLAG_USER_PRESENT) === 0) return { rule: 'user_not_present', message: 'the authenticator reports no user presence' };
  if ((flags & FLAG_USER_VERIFIED) === 0) {
    return { rule: 'user_not_verified', message: 'the authenticator did not verify the user (PIN or biometric); a decision needs it' };
  }
  return undefined;
}

function verifyEs256(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    // prehash: noble hashes the message with SHA-256 (ES256); lowS off: authenticators do not normalise S.
    return p256.verify(signature, message, publicKey, { prehash: true, lowS: false, format: 'der' });
  } catch {
    return false;
  }
}

interface ClientData {
  type?: unknown;
  challenge?: unknown;
  origin?: unknown;
  crossOrigin?: unknown;
}

function parseClientData(bytes: Uint8Array): ClientData | undefined {
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as ClientData) : undefined;
  } catch {
    return undefined;
  }
}

function quoted(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'nothing');
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
