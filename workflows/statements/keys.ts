/**
 * Ed25519 keys and the ids that name them. Signing and verifying are deterministic (RFC 8032);
 * verification is strict (canonical encodings, no small-order keys), so nobody without the secret
 * key can make a signature verify, not even by re-encoding one that already does. Only
 * `generateKeyPair` and `newNonce` use randomness: they are for clients, tools and tests, never for
 * workflow code.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { describeIssues } from '../schemas';
import { base64urlDecode, base64urlEncode } from './encoding';
import { builtOnce } from '../built-once';

const built = builtOnce('workflows/statements/keys');

const CANONICAL_ID = /^[a-z0-9][a-z0-9._@:-]{0,127}$/;

const ID_ALPHABET = '1 to 128 of a-z 0-9 . _ @ : - starting with a letter or digit';

/**
 * A principal's or admin's id, parsed to its canonical form (trimmed, lowercase): `EMP-A` and
 * `emp-a` are one person, so a case alias can neither count twice nor escape a rule. Signatures
 * cover parsed values, so the case an id was written in does not change what was signed.
 */
export const PrincipalId = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .trim()
    .toLowerCase()
    .regex(CANONICAL_ID, `${what} must be ${ID_ALPHABET} (case is ignored)`);

/** The form ids are compared in: trimmed and lowercase. */
export function canonicalId(id: string): string {
  return id.trim().toLowerCase();
}

/** A key's id, already canonical (lowercase), so one key has one spelling. */
export const KeyId = (what = 'keyId') =>
  z.string({ error: `${what} must be a string` }).regex(CANONICAL_ID, `${what} must be ${ID_ALPHABET}, in lowercase`);

export const Alg = built('Alg', () => z.literal('ed25519', { error: 'alg must be "ed25519"' }));

/**
 * Unpadded base64url of exactly `length` bytes: as a pattern (ceil(8 × length / 6) characters of
 * the alphabet, which is exactly what decodes to that length), so the API's OpenAPI document says
 * what the server accepts.
 */
export const Base64urlBytes = (what: string, length: number) =>
  z
    .string({ error: `${what} must be a string` })
    .regex(new RegExp(`^[A-Za-z0-9_-]{${Math.ceil((8 * length) / 6)}}$`), `${what} must be unpadded base64url of ${length} bytes`);

export const Signature = built('Signature', () => Base64urlBytes('signature', 64));

/** A nonce makes each statement unique even when everything else repeats. */
export const Nonce = built('Nonce', () =>
  z.string({ error: 'nonce must be a string' }).regex(/^[A-Za-z0-9_-]{16,128}$/, 'nonce must be 16 to 128 base64url characters'),
);

/** A public key the verifier can use: a point on the curve, and not one of the few weak (small-order) ones. */
const PublicKeyBytes = built('PublicKeyBytes', () =>
  Base64urlBytes('publicKey', 32).refine(isStrongPublicKey, 'publicKey is not a usable Ed25519 public key'),
);

export const PublicKey = built('PublicKey', () => z.strictObject({ keyId: KeyId(), alg: Alg, publicKey: PublicKeyBytes }));
export type PublicKey = z.infer<typeof PublicKey>;

export const TrustRoot = built('TrustRoot', () =>
  z.strictObject({ adminId: PrincipalId('adminId'), keyId: KeyId(), alg: Alg, publicKey: PublicKeyBytes }),
);
export type TrustRoot = z.infer<typeof TrustRoot>;

/**
 * The admins whose keys the worker's configuration pins. An admin may hold several keys; every
 * keyId is listed once; at least two distinct admins, since a registry entry needs two of them.
 */
export const TrustRoots = built('TrustRoots', () =>
  z
    .strictObject({ admins: z.array(TrustRoot).max(64) })
    .refine((roots) => new Set(roots.admins.map((a) => canonicalId(a.adminId))).size >= 2, {
      path: ['admins'],
      error: 'admins must name at least two distinct admins',
    })
    .refine((roots) => new Set(roots.admins.map((a) => a.keyId)).size === roots.admins.length, {
      path: ['admins'],
      error: 'each keyId may appear only once among the admins',
    }),
);
export type TrustRoots = z.infer<typeof TrustRoots>;

/** What a signing helper was given cannot be signed (an invalid record, a secret key of the wrong size); the message says why. */
export class SigningInputError extends Error {
  override name = 'SigningInputError';
}

/** Parses `value` with `schema`, or throws a SigningInputError naming `what` and every issue. */
export function parseForSigning<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new SigningInputError(`${what} is invalid: ${describeIssues(parsed.error, { root: what })}`);
  return parsed.data;
}

function isStrongPublicKey(text: string): boolean {
  const bytes = base64urlDecode(text);
  if (bytes?.length !== 32) return false;
  try {
    return !ed25519.Point.fromBytes(bytes, false).isSmallOrder();
  } catch {
    return false;
  }
}

function secretKeyBytes(secretKey: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) throw new SigningInputError('secretKey must be 32 bytes');
  return secretKey;
}

/** A new key pair (random unless `seed`, 32 bytes, is given). The secret key never leaves its holder. */
export function generateKeyPair(keyId: string, seed?: Uint8Array): { secretKey: Uint8Array; publicKey: PublicKey } {
  const secretKey = seed === undefined ? ed25519.utils.randomSecretKey() : secretKeyBytes(seed);
  return { secretKey, publicKey: publicKeyOf(keyId, secretKey) };
}

/** The public key of `secretKey`, under `keyId`. */
export function publicKeyOf(keyId: string, secretKey: Uint8Array): PublicKey {
  const publicKey = base64urlEncode(ed25519.getPublicKey(secretKeyBytes(secretKey)));
  return parseForSigning(PublicKey, { keyId, alg: 'ed25519', publicKey }, 'public key');
}

/** A new random nonce (16 bytes, 22 characters). */
export function newNonce(): string {
  return base64urlEncode(randomBytes(16));
}

/** The Ed25519 signature of `message`, as base64url. Deterministic. */
export function signBytes(message: Uint8Array, secretKey: Uint8Array): string {
  return base64urlEncode(ed25519.sign(message, secretKeyBytes(secretKey)));
}

/** Whether `signature` (base64url) is `publicKey`'s (base64url) strict RFC 8032 signature of `message`. Never throws. */
export function verifyBytes(signature: string, message: Uint8Array, publicKey: string): boolean {
  const sig = base64urlDecode(signature);
  const key = base64urlDecode(publicKey);
  if (sig?.length !== 64 || key?.length !== 32) return false;
  try {
    return ed25519.verify(sig, message, key, { zip215: false });
  } catch {
    return false;
  }
}
