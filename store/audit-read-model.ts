/**
 * The read model held to the audit trail. Each refund's row is written in the same transaction as
 * its audit facts, so in any one snapshot they agree: the row's progress_seq is the refund's last
 * step, its request fields are what the refund_requested fact recorded, and its state is where the
 * last state_changed fact went. A row that disagrees was edited, or the chain lost its last steps.
 */
import { requestHash } from './canonical';
import type { Report } from './audit-chain';
import type { Db } from './pool';

interface ReadModelAgainstChain {
  refund_id: string;
  order_id: string;
  customer_id: string;
  initiated_by: string;
  currency: string;
  amount: number;
  state: string;
  carrier: string | null;
  tracking_number: string | null;
  policy_version: string;
  request_hash: string;
  requested_at: Date;
  progress_seq: number;
  head_seq: number | null;
  first_kind: string | null;
  first_data: { request?: Record<string, unknown>; amount?: unknown; policyVersion?: unknown } | null;
  first_at: Date | null;
  last_state: string | null;
}

/** A refund starts in awaiting_carrier; only a move to another state leaves a state_changed fact. */
const INITIAL_STATE = 'awaiting_carrier';

/** Checks every refund's read-model row against its chain, and that every refund on the chain has a row. */
export async function checkReadModel(db: Db, report: Report, pageSize = 2000): Promise<void> {
  let after = '';
  for (;;) {
    const { rows } = await db.query<ReadModelAgainstChain>(
      `SELECT r.refund_id, r.order_id, r.customer_id, r.initiated_by, r.currency, r.amount, r.state, r.carrier,
              r.tracking_number, r.policy_version, r.request_hash, r.requested_at, r.progress_seq,
              head.refund_seq AS head_seq, first.kind AS first_kind, first.data AS first_data, first.occurred_at AS first_at,
              last_state.to_state AS last_state
         FROM refunds r
         LEFT JOIN LATERAL (SELECT a.refund_seq FROM audit_log a WHERE a.refund_id = r.refund_id
                             ORDER BY a.refund_seq DESC LIMIT 1) head ON true
         LEFT JOIN audit_log first ON first.refund_id = r.refund_id AND first.refund_seq = 1
         LEFT JOIN LATERAL (SELECT a.data ->> 'to' AS to_state FROM audit_log a WHERE a.refund_id = r.refund_id AND a.kind = 'state_changed'
                             ORDER BY a.refund_seq DESC LIMIT 1) last_state ON true
        WHERE r.refund_id > $1 ORDER BY r.refund_id LIMIT $2`,
      [after, pageSize],
    );
    for (const row of rows) checkRow(row, report);
    if (rows.length < pageSize) break;
    after = rows.at(-1)!.refund_id;
  }
  await checkOrphans(db, report);
}

function checkRow(row: ReadModelAgainstChain, report: Report): void {
  const subject = row.refund_id;
  const progress = Number(row.progress_seq);
  const head = row.head_seq === null ? 0 : Number(row.head_seq);
  if (head < progress) {
    const missing = head + 1 === progress ? `step ${progress} is` : `steps ${head + 1} to ${progress} are`;
    report({
      check: 'read_model',
      problem: 'deleted',
      subject,
      refundSeq: head + 1,
      detail: `the read model has the refund at step ${progress}, the chain ends at step ${head}: ${missing} missing, deleted`,
    });
  } else if (head > progress) {
    report({
      check: 'read_model',
      problem: 'edited',
      subject,
      refundSeq: progress,
      detail: `the read model has the refund at step ${progress}, behind its chain (step ${head}): its progress_seq was edited`,
    });
  }
  for (const [field, stored, recorded] of fieldsAgainstChain(row)) {
    if (stored === recorded) continue;
    report({
      check: 'read_model',
      problem: 'edited',
      subject,
      detail: `the read model's ${field} is ${JSON.stringify(stored)}, the audit trail recorded ${JSON.stringify(recorded)}: edited`,
    });
  }
}

/** [column, read model value, value the chain recorded], for the fields the chain fixes; none when step 1 is not the request (reported by the chain walk). */
function fieldsAgainstChain(row: ReadModelAgainstChain): Array<[string, unknown, unknown]> {
  const request = row.first_data?.request;
  if (row.first_kind !== 'refund_requested' || !request) return [];
  const ret = (request.return ?? {}) as Record<string, unknown>;
  const carrierReturn = typeof ret.carrier === 'string';
  return [
    ['state', row.state, row.last_state ?? INITIAL_STATE],
    ['order_id', row.order_id, request.orderId],
    ['customer_id', row.customer_id, request.customerId],
    ['initiated_by', row.initiated_by, request.initiatedBy],
    ['currency', row.currency, request.currency],
    ['amount', Number(row.amount), row.first_data?.amount],
    ['carrier', row.carrier, carrierReturn ? ret.carrier : null],
    ['tracking_number', row.tracking_number, carrierReturn ? ret.trackingNumber : null],
    ['policy_version', row.policy_version, row.first_data?.policyVersion],
    ['request_hash', row.request_hash, requestHash(request)],
    ['requested_at', row.requested_at.toISOString(), row.first_at?.toISOString()],
  ];
}

/** Refunds whose chain starts with their request but that have no read-model row. */
async function checkOrphans(db: Db, report: Report): Promise<void> {
  const { rows } = await db.query<{ refund_id: string; seq: number }>(
    `SELECT a.refund_id, a.seq FROM audit_log a
      WHERE a.refund_seq = 1 AND a.kind = 'refund_requested' AND a.data ? 'request'
        AND NOT EXISTS (SELECT FROM refunds r WHERE r.refund_id = a.refund_id)
      ORDER BY a.refund_id LIMIT 1000`,
  );
  for (const row of rows) {
    report({
      check: 'read_model',
      problem: 'deleted',
      subject: row.refund_id,
      detail: 'the refund is on the audit trail but has no read-model row: deleted',
    });
  }
}
