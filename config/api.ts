/**
 * The API's own configuration, read and validated once at start; a bad value stops the process
 * with a message naming the variable. Temporal and DATABASE_URL come from config/worker.ts.
 */
import { msToNumber } from '@temporalio/common';
import { z } from 'zod';
import { ConfigError } from './worker';
import { describeIssues } from '../workflows/schemas';

export interface ApiLimits {
  /** Requests per principal (or, for carriers, per client address) per window. */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Longest a handler may take (Temporal or PostgreSQL slow or unreachable) before the caller gets a 503. */
  handlerTimeoutMs: number;
  /** Longest a client may take to send its whole request. */
  requestTimeoutMs: number;
}

export const defaultApiLimits: ApiLimits = {
  rateLimitMax: 600,
  rateLimitWindowMs: 60_000,
  bodyLimitBytes: 256 * 1024,
  handlerTimeoutMs: 30_000,
  requestTimeoutMs: 30_000,
};

const unsetIfEmpty = (value: unknown) => (value === '' ? undefined : value);

const duration = (name: string, fallbackMs: number) =>
  z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .optional()
      .transform((value, ctx) => {
        if (value === undefined) return fallbackMs;
        try {
          const ms = msToNumber(value as Parameters<typeof msToNumber>[0]);
          if (ms > 0) return ms;
        } catch {
          // reported below
        }
        ctx.addIssue({ code: 'custom', message: `${name} must be a duration such as "30s", "1 minute" or "5m"` });
        return z.NEVER;
      }),
  );

const integer = (name: string, fallback: number, min: number, max: number) =>
  z.preprocess(
    unsetIfEmpty,
    z.coerce
      .number({ error: `${name} must be a number` })
      .int(`${name} must be a whole number`)
      .min(min, `${name} must be at least ${min}`)
      .max(max, `${name} must be at most ${max}`)
      .default(fallback),
  );

const ApiEnv = z.object({
  HOST: z.preprocess(unsetIfEmpty, z.string().min(1).default('127.0.0.1')),
  PORT: integer('PORT', 3000, 0, 65535),
  CARRIER_WEBHOOK_SECRET: z.preprocess(
    unsetIfEmpty,
    z.string().min(32, 'CARRIER_WEBHOOK_SECRET must be at least 32 characters (e.g. openssl rand -hex 32)').optional(),
  ),
  REFUNDS_API_RATE_LIMIT: integer('REFUNDS_API_RATE_LIMIT', defaultApiLimits.rateLimitMax, 1, 1_000_000),
  REFUNDS_API_RATE_WINDOW: duration('REFUNDS_API_RATE_WINDOW', defaultApiLimits.rateLimitWindowMs),
  REFUNDS_API_BODY_LIMIT: integer('REFUNDS_API_BODY_LIMIT', defaultApiLimits.bodyLimitBytes, 1024, 50 * 1024 * 1024),
  REFUNDS_API_HANDLER_TIMEOUT: duration('REFUNDS_API_HANDLER_TIMEOUT', defaultApiLimits.handlerTimeoutMs),
  REFUNDS_API_REQUEST_TIMEOUT: duration('REFUNDS_API_REQUEST_TIMEOUT', defaultApiLimits.requestTimeoutMs),
});

export interface ApiConfig {
  host: string;
  port: number;
  /** Undefined only where the caller supplies one (npm start's demo secret). */
  carrierWebhookSecret: string | undefined;
  limits: ApiLimits;
}

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const parsed = ApiEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(`invalid API configuration: ${describeIssues(parsed.error)}`);
  const vars = parsed.data;
  return {
    host: vars.HOST,
    port: vars.PORT,
    carrierWebhookSecret: vars.CARRIER_WEBHOOK_SECRET,
    limits: {
      rateLimitMax: vars.REFUNDS_API_RATE_LIMIT,
      rateLimitWindowMs: vars.REFUNDS_API_RATE_WINDOW,
      bodyLimitBytes: vars.REFUNDS_API_BODY_LIMIT,
      handlerTimeoutMs: vars.REFUNDS_API_HANDLER_TIMEOUT,
      requestTimeoutMs: vars.REFUNDS_API_REQUEST_TIMEOUT,
    },
  };
}

/** The carrier secret, which a production API must be given. */
export function requireCarrierSecret(config: ApiConfig): string {
  if (!config.carrierWebhookSecret) {
    throw new ConfigError('CARRIER_WEBHOOK_SECRET must be set: the secret carriers sign their webhooks with (at least 32 characters)');
  }
  return config.carrierWebhookSecret;
}
