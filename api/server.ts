/**
 * Runs the HTTP API on a real port with its own Temporal client and PostgreSQL pool. Used by the
 * production entry point (api/main.ts) and by `npm start`. It starts whether or not PostgreSQL and
 * Temporal answer yet (both are connected on first use); /readyz says when they do.
 */
import { Client, Connection, type ConnectionOptions, type WorkflowClientInterceptor } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { FastifyServerOptions } from 'fastify';
import { createPool } from '../store/pool';
import { RefundsService } from './refunds-service';
import type { AuditVerifierOptions } from './audit-verification';
import { buildApp } from './app';
import { startCarrierEventSweep } from './carrier-event-sweep';
import type { ApiConfig } from '../config/api';
import type { CarrierSecrets } from '../client/carrier-signature';
import type { Policy } from '../workflows/policy';
import type { TrustRoots } from '../workflows/statements';
import type { Tracing } from '../config/tracing';

/** Temporal is ready when its frontend answers a health check. */
function temporalCheck(connection: Connection) {
  return async () => {
    await connection.ensureConnected();
    const { status } = await connection.healthService.check({});
    return status === 1 ? undefined : `health status ${String(status)}`;
  };
}

export interface ApiServerOptions {
  temporal: { address: string; namespace: string; connectionOptions?: ConnectionOptions };
  databaseUrl: string;
  taskQueue: string;
  api: ApiConfig & { carrierSecrets: CarrierSecrets };
  dbPoolSize?: number;
  /** The pinned audit keys and the checkpoint export file, for audit verification (config/audit.ts). */
  audit?: AuditVerifierOptions;
  /** The policy whose limits refund requests must keep to (the worker's). */
  policy?: Policy;
  /** The trust roots the workers pin (REFUNDS_TRUST_ROOTS), for the registry routes. */
  trustRoots?: TrustRoots;
  logger?: FastifyServerOptions['logger'];
  /** The process's tracing (config/tracing.ts), when on: the Temporal client then carries the trace into the workflows. */
  tracing?: Tracing;
}

/**
 * The Temporal client's interceptors: with tracing on, StartWorkflow, SignalWorkflow and the other
 * client calls are spans of the request that made them, and pass the trace to the workflow in
 * their headers; with it off, none.
 */
export function temporalClientInterceptors(tracing: Tracing | undefined): { workflow: WorkflowClientInterceptor[] } {
  return { workflow: tracing ? [new OpenTelemetryWorkflowClientInterceptor()] : [] };
}

export interface ApiServer {
  /** e.g. http://127.0.0.1:3000 */
  url: string;
  close(): Promise<void>;
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const connection = Connection.lazy({ ...options.temporal.connectionOptions, address: options.temporal.address });
  const pool = createPool(options.databaseUrl, options.dbPoolSize ?? 10);
  try {
    const refunds = new RefundsService({
      temporal: new Client({
        connection,
        namespace: options.temporal.namespace,
        interceptors: temporalClientInterceptors(options.tracing),
      }),
      pool,
      taskQueue: options.taskQueue,
      ...(options.audit ? { audit: options.audit } : {}),
      carrierEventMaxPendingMs: options.api.limits.carrierEventMaxPendingMs,
    });
    const app = await buildApp({
      refunds,
      pool,
      carrierSecrets: options.api.carrierSecrets,
      limits: options.api.limits,
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.trustRoots ? { trustRoots: options.trustRoots } : {}),
      webauthn: options.api.webauthn,
      readinessChecks: { temporal: temporalCheck(connection) },
      logger: options.logger ?? false,
    });
    await app.listen({ host: options.api.host, port: options.api.port });
    // Delivers carrier events stored but not signalled (refund not recorded yet, or a process that died in between).
    const sweep = startCarrierEventSweep(
      refunds,
      { intervalMs: options.api.limits.carrierEventSweepIntervalMs, batchSize: options.api.limits.carrierEventSweepBatch },
      app.log,
    );
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : options.api.port;
    const host = options.api.host.includes(':') ? `[${options.api.host}]` : options.api.host;
    return {
      url: `http://${host}:${port}`,
      async close() {
        await sweep.stop();
        await app.close();
        await pool.end();
        await connection.close();
      },
    };
  } catch (error) {
    await pool.end().catch(() => undefined);
    await connection.close().catch(() => undefined);
    throw error;
  }
}
