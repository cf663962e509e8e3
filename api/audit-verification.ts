/**
 * `audit verify` as the API runs it: the store's verification of the chains, the read model and
 * the checkpoints (against the pinned audit keys and the export file, when this process can read
 * it), and on request the heads the in-flight refunds' workflows keep, asked of Temporal.
 */
import type { Client } from '@temporalio/client';
import { readCheckpointExport } from '../store/audit-checkpoint-export';
import { checkWorkflowHeads, refundsInFlight, verifyAuditChain, withFindings, type AuditVerification } from '../store/audit-trail';
import type { Pool } from '../store/pool';
import { refundWorkflowId, statusQuery } from '../workflows/messages';
import type { AuditHead } from '../workflows/refund-model';
import type { PublicKey } from '../workflows/statements';

export interface AuditVerifierOptions {
  /** The audit public keys checkpoints must be signed with (REFUNDS_AUDIT_PUBLIC_KEYS). */
  publicKeys?: readonly PublicKey[];
  /** The checkpoint export file (REFUNDS_AUDIT_CHECKPOINT_FILE), compared when this process can read it. */
  checkpointFile?: string;
}

export interface AuditVerifyRequest {
  /** Also compare each in-flight refund's workflow head (its `status` query) with the rows. */
  workflows?: boolean;
  /** At most this many in-flight refunds are asked (default 1000). */
  workflowLimit?: number;
}

/** Queries at a time when asking the workflows for their heads. */
const QUERY_CONCURRENCY = 8;
/** How long one workflow may take to answer (it has no worker, say) before it is left out. */
const QUERY_DEADLINE_MS = 2_000;
/** How long all of them may take, well inside the API's handler timeout; the rest are left out. */
const QUERY_BUDGET_MS = 15_000;

export async function verifyAuditTrail(
  deps: { pool: Pool; temporal: Client; audit: AuditVerifierOptions },
  request: AuditVerifyRequest = {},
): Promise<AuditVerification> {
  // Read before the database: every checkpoint in the file is then one the database had stored.
  const exported = deps.audit.checkpointFile ? await readCheckpointExport(deps.audit.checkpointFile) : undefined;
  const verification = await verifyAuditChain(deps.pool, { publicKeys: deps.audit.publicKeys ?? [], ...(exported ? { exported } : {}) });
  if (!request.workflows) return verification;
  const heads = await workflowHeads(deps, request.workflowLimit ?? 1000);
  return withFindings(verification, await checkWorkflowHeads(deps.pool, heads), heads.length);
}

/**
 * The heads the in-flight refunds' workflows hold. A workflow that cannot answer (finished in the
 * meantime, not started yet, or no worker answers within 2 s) or holds no head yet is left out,
 * and so are those not asked within 15 s; `workflowHeadsChecked` says how many were compared.
 */
async function workflowHeads(deps: { pool: Pool; temporal: Client }, limit: number): Promise<Array<{ refundId: string; head: AuditHead }>> {
  const refundIds = await refundsInFlight(deps.pool, limit);
  const heads: Array<{ refundId: string; head: AuditHead }> = [];
  const budgetEnds = Date.now() + QUERY_BUDGET_MS;
  for (let i = 0; i < refundIds.length && Date.now() < budgetEnds; i += QUERY_CONCURRENCY) {
    const batch = await Promise.all(
      refundIds.slice(i, i + QUERY_CONCURRENCY).map(async (refundId) => {
        try {
          const handle = deps.temporal.workflow.getHandle(refundWorkflowId(refundId));
          const status = await deps.temporal.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(statusQuery));
          return status.auditHead ? [{ refundId, head: status.auditHead }] : [];
        } catch {
          return [];
        }
      }),
    );
    heads.push(...batch.flat());
  }
  return heads;
}
