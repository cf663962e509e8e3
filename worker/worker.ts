/**
 * The refund worker: registers the refund workflow and its activities on a task queue. Used by
 * `npm start`, by the production entry point (worker/main.ts) and by the tests.
 */
import { existsSync } from 'node:fs';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import proto from '@temporalio/proto';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from '../activities';
import { createWebhookActivities } from '../activities/webhooks';
import { loadWebhookConfig } from '../config/webhooks';
import { startWebhookDispatcher } from './webhook-dispatcher';
import { createPool, type Pool } from '../store/pool';
import { LedgerOnlyGateway, type PaymentGateway } from '../activities/payments';
import type { WorkerMetrics } from '../activities/metrics';
import type { Policy } from '../workflows/policy';
import type { TrustRoots } from '../workflows/statements';
import type { CarrierSecrets } from '../config/carrier-signature';
import { refundSearchAttributes } from '../workflows/search-attributes';
import { untracedWorkflowTypes } from '../workflows/tracing-scope';
import { type Config, ConfigError, loadConfig, shutdownForceExtraSeconds } from '../config/worker';
import { loadAuditConfig, loadAuditKey, type AuditConfig, type AuditKey } from '../config/audit';
import { startAuditCheckpointer, type AuditCheckpointer } from './audit-checkpointer';
import { preloadedWorkflowModules, prebuiltWorkflowBundle, tracingWorkflowInterceptors, workflowsPath } from './workflow-bundle';
import type { Tracing } from '../config/tracing';
import { describeWorkerOptions, WORKER_OPTIONS_PREFIX } from './worker-options';

export interface RefundWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  policy: Policy;
  /** The admins whose endorsements make registry entries count; each new refund pins them. */
  trustRoots: TrustRoots;
  /** The carriers' webhook keys: each refund has the worker check a carrier event's signature with them. */
  carrierSecrets: CarrierSecrets;
  gateway?: PaymentGateway;
  /** Where the activities count payouts, rejected messages and approval latency (served at the worker's /metrics). */
  metrics?: WorkerMetrics;
  /**
   * A prebuilt workflow bundle (worker/workflow-bundle.ts); otherwise the workflows are bundled at
   * start. With `tracing`, it must be a traced bundle (one built with the OpenTelemetry workflow interceptors).
   */
  workflowBundlePath?: string;
  /**
   * The process's tracing (config/tracing.ts), when on: activities run in RunActivity spans, the
   * workflows' spans are exported through a sink, and a workflow bundle made at start gets the
   * OpenTelemetry workflow interceptors. Undefined: no tracing interceptor at all.
   */
  tracing?: Tracing;
  /** How long one webhook delivery attempt waits for the receiver (default 10 s). */
  webhookRequestTimeoutMs?: number;
  tuning?: Pick<
    WorkerOptions,
    | 'maxConcurrentActivityTaskExecutions'
    | 'maxConcurrentWorkflowTaskExecutions'
    | 'maxCachedWorkflows'
    | 'workflowTaskPollerBehavior'
    | 'activityTaskPollerBehavior'
    | 'reuseV8Context'
    | 'workflowThreadPoolSize'
    | 'shutdownGraceTime'
    | 'shutdownForceTime'
  >;
}

/**
 * The worker options the configuration sets (config/worker.ts): the concurrency limits and the
 * shutdown bounds always, the rest only when set, so that unset ones keep the SDK's defaults.
 */
export function workerTuning(config: Config): NonNullable<RefundWorkerOptions['tuning']> {
  return {
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.maxConcurrentWorkflowTasks,
    ...(config.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: config.maxCachedWorkflows } : {}),
    ...(config.workflowTaskPollers !== undefined
      ? { workflowTaskPollerBehavior: { type: 'simple-maximum', maximum: config.workflowTaskPollers } }
      : {}),
    ...(config.activityTaskPollers !== undefined
      ? { activityTaskPollerBehavior: { type: 'simple-maximum', maximum: config.activityTaskPollers } }
      : {}),
    ...(config.reuseV8Context !== undefined ? { reuseV8Context: config.reuseV8Context } : {}),
    ...(config.workflowThreads !== undefined ? { workflowThreadPoolSize: config.workflowThreads } : {}),
    // Shutdown is bounded: in-flight tasks get the grace time, then a few seconds to wind down
    // after cancellation, then the worker stops anyway (payouts are safe to retry elsewhere).
    shutdownGraceTime: config.shutdownGraceSeconds * 1_000,
    shutdownForceTime: (config.shutdownGraceSeconds + shutdownForceExtraSeconds) * 1_000,
  };
}

export async function createRefundWorker(options: RefundWorkerOptions): Promise<Worker> {
  const tracing = options.tracing;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundlePath
      ? { workflowBundle: { codePath: options.workflowBundlePath } }
      : { workflowsPath, bundlerOptions: { preloadModules: preloadedWorkflowModules } }),
    ...(tracing
      ? {
          interceptors: {
            activity: [
              (ctx) =>
                untracedWorkflowTypes.includes(ctx.info.workflowType ?? '')
                  ? {}
                  : {
                      inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
                      outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
                    },
            ],
            // Only read when the workflows are bundled at start; a prebuilt traced bundle has them.
            ...(options.workflowBundlePath ? {} : { workflowModules: [tracingWorkflowInterceptors] }),
          },
          sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
        }
      : {}),
    activities: {
      ...createActivities({
        pool: options.pool,
        policy: options.policy,
        trustRoots: options.trustRoots,
        carrierSecrets: options.carrierSecrets,
        gateway: options.gateway ?? new LedgerOnlyGateway(),
        ...(options.metrics ? { metrics: options.metrics } : {}),
      }),
      ...createWebhookActivities({
        pool: options.pool,
        ...(options.webhookRequestTimeoutMs ? { requestTimeoutMs: options.webhookRequestTimeoutMs } : {}),
      }),
    },
    ...options.tuning,
  });
}

const { IndexedValueType } = proto.temporal.api.enums.v1;
const indexedValueTypes = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Datetime: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Bool: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
} as const;

/**
 * Registers the refund search attributes on the namespace if they are missing, so the workflow
 * can publish its state on any server. On Temporal Cloud, where the API key may not allow this,
 * register them once from the Cloud UI instead.
 */
export async function ensureSearchAttributes(connection: NativeConnection, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = Object.entries(refundSearchAttributes).filter(([name]) => !known.has(name));
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, indexedValueTypes[type]])),
  });
}

/**
 * Runs a worker until `signal` aborts, then drains in-flight tasks and closes its connections.
 * Configuration comes from the environment (see config/worker.ts); the arguments override it.
 */
export async function runWorker(opts: {
  /**
   * Instead of the TEMPORAL_* variables' cluster (config/worker.ts): npm start's, with its own
   * connection options (the configured cluster's envconfig options, or a dev server's address alone).
   */
  temporal?: Config['temporal'];
  databaseUrl: string;
  signal: AbortSignal;
  /** Instead of REFUNDS_AUDIT_KEY and REFUNDS_AUDIT_CHECKPOINT_FILE (npm start's demo key and .data/). */
  audit?: { keyFile?: string; checkpointFile?: string };
  /** Instead of REFUNDS_CARRIER_SECRETS (npm start's demo carrier keys). */
  carrierSecrets?: CarrierSecrets;
  /** Called once the worker is created and running (its state is what the worker's /readyz reports). */
  onRunning?: (worker: Worker) => void;
  /** The worker's service metrics (worker/main.ts serves them at /metrics). */
  metrics?: WorkerMetrics;
  /** The process's tracing (config/tracing.ts), when on: the worker then traces and loads the traced workflow bundle. */
  tracing?: Tracing;
  /** The payment gateway (default: the ledger-only one). */
  gateway?: PaymentGateway;
}): Promise<void> {
  const config = loadConfig();
  const trustRoots = config.trustRoots;
  if (!trustRoots) {
    throw new ConfigError('REFUNDS_TRUST_ROOTS must name the trust roots file for a worker: without it no signed decision can be verified');
  }
  const carrierSecrets = opts.carrierSecrets ?? config.carrierSecrets;
  if (!carrierSecrets) {
    throw new ConfigError(
      "REFUNDS_CARRIER_SECRETS must name the carriers' webhook keys file for a worker (the same file as the API's): without it no carrier event can be verified",
    );
  }
  const workflowBundle = prebuiltWorkflowBundle(config.workflowBundle, opts.tracing !== undefined);
  const kind = opts.tracing ? 'traced bundle' : 'bundle';
  if (!workflowBundle && !existsSync(workflowsPath)) {
    throw new ConfigError(
      `no workflow ${kind}: ${workflowsPath} is not here to bundle at start; build with \`npm run build\` or set REFUNDS_WORKFLOW_BUNDLE (with its -traced.js beside it for tracing)`,
    );
  }
  console.log(
    workflowBundle
      ? `workflows from the ${kind} ${workflowBundle}`
      : `workflows bundled at start${opts.tracing ? ' with the tracing interceptors' : ''} (no prebuilt ${kind})`,
  );
  const audit = { ...loadAuditConfig(), ...opts.audit };
  const webhooks = loadWebhookConfig();
  const auditKey = audit.keyFile ? loadAuditKey(audit.keyFile) : undefined;
  const temporal = opts.temporal ?? config.temporal;
  const namespace = temporal.namespace;
  const connection = await NativeConnection.connect({ ...temporal.connectionOptions, address: temporal.address });
  const pool = createPool(opts.databaseUrl, config.dbPoolSize);
  let checkpointer: AuditCheckpointer | undefined;
  try {
    await ensureSearchAttributes(connection, namespace);
    const worker = await createRefundWorker({
      connection,
      namespace,
      taskQueue: config.taskQueue,
      pool,
      policy: config.policy,
      trustRoots,
      carrierSecrets,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      ...(opts.gateway ? { gateway: opts.gateway } : {}),
      ...(workflowBundle ? { workflowBundlePath: workflowBundle } : {}),
      ...(opts.tracing ? { tracing: opts.tracing } : {}),
      webhookRequestTimeoutMs: webhooks.requestTimeoutMs,
      tuning: workerTuning(config),
    });
    // Shutdown is only valid once the worker runs (an abort during start-up waits for run()), and
    // only once: the SDK's own SIGINT/SIGTERM handling may already have started draining it.
    const stop = () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
    };
    opts.signal.addEventListener('abort', stop, { once: true });
    console.log(`${WORKER_OPTIONS_PREFIX} ${describeWorkerOptions(worker.options)}`);
    const running = worker.run();
    opts.onRunning?.(worker);
    checkpointer = auditCheckpoints(pool, auditKey, audit);
    if (opts.signal.aborted) stop();
    else {
      console.log(`refund worker polling task queue "${config.taskQueue}" in namespace "${namespace}" (policy ${config.policy.version})`);
      if (webhooks.enabled) {
        await dispatchWebhooks(temporal, config.taskQueue, webhooks).catch((error: unknown) => {
          // Refunds do not depend on it: a worker that cannot start the dispatcher keeps serving them.
          console.error(`webhook dispatcher not started: ${error instanceof Error ? error.message : String(error)}`);
        });
      }
    }
    await running;
  } finally {
    await checkpointer?.stop();
    await pool.end();
    await connection.close();
  }
}

/** Signed audit checkpoints, when the worker has an audit key (docs/operations.md, "Audit trail"). */
function auditCheckpoints(pool: Pool, key: AuditKey | undefined, audit: AuditConfig): AuditCheckpointer | undefined {
  if (!key) {
    console.log('audit checkpoints are off: set REFUNDS_AUDIT_KEY to the audit key file (docs/configuration.md)');
    return undefined;
  }
  console.log(
    `audit checkpoints every ${audit.checkpointIntervalMs / 1000} s, signed with key ${key.keyId}, exported to ${audit.checkpointFile}`,
  );
  return startAuditCheckpointer({
    pool,
    key,
    intervalMs: audit.checkpointIntervalMs,
    exportFile: audit.checkpointFile,
    log: (message) => console.error(message),
  });
}

/** Starts the webhook dispatcher workflow if none is running (docs/operations.md, "Notifications"). */
async function dispatchWebhooks(
  temporal: Config['temporal'],
  taskQueue: string,
  webhooks: ReturnType<typeof loadWebhookConfig>,
): Promise<void> {
  const connection = await Connection.connect({ ...temporal.connectionOptions, address: temporal.address });
  try {
    const id = await startWebhookDispatcher(new Client({ connection, namespace: temporal.namespace }), taskQueue, {
      pollMs: webhooks.pollMs,
      retry: { maxAttempts: webhooks.maxAttempts, maximumMs: webhooks.maxRetryIntervalMs },
    });
    console.log(`webhook dispatcher ${id} running (every ${webhooks.pollMs} ms)`);
  } finally {
    await connection.close();
  }
}
