/**
 * One trace from the HTTP request to the database, with tracing on (config/tracing.ts) and spans
 * caught in memory: a 45.00 USD refund (no approval needed) requested over HTTP, returned (carrier
 * delivery, warehouse scan) and paid on the real Temporal server and PostgreSQL. The API's server
 * span for POST /v1/refunds is the ancestor of the client's StartWorkflow, the workflow's
 * RunWorkflow, its activities' RunActivity spans and the PostgreSQL transactions they run, all in
 * one trace; no span carries a credential, and log lines written in a span carry its ids.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import { Worker } from '@temporalio/worker';
import pino from 'pino';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { RefundsApiClient } from '../../client/refunds-api-client';
import { baseLoggerOptions } from '../../config/logging';
import { setupTracing, type Tracing } from '../../config/tracing';
import { withTransaction } from '../../store/pool';
import { buildWorkflowBundle, tracingWorkflowInterceptors } from '../../worker/workflow-bundle';
import { type ApiHarness, startApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { testStack } from '../support/stack';
import { refundWorkflowId } from '../../workflows/messages';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let api: ApiHarness;
let baseUrl: string;
let dir: string;
let tracedBundle: string;
let service: TestPrincipal;
let scanner: TestPrincipal;
let ops: TestPrincipal;

beforeAll(async () => {
  tracing = setupTracing({
    serviceName: 'refund-test',
    http: true,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
    spanProcessor: new SimpleSpanProcessor(exporter),
  })!;
  dir = await mkdtemp(path.join(os.tmpdir(), 'refunds-traces-'));
  tracedBundle = path.join(dir, 'workflow-bundle-traced.js');
  await buildWorkflowBundle(tracedBundle, { traced: true });
  api = await startApiHarness({ tracing: { tracing, workflowBundlePath: tracedBundle } });
  baseUrl = await api.listen();
  [service, scanner, ops] = await Promise.all([
    api.principal('svc-checkout', ['refund_service']),
    api.principal('wh-scanner', ['warehouse']),
    api.principal('emp-ops', ['ops']),
  ]);
});
afterAll(async () => {
  await api?.close();
  await tracing?.shutdown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `span`'s ancestors within `spans`, nearest first. */
function ancestors(span: ReadableSpan, spans: ReadableSpan[]): ReadableSpan[] {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const found: ReadableSpan[] = [];
  for (
    let parent = span.parentSpanId && byId.get(span.parentSpanId);
    parent;
    parent = parent.parentSpanId && byId.get(parent.parentSpanId)
  ) {
    found.push(parent);
  }
  return found;
}

it('bundles the OpenTelemetry workflow interceptors into the traced bundle only', async () => {
  const marker = 'OpenTelemetryInboundInterceptor';
  expect(await readFile(tracedBundle, 'utf8')).toContain(marker);
  expect(await readFile(testStack().workflowBundlePath, 'utf8')).not.toContain(marker);
  expect(tracingWorkflowInterceptors).toMatch(/tracing-interceptors\.ts$/);
});

it('traces a refund from POST /v1/refunds through the workflow and its activities to each PostgreSQL transaction', async () => {
  const client = (who?: TestPrincipal) =>
    new RefundsApiClient({
      baseUrl,
      ...(who ? { apiKey: who.apiKey } : {}),
      ...(who?.signingKey ? { signingKey: who.signingKey } : {}),
      carrierKey: api.carrierKey('ups'),
    });
  const request = refundOf(4_500);
  const { created } = await client(service).requestRefund(request);
  expect(created).toBe(true);
  await client().sendCarrierEvent(carrierEvent(request, 'delivered', { weightGrams: 1_000 }));
  await vi.waitFor(async () => expect((await client(ops).getRefund(request.refundId)).state).toBe('awaiting_warehouse'), {
    timeout: 20_000,
    interval: 100,
  });
  await client(scanner).recordWarehouseScan(request.refundId, matchingReceipt(request));
  await vi.waitFor(async () => expect((await client(ops).getRefund(request.refundId)).state).toBe('refunded'), {
    timeout: 30_000,
    interval: 100,
  });

  // Workflow spans reach the exporter when they end (RunWorkflow when the refund's workflow completes).
  const caught = await vi.waitFor(
    () => {
      const spans = exporter.getFinishedSpans();
      const server = spans.find((s) => s.name === 'POST /v1/refunds' && s.kind === SpanKind.SERVER);
      expect(server, 'the HTTP server span').toBeDefined();
      expect(server!.attributes['http.route']).toBe('/v1/refunds');
      const inTrace = spans.filter((s) => s.spanContext().traceId === server!.spanContext().traceId);
      const under = (name: string | RegExp) =>
        inTrace.filter((s) => (typeof name === 'string' ? s.name === name : name.test(s.name)) && ancestors(s, inTrace).includes(server!));
      expect(under('StartWorkflow:refundWorkflow')).toHaveLength(1);
      expect(under('RunWorkflow:refundWorkflow')).toHaveLength(1);
      expect(under(/^RunActivity:/).length).toBeGreaterThan(0);
      expect(under('RunActivity:payOut').length).toBeGreaterThan(0);
      return { server: server!, spans: inTrace };
    },
    { timeout: 30_000, interval: 200 },
  );
  const { server, spans } = caught;
  const start = spans.find((s) => s.name === 'StartWorkflow:refundWorkflow')!;
  const run = spans.find((s) => s.name === 'RunWorkflow:refundWorkflow')!;
  expect(ancestors(run, spans)).toContain(start);
  expect(ancestors(start, spans)[0]).toBe(server);
  for (const activity of spans.filter((s) => s.name.startsWith('RunActivity:'))) expect(ancestors(activity, spans)).toContain(run);

  // PostgreSQL transactions in the activities.
  const transactions = spans.filter((s) => s.name === 'pg.transaction');
  const inActivities = transactions.filter((t) => ancestors(t, spans).some((a) => a.name.startsWith('RunActivity:')));
  expect(inActivities.length).toBeGreaterThan(0);
  for (const t of transactions) {
    expect(t.kind).toBe(SpanKind.CLIENT);
    expect(t.attributes).toMatchObject({ 'db.system': 'postgresql', 'db.transaction.outcome': 'commit' });
  }
  expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);

  // No credential, signature or database URL in any span of the run.
  const everything = JSON.stringify(
    exporter
      .getFinishedSpans()
      .map((s) => ({ name: s.name, attributes: s.attributes, events: s.events.map((e) => [e.name, e.attributes]) })),
  );
  for (const secret of [service.apiKey, scanner.apiKey, ops.apiKey, testStack().databaseUrl, api.carrierKey('ups').secret]) {
    expect(everything).not.toContain(secret);
  }
  expect(everything).not.toMatch(/authorization|Bearer /i);
});

it('writes the trace and span ids on log lines written inside a span, and none outside', async () => {
  const lines: string[] = [];
  const logger = pino(baseLoggerOptions({ pretty: false }), { write: (line: string) => lines.push(line) });
  logger.info('outside');
  await withTransaction(api.h.pool, async () => undefined); // no active span: no transaction span either
  const ids = await trace.getTracer('test').startActiveSpan('parent', async (span) => {
    logger.info('inside');
    await withTransaction(api.h.pool, async () => undefined);
    span.end();
    return span.spanContext();
  });
  const [outside, inside] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(outside).not.toHaveProperty('trace_id');
  expect(inside).toMatchObject({ msg: 'inside', trace_id: ids.traceId, span_id: ids.spanId });
  const parentTransactions = exporter
    .getFinishedSpans()
    .filter((s) => s.name === 'pg.transaction' && s.spanContext().traceId === ids.traceId);
  expect(parentTransactions).toHaveLength(1);
});

// Refunds recorded without tracing replay on a traced worker, so a refund may move between traced and untraced workers.
const historiesDir = fileURLToPath(new URL('../replay/histories/', import.meta.url));
it.each(readdirSync(historiesDir).filter((f) => f.endsWith('.json')))('replays %s with the traced bundle', async (file) => {
  const history = historyFromJSON(JSON.parse(readFileSync(`${historiesDir}${file}`, 'utf8')));
  const data = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  const input = JSON.parse(Buffer.from(data!).toString('utf8')) as { refundId?: string; statement?: { request?: { refundId?: string } } };
  const refundId = input.statement?.request?.refundId ?? input.refundId;
  expect(refundId).toBeDefined();
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: tracedBundle }, sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } },
    history,
    refundWorkflowId(refundId!),
  );
});
