/**
 * One refund's run, as the workflow sees it: the model, the audit facts not yet written, and what
 * the message handlers and the main loop do with them. `refundWorkflow` registers the handlers and
 * delegates every one of them here, so all shared state lives in one place.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RefundActivities } from '../activities';
import type { ApprovalRefusal, Policy } from './policy';
import {
  failureTypes,
  refundStatus,
  SignedCarrierEvent,
  SignedDecision,
  SignedWarehouseScan,
  signedDecisionShape,
  type RefundStatus,
} from './messages';
import {
  applyEvent,
  checkApproval,
  checkCancel,
  isStuck,
  isTerminal,
  newRefund,
  nextDeadline,
  precheckDecision,
  refusedRefund,
  reviewFindings,
  scannerIds,
  type AuditFact,
  type RefundEvent,
  type RefundModel,
} from './refund-model';
import { CancelCommand, type ApprovalCommand, describeIssues, type RefundRequest } from './schemas';
import { RefundAmountKey, RefundCurrencyKey, RefundStateKey, RefundStuckKey, RefundWaitingSinceKey } from './search-attributes';
import { readModelSnapshot } from './read-model-snapshot';
import { DecisionVerifier, type Pinned } from './decision-verifier';
import { StatementVerifier, type Fact } from './statement-verifier';
import { readCarrierEvent } from './carrier-event';
import { verifyRequest } from './request-verifier';
import { isoDurationMs } from './iso-duration';
import { checkEscalate, checkExtend, checkNudge, type OpsRefusal } from './refund-model';
import { EscalateCommand, ExtendDeadlineCommand, NudgeCommand, OPS_ACTION_REFUSED } from './ops-commands';

/** The activities on the service's own database (and the carrier signature check), run as local activities. */
export type DatabaseActivities = Pick<
  RefundActivities,
  'recordProgress' | 'assessRisk' | 'approverStanding' | 'lookupPrincipal' | 'verifyCarrierEvent'
>;

/**
 * Retried without limit: a payout that never completes is escalated, never silently dropped. The
 * attempt heartbeats while the gateway has not answered, so an attempt on a dead worker is retried
 * elsewhere after the heartbeat timeout instead of the whole attempt timeout.
 */
const payoutActivity = (policy: Policy) =>
  proxyActivities<RefundActivities>({
    startToCloseTimeout: policy.timers.payoutAttempt,
    heartbeatTimeout: PAYOUT_HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '1 second', maximumInterval: '5 minutes', nonRetryableErrorTypes: [failureTypes.paymentDeclined] },
  }).payOut;

/** Five missed heartbeats (sent every second) mean the worker running the attempt is gone. */
const PAYOUT_HEARTBEAT_TIMEOUT = '5 seconds';

/** How long `decide` waits for its decision to be written before answering without it. */
const DECISION_WRITE_WAIT = '30 seconds';

type PayoutResult = { reference: string } | { failure: unknown };

const now = () => new Date(Date.now()).toISOString();

export class RefundRun {
  /** Undefined until the policy is pinned; messages that come earlier wait in `early`, in order. */
  private model: RefundModel | undefined;
  private readonly early: RefundEvent[] = [];
  /** Facts applied but not yet written; `flushed` facts were written before them. */
  private readonly pending: AuditFact[] = [];
  private flushed = 0;
  /** Bumped by every change, so a wait can tell that something happened. */
  private version = 0;
  /** The search attributes last upserted, as `state|stuck`. */
  private published: string | undefined;
  /** Checks signed decisions against the registry under the pinned trust roots; set at start. */
  private verifier: DecisionVerifier | undefined;
  /** Checks signed warehouse receipts the same way; set at start. */
  private receipts: StatementVerifier | undefined;
  /**
   * Evidence as it arrived, not yet verified. The main loop verifies and applies it one message
   * at a time, in arrival order, between its own steps: every local activity of the main loop
   * and of evidence runs from that one place, so the order of their calls never depends on how
   * results and messages interleave within a workflow task, and a history replays as it ran.
   */
  private readonly inbox: Array<{ kind: 'carrierEvent' | 'warehouseScan'; raw: unknown }> = [];

  constructor(
    private readonly request: RefundRequest,
    private readonly activities: DatabaseActivities,
  ) {}

  /**
   * The refund under its pinned policy and trust roots, once its signed request (`signed`, the
   * workflow's input) is verified; with the messages that came first applied in order. A request
   * that does not verify leaves the refund rejected at once: nothing that came first applies.
   */
  async start({ policy, trustRoots }: Pinned, signed: unknown): Promise<void> {
    this.verifier = new DecisionVerifier(trustRoots, this.activities.lookupPrincipal);
    this.receipts = new StatementVerifier(trustRoots, this.activities.lookupPrincipal);
    const at = new Date(workflowInfo().startTime.getTime()).toISOString();
    const verdict = await verifyRequest(signed, {
      refundId: this.request.refundId,
      trustRoots,
      lookupPrincipal: this.activities.lookupPrincipal,
      now: new Date(Date.now()),
    });
    const started = verdict.ok
      ? newRefund(this.request, policy, at, verdict.origin)
      : refusedRefund(this.request, policy, at, verdict.refusal, verdict.facts);
    // Registry records that counted for nothing are written after the request they were looked up for.
    this.begin(started, verdict.ok ? verdict.facts.map((fact) => ({ ...fact, at })) : []);
  }

  private begin(started: { model: RefundModel; facts: AuditFact[] }, more: AuditFact[] = []): void {
    this.model = started.model;
    this.pending.push(...started.facts, ...more);
    for (const event of this.early.splice(0)) this.apply(event);
  }

  /** Every caller runs once the refund has started, or checks `model` first. */
  private get current(): RefundModel {
    return this.model!;
  }

  status(): RefundStatus {
    if (!this.model) throw ApplicationFailure.create({ message: 'refund is starting', type: 'RefundStarting' });
    return refundStatus(this.model);
  }

  /** A carrier event counts once the worker verified the carrier's signature on its raw body; see `verifyCarrierEvent`. */
  carrierEvent(raw: unknown): void {
    this.receive('carrierEvent', raw);
  }

  /** A warehouse scan counts once its receipt statement verifies as signed by a registered warehouse principal; see `verifyScan`. */
  warehouseScan(raw: unknown): void {
    this.receive('warehouseScan', raw);
  }

  private receive(kind: 'carrierEvent' | 'warehouseScan', raw: unknown): void {
    this.inbox.push({ kind, raw });
    this.version++;
  }

  /**
   * Verifies and applies the evidence received so far, in order; whether there was any. A
   * finished refund takes no more evidence (the model would ignore it): nothing to verify.
   */
  private async verifyEvidence(): Promise<boolean> {
    if (this.inbox.length === 0) return false;
    for (let message = this.inbox.shift(); message; message = this.inbox.shift()) {
      if (isTerminal(this.current.state)) continue;
      if (message.kind === 'warehouseScan') await this.verifyScan(message.raw);
      else await this.verifyCarrierEvent(message.raw);
    }
    return true;
  }

  private async verifyScan(raw: unknown): Promise<void> {
    const parsed = SignedWarehouseScan.safeParse(raw);
    if (!parsed.success) return this.rejectMalformed('warehouseScan', describeIssues(parsed.error, { root: 'scan' }));
    const expect = { kind: 'warehouse_receipt', role: 'warehouse', refundId: this.request.refundId } as const;
    const check = await this.receipts!.verify(parsed.data, expect);
    this.record(check.facts);
    if (!check.ok) return;
    const { statement, signer } = check;
    // The scanner is the verified signer, never a name the message carries.
    const scan = { receipt: statement.receipt, scannedBy: signer.id };
    const verified = { statementId: check.statementId, keyId: check.keyId, registryVersion: signer.version };
    this.apply({ type: 'warehouse_scan', scan, statement: verified, at: now() });
  }

  private async verifyCarrierEvent(raw: unknown): Promise<void> {
    const parsed = SignedCarrierEvent.safeParse(raw);
    if (!parsed.success) return this.rejectMalformed('carrierEvent', describeIssues(parsed.error, { root: 'carrierEvent' }));
    const check = await this.activities.verifyCarrierEvent(parsed.data);
    const reading = readCarrierEvent(parsed.data.rawBody, check, this.request);
    if (!reading.ok) {
      const keyId = check.ok ? { keyId: check.keyId } : {};
      const data = { statement: 'carrier_event', rule: reading.rule, message: reading.message, ...keyId };
      return this.record([{ kind: 'statement_rejected', actor: 'system', data }]);
    }
    this.apply({ type: 'carrier_event', event: reading.event, keyId: reading.keyId, at: now() });
  }

  /** Facts of a verification (a refusal, ignored registry rows), to be written with the next batch. */
  private record(facts: readonly Fact[]): void {
    if (facts.length === 0) return;
    this.pending.push(...facts.map((fact) => ({ ...fact, at: now() })));
    this.version++;
  }

  /** Refuses at once, outside history, what needs no registry look-up: see `precheckDecision`. */
  validateDecision(raw: unknown): void {
    const signed = signedDecisionShape(raw).safeParse(raw);
    if (!signed.success) throw invalidMessage(describeIssues(signed.error, { root: 'decision' }));
    const refusal = this.model
      ? precheckDecision(this.model, signed.data.statement)
      : { rule: 'not_awaiting_approval' as const, message: 'refund is starting, not awaiting approval' };
    if (refusal) throw approvalRefused(refusal);
  }

  /**
   * A signed decision counts only once its signature verifies with a key the registry gives its
   * signer, under the trust roots this refund pinned, for this refund's own amount and currency;
   * roles and limits come from the registry. Every refusal here is written to the audit trail.
   */
  async decide(raw: unknown): Promise<RefundStatus> {
    const signed = SignedDecision.parse(raw);
    const verdict = await this.verifier!.verify(signed, {
      refundId: this.request.refundId,
      amount: this.current.amount,
      currency: this.request.currency,
    });
    this.pending.push(...verdict.facts.map((fact) => ({ ...fact, at: now() })));
    if (!verdict.ok) {
      this.version++;
      // The refusal is the answer either way; its audit fact is written when the database takes it.
      await this.recorded();
      throw approvalRefused(verdict.refusal);
    }
    const { command, statement } = verdict;
    // The approver's own activity and circuit breaker are checked here, in the workflow, so no
    // caller can skip the check; a rejection needs no check.
    const standing =
      command.decision.decision === 'approve' ? await this.activities.approverStanding(this.standingInput(command)) : undefined;
    // The refund may have moved on while the checks ran (new evidence, another decision).
    const refusal = checkApproval(this.current, command);
    if (refusal) throw approvalRefused(refusal);
    this.apply({ type: 'approval', command, statement, ...(standing ? { standing } : {}), at: now() });
    if (!(await this.recorded())) throw decisionNotYetRecorded(this.request.refundId);
    return refundStatus(this.current);
  }

  /**
   * Waits until what is applied now is in the audit trail and the read model, where the next
   * check counts it. Once the refund has ended, the last write closes it: no need to wait.
   */
  private async recorded(): Promise<boolean> {
    const recorded = this.flushed + this.pending.length;
    const written = () => this.flushed >= recorded || isTerminal(this.current.state);
    // Bounded: a caller is never left waiting on a database that does not take the write. The
    // main loop keeps writing (and retrying) on its own, so giving up here loses nothing.
    return condition(written, DECISION_WRITE_WAIT);
  }

  validateCancel(raw: unknown): void {
    const command = CancelCommand.safeParse(raw);
    if (!command.success) throw invalidMessage(describeIssues(command.error));
    const refusal = this.model && checkCancel(this.model);
    if (refusal) throw ApplicationFailure.create({ message: refusal, type: failureTypes.cancelRefused });
  }

  async cancel(raw: unknown): Promise<RefundStatus> {
    await condition(() => this.model !== undefined);
    this.apply({ type: 'cancel', command: CancelCommand.parse(raw), at: now() });
    return refundStatus(this.current);
  }

  /**
   * Operations actions (ops-commands.ts): each validator refuses malformed input and a refused
   * rule outside history; each handler applies the action once the refund has started and
   * answers once it is on the audit trail (or after the bounded write wait, as decisions do).
   */
  validateEscalate(raw: unknown): void {
    const command = EscalateCommand.safeParse(raw);
    if (!command.success) throw invalidMessage(describeIssues(command.error));
    this.refuseIf(this.model && checkEscalate(this.model));
  }

  async escalate(raw: unknown): Promise<RefundStatus> {
    const { escalatedBy, group, reason } = EscalateCommand.parse(raw);
    await condition(() => this.model !== undefined);
    this.refuseIf(checkEscalate(this.current));
    this.apply({ type: 'ops_escalated', group, by: escalatedBy, reason, at: now() });
    await this.recorded();
    return refundStatus(this.current);
  }

  validateExtendDeadline(raw: unknown): void {
    const command = ExtendDeadlineCommand.safeParse(raw);
    if (!command.success) throw invalidMessage(describeIssues(command.error));
    // The cap is counted against the refund's own extensions, so it needs the refund to have started.
    if (!this.model) this.refuseIf({ rule: 'refund_starting', message: 'refund is starting; retry in a second' });
    this.refuseIf(checkExtend(this.current, isoDurationMs(command.data.by)!));
  }

  async extendDeadline(raw: unknown): Promise<RefundStatus> {
    const { extendedBy, by, reason } = ExtendDeadlineCommand.parse(raw);
    const ms = isoDurationMs(by)!;
    this.refuseIf(checkExtend(this.current, ms));
    this.apply({ type: 'deadline_extended', duration: by, ms, by: extendedBy, reason, at: now() });
    await this.recorded();
    return refundStatus(this.current);
  }

  validateNudge(raw: unknown): void {
    const command = NudgeCommand.safeParse(raw);
    if (!command.success) throw invalidMessage(describeIssues(command.error));
    if (!this.model) this.refuseIf({ rule: 'refund_starting', message: 'refund is starting; retry in a second' });
    this.refuseIf(checkNudge(this.current, command.data.party));
  }

  async nudge(raw: unknown): Promise<RefundStatus> {
    const { nudgedBy, party, reason } = NudgeCommand.parse(raw);
    this.refuseIf(checkNudge(this.current, party));
    this.apply({ type: 'nudged', party, by: nudgedBy, reason, at: now() });
    await this.recorded();
    return refundStatus(this.current);
  }

  private refuseIf(refusal: OpsRefusal | undefined): void {
    if (refusal) throw ApplicationFailure.create({ message: refusal.message, type: OPS_ACTION_REFUSED, details: [refusal] });
  }

  /** The main loop: writes every change, runs the risk check and the payout, and waits for the rest until the refund ends. */
  async run(): Promise<RefundStatus> {
    while (!isTerminal(this.current.state)) {
      await this.flush();
      // What the evidence changed is written before the refund acts on it.
      if (await this.verifyEvidence()) continue;
      const current = this.current;
      switch (current.state) {
        case 'risk_review': {
          const evidenceVersion = current.evidenceVersion;
          const risk = await this.activities.assessRisk(this.riskInput(current));
          this.apply({ type: 'risk_assessed', risk, evidenceVersion, at: now() });
          break;
        }
        case 'paying': {
          // Messages keep arriving while the payout runs; what they change is written meanwhile.
          const payout = this.startPayout(current);
          while (!payout.result) {
            await this.waitForChange(() => payout.result !== undefined);
            await this.verifyEvidence();
            await this.flush();
          }
          this.apply(payoutEvent(payout.result));
          break;
        }
        default:
          await this.waitForChange();
      }
    }
    await this.flush();
    // An approval that finished the refund answers its caller before the workflow closes.
    await condition(allHandlersFinished);
    // A decision refused as the refund finished may have left a refusal to write.
    if (this.pending.length > 0) await this.flush();
    return refundStatus(this.current);
  }

  private apply(event: RefundEvent): void {
    if (!this.model) {
      this.early.push(event);
      return;
    }
    const result = applyEvent(this.model, event);
    this.pending.push(...result.facts);
    if (result.model !== this.model) {
      this.model = result.model;
      this.version++;
    }
  }

  /**
   * A malformed message cannot be trusted for anything, including its event id: it is written to
   * the audit trail and otherwise dropped.
   */
  private rejectMalformed(kind: string, issues: string): void {
    this.pending.push({ kind: 'message_rejected', actor: 'system', at: now(), data: { message: kind, issues } });
    this.version++;
  }

  /** Writes the pending facts with the read-model row, then the search attributes if they changed. */
  private async flush(): Promise<void> {
    const current = this.current;
    const batch = this.pending.slice();
    const snapshot = readModelSnapshot(current, workflowInfo().workflowId, this.flushed + batch.length);
    if (batch.length > 0) {
      const first = this.flushed === 0 ? { request: this.request } : {};
      const head = await this.activities.recordProgress({ refund: snapshot, firstSeq: this.flushed + 1, facts: batch, ...first });
      this.pending.splice(0, batch.length);
      this.flushed += batch.length;
      // Writes recorded before recordProgress answered with the head replay with no result: no head.
      if (head) this.model = { ...this.current, auditHead: head };
    }
    // The model as written, not as it may have moved on during the write.
    this.publish(current);
  }

  private publish(model: RefundModel): void {
    const searchable = `${model.state}|${isStuck(model)}`;
    if (searchable === this.published) return;
    upsertSearchAttributes([
      { key: RefundStateKey, value: model.state },
      { key: RefundWaitingSinceKey, value: new Date(model.stateSince) },
      { key: RefundAmountKey, value: model.amount },
      { key: RefundCurrencyKey, value: model.request.currency },
      { key: RefundStuckKey, value: isStuck(model) },
    ]);
    this.published = searchable;
  }

  /** Waits until something changes the model, or until the model's next deadline passes. */
  private async waitForChange(until?: () => boolean): Promise<void> {
    // Facts applied while the last write was in flight are written now, and evidence received
    // meanwhile is verified now, not after the next change.
    if (this.pending.length > 0 || this.inbox.length > 0) return;
    const seen = this.version;
    const deadline = nextDeadline(this.current);
    const changed = () => this.version !== seen || (until?.() ?? false);
    if (!deadline) return void (await condition(changed));
    const fired = !(await condition(changed, Math.max(deadline.at - Date.now(), 1)));
    if (fired) this.apply({ type: deadline.event, state: deadline.state, at: now() } as RefundEvent);
  }

  /** Starts the payout; `result` is set once it settles. */
  private startPayout(current: RefundModel): { result?: PayoutResult } {
    const payout: { result?: PayoutResult } = {};
    const { refundId, customerId, currency } = this.request;
    payoutActivity(current.policy)({ refundId, customerId, amount: current.amount, currency }).then(
      (receipt) => {
        payout.result = receipt;
      },
      (failure: unknown) => {
        payout.result = { failure };
      },
    );
    return payout;
  }

  private riskInput(current: RefundModel) {
    return {
      refundId: this.request.refundId,
      request: this.request,
      policy: current.policy,
      amount: current.amount,
      findings: reviewFindings(current),
      carrierEvents: current.carrierEvents,
      receipts: current.receipts,
      approvers: current.approvals.filter((a) => a.decision === 'approve').map((a) => a.approverId),
    };
  }

  private standingInput(command: ApprovalCommand) {
    const current = this.current;
    return {
      refundId: this.request.refundId,
      approverId: command.approver.approverId,
      policy: current.policy,
      customerId: this.request.customerId,
      initiatedBy: this.request.initiatedBy,
      scanners: scannerIds(current),
      amount: current.amount,
      currency: this.request.currency,
    };
  }
}

function payoutEvent(result: PayoutResult): RefundEvent {
  if ('reference' in result) return { type: 'payout_succeeded', reference: result.reference, at: now() };
  const cause = result.failure instanceof ActivityFailure ? result.failure.cause : result.failure;
  const code = cause instanceof ApplicationFailure && cause.type ? cause.type : 'PayoutFailed';
  return { type: 'payout_failed', code, message: cause instanceof Error ? cause.message : String(cause), at: now() };
}

/**
 * The decision counts (it is applied, and the refund acts on it) but the database has not taken
 * its audit fact yet; the workflow writes it as soon as the database does. Callers read the
 * refund's status rather than send the decision again.
 */
function decisionNotYetRecorded(refundId: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `the decision on refund ${refundId} is applied but not yet written to the audit trail: the database has not accepted the write for ${DECISION_WRITE_WAIT}; it is written as soon as the database accepts it`,
    type: failureTypes.decisionNotYetRecorded,
  });
}

function invalidMessage(issues: string): ApplicationFailure {
  return ApplicationFailure.create({ message: issues, type: failureTypes.invalidMessage });
}

function approvalRefused(refusal: ApprovalRefusal): ApplicationFailure {
  return ApplicationFailure.create({ message: refusal.message, type: failureTypes.approvalRefused, details: [refusal] });
}
