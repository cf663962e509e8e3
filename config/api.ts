/**
 * The API's own configuration, read and validated once at start; a bad value stops the process
 * with a message naming the variable. Temporal and DATABASE_URL come from config/worker.ts, the
 * carriers' signing keys from the file REFUNDS_CARRIER_SECRETS names (config/carrier-secrets.ts).
 */
import { msToNumber } from '@temporalio/common';
import { z } from 'zod';
import type { CarrierSecrets } from '../client/carrier-signature';
import { CARRIER_SECRETS_VARIABLE, loadCarrierSecretsFile } from './carrier-secrets';
import { ConfigError } from './worker';
import { defaultPolicy } from '../workflows/policy';
import { describeIssues } from '../workflows/schemas';
import { RpId, WebOrigin } from '../workflows/statements';

export interface ApiLimits {
  /** Requests per principal (or, for carriers, per client address) per window. */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  /**
   * Where requests are counted: `postgres`, shared by every API replica on the database (the
   * default), or `memory`, each process on its own (N replicas allow N × the limit).
   */
  rateLimitStore: RateLimitStoreKind;
  /** Longest counting a request in PostgreSQL may take before it is counted in the process's memory instead. */
  rateLimitStoreTimeoutMs: number;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Longest a handler may take (Temporal or PostgreSQL slow or unreachable) before the caller gets a 503. */
  handlerTimeoutMs: number;
  /** Longest a client may take to send its whole request. */
  requestTimeoutMs: number;
  /** How often the API delivers stored carrier events whose refund has appeared since. */
  carrierEventSweepIntervalMs: number;
  /** Most carrier events one sweep round delivers. */
  carrierEventSweepBatch: number;
  /** How long a carrier event no refund has claimed is kept deliverable; then it is reported, not retried. */
  carrierEventMaxPendingMs: number;
}

export const rateLimitStoreKinds = ['postgres', 'memory'] as const;
export type RateLimitStoreKind = (typeof rateLimitStoreKinds)[number];

export const defaultApiLimits: ApiLimits = {
  rateLimitMax: 600,
  rateLimitWindowMs: 60_000,
  rateLimitStore: 'postgres',
  rateLimitStoreTimeoutMs: 250,
  bodyLimitBytes: 256 * 1024,
  handlerTimeoutMs: 30_000,
  requestTimeoutMs: 30_000,
  carrierEventSweepIntervalMs: 5_000,
  carrierEventSweepBatch: 100,
  // No refund is requested for a parcel after its return window.
  carrierEventMaxPendingMs: msToNumber(defaultPolicy.timers.returnWindow as Parameters<typeof msToNumber>[0]),
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

/**
 * Where passkeys are registered and used: the relying party id (a host name; WebAuthn refuses IP
 * addresses, so open the console at http://localhost:<port>, not 127.0.0.1) and the exact origin
 * of the pages that run the ceremonies. Each passkey's registry entry records both; the workflow
 * holds its assertions to them.
 */
export interface WebAuthnConfig {
  rpId: string;
  origin: string;
  /** The name the browser shows when a passkey is made. */
  rpName: string;
}

export const defaultWebAuthn: WebAuthnConfig = { rpId: 'localhost', origin: 'http://localhost:3000', rpName: 'Refund approvals' };

/** Whether `origin`'s host is `rpId` or a subdomain of it, as WebAuthn requires. */
export function originFitsRpId(origin: string, rpId: string): boolean {
  const host = new URL(origin).hostname;
  return host === rpId || host.endsWith(`.${rpId}`);
}

const ApiEnv = z
  .object({
    HOST: z.preprocess(unsetIfEmpty, z.string().min(1).default('127.0.0.1')),
    PORT: integer('PORT', 3000, 0, 65535),
    REFUNDS_CARRIER_SECRETS: z.preprocess(unsetIfEmpty, z.string().optional()),
    REFUNDS_API_RATE_LIMIT: integer('REFUNDS_API_RATE_LIMIT', defaultApiLimits.rateLimitMax, 1, 1_000_000),
    REFUNDS_API_RATE_WINDOW: duration('REFUNDS_API_RATE_WINDOW', defaultApiLimits.rateLimitWindowMs),
    REFUNDS_API_RATE_LIMIT_STORE: z.preprocess(
      unsetIfEmpty,
      z
        .enum(rateLimitStoreKinds, {
          error: 'REFUNDS_API_RATE_LIMIT_STORE must be "postgres" (shared by every API replica) or "memory" (each process on its own)',
        })
        .default(defaultApiLimits.rateLimitStore),
    ),
    REFUNDS_API_RATE_LIMIT_STORE_TIMEOUT: duration('REFUNDS_API_RATE_LIMIT_STORE_TIMEOUT', defaultApiLimits.rateLimitStoreTimeoutMs),
    REFUNDS_API_BODY_LIMIT: integer('REFUNDS_API_BODY_LIMIT', defaultApiLimits.bodyLimitBytes, 1024, 50 * 1024 * 1024),
    REFUNDS_API_HANDLER_TIMEOUT: duration('REFUNDS_API_HANDLER_TIMEOUT', defaultApiLimits.handlerTimeoutMs),
    REFUNDS_API_REQUEST_TIMEOUT: duration('REFUNDS_API_REQUEST_TIMEOUT', defaultApiLimits.requestTimeoutMs),
    REFUNDS_CARRIER_EVENT_SWEEP_INTERVAL: duration('REFUNDS_CARRIER_EVENT_SWEEP_INTERVAL', defaultApiLimits.carrierEventSweepIntervalMs),
    REFUNDS_CARRIER_EVENT_SWEEP_BATCH: integer('REFUNDS_CARRIER_EVENT_SWEEP_BATCH', defaultApiLimits.carrierEventSweepBatch, 1, 10_000),
    REFUNDS_CARRIER_EVENT_MAX_PENDING: duration('REFUNDS_CARRIER_EVENT_MAX_PENDING', defaultApiLimits.carrierEventMaxPendingMs),
    REFUNDS_WEBAUTHN_RP_ID: z.preprocess(unsetIfEmpty, RpId.default(defaultWebAuthn.rpId)),
    REFUNDS_WEBAUTHN_ORIGIN: z.preprocess(unsetIfEmpty, WebOrigin.default(defaultWebAuthn.origin)),
    REFUNDS_WEBAUTHN_RP_NAME: z.preprocess(unsetIfEmpty, z.string().min(1).max(100).default(defaultWebAuthn.rpName)),
  })
  .refine((vars) => originFitsRpId(vars.REFUNDS_WEBAUTHN_ORIGIN, vars.REFUNDS_WEBAUTHN_RP_ID), {
    path: ['REFUNDS_WEBAUTHN_ORIGIN'],
    error: "REFUNDS_WEBAUTHN_ORIGIN's host must be REFUNDS_WEBAUTHN_RP_ID or a subdomain of it",
  });

export interface ApiConfig {
  host: string;
  port: number;
  /** Each carrier's signing keys; undefined only where the caller supplies them (npm start's demo keys). */
  carrierSecrets: CarrierSecrets | undefined;
  limits: ApiLimits;
  /** Passkeys: relying party id and origin (REFUNDS_WEBAUTHN_RP_ID, REFUNDS_WEBAUTHN_ORIGIN). */
  webauthn: WebAuthnConfig;
}

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const parsed = ApiEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(`invalid API configuration: ${describeIssues(parsed.error)}`);
  const vars = parsed.data;
  return {
    host: vars.HOST,
    port: vars.PORT,
    carrierSecrets: vars.REFUNDS_CARRIER_SECRETS === undefined ? undefined : loadCarrierSecretsFile(vars.REFUNDS_CARRIER_SECRETS),
    limits: {
      rateLimitMax: vars.REFUNDS_API_RATE_LIMIT,
      rateLimitWindowMs: vars.REFUNDS_API_RATE_WINDOW,
      rateLimitStore: vars.REFUNDS_API_RATE_LIMIT_STORE,
      rateLimitStoreTimeoutMs: vars.REFUNDS_API_RATE_LIMIT_STORE_TIMEOUT,
      bodyLimitBytes: vars.REFUNDS_API_BODY_LIMIT,
      handlerTimeoutMs: vars.REFUNDS_API_HANDLER_TIMEOUT,
      requestTimeoutMs: vars.REFUNDS_API_REQUEST_TIMEOUT,
      carrierEventSweepIntervalMs: vars.REFUNDS_CARRIER_EVENT_SWEEP_INTERVAL,
      carrierEventSweepBatch: vars.REFUNDS_CARRIER_EVENT_SWEEP_BATCH,
      carrierEventMaxPendingMs: vars.REFUNDS_CARRIER_EVENT_MAX_PENDING,
    },
    webauthn: { rpId: vars.REFUNDS_WEBAUTHN_RP_ID, origin: vars.REFUNDS_WEBAUTHN_ORIGIN, rpName: vars.REFUNDS_WEBAUTHN_RP_NAME },
  };
}

/** The carriers' signing keys, which a production API must be given. */
export function requireCarrierSecrets(config: ApiConfig): CarrierSecrets {
  if (!config.carrierSecrets) {
    throw new ConfigError(
      `${CARRIER_SECRETS_VARIABLE} must be set: the path of a JSON file with each carrier's webhook signing keys ` +
        '({ "ups": [{ "keyId": "ups-2026-11", "secret": "…" }], … }; see docs/configuration.md). ' +
        'CARRIER_WEBHOOK_SECRET, one secret for every carrier, is no longer read by the API.',
    );
  }
  return config.carrierSecrets;
}
