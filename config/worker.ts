/**
 * Configuration, read and validated once at start. A bad value stops the process with a message
 * naming the variable (or the policy file's key) at fault.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { z } from 'zod';
import { TASK_QUEUE_DEFAULT } from '../workflows/messages';
import { defaultPolicy, Policy } from '../workflows/policy';
import { describeIssues } from '../workflows/schemas';
import { TrustRoots } from '../workflows/statements';
import { ConfigError } from './errors';
import { loadCarrierSecretsFile } from './carrier-secrets';
import type { CarrierSecrets } from './carrier-signature';

export { ConfigError };

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL');

/** Unset or empty: undefined, so the Temporal SDK's own default applies. */
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v);

/** A whole number from `min` to `max`, or unset (undefined); anything else is refused with `message`. */
function optionalCount(min: number, max: number, message = `must be a whole number from ${min} to ${max.toLocaleString('en-US')}`) {
  const count = z.number().int(message).min(min, message).max(max, message);
  return z.preprocess(unsetIfEmpty, z.string({ error: message }).regex(/^\d+$/, message).transform(Number).pipe(count).optional());
}

/** The user a postgres:// URL names, if it names one. */
function userOf(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).username) || undefined;
  } catch {
    return undefined;
  }
}

const Env = z.object({
  DATABASE_URL: postgresUrl.optional(),
  REFUNDS_MIGRATION_DATABASE_URL: postgresUrl.optional(),
  REFUNDS_TASK_QUEUE: z.string().min(1).default(TASK_QUEUE_DEFAULT),
  REFUNDS_POLICY_FILE: z.string().min(1).optional(),
  REFUNDS_TRUST_ROOTS: z.string().min(1).optional(),
  REFUNDS_CARRIER_SECRETS: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  REFUNDS_PAYMENT_GATEWAY: z.enum(['ledger']).default('ledger'),
  REFUNDS_WORKER_MAX_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).default(200),
  REFUNDS_WORKER_MAX_WORKFLOW_TASKS: z.coerce.number().int().min(1).max(10_000).default(200),
  REFUNDS_WORKER_MAX_CACHED_WORKFLOWS: optionalCount(0, 100_000, 'must be 0 (no cache) or a whole number from 2 to 100,000')
    // The SDK would make 1 into 2, with a warning: a cache needs the sticky queue's task and the task queue's.
    .refine((n) => n !== 1, 'must be 0 (no cache) or a whole number from 2 to 100,000'),
  REFUNDS_WORKER_WORKFLOW_POLLERS: optionalCount(1, 1_000),
  REFUNDS_WORKER_ACTIVITY_POLLERS: optionalCount(1, 1_000),
  REFUNDS_WORKER_REUSE_V8_CONTEXT: z.preprocess(unsetIfEmpty, z.enum(['true', 'false'], { error: 'must be true or false' }).optional()),
  REFUNDS_WORKER_WORKFLOW_THREADS: optionalCount(1, 64),
  REFUNDS_WORKER_SHUTDOWN_GRACE: z.coerce.number().int().min(0).max(3_600).default(10),
  REFUNDS_DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  REFUNDS_DB_RETRY_INITIAL_MS: z.coerce.number().int().min(10).max(600_000).default(500),
  REFUNDS_DB_RETRY_MAX_MS: z.coerce.number().int().min(10).max(600_000).default(30_000),
  REFUNDS_WORKER_HTTP_PORT: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.coerce
      .number({ error: 'must be a port number' })
      .int('must be a whole number')
      .min(0, 'must be between 0 and 65535')
      .max(65535, 'must be between 0 and 65535')
      .optional(),
  ),
  REFUNDS_WORKER_HTTP_HOST: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).default('127.0.0.1')),
  REFUNDS_WORKER_METRICS_ADDRESS: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, { error: 'must be host:port, e.g. 127.0.0.1:9464' })
      .optional(),
  ),
  REFUNDS_WORKFLOW_BUNDLE: z
    .string()
    .min(1)
    .refine((file) => existsSync(file), 'no such file: build it with `npm run build:workflows`')
    .optional(),
});

/** The service connects as one role and migrates as another: the owner's URL is never the run-time one. */
const EnvWithRoles = Env.superRefine((vars, ctx) => {
  const migrationUrl = vars.REFUNDS_MIGRATION_DATABASE_URL;
  if (!migrationUrl) return;
  if (!vars.DATABASE_URL) {
    ctx.addIssue({
      code: 'custom',
      path: ['REFUNDS_MIGRATION_DATABASE_URL'],
      message: "is only used with DATABASE_URL (the service role's URL); set both, or neither for npm start's embedded database",
    });
    return;
  }
  const owner = userOf(migrationUrl);
  if (owner !== undefined && owner === userOf(vars.DATABASE_URL)) {
    ctx.addIssue({
      code: 'custom',
      path: ['REFUNDS_MIGRATION_DATABASE_URL'],
      message: `must connect as the schema owner, not as DATABASE_URL's role (${owner}), which the worker and the API run as`,
    });
  }
});

/**
 * A worker that caches workflows polls its sticky queue besides the task queue, so the SDK refuses
 * to start with fewer than 2 workflow pollers unless the cache is off: said here, naming the variable.
 */
const CheckedEnv = EnvWithRoles.superRefine((vars, ctx) => {
  if (vars.REFUNDS_WORKER_WORKFLOW_POLLERS === 1 && vars.REFUNDS_WORKER_MAX_CACHED_WORKFLOWS !== 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['REFUNDS_WORKER_WORKFLOW_POLLERS'],
      message:
        'must be at least 2 while workflows are cached (the sticky queue takes a poller); 1 only with REFUNDS_WORKER_MAX_CACHED_WORKFLOWS=0',
    });
  }
});

export interface Config {
  temporal: { address: string; namespace: string; connectionOptions: ReturnType<typeof loadClientConnectConfig>['connectionOptions'] };
  /** The service role's URL: what the worker and the API connect as at run time. */
  databaseUrl: string | undefined;
  /** The schema owner's URL: when set, the process applies pending migrations with it; otherwise it only checks none is pending. */
  migrationDatabaseUrl: string | undefined;
  taskQueue: string;
  policy: Policy;
  /** The admins whose keys make registry entries count (REFUNDS_TRUST_ROOTS); a worker needs them. */
  trustRoots: TrustRoots | undefined;
  /** The carriers' webhook keys (REFUNDS_CARRIER_SECRETS); a worker verifies every carrier event with them. */
  carrierSecrets: CarrierSecrets | undefined;
  paymentGateway: 'ledger';
  maxConcurrentActivities: number;
  maxConcurrentWorkflowTasks: number;
  /**
   * Workflows the worker keeps in memory between tasks (REFUNDS_WORKER_MAX_CACHED_WORKFLOWS); 0: none,
   * so every workflow task replays the history. Unset: the SDK's default, from the heap size.
   */
  maxCachedWorkflows: number | undefined;
  /** Most workflow task polls open at once (REFUNDS_WORKER_WORKFLOW_POLLERS), sticky queue included; unset: the SDK's default. */
  workflowTaskPollers: number | undefined;
  /** Most activity task polls open at once (REFUNDS_WORKER_ACTIVITY_POLLERS); unset: the SDK's default. */
  activityTaskPollers: number | undefined;
  /**
   * Whether each workflow thread runs all its workflows in one reused V8 context (true) or gives each
   * workflow a context of its own (REFUNDS_WORKER_REUSE_V8_CONTEXT); unset: the SDK's default (reused).
   */
  reuseV8Context: boolean | undefined;
  /** Threads that run workflow code (REFUNDS_WORKER_WORKFLOW_THREADS); unset: the SDK's default, which depends on reuseV8Context. */
  workflowThreads: number | undefined;
  /**
   * Seconds a stopping worker lets in-flight tasks finish before cancelling them; it is stopped by
   * force `shutdownForceExtraSeconds` later, so shutdown never waits longer than the sum.
   */
  shutdownGraceSeconds: number;
  dbPoolSize: number;
  /** Backoff between attempts to reach the database at start (doubling from initialMs up to maxMs). */
  dbRetry: { initialMs: number; maxMs: number };
  /** A workflow bundle built beforehand; without one the worker bundles the workflows at start. */
  workflowBundle: string | undefined;
  /** Where worker/main.ts serves /healthz and /readyz (REFUNDS_WORKER_HTTP_PORT; 0 picks a free port); unset: no listener. */
  workerHttp: { host: string; port: number } | undefined;
  /** Where the Temporal SDK's Prometheus exporter listens (REFUNDS_WORKER_METRICS_ADDRESS, host:port); unset: not exported. */
  sdkMetricsAddress: string | undefined;
}

/** After the grace time, cancelled activities get this long to wind down before the worker stops by force. */
export const shutdownForceExtraSeconds = 5;

export function loadPolicyFile(path: string): Policy {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`REFUNDS_POLICY_FILE ${path}: ${(error as Error).message}`);
  }
  const parsed = Policy.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`REFUNDS_POLICY_FILE ${path} is invalid: ${describeIssues(parsed.error, { root: '(root)' })}`);
  }
  return parsed.data;
}

/** Reads and validates the trust roots file (REFUNDS_TRUST_ROOTS), or throws a ConfigError naming the variable. */
export function loadTrustRootsFile(path: string): TrustRoots {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`REFUNDS_TRUST_ROOTS ${path}: ${(error as Error).message}`);
  }
  const parsed = TrustRoots.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`REFUNDS_TRUST_ROOTS ${path} is invalid: ${describeIssues(parsed.error, { root: '(root)' })}`);
  }
  return parsed.data;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = CheckedEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(`invalid configuration: ${describeIssues(parsed.error)}`);
  const vars = parsed.data;
  let temporal: ReturnType<typeof loadClientConnectConfig>;
  try {
    temporal = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  } catch (error) {
    throw new ConfigError(`invalid Temporal configuration (TEMPORAL_* variables): ${(error as Error).message}`);
  }
  return {
    temporal: {
      address: temporal.connectionOptions.address ?? 'localhost:7233',
      namespace: temporal.namespace ?? 'default',
      connectionOptions: temporal.connectionOptions,
    },
    databaseUrl: vars.DATABASE_URL,
    migrationDatabaseUrl: vars.REFUNDS_MIGRATION_DATABASE_URL,
    taskQueue: vars.REFUNDS_TASK_QUEUE,
    policy: vars.REFUNDS_POLICY_FILE ? loadPolicyFile(vars.REFUNDS_POLICY_FILE) : defaultPolicy,
    trustRoots: vars.REFUNDS_TRUST_ROOTS ? loadTrustRootsFile(vars.REFUNDS_TRUST_ROOTS) : undefined,
    carrierSecrets: vars.REFUNDS_CARRIER_SECRETS ? loadCarrierSecretsFile(vars.REFUNDS_CARRIER_SECRETS) : undefined,
    paymentGateway: vars.REFUNDS_PAYMENT_GATEWAY,
    maxConcurrentActivities: vars.REFUNDS_WORKER_MAX_ACTIVITIES,
    maxConcurrentWorkflowTasks: vars.REFUNDS_WORKER_MAX_WORKFLOW_TASKS,
    maxCachedWorkflows: vars.REFUNDS_WORKER_MAX_CACHED_WORKFLOWS,
    workflowTaskPollers: vars.REFUNDS_WORKER_WORKFLOW_POLLERS,
    activityTaskPollers: vars.REFUNDS_WORKER_ACTIVITY_POLLERS,
    reuseV8Context: vars.REFUNDS_WORKER_REUSE_V8_CONTEXT === undefined ? undefined : vars.REFUNDS_WORKER_REUSE_V8_CONTEXT === 'true',
    workflowThreads: vars.REFUNDS_WORKER_WORKFLOW_THREADS,
    shutdownGraceSeconds: vars.REFUNDS_WORKER_SHUTDOWN_GRACE,
    dbPoolSize: vars.REFUNDS_DB_POOL_SIZE,
    dbRetry: {
      initialMs: vars.REFUNDS_DB_RETRY_INITIAL_MS,
      maxMs: Math.max(vars.REFUNDS_DB_RETRY_INITIAL_MS, vars.REFUNDS_DB_RETRY_MAX_MS),
    },
    workflowBundle: vars.REFUNDS_WORKFLOW_BUNDLE,
    workerHttp:
      vars.REFUNDS_WORKER_HTTP_PORT === undefined
        ? undefined
        : { host: vars.REFUNDS_WORKER_HTTP_HOST, port: vars.REFUNDS_WORKER_HTTP_PORT },
    sdkMetricsAddress: vars.REFUNDS_WORKER_METRICS_ADDRESS,
  };
}
