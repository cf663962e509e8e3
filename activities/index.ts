/**
 * The refund workflow's activities: every side effect it has. Built per worker from its
 * dependencies, so tests run them against a real database with a chosen payment gateway.
 */
import { ApplicationFailure } from '@temporalio/common';
import { failureTypes } from '../workflows/messages';
import type { Policy } from '../workflows/policy';
import type { ReadModelSnapshot } from '../workflows/read-model-snapshot';
import type { AuditFact, AuditHead } from '../workflows/refund-model';
import type { RefundRequest } from '../workflows/schemas';
import type { RegistryRecords, TrustRoots } from '../workflows/statements';
import type { Pinned, PrincipalRecords } from '../workflows/decision-verifier';
import type { CarrierEventCheck } from '../workflows/carrier-event';
import type { SignedCarrierEvent } from '../workflows/messages';
import { verifyCarrierHmac, type CarrierSecrets } from '../config/carrier-signature';
import { appendAuditFacts } from '../store/audit-trail';
import { requestHash } from '../store/canonical';
import { inOneStatement, withTransaction, type Pool } from '../store/pool';
import { insiderActionsOf, recordCustomerIdentity, recordInsiderActions } from '../store/insider-actions';
import { classifyWriteError } from './write-failures';
import { payOut, type PaymentGateway, type PayoutReceipt } from './payments';
import { advanceRefundRow, appendAndAdvance, recordRefundStatus, upsertRefundRow } from '../store/read-model';
import { registryRecords } from '../store/registry';
import { approverStanding, assessRisk, type ApproverStandingInput, type RiskInput } from './risk';
import type { WorkerMetrics } from './metrics';
import { enteredStateAt } from '../store/service-metrics';
import { REFUND_WORKFLOW_REVISION } from '../workflows/revision';

export interface ProgressInput {
  refund: ReadModelSnapshot;
  /** Audit sequence number (within the refund) of the first fact. */
  firstSeq: number;
  facts: AuditFact[];
  /** Sent with the first batch, which creates the read-model row. */
  request?: RefundRequest;
}

export interface RefundActivityDeps {
  pool: Pool;
  /** The policy new refunds pin; its circuit-breaker limits apply to every employee from now on. */
  policy: Policy;
  gateway: PaymentGateway;
  /** The admins whose endorsements make a registry entry count; new refunds pin them with the policy. */
  trustRoots: TrustRoots;
  /** Every carrier's webhook keys (REFUNDS_CARRIER_SECRETS): carrier events count only when one of them signed the raw body. */
  carrierSecrets: CarrierSecrets;
  /** Where payouts, rejected messages and approval latency are counted (the worker's /metrics). */
  metrics?: WorkerMetrics;
}

/** What a committed transition adds to the worker's metrics. */
interface Observed {
  rejected: string[];
  approval?: { outcome: 'approved' | 'rejected'; seconds: number };
}

export function createActivities({ pool, policy, gateway, trustRoots, carrierSecrets, metrics }: RefundActivityDeps) {
  /** The transition's writes, all or none; see recordProgress. */
  const writeProgress = async (input: ProgressInput): Promise<AuditHead | null> => {
    const { head, observed } = await writeTransition(input);
    if (metrics) {
      for (const kind of observed.rejected) metrics.rejectedMessages.inc({ kind });
      if (observed.approval) metrics.approvalLatency.observe({ outcome: observed.approval.outcome }, observed.approval.seconds);
    }
    return head;
  };
  /**
   * The first transition creates the read-model row (refusing a refund id another request holds)
   * before anything else, and writes the status document after the audit facts. A later one with
   * nothing else to write is one statement (appendAndAdvance): the facts, then the row and its
   * status. A later one that records an insider action keeps the transaction, since the insider
   * records and the breakers they may trip are worked out here, between statements; so does an
   * approval decision while metrics are counted, since its latency is read in the same
   * transaction (a failed read undoes the write, and the retry counts it).
   */
  const writeTransition = async (input: ProgressInput): Promise<{ head: AuditHead | null; observed: Observed }> => {
    const alone =
      !input.request && insiderActionsOf(input.firstSeq, input.facts).length === 0 && !(metrics && input.facts.some(isApprovalDecision));
    if (alone) {
      const { head, appended } = await inOneStatement(pool, (db) => appendAndAdvance(db, input.refund, input.firstSeq, input.facts));
      // Nothing to read: no decision among the facts (or no metrics).
      return { head, observed: metrics ? await observe(pool, input, appended) : { rejected: [] } };
    }
    return withTransaction(pool, async (client) => {
      const hash = input.request ? requestHash(input.request) : undefined;
      if (hash !== undefined && !(await upsertRefundRow(client, input.refund, hash))) {
        throw ApplicationFailure.nonRetryable(
          `refund id ${input.refund.refundId} is already used by a different request`,
          failureTypes.refundConflict,
        );
      }
      // A refused request's customer details are a forger's word: they link no accounts.
      const refused = input.facts.some((fact) => fact.kind === 'refund_requested' && fact.data.refused !== undefined);
      if (input.request && !refused) await recordCustomerIdentity(client, input.request, input.refund.requestedAt);
      await recordInsiderActions(client, policy, input.refund, input.firstSeq, input.facts);
      // Last: the refund's chain lock is held from the append until the commit, over one write of its row.
      const { head, appended } = await appendAuditFacts(client, input.refund.refundId, input.firstSeq, input.facts);
      if (hash !== undefined) await recordRefundStatus(client, input.refund, head);
      else await advanceRefundRow(client, input.refund, head);
      return { head, observed: metrics ? await observe(client, input, appended) : { rejected: [] } };
    });
  };

  /** A retried write skips the facts already written, the batch's first ones: only the last `appended` are new. */
  const observe = async (client: Parameters<typeof enteredStateAt>[0], input: ProgressInput, appended: number): Promise<Observed> => {
    const fresh = input.facts.map((fact, i) => ({ fact, seq: input.firstSeq + i })).slice(input.facts.length - appended);
    const rejected = fresh
      .filter(({ fact }) => fact.kind === 'statement_rejected' || fact.kind === 'message_rejected')
      .map(({ fact }) => fact.kind);
    const decided = fresh.find(({ fact }) => isApprovalDecision(fact));
    if (!decided) return { rejected };
    const since = await enteredStateAt(client, input.refund.refundId, 'awaiting_approval', decided.seq);
    if (!since) return { rejected };
    const seconds = Math.max(0, (Date.parse(decided.fact.at) - since.getTime()) / 1000);
    return { rejected, approval: { outcome: decided.fact.data.to === 'paying' ? 'approved' : 'rejected', seconds } };
  };

  /**
   * Writes a transition: the audit facts, the read-model row and the records the risk engine
   * counts from (insider actions, customer identity; breakers tripped by them), in one transaction
   * (one statement, when a later transition has only the facts and the row to write).
   * Answers with the refund's audit head afterwards, which the workflow keeps as its own copy.
   */
  const recordProgress = async (input: ProgressInput): Promise<AuditHead | null> =>
    writeProgress(input).catch((error: unknown) => {
      const failure = classifyWriteError(error, input.refund.refundId);
      // Loud: this refund cannot move until someone looks at the data it tried to write.
      if (failure !== error) console.error(`refund ${input.refund.refundId}: permanent write failure`, error);
      throw failure;
    });

  return {
    /**
     * The policy this refund will follow for its whole life and the trust roots it verifies signed
     * statements with, recorded in its history; with them, the registry records of the principal
     * its request names (`principalId`), unverified as lookupPrincipal's are, so that the request
     * needs no look-up of its own. `null` (an input that names no signer) looks up nothing. With
     * them, the workflow behaviour revision the refund runs under for its whole life
     * (workflows/revision.ts).
     */
    async pinPolicy(principalId: string | null): Promise<Pinned & { principal: PrincipalRecords | null; revision: number }> {
      const principal = principalId === null ? null : { principalId, records: await registryRecords(pool, principalId) };
      return { policy, trustRoots, principal, revision: REFUND_WORKFLOW_REVISION };
    },

    /**
     * Every registry record naming `principalId`, unverified: the workflow verifies them with its
     * pinned trust roots, so whatever the database holds counts only if two admins signed it.
     */
    async lookupPrincipal(principalId: string): Promise<RegistryRecords> {
      return registryRecords(pool, principalId);
    },

    /**
     * Whether a carrier event's raw body carries a valid HMAC from a key of the carrier it names.
     * Only the verdict goes into the refund's history, never a secret. The age of the signature is
     * not checked here: the API bounded it at receipt, and the carrier event inbox may deliver an
     * event long after (it came before its refund existed).
     */
    async verifyCarrierEvent(input: SignedCarrierEvent): Promise<CarrierEventCheck> {
      const check = verifyCarrierHmac(carrierSecrets, input.rawBody, input.signature === '' ? undefined : input.signature);
      return check.ok
        ? { ok: true, carrier: check.carrier, keyId: check.keyId }
        : { ok: false, rule: check.refusal, message: check.reason };
    },

    recordProgress,

    /** Scores the refund with everything known so far, under the policy it pinned. */
    async assessRisk(input: RiskInput) {
      return assessRisk(pool, input);
    },

    /**
     * The write of the transition into `risk_review`, then the risk check, in one step: the check
     * runs after the write commits, as it would as the next step. Run again after a failure, the
     * write is skipped (its facts are on the audit trail by refund_seq) and the check reads again.
     */
    async recordProgressAndAssessRisk(input: { progress: ProgressInput; risk: RiskInput }) {
      const head = await recordProgress(input.progress);
      return { head, risk: await assessRisk(pool, input.risk) };
    },

    /** An approver's recent activity and circuit breaker, checked inside the workflow before their approval counts. */
    async approverStanding(input: ApproverStandingInput) {
      return approverStanding(pool, policy, input);
    },

    /**
     * lookupPrincipal and approverStanding in one step, for an approval: the records of the
     * principal who signed it (unverified) and their standing as its approver. The workflow uses
     * the standing only if the statement verifies as signed by that principal.
     */
    async lookupApprover(input: { principalId: string; standing: ApproverStandingInput }) {
      const [records, standing] = await Promise.all([
        registryRecords(pool, input.principalId),
        approverStanding(pool, policy, input.standing),
      ]);
      return { records, standing };
    },

    async payOut(input: { refundId: string; customerId: string; amount: number; currency: string }): Promise<PayoutReceipt> {
      return payOut(pool, gateway, input, (outcome) => metrics?.payouts.inc({ outcome }));
    },
  };
}

export type RefundActivities = ReturnType<typeof createActivities>;

/** The move out of awaiting_approval by the approvers' decision, whose latency the metrics count. */
function isApprovalDecision(fact: AuditFact): boolean {
  return (
    fact.kind === 'state_changed' && fact.data.from === 'awaiting_approval' && (fact.data.to === 'paying' || fact.data.to === 'rejected')
  );
}
