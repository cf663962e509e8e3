/**
 * The refund as a pure state machine: `applyEvent(model, event)` is the only way its state
 * changes, and the workflow does nothing but feed it events and wait. Keeping every decision here
 * lets the property tests drive thousands of random event sequences through exactly the code
 * that runs in production.
 */
export {
  activeStates,
  isTerminal,
  MAX_EVIDENCE_EVENTS,
  refundStates,
  terminalStates,
  type ApproverStanding,
  type AuditFact,
  type AuditHead,
  type DeadlineExtension,
  type Escalation,
  type Nudge,
  type ReceivedCarrierEvent,
  type ReceivedScan,
  type RecordedApproval,
  type RefundEvent,
  type RefundModel,
  type RefundState,
  type RequestOrigin,
  type RequestRefusal,
  type VerifiedStatement,
} from './state';
export { delivery, dueForCarrierAcceptanceReview, evidenceFindings, reviewFindings, scannerIds } from './evidence';
export { approvalsGiven, approvalsStillNeeded, breakersOn, checkApproval, checkCancel, precheckDecision } from './approvals';
export { extendedInState, extensionsInState, isStuck, nextDeadline, stuckAfter, waitingFor } from './deadlines';
export {
  checkEscalate,
  checkExtend,
  checkNudge,
  DEFAULT_MAX_DEADLINE_EXTENSION,
  maxDeadlineExtensionMs,
  statesWaitingFor,
  waitingParties,
  waitingParty,
  type OpsRefusal,
  type WaitingParty,
} from './ops';
export { applyEvent, newRefund, refusedRefund } from './transitions';
