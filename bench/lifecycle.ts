/**
 * One refund driven through its whole life, twice over: through the refund pipeline (the typed
 * client, the refund workflow, PostgreSQL) and through the NullRefund baseline, which receives the
 * same start, the same signals and the same updates. A closed loop runs many of them side by side.
 */
import { WorkflowIdReusePolicy, WorkflowIdConflictPolicy } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { requestHash } from '../store/canonical';
import { RefundNotFoundError } from '../client/errors';
import type { RefundsService } from '../api/refunds-service';
import { refundWorkflowId, type RefundStatus } from '../workflows/messages';
import type { Approver, CarrierEvent, RefundRequest } from '../workflows/schemas';
import {
  nullRefundCarrierEventSignal,
  nullRefundDecideUpdate,
  nullRefundWarehouseScanSignal,
  nullRefundWorkflowId,
  type nullRefundWorkflow,
  type NullRefundStatus,
} from './baseline/workflow';
import { deliveredEvent, matchingReceipt, refundOf, staffFor, tierOf, warmUpStaff } from './refunds';
import type { Signer } from './registry';

export type DriverKind = 'baseline' | 'pipeline';

export interface LifecycleTimes {
  refundId: string;
  workflowId: string;
  approvals: number;
  startedAt: number;
  /** When the approver sent the last approval the refund needed. */
  finalApprovalAt?: number;
  /** The same moment as wall-clock time (ms since the epoch), to hold against the payout's own time. */
  finalApprovalEpochMs?: number;
  /** When the payout was made (ms since the epoch), where the run's workflow reports it: NullRefund's no-op payout. */
  paidEpochMs?: number;
  finishedAt: number;
}

const now = () => performance.now();

/** Polls the `status` query (both workflows answer it) until the refund awaits approval. */
async function untilAwaitingApproval(handle: WorkflowHandle): Promise<void> {
  for (let pause = 5; ; pause = Math.min(pause * 2, 50)) {
    const status = await handle.query<RefundStatus | NullRefundStatus>('status').catch(() => undefined);
    if (status?.state === 'awaiting_approval') return;
    if (
      status &&
      status.state !== 'awaiting_evidence' &&
      status.state !== 'awaiting_carrier' &&
      status.state !== 'awaiting_warehouse' &&
      status.state !== 'risk_review'
    ) {
      throw new Error(`refund is ${status.state}, expected it to await approval`);
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

export interface Driver {
  kind: DriverKind;
  run(iteration: number): Promise<LifecycleTimes>;
}

/** How a refund's messages reach its workflow: through the refund client, or straight to NullRefund. */
interface RefundMessages {
  /** Starts the refund, whose tier needs `approvals`; resolves with its workflow. */
  request(request: RefundRequest, approvals: number): Promise<WorkflowHandle>;
  carrierEvent(handle: WorkflowHandle, event: CarrierEvent): Promise<void>;
  warehouseScan(handle: WorkflowHandle, request: RefundRequest, scannedBy: string): Promise<void>;
  approve(handle: WorkflowHandle, request: RefundRequest, approver: Approver): Promise<void>;
}

/** Who works a refund and how many approvals its tier needs: the tier mix and the staff pools by default. */
type Plan = (iteration: number) => { tier: ReturnType<typeof tierOf>; staff: ReturnType<typeof staffFor> };
const mixed: Plan = (iteration) => ({ tier: tierOf(iteration), staff: staffFor() });

/** One refund's whole life, the same for both: request, delivery, receipt, approvals, paid. */
function lifecycleDriver(kind: DriverKind, messages: RefundMessages, plan: Plan = mixed): Driver {
  return {
    kind,
    async run(iteration) {
      const { tier, staff } = plan(iteration);
      const request = refundOf(tier.amount, staff.initiatedBy);
      const startedAt = now();
      const handle = await messages.request(request, tier.approvals);
      await messages.carrierEvent(handle, deliveredEvent(request));
      await messages.warehouseScan(handle, request, staff.scanner);
      let finalApprovalAt: number | undefined;
      let finalApprovalEpochMs: number | undefined;
      if (tier.approvals > 0) {
        await untilAwaitingApproval(handle);
        for (let n = 0; n < tier.approvals; n++) {
          finalApprovalAt = now();
          finalApprovalEpochMs = Date.now();
          await messages.approve(handle, request, staff.approvers[n]!);
        }
      }
      const result = (await handle.result()) as RefundStatus | NullRefundStatus;
      if (result.state !== 'refunded') throw new Error(`refund ${request.refundId} ended ${result.state}, expected refunded`);
      const paidEpochMs = 'paidAt' in result && typeof result.paidAt === 'number' ? result.paidAt : undefined;
      return {
        refundId: request.refundId,
        workflowId: handle.workflowId,
        approvals: tier.approvals,
        startedAt,
        finishedAt: now(),
        ...(finalApprovalAt ? { finalApprovalAt, finalApprovalEpochMs } : {}),
        ...(paidEpochMs ? { paidEpochMs } : {}),
      };
    },
  };
}

/**
 * Sends a carrier's webhook the way carriers do: when the refund is not routable yet (under
 * heavy load requestRefund can return before the refund is in the read model), it is sent again.
 */
async function deliverCarrierEvent(refunds: RefundsService, event: CarrierEvent, sign: Signer): Promise<void> {
  const signed = sign.carrierEvent(event);
  for (let pause = 20; ; pause = Math.min(pause * 2, 1_000)) {
    try {
      await refunds.recordCarrierEvent(signed);
      return;
    } catch (error) {
      if (!(error instanceof RefundNotFoundError)) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/**
 * `warmUp` true: refunds of the two-approval tier with every approver and scanner in turn
 * (warmUpStaff), to run before measuring.
 */
export function pipelineDriver(refunds: RefundsService, temporal: Client, sign: Signer, { warmUp = false } = {}): Driver {
  // tierOf(9): the mix's two-approval tier, so each warm-up refund takes two approvers.
  const plan: Plan | undefined = warmUp ? (n) => ({ tier: tierOf(9), staff: warmUpStaff(n) }) : undefined;
  return lifecycleDriver(
    'pipeline',
    {
      async request(request) {
        await refunds.requestRefund(sign.request(request));
        return temporal.workflow.getHandle(refundWorkflowId(request.refundId));
      },
      carrierEvent: (_, event) => deliverCarrierEvent(refunds, event, sign),
      warehouseScan: (_, request, scannedBy) =>
        refunds.recordWarehouseScan(request.refundId, sign.scan(request, scannedBy, matchingReceipt(request))),
      approve: async (_, request, approver) => void (await refunds.decide(request.refundId, sign.decision(request, approver.approverId))),
    },
    plan,
  );
}

/**
 * Runs `count` refunds, `concurrency` at a time (iterations 0 to count - 1, each once); resolves
 * with how many finished and the first error, if any.
 */
export async function fixedLoop(
  driver: Driver,
  { count, concurrency }: { count: number; concurrency: number },
): Promise<{ completed: number; errors: number; firstError?: string }> {
  const result: { completed: number; errors: number; firstError?: string } = { completed: 0, errors: 0 };
  let next = 0;
  const loop = async () => {
    while (next < count) {
      const work = driver.run(next++);
      try {
        await withDeadline(work, ITERATION_DEADLINE_MS);
        result.completed++;
      } catch (error) {
        result.errors++;
        result.firstError ??= error instanceof Error ? error.message : String(error);
        work.catch(noop);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return result;
}

export function baselineDriver(temporal: Client, taskQueue: string): Driver {
  return lifecycleDriver('baseline', {
    // The same start options the refund client sends; the refund's tier stands in for its policy.
    request: (request, approvals) =>
      temporal.workflow.start<typeof nullRefundWorkflow>('nullRefundWorkflow', {
        taskQueue,
        workflowId: nullRefundWorkflowId(request.refundId),
        args: [request, approvals],
        memo: { requestHash: requestHash(request) },
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      }),
    carrierEvent: (handle, event) => handle.signal(nullRefundCarrierEventSignal, event),
    warehouseScan: (handle, request, scannedBy) =>
      handle.signal(nullRefundWarehouseScanSignal, { receipt: matchingReceipt(request), scannedBy }),
    approve: async (handle, _, approver) =>
      void (await handle.executeUpdate(nullRefundDecideUpdate, { args: [{ approver, decision: { decision: 'approve' } }] })),
  });
}

const noop = () => undefined;

/** A refund that has not finished by then counts as an error, so one stuck refund cannot stall a run. */
const ITERATION_DEADLINE_MS = 60_000;

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`refund did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export interface LoopResult<T = LifecycleTimes> {
  completed: T[];
  errors: number;
  firstError?: string;
  windowSeconds: number;
}

/**
 * Runs `concurrency` refunds at a time, each starting the next as soon as it finishes, for
 * `warmupMs` and then `measureMs`. Only refunds that finish inside the measured window count;
 * those still running when it closes finish, uncounted, before this returns.
 */
export async function closedLoop<T extends { finishedAt: number } = LifecycleTimes>(
  driver: { run(iteration: number): Promise<T> },
  opts: { concurrency: number; warmupMs: number; measureMs: number; onWindowStart(): void; onWindowEnd(): void },
): Promise<LoopResult<T>> {
  const begin = now();
  const windowStart = begin + opts.warmupMs;
  const windowEnd = windowStart + opts.measureMs;
  const result: LoopResult<T> = { completed: [], errors: 0, windowSeconds: opts.measureMs / 1000 };
  // Each window edge fires once, on its timer or at the latest when the loop is done.
  const once = (edge: () => void) => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      edge();
    };
  };
  const onStart = once(opts.onWindowStart);
  const onEnd = once(opts.onWindowEnd);
  const startTimer = setTimeout(onStart, opts.warmupMs);
  const endTimer = setTimeout(onEnd, opts.warmupMs + opts.measureMs);
  let iteration = 0;
  const late: Array<Promise<void>> = [];
  const loop = async () => {
    while (now() < windowEnd) {
      try {
        const work = driver.run(iteration++);
        const times = await withDeadline(work, ITERATION_DEADLINE_MS).catch((error: unknown) => {
          // Late refunds go on: waited for (a while) below, so none outlives the client it uses.
          late.push(work.then(noop, noop));
          throw error;
        });
        if (times.finishedAt >= windowStart && times.finishedAt <= windowEnd) result.completed.push(times);
      } catch (error) {
        result.errors++;
        result.firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, loop));
    if (late.length > 0) await withDeadline(Promise.all(late), ITERATION_DEADLINE_MS).catch(noop);
  } finally {
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    onStart();
    onEnd();
  }
  return result;
}
