/**
 * The API's building blocks, pure: carrier signatures, approval limits in each currency, API keys,
 * ISO 8601 durations, and configuration errors that name the variable.
 */
import { describe, expect, it } from 'vitest';
import { signCarrierPayload, verifyCarrierSignature } from '../../client/carrier-signature';
import { loadApiConfig, requireCarrierSecret } from '../../config/api';
import { isoDurationMs } from '../../api/iso-duration';
import { apiKeyHash, approvalLimitIn, NewPrincipal, newApiKey } from '../../store/principals';

const secret = 'a'.repeat(64);
const body = '{"eventId":"ups-1","status":"delivered"}';
const now = 1_795_000_000;

describe('carrier signatures', () => {
  it('accepts a signature over the exact body within five minutes either way', () => {
    for (const t of [now, now - 300, now + 300]) {
      expect(verifyCarrierSignature(secret, body, signCarrierPayload(secret, body, t), now)).toEqual({ ok: true });
    }
  });

  it.each([
    ['missing', undefined, /missing/],
    ['without a timestamp', `v1=${'0'.repeat(64)}`, /must be t=/],
    ['without a signature', `t=${now}`, /must be t=/],
    ['with two timestamps', `t=${now},t=${now},v1=${'0'.repeat(64)}`, /must be t=/],
    ['stale', signCarrierPayload(secret, body, now - 301), /more than 5 minutes/],
    ['from the future', signCarrierPayload(secret, body, now + 301), /more than 5 minutes/],
    ['made with another secret', signCarrierPayload('b'.repeat(64), body, now), /does not match/],
    ['for another body', signCarrierPayload(secret, `${body} `, now), /does not match/],
    ['truncated', signCarrierPayload(secret, body, now).slice(0, -2), /does not match/],
  ])('refuses a signature %s', (_what, header, reason) => {
    const check = verifyCarrierSignature(secret, body, header, now);
    expect(check.ok).toBe(false);
    expect(!check.ok && check.reason).toMatch(reason);
  });

  it('accepts any of several v1 signatures, so a carrier can roll its key', () => {
    const good = signCarrierPayload(secret, body, now).split(',v1=')[1];
    expect(verifyCarrierSignature(secret, body, `t=${now},v1=${'f'.repeat(64)},v1=${good}`, now)).toEqual({ ok: true });
  });
});

describe('approval limits', () => {
  it.each([
    ['1000.00', 'USD', 100_000],
    ['1000', 'USD', 100_000],
    ['1000.00', 'JPY', 1_000],
    ['1000.50', 'JPY', 1_000],
    ['1000.005', 'KWD', 1_000_005],
    ['0.99', 'EUR', 99],
    [null, 'USD', 0],
  ] as const)('%s in %s is %d minor units, never rounded up', (limit, currency, minor) => {
    expect(approvalLimitIn(limit, currency)).toBe(minor);
  });

  it('needs a limit for approvers only', () => {
    expect(NewPrincipal.safeParse({ id: 'emp-1', roles: ['approver'] }).error?.issues[0]?.path).toEqual(['approvalLimit']);
    expect(NewPrincipal.safeParse({ id: 'emp-1', roles: ['ops'], approvalLimit: '10.00' }).error?.issues[0]?.path).toEqual([
      'approvalLimit',
    ]);
    expect(NewPrincipal.safeParse({ id: 'emp-1', roles: ['approver', 'approver'], approvalLimit: '10.00' }).data?.roles).toEqual([
      'approver',
    ]);
    expect(NewPrincipal.safeParse({ id: 'emp 1', roles: ['ops'] }).success).toBe(false);
    expect(NewPrincipal.safeParse({ id: 'emp-1', roles: [] }).success).toBe(false);
  });
});

describe('API keys', () => {
  it('are 256 random bits, distinct, and stored as SHA-256', () => {
    const keys = new Set(Array.from({ length: 1000 }, newApiKey));
    expect(keys.size).toBe(1000);
    for (const key of [...keys].slice(0, 10)) expect(key).toMatch(/^rk_[A-Za-z0-9_-]{43}$/);
    expect(apiKeyHash('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('ISO 8601 durations', () => {
  it.each([
    ['PT2H', 7_200_000],
    ['P3D', 259_200_000],
    ['P1W', 604_800_000],
    ['PT90M', 5_400_000],
    ['P1DT12H', 129_600_000],
    ['PT0.5S', 500],
    ['PT0S', 0],
  ])('%s is %d ms', (text, ms) => expect(isoDurationMs(text)).toBe(ms));

  it.each(['P', 'PT', 'P1M', 'P1Y', '2h', 'PT-1H', 'P1DT', ''])('refuses %j', (text) => expect(isoDurationMs(text)).toBeUndefined());
});

describe('API configuration', () => {
  it('has working defaults', () => {
    expect(loadApiConfig({})).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      carrierWebhookSecret: undefined,
      limits: { rateLimitMax: 600, rateLimitWindowMs: 60_000 },
    });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ CARRIER_WEBHOOK_SECRET: 'short' }, 'CARRIER_WEBHOOK_SECRET'],
    [{ REFUNDS_API_RATE_LIMIT: '0' }, 'REFUNDS_API_RATE_LIMIT'],
    [{ REFUNDS_API_RATE_WINDOW: 'soon' }, 'REFUNDS_API_RATE_WINDOW'],
    [{ REFUNDS_API_BODY_LIMIT: '10' }, 'REFUNDS_API_BODY_LIMIT'],
  ])('refuses %j naming %s', (env, variable) => {
    expect(() => loadApiConfig(env)).toThrow(variable);
  });

  it('requires the carrier secret where one must be configured', () => {
    expect(() => requireCarrierSecret(loadApiConfig({}))).toThrow('CARRIER_WEBHOOK_SECRET must be set');
    expect(requireCarrierSecret(loadApiConfig({ CARRIER_WEBHOOK_SECRET: secret, REFUNDS_API_RATE_WINDOW: '10s' }))).toBe(secret);
  });
});
