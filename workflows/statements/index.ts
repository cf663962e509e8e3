/**
 * Signed statements and the key registry: the pure, deterministic core that lets the workflow
 * believe a message only when its source signed it with a key two admins registered. Safe to
 * import from workflow code (no Node built-ins, no clock, no randomness in verification).
 *
 * For a message: `claimedSigner(raw)` → `resolvePrincipal(records, id, roots, now)` →
 * `verifyStatement(raw, resolution, expect)` → act on the verdict's parsed `statement` once per
 * `statementId`. Signing helpers (`signStatement`, `endorseEntry`, `signRevocation`,
 * `generateKeyPair`, `newNonce`) are for clients, tools and tests.
 */
export { base64urlDecode, base64urlEncode, canonicalBytes, sha256Hex } from './encoding';
export {
  Alg,
  Base64urlBytes,
  canonicalId,
  generateKeyPair,
  KeyId,
  newNonce,
  Nonce,
  PrincipalId,
  PublicKey,
  publicKeyOf,
  Signature,
  SigningInputError,
  signBytes,
  TrustRoot,
  TrustRoots,
  verifyBytes,
} from './keys';
export {
  CLOCK_SKEW_MS,
  Endorsement,
  endorseEntry,
  RegistryEntry,
  RegistryKey,
  Revocation,
  resolvePrincipal,
  SignedRegistryEntry,
  SignedRevocation,
  signRevocation,
  type IgnoredRecord,
  type IgnoreReason,
  type PrincipalResolution,
  type RegistryRecords,
  type ResolutionRule,
  type ResolvedPrincipal,
} from './registry';
export {
  carriesAssertion,
  claimedSigner,
  PasskeySignedStatement,
  DecisionStatement,
  RefundRequestStatement,
  SignedStatement,
  Statement,
  STATEMENT_CLOCK_SKEW_MS,
  STATEMENT_MAX_AGE_MS,
  signStatement,
  statementId,
  verifyParsedStatement,
  verifyStatement,
  WarehouseReceiptStatement,
  type AnySigned,
  type Expectation,
  type PasskeySigned,
  type Signed,
  type StatementKind,
  type StatementOf,
  type StatementRule,
  type StatementVerdict,
} from './statements';
export {
  challengeOf,
  PASSKEY_ALG,
  PasskeyKey,
  RpId,
  verifyAssertion,
  WebAuthnAssertion,
  WebOrigin,
  type AssertionRefusal,
  type AssertionRule,
} from './webauthn';
