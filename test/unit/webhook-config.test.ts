/** The outgoing webhook variables: defaults, and a bad value stops the process naming the variable. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/errors';
import { loadWebhookConfig } from '../../config/webhooks';

describe('webhook configuration', () => {
  it('has defaults', () => {
    expect(loadWebhookConfig({})).toEqual({
      enabled: true,
      pollMs: 2_000,
      requestTimeoutMs: 10_000,
      maxAttempts: 25,
      maxRetryIntervalMs: 600_000,
    });
    expect(loadWebhookConfig({ REFUNDS_WEBHOOK_POLL_MS: '' }).pollMs).toBe(2_000);
  });

  it('takes what is set', () => {
    expect(
      loadWebhookConfig({
        REFUNDS_WEBHOOKS: 'off',
        REFUNDS_WEBHOOK_POLL_MS: '500',
        REFUNDS_WEBHOOK_TIMEOUT_MS: '5000',
        REFUNDS_WEBHOOK_MAX_ATTEMPTS: '3',
        REFUNDS_WEBHOOK_MAX_RETRY_INTERVAL_MS: '60000',
      }),
    ).toEqual({ enabled: false, pollMs: 500, requestTimeoutMs: 5_000, maxAttempts: 3, maxRetryIntervalMs: 60_000 });
  });

  it.each([
    ['REFUNDS_WEBHOOKS', 'maybe'],
    ['REFUNDS_WEBHOOK_POLL_MS', '10'],
    ['REFUNDS_WEBHOOK_POLL_MS', 'soon'],
    ['REFUNDS_WEBHOOK_TIMEOUT_MS', '600000'],
    ['REFUNDS_WEBHOOK_MAX_ATTEMPTS', '0'],
    ['REFUNDS_WEBHOOK_MAX_RETRY_INTERVAL_MS', '1.5'],
  ])('refuses %s=%s naming it', (name, value) => {
    expect(() => loadWebhookConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadWebhookConfig({ [name]: value })).toThrow(name);
  });
});
