/**
 * Names the HTTP server span of each request (made by instrumentation-http when tracing is on,
 * config/tracing.ts) after its Fastify route, `POST /v1/refunds` rather than the bare method, and
 * sets `http.route`; the route's pattern, never the URL, so no id or query lands in a span name.
 * With tracing off there is no active span and the hook does nothing.
 */
import { trace } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';

export function nameRequestSpans(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const span = trace.getActiveSpan();
    if (!span?.isRecording()) return;
    const route = request.routeOptions.url;
    if (route === undefined) return;
    span.updateName(`${request.method} ${route}`);
    span.setAttribute('http.route', route);
  });
}
