/**
 * The API's building blocks, pure: carrier signatures, approval limits in each currency, API keys,
 * ISO 8601 durations, and configuration errors that name the variable.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CarrierSecrets, signCarrierPayload, verifyCarrierSignature } from '../../client/carrier-signature';
import { verifyCarrierHmac } from '../../config/carrier-signature';
import { loadApiConfig, requireCarrierSecrets } from '../../config/api';
import { isoDurationMs } from '../../api/iso-duration';
import { apiKeyHash, approvalLimitIn, NewPrincipal, newApiKey } from '../../store/principals';
import { problemFor } from '../../api/plugins/problems';
import { RefundError } from '../../client/errors';

const ups = { keyId: 'ups-2026-11', secret: 'a'.repeat(64) };
const upsNext = { keyId: 'ups-2027-05', secret: 'c'.repeat(64) };
const dhl = { keyId: 'dhl-2026-11', secret: 'b'.repeat(64) };
const secrets: CarrierSecrets = { ups: [ups], dhl: [dhl] };
const body = '{"eventId":"ups-1","carrier":"ups","status":"delivered"}';
const dhlBody = '{"eventId":"dhl-1","carrier":"dhl","status":"delivered"}';
const now = 1_795_000_000;

function refusal(check: ReturnType<typeof verifyCarrierSignature>) {
  return check.ok ? 'accepted' : check.refusal;
}

describe('carrier signatures', () => {
  it('accepts a signature by a key of the carrier the body names, over the exact body, within five minutes either way', () => {
    for (const t of [now, now - 300, now + 300]) {
      expect(verifyCarrierSignature(secrets, body, signCarrierPayload(ups, body, t), now)).toEqual({
        ok: true,
        carrier: 'ups',
        keyId: 'ups-2026-11',
      });
    }
    expect(signCarrierPayload(ups, body, now)).toMatch(/^t=1795000000,k=ups-2026-11,v1=[0-9a-f]{64}$/);
  });

  it('matches the carrier trimmed and lowercased, as configured', () => {
    const shouted = '{"eventId":"ups-1","carrier":" UPS ","status":"delivered"}';
    expect(verifyCarrierSignature(secrets, shouted, signCarrierPayload(ups, shouted, now), now)).toMatchObject({
      ok: true,
      carrier: 'ups',
    });
  });

  it.each([
    ['missing', undefined, 'missing_header', /missing/],
    ['without a timestamp', `k=${ups.keyId},v1=${'0'.repeat(64)}`, 'malformed_header', /must be t=.*,k=.*,v1=/],
    ['without a key id (the old format)', `t=${now},v1=${'0'.repeat(64)}`, 'malformed_header', /must be t=/],
    ['without a signature', `t=${now},k=${ups.keyId}`, 'malformed_header', /must be t=/],
    ['with two timestamps', `t=${now},t=${now},k=${ups.keyId},v1=${'0'.repeat(64)}`, 'malformed_header', /must be t=/],
    ['with two key ids', `t=${now},k=${ups.keyId},k=${upsNext.keyId},v1=${'0'.repeat(64)}`, 'malformed_header', /must be t=/],
    ['with two signatures', `${signCarrierPayload(ups, body, now)},v1=${'f'.repeat(64)}`, 'malformed_header', /must be t=/],
    ['stale', signCarrierPayload(ups, body, now - 301), 'stale_timestamp', /more than 5 minutes/],
    ['from the future', signCarrierPayload(ups, body, now + 301), 'stale_timestamp', /more than 5 minutes/],
    [
      'naming an unknown key',
      signCarrierPayload({ keyId: 'ups-1999-01', secret: ups.secret }, body, now),
      'unknown_key',
      /ups has no key ups-1999-01/,
    ],
    ['naming a key of another carrier', signCarrierPayload(dhl, body, now), 'key_of_another_carrier', /belongs to another carrier/],
    [
      "made with another carrier's secret under this carrier's key id",
      signCarrierPayload({ keyId: ups.keyId, secret: dhl.secret }, body, now),
      'bad_signature',
      /does not match/,
    ],
    ['for another body', signCarrierPayload(ups, `${body} `, now), 'bad_signature', /does not match/],
    ['truncated', signCarrierPayload(ups, body, now).slice(0, -2), 'bad_signature', /does not match/],
  ])('refuses a signature %s', (_what, header, code, reason) => {
    const check = verifyCarrierSignature(secrets, body, header, now);
    expect(refusal(check)).toBe(code);
    expect(!check.ok && check.reason).toMatch(reason);
  });

  it("refuses one carrier's correctly signed event once it names another carrier", () => {
    // dhl signs, with its own key, an event that claims to come from ups.
    const forged = '{"eventId":"ups-9","carrier":"ups","status":"delivered"}';
    expect(refusal(verifyCarrierSignature(secrets, forged, signCarrierPayload(dhl, forged, now), now))).toBe('key_of_another_carrier');
    expect(refusal(verifyCarrierSignature(secrets, dhlBody, signCarrierPayload(dhl, dhlBody, now), now))).toBe('accepted');
  });

  it.each([
    ['a carrier no key is configured for', '{"carrier":"fedex"}', 'unknown_carrier'],
    ['a carrier named like an object property', '{"carrier":"constructor"}', 'unknown_carrier'],
    ['no carrier', '{"eventId":"x"}', 'no_carrier'],
    ['a carrier that is not a string', '{"carrier":["ups"]}', 'no_carrier'],
    ['a body that is not JSON', 'carrier=ups', 'no_carrier'],
  ])('refuses a body naming %s', (_what, raw, code) => {
    expect(refusal(verifyCarrierSignature(secrets, raw, signCarrierPayload(ups, raw, now), now))).toBe(code);
  });

  it('accepts the old and the new key of a carrier while both are configured, and refuses the retired one once it is removed', () => {
    const rotating: CarrierSecrets = { ...secrets, ups: [ups, upsNext] };
    for (const key of [ups, upsNext])
      expect(refusal(verifyCarrierSignature(rotating, body, signCarrierPayload(key, body, now), now))).toBe('accepted');
    const rotated: CarrierSecrets = { ...secrets, ups: [upsNext] };
    expect(refusal(verifyCarrierSignature(rotated, body, signCarrierPayload(upsNext, body, now), now))).toBe('accepted');
    expect(refusal(verifyCarrierSignature(rotated, body, signCarrierPayload(ups, body, now), now))).toBe('unknown_key');
  });

  it('ignores parts of the header it does not know, so another scheme can be sent beside v1', () => {
    expect(refusal(verifyCarrierSignature(secrets, body, `${signCarrierPayload(ups, body, now)},v2=abc`, now))).toBe('accepted');
  });

  it('refuses to sign with a key id that could not travel in the header', () => {
    expect(() => signCarrierPayload({ keyId: 'ups,k=dhl', secret: ups.secret }, body, now)).toThrow('carrier key id');
  });
});

describe("the worker's carrier signature check (verifyCarrierHmac)", () => {
  it('accepts a signature made long ago, which the API refuses as stale at receipt', () => {
    const dayOld = signCarrierPayload(ups, body, now - 86_400);
    expect(refusal(verifyCarrierSignature(secrets, body, dayOld, now))).toBe('stale_timestamp');
    expect(verifyCarrierHmac(secrets, body, dayOld)).toEqual({ ok: true, carrier: 'ups', keyId: ups.keyId });
  });

  it("still refuses every other fault: no header, a bad HMAC, another carrier's key, an altered body", () => {
    const signed = signCarrierPayload(ups, body, now);
    expect(refusal(verifyCarrierHmac(secrets, body, undefined))).toBe('missing_header');
    expect(refusal(verifyCarrierHmac(secrets, body, 'garbage'))).toBe('malformed_header');
    expect(refusal(verifyCarrierHmac(secrets, body, signCarrierPayload({ ...ups, secret: 'd'.repeat(64) }, body, now)))).toBe(
      'bad_signature',
    );
    expect(refusal(verifyCarrierHmac(secrets, body, signCarrierPayload(dhl, body, now)))).toBe('key_of_another_carrier');
    expect(refusal(verifyCarrierHmac(secrets, body.replace('delivered', 'returned_to_sender'), signed))).toBe('bad_signature');
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
      carrierSecrets: undefined,
      limits: { rateLimitMax: 600, rateLimitWindowMs: 60_000, rateLimitStore: 'postgres', rateLimitStoreTimeoutMs: 250 },
    });
  });

  it('counts rate limits in PostgreSQL unless told to count in memory', () => {
    expect(loadApiConfig({ REFUNDS_API_RATE_LIMIT_STORE: 'memory' }).limits.rateLimitStore).toBe('memory');
    expect(loadApiConfig({ REFUNDS_API_RATE_LIMIT_STORE: '' }).limits.rateLimitStore).toBe('postgres');
    expect(loadApiConfig({ REFUNDS_API_RATE_LIMIT_STORE_TIMEOUT: '1s' }).limits.rateLimitStoreTimeoutMs).toBe(1000);
    expect(() => loadApiConfig({ REFUNDS_API_RATE_LIMIT_STORE: 'redis' })).toThrow(
      /REFUNDS_API_RATE_LIMIT_STORE must be "postgres" \(shared by every API replica\) or "memory"/,
    );
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ REFUNDS_API_RATE_LIMIT: '0' }, 'REFUNDS_API_RATE_LIMIT'],
    [{ REFUNDS_API_RATE_WINDOW: 'soon' }, 'REFUNDS_API_RATE_WINDOW'],
    [{ REFUNDS_API_RATE_LIMIT_STORE: 'Postgres' }, 'REFUNDS_API_RATE_LIMIT_STORE'],
    [{ REFUNDS_API_RATE_LIMIT_STORE_TIMEOUT: 'quickly' }, 'REFUNDS_API_RATE_LIMIT_STORE_TIMEOUT'],
    [{ REFUNDS_API_BODY_LIMIT: '10' }, 'REFUNDS_API_BODY_LIMIT'],
  ])('refuses %j naming %s', (env, variable) => {
    expect(() => loadApiConfig(env)).toThrow(variable);
  });
});

describe('carrier secrets configuration (REFUNDS_CARRIER_SECRETS)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'carrier-secrets-'));
  let files = 0;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const fileWith = (content: unknown) => {
    const file = path.join(dir, `secrets-${files++}.json`);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
    return file;
  };

  it("reads each carrier's keys, several per carrier", () => {
    const file = fileWith({ ups: [ups, upsNext], dhl: [dhl] });
    expect(loadApiConfig({ REFUNDS_CARRIER_SECRETS: file }).carrierSecrets).toEqual({ ups: [ups, upsNext], dhl: [dhl] });
    expect(requireCarrierSecrets(loadApiConfig({ REFUNDS_CARRIER_SECRETS: file, REFUNDS_API_RATE_WINDOW: '10s' }))).toEqual({
      ups: [ups, upsNext],
      dhl: [dhl],
    });
  });

  it('is required where it must be configured, and says the single shared secret is gone', () => {
    expect(() => requireCarrierSecrets(loadApiConfig({ CARRIER_WEBHOOK_SECRET: 'x'.repeat(64) }))).toThrow(
      /REFUNDS_CARRIER_SECRETS must be set.*CARRIER_WEBHOOK_SECRET, one secret for every carrier, is no longer read/,
    );
  });

  it.each([
    ['a carrier name in capitals', { UPS: [ups] }, 'UPS: carrier names must be 1 to 64 of a-z 0-9 . _ - in lowercase (write it as "ups")'],
    ['a carrier name with a space', { 'royal mail': [ups] }, 'royal mail: carrier names must be'],
    ['a short secret', { ups: [ups], dhl: [{ keyId: 'dhl-1', secret: 'short' }] }, 'dhl.0.secret: must be at least 32 characters'],
    [
      'a key id used twice in one carrier',
      { ups: [ups, { ...upsNext, keyId: ups.keyId }] },
      `ups.1.keyId: key id ${ups.keyId} is already used by ups.0`,
    ],
    [
      'a key id used by two carriers',
      { ups: [ups], dhl: [{ ...dhl, keyId: ups.keyId }] },
      `dhl.0.keyId: key id ${ups.keyId} is already used by ups.0`,
    ],
    [
      'one secret shared by two carriers',
      { ups: [ups], dhl: [{ ...dhl, secret: ups.secret }] },
      'dhl.0.secret: the same secret is configured for ups',
    ],
    ['a key id that cannot travel in the header', { ups: [{ ...ups, keyId: 'ups,2026' }] }, 'ups.0.keyId: must be 1 to 64 of'],
    ['a carrier without keys', { ups: [] }, 'ups: must list at least one key'],
    ['a key with an unknown field', { ups: [{ ...ups, carrier: 'dhl' }] }, 'ups.0'],
    ['a key without a secret', { ups: [{ keyId: 'ups-1' }] }, 'ups.0.secret: must be a string'],
    ['no carriers at all', {}, '(root): must configure at least one carrier'],
    ['a list instead of an object', [ups], '(root): must be a JSON object'],
  ])('stops on %s, naming the variable, the file and the key at fault', (_what, content, message) => {
    const file = fileWith(content);
    const load = () => loadApiConfig({ REFUNDS_CARRIER_SECRETS: file });
    expect(load).toThrow(`REFUNDS_CARRIER_SECRETS ${file} is invalid: `);
    expect(load).toThrow(message);
    expect(load).not.toThrow(ups.secret);
  });

  it('stops on a missing file or one that is not JSON, naming the variable and the file', () => {
    const missing = path.join(dir, 'nowhere.json');
    expect(() => loadApiConfig({ REFUNDS_CARRIER_SECRETS: missing })).toThrow(`REFUNDS_CARRIER_SECRETS ${missing}: no such file`);
    const garbled = fileWith('{ "ups": [');
    expect(() => loadApiConfig({ REFUNDS_CARRIER_SECRETS: garbled })).toThrow(`REFUNDS_CARRIER_SECRETS ${garbled}: `);
  });
});

describe('problems for the service errors', () => {
  it('answers a decision taken but not yet recorded with 503 and a retry hint, never as a refusal', () => {
    const { problem: answer, internal } = problemFor(
      new RefundError('decision_not_yet_recorded', 'decision for refund r-1 is not recorded yet'),
    );
    expect(internal).toBe(false);
    expect(answer.problem.status).toBe(503);
    expect(answer.problem.type).toBe('/problems/decision-not-yet-recorded');
    expect(answer.problem.detail).toMatch(/read the refund/);
    expect(answer.headers['retry-after']).toBe('5');
  });
});
