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
import { carrierEventSignal, refundWorkflowId, warehouseScanSignal, type RefundStatus } from '../workflows/messages';
import { nullRefundDecideUpdate, nullRefundWorkflowId, type NullRefundStatus } from './baseline/workflow';
import type { Approver, CarrierEvent, RefundRequest } from '../workflows/schemas';
import { approver, carrierEvent, matchingReceipt, refundOf } from '../test/support/fixtures';

export type DriverKind = 'baseline' | 'pipeline';

export interface LifecycleTimes {
  approvals: number;
  startedAt: number;
  /** When the approver sent the last approval the refund needed. */
  finalApprovalAt?: number;
  finishedAt: number;
}

/**
 * The tier mix, by iteration: 7 in 10 paid automatically (45.00), 2 in 10 with one approval
 * (450.00), 1 in 10 with two (2,499.00), all low risk with clean evidence.
 */
export function tierOf(iteration: number): { amount: number; approvals: 0 | 1 | 2 } {
  const slot = iteration % 10;
  if (slot < 7) return { amount: 4_500, approvals: 0 };
  if (slot < 9) return { amount: 45_000, approvals: 1 };
  return { amount: 249_900, approvals: 2 };
}

/**
 * Staff, spread the way a real operation spreads them: each refund gets its requesting agent,
 * scanner and approvers from pools large enough that no one comes near the risk engine's
 * per-employee signals and circuit breakers (tens of refunds or approvals a day), however long
 * the benchmark runs.
 */
let staffCounter = 0;
function staffFor(): { initiatedBy: string; scanner: string; approvers: [Approver, Approver] } {
  const n = staffCounter++;
  return {
    initiatedBy: `emp-agent-${n % 1000}`,
    scanner: `emp-scanner-${n % 200}`,
    approvers: [approver(`emp-approver-${(2 * n) % 1000}`), approver(`emp-approver-${(2 * n + 1) % 1000}`)],
  };
}
const now = () => performance.now();

/** A refund request as a refund service sends one, from one of the pooled agents. */
export function refundForLoad(amount = 4_500): RefundRequest {
  return refundOf(amount, { initiatedBy: staffFor().initiatedBy });
}

/** Polls the `status` query (both workflows answer it) until the refund awaits approval. */
async function untilAwaitingApproval(handle: WorkflowHandle): Promise<void> {
  for (let pause = 5; ; pause = Math.min(pause * 2, 50)) {
    const status = await handle.query<RefundStatus | NullRefundStatus>('status').catch(() => undefined);
    if (status?.state === 'awaiting_approval') return;
    if (status && status.state !== 'awaiting_evidence' && status.state !== 'awaiting_carrier' && status.state !== 'awaiting_warehouse' && status.state !== 'risk_review') {
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
  /** Starts the refund; resolves with its workflow. */
  request(request: RefundRequest): Promise<WorkflowHandle>;
  carrierEvent(handle: WorkflowHandle, event: CarrierEvent): Promise<void>;
  warehouseScan(handle: WorkflowHandle, request: RefundRequest, scannedBy: string): Promise<void>;
  approve(handle: WorkflowHandle, request: RefundRequest, approver: Approver): Promise<void>;
}

/** One refund's whole life, the same for both: request, delivery, receipt, approvals, paid. */
function lifecycleDriver(kind: DriverKind, messages: RefundMessages): Driver {
  return {
    kind,
    async run(iteration) {
      const tier = tierOf(iteration);
      const staff = staffFor();
      const request = refundOf(tier.amount, { initiatedBy: staff.initiatedBy });
      const startedAt = now();
      const handle = await messages.request(request);
      await messages.carrierEvent(handle, carrierEvent(request, 'delivered'));
      await messages.warehouseScan(handle, request, staff.scanner);
      let finalApprovalAt: number | undefined;
      if (tier.approvals > 0) {
        await untilAwaitingApproval(handle);
        for (let n = 0; n < tier.approvals; n++) {
          finalApprovalAt = now();
          await messages.approve(handle, request, staff.approvers[n]!);
        }
      }
      const result = (await handle.result()) as RefundStatus | NullRefundStatus;
      if (result.state !== 'refunded') throw new Error(`refund ${request.refundId} ended ${result.state}, expected refunded`);
      return { approvals: tier.approvals, startedAt, finishedAt: now(), ...(finalApprovalAt ? { finalApprovalAt } : {}) };
    },
  };
}

/**
 * Sends a carrier's webhook the way carriers do: when the refund is not routable yet (under
 * heavy load requestRefund can return before the refund is in the read model), it is sent again.
 */
async function deliverCarrierEvent(refunds: RefundsService, event: CarrierEvent): Promise<void> {
  for (let pause = 20; ; pause = Math.min(pause * 2, 1_000)) {
    try {
      await refunds.recordCarrierEvent(event);
      return;
    } catch (error) {
      if (!(error instanceof RefundNotFoundError)) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

export function pipelineDriver(refunds: RefundsService, temporal: Client): Driver {
  return lifecycleDriver('pipeline', {
    async request(request) {
      await refunds.requestRefund(request);
      return temporal.workflow.getHandle(refundWorkflowId(request.refundId));
    },
    carrierEvent: (_, event) => deliverCarrierEvent(refunds, event),
    warehouseScan: (_, request, scannedBy) => refunds.recordWarehouseScan(request.refundId, matchingReceipt(request), scannedBy),
    approve: async (_, request, approver) => void (await refunds.approve(request.refundId, approver)),
  });
}

export function baselineDriver(temporal: Client, taskQueue: string): Driver {
  return lifecycleDriver('baseline', {
    // The same start options the refund client sends.
    request: (request) =>
      temporal.workflow.start('nullRefundWorkflow', {
        taskQueue,
        workflowId: nullRefundWorkflowId(request.refundId),
        args: [request],
        memo: { requestHash: requestHash(request) },
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      }),
    carrierEvent: (handle, event) => handle.signal(carrierEventSignal, event),
    warehouseScan: (handle, request, scannedBy) => handle.signal(warehouseScanSignal, { receipt: matchingReceipt(request), scannedBy }),
    approve: async (handle, _, approver) =>
      void (await handle.executeUpdate(nullRefundDecideUpdate, { args: [{ approver, decision: { decision: 'approve' } }] })),
  });
}

/** A refund that has not finished by then counts as an error, so one stuck refund cannot stall a run. */
const ITERATION_DEADLINE_MS = 60_000;

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`refund did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export interface LoopResult {
  completed: LifecycleTimes[];
  errors: number;
  firstError?: string;
  windowSeconds: number;
}

/**
 * Runs `concurrency` refunds at a time, each starting the next as soon as it finishes, for
 * `warmupMs` and then `measureMs`. Only refunds that finish inside the measured window count;
 * those still running when it closes finish, uncounted, before this returns.
 */
export async function closedLoop(
  driver: Pick<Driver, 'run'>,
  opts: { concurrency: number; warmupMs: number; measureMs: number; onWindowStart(): void; onWindowEnd(): void },
): Promise<LoopResult> {
  const begin = now();
  const windowStart = begin + opts.warmupMs;
  const windowEnd = windowStart + opts.measureMs;
  const result: LoopResult = { completed: [], errors: 0, windowSeconds: opts.measureMs / 1000 };
  // Each window edge fires once, on its timer or at the latest when the loop is done.
  const once = (edge: () => void) => {
    let done = false;
    return () => void (done || ((done = true), edge()));
  };
  const onStart = once(opts.onWindowStart);
  const onEnd = once(opts.onWindowEnd);
  const startTimer = setTimeout(onStart, opts.warmupMs);
  const endTimer = setTimeout(onEnd, opts.warmupMs + opts.measureMs);
  let iteration = 0;
  const loop = async () => {
    while (now() < windowEnd) {
      try {
        const times = await withDeadline(driver.run(iteration++), ITERATION_DEADLINE_MS);
        if (times.finishedAt >= windowStart && times.finishedAt <= windowEnd) result.completed.push(times);
      } catch (error) {
        result.errors++;
        result.firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, loop));
  } finally {
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    onStart();
    onEnd();
  }
  return result;
}
