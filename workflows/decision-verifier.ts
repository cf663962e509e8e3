/**
 * Signed decisions, verified inside the workflow: the signer's registry records are read through
 * a local activity (so the answer is in the refund's history and replays the same), resolved under
 * the trust roots the refund pinned, and the statement verified against the refund's own amount and
 * currency. Nothing the message says about the approver counts; the approver's roles and limit
 * come from the registry entry two admins endorsed. Each statement counts once.
 */
import type { ApprovalRefusal, ApprovalRule, Policy } from './policy';
import type { VerifiedStatement } from './refund-model';
import type { ApprovalCommand } from './schemas';
import { StatementVerifier, type Fact } from './statement-verifier';
import type { AnySigned, DecisionStatement, RegistryRecords, StatementRule, TrustRoots } from './statements';

/** What a refund pins at start and keeps for life. */
export interface Pinned {
  policy: Policy;
  trustRoots: TrustRoots;
}

/** A principal's registry records as a local activity read them (unverified), with the id they are for. */
export interface PrincipalRecords {
  principalId: string;
  records: RegistryRecords;
}

/** The refund a decision must be about, as the workflow itself knows it (never the read model). */
export interface DecisionSubject {
  refundId: string;
  amount: number;
  currency: string;
}

export type DecisionVerdict =
  | { ok: true; command: ApprovalCommand; statement: VerifiedStatement; facts: Fact[] }
  | { ok: false; refusal: ApprovalRefusal; facts: Fact[] };

/** The statement rules that the approval rules already name. */
const RULE_NAMES: Partial<Record<StatementRule, ApprovalRule>> = {
  role_missing: 'approver_role_required',
  limit_exceeded: 'approval_limit_below_amount',
};

export class DecisionVerifier {
  private readonly statements: StatementVerifier;

  constructor(trustRoots: TrustRoots, lookupPrincipal: (principalId: string) => Promise<RegistryRecords>) {
    this.statements = new StatementVerifier(trustRoots, lookupPrincipal);
  }

  async verify(signed: AnySigned<DecisionStatement>, subject: DecisionSubject): Promise<DecisionVerdict> {
    const check = await this.statements.verify(
      signed,
      { kind: 'decision', role: 'approver', ...subject },
      (rule) => RULE_NAMES[rule] ?? rule,
    );
    if (!check.ok) return { ok: false, refusal: { rule: check.rule as ApprovalRule, message: check.message }, facts: check.facts };
    const { signer, statement } = check;
    const limit = Object.hasOwn(signer.approvalLimits, subject.currency) ? signer.approvalLimits[subject.currency]! : 0;
    const command: ApprovalCommand = {
      approver: { approverId: signer.id, roles: signer.roles, approvalLimit: limit },
      decision: { decision: statement.decision, ...(statement.reason ? { reason: statement.reason } : {}) },
    };
    return {
      ok: true,
      command,
      statement: { statementId: check.statementId, keyId: check.keyId, registryVersion: signer.version },
      facts: check.facts,
    };
  }
}
