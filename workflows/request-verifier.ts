/**
 * Signed refund requests, verified inside the workflow before the refund may go anywhere, the way
 * decisions are (decision-verifier.ts): the signer's registry records are read through a local
 * activity, resolved under the trust roots the refund pinned, and the statement verified as a
 * refund request by a principal with the refund_service role, about the workflow's own refund id.
 * Who requested the refund is the verified signer, never what a message says.
 */
import { ignoredFact } from './statement-verifier';
import { SignedRefundRequest } from './messages';
import type { AuditFact, RequestOrigin, RequestRefusal } from './refund-model';
import { describeIssues } from './schemas';
import { claimedSigner, resolvePrincipal, statementId, verifyParsedStatement, type RegistryRecords, type TrustRoots } from './statements';

type Fact = Omit<AuditFact, 'at'>;

export type RequestVerdict = { ok: true; origin: RequestOrigin; facts: Fact[] } | { ok: false; refusal: RequestRefusal; facts: Fact[] };

export interface RequestCheck {
  /** The refund the workflow is for (its id is `refund-<refundId>`). */
  refundId: string;
  trustRoots: TrustRoots;
  lookupPrincipal: (principalId: string) => Promise<RegistryRecords>;
  now: Date;
}

/** Whether `raw`, the workflow's input, is a refund request a registered refund service signed for this refund. */
export async function verifyRequest(raw: unknown, check: RequestCheck): Promise<RequestVerdict> {
  const signed = SignedRefundRequest.safeParse(raw);
  const claimed = claimedSigner(raw);
  const refuse = (rule: string, message: string, facts: Fact[] = []): RequestVerdict => {
    const ids = signed.success ? { statementId: statementId(signed.data), keyId: signed.data.statement.keyId } : {};
    facts.push({
      kind: 'statement_rejected',
      actor: 'system',
      data: { statement: 'refund_request', rule, message, ...(claimed ? { claimedSigner: claimed } : {}), ...ids },
    });
    return { ok: false, refusal: { rule, message }, facts };
  };
  if (!signed.success) return refuse('malformed_statement', unsignedMessage(raw, signed.error));
  const records = await check.lookupPrincipal(claimed!);
  const resolution = resolvePrincipal(records, claimed!, check.trustRoots, check.now);
  const facts = resolution.ignored.length > 0 ? [ignoredFact(claimed!, resolution.ignored)] : [];
  const verdict = verifyParsedStatement(signed.data, resolution, {
    kind: 'refund_request',
    role: 'refund_service',
    refundId: check.refundId,
    at: check.now,
  });
  if (!verdict.ok) return refuse(verdict.rule, verdict.message, facts);
  const statement = { statementId: verdict.statementId, keyId: verdict.keyId, registryVersion: verdict.signer.version };
  return { ok: true, origin: { requestedBy: verdict.signer.id, statement }, facts };
}

function unsignedMessage(raw: unknown, error: Parameters<typeof describeIssues>[0]): string {
  const isObject = typeof raw === 'object' && raw !== null;
  if (isObject && !('statement' in raw)) {
    return 'the refund request is not signed: the workflow takes { statement, signature }, a refund_request statement a registered refund service signed';
  }
  return `the signed refund request is malformed: ${describeIssues(error, { root: '(input)' })}`;
}
