/**
 * Errors the client library throws, each with a stable machine-readable code. The HTTP API maps
 * them to status codes; scripts can switch on `code`.
 */
import type { z } from 'zod';
import type { ApprovalRule } from '../workflows/policy';
import { describeIssueList } from '../workflows/schemas';

export type RefundErrorCode =
  | 'invalid_input'
  | 'refund_conflict'
  | 'refund_not_found'
  | 'approval_refused'
  | 'cancel_refused'
  | 'refund_finished'
  | 'refund_starting'
  | 'decision_not_yet_recorded'
  | 'carrier_event_conflict'
  | 'scan_refused'
  | 'ops_action_refused'
  | 'alert_not_found'
  /** A cancel or an operations action no worker took in time: retry it with the same Idempotency-Key. */
  | 'update_not_taken';

export class RefundError extends Error {
  override name = 'RefundError';
  constructor(
    readonly code: RefundErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface InputIssue {
  /** Dotted path of the field at fault, e.g. `items.0.unitAmount`. */
  path: string;
  message: string;
}

export class InvalidInputError extends RefundError {
  override name = 'InvalidInputError';
  constructor(
    readonly what: string,
    readonly issues: InputIssue[],
  ) {
    super('invalid_input', `invalid ${what}: ${describeIssueList(issues)}`);
  }

  static fromZod(what: string, error: z.ZodError): InvalidInputError {
    return new InvalidInputError(
      what,
      error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
}

export class RefundConflictError extends RefundError {
  override name = 'RefundConflictError';
  constructor(readonly refundId: string) {
    super('refund_conflict', `refund ${refundId} already exists with a different request`);
  }
}

export class RefundNotFoundError extends RefundError {
  override name = 'RefundNotFoundError';
  constructor(message: string) {
    super('refund_not_found', message);
  }
}

export class ApprovalRefusedError extends RefundError {
  override name = 'ApprovalRefusedError';
  constructor(
    readonly rule: ApprovalRule,
    message: string,
  ) {
    super('approval_refused', message);
  }
}

/**
 * A warehouse scan whose signature cannot count: no key the registry lists for the scanner has that
 * id, or the signature does not verify with it. `rule` says which (`unknown_key`, `bad_signature`).
 */
export class ScanRefusedError extends RefundError {
  override name = 'ScanRefusedError';
  constructor(
    readonly rule: string,
    message: string,
  ) {
    super('scan_refused', message);
  }
}

/** Evidence for a refund that has already finished: it changes nothing and is refused. */
export class RefundFinishedError extends RefundError {
  override name = 'RefundFinishedError';
  constructor(
    readonly refundId: string,
    readonly state: string,
  ) {
    super('refund_finished', `refund ${refundId} is ${state} and takes no more evidence`);
  }
}

export class CancelRefusedError extends RefundError {
  override name = 'CancelRefusedError';
  constructor(message: string) {
    super('cancel_refused', message);
  }
}

/**
 * A carrier event id already received with a different body. The new body is kept for operations
 * (GET /v1/ops/carrier-events?status=conflict) and never delivered.
 */
export class CarrierEventConflictError extends RefundError {
  override name = 'CarrierEventConflictError';
  constructor(
    readonly carrier: string,
    readonly eventId: string,
  ) {
    super(
      'carrier_event_conflict',
      `event ${eventId} of ${carrier} was already received with a different body; this body is kept for operations and not delivered`,
    );
  }
}

/**
 * An operations action (escalate, extend-deadline, nudge) the refund refused: `rule` names why
 * (`refund_finished`, `deadline_not_extendable`, `extension_cap_exceeded`, `not_waiting_for_party`, `refund_starting`).
 */
export class OpsActionRefusedError extends RefundError {
  override name = 'OpsActionRefusedError';
  constructor(
    readonly rule: string,
    message: string,
  ) {
    super('ops_action_refused', message);
  }
}

export class AlertNotFoundError extends RefundError {
  override name = 'AlertNotFoundError';
  constructor(readonly alertId: number) {
    super('alert_not_found', `no operations alert ${alertId}`);
  }
}
