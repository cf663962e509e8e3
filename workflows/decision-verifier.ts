/**
 * Signed decisions, verified inside the workflow: the signer's registry records are read through
 * a local activity (so the answer is in the refund's history and replays the same), resolved under
 * the trust roots the refund pinned, and the statement verified against the refund's own amount and
 * currency. Nothing the message says about the approver counts; the approver's roles and limit
 * come from the registry entry two admins endorsed. Each statement counts once.
 */
import type { ApprovalRefusal, ApprovalRule, Policy } from './policy';
import type { AuditFact, VerifiedStatement } from './refund-model';
import type { ApprovalCommand } from './schemas';
import {
  resolvePrincipal,
  statementId,
  verifyStatement,
  type DecisionStatement,
  type IgnoredRecord,
  type RegistryRecords,
  type Signed,
  type StatementRule,
  type TrustRoots,
} from './statements';

/** What a refund pins at start and keeps for life. */
export interface Pinned {
  policy: Policy;
  trustRoots: TrustRoots;
}

/** The refund a decision must be about, as the workflow itself knows it (never the read model). */
export interface DecisionSubject {
  refundId: string;
  amount: number;
  currency: string;
}

type Fact = Omit<AuditFact, 'at'>;

export type DecisionVerdict =
  | { ok: true; command: ApprovalCommand; statement: VerifiedStatement; facts: Fact[] }
  | { ok: false; refusal: ApprovalRefusal; facts: Fact[] };

/** The statement rules that the approval rules already name. */
const RULE_NAMES: Partial<Record<StatementRule, ApprovalRule>> = {
  role_missing: 'approver_role_required',
  limit_exceeded: 'approval_limit_below_amount',
};

export class DecisionVerifier {
  /** Statement ids this refund has verified: the same statement delivered twice counts once. */
  private readonly seen = new Set<string>();

  constructor(
    private readonly trustRoots: TrustRoots,
    private readonly lookupPrincipal: (principalId: string) => Promise<RegistryRecords>,
  ) {}

  async verify(signed: Signed<DecisionStatement>, subject: DecisionSubject): Promise<DecisionVerdict> {
    const claimed = signed.statement.approverId;
    const id = statementId(signed);
    const records = await this.lookupPrincipal(claimed);
    const resolution = resolvePrincipal(records, claimed, this.trustRoots, new Date(Date.now()));
    const facts = resolution.ignored.length > 0 ? [ignoredFact(claimed, resolution.ignored)] : [];
    const verdict = verifyStatement(signed, resolution, { kind: 'decision', role: 'approver', ...subject });
    const refuse = (rule: ApprovalRule, message: string): DecisionVerdict => {
      facts.push({
        kind: 'statement_rejected',
        actor: 'system',
        data: { statement: 'decision', rule, message, claimedSigner: claimed, statementId: id, keyId: signed.statement.keyId },
      });
      return { ok: false, refusal: { rule, message }, facts };
    };
    if (!verdict.ok) return refuse(RULE_NAMES[verdict.rule] ?? (verdict.rule as ApprovalRule), verdict.message);
    if (this.seen.has(verdict.statementId)) {
      return refuse('statement_replayed', `statement ${verdict.statementId} has already been received for this refund`);
    }
    this.seen.add(verdict.statementId);
    const { signer, statement } = verdict;
    const limit = Object.hasOwn(signer.approvalLimits, subject.currency) ? signer.approvalLimits[subject.currency]! : 0;
    const command: ApprovalCommand = {
      approver: { approverId: signer.id, roles: signer.roles, approvalLimit: limit },
      decision: { decision: statement.decision, ...(statement.reason ? { reason: statement.reason } : {}) },
    };
    return {
      ok: true,
      command,
      statement: { statementId: verdict.statementId, keyId: verdict.keyId, registryVersion: signer.version },
      facts,
    };
  }
}

/** Registry records that name the signer but count for nothing: evidence of tampering, or of a stale record, for the audit trail. */
export function ignoredFact(principalId: string, ignored: readonly IgnoredRecord[]): Fact {
  return {
    kind: 'registry_records_ignored',
    actor: 'system',
    data: {
      principalId,
      ignored: ignored.map(({ record, index, endorsement, version, reason, message }) => ({
        record,
        index,
        ...(endorsement !== undefined ? { endorsement } : {}),
        ...(version !== undefined ? { version } : {}),
        reason,
        message,
      })),
    },
  };
}
