/**
 * Outgoing webhooks, read and validated once at start (docs/configuration.md lists the variables,
 * docs/operations.md, "Notifications", how delivery works).
 */
import { z } from 'zod';
import { describeIssues } from '../workflows/schemas';
import { ConfigError } from './errors';

export interface WebhookConfig {
  /** Whether this worker starts the dispatcher workflow (it always runs the dispatcher's activities). */
  enabled: boolean;
  pollMs: number;
  /** How long one delivery attempt waits for the receiver. */
  requestTimeoutMs: number;
  /** Attempts in all before a delivery is given up as failed. */
  maxAttempts: number;
  /** Longest wait between two attempts. */
  maxRetryIntervalMs: number;
}

const unsetIfEmpty = (value: unknown) => (value === '' ? undefined : value);
const int = (min: number, max: number, fallback: number) =>
  z.preprocess(unsetIfEmpty, z.coerce.number().int().min(min).max(max).default(fallback));

const Env = z.object({
  REFUNDS_WEBHOOKS: z.preprocess(unsetIfEmpty, z.enum(['on', 'off']).default('on')),
  REFUNDS_WEBHOOK_POLL_MS: int(100, 60_000, 2_000),
  REFUNDS_WEBHOOK_TIMEOUT_MS: int(1_000, 60_000, 10_000),
  REFUNDS_WEBHOOK_MAX_ATTEMPTS: int(1, 1_000, 25),
  REFUNDS_WEBHOOK_MAX_RETRY_INTERVAL_MS: int(1_000, 86_400_000, 600_000),
});

export function loadWebhookConfig(env: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) throw new ConfigError(`invalid configuration: ${describeIssues(parsed.error)}`);
  const v = parsed.data;
  return {
    enabled: v.REFUNDS_WEBHOOKS === 'on',
    pollMs: v.REFUNDS_WEBHOOK_POLL_MS,
    requestTimeoutMs: v.REFUNDS_WEBHOOK_TIMEOUT_MS,
    maxAttempts: v.REFUNDS_WEBHOOK_MAX_ATTEMPTS,
    maxRetryIntervalMs: v.REFUNDS_WEBHOOK_MAX_RETRY_INTERVAL_MS,
  };
}
