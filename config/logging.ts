/**
 * What every process's JSON logs share (pino): the level (LOG_LEVEL), the redaction of credentials
 * wherever they appear, the trace and span ids of a line written inside a trace (tracing on,
 * config/tracing.ts), and pino-pretty instead of JSON when the lines go to a terminal.
 */
import { trace } from '@opentelemetry/api';

/** Paths pino replaces with "[Redacted]": credentials, cookies, signatures, secrets and keys. */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["set-cookie"]',
  'req.headers["x-carrier-signature"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.authorization',
  '*.signature',
  '*.secret',
  '*.secretKey',
  '*.apiKey',
  '*.password',
  '*.token',
  '*.privateKey',
  'signature',
  'secret',
  'secretKey',
  'apiKey',
];

export interface LogOptions {
  /** pino's level: trace, debug, info (default), warn, error, fatal, silent. */
  level?: string;
  /** Where the lines go instead of stdout (tests). */
  stream?: { write(line: string): void };
  /** Pretty-print with pino-pretty; by default only when writing to a terminal. */
  pretty?: boolean;
}

/** pino options (without a stream) for `options`. */
export function baseLoggerOptions(options: LogOptions) {
  const pretty = options.pretty ?? (options.stream === undefined && process.stdout.isTTY === true);
  return {
    level: options.level ?? 'info',
    redact: { paths: redactedPaths, censor: '[Redacted]' },
    mixin: traceContext,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard' } } } : {}),
  };
}

/** `trace_id` and `span_id` of the span the line is written in, if any (with tracing off there never is one). */
export function traceContext(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
