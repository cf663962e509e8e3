/**
 * Tracing off, as it is unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
 * set: nothing is registered, so a refund requested over HTTP and run by a worker exports no span
 * (even to a span processor that was handed in), the Temporal client and the worker get no tracing
 * interceptor, and the worker loads the plain workflow bundle, not the traced one beside it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { trace } from '@opentelemetry/api';
import { Resource } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OpenTelemetryActivityInboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { temporalClientInterceptors } from '../../api/server';
import { RefundsApiClient } from '../../client/refunds-api-client';
import { setupTracing, type Tracing, tracingEnabled } from '../../config/tracing';
import { withTransaction } from '../../store/pool';
import { createRefundWorker } from '../../worker/worker';
import { prebuiltWorkflowBundle, tracedBundlePath } from '../../worker/workflow-bundle';
import { type ApiHarness, startApiHarness } from '../support/api-harness';
import { fastPolicy, refundOf } from '../support/fixtures';
import { testStack, uniqueId } from '../support/stack';

const exporter = new InMemorySpanExporter();
let api: ApiHarness;

beforeAll(async () => {
  expect(
    setupTracing({
      serviceName: 'refund-test',
      http: true,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: '' },
      spanProcessor: new SimpleSpanProcessor(exporter),
    }),
  ).toBeUndefined();
  api = await startApiHarness();
});
afterAll(async () => api?.close());

it('is on only with an OTLP endpoint for traces', () => {
  expect(tracingEnabled({})).toBe(false);
  expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' })).toBe(false);
  expect(tracingEnabled({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://collector:4318/v1/metrics' })).toBe(false);
  expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
  expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
});

it('exports nothing for a refund requested over HTTP and run by a worker, and registers no tracer', async () => {
  const service = await api.principal('svc-checkout', ['refund_service']);
  const client = new RefundsApiClient({ baseUrl: await api.listen(), apiKey: service.apiKey, signingKey: service.signingKey! });
  const request = refundOf(4_500);
  expect((await client.requestRefund(request)).created).toBe(true);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
  await trace.getTracer('test').startActiveSpan('outside any provider', async (span) => {
    expect(span.isRecording()).toBe(false);
    await withTransaction(api.h.pool, async () => undefined);
    span.end();
  });
  expect(exporter.getFinishedSpans()).toEqual([]);
});

it('gives the Temporal client and the worker no tracing interceptor', async () => {
  expect(temporalClientInterceptors(undefined)).toEqual({ workflow: [] });
  const create = (tracing?: Tracing) =>
    createRefundWorker({
      connection: api.h.native,
      namespace: 'default',
      taskQueue: uniqueId('refunds-untraced'),
      pool: api.h.pool,
      policy: fastPolicy,
      trustRoots: api.h.registry.trustRoots,
      carrierSecrets: api.h.carrierSecrets,
      workflowBundlePath: testStack().workflowBundlePath,
      ...(tracing ? { tracing } : {}),
    });
  const untraced = await create();
  // The same worker with tracing (not registered globally: only its options are compared).
  const traced = await create({
    spanProcessor: new SimpleSpanProcessor(exporter),
    resource: Resource.default(),
    shutdown: async () => undefined,
  });
  expect(traced.options.interceptors.activity).toHaveLength(untraced.options.interceptors.activity.length + 1);
  expect(Object.keys(untraced.options.sinks ?? {})).not.toContain('exporter');
  expect(Object.keys(traced.options.sinks ?? {})).toContain('exporter');
  expect(untraced.options.interceptors.workflowModules).toEqual([]);
  // The webhook dispatcher's activities make no span with tracing on either (nor does its workflow).
  const tracedActivities = (workflowType: string) =>
    traced.options.interceptors.activity
      .map((factory) => factory({ info: { workflowType, activityType: 'collectWebhookDeliveries' } } as never))
      .filter((interceptors) => interceptors.inbound instanceof OpenTelemetryActivityInboundInterceptor).length;
  expect(tracedActivities('refundWorkflow')).toBe(1);
  expect(tracedActivities('webhookDispatcherWorkflow')).toBe(0);
  // Created workers hold the connection until they have run and stopped.
  for (const worker of [untraced, traced]) {
    const running = worker.run();
    worker.shutdown();
    await running;
  }
});

it('loads the plain workflow bundle with tracing off and the traced one beside it with tracing on', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'refunds-bundles-'));
  try {
    const plain = path.join(dir, 'workflow-bundle.js');
    await writeFile(plain, '');
    expect(tracedBundlePath(plain)).toBe(path.join(dir, 'workflow-bundle-traced.js'));
    expect(prebuiltWorkflowBundle(plain)).toBe(plain);
    // No traced bundle beside it: a traced worker bundles its workflows at start rather than run them untraced.
    expect(prebuiltWorkflowBundle(plain, true)).toBeUndefined();
    await writeFile(tracedBundlePath(plain), '');
    expect(prebuiltWorkflowBundle(plain, false)).toBe(plain);
    expect(prebuiltWorkflowBundle(plain, true)).toBe(tracedBundlePath(plain));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
