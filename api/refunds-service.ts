/**
 * The typed client for refund services, scanners, approvers and operations. Every input is
 * validated with the same schemas the workflow uses before anything is sent.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { OPS_ACTION_REFUSED } from '../workflows/ops-commands';
import { ApplicationFailure, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { z } from 'zod';
import { defaultApiLimits } from '../config/api';
import { auditTrailOf, type AuditRow, type AuditVerification } from '../store/audit-trail';
import {
  breakerHistory,
  employeeAuditSubject,
  liftBreaker,
  markAlertsDelivered,
  undeliveredAlerts,
  type Breaker,
  type OpsAlert,
} from '../store/breakers';
import { requestHash } from '../store/canonical';
import {
  deliverableCarrierEvents,
  expireStaleCarrierEvents,
  listCarrierEvents,
  markCarrierEventDelivered,
  pendingEventsOfParcel,
  storeCarrierEvent,
  type CarrierEventStatus,
  type InboxEvent,
  type SignedBody,
} from '../store/carrier-inbox';
import type { Pool } from '../store/pool';
import { verifyAuditTrail, type AuditVerifierOptions, type AuditVerifyRequest } from './audit-verification';
import {
  findRefundsByTracking,
  getRefundRow,
  listStuckRefunds,
  storedRefundStatus,
  type RefundRow,
  type StuckQuery,
} from '../store/read-model';
import {
  cancelUpdate,
  carrierEventSignal,
  decideUpdate,
  failureTypes,
  refundWorkflowId,
  SignedCarrierEvent,
  type SignedDecision,
  signedDecisionShape,
  SignedWarehouseScan,
  SignedRefundRequest,
  statusQuery,
  TASK_QUEUE_DEFAULT,
  warehouseScanSignal,
  type RefundStatus,
} from '../workflows/messages';
import type { ApprovalRefusal } from '../workflows/policy';
import { isTerminal } from '../workflows/refund-model';
import type { refundWorkflow } from '../workflows/refund';
import { BreakerLift, CancelCommand, CarrierEvent, RefundRequest, type Role } from '../workflows/schemas';
import {
  ApprovalRefusedError,
  CancelRefusedError,
  CarrierEventConflictError,
  InvalidInputError,
  RefundConflictError,
  RefundError,
  RefundFinishedError,
  RefundNotFoundError,
  ScanRefusedError,
  OpsActionRefusedError,
} from '../client/errors';
import { registryRecords } from '../store/registry';
import { canonicalBytes, SignedRegistryEntry, verifyBytes } from '../workflows/statements';

export interface RefundsServiceOptions {
  /** A connected Temporal client. */
  temporal: Client;
  /** The service's PostgreSQL (read model and audit trail). */
  pool: Pool;
  taskQueue?: string;
  /** The pinned audit keys and the checkpoint export file, for audit verification. */
  audit?: AuditVerifierOptions;
  /**
   * How long a carrier event no refund has claimed stays deliverable; older ones are reported
   * (expired), not retried. Default: the default policy's return window.
   */
  carrierEventMaxPendingMs?: number;
  /** How long reading a refund in flight waits for its workflow before answering from PostgreSQL (default 3 s). */
  liveStatusTimeoutMs?: number;
}

/** What became of a carrier event: stored, and signalled to the refunds of its parcel that exist now. */
export interface CarrierEventReceipt {
  eventId: string;
  /** The refunds that have the event (now or from an earlier delivery of the same event). */
  refundIds: string[];
  /** Refunds of this parcel that have already finished: the event changes nothing there. */
  finishedRefundIds: string[];
  /** True while no refund has the event yet: it is stored and delivered when its refund appears. */
  pending: boolean;
}

/** One round of delivering stored events: what reached its refunds, what expired, what failed (and stays pending). */
export interface CarrierEventSweep {
  delivered: InboxEvent[];
  expired: InboxEvent[];
  failures: Array<{ event: InboxEvent; refundId: string; error: unknown }>;
}

interface Delivery {
  refundIds: string[];
  finishedRefundIds: string[];
  failures: Array<{ refundId: string; error: unknown }>;
}

export interface RefundRequested {
  refundId: string;
  workflowId: string;
  /** False when the same request had already been made: nothing new was started. */
  created: boolean;
  /**
   * True once the refund is in the read model, so carrier events can be routed to it and it
   * shows in operations lists. False only if no worker recorded it within the wait (the refund
   * is started and durable all the same; it is recorded as soon as a worker picks it up).
   */
  recorded: boolean;
}

function parse<S extends z.ZodType>(schema: S, what: string, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw InvalidInputError.fromZod(what, result.error);
  return result.data;
}

function expectDecision(signed: SignedDecision, decision: 'approve' | 'reject'): SignedDecision {
  if (signed?.statement?.decision !== decision) {
    throw new InvalidInputError('signed decision', [{ path: 'statement.decision', message: `must be "${decision}"` }]);
  }
  return signed;
}

/** A body the API already parsed once; anything else is invalid input, never a 500. */
function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new InvalidInputError('carrier event', [{ path: 'rawBody', message: 'must be a JSON object' }]);
  }
}

/** A signed refund request; the request's own issues are named by its fields (`items.0.unitAmount`), the rest under `statement`. */
function parseSignedRequest(input: unknown): SignedRefundRequest {
  const statement = typeof input === 'object' && input !== null ? (input as { statement?: unknown }).statement : undefined;
  const request = typeof statement === 'object' && statement !== null ? (statement as { request?: unknown }).request : undefined;
  if (request !== undefined) parse(RefundRequest, 'refund request', request);
  return parse(SignedRefundRequest, 'signed refund request', input);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long a cancel or an operations action waits for the workflow to answer: inside the API's 30 s handler timeout. */
const UPDATE_ANSWER_MS = 20_000;

/** A gRPC call cut off by its deadline (status 4), as the Temporal client reports it. */
function isDeadlineExceeded(error: unknown): boolean {
  const cause = (error as { cause?: { code?: number } } | undefined)?.cause;
  return (error as { code?: number }).code === 4 || cause?.code === 4 || /DEADLINE_EXCEEDED|deadline exceeded/i.test(String(error));
}

/**
 * Whether a call given a deadline ran out of it: DEADLINE_EXCEEDED, or CANCELLED, which the client
 * can report instead when the deadline passes between its retries of the call (its gRPC retry
 * interceptor starts each retry with the first attempt's deadline). Nothing else cancels them.
 */
function ranOutOfTime(error: unknown): boolean {
  const cause = (error as { cause?: { code?: number } } | undefined)?.cause;
  return isDeadlineExceeded(error) || (error as { code?: number }).code === 1 || cause?.code === 1;
}

/** A stored status as of now: whether a refund waiting in its state is stuck changes with the clock, without a write. */
function withStuckNow(status: RefundStatus): RefundStatus {
  const limit = status.deadlines.stuckAfter;
  return { ...status, stuck: status.stuck || (limit !== null && Date.parse(limit) <= Date.now()) };
}

export class RefundsService {
  private readonly temporal: Client;
  private readonly pool: Pool;
  private readonly taskQueue: string;
  private readonly audit: AuditVerifierOptions;
  private readonly carrierEventMaxPendingMs: number;
  private readonly liveStatusTimeoutMs: number;

  constructor(options: RefundsServiceOptions) {
    this.temporal = options.temporal;
    this.pool = options.pool;
    this.taskQueue = options.taskQueue ?? TASK_QUEUE_DEFAULT;
    this.audit = options.audit ?? {};
    this.carrierEventMaxPendingMs = options.carrierEventMaxPendingMs ?? defaultApiLimits.carrierEventMaxPendingMs;
    this.liveStatusTimeoutMs = options.liveStatusTimeoutMs ?? 3_000;
  }

  /**
   * Requests a refund with the request a refund service signed (`{ statement, signature }`, a
   * refund_request statement). Idempotent by refund id and request: the same id with the same
   * request returns the existing refund (`created: false`), even signed again (another nonce or
   * time); the same id with a different request throws RefundConflictError. The signature is not
   * checked here: the workflow verifies it against the key registry, and rejects the refund at
   * once if it does not count.
   */
  async requestRefund(input: unknown): Promise<RefundRequested> {
    const signed = parseSignedRequest(input);
    const request = signed.statement.request;
    const workflowId = refundWorkflowId(request.refundId);
    const hash = requestHash(request);
    try {
      await this.temporal.workflow.start<typeof refundWorkflow>('refundWorkflow', {
        taskQueue: this.taskQueue,
        workflowId,
        // Only the request is hashed: who signed it, when and with which nonce make no other refund.
        args: [signed],
        memo: { requestHash: hash },
        // A refund id is used once, ever: not even a finished refund's id may start a new one.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      const existing = await this.temporal.workflow.getHandle(workflowId).describe();
      if (existing.memo?.requestHash !== hash) throw new RefundConflictError(request.refundId);
      return { refundId: request.refundId, workflowId, created: false, recorded: await this.recordedWithEvents(request) };
    }
    return { refundId: request.refundId, workflowId, created: true, recorded: await this.recordedWithEvents(request) };
  }

  /**
   * Waits for the refund's first row, then delivers the carrier events that arrived for its parcel
   * before it. If the row is late, or delivery fails, the sweep (deliverPendingCarrierEvents) does it.
   */
  private async recordedWithEvents(request: RefundRequest): Promise<boolean> {
    const recorded = await this.waitUntilRecorded(request.refundId);
    if (recorded && 'carrier' in request.return) {
      const pending = await pendingEventsOfParcel(
        this.pool,
        request.return.carrier,
        request.return.trackingNumber,
        this.carrierEventMaxPendingMs,
      );
      for (const entry of pending) await this.deliverStored(entry).catch(() => undefined);
    }
    return recorded;
  }

  /** Waits (briefly) for the workflow's first write to the read model. */
  private async waitUntilRecorded(refundId: string, timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
      const row = await this.pool.query('SELECT 1 FROM refunds WHERE refund_id = $1', [refundId]);
      if (row.rowCount) return true;
      if (Date.now() > deadline) return false;
      await sleep(pause);
    }
  }

  /**
   * Records a carrier tracking event, given as the carrier sent it (the raw body and the signature
   * header, which the API has checked): stores it first (idempotent by carrier and event id), then
   * signals those exact bytes to the refunds waiting for its parcel, each of which verifies them.
   * An event no refund waits for yet is kept and delivered when the refund is requested (or by the
   * sweep): `pending: true`. The same event again changes nothing; another body under a known event
   * id is kept as a conflict and throws CarrierEventConflictError. Late events for finished refunds
   * are listed in `finishedRefundIds`.
   */
  async recordCarrierEvent(input: SignedBody): Promise<CarrierEventReceipt> {
    const signed = parse(SignedCarrierEvent, 'carrier event', input);
    const event = parse(CarrierEvent, 'carrier event', parseJson(signed.rawBody));
    const stored = await storeCarrierEvent(this.pool, event, signed);
    if (stored.outcome === 'conflict') throw new CarrierEventConflictError(event.carrier, event.eventId);
    let entry = stored.entry;
    let finishedRefundIds: string[] = [];
    // A repeat of an event still pending is another chance to deliver it.
    if (entry.deliveredAt === null) {
      const delivery = await this.deliverStored(entry);
      finishedRefundIds = delivery.finishedRefundIds;
      entry = delivery.entry;
    } else {
      finishedRefundIds = await this.finishedAmong(entry.deliveredTo);
    }
    return {
      eventId: event.eventId,
      refundIds: entry.deliveredTo.filter((id) => !finishedRefundIds.includes(id)),
      finishedRefundIds,
      pending: entry.deliveredAt === null,
    };
  }

  /**
   * Signals a stored event to every refund of its parcel and records which have it. Complete (no
   * longer pending) once at least one refund exists and every one of them has it.
   */
  private async deliverStored(entry: InboxEvent): Promise<Delivery & { entry: InboxEvent }> {
    const event = parse(CarrierEvent, 'stored carrier event', entry.event);
    if (entry.rawBody === null || entry.signature === null) throw new Error(`carrier event ${entry.id}: ${entry.undeliverable}`);
    const signed = { rawBody: entry.rawBody, signature: entry.signature };
    const refunds = await findRefundsByTracking(this.pool, event.carrier, event.trackingNumber);
    const delivery: Delivery = { refundIds: [], finishedRefundIds: [], failures: [] };
    for (const refund of refunds) {
      try {
        await this.withRefund(refund.refundId, (handle) => handle.signal(carrierEventSignal, signed));
        delivery.refundIds.push(refund.refundId);
      } catch (error) {
        if (await this.finishedRefund(refund.refundId, error)) delivery.finishedRefundIds.push(refund.refundId);
        else delivery.failures.push({ refundId: refund.refundId, error });
      }
    }
    const reached = [...delivery.refundIds, ...delivery.finishedRefundIds];
    const complete = refunds.length > 0 && delivery.failures.length === 0;
    const updated = reached.length > 0 || complete ? await markCarrierEventDelivered(this.pool, entry.id, reached, complete) : entry;
    return { ...delivery, entry: updated };
  }

  /** The refunds among `refundIds` that have finished. */
  private async finishedAmong(refundIds: readonly string[]): Promise<string[]> {
    const rows = await Promise.all(refundIds.map((id) => getRefundRow(this.pool, id)));
    return rows.filter((row) => row !== undefined && isTerminal(row.state)).map((row) => row!.refundId);
  }

  /**
   * One round of the carrier event sweep: reports (expires) pending events older than the return
   * window, then delivers up to `limit` pending events whose refund now exists. Events whose
   * delivery fails stay pending for the next round.
   */
  async deliverPendingCarrierEvents(limit = 100): Promise<CarrierEventSweep> {
    const expired = await expireStaleCarrierEvents(this.pool, this.carrierEventMaxPendingMs, limit);
    const sweep: CarrierEventSweep = { delivered: [], expired, failures: [] };
    for (const entry of await deliverableCarrierEvents(this.pool, limit, this.carrierEventMaxPendingMs)) {
      const delivery = await this.deliverStored(entry);
      if (delivery.entry.deliveredAt !== null) sweep.delivered.push(delivery.entry);
      sweep.failures.push(...delivery.failures.map((failure) => ({ event: entry, ...failure })));
    }
    return sweep;
  }

  /** Carrier events still pending (including expired ones) or kept as conflicts, oldest first. */
  listCarrierEvents(status: CarrierEventStatus, limit = 100): Promise<InboxEvent[]> {
    return listCarrierEvents(this.pool, status, limit);
  }

  /**
   * Records a warehouse receipt scan: the scanner's signed receipt statement (see
   * SignedWarehouseScan). The workflow believes it only once the signature verifies with a key the
   * registry gives a warehouse principal, so nothing here vouches for it.
   */
  async recordWarehouseScan(refundId: string, signed: SignedWarehouseScan): Promise<void> {
    const scan = parse(SignedWarehouseScan, 'signed warehouse scan', signed);
    await this.precheckScan(scan);
    try {
      await this.withRefund(refundId, (handle) => handle.signal(warehouseScanSignal, scan));
    } catch (error) {
      const finished = await this.finishedRefund(refundId, error);
      throw finished ? new RefundFinishedError(refundId, finished) : error;
    }
  }

  /**
   * A courtesy: refuses at once (ScanRefusedError) a scan that no key the registry lists for the
   * scanner can have signed, so a scanner with a wrong key hears about it; a signal has no answer.
   * The workflow verifies every scan against endorsed entries under its pinned trust roots,
   * whatever is checked here.
   */
  private async precheckScan({ statement, signature }: SignedWarehouseScan): Promise<void> {
    const records = await registryRecords(this.pool, statement.scannedBy);
    const keys = records.entries
      .flatMap((record) => SignedRegistryEntry.safeParse(record).data?.entry.keys ?? [])
      .filter((key) => key.keyId === statement.keyId);
    if (keys.length === 0) throw new ScanRefusedError('unknown_key', `${statement.scannedBy} has no registered key ${statement.keyId}`);
    if (!keys.some((key) => verifyBytes(signature, canonicalBytes(statement), key.publicKey))) {
      throw new ScanRefusedError('bad_signature', `the signature does not verify with ${statement.scannedBy}'s key ${statement.keyId}`);
    }
  }

  /** The final state of a refund whose workflow refused a message because it has finished, if that is why. */
  private async finishedRefund(refundId: string, error: unknown): Promise<string | undefined> {
    if (!(error instanceof RefundNotFoundError)) return undefined;
    const row = await getRefundRow(this.pool, refundId);
    return row && isTerminal(row.state) ? row.state : undefined;
  }

  /**
   * An approver's signed decision (see SignedDecision): the workflow believes it only once the
   * signature verifies with a key the registry gives the approver, so nothing here vouches for it.
   * Refused with ApprovalRefusedError naming the rule (a separation-of-duties rule, or why the
   * statement does not count), or InvalidInputError.
   */
  /**
   * `updateId`: the same id sent again answers with the first decision's outcome (the API's
   * Idempotency-Key). Bounded like a cancel: 503 when no worker takes it within UPDATE_ANSWER_MS.
   */
  async decide(refundId: string, signed: SignedDecision, updateId?: string): Promise<RefundStatus> {
    const decision: SignedDecision = parse(signedDecisionShape(signed), 'signed decision', signed);
    try {
      return await this.boundedUpdate(() =>
        this.withRefund(refundId, (handle) => handle.executeUpdate(decideUpdate, { args: [decision], ...(updateId ? { updateId } : {}) })),
      );
    } catch (error) {
      throw await this.translateUpdateFailure(refundId, error, (cause) => {
        const refusal = cause.details?.[0] as ApprovalRefusal | undefined;
        return new ApprovalRefusedError(refusal?.rule ?? 'not_awaiting_approval', cause.message);
      });
    }
  }

  approve(refundId: string, signed: SignedDecision): Promise<RefundStatus> {
    return this.decide(refundId, expectDecision(signed, 'approve'));
  }

  reject(refundId: string, signed: SignedDecision): Promise<RefundStatus> {
    return this.decide(refundId, expectDecision(signed, 'reject'));
  }

  /** Cancels a refund that has not started paying out. */
  async cancel(refundId: string, cancelledBy: string, reason: string, updateId?: string): Promise<RefundStatus> {
    const command = parse(CancelCommand, 'cancel', { cancelledBy, reason });
    try {
      return await this.boundedUpdate(() =>
        this.withRefund(refundId, (handle) => handle.executeUpdate(cancelUpdate, { args: [command], ...(updateId ? { updateId } : {}) })),
      );
    } catch (error) {
      throw await this.translateUpdateFailure(refundId, error, (cause) => new CancelRefusedError(cause.message));
    }
  }

  /**
   * Runs an operations update (escalate, extendDeadline, nudge: workflows/ops-commands.ts) on the
   * refund; `api/operations-service.ts` is the caller. Refused with OpsActionRefusedError naming
   * the rule, InvalidInputError, or RefundNotFoundError.
   */
  async opsUpdate<A>(refundId: string, update: UpdateDefinition<RefundStatus, [A]>, arg: A, updateId?: string): Promise<RefundStatus> {
    try {
      return await this.boundedUpdate(() =>
        this.withRefund(refundId, (handle) => handle.executeUpdate(update, { args: [arg], ...(updateId ? { updateId } : {}) })),
      );
    } catch (error) {
      const failure = await this.translateUpdateFailure(refundId, error, (cause) => {
        const refusal = cause.details?.[0] as { rule?: string } | undefined;
        return new OpsActionRefusedError(
          cause.type === OPS_ACTION_REFUSED ? (refusal?.rule ?? 'refused') : 'refund_finished',
          cause.message,
        );
      });
      throw failure;
    }
  }

  /** The refund's full status, from its workflow (which keeps answering after it has finished). */
  /**
   * The refund's status. A finished refund is read from PostgreSQL (its last write is its final
   * status), so neither a worker nor Temporal's retention stands in the way. A refund in flight
   * asks its workflow, which knows what has not been written yet, for at most
   * `liveStatusTimeoutMs`; if it does not answer in time (no worker) or is gone, the status
   * last written to PostgreSQL is the answer.
   */
  async getRefund(refundId: string): Promise<RefundStatus> {
    const stored = await storedRefundStatus(this.pool, refundId);
    if (stored && isTerminal(stored.state)) return stored;
    try {
      return await this.liveStatus(refundId);
    } catch (error) {
      if (stored && (error instanceof RefundNotFoundError || ranOutOfTime(error))) return withStuckNow(stored);
      throw error;
    }
  }

  /**
   * A decision, a cancel or an operations action waits for the refund's workflow to take it; a workflow with no
   * worker, or one whose tasks fail, never does. The call is cut off after UPDATE_ANSWER_MS (a
   * ServiceError, answered 503 with retry-after): the caller retries with the same Idempotency-Key,
   * which is the update id, so the update is applied once whichever attempt lands.
   */
  private async boundedUpdate<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await this.temporal.connection.withDeadline(Date.now() + UPDATE_ANSWER_MS, call);
    } catch (error) {
      if (!(error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) && !isDeadlineExceeded(error)) throw error;
      throw new RefundError(
        'update_not_taken',
        `the refund's workflow did not take the request within ${UPDATE_ANSWER_MS / 1000} s (no worker is running it now); retry with the same Idempotency-Key, which applies it once`,
      );
    }
  }

  private async liveStatus(refundId: string): Promise<RefundStatus> {
    for (let attempt = 0; ; attempt++) {
      try {
        const deadline = Date.now() + this.liveStatusTimeoutMs;
        return await this.temporal.connection.withDeadline(deadline, () =>
          this.withRefund(refundId, (handle) => handle.query(statusQuery)),
        );
      } catch (error) {
        // The first moments of a refund, before its policy is pinned.
        const starting = error instanceof Error && /refund is starting/.test(error.message);
        if (!starting || attempt >= 50) throw starting ? new RefundError('refund_starting', `refund ${refundId} is starting`) : error;
        await sleep(40);
      }
    }
  }

  /**
   * Waits until the refund reaches one of `states` (for scripts and tests). For a final state it
   * also waits for the workflow to finish, so its last writes (read model, audit) are done.
   */
  async waitForState(refundId: string, states: RefundStatus['state'][], timeoutMs = 30_000): Promise<RefundStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.getRefund(refundId);
      if (states.includes(status.state)) {
        if (!isTerminal(status.state)) return status;
        return this.withRefund(refundId, (handle) => handle.result() as Promise<RefundStatus>);
      }
      if (Date.now() > deadline) {
        throw new Error(`refund ${refundId} is ${status.state} after ${timeoutMs} ms, expected ${states.join(' or ')}`);
      }
      await sleep(50);
    }
  }

  /** The refund's read-model row: cheap, and kept after the workflow's history is gone. */
  getRefundRow(refundId: string): Promise<RefundRow | undefined> {
    return getRefundRow(this.pool, refundId);
  }

  /** Refunds waiting too long, oldest first (see StuckQuery). */
  listStuck(query: StuckQuery = {}): Promise<RefundRow[]> {
    return listStuckRefunds(this.pool, query);
  }

  /**
   * Verifies the audit trail: every chain, the read model against them, the signed checkpoints
   * and the export file; with `workflows`, the in-flight refunds' own heads too. Says what was
   * found and where (`findings`).
   */
  verifyAudit(request: AuditVerifyRequest = {}): Promise<AuditVerification> {
    return verifyAuditTrail({ pool: this.pool, temporal: this.temporal, audit: this.audit }, request);
  }

  auditTrail(refundId: string): Promise<AuditRow[]> {
    return auditTrailOf(this.pool, refundId);
  }

  /**
   * Lifts an employee's tripped circuit breaker. `liftedBy` is the authenticated principal: it
   * needs the admin role and may not be the employee. The lift is written to the audit trail
   * (see `employeeAuditTrail`); the employee's limits count afresh from now on.
   * Throws BreakerLiftError (`breaker_lift_refused`, `breaker_not_tripped`) or InvalidInputError.
   */
  async liftBreaker(employeeId: string, liftedBy: { id: string; roles: readonly Role[] }, reason: string): Promise<Breaker> {
    const lift = parse(BreakerLift, 'breaker lift', { employeeId, liftedBy: liftedBy.id, roles: [...liftedBy.roles], reason });
    return liftBreaker(this.pool, lift);
  }

  /** An employee's circuit breakers, newest first; a tripped one has `liftedAt: null`. */
  breakers(employeeId: string): Promise<Breaker[]> {
    return breakerHistory(this.pool, employeeId);
  }

  /** The audit trail of an employee's circuit breaker: every trip and lift, with who lifted it. */
  employeeAuditTrail(employeeId: string): Promise<AuditRow[]> {
    return auditTrailOf(this.pool, employeeAuditSubject(employeeId));
  }

  /** Operations alerts (breakers tripped) not yet delivered, oldest first, for a notifier. */
  undeliveredAlerts(limit = 100): Promise<OpsAlert[]> {
    return undeliveredAlerts(this.pool, limit);
  }

  markAlertsDelivered(ids: readonly number[]): Promise<void> {
    return markAlertsDelivered(this.pool, ids);
  }

  private async withRefund<T>(refundId: string, act: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<T>): Promise<T> {
    const handle = this.temporal.workflow.getHandle(refundWorkflowId(refundId));
    try {
      return await act(handle);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new RefundNotFoundError(`refund ${refundId} not found`);
      throw error;
    }
  }

  /** Turns a failed update into the caller's error: refused by a rule, invalid, or the refund has finished. */
  private async translateUpdateFailure(
    refundId: string,
    error: unknown,
    refused: (cause: ApplicationFailure) => RefundError,
  ): Promise<unknown> {
    if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) {
      const cause = error.cause;
      if (cause.type === failureTypes.invalidMessage) return new InvalidInputError('message', [{ path: '', message: cause.message }]);
      if (cause.type === failureTypes.decisionNotYetRecorded) return new RefundError('decision_not_yet_recorded', cause.message);
      return refused(cause);
    }
    // An update sent to a refund that has already finished: its workflow no longer takes updates.
    const finished = error instanceof RefundNotFoundError || (error instanceof Error && /already completed/i.test(error.message));
    const row = finished ? await getRefundRow(this.pool, refundId) : undefined;
    if (row) {
      return refused(
        ApplicationFailure.create({
          message: `refund is ${row.state}`,
          details: [{ rule: 'not_awaiting_approval', message: `refund is ${row.state}` }],
        }),
      );
    }
    return error;
  }
}
