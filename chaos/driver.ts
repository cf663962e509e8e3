/**
 * Drives each planned refund through its life over the HTTP API with the typed client, as the
 * refund service, the carrier, a scanner and approvers would, while processes die underneath:
 * every call that fails for want of an answer (refused, reset, timed out, 5xx, 429) is sent again,
 * bounded in attempts and time; the request with the same refund id, decisions and cancels under
 * the typed client's own Idempotency-Key retries.
 */
import { RefundApiError } from '../client/refunds-api-client';
import type { RefundView } from '../client/views';
import type { ChaosClients } from './principals';
import { carrierEvents, type RefundPlan, receiptFor } from './plan';
import type { Recorder } from './recorder';

export interface DrivenRefund {
  refundId: string;
  /** How many request answers said "created" (201); one request, however often sent, creates one refund. */
  created: number;
  /** The last state the driver saw, and whether it stopped there because a bound ran out. */
  lastState?: string;
  gaveUp?: string;
  /** Answers that refused a step for a reason other than a lost answer (kept for the report). */
  refusals: string[];
}

const FINAL = new Set(['refunded', 'rejected', 'cancelled', 'expired', 'failed']);
const PAST_EVIDENCE = new Set(['awaiting_approval', 'paying', ...FINAL]);

/** A bound ran out; the refund is left where it is and the run goes on. */
class GaveUp extends Error {}

/** No answer, or an answer saying "not now": worth sending again. */
export function isTransient(error: unknown): boolean {
  if (error instanceof RefundApiError) return error.status >= 500 || error.status === 429 || error.status === 408;
  return error instanceof TypeError || (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError'));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface DriverOptions {
  clients: ChaosClients;
  recorder: Recorder;
  /** Longest a step is retried, and a wait for a state lasts. */
  stepBoundMs: number;
  /** The run's hard deadline (performance.now()); nothing is retried past it. */
  deadline: number;
  /** Picks among `n` (seeded). */
  pick(n: number): number;
}

export class RefundDriver {
  constructor(private readonly opts: DriverOptions) {}

  /** Sends `op` again while it fails for want of an answer, with backoff, within the step bound. */
  async persist<T>(what: string, op: () => Promise<T>, alsoRetry: (error: unknown) => boolean = () => false): Promise<T> {
    const until = Math.min(performance.now() + this.opts.stepBoundMs, this.opts.deadline);
    for (let pause = 200; ; pause = Math.min(pause * 2, 3_000)) {
      try {
        return await op();
      } catch (error) {
        if (!(isTransient(error) || alsoRetry(error))) throw error;
        if (performance.now() + pause > until) throw new GaveUp(`${what}: ${(error as Error).message}`);
        await sleep(pause);
      }
    }
  }

  /** Reads the refund until `reached` holds (the refund's own progress, seen as a client sees it), bounded. */
  async until(refundId: string, reached: (view: RefundView) => boolean, what: string): Promise<RefundView> {
    const from = performance.now();
    const until = Math.min(from + this.opts.stepBoundMs, this.opts.deadline);
    let last: RefundView | undefined;
    for (let pause = 50; ; pause = Math.min(pause * 2, 1_000)) {
      last = await this.opts.clients.ops.getRefund(refundId).catch((error: unknown) => {
        if (isTransient(error)) return last;
        throw error;
      });
      if (last && reached(last)) {
        this.opts.recorder.waits.push({ refundId, from, to: performance.now(), reached: true });
        if (FINAL.has(last.state)) this.opts.recorder.completed();
        return last;
      }
      if (performance.now() + pause > until) {
        this.opts.recorder.waits.push({ refundId, from, to: performance.now(), reached: false });
        throw new GaveUp(`waiting for ${what}: still ${last?.state ?? 'unreadable'}`);
      }
      await sleep(pause);
    }
  }

  async drive(plan: RefundPlan): Promise<DrivenRefund> {
    const result: DrivenRefund = { refundId: plan.request.refundId, created: 0, refusals: [] };
    try {
      result.lastState = (await this.lifecycle(plan, result)).state;
    } catch (error) {
      result.gaveUp = error instanceof Error ? error.message : String(error);
      if (!(error instanceof GaveUp)) result.refusals.push(result.gaveUp);
      const view = await this.opts.clients.ops.getRefund(plan.request.refundId).catch(() => undefined);
      if (view) result.lastState = view.state;
    }
    return result;
  }

  private async lifecycle(plan: RefundPlan, result: DrivenRefund): Promise<RefundView> {
    const { clients } = this.opts;
    const { refundId } = plan.request;
    const events = carrierEvents(plan);
    const sendEvent = (event: typeof events.delivered) => this.persist('carrier event', () => clients.carrier.sendCarrierEvent(event));
    if (plan.carrierBeforeRequest) await sendEvent(events.delivered);
    await this.request(plan, result);
    if (plan.duplicateRequest) await this.request(plan, result);
    if (plan.cancel === 'after_request') return this.cancel(refundId);
    const receipt = receiptFor(plan, new Date().toISOString());
    const scan = () => this.scan(plan, receipt);
    if (plan.scanBeforeDelivery) await scan();
    const order = plan.deliveredBeforeTransit ? [events.delivered, events.transit] : [events.transit, events.delivered];
    for (const event of order) {
      await sendEvent(event);
      if (plan.duplicateCarrierEvents) await sendEvent(event);
    }
    if (plan.cancel === 'after_delivery') return this.cancel(refundId);
    if (!plan.scanBeforeDelivery) {
      await this.until(refundId, (v) => v.state !== 'awaiting_carrier', 'the delivery');
      await scan();
    }
    if (plan.repeatScan) await scan();
    const assessed = await this.until(refundId, (v) => PAST_EVIDENCE.has(v.state), 'the risk check');
    if (assessed.state === 'awaiting_approval') await this.decide(plan, result);
    return this.until(refundId, (v) => FINAL.has(v.state), 'a final state');
  }

  private async request(plan: RefundPlan, result: DrivenRefund): Promise<void> {
    const { created } = await this.persist('request', () => this.opts.clients.service.requestRefund(plan.request));
    if (created) result.created++;
  }

  private async scan(plan: RefundPlan, receipt: ReturnType<typeof receiptFor>): Promise<void> {
    const scanner = this.opts.clients.scanners[plan.index % this.opts.clients.scanners.length]!;
    await this.persist('scan', () => scanner.client.recordWarehouseScan(plan.request.refundId, receipt));
  }

  private async cancel(refundId: string): Promise<RefundView> {
    await this.persist('cancel', () => this.opts.clients.service.cancel(refundId, 'customer changed their mind')).catch(
      (error: unknown) => {
        // Sent again under a new key after the typed client's own retries ran out, a cancel that went through the first time is refused.
        if (!(error instanceof RefundApiError && /refund is cancelled/.test(error.message))) throw error;
      },
    );
    return this.until(refundId, (v) => FINAL.has(v.state), 'the cancellation');
  }

  /**
   * Approves with distinct approvers while the refund awaits approval, or has the first reject.
   * A decision whose answers were all lost may have counted: the refund is read again before the
   * next approver is asked, and an approver whose decision is already in is never asked twice.
   */
  private async decide(plan: RefundPlan, result: DrivenRefund): Promise<void> {
    const { approvers } = this.opts.clients;
    const asked = new Set<number>();
    let view = await this.until(plan.request.refundId, () => true, 'the refund');
    while (view.state === 'awaiting_approval' && asked.size < 6) {
      let n = this.opts.pick(approvers.length);
      while (asked.has(n) || view.approvals.some((a) => a.approverId === approvers[n]!.id)) n = (n + 1) % approvers.length;
      asked.add(n);
      const approver = approvers[n]!;
      const given = view.approvals.length;
      try {
        await this.persist('decision', () =>
          plan.reject
            ? approver.client.reject(plan.request.refundId, 'receipt does not match')
            : approver.client.approve(plan.request.refundId, 'receipt matches'),
        );
      } catch (error) {
        if (error instanceof GaveUp) throw error;
        result.refusals.push(`decision by ${approver.id}: ${(error as Error).message}`);
        view = await this.until(plan.request.refundId, () => true, 'the refund');
        continue;
      }
      view = await this.until(plan.request.refundId, (v) => v.state !== 'awaiting_approval' || v.approvals.length > given, 'the decision');
    }
  }
}
