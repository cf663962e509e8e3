/** How the `refunds` command shows things to people: aligned tables and a refund at a glance. */
import { formatMinor } from '../../workflows/currencies';
import type { AuditVerification, Breaker, OpsAlert, RefundView, StoredCarrierEvent, StuckRefund } from '../views';

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** 2026-11-21T09:30:00.000Z → 2026-11-21 09:30:00Z */
export const when = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

export function ago(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7_200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3_600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

export function showRefund(refund: RefundView): string {
  const requirement = refund.approvalRequirement;
  const approvals = refund.approvals.length
    ? refund.approvals.map((a) => `${a.approverId} ${a.decision}d ${when(a.at)}${a.reason ? ` (${a.reason})` : ''}`).join('; ')
    : 'none';
  const carrier = refund.evidence.carrierEvents.map((e) => e.status).join(' → ') || 'no scans';
  const receipts = refund.evidence.receipts.map((r) => `${r.receipt.warehouseId} by ${r.scannedBy}`).join('; ') || 'none';
  const fields: Array<[string, string]> = [
    ['state', `${refund.state} for ${ago(refund.since)}${refund.stuck ? ' (STUCK)' : ''}`],
    ['amount', formatMinor(refund.amount, refund.currency)],
    ['order', `${refund.orderId}, customer ${refund.customerId}`],
    ['requested by', `${refund.initiatedBy}${refund.requestedBy ? ` via ${refund.requestedBy}` : ''}`],
    ['waiting for', refund.waitingFor ?? '-'],
    ['carrier', `${carrier}${refund.evidence.delivered ? '' : ' (not delivered yet)'}`],
    ['receipts', receipts],
    ['findings', refund.evidence.findings.join(', ') || 'none'],
    [
      'risk',
      refund.risk
        ? `${refund.risk.score} ${refund.risk.band}${refund.risk.reasons.length ? `: ${refund.risk.reasons.map((r) => `${r.code} +${r.points}`).join(', ')}` : ''}`
        : 'not assessed yet',
    ],
    ['breakers', refund.risk?.breakers?.map((b) => `${b.employeeId} as ${b.touchedAs}: ${b.reason}`).join('; ') || 'none'],
    [
      'approvals',
      requirement?.outcome === 'approve'
        ? `${refund.approvalsRequired} required, ${refund.approvalsStillNeeded} still needed${requirement.reasons.length ? ` (${requirement.reasons.join('; ')})` : ''}`
        : requirement?.outcome === 'reject'
          ? `rejected by policy: ${requirement.reason}`
          : 'decided after the risk check',
    ],
    ['decisions', approvals],
    ['payout', refund.payout ? `${refund.payout.reference} at ${when(refund.payout.paidAt)}` : '-'],
    [
      'outcome',
      refund.outcome ? `${refund.outcome.code}: ${refund.outcome.message}${refund.outcome.by ? ` (by ${refund.outcome.by})` : ''}` : '-',
    ],
    ['next deadline', when(refund.deadlines.next)],
    ['stuck after', when(refund.deadlines.stuckAfter)],
    ['audit head', refund.auditHead ? `step ${refund.auditHead.refundSeq}, ${refund.auditHead.hash.slice(0, 16)}…` : '-'],
  ];
  const width = Math.max(...fields.map(([label]) => label.length));
  const timeline = table(
    ['#', 'at', 'what', 'who'],
    refund.timeline.map((t) => [String(t.seq), when(t.at), t.kind, t.actor]),
  );
  return [
    `Refund ${refund.refundId}`,
    ...fields.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
    '',
    'Timeline',
    timeline,
  ].join('\n');
}

export function showStuck(refunds: StuckRefund[]): string {
  if (refunds.length === 0) return 'No stuck refunds.';
  return table(
    ['refund', 'state', 'waiting for', 'since', 'for', 'amount'],
    refunds.map((r) => [r.refundId, r.state, r.waitingFor ?? '-', when(r.since), ago(r.since), formatMinor(r.amount, r.currency)]),
  );
}

export function showCarrierEvents(status: 'pending' | 'conflict', events: StoredCarrierEvent[]): string {
  if (events.length === 0) return status === 'pending' ? 'No pending carrier events.' : 'No conflicting carrier events.';
  return table(
    ['received', 'carrier', 'event', 'tracking', 'status', status === 'pending' ? 'expired' : 'note'],
    events.map((e) => [
      when(e.receivedAt),
      e.carrier,
      e.eventId,
      e.trackingNumber,
      e.status,
      status === 'pending' ? pendingNote(e) : 'different body, not delivered',
    ]),
  );
}

/** Why a pending event is not delivered yet, or never will be. */
function pendingNote(e: StoredCarrierEvent): string {
  if (e.undeliverable) return `never delivered: ${e.undeliverable}`;
  return e.expiredAt ? `${when(e.expiredAt)} (not retried)` : '-';
}

export function showBreakers(employeeId: string, breakers: Breaker[]): string {
  if (breakers.length === 0) return `${employeeId} has never had a circuit breaker tripped.`;
  return table(
    ['tripped', 'as', 'limit crossed', 'refund', 'lifted', 'by', 'why'],
    breakers.map((b) => [
      when(b.trippedAt),
      b.trippedAs,
      b.reason,
      b.refundId ?? '-',
      b.liftedAt ? when(b.liftedAt) : 'TRIPPED',
      b.liftedBy ?? '-',
      b.liftReason ?? '-',
    ]),
  );
}

export function showAlerts(alerts: OpsAlert[]): string {
  if (alerts.length === 0) return 'No undelivered alerts.';
  return table(
    ['#', 'at', 'kind', 'employee', 'why'],
    alerts.map((a) => [
      String(a.id),
      when(a.createdAt),
      a.kind,
      a.employeeId ?? '-',
      typeof a.details.reason === 'string' ? a.details.reason : '-',
    ]),
  );
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export function showAuditVerification(result: AuditVerification): string {
  const { checkpoints } = result;
  const latest = checkpoints.latest;
  const anchored = latest
    ? `${plural(checkpoints.checked, 'checkpoint')} (latest #${latest.id} at ${when(latest.createdAt)}, root ${latest.root.slice(0, 16)}…, key ${latest.keyId})`
    : 'no checkpoints yet';
  const file = checkpoints.exportFile;
  const exported = file.state === 'not_configured' ? 'no export file' : `export file ${file.state}${file.path ? ` (${file.path})` : ''}`;
  const workflows = result.workflowHeadsChecked > 0 ? `; ${result.workflowHeadsChecked} workflow heads compared` : '';
  const summary = `${result.rowsChecked} rows in ${plural(result.subjectsChecked, 'chain')}; ${anchored}; ${exported}${workflows}`;
  if (result.ok) return `Audit trail verified: ${summary}`;
  const more = result.findingsOmitted > 0 ? `\n… and ${result.findingsOmitted} more` : '';
  return (
    [
      `AUDIT TRAIL BROKEN: ${result.findings.length + result.findingsOmitted} findings (${summary})`,
      table(
        ['check', 'problem', 'subject', 'step', 'checkpoint', 'detail'],
        result.findings.map((f) => [
          f.check,
          f.problem,
          f.subject ?? '-',
          f.refundSeq === undefined ? '-' : String(f.refundSeq),
          f.checkpointId === undefined ? '-' : `#${f.checkpointId}`,
          f.detail,
        ]),
      ),
    ].join('\n') + more
  );
}
