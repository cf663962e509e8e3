/**
 * Signed statements: every message that can bring a payout closer (a refund request, a warehouse
 * receipt, an approver's decision) is a statement its source signed with a registered key. The
 * workflow believes a statement only when `verifyStatement` says so; who the signer is, and what
 * they may do, comes from the registry (`resolvePrincipal`), never from the message.
 *
 * A statement is bound to everything that matters: the refund, and for a decision the amount and
 * currency, so a signature for one refund, or for the amount before it changed, counts for nothing
 * anywhere else. The signature covers the canonical bytes of the statement as parsed here, so
 * key order, surrounding whitespace and the case of principal ids do not change it; any other
 * change does. Act only on the verdict's parsed `statement`, never on the raw message.
 *
 * Replays are the caller's to refuse: the same statement delivered twice verifies twice. Each
 * verified statement has a `statementId`; remember the ids you have acted on.
 */
import { z } from 'zod';
import { formatMinor } from '../currencies';
import { Currency, describeIssues, id, MinorUnits, RefundRequest, text, WarehouseReceipt, type Role } from '../schemas';
import { canonicalBytes, sha256Hex } from './encoding';
import { Alg, canonicalId, KeyId, Nonce, parseForSigning, PrincipalId, Signature, SigningInputError, signBytes, verifyBytes } from './keys';
import type { PrincipalResolution, ResolutionRule, ResolvedPrincipal } from './registry';
import { PASSKEY_ALG, verifyAssertion, WebAuthnAssertion, type AssertionRule } from './webauthn';
import { builtOnce } from '../built-once';

const built = builtOnce('workflows/statements/statements');

/** What every statement carries: the key that signs it, when, and a nonce that makes it unique. */
const signing = {
  keyId: KeyId(),
  alg: Alg,
  signedAt: z.iso.datetime({ offset: true, error: 'signedAt must be an ISO 8601 date-time, e.g. 2026-11-21T09:30:00Z' }),
  nonce: Nonce,
};

/**
 * An approver decides one refund, for one amount in one currency: signed with an Ed25519 key
 * (`alg: "ed25519"`, with a `signature`) or with a passkey (`alg: "webauthn-es256"`, with an
 * `assertion` whose challenge is this statement; see webauthn.ts).
 */
export const DecisionStatement = built('DecisionStatement', () =>
  z.strictObject({
    kind: z.literal('decision'),
    refundId: id('refundId'),
    amount: MinorUnits,
    currency: Currency,
    decision: z.enum(['approve', 'reject'], { error: 'decision must be "approve" or "reject"' }),
    reason: text('reason', 500).optional(),
    approverId: PrincipalId('approverId'),
    ...signing,
    alg: z.enum(['ed25519', PASSKEY_ALG], { error: `alg must be "ed25519" or "${PASSKEY_ALG}"` }),
  }),
);
export type DecisionStatement = z.infer<typeof DecisionStatement>;

/** A warehouse employee (or scanner) reports what arrived for one refund. */
export const WarehouseReceiptStatement = built('WarehouseReceiptStatement', () =>
  z.strictObject({
    kind: z.literal('warehouse_receipt'),
    refundId: id('refundId'),
    receipt: WarehouseReceipt,
    scannedBy: PrincipalId('scannedBy'),
    ...signing,
  }),
);
export type WarehouseReceiptStatement = z.infer<typeof WarehouseReceiptStatement>;

/** The refund service asks for a refund; `requestedBy` is its own principal id. */
export const RefundRequestStatement = built('RefundRequestStatement', () =>
  z.strictObject({
    kind: z.literal('refund_request'),
    request: RefundRequest,
    requestedBy: PrincipalId('requestedBy'),
    ...signing,
  }),
);
export type RefundRequestStatement = z.infer<typeof RefundRequestStatement>;

export const Statement = built('Statement', () =>
  z.discriminatedUnion('kind', [DecisionStatement, WarehouseReceiptStatement, RefundRequestStatement], {
    error: 'kind must be "decision", "warehouse_receipt" or "refund_request"',
  }),
);
export type Statement = z.infer<typeof Statement>;
export type StatementKind = Statement['kind'];
export type StatementOf<K extends StatementKind> = Extract<Statement, { kind: K }>;

export const SignedStatement = built('SignedStatement', () => z.strictObject({ statement: Statement, signature: Signature }));
/** A statement and its signature over the statement's canonical bytes. */
export interface Signed<T extends Statement = Statement> {
  statement: T;
  signature: string;
}

/** A statement (`alg: "webauthn-es256"`; decisions only) and the passkey assertion whose challenge is the statement. */
export const PasskeySignedStatement = built('PasskeySignedStatement', () =>
  z.strictObject({ statement: Statement, assertion: WebAuthnAssertion }),
);
export interface PasskeySigned<T extends Statement = Statement> {
  statement: T;
  assertion: WebAuthnAssertion;
}

/** A statement signed either way. */
export type AnySigned<T extends Statement = Statement> = Signed<T> | PasskeySigned<T>;

/** Whether a raw signed message carries a passkey assertion (rather than a signature): which shape to parse it as. */
export function carriesAssertion(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && 'assertion' in raw;
}

/**
 * What the verifier requires of a statement: its kind, the signer's role, and what it must be
 * about; with `at` (the verifier's time: the workflow's), also that it was signed recently.
 */
export type Expectation = (
  | { kind: 'decision'; role: Role; refundId: string; amount: number; currency: string }
  | { kind: 'warehouse_receipt'; role: Role; refundId: string }
  | { kind: 'refund_request'; role: Role; refundId?: string }
) & { at?: Date };

/**
 * How old a statement may be when it is verified. A client signs just before it sends; a
 * statement signed long before (kept back, or stockpiled by someone about to lose their access)
 * counts for nothing. Scanners and refund services get a day, for devices and queues that hold
 * messages back while offline; a decision an hour.
 */
export const STATEMENT_MAX_AGE_MS: Readonly<Record<StatementKind, number>> = {
  decision: 3_600_000,
  warehouse_receipt: 86_400_000,
  refund_request: 86_400_000,
};

/** How far a statement's signedAt may be ahead of the verifier's clock. */
export const STATEMENT_CLOCK_SKEW_MS = 5 * 60_000;

export type StatementRule =
  | ResolutionRule
  | AssertionRule
  | 'alg_mismatch'
  | 'malformed_statement'
  | 'wrong_kind'
  | 'signer_mismatch'
  | 'unknown_key'
  | 'revoked_key'
  | 'bad_signature'
  | 'signed_in_future'
  | 'statement_expired'
  | 'role_missing'
  | 'wrong_refund'
  | 'amount_mismatch'
  | 'limit_exceeded';

export type StatementVerdict<K extends StatementKind = StatementKind> =
  | { ok: true; statement: StatementOf<K>; signer: ResolvedPrincipal; keyId: string; statementId: string }
  | { ok: false; rule: StatementRule; message: string };

type Refusal = { ok: false; rule: StatementRule; message: string };
const refuse = (rule: StatementRule, message: string): Refusal => ({ ok: false, rule, message });

const SIGNER_FIELD = { decision: 'approverId', warehouse_receipt: 'scannedBy', refund_request: 'requestedBy' } as const;

/** `statement` (validated first; a SigningInputError names what is wrong), signed with `secretKey`. */
export function signStatement<K extends StatementKind>(
  statement: z.input<typeof Statement> & { kind: K },
  secretKey: Uint8Array,
): Signed<StatementOf<K>> {
  const parsed = parseForSigning(Statement, statement, 'statement') as StatementOf<K>;
  if (parsed.alg !== 'ed25519') throw new SigningInputError(`a ${parsed.alg} statement is signed by its passkey, not with a secret key`);
  return { statement: parsed, signature: signBytes(canonicalBytes(parsed), secretKey) };
}

/** The id to remember a statement by, for refusing replays: SHA-256 (hex) of its canonical bytes. */
export function statementId(signed: { statement: Statement }): string {
  return sha256Hex(canonicalBytes(signed.statement));
}

/**
 * The principal a raw statement says signed it (canonical), or undefined if it names none: the one
 * to resolve before calling `verifyStatement`. Says nothing about whether the statement is genuine.
 */
export function claimedSigner(signed: unknown): string | undefined {
  const statement = field(signed, 'statement');
  const kind = field(statement, 'kind');
  if (typeof kind !== 'string' || !Object.hasOwn(SIGNER_FIELD, kind)) return undefined;
  const signer = field(statement, SIGNER_FIELD[kind as StatementKind]);
  return typeof signer === 'string' ? canonicalId(signer) : undefined;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/**
 * Whether `signed` is a genuine statement of the kind expected, by the principal `resolution`
 * describes (resolve `claimedSigner(signed)`), that the principal may make about this refund. The
 * first rule broken is reported; a verified statement comes back parsed, with its id.
 */
export function verifyStatement<K extends StatementKind>(
  signed: unknown,
  resolution: PrincipalResolution,
  expect: Expectation & { kind: K },
): StatementVerdict<K> {
  const parsed = carriesAssertion(signed) ? PasskeySignedStatement.safeParse(signed) : SignedStatement.safeParse(signed);
  if (!parsed.success)
    return refuse('malformed_statement', `statement is malformed: ${describeIssues(parsed.error, { root: 'statement' })}`);
  return verifyParsedStatement<K>(parsed.data as AnySigned, resolution, expect);
}

/**
 * `verifyStatement` for a signed statement its caller has just parsed with this module's statement
 * schemas (as the workflow's message schemas do: `SignedDecision`, `SignedWarehouseScan`,
 * `SignedRefundRequest`), so that it is not parsed a second time. Never for a value that did not
 * come out of such a parse.
 */
export function verifyParsedStatement<K extends StatementKind>(
  parsed: AnySigned,
  resolution: PrincipalResolution,
  expect: Expectation & { kind: K },
): StatementVerdict<K> {
  const { statement } = parsed;
  const proof: Proof = 'assertion' in parsed ? { assertion: parsed.assertion } : { signature: parsed.signature };
  if ((statement.alg === PASSKEY_ALG) !== 'assertion' in proof) {
    const needs = statement.alg === PASSKEY_ALG ? 'an assertion { authenticatorData, clientDataJSON, signature }' : 'a signature';
    return refuse('malformed_statement', `statement is malformed: a ${statement.alg} statement is signed with ${needs}`);
  }
  if (statement.kind !== expect.kind) return refuse('wrong_kind', `expected a ${expect.kind} statement, got ${statement.kind}`);
  if (!resolution.ok) return refuse(resolution.rule, resolution.message);
  const signer = resolution.principal;
  const refusal =
    checkSignature(statement, proof, signer) ??
    checkFreshness(statement, expect.at) ??
    checkRole(signer, expect.role) ??
    checkSubject(statement, expect, signer);
  if (refusal) return refusal;
  return { ok: true, statement: statement as StatementOf<K>, signer, keyId: statement.keyId, statementId: statementId(parsed) };
}

type Proof = { signature: string } | { assertion: WebAuthnAssertion };

function checkSignature(statement: Statement, proof: Proof, signer: ResolvedPrincipal): Refusal | undefined {
  const claimed = canonicalId(signerOf(statement));
  if (claimed !== signer.id) return refuse('signer_mismatch', `the statement names ${claimed} but the key's principal is ${signer.id}`);
  if (signer.revokedKeyIds.includes(statement.keyId)) return refuse('revoked_key', `key ${statement.keyId} of ${signer.id} is revoked`);
  const key = signer.keys.find((k) => k.keyId === statement.keyId);
  if (!key) return refuse('unknown_key', `${signer.id} has no key ${statement.keyId} in registry version ${signer.version}`);
  if (key.alg !== statement.alg) {
    return refuse('alg_mismatch', `${signer.id}'s key ${key.keyId} is a ${key.alg} key; the statement says ${statement.alg}`);
  }
  if (key.alg === PASSKEY_ALG) {
    const refusal = 'assertion' in proof ? verifyAssertion(proof.assertion, canonicalBytes(statement), key) : undefined;
    return refusal ? refuse(refusal.rule, refusal.message) : undefined;
  }
  if (!('signature' in proof) || !verifyBytes(proof.signature, canonicalBytes(statement), key.publicKey)) {
    return refuse('bad_signature', `the signature does not verify with ${signer.id}'s key ${key.keyId}`);
  }
  return undefined;
}

/** Checked after the signature, so a forged date is reported as a bad signature. */
function checkFreshness(statement: Statement, at: Date | undefined): Refusal | undefined {
  if (at === undefined) return undefined;
  const signedAt = Date.parse(statement.signedAt);
  if (signedAt > at.getTime() + STATEMENT_CLOCK_SKEW_MS) {
    return refuse('signed_in_future', `the statement is signed at ${statement.signedAt}, after ${at.toISOString()}`);
  }
  const maxAge = STATEMENT_MAX_AGE_MS[statement.kind];
  if (signedAt < at.getTime() - maxAge) {
    const hours = maxAge / 3_600_000;
    return refuse(
      'statement_expired',
      `the statement is signed at ${statement.signedAt}; a ${statement.kind} counts for ${hours} hour${hours === 1 ? '' : 's'} after signing`,
    );
  }
  return undefined;
}

function signerOf(statement: Statement): string {
  switch (statement.kind) {
    case 'decision':
      return statement.approverId;
    case 'warehouse_receipt':
      return statement.scannedBy;
    case 'refund_request':
      return statement.requestedBy;
  }
}

function checkRole(signer: ResolvedPrincipal, role: Role): Refusal | undefined {
  return signer.roles.includes(role) ? undefined : refuse('role_missing', `${signer.id} does not have the ${role} role`);
}

function checkSubject(statement: Statement, expect: Expectation, signer: ResolvedPrincipal): Refusal | undefined {
  const refundId = statement.kind === 'refund_request' ? statement.request.refundId : statement.refundId;
  if (expect.refundId !== undefined && refundId !== expect.refundId) {
    return refuse('wrong_refund', `the statement is about refund ${refundId}, not ${expect.refundId}`);
  }
  if (statement.kind !== 'decision' || expect.kind !== 'decision') return undefined;
  if (statement.amount !== expect.amount || statement.currency !== expect.currency) {
    const signedFor = formatMinor(statement.amount, statement.currency);
    return refuse('amount_mismatch', `the decision is for ${signedFor}; the refund is ${formatMinor(expect.amount, expect.currency)}`);
  }
  return statement.decision === 'approve' ? checkLimit(signer, statement.amount, statement.currency) : undefined;
}

/** An approval needs a limit in the refund's own currency at least as large as the amount. */
function checkLimit(signer: ResolvedPrincipal, amount: number, currency: string): Refusal | undefined {
  const limit = Object.hasOwn(signer.approvalLimits, currency) ? signer.approvalLimits[currency] : undefined;
  if (limit === undefined) return refuse('limit_exceeded', `${signer.id} has no approval limit in ${currency}`);
  if (limit < amount) {
    return refuse(
      'limit_exceeded',
      `${signer.id} may approve up to ${formatMinor(limit, currency)}; the refund is ${formatMinor(amount, currency)}`,
    );
  }
  return undefined;
}
