/**
 * Traces (OpenTelemetry), exported over OTLP/HTTP, and only when OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set. Without either, `setupTracing` registers nothing: the
 * OpenTelemetry API stays a no-op, the Temporal client and worker get no tracing interceptors and
 * the worker loads the workflow bundle without them (docs/observability.md, "Traces").
 *
 * With tracing on, one trace runs from an HTTP request (instrumentation-http, the span renamed to
 * the Fastify route by api/plugins/tracing.ts) through the Temporal client's StartWorkflow, the
 * workflow's RunWorkflow and its activities (@temporalio/interceptors-opentelemetry) down to each
 * PostgreSQL transaction (store/pool.ts). The exporter reads the standard OTEL_EXPORTER_OTLP_*
 * variables itself (endpoint, headers, timeout); OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
 * name the process.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { detectResourcesSync, envDetectorSync, Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** Whether the environment asks for traces: an OTLP endpoint for them is set. */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/** A process's tracing, once set up: what the Temporal worker's workflow span sink needs, and a flush at exit. */
export interface Tracing {
  /** Where every span ends up; the worker hands the workflows' spans to it too. */
  spanProcessor: SpanProcessor;
  /** The process's resource (service.name, and OTEL_RESOURCE_ATTRIBUTES). */
  resource: Resource;
  /** Exports what is still buffered and stops; call once, at exit. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** service.name unless OTEL_SERVICE_NAME says otherwise: refund-api, refund-worker. */
  serviceName: string;
  env?: NodeJS.ProcessEnv;
  /** Trace incoming HTTP requests (the API); the worker's probes are not worth a span. */
  http?: boolean;
  /** Instead of batching to the OTLP exporter (tests: a SimpleSpanProcessor on an InMemorySpanExporter). */
  spanProcessor?: SpanProcessor;
}

/** Requests no one wants a trace of: probes and scrapes. */
const untracedPaths = /^\/(healthz|readyz|metrics)(\?|$)/;

/**
 * Registers the tracer provider (and, for the API, the HTTP server instrumentation) when the
 * environment asks for traces; returns undefined, having done nothing, when it does not. Call it
 * once per process, before the Temporal client, the worker or the HTTP server is created.
 */
export function setupTracing(options: TracingOptions): Tracing | undefined {
  const env = options.env ?? process.env;
  if (!tracingEnabled(env)) return undefined;
  const resource = new Resource({ 'service.name': options.serviceName }).merge(detectResourcesSync({ detectors: [envDetectorSync] }));
  const spanProcessor = options.spanProcessor ?? new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  let disableInstrumentations: () => void = () => undefined;
  if (options.http) {
    disableInstrumentations = registerInstrumentations({
      tracerProvider: provider,
      instrumentations: [
        new HttpInstrumentation({
          disableOutgoingRequestInstrumentation: true,
          ignoreIncomingRequestHook: (request: IncomingMessage) => untracedPaths.test(request.url ?? ''),
        }),
      ],
    });
    // This is an ES module: its imports of node:http (Fastify's among them) happened before the
    // instrumentation hooked require. Requiring it once now lets the instrumentation patch the one
    // shared http module, whose Server.prototype.emit every server (Fastify's too) calls.
    createRequire(import.meta.url)('node:http');
  }
  return {
    spanProcessor,
    resource,
    async shutdown() {
      disableInstrumentations();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
