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
  isCancellation,
  proxyActivities,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RefundActivities } from '../activities';
import type { ApprovalRefusal, Policy, RiskAssessment } from './policy';
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
import { CancelCommand, describeIssues, type RefundRequest } from './schemas';
import { claimedSigner, type RegistryRecords } from './statements';
import { RefundAmountKey, RefundCurrencyKey, RefundStateKey, RefundStuckKey, RefundWaitingSinceKey } from './search-attributes';
import { readModelSnapshot } from './read-model-snapshot';
import { DecisionVerifier, type Pinned, type PrincipalRecords } from './decision-verifier';
import { REFUND_WORKFLOW_REVISION } from './revision';
import { StatementVerifier, type Fact } from './statement-verifier';
import { readCarrierEvent } from './carrier-event';
import { verifyRequest } from './request-verifier';
import { isoDurationMs } from './iso-duration';
import { checkEscalate, checkExtend, checkNudge, type ApproverStanding, type OpsRefusal } from './refund-model';
import { EscalateCommand, ExtendDeadlineCommand, NudgeCommand, OPS_ACTION_REFUSED } from './ops-commands';

/** The activities on the service's own database (and the carrier signature check), run as local activities. */
export type DatabaseActivities = Pick<
  RefundActivities,
  | 'recordProgress'
  | 'recordProgressAndAssessRisk'
  | 'assessRisk'
  | 'approverStanding'
  | 'lookupPrincipal'
  | 'lookupApprover'
  | 'verifyCarrierEvent'
>;

/** The two writes, as a proxy that gives up after WRITE_BOUND (see `refundWorkflow`'s `boundedWrites`). */
export type BoundedWrites = Pick<RefundActivities, 'recordProgress' | 'recordProgressAndAssessRisk'>;

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

/**
 * How long the database may refuse a write before the write gives up (its schedule-to-close
 * timeout), and so how long a decision or an operations action waits for its audit fact before
 * it is answered without it.
 */
export const WRITE_BOUND = '30 seconds';

type PayoutResult = { reference: string } | { failure: unknown };

/** A message from outside, waiting for the main loop: evidence (signals) and the updates. */
type Message = Evidence | Update;
type Evidence = { kind: 'carrierEvent' | 'warehouseScan'; raw: unknown };
type Update = { kind: 'decision' | 'cancel' | 'escalate' | 'extendDeadline' | 'nudge'; raw: unknown; answer: (outcome: Outcome) => void };

/** What the main loop made of an update: applied, or refused with the failure its caller gets. */
type Outcome = { ok: true } | { ok: false; failure: ApplicationFailure };

/**
 * The timer of the refund's next deadline, started once per deadline (not at every wait) and never
 * cancelled: one the refund has moved past is only no longer looked at.
 */
interface DeadlineTimer {
  key: string;
  deadline: NonNullable<ReturnType<typeof nextDeadline>>;
  fired: boolean;
}

const now = () => new Date(Date.now()).toISOString();

export class RefundRun {
  /** Undefined until the policy is pinned; messages that come earlier wait in `early`, in order. */
  private model: RefundModel | undefined;
  private readonly early: RefundEvent[] = [];
  /** Facts applied but not yet written; `flushed` facts were written before them. */
  private readonly pending: AuditFact[] = [];
  private flushed = 0;
  /** The search attributes last upserted, as `state|stuck`. */
  private published: string | undefined;
  /** Checks signed decisions against the registry under the pinned trust roots; set at start. */
  private verifier: DecisionVerifier | undefined;
  /** Checks signed warehouse receipts the same way; set at start. */
  private receipts: StatementVerifier | undefined;
  /**
   * Every message from outside (evidence and updates) as it arrived, not yet handled. The main
   * loop takes them one at a time, in arrival order, and only when it has nothing else to do:
   * after its own step (a write, the risk check) it never looks here first. A message that
   * arrives while a local activity runs reaches the workflow before that activity's result on
   * the first run but after it on replay; since what the loop does after a result never depends
   * on whether a message is waiting, and waiting itself issues no command (the deadline has a
   * timer of its own), a history replays as it ran whichever came first.
   */
  private readonly inbox: Message[] = [];
  /** The payout while it runs; `result` is set once it settles. */
  private payout: { result?: PayoutResult } | undefined;
  private timer: DeadlineTimer | undefined;
  private readAhead: PrincipalRecords | null = null;
  /**
   * The facts up to this sequence number were in a write that gave up after WRITE_BOUND (the
   * database kept refusing them): whoever waits on them is answered without them, and they are
   * written again. Only ever grows.
   */
  private stalledThrough = 0;
  /** The behaviour revision this refund started under (workflows/revision.ts). */
  private revision = REFUND_WORKFLOW_REVISION;

  constructor(
    private readonly request: RefundRequest,
    private readonly activities: DatabaseActivities,
    private readonly boundedWrites: BoundedWrites,
  ) {}

  /**
   * The refund under its pinned policy and trust roots, once its signed request (`signed`, the
   * workflow's input) is verified; with the messages that came first applied in order. A request
   * that does not verify leaves the refund rejected at once: nothing that came first applies.
   * `principal` is the request's claimed signer's registry records, read with the policy;
   * `revision` the workflow behaviour revision pinned with it (workflows/revision.ts).
   */
  async start(
    { policy, trustRoots }: Pinned,
    signed: unknown,
    principal: PrincipalRecords | null = null,
    revision = REFUND_WORKFLOW_REVISION,
  ): Promise<void> {
    this.revision = revision;
    const lookup = (id: string) => this.lookupPrincipal(id);
    this.verifier = new DecisionVerifier(trustRoots, lookup);
    this.receipts = new StatementVerifier(trustRoots, lookup);
    const at = new Date(workflowInfo().startTime.getTime()).toISOString();
    this.readAhead = principal;
    const verdict = await verifyRequest(signed, {
      refundId: this.request.refundId,
      trustRoots,
      lookupPrincipal: lookup,
      now: new Date(Date.now()),
    });
    const started = verdict.ok
      ? newRefund(this.request, policy, at, verdict.origin)
      : refusedRefund(this.request, policy, at, verdict.refusal, verdict.facts);
    // Registry records that counted for nothing are written after the request they were looked up for.
    this.begin(started, verdict.ok ? verdict.facts.map((fact) => ({ ...fact, at })) : []);
  }

  /**
   * A principal's registry records: read ahead with another step (the request's signer with the
   * policy, an approver with their standing), or else read now by a local activity of their own.
   * What was read ahead serves the one look-up it was read for.
   */
  private async lookupPrincipal(principalId: string): Promise<RegistryRecords> {
    const ahead = this.readAhead;
    this.readAhead = null;
    return ahead?.principalId === principalId ? ahead.records : this.activities.lookupPrincipal(principalId);
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
  }

  /** Queues an update for the main loop and waits for what it made of it. */
  private handOver(kind: Update['kind'], raw: unknown): Promise<Outcome> {
    return new Promise((answer) => this.inbox.push({ kind, raw, answer }));
  }

  /**
   * Handles one message. A finished refund takes no more evidence (the model would ignore it:
   * nothing to verify) and refuses every update without a look-up.
   */
  private async handle(message: Message): Promise<void> {
    if (!('answer' in message)) {
      if (isTerminal(this.current.state)) return;
      return message.kind === 'warehouseScan' ? this.verifyScan(message.raw) : this.verifyCarrierEvent(message.raw);
    }
    const { answer, raw } = message;
    try {
      switch (message.kind) {
        case 'decision':
          return answer(await this.applyDecision(raw));
        case 'cancel':
          return answer(this.applyCancel(raw));
        case 'escalate':
          return answer(this.applyEscalate(raw));
        case 'extendDeadline':
          return answer(this.applyExtendDeadline(raw));
        case 'nudge':
          return answer(this.applyNudge(raw));
      }
    } catch (error) {
      // An update's failure belongs to its caller, never to the refund.
      answer({ ok: false, failure: asFailure(error) });
    }
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
    this.pending.push(...facts.map((fact) => ({ ...fact, at: now() })));
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
   * The main loop checks and applies it (see `applyDecision`); the caller is answered once its
   * facts are written, or after the bounded wait.
   */
  async decide(raw: unknown): Promise<RefundStatus> {
    const outcome = await this.handOver('decision', raw);
    // The refusal is the answer either way; its audit fact is written when the database takes it.
    const written = await this.recorded();
    if (!outcome.ok) throw outcome.failure;
    if (!written) throw decisionNotYetRecorded(this.request.refundId);
    return refundStatus(this.current);
  }

  private async applyDecision(raw: unknown): Promise<Outcome> {
    const parsed = SignedDecision.safeParse(raw);
    if (!parsed.success) return refused(invalidMessage(describeIssues(parsed.error, { root: 'decision' })));
    // A refund that has moved on needs no look-up to refuse a decision.
    const early = precheckDecision(this.current, parsed.data.statement);
    if (early) return refused(approvalRefused(early));
    // An approval's signer is looked up with their standing, in one local activity; the standing
    // counts only for the signer the statement verifies as.
    const claimed = claimedSigner(parsed.data);
    let ahead: { approverId: string; standing: ApproverStanding } | undefined;
    if (parsed.data.statement.decision === 'approve' && claimed) {
      const looked = await this.activities.lookupApprover({ principalId: claimed, standing: this.standingInput(claimed) });
      this.readAhead = { principalId: claimed, records: looked.records };
      ahead = { approverId: claimed, standing: looked.standing };
    }
    const verdict = await this.verifier!.verify(parsed.data, {
      refundId: this.request.refundId,
      amount: this.current.amount,
      currency: this.request.currency,
    });
    this.record(verdict.facts);
    if (!verdict.ok) return refused(approvalRefused(verdict.refusal));
    const { command, statement } = verdict;
    // The approver's own activity and circuit breaker are checked here, in the workflow, so no
    // caller can skip the check; a rejection needs no check.
    const approverId = command.approver.approverId;
    const standing =
      command.decision.decision !== 'approve'
        ? undefined
        : ahead?.approverId === approverId
          ? ahead.standing
          : await this.activities.approverStanding(this.standingInput(approverId));
    const refusal = checkApproval(this.current, command);
    if (refusal) return refused(approvalRefused(refusal));
    this.apply({ type: 'approval', command, statement, ...(standing ? { standing } : {}), at: now() });
    return { ok: true };
  }

  /**
   * Waits until what is applied now is in the audit trail and the read model, where the next
   * check counts it. Once the refund has ended, the last write closes it: no need to wait.
   */
  private async recorded(): Promise<boolean> {
    const recorded = this.flushed + this.pending.length;
    const written = () => this.flushed >= recorded || isTerminal(this.current.state);
    // Refunds started before revision 2 replay as they ran: a timer per wait (cancelled once the
    // write lands), which their histories hold wherever the write outlasted a workflow task.
    if (this.revision < 2) return condition(written, WRITE_BOUND);
    // Bounded with no timer of its own (a timer per wait, cancelled once the write lands, costs a
    // command and a CancelledFailure on every decision): the write that carries these facts gives
    // up after WRITE_BOUND, which ends this wait. That write is the main loop's next one: the loop
    // handles a message only once everything before it is written, and writes right after it, so
    // the bound runs from about now. The loop keeps writing on its own, so giving up here loses
    // nothing.
    await condition(() => written() || this.stalledThrough >= recorded);
    return written();
  }

  validateCancel(raw: unknown): void {
    const command = CancelCommand.safeParse(raw);
    if (!command.success) throw invalidMessage(describeIssues(command.error));
    const refusal = this.model && checkCancel(this.model);
    if (refusal) throw ApplicationFailure.create({ message: refusal, type: failureTypes.cancelRefused });
  }

  async cancel(raw: unknown): Promise<RefundStatus> {
    const outcome = await this.handOver('cancel', raw);
    if (!outcome.ok) throw outcome.failure;
    return refundStatus(this.current);
  }

  /** The refund may have moved on (to paying) since the validator accepted the cancel. */
  private applyCancel(raw: unknown): Outcome {
    const command = CancelCommand.parse(raw);
    const refusal = checkCancel(this.current);
    if (refusal) return refused(ApplicationFailure.create({ message: refusal, type: failureTypes.cancelRefused }));
    this.apply({ type: 'cancel', command, at: now() });
    return { ok: true };
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
    return this.operate('escalate', raw);
  }

  private applyEscalate(raw: unknown): Outcome {
    const { escalatedBy, group, reason } = EscalateCommand.parse(raw);
    this.refuseIf(checkEscalate(this.current));
    this.apply({ type: 'ops_escalated', group, by: escalatedBy, reason, at: now() });
    return { ok: true };
  }

  /** An operations action: applied by the main loop, answered once it is on the audit trail (or after the bounded wait). */
  private async operate(kind: 'escalate' | 'extendDeadline' | 'nudge', raw: unknown): Promise<RefundStatus> {
    const outcome = await this.handOver(kind, raw);
    if (!outcome.ok) throw outcome.failure;
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
    return this.operate('extendDeadline', raw);
  }

  private applyExtendDeadline(raw: unknown): Outcome {
    const { extendedBy, by, reason } = ExtendDeadlineCommand.parse(raw);
    const ms = isoDurationMs(by)!;
    this.refuseIf(checkExtend(this.current, ms));
    this.apply({ type: 'deadline_extended', duration: by, ms, by: extendedBy, reason, at: now() });
    return { ok: true };
  }

  validateNudge(raw: unknown): void {
    const command = NudgeCommand.safeParse(raw);
    if (!command.success) throw invalidMessage(describeIssues(command.error));
    if (!this.model) this.refuseIf({ rule: 'refund_starting', message: 'refund is starting; retry in a second' });
    this.refuseIf(checkNudge(this.current, command.data.party));
  }

  async nudge(raw: unknown): Promise<RefundStatus> {
    return this.operate('nudge', raw);
  }

  private applyNudge(raw: unknown): Outcome {
    const { nudgedBy, party, reason } = NudgeCommand.parse(raw);
    this.refuseIf(checkNudge(this.current, party));
    this.apply({ type: 'nudged', party, by: nudgedBy, reason, at: now() });
    return { ok: true };
  }

  private refuseIf(refusal: OpsRefusal | undefined): void {
    if (refusal) throw ApplicationFailure.create({ message: refusal.message, type: OPS_ACTION_REFUSED, details: [refusal] });
  }

  /**
   * The main loop: writes every change, runs the risk check and the payout, keeps the deadline's
   * timer, and otherwise takes the next message (or the payout's result, or the deadline) until
   * the refund ends. Its own steps come first; messages wait for the loop to be idle.
   */
  async run(): Promise<RefundStatus> {
    while (!isTerminal(this.current.state)) {
      if (this.current.state === 'risk_review' && this.pending.length > 0) {
        // The write into risk_review and the risk check, in one local activity.
        const current = this.current;
        const write = await this.flush(this.riskInput(current));
        // A write the database refused for WRITE_BOUND is tried again before anything else.
        if (!write.written) continue;
        this.apply({ type: 'risk_assessed', risk: write.risk!, evidenceVersion: current.evidenceVersion, at: now() });
        continue;
      }
      if (!(await this.flush()).written) continue;
      this.keepDeadlineTimer();
      const current = this.current;
      if (current.state === 'risk_review') {
        const evidenceVersion = current.evidenceVersion;
        const risk = await this.activities.assessRisk(this.riskInput(current));
        this.apply({ type: 'risk_assessed', risk, evidenceVersion, at: now() });
        continue;
      }
      // Messages keep arriving while the payout runs; what they change is written meanwhile.
      if (current.state === 'paying') this.payout ??= this.startPayout(current);
      const timer = this.timer;
      // The search attributes name the state the refund rests in, set as it comes to rest: a
      // state passed through within one workflow task (risk_review) is never set.
      this.publish(current);
      await condition(() => this.inbox.length > 0 || this.payout?.result !== undefined || timer?.fired === true);
      const message = this.inbox.shift();
      if (message) await this.handle(message);
      else if (this.payout?.result) {
        const { result } = this.payout;
        this.payout = undefined;
        this.apply(payoutEvent(result));
      } else if (timer?.fired) {
        this.timer = undefined;
        const { event, state } = timer.deadline;
        this.apply({ type: event, state, at: now() } as RefundEvent);
      }
    }
    // The deadline's timer lapses with the workflow (cancelling it would be one more event).
    await this.flushAll();
    this.publish(this.current);
    // Updates accepted before the refund ended are answered (refused) now, so that none waits on
    // a loop that has stopped; an approval that finished the refund answers its caller too.
    while (!allHandlersFinished()) {
      await condition(() => this.inbox.length > 0 || allHandlersFinished());
      const message = this.inbox.shift();
      if (message) await this.handle(message);
      // A decision refused as the refund finished may have left a refusal to write.
      await this.flushAll();
    }
    await this.flushAll();
    return refundStatus(this.current);
  }

  /**
   * Starts the timer of the model's next deadline when it changes: one timer per deadline, not one
   * per wait, so waiting issues no command of its own.
   */
  private keepDeadlineTimer(): void {
    const deadline = nextDeadline(this.current);
    const key = deadline && `${deadline.event}|${deadline.state}|${deadline.at}`;
    if (this.timer?.key === key) return;
    // A superseded timer is left to lapse (cancelling it would be one more event): it fires, and
    // is ignored, only if the refund outlives it, which the later stages' shorter deadlines make rare.
    this.timer = undefined;
    if (!deadline || !key) return;
    const timer: DeadlineTimer = { key, deadline, fired: false };
    sleep(Math.max(deadline.at - Date.now(), 1)).then(
      () => {
        timer.fired = true;
      },
      (error: unknown) => {
        if (!isCancellation(error)) throw error;
      },
    );
    this.timer = timer;
  }

  private apply(event: RefundEvent): void {
    if (!this.model) {
      this.early.push(event);
      return;
    }
    const result = applyEvent(this.model, event);
    this.pending.push(...result.facts);
    this.model = result.model;
  }

  /**
   * A malformed message cannot be trusted for anything, including its event id: it is written to
   * the audit trail and otherwise dropped.
   */
  private rejectMalformed(kind: string, issues: string): void {
    this.pending.push({ kind: 'message_rejected', actor: 'system', at: now(), data: { message: kind, issues } });
  }

  /** Writes the pending facts, again as long as the database refuses them. */
  private async flushAll(): Promise<void> {
    while (!(await this.flush()).written);
  }

  /**
   * Writes the pending facts with the read-model row. With `risk`, the risk check runs in the same
   * local activity, after the write; its assessment comes with the answer. A write the database
   * refused for WRITE_BOUND answers `written: false` and leaves the facts pending, to be written
   * again; any other failure (one the write says can never succeed) fails the refund as before.
   */
  private async flush(risk?: ReturnType<RefundRun['riskInput']>): Promise<Write> {
    const batch = this.pending.slice();
    if (batch.length === 0) return { written: true };
    const through = this.flushed + batch.length;
    const snapshot = readModelSnapshot(this.current, workflowInfo().workflowId, through);
    const first = this.flushed === 0 ? { request: this.request } : {};
    const progress = { refund: snapshot, firstSeq: this.flushed + 1, facts: batch, ...first };
    // The first write of these facts is bounded, for whoever waits on them. Once it gave up,
    // every such caller has been answered and no message is handled until they are written
    // (see `recorded`), so the next try waits as long as the database needs: its retries back
    // off to 30 s apart, as a lasting outage should, rather than start over every WRITE_BOUND.
    // Refunds started before revision 2 write as they did then: without the bound (their callers'
    // waits have a timer of their own).
    const writes = this.revision < 2 || this.stalledThrough >= through ? this.activities : this.boundedWrites;
    let head: Awaited<ReturnType<DatabaseActivities['recordProgress']>>;
    let assessed: RiskAssessment | undefined;
    try {
      if (risk) ({ head, risk: assessed } = await writes.recordProgressAndAssessRisk({ progress, risk }));
      else head = await writes.recordProgress(progress);
    } catch (error) {
      if (!gaveUp(error)) throw error;
      this.stalledThrough = through;
      // From revision 3, a refund whose write stalls shows Temporal the state it is in (and
      // whether it is stuck), not the one it last rested in: while the database is away, so is
      // the service's own listing, and Temporal's UI is where operators look for it. A refund
      // rests in no state while its write is tried again, so it would not say so otherwise.
      if (this.revision >= 3) this.publish(this.current);
      return { written: false };
    }
    this.pending.splice(0, batch.length);
    this.flushed += batch.length;
    // Writes recorded before recordProgress answered with the head replay with no result: no head.
    if (head) this.model = { ...this.current, auditHead: head };
    return { written: true, ...(assessed ? { risk: assessed } : {}) };
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

  private standingInput(approverId: string) {
    const current = this.current;
    return {
      refundId: this.request.refundId,
      approverId,
      policy: current.policy,
      customerId: this.request.customerId,
      initiatedBy: this.request.initiatedBy,
      scanners: scannerIds(current),
      amount: current.amount,
      currency: this.request.currency,
    };
  }
}

/** What a write came to: written (with the risk check's assessment when it ran with it), or not yet. */
type Write = { written: true; risk?: RiskAssessment } | { written: false };

/**
 * A bounded write that gave up: the database refused it (or did not answer) for its whole
 * schedule-to-close timeout. The SDK reports it as an ActivityFailure caused by a TimeoutFailure,
 * also when the bound passed during a backoff timer (the retry after the timer times out at once);
 * but on replay, where the outcome comes from the local activity's marker, as the TimeoutFailure
 * alone. Both are the same give-up: reading only the first made a refund whose write had given
 * up fail its replay (a worker restart or a cache eviction) with a nondeterminism error
 * (test/replay/histories/risk-write-gave-up.*).
 */
function gaveUp(error: unknown): boolean {
  const timeout = error instanceof ActivityFailure ? error.cause : error;
  return timeout instanceof TimeoutFailure && timeout.timeoutType === 'SCHEDULE_TO_CLOSE';
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
    message: `the decision on refund ${refundId} is applied but not yet written to the audit trail: the database has not accepted the write within ${WRITE_BOUND}; it is written as soon as the database accepts it`,
    type: failureTypes.decisionNotYetRecorded,
  });
}

const refused = (failure: ApplicationFailure): Outcome => ({ ok: false, failure });

function asFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  return invalidMessage(error instanceof Error ? error.message : String(error));
}

function invalidMessage(issues: string): ApplicationFailure {
  return ApplicationFailure.create({ message: issues, type: failureTypes.invalidMessage });
}

function approvalRefused(refusal: ApprovalRefusal): ApplicationFailure {
  return ApplicationFailure.create({ message: refusal.message, type: failureTypes.approvalRefused, details: [refusal] });
}
