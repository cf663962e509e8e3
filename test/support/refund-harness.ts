/**
 * A refund worker on its own task queue, against the run's real Temporal dev server and
 * PostgreSQL, plus a client for it. One per test file.
 */
import type { Client } from '@temporalio/client';
import { type NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type RefundActivities } from '../../activities';
import { withRecordProgress } from './record-progress';
import type { Pool } from '../../store/pool';
import { LedgerOnlyGateway, type PaymentGateway } from '../../activities/payments';
import type { WorkerMetrics } from '../../activities/metrics';
import { startCarrierEventSweep, type RunningSweep } from '../../api/carrier-event-sweep';
import { RefundsService, type RefundRequested, type RefundsServiceOptions } from '../../api/refunds-service';
import { RefundRequest } from '../../workflows/schemas';
import type { Policy } from '../../workflows/policy';
import type { CarrierSecrets } from '../../config/carrier-signature';
import type { CarrierEvent, WarehouseReceipt } from '../../workflows/schemas';
import { type CarrierSigning, signedCarrierEvent, TEST_CARRIER_SECRETS } from './carrier-keys';
import { createRefundWorker, type RefundWorkerOptions } from '../../worker/worker';
import { temporalClientInterceptors } from '../../api/server';
import type { Tracing } from '../../config/tracing';
import { fastPolicy } from './fixtures';
import { createRegistryWorld, type RegistryWorld } from './registry-world';
import { connectClient, connectNative, newPool, ownerPool, testStack, uniqueId } from './stack';

export interface RefundHarness {
  /** Takes bare requests too, signed as the registry world's refund service. */
  refunds: SigningRefundsService;
  temporal: Client;
  pool: Pool;
  taskQueue: string;
  native: NativeConnection;
  /** The carrier event sweep an API process runs, every 200 ms (undefined when the harness was started without it). */
  sweep: RunningSweep | undefined;
  /** This file's trust roots (pinned by its worker), approvers and scanners, for signed decisions and scans. */
  registry: RegistryWorld;
  /** The carriers' keys the worker verifies carrier events with. */
  carrierSecrets: CarrierSecrets;
  /** Records `event` through the service, signed as its carrier would (with the harness's keys unless `signing` says otherwise). */
  carrierEvent(event: CarrierEvent | string, signing?: CarrierSigning): ReturnType<RefundsService['recordCarrierEvent']>;
  /** Records a receipt through the service, signed by `scannerId` (registered as a scanner on first use). */
  scan(refundId: string, receipt: WarehouseReceipt, scannerId: string): Promise<void>;
  /** Stops the worker (for crash and restart tests); `startWorker` starts a new one, optionally with another policy. */
  stopWorker(): Promise<void>;
  startWorker(gateway?: PaymentGateway, policy?: Policy): Promise<void>;
  /** The running worker's options, as the SDK resolved them (undefined while no worker runs). */
  workerOptions(): Worker['options'] | undefined;
  close(): Promise<void>;
}

/**
 * The refunds service with one convenience for tests: `requestRefund` also takes a bare refund
 * request, and signs it as the registry world's refund service first, as the typed client does.
 * A signed request (`{ statement, signature }`) goes through as given; a bare request that is not
 * a valid one is sent unsigned, so the service names its fields at fault.
 */
export class SigningRefundsService extends RefundsService {
  constructor(
    options: RefundsServiceOptions,
    private readonly registry: RegistryWorld,
  ) {
    super(options);
  }

  override async requestRefund(input: unknown): Promise<RefundRequested> {
    if (typeof input === 'object' && input !== null && 'statement' in input) return super.requestRefund(input);
    if (!RefundRequest.safeParse(input).success) return super.requestRefund({ statement: { kind: 'refund_request', request: input } });
    return super.requestRefund(await this.registry.signedRequest(input as RefundRequest));
  }
}

/** Tracing on for a harness: the process's tracing and a traced workflow bundle (buildWorkflowBundle(…, { traced: true })). */
export interface HarnessTracing {
  tracing: Tracing;
  workflowBundlePath: string;
}

type RecordProgress = RefundActivities['recordProgress'];
export type RecordProgressWrapper = (input: Parameters<RecordProgress>[0], write: RecordProgress) => ReturnType<RecordProgress>;

export async function startRefundHarness(
  options: {
    policy?: Policy;
    gateway?: (pool: Pool) => PaymentGateway;
    startWorker?: boolean;
    sweepCarrierEvents?: boolean;
    registry?: RegistryWorld;
    /** The carriers' keys of the worker (default TEST_CARRIER_SECRETS). */
    carrierSecrets?: CarrierSecrets;
    /** Stands in front of the worker's recordProgress, to make the database refuse writes as a test needs. */
    recordProgress?: RecordProgressWrapper;
    /** Where the worker's activities count payouts, rejected messages and approval latency. */
    metrics?: WorkerMetrics;
    /** Tracing on: the client and the worker get the tracing interceptors, and the worker this traced workflow bundle. */
    tracing?: HarnessTracing;
    /** The worker's tuning (as worker/worker.ts's workerTuning makes it from the configuration); default: the SDK's. */
    tuning?: RefundWorkerOptions['tuning'];
  } = {},
): Promise<RefundHarness> {
  const workflowBundlePath = options.tracing?.workflowBundlePath ?? testStack().workflowBundlePath;
  const temporal = await connectClient(temporalClientInterceptors(options.tracing?.tracing));
  const native = await connectNative();
  const pool = newPool();
  // The registry is written as the schema owner, as refunds-admin does; the service only reads it.
  const owner = ownerPool();
  const registry = options.registry ?? createRegistryWorld(owner);
  const carrierSecrets = options.carrierSecrets ?? TEST_CARRIER_SECRETS;
  const taskQueue = uniqueId('refunds');
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;

  const startWorker = async (gateway = options.gateway?.(pool), policy = options.policy ?? fastPolicy) => {
    const wrap = options.recordProgress;
    if (wrap) {
      const activities = createActivities({
        pool,
        policy,
        gateway: gateway ?? new LedgerOnlyGateway(),
        trustRoots: registry.trustRoots,
        carrierSecrets,
      });
      worker = await Worker.create({
        connection: native,
        namespace: 'default',
        taskQueue,
        workflowBundle: { codePath: workflowBundlePath },
        activities: withRecordProgress(activities, (input) => wrap(input, activities.recordProgress)),
      });
      running = worker.run();
      return;
    }
    worker = await createRefundWorker({
      connection: native,
      namespace: 'default',
      taskQueue,
      pool,
      policy,
      trustRoots: registry.trustRoots,
      carrierSecrets,
      ...(gateway ? { gateway } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(options.tracing ? { tracing: options.tracing.tracing } : {}),
      ...(options.tuning ? { tuning: options.tuning } : {}),
      workflowBundlePath,
    });
    running = worker.run();
  };
  const stopWorker = async () => {
    worker?.shutdown();
    await running;
    worker = undefined;
  };
  if (options.startWorker !== false) await startWorker();

  const refunds = new SigningRefundsService({ temporal, pool, taskQueue }, registry);
  // As in an API process: carrier events that came before their refund's first row are delivered once it is there.
  const sweep =
    options.sweepCarrierEvents === false
      ? undefined
      : startCarrierEventSweep(
          refunds,
          { intervalMs: 200, batchSize: 100 },
          { info: () => undefined, warn: () => undefined, error: console.error },
        );
  return {
    refunds,
    temporal,
    pool,
    taskQueue,
    native,
    sweep,
    registry,
    carrierSecrets,
    carrierEvent: (event, signing = {}) => refunds.recordCarrierEvent(signedCarrierEvent(event, { secrets: carrierSecrets, ...signing })),
    async scan(refundId, receipt, scannerId) {
      await refunds.recordWarehouseScan(refundId, await registry.signedScan(refundId, scannerId, receipt));
    },
    stopWorker,
    startWorker,
    workerOptions: () => worker?.options,
    async close() {
      await sweep?.stop();
      await stopWorker();
      await pool.end();
      await owner.end();
      await native.close();
      await temporal.connection.close();
    },
  };
}
